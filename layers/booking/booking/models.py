"""Separate models per purpose: what a caller posts, what Oliver takes and returns, our event
details. Field descriptions document the public API."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from booking.errors import FieldError
from booking.text import has_control_characters, parse_time, split_full_name
from booking.version import VERSION

Name = Annotated[str, StringConstraints(min_length=1, max_length=100)]
OliverId = (
    Annotated[int, Field(gt=0)] | Annotated[str, StringConstraints(min_length=1, max_length=100)]
)
RemoteId = Annotated[str, StringConstraints(min_length=1, max_length=100)]
Utm = Annotated[str, StringConstraints(max_length=200)]
Url = Annotated[str, StringConstraints(max_length=2048)]
AppointmentStatus = Literal["REQUESTED", "ACCEPTED", "CONFIRMED"]
VisitType = Literal["wellness", "sick", "technician", "recheck"]
#: Open times further ahead are refused by us, so that a search Oliver refuses is never the
#: caller's date but our practice (a wrong location id).
MAX_SEARCH_AHEAD = timedelta(days=3653)

_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s.]+(\.[^@\s.]+)+$")

#: The fields Oliver's create-appointment endpoint takes; nothing else is ever sent upstream.
#: Those that identify the client or the pet are replaced by the ids matching found when a
#: booking names its pet instead; the others are sent as given.
UPSTREAM_IDENTITY_FIELDS = (
    "client_id",
    "client_remote_id",
    "first_name",
    "last_name",
    "phone",
    "email",
    "patient_id",
    "patient_remote_id",
)
UPSTREAM_FIELDS = ("slot_id", *UPSTREAM_IDENTITY_FIELDS, "note", "status")
#: Fields only a signed partner may send: a public caller cannot address a record by id, nor
#: skip the practice's review of a request.
PARTNER_ONLY_FIELDS = ("client_id", "client_remote_id", "patient_id", "patient_remote_id", "status")


class BookingRequest(BaseModel):
    """A booking as a web form, a script or a mapped webhook submits it."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, frozen=True)

    slot_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=255,
        description="The `uuid` of a time from GET /open-times (or give `start` and "
        "`appointment_type`).",
    )
    start: str | None = Field(
        default=None,
        max_length=64,
        description="Booking by requested time, for forms that cannot call GET /open-times: the "
        "start, ISO 8601 (without an offset it is read in the practice's zone). The open slot "
        "of `appointment_type` starting exactly then is booked.",
    )
    appointment_type: VisitType | None = Field(
        default=None, description="The kind of visit, with `start`."
    )
    provider_id: RemoteId | None = Field(
        default=None, description="With `start`: only this provider's slot (an Oliver id)."
    )
    client_id: OliverId | None = Field(
        default=None,
        description="Oliver's client id: an integer, or the id as Oliver's lookups give it.",
    )
    client_remote_id: RemoteId | None = Field(default=None, description="The client's PIMS id.")
    first_name: Name | None = Field(default=None, description="Client's first name.")
    last_name: Name | None = Field(default=None, description="Client's last name.")
    name: Name | None = Field(
        default=None,
        description="Client's full name, instead of first_name and last_name "
        '("First Last" or "Last, First").',
    )
    phone: str | None = Field(default=None, max_length=40, description="Client's phone number.")
    email: str | None = Field(default=None, max_length=254, description="Client's email.")
    patient_id: OliverId | None = Field(
        default=None,
        description="Oliver's patient id: an integer, or the id as Oliver's lookups give it.",
    )
    patient_remote_id: RemoteId | None = Field(default=None, description="The pet's PIMS id.")
    patient_name: Name | None = Field(
        default=None,
        description="The pet's name, when no patient id is known (never sent upstream).",
    )
    note: str | None = Field(default=None, max_length=2000, description="Note for the practice.")
    status: AppointmentStatus | None = Field(
        default=None, description="Status override; omitted means the clinic decides."
    )
    utm_source: Utm | None = None
    utm_medium: Utm | None = None
    utm_campaign: Utm | None = None
    success_url: Url | None = Field(default=None, description="Where a plain HTML form returns.")
    failure_url: Url | None = Field(default=None, description="Where a failed HTML form returns.")

    @field_validator("*", mode="before")
    @classmethod
    def _plain_text(cls, value: object, info: Any) -> object:
        if not isinstance(value, str):
            return value
        if info.field_name == "note":
            # Browsers send a textarea's line breaks as CRLF.
            value = value.replace("\r\n", "\n").replace("\r", "\n")
        if has_control_characters(value, multiline=info.field_name == "note"):
            raise ValueError("contains control characters")
        return value

    @field_validator("client_id", "patient_id", mode="before")
    @classmethod
    def _oliver_id(cls, value: object) -> object:
        # Lax mode would read JSON true as id 1: someone else's client or pet.
        if isinstance(value, bool):
            raise ValueError("must be an id")
        # Oliver's create documents integers; its lookups give strings, numeric or not: a
        # numeric one is sent as the integer, any other is forwarded as given.
        if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
            return int(value)
        return value

    @field_validator("start")
    @classmethod
    def _start(cls, value: str | None) -> str | None:
        if value is not None and parse_time(value) is None:
            raise ValueError("must be an ISO 8601 date-time")
        return value

    @field_validator("email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        if value is not None and not _EMAIL.match(value):
            raise ValueError("is not a valid email address")
        return value

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if (
            not re.fullmatch(r"[0-9+()./ \-]+", value)
            or not 7 <= sum(c.isdigit() for c in value) <= 15
        ):
            raise ValueError("is not a valid phone number")
        return value

    def identification_errors(self, public: bool = False) -> list[FieldError]:
        """The upstream's one-of rules for the client and the patient, with what is missing.
        A ``public`` caller is told only of the fields it may send (name, contact, pet)."""
        errors: list[FieldError] = self._time_errors()
        if self.name is not None and (self.first_name or self.last_name):
            errors.append(FieldError("name", "give either name or first_name and last_name"))
        elif self.name is not None and not all(self.split_name()):
            errors.append(FieldError("name", "must hold a first and a last name"))
        by_name = public or any(
            (self.first_name, self.last_name, self.name, self.phone, self.email)
        )
        if self.client_id is None and self.client_remote_id is None:
            if not by_name:
                errors.append(
                    FieldError(
                        "client_id",
                        "identify the client by client_id, client_remote_id, or first_name, "
                        "last_name (or name) and phone or email",
                    )
                )
            elif self.name is None:
                for name in ("first_name", "last_name"):
                    if getattr(self, name) is None:
                        errors.append(FieldError(name, "is required"))
                if self.phone is None and self.email is None:
                    errors.append(FieldError("email", "an email or a phone number is required"))
        if self.patient_id is None and self.patient_remote_id is None:
            if self.patient_name is None:
                errors.append(
                    FieldError("patient_name", "is required")
                    if public
                    else FieldError(
                        "patient_id",
                        "identify the pet by patient_id, patient_remote_id or patient_name",
                    )
                )
            elif not public and not self.identifies_client_by_contact():
                errors.append(
                    FieldError(
                        "patient_name",
                        "booking by pet name needs the client's first_name, last_name "
                        "and email or phone",
                    )
                )
        return errors

    def _time_errors(self) -> list[FieldError]:
        """The time: a ``slot_id``, or a ``start`` with its ``appointment_type``."""
        if self.slot_id is not None:
            extra = [f for f in ("start", "appointment_type", "provider_id") if getattr(self, f)]
            return [FieldError(f, "give either slot_id or start") for f in extra]
        if self.start is None:
            return [
                FieldError("slot_id", "is required (or start and appointment_type)")
                if self.appointment_type is None
                else FieldError("start", "is required with appointment_type")
            ]
        if self.appointment_type is None:
            return [FieldError("appointment_type", "is required with start")]
        return []

    def identifies_client_by_contact(self) -> bool:
        first, last = self.split_name()
        return bool(first and last and (self.phone or self.email))

    def split_name(self) -> tuple[str, str]:
        """(first name, last name) as given, from ``first_name``/``last_name`` or ``name``."""
        if self.name is None:
            return self.first_name or "", self.last_name or ""
        if "," in self.name:
            last, _, first = self.name.partition(",")
            return first.strip(), last.strip()
        first, _, last = self.name.strip().partition(" ")
        return first, last.strip()

    def name_words(self) -> tuple[list[str], list[str]]:
        """Folded (first-name words, last-name words), middle names dropped, for matching."""
        if self.name is not None:
            return split_full_name(self.name)
        return split_full_name(f"{self.last_name or ''}, {self.first_name or ''}")

    def partner_only_fields(self) -> list[str]:
        return [name for name in PARTNER_ONLY_FIELDS if getattr(self, name) is not None]

    def needs_lookup(self) -> bool:
        """Booking by pet name: Oliver's ids must be found before the create."""
        return self.patient_id is None and self.patient_remote_id is None

    def upstream_body(self, identity: dict[str, Any] | None = None) -> dict[str, Any]:
        """The create-appointment body: only upstream fields, only those given (no nulls).
        ``identity`` (the client and pet ids matching found) replaces what identifies them."""
        first, last = self.split_name()
        given = {**self.model_dump(include=set(UPSTREAM_FIELDS)), "first_name": first or None}
        given["last_name"] = last or None
        if identity is not None:
            given = {
                **{k: v for k, v in given.items() if k not in UPSTREAM_IDENTITY_FIELDS},
                **identity,
            }
        return {name: given[name] for name in UPSTREAM_FIELDS if given.get(name) is not None}


class OpenTimesQuery(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    search_from_date: str = Field(
        description="ISO 8601 date-time where the search starts (without an offset: the "
        "practice's time); a past time searches from now, at most ten years ahead."
    )
    appointment_type: VisitType
    days: int | None = Field(
        default=None, ge=1, le=31, description="Only return this many days (page convenience)."
    )

    @field_validator("search_from_date")
    @classmethod
    def _iso(cls, value: str) -> str:
        moment = parse_time(value)
        if moment is None or has_control_characters(value):
            raise ValueError("must be an ISO 8601 date-time")
        if moment > datetime.now(UTC) + MAX_SEARCH_AHEAD:
            raise ValueError("must be within ten years from now")
        return value


# -- event details (docs/schemas/ is generated from these: `make openapi`) --------------------

Stamp = Annotated[str, StringConstraints(min_length=1)]
Nullable = str | None


class Appointment(BaseModel):
    """The appointment exactly as Oliver's create-appointment answer returned it (its `data`
    object). Oliver may add fields; consumers should ignore what they do not know."""

    model_config = ConfigDict(extra="allow")

    id: int = Field(description="Oliver's appointment id.")
    remote_id: Nullable = Field(None, description="The PIMS appointment id; null until synced.")
    remote_client_id: Nullable = Field(None, description="The client's PIMS id, when known.")
    remote_patient_id: Nullable = Field(None, description="The patient's PIMS id, when known.")
    status: (
        Literal["REQUESTED", "ACCEPTED", "CONFIRMED", "IN_PROGRESS", "DONE", "DELETED", "DECLINED"]
        | None
    ) = None
    booking_date: Nullable = Field(None, description="Start of the appointment (ISO 8601).")
    end_date: Nullable = Field(None, description="End of the appointment (ISO 8601).")
    created_at: Nullable = None
    updated_at: Nullable = None
    referral_source: Nullable = None
    referral_medium: Nullable = None
    referral_campaign: Nullable = None
    client_first_name: Nullable = None
    client_last_name: Nullable = None
    client_email: Nullable = None
    client_phone: Nullable = None
    client_type: Literal["NEW", "RETURNING"] | None = None
    patient_name: Nullable = None


class RequestedBooking(BookingRequest):
    """The validated booking as the visitor or partner submitted it (fields not given are
    absent), with `start` whenever the slot's start is known."""

    model_config = ConfigDict(extra="forbid", frozen=True, title="RequestedBooking")

    start: str | None = Field(
        default=None, description="Start of the requested slot (ISO 8601, UTC), when known."
    )


class _EventDetail(BaseModel):
    """What every event detail carries."""

    model_config = ConfigDict(extra="forbid")

    version: Literal[1] = Field(1, description="Version of this detail's shape.")
    event_id: Stamp = Field(description="Stable id: consumers drop duplicates on it.")
    channel: Literal["form", "page", "webhook"] = Field(
        description="`form` for POST /bookings, `page` for the hosted booking page, `webhook` "
        "for POST /webhooks/{source}."
    )
    webhook_source: str | None = Field(
        description="The {source} of POST /webhooks/{source}; null for the other channels."
    )
    idempotency_key: Stamp = Field(
        description="The key the booking was deduplicated on: the webhook delivery id, the "
        "Idempotency-Key header, or a digest of the normalised booking (namespaced by channel "
        "and source)."
    )
    request_id: Stamp = Field(description="API Gateway request id (also in the function's log).")
    submitted_at: Stamp = Field(description="When the submission arrived, ISO 8601 in UTC.")
    producer_version: str = Field(
        default=VERSION, description="The release of the booking webhook that sent the event."
    )


class AppointmentBookedDetail(_EventDetail):
    """The `detail` of an EventBridge event with DetailType `Appointment Booked`: sent once
    for every appointment created, eventually (a failed put is parked and replayed)."""

    model_config = ConfigDict(title="Appointment Booked")

    event_id: Stamp = Field(
        description="Stable for the appointment: a replayed or re-sent event has the same id."
    )
    appointment: Appointment
    referral_source: str | None = Field(description="The form's utm_source, or null.")
    referral_medium: str | None = Field(description="The form's utm_medium, or null.")
    referral_campaign: str | None = Field(description="The form's utm_campaign, or null.")


class BookingFailedDetail(_EventDetail):
    """The `detail` of an EventBridge event with DetailType `Booking Failed`: a valid
    submission that could not be booked, for staff to follow up."""

    model_config = ConfigDict(title="Booking Failed")

    event_id: Stamp = Field(
        description="Stable for the idempotency key and reason, so a retried failure is one "
        "follow-up; for `not_matched` and `held_for_review`, stable per contact and day."
    )
    reason: str = Field(
        pattern="^[a-z][a-z_]*$",
        description="The error `code` the caller got (`not_matched`, `held_for_review`, "
        "`slot_unavailable`, `booking_rejected`, `upstream_unavailable`, `outcome_unknown`, "
        "...). New codes may appear; treat unknown ones as needing a look.",
    )
    booking: RequestedBooking


#: DetailType -> the model of its detail.
EVENT_DETAILS: dict[str, type[BaseModel]] = {
    "Appointment Booked": AppointmentBookedDetail,
    "Booking Failed": BookingFailedDetail,
}


# -- Booking Cancelled (a scheduling tool's cancellation, for staff) --------------------------


class CancelledBooking(BaseModel):
    """What the scheduling tool says about the cancelled booking (fields it did not say are
    absent)."""

    model_config = ConfigDict(extra="forbid", title="CancelledBooking")

    name: str | None = Field(default=None, description="The client's full name.")
    first_name: str | None = None
    last_name: str | None = None
    email: str | None = None
    phone: str | None = None
    patient_name: str | None = Field(default=None, description="The pet's name.")
    start: str | None = Field(
        default=None, description="Start of the cancelled booking (ISO 8601, UTC)."
    )


class BookingCancelledDetail(BaseModel):
    """The `detail` of an EventBridge event with DetailType `Booking Cancelled`: a scheduling
    tool (a preset webhook source) says a booking it had sent is cancelled, so staff cancel the
    appointment in the practice system. Nothing is cancelled in Oliver by the service."""

    model_config = ConfigDict(extra="forbid", title="Booking Cancelled")

    version: Literal[1] = Field(1, description="Version of this detail's shape.")
    event_id: Stamp = Field(
        description="Stable for the tool's booking reference: a redelivered cancellation (or "
        "the same booking cancelled by a reschedule and again) has the same id."
    )
    webhook_source: str = Field(description="The {source} of POST /webhooks/{source}.")
    reference: Stamp = Field(description="The tool's id or URI of the cancelled booking.")
    booking: CancelledBooking
    appointment_id: int | str | None = Field(
        default=None,
        description="Oliver's appointment id when the service knows it booked this one; null "
        "otherwise (staff find it by the client, the pet and the time).",
    )
    request_id: Stamp = Field(description="API Gateway request id (also in the function's log).")
    submitted_at: Stamp = Field(description="When the cancellation arrived, ISO 8601 in UTC.")
    producer_version: str = Field(
        default=VERSION, description="The release of the booking webhook that sent the event."
    )


EVENT_DETAILS["Booking Cancelled"] = BookingCancelledDetail
