"""Text-back: when the requested time was taken (``Booking Failed`` with ``slot_unavailable``),
an Oliver AI outbound request asks the client by SMS to pick another time.

``partner_request_id`` is the event id, so Oliver answers a repeated request with the existing
one: a retry never texts twice. Like the staff follow-up it waits the grace period and is
dropped when the visitor booked the same pet or time meanwhile (Oliver also suppresses
scheduling texts to clients with an upcoming appointment). Off unless ``TEXT_BACK`` is on.
"""

from __future__ import annotations

from typing import Any

from booking.errors import ReadRefused
from booking.notify import wiring
from booking.notify.consumer import Delivery
from booking.notify.events import FAILED, BusEvent, Failed, detail_as
from booking.notify.rebooking import booked_since
from booking.notify.wording import in_zone, one_line, when_text
from booking.phone import to_e164
from booking.text import parse_time


def outbound_request(failed: Failed, contact_number: str) -> dict[str, Any]:
    visitor = failed.booking
    config = wiring.settings()
    when = in_zone(visitor.start, wiring.zone())
    pet = one_line(visitor.patient_name, 100) or "their pet"
    practice = one_line(config.practice_name, 100) or "the practice"
    context = (
        f"{visitor.first() or 'The client'} tried to book an appointment for {pet} online"
        + (f" on {when_text(when)}" if when else "")
        + f" at {practice}, but that time had just been taken. Help them choose another time."
    )
    body: dict[str, Any] = {
        "purpose": "scheduling",
        "channel": "sms",
        "contact_number": contact_number,
        "partner_request_id": failed.event_id,
        "context": context,
    }
    if visitor.full_name():
        body["client_name"] = visitor.full_name()
    if visitor.patient_name:
        body["patient_name"] = pet
    if visitor.client_id is not None:
        body["client_id"] = str(visitor.client_id)
    if visitor.patient_id is not None:
        body["patient_id"] = str(visitor.patient_id)
    return body


class TextBack:
    """The text-back consumer's work for one event."""

    def __call__(self, event: BusEvent, delivery: Delivery) -> str:
        config = wiring.settings()
        if not config.text_back:
            return "disabled"
        if event.detail_type != FAILED:
            return "ignored"
        failed = detail_as(event, Failed)
        if failed.reason != "slot_unavailable":
            return "ignored"
        number = (
            to_e164(failed.booking.phone, config.default_phone_region)
            if failed.booking.phone
            else None
        )
        if not number:
            return "no_phone"
        oliver = wiring.oliver(delivery.message_id, delivery.budget)
        since = parse_time(failed.submitted_at) or parse_time(event.time)
        if since is not None and booked_since(failed.booking, since, oliver):
            return "dropped_rebooked"
        try:
            answer = oliver.request_ai_outbound(outbound_request(failed, number))
        except ReadRefused:
            # 400: no one to text (the number is no client's) or nothing to ask; a retry
            # would be refused the same way.
            return "refused"
        return "suppressed" if answer.get("status") == "suppressed" else "requested"
