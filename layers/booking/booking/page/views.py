"""What each request of the booking page shows. No HTTP types here: the entry point hands in the
query or the posted fields and a ``Request``, and gets back an ``Answer`` to send.

Open times and bookings go through the booking service (``search_open_times``,
``book_from_form`` with channel ``page``): the page adds the form token, the per-visitor
throttle's page counter, and the words and layout; it never books by itself.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from booking.errors import (
    BookingError,
    HeldForReview,
    NotMatched,
    SlotUnavailable,
    ValidationFailed,
)
from booking.page import render
from booking.page.calendar import invitation
from booking.page.colours import Palette
from booking.page.schedule import build_week, parse_day, search_from, window_start
from booking.page.signing import Signer
from booking.page.wording import (
    ALIASES,
    BY_NAME,
    SLOT_TAKEN,
    TYPE_NAMES,
    call_us,
    code_message,
    field_message,
)
from booking.telemetry import count, logger

if TYPE_CHECKING:
    from booking.config import Limit
    from booking.service import BookingService
    from booking.submission import Request

HTML = "text/html; charset=utf-8"
#: What the page posts to the service (the honeypot and CAPTCHA fields are added by name).
BOOKING_FIELDS = (
    "slot_id",
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
#: Typed values echoed back into the form, each cut to what its field can hold.
KEPT_FIELDS = {
    **{name: 100 for name in ("first_name", "last_name", "patient_name")},
    "email": 254,
    "phone": 40,
    "note": 2000,
    "slot_id": 255,
    **{name: 200 for name in render.UTM_FIELDS},
}


@dataclass
class Answer:
    status: int
    body: str
    content_type: str = HTML
    headers: dict[str, str] = field(default_factory=dict)


#: ``check(ip, route, limit)``: counts one request, raises ``VisitorRateLimited`` over the limit.
ThrottleCheck = Callable[[str | None, str, "Limit"], None]


@dataclass
class BookingPage:
    service: BookingService
    signer: Signer
    practice: render.Practice
    palette: Palette
    frame_ancestors: tuple[str, ...]
    throttle: ThrottleCheck
    page_limit: Limit
    booking_limit: Limit
    honeypot_field: str = "website"
    turnstile_site_key: str = ""
    now: Callable[[], datetime] = lambda: datetime.now(UTC)

    # -- GET /book -----------------------------------------------------------------------------

    def show(self, query: Mapping[str, str], request: Request) -> Answer:
        """The form, or only its day and time step (``part=picker``, for the script)."""
        appointment_type = _appointment_type(query.get("appointment_type"))
        view = render.FormView(
            values={name: value for name in render.UTM_FIELDS if (value := _utm(query, name))},
            appointment_type=appointment_type,
        )
        status = self._fill_week(view, parse_day(query.get("day")), request)
        if query.get("part") == "picker":
            return Answer(status, render.picker(self.practice, view))
        return self._form(view, status)

    # -- POST /book ----------------------------------------------------------------------------

    def post(self, fields: Mapping[str, Any], request: Request, origin_ok: bool = True) -> Answer:
        step = str(fields.get("step") or "book")
        view = render.FormView(
            values=_kept(fields), appointment_type=_appointment_type(fields.get("appointment_type"))
        )
        wanted = parse_day(fields.get("day"))
        if step == "type" or step.startswith("day:"):
            # Without JavaScript, a day or a visit is chosen by posting the form: everything
            # typed so far comes back as it was, nothing is booked.
            if step.startswith("day:"):
                wanted = parse_day(step[4:])
                view.values = {k: v for k, v in view.values.items() if k != "slot_id"}
            return self._form(view, self._fill_week(view, wanted, request))
        if not origin_ok:
            return self._refused(view, wanted, request, 403, "origin_not_allowed")
        if not self.signer.form_token_valid(fields.get("form_token")):
            count("PageFormTokenRefused")
            return self._refused(view, wanted, request, 400, "form_expired")
        try:
            self.throttle(request.visitor_ip, "bookings", self.booking_limit)
            result = self.service.book_from_form(
                self._service_fields(fields), True, request, channel="page"
            )
        except HeldForReview as held:
            return self._message(held.status, "We have your request", held.message, held)
        except BookingError as error:
            return self._problem(view, wanted, request, error)
        return self._confirmation(result.body)

    def _service_fields(self, fields: Mapping[str, Any]) -> dict[str, Any]:
        names = (*BOOKING_FIELDS, self.honeypot_field, render.CAPTCHA_FIELD)
        return {name: fields[name] for name in names if isinstance(fields.get(name), str)}

    def _problem(
        self, view: render.FormView, wanted: date | None, request: Request, error: BookingError
    ) -> Answer:
        headers = _retry_after(error)
        if isinstance(error, ValidationFailed):
            for problem in error.errors:
                name = ALIASES.get(problem.field, problem.field)
                if name == "slot_id" and view.appointment_type is None:
                    name = "appointment_type"
                if name in BY_NAME:
                    view.errors.setdefault(name, field_message(name, problem.message))
                else:
                    view.alert = code_message("validation_error", self.practice.phone)
        elif isinstance(error, NotMatched):
            # Once, at the name, contact and pet: the service's one fixed sentence.
            view.identity_notice = error.message
        elif isinstance(error, SlotUnavailable):
            view.errors["slot_id"] = SLOT_TAKEN
            view.values = {k: v for k, v in view.values.items() if k != "slot_id"}
        else:
            view.alert = code_message(error.code, self.practice.phone, error.retry_after)
        self._fill_week(view, wanted, request)
        answer = self._form(view, error.status)
        answer.headers.update(headers)
        return answer

    def _refused(
        self, view: render.FormView, wanted: date | None, request: Request, status: int, code: str
    ) -> Answer:
        view.alert = code_message(code, self.practice.phone)
        self._fill_week(view, wanted, request)
        return self._form(view, status)

    # -- GET /book/calendar --------------------------------------------------------------------

    def calendar(self, query: Mapping[str, str]) -> Answer:
        receipt = self.signer.calendar_receipt(query.get("a"))
        start = _moment(receipt.get("start")) if receipt else None
        if receipt is None or start is None:
            return self._message(404, "Nothing here", "This calendar link is not valid.")
        pet = str(receipt.get("pet") or "")
        name = self.practice.name or "the vet"
        status = str(receipt.get("status") or "REQUESTED")
        description = f"Appointment number {receipt.get('id')}."
        if status == "REQUESTED":
            description += " Requested: the practice will confirm it."
        description += call_us(self.practice.phone, " Phone:")
        body = invitation(
            uid=f"appointment-{receipt.get('id')}@booking-webhook",
            start=start,
            end=_moment(receipt.get("end")),
            summary=f"{pet} at {name}" if pet else f"Appointment at {name}",
            location=", ".join(p for p in (self.practice.name, self.practice.address) if p),
            description=description,
            tentative=status == "REQUESTED",
            now=self.now(),
        )
        filename = f"appointment-{quote(str(receipt.get('id')), safe='')}.ics"
        return Answer(
            200,
            body,
            "text/calendar; charset=utf-8",
            {"Content-Disposition": f'attachment; filename="{filename}"'},
        )

    # -- pieces --------------------------------------------------------------------------------

    def _fill_week(self, view: render.FormView, wanted: date | None, request: Request) -> int:
        """Put the week around ``wanted`` (and its open times) into ``view``; the status to
        answer with (200, or the error's when open times could not be had)."""
        if view.appointment_type is None:
            return 200
        zone = self.practice.zone
        today = self.now().astimezone(zone).date()
        start = window_start(today, wanted)
        try:
            self.throttle(request.visitor_ip, "page", self.page_limit)
            days = self.service.search_open_times(
                {"search_from_date": search_from(start), "appointment_type": view.appointment_type},
                request,
            )
        except BookingError as error:
            logger.info("open times not shown", extra={"code": error.code})
            view.picker_notice = code_message(
                "rate_limited" if error.code == "rate_limited" else "open_times_failed",
                self.practice.phone,
                error.retry_after,
            )
            return error.status
        view.week = build_week(days, zone, today, start, wanted)
        return 200

    def _form(self, view: render.FormView, status: int) -> Answer:
        view.token = self.signer.form_token()
        view.turnstile_site_key = self.turnstile_site_key
        page = render.form_page(self.practice, self.palette, view, self.frame_ancestors)
        return Answer(status, page.html, headers={"Content-Security-Policy": page.csp})

    def _message(
        self, status: int, title: str, message: str, error: BookingError | None = None
    ) -> Answer:
        page = render.message_page(
            self.practice, self.palette, self.frame_ancestors, title, message
        )
        headers = {"Content-Security-Policy": page.csp, **(_retry_after(error) if error else {})}
        return Answer(status, page.html, headers=headers)

    def _confirmation(self, body: Mapping[str, Any]) -> Answer:
        data = body.get("data") or {}
        receipt = {
            "id": data.get("id"),
            "status": str(data.get("status") or "REQUESTED"),
            "start": data.get("start"),
            "end": data.get("end"),
            "pet": data.get("patient_name") or "",
        }
        confirmation = render.Confirmation(
            appointment_id=str(receipt["id"]),
            status=str(receipt["status"]),
            start=_moment(receipt["start"]),
            end=_moment(receipt["end"]),
            pet=str(receipt["pet"]),
            message=str(body.get("message") or ""),
        )
        href = f"{render.CALENDAR_PATH}?a={self.signer.calendar_link(receipt)}"
        page = render.confirmation_page(
            self.practice, self.palette, confirmation, href, self.frame_ancestors
        )
        return Answer(200, page.html, headers={"Content-Security-Policy": page.csp})


def page_service(shared: BookingService, turnstile: bool) -> BookingService:
    """The booking service as the page uses it: the same one, except that without Turnstile on
    the page there is no CAPTCHA to check (the practice may still require one of its own forms).
    """
    if turnstile or shared.captcha is None:
        return shared
    service = copy.copy(shared)
    service.captcha = None
    return service


def _appointment_type(value: object) -> str | None:
    return value if isinstance(value, str) and value in TYPE_NAMES else None


def _utm(source: Mapping[str, Any], name: str) -> str:
    value = source.get(name)
    if not isinstance(value, str):
        return ""
    return "".join(c for c in value if c.isprintable())[:200]


def _kept(fields: Mapping[str, Any]) -> dict[str, str]:
    kept = {}
    for name, limit in KEPT_FIELDS.items():
        value = fields.get(name)
        if isinstance(value, str) and value:
            kept[name] = _utm(fields, name) if name in render.UTM_FIELDS else value[:limit]
    return kept


def _moment(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def _retry_after(error: BookingError | None) -> dict[str, str]:
    from booking.http import retry_after_header

    return retry_after_header(error) if error is not None else {}
