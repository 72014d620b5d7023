"""Staff follow-up: a task in Oliver's staff task list for a booking that was not made
(``Booking Failed``) or that a scheduling tool cancelled (``Booking Cancelled``).

The queue holds each event for the grace period (``FollowUpDelaySeconds``) first; a failure is
then dropped when the visitor booked the same pet or the same time by themselves meanwhile
(``rebooking``). The task tells staff, in plain words, who asked for what and why it was not
booked, with the contact in clear so they can call back (it goes to Oliver only: the log has
ids and outcomes, never the contact). Oliver has no idempotency for tasks: a delivery after a
failed one first looks for a task carrying the event's reference before creating another.
"""

from __future__ import annotations

from typing import Any

from booking.notify import wiring
from booking.notify.consumer import Delivery
from booking.notify.events import CANCELLED, FAILED, BusEvent, Cancelled, Failed, Visitor, detail_as
from booking.notify.rebooking import booked_since
from booking.notify.wording import channel_words, in_zone, one_line, reason_words, when_text
from booking.oliver import OliverGateway
from booking.text import iso, parse_time

REFERENCE = "Reference: {event_id} (booking webhook)"


def reference(event_id: str) -> str:
    return REFERENCE.format(event_id=event_id)


def _who(visitor: Visitor) -> str:
    return visitor.full_name() or "A visitor"


def _pet(visitor: Visitor) -> str:
    if visitor.patient_name:
        return one_line(visitor.patient_name, 100)
    if visitor.patient_id is not None:
        return f"patient {visitor.patient_id}"
    if visitor.patient_remote_id:
        return f"patient {visitor.patient_remote_id} (PIMS id)"
    return "their pet"


def _contact_lines(visitor: Visitor) -> list[str]:
    lines = [f"Email: {visitor.email}"] if visitor.email else []
    if visitor.phone:
        lines.append(f"Phone: {visitor.phone}")
    if visitor.client_id is not None:
        lines.append(f"Oliver client id: {visitor.client_id}")
    if visitor.client_remote_id:
        lines.append(f"PIMS client id: {visitor.client_remote_id}")
    return lines or ["No contact was given."]


def _ids(visitor: Visitor) -> dict[str, str]:
    ids = {}
    if visitor.client_id is not None:
        ids["client_id"] = str(visitor.client_id)
    if visitor.patient_id is not None:
        ids["patient_id"] = str(visitor.patient_id)
    return ids


def failure_task(failed: Failed) -> dict[str, Any]:
    visitor = failed.booking
    when = in_zone(visitor.start, wiring.zone())
    asked = f"an appointment for {_pet(visitor)}" + (f" on {when_text(when)}" if when else "")
    retry = (
        " Offer another time."
        if failed.reason == "slot_unavailable"
        else " Book it for them, or tell them what is needed."
    )
    lines = [
        f"{_who(visitor)} asked for {asked} through "
        f"{channel_words(failed.channel, failed.webhook_source)}. It was not booked.",
        f"Why: {reason_words(failed.reason)}.",
        "",
        f"Name: {_who(visitor)}",
        *_contact_lines(visitor),
        f"Pet: {_pet(visitor)}",
        f"Requested time: {when_text(when) if when else 'not known'}",
    ]
    if visitor.note:
        lines.append(f"Note from the visitor: {visitor.note}")
    lines += ["", f"What to do: call or email them back.{retry}", reference(failed.event_id)]
    body: dict[str, Any] = {
        "title": one_line(
            f"Call back {_who(visitor)}: online booking for {_pet(visitor)} not made"
        ),
        "description": "\n".join(lines),
        "task_type": "task",
        **_ids(visitor),
    }
    if when is not None:
        body["reference_time_at"] = iso(when)
    return body


def cancellation_task(cancelled: Cancelled) -> dict[str, Any]:
    visitor = cancelled.booking
    when = in_zone(visitor.start, wiring.zone())
    tool = cancelled.webhook_source or "a scheduling tool"
    appointment = (
        f"appointment {cancelled.appointment_id}"
        if cancelled.appointment_id is not None
        else "the appointment"
    )
    lines = [
        f"{tool} says this booking was cancelled. Cancel {appointment} in the practice system"
        + ("." if cancelled.appointment_id is not None else " (it may not have been booked).")
        + (" If it is a reschedule, the new booking arrives separately."),
        "",
        f"Name: {_who(visitor)}",
        *_contact_lines(visitor),
        f"Pet: {_pet(visitor)}",
        f"Time: {when_text(when) if when else 'not known'}",
    ]
    if cancelled.reference:
        lines.append(f"{tool} booking: {cancelled.reference}")
    lines += ["", reference(cancelled.event_id)]
    body: dict[str, Any] = {
        "title": one_line(f"Cancel {appointment} for {_who(visitor)}: cancelled in {tool}"),
        "description": "\n".join(lines),
        "task_type": "task",
        **_ids(visitor),
    }
    if when is not None:
        body["reference_time_at"] = iso(when)
    return body


def task_exists(oliver: OliverGateway, event_id: str) -> bool:
    marker = reference(event_id)
    tasks = oliver.list_staff_tasks({"status": "pending"})
    return any(marker in str(task.get("description") or "") for task in tasks)


class StaffFollowUp:
    """The follow-up consumer's work for one event."""

    def __call__(self, event: BusEvent, delivery: Delivery) -> str:
        if not wiring.settings().staff_tasks:
            return "disabled"
        if event.detail_type == FAILED:
            failed = detail_as(event, Failed)
            oliver = wiring.oliver(delivery.message_id, delivery.budget)
            since = parse_time(failed.submitted_at) or parse_time(event.time)
            if since is not None and booked_since(failed.booking, since, oliver):
                return "dropped_rebooked"
            body = failure_task(failed)
        elif event.detail_type == CANCELLED:
            oliver = wiring.oliver(delivery.message_id, delivery.budget)
            body = cancellation_task(detail_as(event, Cancelled))
        else:
            return "ignored"
        if delivery.receive_count > 1 and task_exists(oliver, event.event_id):
            return "task_exists"
        oliver.create_staff_task(body)
        return "task_created"
