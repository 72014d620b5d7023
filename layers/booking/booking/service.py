"""The booking logic: no HTTP and no AWS here, only models, errors and the adapters' methods.

``BookingService.submit`` books a validated request exactly once per idempotency key: match the
visitor and pet when no ids were given (``booking.matching``), create the appointment in Oliver
(settling unknown outcomes with a lookup, never a blind retry: ``booking.reconcile``), announce
it on EventBridge, and emit ``Booking Failed`` for every failure staff should follow up.

Public callers (forms) are anonymous: they are throttled per contact (``booking.throttle``),
every kind of miss is one ``not_matched`` answer, and every answer is a receipt that carries
nothing the visitor did not type in, whichever channel booked.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Literal, Protocol
from zoneinfo import ZoneInfo

from pydantic import BaseModel

from booking import intake
from booking.budget import Budget
from booking.captcha import CaptchaVerifier
from booking.config import Limit
from booking.credentials import CredentialProvider
from booking.errors import (
    AmbiguousMatch,
    BookingError,
    BookingRejected,
    CheckAgainLater,
    ClientNotFound,
    ConfigurationError,
    CreateOutcomeUnknown,
    HeldForReview,
    NotMatched,
    OutcomeUnknown,
    PatientNotFound,
    SlotUnavailable,
    UpstreamError,
)
from booking.idempotency import fingerprint, idempotency_key
from booking.matching import find_client_and_pet
from booking.models import AppointmentBookedDetail, BookingFailedDetail, BookingRequest
from booking.oliver import OliverClient, OliverGateway
from booking.open_times import OpenTimes
from booking.publisher import EventPublisher
from booking.reconcile import Party, as_created, find_created
from booking.settle import PendingOutcome, SettleQueue
from booking.store import Marker, UnknownOutcomeMarkers
from booking.submission import BookingResult, Channel, Request, Submission
from booking.telemetry import logger
from booking.text import iso, parse_time
from booking.throttle import VisitorThrottle

EVENT_NAMESPACE = uuid.UUID("5f0c3b7e-8d0a-4f6b-9a59-6a1f2d2b7c11")
MISSES = (ClientNotFound, PatientNotFound, AmbiguousMatch)


class Guard(Protocol):
    """Runs a booking at most once per key (see ``booking.idempotency``)."""

    def run_once(
        self, key: str, fingerprint: str, book: Callable[[Marker | None], dict[str, Any]]
    ) -> tuple[dict[str, Any], bool]: ...


@dataclass(frozen=True)
class Practice:
    """What the service says about the practice, and the limits it keeps for visitors."""

    zone: ZoneInfo
    phone: str
    phone_region: str
    misses_per_contact: Limit
    honeypot_field: str = "website"


class BookingService:
    def __init__(
        self,
        oliver: OliverClient,
        credentials: CredentialProvider,
        publisher: EventPublisher,
        guard: Guard,
        markers: UnknownOutcomeMarkers,
        open_times: OpenTimes,
        throttle: VisitorThrottle,
        practice: Practice,
        captcha: CaptchaVerifier | None = None,
        count: Callable[[str], None] = lambda _name: None,
        settle_queue: SettleQueue | None = None,
    ) -> None:
        self.oliver = oliver
        self.credentials = credentials
        self.publisher = publisher
        self.guard = guard
        self.markers = markers
        self.open_times = open_times
        self.throttle = throttle
        self.practice = practice
        self.captcha = captcha
        self.count = count
        #: Where unknown outcomes are checked again later (None: staff are asked at once).
        self.settle_queue = settle_queue

    def gateway(self, request_id: str, budget: Budget) -> OliverGateway:
        return OliverGateway(self.oliver, self.credentials, request_id, budget)

    # -- entry points ----------------------------------------------------------------------------

    def search_open_times(
        self, params: Mapping[str, str], request: Request
    ) -> list[dict[str, Any]]:
        query = intake.read_open_times_query(params)
        requested = parse_time(query.search_from_date, self.practice.zone)
        assert requested is not None  # validated by the model
        oliver = self.gateway(request.request_id, request.budget)
        days = self.open_times.search(query.appointment_type, requested, oliver)
        return days[: query.days] if query.days else days

    def book_from_form(
        self,
        fields: dict[str, Any],
        from_form: bool,
        request: Request,
        channel: Literal["form", "page"] = "form",
    ) -> BookingResult:
        """A public visitor's submission (a site's form, or the hosted booking page): spam
        checks, validation, then the booking."""
        spam = intake.take_spam_fields(fields, self.practice.honeypot_field)
        if spam.honeypot_filled:
            # Before validation, and answered like any booking: a bot learns nothing.
            self.count("SpamBlocked")
            logger.info("honeypot filled: answered as booked, nothing booked")
            return self.decoy(fields)
        booking = intake.read_booking(fields, from_form, public=True)
        if self.captcha is not None:
            self.captcha.verify(spam.captcha_token, request.visitor_ip, request.budget)
        return self.submit(_submission(booking, Channel(name=channel), request))

    def book_from_partner(
        self, fields: dict[str, Any], from_form: bool, source: str, request: Request
    ) -> BookingResult:
        """A signed partner's submission (its signature is checked by the caller)."""
        booking = intake.read_booking(fields, from_form, public=False)
        channel = Channel(name="webhook", webhook_source=source)
        return self.submit(_submission(booking, channel, request))

    def submit(self, sub: Submission) -> BookingResult:
        sub = self._in_practice_time(sub)
        key = idempotency_key(sub.channel, sub.explicit_key, sub.booking)
        if sub.channel.public and self.throttle.is_held(
            sub.booking, self.practice.misses_per_contact
        ):
            self._hold(sub, key)
        try:
            response, replayed = self.guard.run_once(
                key, fingerprint(sub.booking), lambda marker: self._book(sub, key, marker)
            )
        except BookingError as exc:
            self.count(f"Booking_{exc.code}")
            if isinstance(exc, NotMatched):
                self.throttle.record_miss(sub.booking, self.practice.misses_per_contact)
            if exc.follow_up:
                self._publish_failed(sub, key, exc)
            raise
        self.count("BookingReplayed" if replayed else "BookingCreated")
        return BookingResult(response["status"], response["body"], replayed)

    def decoy(self, booking_fields: dict[str, Any]) -> BookingResult:
        """What a bot that filled the honeypot is told: a receipt like any other, for nothing."""
        slot_id = str(booking_fields.get("slot_id") or "")
        start = self.open_times.slots.start_of(slot_id)
        end = self.open_times.slots.end_of(slot_id)
        if start is None:
            tomorrow = datetime.now(self.practice.zone) + timedelta(days=1)
            start = tomorrow.replace(hour=9, minute=0, second=0, microsecond=0)
        pet = booking_fields.get("patient_name")
        appointment = {
            "id": random.randint(100_000, 999_999),  # noqa: S311 - a decoy, not a secret
            "status": "REQUESTED",
            "booking_date": start.isoformat(),
            "end_date": (end or start + timedelta(minutes=20)).isoformat(),
            "patient_name": pet.strip()[:100] if isinstance(pet, str) else "",
        }
        return BookingResult(201, self._receipt(appointment), False)

    # -- one booking -----------------------------------------------------------------------------

    def _hold(self, sub: Submission, key: str) -> None:
        """Over its miss limit: nothing is looked up; staff call the visitor back, once a day."""
        error = HeldForReview()
        self.count("BookingHeldForReview")
        if self.throttle.first_today("held", sub.booking):
            name = f"held:{self.throttle.contact_day(sub.booking) or key}"
            self._publish_failed(sub, key, error, event_name=name)
        raise error

    def _in_practice_time(self, sub: Submission) -> Submission:
        """A requested time without an offset is the practice's; kept as UTC from here on."""
        moment = parse_time(sub.booking.start, self.practice.zone)
        if moment is None:
            return sub
        return replace(sub, booking=sub.booking.model_copy(update={"start": iso(moment)}))

    def _with_slot(self, sub: Submission, oliver: OliverGateway) -> Submission:
        """Booking by requested time: the open slot of that type starting exactly then."""
        booking = sub.booking
        start = parse_time(booking.start)
        if booking.slot_id is not None or start is None or booking.appointment_type is None:
            return sub
        slot = self.open_times.slot_at(booking.appointment_type, start, booking.provider_id, oliver)
        return replace(sub, booking=booking.model_copy(update={"slot_id": str(slot["uuid"])}))

    def _book(self, sub: Submission, key: str, marker: Marker | None) -> dict[str, Any]:
        """One attempt, holding the key's record; ``marker``: an earlier attempt's create lost
        its answer (it came back with the record's claim)."""
        oliver = self.gateway(sub.request_id, sub.budget)
        sub = self._with_slot(sub, oliver)
        try:
            body = self._upstream_body(sub, oliver)
        except MISSES as miss:
            if not sub.channel.public:
                raise
            raise NotMatched(self.practice.phone, cause=miss.code) from None
        party = _party(sub.booking)
        if marker is not None and marker.receipt is not None:
            # Found by the background check after an unknown outcome, and announced there.
            return {"status": 201, "body": marker.receipt}
        since = parse_time(marker.since) if marker is not None and not marker.failed else None
        if since is not None:
            found = find_created(sub.booking, party, since, oliver, self.open_times.slots)
            if found is not None:
                return self._booked(sub, key, found, settles=True)
        try:
            envelope = oliver.create_appointment(body)
        except CreateOutcomeUnknown:
            self.count("CreateOutcomeUnknown")
            window_start = since or sub.submitted_at
            found = find_created(sub.booking, party, window_start, oliver, self.open_times.slots)
            if found is not None:
                return self._booked(sub, key, found, settles=since is not None)
            if since is not None:
                raise OutcomeUnknown(retry_after=60, settling=True) from None  # checked already
            raise OutcomeUnknown(retry_after=60, settling=self._check_later(sub, key)) from None
        except (SlotUnavailable, BookingRejected) as refused:
            if since is not None:
                # An earlier attempt's create may have taken this very slot and the list not
                # show it yet: the visitor may hold the appointment, so the outcome stays unknown
                # (and the background check of that attempt will settle it).
                raise OutcomeUnknown(retry_after=60, settling=True) from None
            raise self._refusal(sub.booking.slot_id or "", refused, oliver) from None
        return self._booked(sub, key, envelope["data"], settles=since is not None)

    def _check_later(self, sub: Submission, key: str) -> bool:
        """Mark the booking and queue its background check; whether that check will settle it."""
        if not self.markers.mark(key, iso(sub.submitted_at)):
            self.count("UnknownOutcomeMarkerFailed")
            return False
        if self.settle_queue is None:
            return False
        pending = PendingOutcome(
            key=key,
            booking=sub.booking.model_dump(mode="json", exclude_none=True),
            channel=sub.channel.name,
            webhook_source=sub.channel.webhook_source,
            request_id=sub.request_id,
            submitted_at=iso(sub.submitted_at),
        )
        if not self.settle_queue.schedule(pending):
            self.count("SettleNotQueued")
            return False
        return True

    # -- the background check of an unknown outcome (functions/settle) ----------------------------

    def settle(self, pending: PendingOutcome, request_id: str, budget: Budget) -> str:
        """One check of an unknown outcome: "booked" or "failed" when this check announced how
        it ended, "later" when the next check is queued, "settled" when someone else ended it
        (the visitor's retry). Raises when it cannot tell, so that the message comes back."""
        marker = self.markers.read(pending.key)
        if marker is None or marker.receipt is not None or marker.failed:
            return "settled"
        since = parse_time(marker.since)
        assert since is not None  # written by mark()
        booking = BookingRequest.model_validate(pending.booking)
        sub = Submission(
            booking=booking,
            channel=Channel(name=pending.channel, webhook_source=pending.webhook_source),  # type: ignore[arg-type]
            explicit_key=None,
            request_id=pending.request_id,
            submitted_at=parse_time(pending.submitted_at) or since,
            budget=budget,
        )
        oliver = self.gateway(request_id, budget)
        found = find_created(booking, _party(booking), since, oliver, self.open_times.slots)
        if found is not None:
            appointment = as_created(found)
            claimed = self.markers.settle(pending.key, self._receipt(appointment))
            if claimed is None:
                raise CheckAgainLater()
            if not claimed:
                return "settled"
            self.open_times.slot_taken(booking.slot_id)
            self._publish_booked(sub, pending.key, appointment)
            self.count("OutcomeSettledBooked")
            return "booked"
        assert self.settle_queue is not None  # a check is only queued where there is a queue
        if self.settle_queue.has_check_after(pending):
            if not self.settle_queue.schedule(pending.next_check()):
                raise CheckAgainLater()
            return "later"
        claimed = self.markers.settle(pending.key, None)
        if claimed is None:
            raise CheckAgainLater()
        if not claimed:
            return "settled"
        self._publish_failed(sub, pending.key, OutcomeUnknown())
        self.count("OutcomeSettledFailed")
        return "failed"

    def _refusal(self, slot_id: str, refused: BookingError, oliver: OliverGateway) -> BookingError:
        """Oliver refused the create: a taken slot whatever status it used (a 409 always is;
        after a 400 or 422, one fresh open-times read decides), else a rejected booking."""
        try:
            still_open, alternatives = self.open_times.still_open(slot_id, oliver)
        except ConfigurationError:
            raise  # the create's refusal was Oliver not knowing our practice
        except Exception:
            # Undecided (Oliver unreachable, or worse): the refusal stands as Oliver gave it.
            logger.info("could not read open times after a refused create", exc_info=True)
            if isinstance(refused, SlotUnavailable):
                self.open_times.slot_taken(slot_id)
            return refused
        if still_open and not isinstance(refused, SlotUnavailable):
            return refused
        self.open_times.slot_taken(slot_id)
        return SlotUnavailable(alternatives=alternatives)

    def _upstream_body(self, sub: Submission, oliver: OliverGateway) -> dict[str, Any]:
        if not sub.booking.needs_lookup():
            return sub.booking.upstream_body()
        match = find_client_and_pet(sub.booking, oliver, self.practice.phone_region)
        identity = match.identity()
        if identity is None:
            raise UpstreamError()
        return sub.booking.upstream_body(identity)

    def _booked(
        self, sub: Submission, key: str, appointment: dict[str, Any], settles: bool = False
    ) -> dict[str, Any]:
        """The visitor's 201. ``settles``: the booking had an unknown outcome, and whoever settles
        it first (this request or the background check) announces it."""
        appointment = as_created(appointment)
        receipt = self._receipt(appointment)
        # Other containers learn of it from the stamp the record's completion carries.
        self.open_times.slot_taken(sub.booking.slot_id, recorded=True)
        if not settles or self.markers.settle(key, receipt) is not False:
            self._publish_booked(sub, key, appointment)
        return {"status": 201, "body": receipt}

    def _receipt(self, appointment: dict[str, Any]) -> dict[str, Any]:
        """The answer to a booking: what the visitor needs to know, nothing about the client."""
        status = str(appointment.get("status") or "REQUESTED").upper()
        data = {
            "id": appointment.get("id"),
            "status": status,
            "start": self._local(appointment.get("booking_date")),
            "end": self._local(appointment.get("end_date")),
            "patient_name": appointment.get("patient_name"),
        }
        message = (
            "The practice has your request and will confirm the appointment."
            if status == "REQUESTED"
            else "Your appointment is booked."
        )
        return {"success": True, "data": data, "message": message}

    def _local(self, value: object) -> str | None:
        moment = parse_time(value)
        return moment.astimezone(self.practice.zone).isoformat() if moment else None

    # -- events ----------------------------------------------------------------------------------

    def _publish_booked(self, sub: Submission, key: str, appointment: dict[str, Any]) -> None:
        name = f"booked:{self.oliver.api_url}:{appointment.get('id')}"
        # Built, not validated: the appointment goes out exactly as Oliver returned it (the
        # model is the published schema; an unexpected upstream value must not lose the event).
        detail = AppointmentBookedDetail.model_construct(
            **self._detail(sub, key, name),
            appointment=appointment,
            referral_source=sub.booking.utm_source,
            referral_medium=sub.booking.utm_medium,
            referral_campaign=sub.booking.utm_campaign,
        )
        self._publish("Appointment Booked", _dump(detail), sub.budget)

    def _publish_failed(
        self, sub: Submission, key: str, error: BookingError, event_name: str | None = None
    ) -> None:
        if event_name is None and isinstance(error, NotMatched):
            # A hundred guesses at one contact are one follow-up.
            contact_day = self.throttle.contact_day(sub.booking)
            event_name = f"not_matched:{contact_day}" if contact_day else None
        detail = BookingFailedDetail.model_construct(
            **self._detail(sub, key, event_name or f"failed:{key}:{error.code}"),
            reason=error.code,
            booking=_failed_booking(sub.booking, self.open_times.slots.start_of),
        )
        self._publish("Booking Failed", _dump(detail), sub.budget)

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


def _submission(booking: BookingRequest, channel: Channel, request: Request) -> Submission:
    return Submission(
        booking=booking,
        channel=channel,
        explicit_key=request.explicit_key,
        request_id=request.request_id,
        submitted_at=request.submitted_at,
        budget=request.budget,
    )


def _dump(detail: BaseModel) -> dict[str, Any]:
    return detail.model_dump(mode="json", warnings=False)


def _party(booking: BookingRequest) -> Party:
    first, last = booking.split_name()
    return Party(
        first_name=first or None,
        last_name=last or None,
        email=booking.email,
        phone=booking.phone,
        client_remote_id=booking.client_remote_id,
        patient_name=booking.patient_name,
        patient_remote_id=booking.patient_remote_id,
    )


def _failed_booking(
    booking: BookingRequest, start_of: Callable[[str | None], datetime | None]
) -> dict[str, Any]:
    """The validated request for staff, with the slot's start whenever it is known."""
    dumped = booking.model_dump(mode="json", exclude_none=True)
    start = start_of(booking.slot_id)
    if start is not None and "start" not in dumped:
        dumped["start"] = iso(start)
    return dumped
