"""The consumers' view of the events they receive: only what they use, everything else ignored.

The producer's models (``booking.models``) forbid unknown fields because they are the published
schema; a consumer must instead keep working when the producer adds a field, so these read
leniently. A body that is not an event at all is ``MalformedEvent`` (its message never carries
the body: it may hold a client's details).
"""

from __future__ import annotations

import json
from typing import Any, TypeVar

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, ValidationError

BOOKED = "Appointment Booked"
FAILED = "Booking Failed"
CANCELLED = "Booking Cancelled"


class MalformedEvent(Exception):
    """The SQS message is not an EventBridge event this consumer can read."""


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)


class BusEvent(_Lenient):
    """The EventBridge envelope, as a rule's SQS target delivers it."""

    id: str
    detail_type: str = Field(alias="detail-type")
    source: str = ""
    time: str | None = None
    replay_name: str | None = Field(default=None, alias="replay-name")
    detail: dict[str, Any]

    @property
    def event_id(self) -> str:
        value = self.detail.get("event_id")
        return value if isinstance(value, str) and value else ""


class BookedAppointment(_Lenient):
    id: int | str
    status: str | None = None
    booking_date: str | None = None
    end_date: str | None = None
    created_at: str | None = None
    client_first_name: str | None = None
    client_last_name: str | None = None
    client_email: str | None = None
    patient_name: str | None = None


class Booked(_Lenient):
    event_id: str
    appointment: BookedAppointment


class Visitor(_Lenient):
    """Who asked and for what: the validated booking of a failure, or what a scheduling tool
    says about a cancelled one."""

    first_name: str | None = None
    last_name: str | None = None
    name: str | None = None
    email: str | None = None
    phone: str | None = None
    patient_name: str | None = Field(
        default=None, validation_alias=AliasChoices("patient_name", "pet")
    )
    client_id: int | str | None = None
    client_remote_id: str | None = None
    patient_id: int | str | None = None
    patient_remote_id: str | None = None
    start: str | None = None
    note: str | None = None

    def full_name(self) -> str:
        if self.name:
            if "," in self.name:
                last, _, first = self.name.partition(",")
                return " ".join(f"{first.strip()} {last.strip()}".split())
            return " ".join(self.name.split())
        return " ".join(f"{self.first_name or ''} {self.last_name or ''}".split())

    def first(self) -> str:
        return self.full_name().split(" ", 1)[0] if self.full_name() else ""


class Failed(_Lenient):
    event_id: str
    reason: str
    booking: Visitor = Field(default_factory=Visitor)
    channel: str | None = None
    webhook_source: str | None = None
    submitted_at: str | None = None


class Cancelled(_Lenient):
    event_id: str
    reference: str | None = None
    booking: Visitor = Field(default_factory=Visitor)
    appointment_id: int | str | None = None
    webhook_source: str | None = None
    submitted_at: str | None = None


T = TypeVar("T", bound=_Lenient)


def read_event(body: str) -> BusEvent:
    try:
        event = BusEvent.model_validate(json.loads(body))
    except (ValueError, ValidationError):
        raise MalformedEvent("the message is not an EventBridge event") from None
    if not event.event_id:
        raise MalformedEvent("the event has no detail.event_id")
    return event


def detail_as(event: BusEvent, model: type[T]) -> T:
    try:
        return model.model_validate(event.detail)
    except ValidationError as exc:
        fields = sorted({".".join(str(p) for p in error["loc"]) for error in exc.errors()})
        raise MalformedEvent(f"{event.detail_type} detail lacks or mistypes: {fields}") from None
