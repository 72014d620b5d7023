"""From submitted fields to validated models: spam fields taken out, empty form fields treated
as absent, pydantic validation, then the upstream's identification rules.

This module is where pydantic comes in; the entry point imports it on the first request that
validates input, so that cold starts (and GET /health) do not pay for the models.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from booking.errors import FieldError, ValidationFailed
from booking.models import PARTNER_ONLY_FIELDS, BookingRequest, OpenTimesQuery

CAPTCHA_FIELD = "cf-turnstile-response"


def validation_errors(exc: ValidationError) -> ValidationFailed:
    """Pydantic's errors as field-level errors, one per field; the submitted values are never
    echoed. (A field of several types, such as an id, reports under its own name.)"""
    errors: dict[str, FieldError] = {}
    for err in exc.errors(include_input=False, include_url=False):
        field = str(err["loc"][0]) if err["loc"] else "body"
        if err["type"] == "extra_forbidden":
            message = "is not a known field"
        elif err["type"] == "missing":
            message = "is required"
        else:
            message = str(err["msg"]).removeprefix("Value error, ")
        errors.setdefault(field, FieldError(field, message))
    return ValidationFailed(errors=list(errors.values()))


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


def read_booking(fields: Mapping[str, Any], from_form: bool, public: bool) -> BookingRequest:
    """Validate a submission. Forms may carry extra fields (buttons, tracking): ignored. JSON
    may not: unknown fields are named in the 422. A ``public`` caller may not send the fields
    only a signed partner may (ids, status): each is named in the 422."""
    known = BookingRequest.model_fields
    values = {
        name: value
        for name, value in fields.items()
        if value is not None
        and not (isinstance(value, str) and not value.strip())
        and (name in known or not from_form)
    }
    refused = [
        FieldError(name, "is not accepted from a public form; identify by name, contact and pet")
        for name in PARTNER_ONLY_FIELDS
        if public and name in values
    ]
    if refused:
        raise ValidationFailed(errors=refused)
    try:
        booking = BookingRequest.model_validate(values)
    except ValidationError as exc:
        failed = validation_errors(exc)
        # Name every problem at once: a missing slot must not hide a half-given client.
        named = {error.field for error in failed.errors}
        # What did validate, with a stand-in for what did not (present, but not readable).
        readable: dict[str, Any] = {
            k: (v if k not in named else "?") for k, v in values.items() if k in known
        }
        given = BookingRequest.model_construct(**readable)
        failed.errors += [e for e in given.identification_errors(public) if e.field not in named]
        raise failed from None
    errors = booking.identification_errors(public)
    if errors:
        raise ValidationFailed(errors=errors)
    return booking


def read_open_times_query(params: Mapping[str, str]) -> OpenTimesQuery:
    try:
        return OpenTimesQuery.model_validate(dict(params))
    except ValidationError as exc:
        raise validation_errors(exc) from None
