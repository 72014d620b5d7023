"""The booking page's HTML: the form (visit, week of days, one day's times, who you are), the
picker alone (what the script swaps in without a reload), the confirmation and plain messages.

Everything that comes from a visitor, a query or upstream is escaped here. The CSS and the
script are inline, allowed by their hashes in the Content-Security-Policy, so the page loads
nothing from elsewhere (Turnstile's script, when the practice turns it on, is the exception).
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cache
from html import escape
from pathlib import Path
from string import Template
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from booking.page.colours import Palette
from booking.page.schedule import Day, Week, clock, long_day, long_day_with_year, zone_name
from booking.page.wording import APPOINTMENT_TYPES, BY_NAME, FIELDS

TEMPLATES = Path(__file__).resolve().parent / "templates"
TURNSTILE_ORIGIN = "https://challenges.cloudflare.com"
TURNSTILE_SCRIPT = f"{TURNSTILE_ORIGIN}/turnstile/v0/api.js"
UTM_FIELDS = ("utm_source", "utm_medium", "utm_campaign")
CAPTCHA_FIELD = "cf-turnstile-response"
#: The page's URLs (relative: the page works wherever API Gateway or CloudFront serves it).
PAGE_PATH = "/book"
CALENDAR_PATH = "/book/calendar"
CONTACT = "contact-hint"


@cache
def _read(name: str) -> str:
    return (TEMPLATES / name).read_text(encoding="utf-8")


def _hash(text: str) -> str:
    return "sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()


@cache
def _style(palette: Palette) -> str:
    return palette.css_variables() + "\n" + _read("page.css")


def _a(value: object) -> str:
    """Escaped for text and for attribute values (quotes included)."""
    return escape(str(value), quote=True)


@dataclass(frozen=True)
class Practice:
    name: str
    phone: str
    address: str
    logo_url: str
    zone: ZoneInfo

    @property
    def zone_name(self) -> str:
        return zone_name(self.zone)

    @property
    def display_name(self) -> str:
        return self.name or "The practice"


@dataclass
class FormView:
    """What the form shows: the visitor's values, the chosen visit and week, and any problems."""

    values: Mapping[str, str] = field(default_factory=dict)
    appointment_type: str | None = None
    week: Week | None = None
    #: Said in the picker instead of days (open times could not be loaded, ...).
    picker_notice: str = ""
    #: Field name -> what is wrong with it (beside the field and in the summary).
    errors: dict[str, str] = field(default_factory=dict)
    #: About the whole form (shown at the top, focused).
    alert: str = ""
    #: A ``not_matched`` answer: shown once, at the name, contact and pet fields.
    identity_notice: str = ""
    token: str = ""
    turnstile_site_key: str = ""


@dataclass(frozen=True)
class Page:
    html: str
    csp: str


def content_security_policy(
    style: str, frame_ancestors: tuple[str, ...], logo_url: str, turnstile: bool
) -> str:
    """Only our inline CSS and script (by hash), our own origin, the logo's origin, and
    Turnstile's when it is on; framed only by ourselves and ``frame_ancestors``."""
    scripts = [f"'{_hash(_read('page.js'))}'"]
    images = ["'self'", "data:"]
    if logo_url:
        parts = urlsplit(logo_url)
        images.append(f"{parts.scheme}://{parts.netloc}")
    directives = [
        "default-src 'none'",
        "script-src " + " ".join([*scripts, *([TURNSTILE_ORIGIN] if turnstile else [])]),
        f"style-src '{_hash(style)}'",
        "img-src " + " ".join(images),
        "connect-src 'self'",
        "form-action 'self'",
        "base-uri 'none'",
        "frame-ancestors " + " ".join(["'self'", *frame_ancestors]),
    ]
    if turnstile:
        directives.append(f"frame-src {TURNSTILE_ORIGIN}")
    return "; ".join(directives)


def _tel(phone: str) -> str:
    digits = "".join(c for c in phone if c.isdigit() or c == "+")
    return f'<a href="tel:{_a(digits)}">{_a(phone)}</a>'


def _shell(
    practice: Practice,
    palette: Palette,
    frame_ancestors: tuple[str, ...],
    title: str,
    content: str,
    turnstile_site_key: str = "",
) -> Page:
    style = _style(palette)
    logo = (
        f'<img class="logo" src="{_a(practice.logo_url)}" alt="" width="40" height="40">'
        if practice.logo_url
        else ""
    )
    header_phone = (
        f'<p class="practice-phone">Questions? Call {_tel(practice.phone)}</p>'
        if practice.phone
        else ""
    )
    footer = [f"<p><strong>{_a(practice.display_name)}</strong>"]
    if practice.address:
        footer.append(f"<br>{_a(practice.address)}")
    if practice.phone:
        footer.append(f"<br>Phone {_tel(practice.phone)}")
    footer.append("</p>")
    head_extra = (
        f'<script src="{TURNSTILE_SCRIPT}" async defer></script>' if turnstile_site_key else ""
    )
    page = Template(_read("page.html")).substitute(
        title=_a(f"{title} \u2013 {practice.name}" if practice.name else title),
        style=style,
        head_extra=head_extra,
        logo=logo,
        practice_name=_a(practice.display_name),
        header_phone=header_phone,
        content=content,
        footer="".join(footer),
        script=_read("page.js"),
    )
    csp = content_security_policy(
        style, frame_ancestors, practice.logo_url, bool(turnstile_site_key)
    )
    return Page(page, csp)


# -- the form ----------------------------------------------------------------------------------


def form_page(
    practice: Practice, palette: Palette, view: FormView, frame_ancestors: tuple[str, ...]
) -> Page:
    has_problem = bool(view.errors or view.alert or view.identity_notice)
    title = ("Error: " if has_problem else "") + "Book an appointment"
    return _shell(
        practice,
        palette,
        frame_ancestors,
        title,
        _form(practice, view),
        view.turnstile_site_key,
    )


def _form(practice: Practice, view: FormView) -> str:
    parts = [
        "<h1>Book an appointment</h1>",
        '<p class="lead">Choose a kind of visit, a day and a time, then tell us who you and your '
        "pet are.</p>",
    ]
    if view.alert:
        parts.append(
            f'<div class="alert" id="form-alert" tabindex="-1" autofocus><p>{_a(view.alert)}</p>'
            "</div>"
        )
    summary = [(name, message) for name, message in _ordered(view.errors)]
    if summary:
        items = "".join(
            f'<li><a href="#{_a(_anchor(name, view))}">{_a(message)}</a></li>'
            for name, message in summary
        )
        focus = "" if view.alert else " autofocus"
        parts.append(
            f'<div class="error-summary" id="error-summary" tabindex="-1"{focus} '
            'aria-labelledby="error-summary-title"><h2 id="error-summary-title">There is a '
            f'problem</h2><ul class="error-list">{items}</ul></div>'
        )
    turnstile = bool(view.turnstile_site_key)
    if turnstile:
        parts.append(
            '<noscript><p class="notice">To book online, this page needs JavaScript. '
            f"{_a(_please_call(practice.phone))}</p></noscript>"
        )
    form_class = "booking needs-js" if turnstile else "booking"
    parts.append(
        f'<form class="{form_class}" id="booking-form" method="post" action="{PAGE_PATH}" '
        f'novalidate data-picker="{PAGE_PATH}">'
        # Enter in a text field "clicks" a form's first submit button: let that be Book, not a
        # day or a week button. Out of sight and out of the tab order; the real one is below.
        '<button class="default-submit" type="submit" name="step" value="book" tabindex="-1" '
        'aria-hidden="true">Book appointment</button>'
        f'<input type="hidden" name="form_token" value="{_a(view.token)}">'
    )
    for name in UTM_FIELDS:
        value = view.values.get(name, "")
        if value:
            parts.append(f'<input type="hidden" name="{name}" value="{_a(value)}">')
    parts.append(_visit_types(view))
    parts.append('<p class="vh" role="status" id="picker-status"></p>')
    parts.append(f'<div id="picker">{picker(practice, view)}</div>')
    parts.append(_about_you(view))
    parts.append(
        '<div class="form-extra"><label for="website">Leave this empty</label>'
        '<input type="text" id="website" name="website" tabindex="-1" autocomplete="off" '
        'value=""></div>'
    )
    if turnstile:
        parts.append(
            f'<div class="cf-turnstile" data-sitekey="{_a(view.turnstile_site_key)}"></div>'
        )
    parts.append(
        '<button class="primary" id="book-button" type="submit" name="step" value="book">'
        "Book appointment</button></form>"
    )
    return "".join(parts)


def _ordered(errors: Mapping[str, str]) -> list[tuple[str, str]]:
    order = [f.name for f in FIELDS]
    known = [(name, errors[name]) for name in order if name in errors]
    return known + [(name, message) for name, message in errors.items() if name not in order]


def _anchor(name: str, view: FormView) -> str:
    if name == "slot_id":
        return "slot_id" if view.week and view.week.chosen else "step-time"
    if name == "appointment_type":
        return "appointment_type"
    return name if name in BY_NAME else "booking-form"


def _error(name: str, view: FormView) -> str:
    message = view.errors.get(name)
    if not message:
        return ""
    return (
        f'<p class="field-error" id="{name}-error"><span class="vh">Error: </span>{_a(message)}</p>'
    )


def _visit_types(view: FormView) -> str:
    invalid = "appointment_type" in view.errors
    choices = []
    for index, (value, label) in enumerate(APPOINTMENT_TYPES):
        checked = " checked" if view.appointment_type == value else ""
        ident = ' id="appointment_type"' if index == 0 else ""
        choices.append(
            f'<label class="choice"><input type="radio" name="appointment_type" '
            f'value="{value}"{ident}{checked}><span>{_a(label)}</span></label>'
        )
    described = ' aria-describedby="appointment_type-error"' if invalid else ""
    return (
        f'<fieldset class="step" id="step-type"{described}><legend><h2>1. Kind of visit</h2>'
        f'</legend>{_error("appointment_type", view)}<div class="choices">{"".join(choices)}</div>'
        '<button class="secondary no-js" type="submit" name="step" value="type">Show open days'
        "</button></fieldset>"
    )


def picker(practice: Practice, view: FormView) -> str:
    """The day and time step: the week of days, then the chosen day's times."""
    parts = [
        '<fieldset class="step" id="step-time"><legend><h2>2. Day and time</h2></legend>',
        f'<p class="zone">Times are in {_a(practice.zone_name)}.</p>',
    ]
    week = view.week
    if view.picker_notice:
        parts.append(f'<p class="notice">{_a(view.picker_notice)}</p>')
    if view.appointment_type is None:
        parts.append('<p class="muted">Choose a kind of visit to see the open days.</p>')
    elif week is not None:
        parts.append(_week(practice, week, view))
    parts.append(_error("slot_id", view))
    parts.append("</fieldset>")
    return "".join(parts)


def _week(practice: Practice, week: Week, view: FormView) -> str:
    first, last = week.days[0].date, week.days[-1].date
    parts = []
    if week.chosen is not None:
        parts.append(f'<input type="hidden" name="day" value="{week.chosen.iso}">')
    nav = []
    if week.previous is not None:
        earlier = week.previous.isoformat()
        nav.append(
            f'<button class="nav" type="submit" name="step" value="day:{earlier}">'
            '<span aria-hidden="true">&lsaquo; </span>Earlier<span class="vh"> days</span></button>'
        )
    if week.next is not None:
        nav.append(
            f'<button class="nav" type="submit" name="step" value="day:{week.next.isoformat()}">'
            'Later<span class="vh"> days</span><span aria-hidden="true"> &rsaquo;</span></button>'
        )
    parts.append(
        f'<div class="week-head"><p class="week-range" id="week-range">{_short(first)} &ndash; '
        f'{_short(last)}</p><div class="week-nav">{"".join(nav)}</div></div>'
    )
    days = "".join(_day(day, week) for day in week.days)
    parts.append(f'<ul class="days" aria-labelledby="week-range">{days}</ul>')
    if week.unavailable is not None:
        parts.append(f'<p class="muted">No open times on {_a(long_day(week.unavailable))}.</p>')
    if week.chosen is None:
        parts.append(f'<p class="notice">No open times these 7 days.{_later(week)}</p>')
        return "".join(parts)
    parts.append(_times(week.chosen, view))
    return "".join(parts)


def _later(week: Week) -> str:
    return " Try later days." if week.next is not None else ""


def _short(day: date) -> str:
    return f"{day:%a}, {day:%b} {day.day}"


def _day(day: Day, week: Week) -> str:
    # Seen: "Mon 7"; heard: "Monday, January 7" (the weekday's abbreviation is its start).
    full = f"{day.date:%A}"
    name = (
        f'<span class="dow">{full[:3]}<span class="vh">{full[3:]}, {day.date:%B} </span></span>'
        f'<span class="dnum">{day.date.day}</span>'
    )
    if not day.open:
        state = "none" if day.date == week.today else "closed"
        return (
            f'<li><span class="day closed">{name}<span class="vh">, </span>'
            f'<span class="dstate">{state}</span></span></li>'
        )
    chosen = week.chosen is not None and day.date == week.chosen.date
    count = len(day.slots)
    times = (
        f'<span class="vh">, </span><span class="dstate">{count}<span class="vh"> open '
        f"time{'s' if count != 1 else ''}</span></span>"
    )
    return (
        f'<li><button class="day" type="submit" name="step" value="day:{day.iso}" '
        f'aria-pressed="{"true" if chosen else "false"}">{name}{times}</button></li>'
    )


def _times(day: Day, view: FormView) -> str:
    chosen = view.values.get("slot_id", "")
    invalid = "slot_id" in view.errors
    labels = []
    for index, slot in enumerate(day.slots):
        ident = "slot_id" if index == 0 else f"slot-{index}"
        checked = " checked" if slot.slot_id == chosen else ""
        labels.append(
            f'<label class="slot"><input type="radio" name="slot_id" id="{ident}" '
            f'value="{_a(slot.slot_id)}"{checked}><span>{_a(slot.label)}</span></label>'
        )
    described = ' aria-describedby="slot_id-error"' if invalid else ""
    return (
        f'<fieldset class="times"{described}><legend>Times on {_a(long_day(day.date))}</legend>'
        f'<div class="slots">{"".join(labels)}</div></fieldset>'
    )


def _input(
    name: str,
    view: FormView,
    *,
    kind: str = "text",
    autocomplete: str,
    maxlength: int,
    required: bool = False,
    hint: str = "",
) -> str:
    spec = BY_NAME[name]
    error = _error(name, view)
    described = " ".join(part for part in (hint, f"{name}-error" if error else "") if part)
    attributes = [
        f'type="{kind}"',
        f'id="{name}"',
        f'name="{name}"',
        f'value="{_a(view.values.get(name, ""))}"',
        f'autocomplete="{autocomplete}"',
        f'maxlength="{maxlength}"',
        f'data-missing="{_a(spec.missing)}"' if spec.missing else "",
        f'data-invalid="{_a(spec.invalid)}"',
        "required" if required else "",
        'spellcheck="false"' if kind in ("email", "tel") else "",
        f'aria-describedby="{described}"' if described else "",
        'aria-invalid="true"' if error else "",
    ]
    return (
        f'<div class="field" id="field-{name}"><label for="{name}">{_a(spec.label)}</label>'
        f"{error}<input {' '.join(a for a in attributes if a)}></div>"
    )


def _about_you(view: FormView) -> str:
    notice = ""
    if view.identity_notice:
        notice = (
            '<div class="notice identity" id="identity-notice" tabindex="-1"'
            f"{'' if view.alert or view.errors else ' autofocus'}><p>{_a(view.identity_notice)}"
            "</p></div>"
        )
    note_error = _error("note", view)
    note_described = ' aria-describedby="note-error"' if note_error else ""
    note_invalid = ' aria-invalid="true"' if note_error else ""
    return (
        '<fieldset class="step" id="step-you"><legend><h2>3. You and your pet</h2></legend>'
        '<p class="hint">As the practice knows you: your name, the email or phone number it has '
        "for you, and your pet's name.</p>"
        + notice
        + '<div class="row">'
        + _input("first_name", view, autocomplete="given-name", maxlength=100, required=True)
        + _input("last_name", view, autocomplete="family-name", maxlength=100, required=True)
        + "</div>"
        + '<p class="hint" id="contact-hint">Give your email, your phone, or both.</p>'
        + '<div class="row contact">'
        + _input("email", view, kind="email", autocomplete="email", maxlength=254, hint=CONTACT)
        + _input("phone", view, kind="tel", autocomplete="tel", maxlength=40, hint=CONTACT)
        + "</div>"
        + _input("patient_name", view, autocomplete="off", maxlength=100, required=True)
        + '<div class="field" id="field-note"><label for="note">Anything the practice should '
        'know? <span class="muted">(optional)</span></label>'
        + note_error
        + '<textarea id="note" name="note" rows="2" maxlength="2000"'
        + f'{note_described}{note_invalid} data-invalid="{_a(BY_NAME["note"].invalid)}">'
        + f"{_a(view.values.get('note', ''))}</textarea>"
        "</div></fieldset>"
    )


def _please_call(phone: str) -> str:
    if not phone:
        return "Please call the practice to book."
    return f"Please call the practice at {phone} to book."


# -- answers -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Confirmation:
    appointment_id: str
    status: str
    start: datetime | None
    end: datetime | None
    pet: str
    message: str


def confirmation_page(
    practice: Practice,
    palette: Palette,
    confirmation: Confirmation,
    calendar_href: str,
    frame_ancestors: tuple[str, ...],
) -> Page:
    requested = confirmation.status == "REQUESTED"
    title = "Appointment requested" if requested else "Appointment booked"
    rows = [("Pet", _a(confirmation.pet))]
    if confirmation.start is not None:
        start = confirmation.start.astimezone(practice.zone)
        rows.append(("Day", _a(long_day_with_year(start.date()))))
        rows.append(("Time", f"{_a(clock(start))} ({_a(practice.zone_name)})"))
    where = _a(practice.display_name)
    if practice.address:
        where += f"<br>{_a(practice.address)}"
    rows.append(("Where", where))
    if practice.phone:
        rows.append(("Phone", _tel(practice.phone)))
    rows.append(("Appointment number", _a(confirmation.appointment_id)))
    listing = "".join(f"<div><dt>{label}</dt><dd>{value}</dd></div>" for label, value in rows)
    calendar = (
        f'<p><a class="button" href="{_a(calendar_href)}" download>Add to calendar '
        '<span class="muted-ink">(.ics)</span></a></p>'
        if calendar_href and confirmation.start is not None
        else ""
    )
    content = (
        f'<section class="confirmation" aria-labelledby="confirmation-title"><h1 '
        f'id="confirmation-title">{title}</h1><p class="lead">{_a(confirmation.message)}</p>'
        f'<dl class="receipt">{listing}</dl>{calendar}<p><a href="{PAGE_PATH}">Book another '
        "appointment</a></p></section>"
    )
    return _shell(practice, palette, frame_ancestors, title, content)


def message_page(
    practice: Practice,
    palette: Palette,
    frame_ancestors: tuple[str, ...],
    title: str,
    message: str,
) -> Page:
    content = (
        f'<h1>{_a(title)}</h1><p class="lead">{_a(message)}</p>'
        f'<p><a href="{PAGE_PATH}">Back to the booking page</a></p>'
    )
    return _shell(practice, palette, frame_ancestors, title, content)
