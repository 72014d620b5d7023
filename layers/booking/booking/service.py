"""The booking logic: no HTTP and no AWS here, only models, errors and the adapters' methods.

``BookingService.submit`` books a validated request exactly once per idempotency key:
resolve the client and pet by name when no ids were given, create the appointment in Oliver
(settling unknown outcomes with a lookup, never a blind retry), announce it on EventBridge, and
emit ``Booking Failed`` for every failure staff should follow up.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from booking.budget import Budget
from booking.credentials import CredentialProvider
from booking.errors import (
    AmbiguousMatch,
    BookingError,
    ClientNotFound,
    FieldError,
    OutcomeUnknown,
    PatientNotFound,
    UpstreamAuthFailed,
    UpstreamError,
)
from booking.idempotency import UnknownOutcomeMarkers, fingerprint, fold, idempotency_key
from booking.models import AppointmentBookedDetail, BookingFailedDetail
from booking.oliver import CreateOutcomeUnknown, OliverClient, Unauthorized
from booking.open_times import SlotTimes, parse_time
from booking.phone import to_e164
from booking.publisher import EventPublisher
from booking.submission import BookingResult, Submission

EVENT_NAMESPACE = uuid.UUID("5f0c3b7e-8d0a-4f6b-9a59-6a1f2d2b7c11")
#: How far back (and forward, for clock skew) the lookup for an unknown outcome searches.
LOOKUP_WINDOW = timedelta(minutes=2)
CLOSED_STATUSES = {"DELETED", "DECLINED"}


class Guard(Protocol):
    """Runs a booking at most once per key (see ``booking.idempotency``)."""

    def run_once(
        self, key: str, fingerprint: str, book: Callable[[], dict[str, Any]]
    ) -> tuple[dict[str, Any], bool]: ...


@dataclass(frozen=True)
class Party:
    """What is known of the client and pet, to find an appointment Oliver may have created."""

    first_name: str | None = None
    last_name: str | None = None
    email: str | None = None
    phone: str | None = None
    client_remote_id: str | None = None
    patient_name: str | None = None
    patient_remote_id: str | None = None


def _digits(value: str | None) -> str:
    return "".join(ch for ch in value or "" if ch.isdigit())


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _upstream_id(value: object) -> int | None:
    """Oliver's ids come back as strings from lookups but must be integers in the create."""
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None


def as_created(appointment: dict[str, Any]) -> dict[str, Any]:
    """An appointment from a list answer (string id) in the create answer's shape (integer)."""
    number = _upstream_id(appointment.get("id"))
    return {**appointment, "id": number} if number is not None else dict(appointment)


class BookingService:
    def __init__(
        self,
        oliver: OliverClient,
        credentials: CredentialProvider,
        publisher: EventPublisher,
        guard: Guard,
        markers: UnknownOutcomeMarkers,
        slot_times: SlotTimes,
        phone_region: str,
        count: Callable[[str], None] = lambda _name: None,
    ) -> None:
        self.oliver = oliver
        self.credentials = credentials
        self.publisher = publisher
        self.guard = guard
        self.markers = markers
        self.slot_times = slot_times
        self.phone_region = phone_region
        self.count = count

    # -- entry point ---------------------------------------------------------------------------

    def submit(self, sub: Submission) -> BookingResult:
        key = idempotency_key(sub.channel, sub.explicit_key, sub.booking)
        try:
            response, replayed = self.guard.run_once(
                key, fingerprint(sub.booking), lambda: self._book(sub, key)
            )
        except BookingError as exc:
            self.count(f"Booking_{exc.code}")
            if exc.follow_up:
                self._publish_failed(sub, key, exc)
            raise
        self.count("BookingReplayed" if replayed else "BookingCreated")
        return BookingResult(response["status"], response["body"], replayed)

    def call_oliver(
        self, operation: Callable[..., Any], *args: Any, request_id: str, budget: Budget
    ) -> Any:
        """``operation(*args, token, location_id, request_id, budget)`` with the current
        credentials; after a 401, read the secret afresh (or sign in again) and retry once."""
        try:
            credentials = self.credentials.get(budget)
            return operation(*args, credentials.token, credentials.location_id, request_id, budget)
        except Unauthorized:
            pass
        try:
            credentials = self.credentials.refresh(budget)
            return operation(*args, credentials.token, credentials.location_id, request_id, budget)
        except Unauthorized:
            raise UpstreamAuthFailed() from None

    def _oliver(self, sub: Submission, operation: Callable[..., Any], *args: Any) -> Any:
        return self.call_oliver(operation, *args, request_id=sub.request_id, budget=sub.budget)

    # -- one booking -----------------------------------------------------------------------------

    def _book(self, sub: Submission, key: str) -> dict[str, Any]:
        body, party = self._upstream_request(sub)
        since = parse_time(self.markers.since(key))
        if since is not None:
            found = self._find_created(sub, party, since)
            if found is not None:
                self.markers.clear(key)
                return self._booked(sub, key, found, "Appointment created successfully")
        try:
            envelope = self._oliver(sub, self.oliver.create_appointment, body)
        except CreateOutcomeUnknown:
            self.count("CreateOutcomeUnknown")
            window_start = since or sub.submitted_at
            found = self._find_created(sub, party, window_start)
            if found is None:
                if not self.markers.mark(key, _iso(window_start)):
                    self.count("UnknownOutcomeMarkerFailed")
                raise OutcomeUnknown(retry_after=60) from None
            return self._booked(sub, key, found, "Appointment created successfully")
        if since is not None:
            self.markers.clear(key)
        return self._booked(sub, key, envelope["data"], envelope.get("message"))

    def _booked(
        self, sub: Submission, key: str, appointment: dict[str, Any], message: object
    ) -> dict[str, Any]:
        appointment = as_created(appointment)
        self._publish_booked(sub, key, appointment)
        body = {
            "success": True,
            "data": appointment,
            "message": message if isinstance(message, str) else "Appointment created",
        }
        return {"status": 201, "body": body}

    # -- what is sent upstream -------------------------------------------------------------------

    def _upstream_request(self, sub: Submission) -> tuple[dict[str, Any], Party]:
        booking = sub.booking
        party = Party(
            first_name=booking.first_name,
            last_name=booking.last_name,
            email=booking.email,
            phone=booking.phone,
            client_remote_id=booking.client_remote_id,
            patient_name=booking.patient_name,
            patient_remote_id=booking.patient_remote_id,
        )
        if not booking.needs_lookup():
            return booking.upstream_body(), party
        client, patient = self._find_client_and_pet(sub)
        body: dict[str, Any] = {"slot_id": booking.slot_id}
        client_id, patient_id = _upstream_id(client.get("id")), _upstream_id(patient.get("id"))
        if client_id is not None:
            body["client_id"] = client_id
        elif client.get("remote_id"):
            body["client_remote_id"] = str(client["remote_id"])
        else:
            raise UpstreamError()
        if patient_id is not None:
            body["patient_id"] = patient_id
        elif patient.get("remote_id"):
            body["patient_remote_id"] = str(patient["remote_id"])
        else:
            raise UpstreamError()
        for name in ("note", "status"):
            if (value := getattr(booking, name)) is not None:
                body[name] = value
        return body, party

    def _find_client_and_pet(self, sub: Submission) -> tuple[dict[str, Any], dict[str, Any]]:
        """Booking by pet name: the client by email, then by phone (E.164), checked against the
        last name; then the pet among the client's patients by folded name."""
        booking = sub.booking

        def clients(params: dict[str, str]) -> list[dict[str, Any]]:
            found = self._oliver(sub, self.oliver.find_clients, params)
            last = fold(booking.last_name or "").split()
            unique = {
                str(client.get("id")): client
                for client in found
                if last and fold(str(client.get("name", ""))).split()[-len(last) :] == last
            }
            return list(unique.values())

        matches: list[dict[str, Any]] = clients({"email": booking.email}) if booking.email else []
        if not matches and booking.phone:
            e164 = to_e164(booking.phone, self.phone_region)
            if e164:
                matches = clients({"phone": e164})
        if not matches:
            contact = "email" if booking.email else "phone"
            raise ClientNotFound(errors=[FieldError(contact, "matches no client of the practice")])
        if len(matches) > 1:
            raise AmbiguousMatch()
        client = matches[0]
        patients = client.get("patients")
        if not isinstance(patients, list) or not patients:
            patients = self._oliver(sub, self.oliver.list_patients, str(client["id"]))
        wanted = fold(booking.patient_name or "")
        pets = [
            p for p in patients if isinstance(p, dict) and fold(str(p.get("name", ""))) == wanted
        ]
        if not pets:
            raise PatientNotFound(
                errors=[FieldError("patient_name", "matches no pet on the client's record")]
            )
        if len(pets) > 1:
            raise AmbiguousMatch()
        return client, pets[0]

    # -- settling an unknown outcome ------------------------------------------------------------

    def _find_created(
        self, sub: Submission, party: Party, since: datetime
    ) -> dict[str, Any] | None:
        """The appointment this booking created, when exactly one matches; else None."""
        if not sub.budget.allows(0.3):
            return None
        if sub.booking.client_id is not None and party.first_name is None:
            party = self._party_of_client(sub, party)
        start, end = since - LOOKUP_WINDOW, datetime.now(UTC) + LOOKUP_WINDOW
        try:
            listed = self._oliver(sub, self.oliver.list_appointments, _iso(start), _iso(end))
        except BookingError:
            return None
        slot_start = self.slot_times.start_of(sub.booking.slot_id)
        matches = [a for a in listed if self._matches(a, party, slot_start, start)]
        unique = {str(a.get("id")): a for a in matches}
        return next(iter(unique.values())) if len(unique) == 1 else None

    def _party_of_client(self, sub: Submission, party: Party) -> Party:
        client_id = str(sub.booking.client_id)
        try:
            client = self._oliver(sub, self.oliver.get_client, client_id)
        except BookingError:
            return party
        if not client:
            return party
        names = str(client.get("name") or "").split()
        return Party(
            first_name=names[0] if names else None,
            last_name=" ".join(names[1:]) or None,
            email=client.get("email"),
            phone=client.get("phone"),
            client_remote_id=client.get("remote_id"),
            patient_name=party.patient_name,
            patient_remote_id=party.patient_remote_id,
        )

    @staticmethod
    def _matches(
        appointment: dict[str, Any], party: Party, slot_start: datetime | None, since: datetime
    ) -> bool:
        if str(appointment.get("status", "")).upper() in CLOSED_STATUSES:
            return False
        created = parse_time(appointment.get("created_at"))
        if created is not None and created < since:
            return False
        if slot_start is not None and parse_time(appointment.get("booking_date")) != slot_start:
            return False
        if party.client_remote_id and appointment.get("remote_client_id"):
            client_ok = appointment["remote_client_id"] == party.client_remote_id
        elif party.first_name and party.last_name:
            client_ok = fold(party.first_name) == fold(
                str(appointment.get("client_first_name") or "")
            ) and fold(party.last_name) == fold(str(appointment.get("client_last_name") or ""))
            if client_ok and party.email and appointment.get("client_email"):
                client_ok = fold(party.email) == fold(str(appointment["client_email"]))
            elif client_ok and party.phone and appointment.get("client_phone"):
                client_ok = _digits(party.phone)[-10:] == _digits(appointment["client_phone"])[-10:]
        else:
            return False
        if not client_ok:
            return False
        if party.patient_remote_id and appointment.get("remote_patient_id"):
            return bool(appointment["remote_patient_id"] == party.patient_remote_id)
        if party.patient_name and appointment.get("patient_name"):
            return fold(party.patient_name) == fold(str(appointment["patient_name"]))
        return True

    # -- events ----------------------------------------------------------------------------------

    def _publish_booked(self, sub: Submission, key: str, appointment: dict[str, Any]) -> None:
        name = f"booked:{self.oliver.api_url}:{appointment.get('id')}"
        detail = AppointmentBookedDetail(
            **self._detail(sub, key, name),
            appointment=appointment,
            referral_source=sub.booking.utm_source,
            referral_medium=sub.booking.utm_medium,
            referral_campaign=sub.booking.utm_campaign,
        )
        self._publish("Appointment Booked", detail.model_dump(mode="json"), sub.budget)

    def _publish_failed(self, sub: Submission, key: str, error: BookingError) -> None:
        detail = BookingFailedDetail(
            **self._detail(sub, key, f"failed:{key}:{error.code}"),
            reason=error.code,
            booking=sub.booking.model_dump(mode="json", exclude_none=True),
        )
        self._publish("Booking Failed", detail.model_dump(mode="json"), sub.budget)

    @staticmethod
    def _detail(sub: Submission, key: str, event_name: str) -> dict[str, Any]:
        """The fields every event detail shares; ``event_name`` makes its stable event id."""
        return {
            "event_id": str(uuid.uuid5(EVENT_NAMESPACE, event_name)),
            "channel": sub.channel.name,
            "webhook_source": sub.channel.webhook_source,
            "idempotency_key": key,
            "request_id": sub.request_id,
            "submitted_at": _iso(sub.submitted_at),
        }

    def _publish(self, detail_type: str, detail: dict[str, Any], budget: Budget) -> None:
        outcome = self.publisher.publish(detail_type, detail, budget)
        if outcome != "delivered":
            self.count("EventParked" if outcome == "parked" else "EventLost")
