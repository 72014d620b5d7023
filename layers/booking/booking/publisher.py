"""Adapter for EventBridge, with the dead-letter queue as the fallback that loses nothing.

``PutEvents`` fails by raising *or* by reporting ``FailedEntryCount`` > 0. Failed entries are
retried with backoff inside the time budget, then parked whole in SQS; ``replay_parked`` puts
them back on the bus later and deletes each message only once EventBridge accepted it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from booking.budget import Budget

PUT_ATTEMPTS = 3
Outcome = Literal["delivered", "parked", "lost"]


#: A parked message that is not an event is kept for an operator, out of the replay's way for as
#: long as SQS allows (12 hours from its first receive, with a margin for this one).
SET_ASIDE_SECONDS = 12 * 60 * 60 - 60


@dataclass(frozen=True)
class ReplayResult:
    received: int
    replayed: int
    failed: int
    set_aside: int = 0


class EventPublisher:
    def __init__(
        self,
        events_client: Any,
        sqs_client: Callable[[], Any],
        bus_name: str,
        source: str,
        dlq_url: str,
    ) -> None:
        self._events = events_client
        #: Built on first use: only a failed put needs SQS, and a client costs cold-start time.
        self._sqs = sqs_client
        self.bus_name = bus_name
        self.source = source
        self.dlq_url = dlq_url

    def entry(self, detail_type: str, detail: dict[str, Any]) -> dict[str, str]:
        return {
            "Source": self.source,
            "DetailType": detail_type,
            "Detail": json.dumps(detail, separators=(",", ":"), default=str),
            "EventBusName": self.bus_name,
        }

    def publish(self, detail_type: str, detail: dict[str, Any], budget: Budget) -> Outcome:
        entry = self.entry(detail_type, detail)
        for attempt in range(PUT_ATTEMPTS):
            if put_entry(self._events, entry):
                return "delivered"
            wait = 0.05 * (4**attempt)
            if attempt + 1 == PUT_ATTEMPTS or not budget.allows(wait + 0.3):
                break
            time.sleep(wait)
        return "parked" if self.park(entry) else "lost"

    def park(self, entry: dict[str, str]) -> bool:
        try:
            self._sqs().send_message(
                QueueUrl=self.dlq_url,
                MessageBody=json.dumps(entry),
                MessageAttributes={
                    "DetailType": {"DataType": "String", "StringValue": entry["DetailType"]}
                },
            )
        except Exception:
            return False
        return True


def put_entry(events_client: Any, entry: dict[str, str]) -> bool:
    """One PutEvents call for one entry; True only when EventBridge accepted it."""
    try:
        answer = events_client.put_events(Entries=[entry])
    except Exception:
        return False
    return not answer.get("FailedEntryCount") and not answer["Entries"][0].get("ErrorCode")


def replay_parked(
    events_client: Any, sqs_client: Any, dlq_url: str, max_messages: int = 1000
) -> ReplayResult:
    """Move parked events back onto their bus; a message is deleted only once accepted."""
    received = replayed = failed = set_aside = 0
    while received < max_messages:
        answer = sqs_client.receive_message(
            QueueUrl=dlq_url, MaxNumberOfMessages=10, WaitTimeSeconds=1, VisibilityTimeout=30
        )
        messages = answer.get("Messages", [])
        if not messages:
            break
        for message in messages:
            received += 1
            entry = _parked_entry(message.get("Body"))
            if entry is None:
                # Not an event: replaying it can never succeed. It stays in the queue (for an
                # operator, until retention drops it) but out of sight of the next replays.
                sqs_client.change_message_visibility(
                    QueueUrl=dlq_url,
                    ReceiptHandle=message["ReceiptHandle"],
                    VisibilityTimeout=SET_ASIDE_SECONDS,
                )
                set_aside += 1
                continue
            if put_entry(events_client, entry):
                sqs_client.delete_message(QueueUrl=dlq_url, ReceiptHandle=message["ReceiptHandle"])
                replayed += 1
            else:
                failed += 1
    return ReplayResult(received, replayed, failed, set_aside)


def _parked_entry(body: object) -> dict[str, str] | None:
    """The PutEvents entry a parked message holds, or None when it holds no event."""
    try:
        entry = json.loads(body) if isinstance(body, str) else None
    except ValueError:
        return None
    fields = ("Source", "DetailType", "Detail", "EventBusName")
    if not isinstance(entry, dict) or not all(isinstance(entry.get(f), str) for f in fields):
        return None
    return entry
