"""Settling unknown outcomes in the background.

A create whose answer never came (``booking.reconcile``) leaves a marker and a message on the
settle queue, delayed by the first step of the backoff. The settle function
(functions/settle) takes it and looks for the appointment again: found, it is announced as
``Appointment Booked``; not found, the message goes back on the queue with the next delay; after
the last step (30 minutes in all) the booking is announced once as ``Booking Failed``
(``outcome_unknown``) for staff to check. The marker decides who announces: the first to settle it
(this check, or the visitor's own retry, which still looks first), so a booking is announced
once, as booked or as failed, never both.

The message holds the validated booking (SQS encrypts it at rest, and it lives no longer than
the backoff); nothing of it is logged.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

#: SQS delays a message by 15 minutes at most. The delays themselves are configuration
#: (``SETTLE_BACKOFF_SECONDS``; by default 30 s, 1, 2, 4, 8 and 14.5 minutes: 30 minutes in all).
MAX_DELAY_SECONDS = 900


@dataclass(frozen=True)
class PendingOutcome:
    """One booking whose outcome is unknown, as the settle queue carries it."""

    key: str
    booking: dict[str, Any]
    channel: str
    webhook_source: str | None
    request_id: str
    submitted_at: str
    #: How many checks have been made already (the first message: 0).
    checks: int = 0

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, body: str) -> PendingOutcome:
        fields = json.loads(body)
        if not isinstance(fields, dict) or not isinstance(fields.get("booking"), dict):
            raise ValueError("not a pending outcome")
        return cls(
            key=str(fields["key"]),
            booking=fields["booking"],
            channel=str(fields["channel"]),
            webhook_source=fields.get("webhook_source"),
            request_id=str(fields["request_id"]),
            submitted_at=str(fields["submitted_at"]),
            checks=int(fields.get("checks") or 0),
        )

    def next_check(self) -> PendingOutcome:
        return replace(self, checks=self.checks + 1)


class SettleQueue:
    """Adapter for the settle queue: each check is one message, delayed by its backoff step."""

    def __init__(
        self,
        sqs_client: Callable[[], Any],
        queue_url: str,
        backoff: Sequence[int],
    ) -> None:
        #: Built on first use: only an unknown outcome needs SQS here.
        self._sqs = sqs_client
        self.queue_url = queue_url
        self.backoff = tuple(backoff)

    def has_check_after(self, pending: PendingOutcome) -> bool:
        """Whether another check follows this one (the last is made 30 minutes in)."""
        return pending.checks + 1 < len(self.backoff)

    def schedule(self, pending: PendingOutcome) -> bool:
        """Queue the next check of ``pending``; False when SQS did not take it."""
        delay = self.backoff[min(pending.checks, len(self.backoff) - 1)]
        try:
            self._sqs().send_message(
                QueueUrl=self.queue_url,
                MessageBody=pending.to_json(),
                DelaySeconds=max(0, min(MAX_DELAY_SECONDS, delay)),
            )
        except Exception:
            return False
        return True
