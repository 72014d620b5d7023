"""From submitted fields to a validated ``BookingRequest``: spam fields taken out, empty form
fields treated as absent, pydantic validation, then the upstream's identification rules."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from booking.errors import FieldError, ValidationFailed
from booking.http import validation_errors
from booking.models import BookingRequest

CAPTCHA_FIELD = "cf-turnstile-response"
MAX_KEY_LENGTH = 255


@dataclass(frozen=True)
class Spam:
    """The spam-defence fields of a form post (never part of the booking)."""

    honeypot_filled: bool
    captcha_token: str | None


def take_spam_fields(fields: dict[str, Any], honeypot_field: str) -> Spam:
    honeypot = fields.pop(honeypot_field, None)
    token = fields.pop(CAPTCHA_FIELD, None)
    return Spam(
        honeypot_filled=bool(str(honeypot).strip()) if honeypot is not None else False,
        captcha_token=str(token).strip() or None if token is not None else None,
    )


def read_booking(fields: Mapping[str, Any], from_form: bool) -> BookingRequest:
    """Validate a submission. Forms may carry extra fields (buttons, tracking): ignored. JSON
    may not: unknown fields are named in the 422."""
    known = BookingRequest.model_fields
    values = {
        name: value
        for name, value in fields.items()
        if value is not None and not (isinstance(value, str) and not value.strip())
        and (name in known or not from_form)
    }
    try:
        booking = BookingRequest.model_validate(values)
    except ValidationError as exc:
        failed = validation_errors(exc)
        # Name every problem at once: a missing slot must not hide a half-given client.
        given = BookingRequest.model_construct(**{k: v for k, v in values.items() if k in known})
        named = {error.field for error in failed.errors}
        failed.errors += [e for e in given.identification_errors() if e.field not in named]
        raise failed from None
    errors = booking.identification_errors()
    if errors:
        raise ValidationFailed(errors=errors)
    return booking


def explicit_key(headers: Mapping[str, str]) -> str | None:
    key = headers.get("idempotency-key")
    if key is None:
        return None
    if not 1 <= len(key) <= MAX_KEY_LENGTH:
        raise ValidationFailed(
            errors=[FieldError("Idempotency-Key", "must be 1 to 255 characters")]
        )
    return key
