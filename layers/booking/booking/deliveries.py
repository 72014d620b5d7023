"""What a signed webhook delivery asks for, and the answer it gets (README: For partners).

A delivery whose signature was checked is one of: a booking (through the booking service, like
any partner's), a cancellation in a scheduling tool (nothing is booked: ``Booking Cancelled``
tells staff), both at once (a reschedule), or an event of the tool that books nothing (a ping,
a test, a notice), acknowledged and ignored. Under ``ack_failures`` a booking refused for good
is answered 200 with its error body once staff have a ``Booking Failed`` for it, so that a tool
which disables endpoints after refusals keeps delivering.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from booking import container, presets
from booking.config import WebhookSource
from booking.errors import BookingError, UpstreamUnavailable
from booking.http import error_body
from booking.submission import BookingResult, Request
from booking.telemetry import count, logger
from booking.text import iso, parse_time
from booking.webhooks import mapped_fields

IGNORED = {"success": True, "ignored": True}
CANCELLED = {
    "success": True,
    "cancelled": True,
    "message": "The practice has the cancellation and will cancel the appointment.",
}
#: Longest text an event repeats of what a tool said (a note is the longest booking field).
MAX_TEXT = 2000

Book = Callable[[dict[str, Any], bool], BookingResult]


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


def receive(
    source: str, config: WebhookSource, payload: Any, request: Request, book: Book
) -> Answer:
    """Book, announce a cancellation, or ignore one signed delivery of ``source``."""
    reading = presets.read(config.preset, payload) if config.preset else None
    if reading is not None and reading.ignored:
        count("WebhookIgnored")
        logger.info("webhook event ignored", extra={"source": source})
        return Answer(200, IGNORED)
    if reading is not None and reading.cancellation is not None:
        announce_cancelled(source, reading.cancellation, request)
        if reading.booking is None:
            return Answer(200, CANCELLED)
    fields = mapped_fields(config, payload, reading.booking if reading else None)
    try:
        result = book(fields, config.mapped)
    except BookingError as error:
        if not (config.ack_failures and refused_for_good(error)):
            raise
        # The service announces the failures staff can act on; a booking that could not even
        # be read is one too, when it is acknowledged to a tool that confirmed it. Unannounced,
        # the refusal stands (the tool's log is then the only trace).
        if not error.follow_up and not announce_unbookable(source, fields, error, request):
            raise
        count("WebhookRefusalAcknowledged")
        logger.info("webhook refusal acknowledged", extra={"source": source, "code": error.code})
        return Answer(200, error_body(error))
    return Answer(
        result.status, result.body, {"Idempotent-Replayed": "true"} if result.replayed else {}
    )


def refused_for_good(error: BookingError) -> bool:
    """A 4xx that no retry can change: not 429, nothing that says when to retry."""
    return 400 <= error.status < 500 and error.status != 429 and not error.retry_after


def announce_cancelled(source: str, cancelled: presets.Cancellation, request: Request) -> None:
    """``Booking Cancelled`` for staff, stable per the tool's booking reference. The appointment
    id stays null: which appointment a tool's booking became is not kept anywhere cheap to ask
    (the idempotency record that holds it is keyed, hashed, by the delivery)."""
    from booking.models import BookingCancelledDetail
    from booking.service import EVENT_NAMESPACE

    name = f"cancelled:{source}:{cancelled.reference}"
    detail = BookingCancelledDetail.model_validate(
        {
            "event_id": str(uuid.uuid5(EVENT_NAMESPACE, name)),
            "webhook_source": source,
            "reference": _printable(cancelled.reference),
            "booking": _said(cancelled.booking),
            "appointment_id": None,
            "request_id": request.request_id,
            "submitted_at": iso(request.submitted_at),
        }
    )
    document = detail.model_dump(mode="json")
    document["booking"] = detail.booking.model_dump(mode="json", exclude_none=True)
    outcome = container.publisher().publish("Booking Cancelled", document, request.budget)
    if outcome == "lost":
        count("EventLost")
        # Nobody would ever hear of it: the tool must deliver it again.
        raise UpstreamUnavailable(retry_after=30)
    count("BookingCancelledAnnounced" if outcome == "delivered" else "EventParked")
    logger.info("booking cancelled announced", extra={"source": source, "outcome": outcome})


def announce_unbookable(
    source: str, fields: Mapping[str, Any], error: BookingError, request: Request
) -> bool:
    """``Booking Failed`` for a delivery refused before it reached the booking (unreadable
    fields, a reused delivery id): what it said, for staff, stable per delivery and reason.
    Whether it reached the bus (or the dead-letter queue, to be replayed)."""
    from booking.models import BookingFailedDetail
    from booking.service import EVENT_NAMESPACE

    key = _key(source, fields, request.explicit_key)
    detail = BookingFailedDetail.model_construct(
        event_id=str(uuid.uuid5(EVENT_NAMESPACE, f"failed:{key}:{error.code}")),
        channel="webhook",
        webhook_source=source,
        idempotency_key=key,
        request_id=request.request_id,
        submitted_at=iso(request.submitted_at),
        reason=error.code,
        booking=_readable(fields),
    )
    outcome = container.publisher().publish(
        "Booking Failed", detail.model_dump(mode="json", warnings=False), request.budget
    )
    if outcome != "delivered":
        count("EventParked" if outcome == "parked" else "EventLost")
    return outcome != "lost"


def _key(source: str, fields: Mapping[str, Any], explicit: str | None) -> str:
    """The key the service would have booked under (``booking.idempotency``'s namespace)."""
    if explicit:
        return f"webhook:{source}:key:{explicit}"
    canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"), default=str)
    return f"webhook:{source}:fields:{hashlib.sha256(canonical.encode()).hexdigest()}"


def _printable(text: str) -> str:
    """A tool's words fit for an event staff read: no control characters, bounded."""
    return "".join(ch if ch.isprintable() or ch == "\n" else " " for ch in text)[:MAX_TEXT]


def _said(booking: Mapping[str, Any]) -> dict[str, Any]:
    """What the tool said of a cancelled booking: its text fields, its start in UTC."""
    return _readable({name: value for name, value in booking.items() if isinstance(value, str)})


def _readable(fields: Mapping[str, Any]) -> dict[str, Any]:
    """The booking fields of what a partner sent, as staff can read them: texts without control
    characters, whole numbers, and the start in UTC (a time without an offset is the
    practice's, as for a booking); anything else left out."""
    readable: dict[str, Any] = {}
    for name, value in fields.items():
        if name == "start" or name not in presets.BOOKING_FIELDS:
            continue
        if isinstance(value, str):
            readable[name] = _printable(value)
        elif isinstance(value, int) and not isinstance(value, bool):
            readable[name] = value
    start = parse_time(fields.get("start"), ZoneInfo(container.settings().practice_timezone))
    if start is not None:
        readable["start"] = iso(start)
    return readable
