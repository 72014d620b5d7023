"""Every sentence a visitor reads about a field or about what went wrong, in one place.

The service names fields and codes; the page turns them into plain words, and whenever the way
forward is a phone call, the practice's number is in the sentence.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Field:
    name: str
    label: str
    #: Said when the field is empty.
    missing: str
    #: Said when the field holds something the service cannot take.
    invalid: str


CHOOSE_TYPE = "Choose the kind of visit"
#: The form's fields in page order: the error summary lists them in this order.
FIELDS = (
    Field("appointment_type", "Kind of visit", CHOOSE_TYPE, CHOOSE_TYPE),
    Field("slot_id", "Time", "Choose a day and a time", "Choose a day and a time"),
    Field(
        "first_name",
        "First name",
        "Enter your first name",
        "Enter your first name (up to 100 letters, no special characters)",
    ),
    Field(
        "last_name",
        "Last name",
        "Enter your last name",
        "Enter your last name (up to 100 letters, no special characters)",
    ),
    Field(
        "email",
        "Email",
        "Enter your email or your phone number",
        "Enter an email address like name@example.com",
    ),
    Field("phone", "Phone", "Enter a phone number", "Enter a phone number like 555 555 0100"),
    Field(
        "patient_name",
        "Your pet's name",
        "Enter your pet's name",
        "Enter your pet's name (up to 100 letters, no special characters)",
    ),
    Field(
        "note",
        "Anything the practice should know?",
        "",
        "Shorten the note to 2,000 characters and leave out special characters",
    ),
)
BY_NAME = {field.name: field for field in FIELDS}
#: Names the service may use for a field the page shows under another name.
ALIASES = {"name": "first_name"}

APPOINTMENT_TYPES = (
    ("wellness", "Wellness exam or vaccines"),
    ("sick", "Sick or injured pet"),
    ("technician", "Technician visit (nails, blood draw)"),
    ("recheck", "Recheck of an earlier visit"),
)
TYPE_NAMES = dict(APPOINTMENT_TYPES)


def field_message(field: str, service_message: str) -> str:
    """The page's words for a field error the service reported in its own."""
    known = BY_NAME[field]
    missing = "required" in service_message
    return (known.missing if missing and known.missing else known.invalid) or known.invalid


def call_us(phone: str, lead: str = " You can also call the practice at") -> str:
    return f"{lead} {phone}." if phone else ""


def please_call(phone: str) -> str:
    return f"Please call the practice at {phone}." if phone else "Please call the practice."


def code_message(code: str, phone: str, retry_after: int | None = None) -> str:
    """A sentence for an answer that is about the whole form, not one field."""
    if code == "rate_limited":
        minutes = max(1, round((retry_after or 60) / 60))
        wait = f"{minutes} minute{'s' if minutes != 1 else ''}"
        return (
            f"Too many attempts from your connection. Please wait {wait} and try again."
            + call_us(phone, " Or call the practice at")
        )
    messages = {
        "form_expired": "This page was open for a long time, so nothing was sent. Check your "
        "details and press Book appointment again.",
        "origin_not_allowed": "This form can only be sent from the practice's booking page. "
        + please_call(phone),
        "captcha_failed": "We could not check that you are not a robot. Please try again.",
        "booking_rejected": "The practice's system did not accept this booking. Please choose "
        "another time; the practice has been told and will contact you.",
        "duplicate_in_progress": "This booking is already being sent. Please wait a moment, then "
        "press Book appointment again; you will not be booked twice.",
        "outcome_unknown": "We could not confirm your booking yet. Please wait a minute and press "
        "Book appointment again; you will not be booked twice.",
        "upstream_unavailable": "The practice's booking system cannot be reached right now. "
        "Please try again in a few minutes." + call_us(phone, " Or call the practice at"),
        "configuration_error": "Online booking is not available right now. " + please_call(phone),
        "open_times_failed": "We could not load the open times right now. Please try again in a "
        "few minutes." + call_us(phone, " Or call the practice at"),
        "validation_error": "Some details need a look: see the marked fields.",
    }
    return messages.get(
        code,
        "Something went wrong and nothing was booked. Please try again."
        + call_us(phone, " Or call the practice at"),
    )


SLOT_TAKEN = "That time was just taken. Choose another time."
NO_TIMES_THIS_WEEK = "No open times these 7 days."
