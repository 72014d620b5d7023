"""The booking logic: no HTTP and no AWS here, only models, errors and the adapters' methods.

``BookingService.submit`` books a validated request exactly once per idempotency key:
resolve the client and pet by name when no ids were given, create the appointment in Oliver
(settling unknown outcomes with a lookup, never a blind retry), announce it on EventBridge, and
emit ``Booking Failed`` for every failure staff should follow up. Booking by pet name lives in
``booking.pet_lookup`` and settling an unknown outcome in ``booking.reconcile``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from functools import partial
from typing import Any, Protocol

from booking.budget import Budget
from booking.credentials import CredentialProvider
from booking.errors import BookingError, OutcomeUnknown, UpstreamAuthFailed, UpstreamError
from booking.idempotency import UnknownOutcomeMarkers, fingerprint, idempotency_key
from booking.models import AppointmentBookedDetail, BookingFailedDetail
from booking.oliver import CreateOutcomeUnknown, OliverClient, Unauthorized
from booking.open_times import SlotTimes
from booking.pet_lookup import find_client_and_pet, upstream_id
from booking.publisher import EventPublisher
from booking.reconcile import Party, as_created, find_created
from booking.submission import BookingResult, Submission
from booking.times import iso, parse_time

EVENT_NAMESPACE = uuid.UUID("5f0c3b7e-8d0a-4f6b-9a59-6a1f2d2b7c11")


class Guard(Protocol):
    """Runs a booking at most once per key (see ``booking.idempotency``)."""

    def run_once(
        self, key: str, fingerprint: str, book: Callable[[], dict[str, Any]]
    ) -> tuple[dict[str, Any], bool]: ...


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

    def _ask(self, sub: Submission) -> Callable[..., Any]:
        """``ask(operation, *args)``: an Oliver operation called for this submission."""
        return partial(self._oliver, sub)

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
                if not self.markers.mark(key, iso(window_start)):
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
        client, patient = find_client_and_pet(sub, self._ask(sub), self.oliver, self.phone_region)
        body: dict[str, Any] = {"slot_id": booking.slot_id}
        client_id, patient_id = upstream_id(client.get("id")), upstream_id(patient.get("id"))
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

    # -- settling an unknown outcome (see booking.reconcile) -------------------------------------

    def _find_created(
        self, sub: Submission, party: Party, since: datetime
    ) -> dict[str, Any] | None:
        return find_created(sub, party, since, self._ask(sub), self.oliver, self.slot_times)

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
            "submitted_at": iso(sub.submitted_at),
        }

    def _publish(self, detail_type: str, detail: dict[str, Any], budget: Budget) -> None:
        outcome = self.publisher.publish(detail_type, detail, budget)
        if outcome != "delivered":
            self.count("EventParked" if outcome == "parked" else "EventLost")
