"""The tools practices already use, as webhook sources: ``{"preset": "<tool>"}`` in
``WEBHOOK_SOURCES`` (README: For partners).

A preset gives a source the tool's signature scheme, header and delivery id, says which of the
tool's events books, cancels or is ignored, and reads the booking out of the tool's payload.
Each booking field is found in the question identified by the field's own name (a Typeform
field ``ref``, a Cal.com booking question identifier, a Tally question label or key, a Calendly
question text), compared folded: case, accents, spacing and punctuation ignored, so a Tally
question labelled "Patient name" fills ``patient_name``. A choice answer is read by its label.
The tool's own fields fill in the rest (the time booked in a scheduling tool, the invitee's
name and email). A source's ``map`` and ``defaults`` take precedence (``booking.webhooks``).

Plain Python, no pydantic: ``WEBHOOK_SOURCES`` is parsed on every cold start.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

#: Booking fields a tool's question may fill (never the ids or ``status``: the person answering
#: a form or booking a time is anonymous; a practice may still map those explicitly).
QUESTION_FIELDS = (
    "start",
    "appointment_type",
    "provider_id",
    "name",
    "first_name",
    "last_name",
    "email",
    "phone",
    "patient_name",
    "note",
    "utm_source",
    "utm_medium",
    "utm_campaign",
)
#: Every field a ``map`` or ``defaults`` entry may name (the partner create fields included).
BOOKING_FIELDS = (
    *QUESTION_FIELDS,
    "slot_id",
    "client_id",
    "client_remote_id",
    "patient_id",
    "patient_remote_id",
    "status",
)
#: What a ``Booking Cancelled`` repeats of what the tool says about the cancelled booking.
CANCELLED_FIELDS = ("name", "first_name", "last_name", "email", "phone", "patient_name", "start")
VISIT_TYPES = ("wellness", "sick", "technician", "recheck")
#: Questions a practice's form most likely asks under another name (used only when no question
#: carries the field's own name).
ALIASES = {
    "full_name": "name",
    "your_name": "name",
    "pet": "patient_name",
    "pet_name": "patient_name",
    "pet_s_name": "patient_name",
    "pets_name": "patient_name",
    "phone_number": "phone",
    "notes": "note",
    "visit_type": "appointment_type",
}
#: A form without a ``start`` question may ask the day and the time apart.
DAY_QUESTION, TIME_QUESTION = "date", "time"


@dataclass(frozen=True)
class Cancellation:
    """A booking the tool says is cancelled: its reference, and what the tool says of it."""

    reference: str
    booking: dict[str, Any]


@dataclass(frozen=True)
class Reading:
    """What one delivery of a tool asks for: a booking (its fields), a cancellation, both (a
    reschedule: the old booking cancelled, the new one booked), or neither (ignored)."""

    booking: dict[str, Any] | None = None
    cancellation: Cancellation | None = None

    @property
    def ignored(self) -> bool:
        return self.booking is None and self.cancellation is None


@dataclass(frozen=True)
class Preset:
    #: Options of the source (``booking.config.WebhookSource``), each overridable in its entry.
    options: Mapping[str, Any]
    read: Callable[[dict[str, Any]], Reading]


def identifier(text: str) -> str:
    """A question's label, key or ref as the field name it stands for ("Patient name" ->
    "patient_name", "E-mail" -> "e_mail")."""
    bare = unicodedata.normalize("NFKD", text)
    bare = "".join(ch for ch in bare if not unicodedata.combining(ch)).casefold()
    return re.sub(r"[^a-z0-9]+", "_", bare).strip("_")


def _text(value: Any) -> str | None:
    """An answer as text: strings as given, numbers written out, lists of labels joined."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, str):
        return value if value.strip() else None
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, list):
        parts = [text for text in (_text(item) for item in value) if text]
        return ", ".join(parts) or None
    return None


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


_CLOCK = re.compile(r"\s*(\d{1,2})(?::(\d{2}))?\s*([ap])\.?\s*m\.?\s*", re.IGNORECASE)


def _clock(value: str) -> str:
    """A time of day as ISO "HH:MM" ("9:00 AM" -> "09:00", "2 pm" -> "14:00"); anything else
    unchanged (then ``start`` is refused naming the field)."""
    match = _CLOCK.fullmatch(value)
    if not match:
        return value.strip()
    hour, minute = int(match.group(1)) % 12, int(match.group(2) or 0)
    if match.group(3).lower() == "p":
        hour += 12
    return f"{hour:02d}:{minute:02d}"


def _questions(answers: Mapping[str, Any]) -> dict[str, Any]:
    """The booking fields answered by questions named after them (or by a usual other name),
    choices by their label; a day and a time asked apart make the ``start``."""
    fields = {name: answers[name] for name in QUESTION_FIELDS if answers.get(name) is not None}
    for alias, name in ALIASES.items():
        if answers.get(alias) is not None:
            fields.setdefault(name, answers[alias])
    day, clock = answers.get(DAY_QUESTION), answers.get(TIME_QUESTION)
    if "start" not in fields and isinstance(day, str) and isinstance(clock, str):
        fields["start"] = f"{day.strip()[:10]}T{_clock(clock)}"
    if "appointment_type" in fields:
        # A choice labelled "Wellness exam" is the wellness kind; anything else stays as
        # answered (and is refused, naming the field).
        fields["appointment_type"] = (
            _visit_type(fields["appointment_type"]) or fields["appointment_type"]
        )
    if "name" in fields and ("first_name" in fields or "last_name" in fields):
        del fields["name"]
    return fields


def _fill(fields: dict[str, Any], **tool: Any) -> dict[str, Any]:
    """The tool's own fields where no question gave the field (a name only when neither part
    of it was asked: the booking takes one or the other)."""
    for name, value in tool.items():
        if value is None or name in fields:
            continue
        if name == "name" and ("first_name" in fields or "last_name" in fields):
            continue
        fields[name] = value
    return fields


def _visit_type(value: Any) -> str | None:
    """An event type's slug or name, or a choice's label, as a kind of visit when its first
    word names one ("Wellness exam", "sick-visit")."""
    first = identifier(value).split("_", 1)[0] if isinstance(value, str) else ""
    return first if first in VISIT_TYPES else None


def _said(fields: Mapping[str, Any], start: Any = None) -> dict[str, Any]:
    """What a cancellation repeats of the booking (``start`` of the cancelled time)."""
    said = {name: fields[name] for name in CANCELLED_FIELDS if name in fields}
    if start is not None:
        said["start"] = start
    return said


# -- Cal.com -----------------------------------------------------------------------------------
# https://cal.com/docs/developing/guides/automation/webhooks (payload reference per trigger;
# "Verifying the authenticity of the received payload": X-Cal-Signature-256, the hex
# HMAC-SHA256 of the body with the webhook's secret). Triggers BOOKING_CREATED, BOOKING_CANCELLED
# and BOOKING_RESCHEDULED (the new booking, with rescheduleUid / rescheduleStartTime of the old
# one); every booking question's answer is in payload.responses under its identifier.


def _cal_answer(response: Any) -> Any:
    value = _dict(response).get("value")
    if isinstance(value, dict):
        # The split name field ({"firstName", "lastName"}); other objects (a location) are
        # not answers a booking field takes.
        parts = [value.get("firstName"), value.get("lastName")]
        return " ".join(p.strip() for p in parts if isinstance(p, str) and p.strip()) or None
    return _text(value)


def _cal_fields(booking: dict[str, Any]) -> dict[str, Any]:
    responses = _dict(booking.get("responses"))
    answers = {identifier(key): _cal_answer(value) for key, value in responses.items()}
    attendee = _dict(next(iter(_list(booking.get("attendees"))), None))
    return _fill(
        _questions(answers),
        start=_text(booking.get("startTime")),
        name=_text(attendee.get("name")),
        email=_text(attendee.get("email")),
        phone=answers.get("attendeephonenumber") or _text(attendee.get("phoneNumber")),
        note=_text(booking.get("additionalNotes")),
        appointment_type=_visit_type(booking.get("type")),
    )


def _read_cal(body: dict[str, Any]) -> Reading:
    trigger = body.get("triggerEvent")
    booking = _dict(body.get("payload"))
    uid = _text(booking.get("uid"))
    if trigger == "BOOKING_CREATED":
        return Reading(booking=_cal_fields(booking))
    if trigger == "BOOKING_CANCELLED" and uid:
        return Reading(cancellation=Cancellation(uid, _said(_cal_fields(booking))))
    if trigger == "BOOKING_RESCHEDULED":
        fields = _cal_fields(booking)
        old = _text(booking.get("rescheduleUid"))
        said = _said(fields, _text(booking.get("rescheduleStartTime")))
        return Reading(booking=fields, cancellation=Cancellation(old, said) if old else None)
    return Reading()


# -- Calendly ----------------------------------------------------------------------------------
# https://developer.calendly.com/api-docs/overview/webhooks/webhook-signatures (the
# Calendly-Webhook-Signature header "t=<unix>,v1=<hex>", HMAC-SHA256 of "{t}.{raw body}" with
# the subscription's signing key); https://developer.calendly.com/docs/api-guides/see-how-
# webhook-payloads-change-when-invitees-reschedule-events (a reschedule is an invitee.canceled
# with rescheduled: true, then an invitee.created). The payload is the invitee: name, email,
# text_reminder_number, questions_and_answers, tracking, scheduled_event.start_time.


def _calendly_fields(invitee: dict[str, Any]) -> dict[str, Any]:
    answers = {
        identifier(str(item.get("question") or "")): _text(item.get("answer"))
        for item in map(_dict, _list(invitee.get("questions_and_answers")))
    }
    event = _dict(invitee.get("scheduled_event"))
    tracking = _dict(invitee.get("tracking"))
    first, last = _text(invitee.get("first_name")), _text(invitee.get("last_name"))
    return _fill(
        _questions(answers),
        start=_text(event.get("start_time")),
        first_name=first if first and last else None,
        last_name=last if first and last else None,
        name=_text(invitee.get("name")),
        email=_text(invitee.get("email")),
        phone=_text(invitee.get("text_reminder_number")),
        appointment_type=_visit_type(event.get("name")),
        utm_source=_text(tracking.get("utm_source")),
        utm_medium=_text(tracking.get("utm_medium")),
        utm_campaign=_text(tracking.get("utm_campaign")),
    )


def _read_calendly(body: dict[str, Any]) -> Reading:
    event = body.get("event")
    invitee = _dict(body.get("payload"))
    if event == "invitee.created":
        return Reading(booking=_calendly_fields(invitee))
    reference = _text(invitee.get("uri"))
    if event == "invitee.canceled" and reference:
        return Reading(cancellation=Cancellation(reference, _said(_calendly_fields(invitee))))
    return Reading()


# -- Typeform ----------------------------------------------------------------------------------
# https://www.typeform.com/developers/webhooks/secure-your-webhooks/ (Typeform-Signature:
# "sha256=" + base64 of the HMAC-SHA256 of the body); https://www.typeform.com/developers/
# webhooks/example-payload/ (event_type form_response; form_response.answers, each with its
# field's ref and a value under its type's key; hidden fields in form_response.hidden).


def _typeform_answer(answer: dict[str, Any]) -> Any:
    kind = answer.get("type")
    if kind == "choice":
        choice = _dict(answer.get("choice"))
        return _text(choice.get("label")) or _text(choice.get("other"))
    if kind == "choices":
        choices = _dict(answer.get("choices"))
        return _text([*_list(choices.get("labels")), choices.get("other")])
    return _text(answer.get(kind)) if isinstance(kind, str) else None


def _read_typeform(body: dict[str, Any]) -> Reading:
    if body.get("event_type") != "form_response":
        return Reading()
    response = _dict(body.get("form_response"))
    answers = {
        identifier(str(key)): _text(value) for key, value in _dict(response.get("hidden")).items()
    }
    for answer in map(_dict, _list(response.get("answers"))):
        ref = _dict(answer.get("field")).get("ref")
        if isinstance(ref, str):
            answers[identifier(ref)] = _typeform_answer(answer)
    return Reading(booking=_questions(answers))


# -- Tally -------------------------------------------------------------------------------------
# https://tally.so/help/webhooks ("Add a signing secret": Tally-Signature, the base64
# HMAC-SHA256 of the body; "Example webhook event": eventType FORM_RESPONSE, data.fields with
# each question's key, label, type and value; a choice's value is its options' ids).


def _tally_answer(question: dict[str, Any]) -> Any:
    value = question.get("value")
    options = {
        option.get("id"): option.get("text")
        for option in map(_dict, _list(question.get("options")))
    }
    if options:
        chosen = value if isinstance(value, list) else [value]
        value = [options.get(item, item) for item in chosen if isinstance(item, str)]
    return _text(value)


def _read_tally(body: dict[str, Any]) -> Reading:
    if body.get("eventType") != "FORM_RESPONSE":
        return Reading()
    answers: dict[str, Any] = {}
    for question in map(_dict, _list(_dict(body.get("data")).get("fields"))):
        value = _tally_answer(question)
        for name in (question.get("key"), question.get("label")):
            if isinstance(name, str) and value is not None:
                answers.setdefault(identifier(name), value)
    return Reading(booking=_questions(answers))


PRESETS: dict[str, Preset] = {
    "cal.com": Preset(
        options={
            "scheme": "hmac-sha256",
            "header": "X-Cal-Signature-256",
            "encoding": "hex",
            "id_field": "payload.uid",
            "ack_failures": True,
        },
        read=_read_cal,
    ),
    "calendly": Preset(
        options={
            "scheme": "timestamped-hmac",
            "header": "Calendly-Webhook-Signature",
            "id_field": "payload.uri",
            "ack_failures": True,
        },
        read=_read_calendly,
    ),
    "typeform": Preset(
        options={
            "scheme": "hmac-sha256",
            "header": "Typeform-Signature",
            "encoding": "base64",
            "prefix": "sha256=",
            "id_field": "form_response.token",
        },
        read=_read_typeform,
    ),
    "tally": Preset(
        options={
            "scheme": "hmac-sha256",
            "header": "Tally-Signature",
            "encoding": "base64",
            "id_field": "data.responseId",
        },
        read=_read_tally,
    ),
}


def read(preset: str, body: Any) -> Reading:
    """What a delivery of this tool asks for (a body that is not the tool's object: nothing)."""
    return PRESETS[preset].read(body) if isinstance(body, dict) else Reading()
