"""The client's confirmation email on ``Appointment Booked``: plain text and HTML in the words of
the practice's templates, with the RFC 5545 invitation attached, sent through SES v2.

A ``REQUESTED`` appointment is worded as a request the practice will confirm (its invitation is
tentative); ``ACCEPTED`` and ``CONFIRMED`` as confirmed. No email without a client address, for
an appointment already past (an old event replayed), or when ``NOTIFY_SENDER`` is empty.

Templates are files a practice edits without touching code (README: Notifications): for each
kind, ``<kind>.txt`` (a ``Subject:`` line, a blank line, the text) and ``<kind>.html``, with
``$placeholders``; every value put into the HTML is escaped.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import formataddr, formatdate, make_msgid
from functools import lru_cache
from pathlib import Path
from string import Template
from typing import Literal

from booking.notify import wiring
from booking.notify.consumer import Delivery
from booking.notify.events import BOOKED, Booked, BookedAppointment, BusEvent, detail_as
from booking.notify.mailer import Mailer
from booking.notify.settings import NotifySettings
from booking.notify.wording import day_text, in_zone, one_line, time_text, zone_text

Kind = Literal["confirmed", "requested"]
PLACEHOLDERS = (
    "greeting",
    "client_first_name",
    "pet",
    "practice_name",
    "practice_phone",
    "contact_line",
    "date",
    "time",
    "zone",
    "when",
    "appointment_id",
)
_ADDRESS = re.compile(r"^[^@\s<>\",;]{1,64}@[^@\s<>\",;.]+(\.[^@\s<>\",;.]+)+$")
#: Used when Oliver gives no end (it always has so far).
DEFAULT_LENGTH = timedelta(minutes=30)
CONFIRMED_STATUSES = {"ACCEPTED", "CONFIRMED", "IN_PROGRESS", "DONE"}
NOT_BOOKED_STATUSES = {"DELETED", "DECLINED"}


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str


class Templates:
    """The email's words, read from ``directory`` (once per container)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    @lru_cache(maxsize=4)  # noqa: B019 - one Templates per container, kept for its life
    def _load(self, kind: Kind) -> tuple[Template, Template, Template]:
        text = (self.directory / f"{kind}.txt").read_text(encoding="utf-8")
        first, _, body = text.partition("\n")
        if not first.lower().startswith("subject:"):
            raise ValueError(f"{kind}.txt must start with a 'Subject:' line")
        markup = (self.directory / f"{kind}.html").read_text(encoding="utf-8")
        return (
            Template(first.partition(":")[2].strip()),
            Template(body.lstrip("\n")),
            Template(markup),
        )

    def render(self, kind: Kind, values: dict[str, str]) -> Rendered:
        subject, text, markup = self._load(kind)
        escaped = {name: html.escape(value) for name, value in values.items()}
        return Rendered(
            subject=one_line(subject.safe_substitute(values), 250),
            text=text.safe_substitute(values),
            html=markup.safe_substitute(escaped),
        )


def kind_of(appointment: BookedAppointment) -> Kind:
    status = (appointment.status or "REQUESTED").upper()
    return "confirmed" if status in CONFIRMED_STATUSES else "requested"


def values_for(
    appointment: BookedAppointment, start: datetime, config: NotifySettings
) -> dict[str, str]:
    first = one_line(appointment.client_first_name, 100)
    practice = one_line(config.practice_name, 100) or "the practice"
    phone = one_line(config.practice_phone, 40)
    contact = (
        f"If you need to change or cancel it, call {practice} at {phone}."
        if phone
        else f"If you need to change or cancel it, please contact {practice}."
    )
    return {
        "greeting": f"Hello {first}," if first else "Hello,",
        "client_first_name": first,
        "pet": one_line(appointment.patient_name, 100) or "your pet",
        "practice_name": practice,
        "practice_phone": phone,
        "contact_line": contact,
        "date": day_text(start),
        "time": time_text(start),
        "zone": zone_text(start),
        "when": f"{day_text(start)} at {time_text(start)} ({zone_text(start)})",
        "appointment_id": str(appointment.id),
    }


def compose(
    appointment: BookedAppointment,
    start: datetime,
    end: datetime,
    config: NotifySettings,
    templates: Templates,
) -> EmailMessage:
    from booking.notify.invitation import Invitation

    kind = kind_of(appointment)
    values = values_for(appointment, start, config)
    words = templates.render(kind, values)
    practice_name = one_line(config.practice_name, 100)
    message = EmailMessage()
    message["From"] = (
        formataddr((practice_name, config.notify_sender)) if practice_name else config.notify_sender
    )
    message["To"] = str(appointment.client_email)
    message["Subject"] = words.subject
    message["Date"] = formatdate(usegmt=True)
    message["Message-ID"] = make_msgid(domain=config.sender_domain)
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(words.text, cte="quoted-printable")
    message.add_alternative(words.html, subtype="html", cte="quoted-printable")
    invitation = Invitation(
        appointment_id=str(appointment.id),
        start=start,
        end=end,
        summary=f"{values['pet']} at {values['practice_name']}",
        description=(
            ("Requested, not yet confirmed by the practice. " if kind == "requested" else "")
            + values["contact_line"]
        ),
        organizer_name=practice_name,
        organizer_address=config.notify_sender,
        tentative=kind == "requested",
    )
    message.add_attachment(
        invitation.to_ics(),
        maintype="text",
        subtype="calendar",
        filename="appointment.ics",
        params={"method": "PUBLISH", "charset": "utf-8"},
    )
    return message


@wiring.on_reset
@lru_cache(maxsize=1)
def mailer() -> Mailer:
    return Mailer(wiring.aws_client("sesv2"), wiring.settings().notify_sender)


class ConfirmationEmail:
    """The email consumer's work for one event; its outcome names what happened."""

    def __init__(self, templates_dir: Path) -> None:
        self.templates = Templates(templates_dir)

    def __call__(self, event: BusEvent, delivery: Delivery) -> str:
        config = wiring.settings()
        if not config.notify_sender:
            return "disabled"
        if event.detail_type != BOOKED:
            return "ignored"
        appointment = detail_as(event, Booked).appointment
        address = (appointment.client_email or "").strip()
        if not address:
            return "no_address"
        if not _ADDRESS.match(address):
            return "bad_address"
        if (appointment.status or "").upper() in NOT_BOOKED_STATUSES:
            return "not_booked"
        zone = wiring.zone()
        start = in_zone(appointment.booking_date, zone)
        if start is None:
            return "no_time"
        if start <= datetime.now(UTC):
            return "past"
        end = in_zone(appointment.end_date, zone)
        if end is None or end <= start:
            end = start + DEFAULT_LENGTH
        message = compose(appointment, start, end, config, self.templates)
        mailer().send(message, address)
        return "sent"
