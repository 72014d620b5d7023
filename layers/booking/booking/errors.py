"""Domain errors. Each carries the HTTP status and contract ``code`` it maps to, in one place.

Messages are one human sentence of ours and never contain a token, a client's details or
upstream's words (those go to the log only, scrubbed).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FieldError:
    field: str
    message: str


class BookingError(Exception):
    status: int = 500
    code: str = "internal_error"
    message: str = "Something went wrong on our side."
    #: A visitor's valid submission failed for a reason staff should follow up
    #: (a ``Booking Failed`` event is emitted for these).
    follow_up: bool = False

    def __init__(
        self,
        message: str | None = None,
        *,
        errors: list[FieldError] | None = None,
        retry_after: int | None = None,
    ) -> None:
        super().__init__(message or self.message)
        self.message = message or self.message
        self.errors = errors or []
        self.retry_after = retry_after


#: ``Retry-After`` is always a whole number of seconds in this range, whatever upstream said.
RETRY_AFTER_RANGE = (1, 300)


def clamp_retry_after(seconds: float) -> int:
    low, high = RETRY_AFTER_RANGE
    return int(min(high, max(low, seconds)))


class MalformedBody(BookingError):
    status, code, message = 400, "malformed_body", "The request body could not be read."


class CaptchaFailed(BookingError):
    status, code, message = 400, "captcha_failed", "The anti-spam check failed; please try again."


class InvalidSignature(BookingError):
    status, code, message = 401, "invalid_signature", "The webhook signature is not valid."


class OriginNotAllowed(BookingError):
    status, code, message = 403, "origin_not_allowed", "This site may not post bookings here."


class UnknownSource(BookingError):
    status, code, message = 404, "unknown_source", "No webhook source has this name."


class NotFound(BookingError):
    status, code, message = 404, "not_found", "There is nothing at this address."


class MethodNotAllowed(BookingError):
    status, code, message = 405, "method_not_allowed", "This address does not take this method."


class SlotUnavailable(BookingError):
    status, code = 409, "slot_unavailable"
    message = "This time is no longer available; please choose another."
    follow_up = True

    def __init__(self, alternatives: list[dict[str, str]] | None = None) -> None:
        super().__init__()
        #: Up to three nearest open times of the same kind (times only), when they are known.
        self.alternatives = alternatives


class DuplicateInProgress(BookingError):
    status, code = 409, "duplicate_in_progress"
    message = "The same booking is already being processed; retry in a moment."


class BodyTooLarge(BookingError):
    status, code, message = 413, "body_too_large", "The request body is larger than 64 KiB."


class UnsupportedMediaType(BookingError):
    status, code = 415, "unsupported_media_type"
    message = "Send application/json, application/x-www-form-urlencoded or multipart/form-data."


class ValidationFailed(BookingError):
    status, code, message = 422, "validation_error", "Some fields are missing or not valid."


class BookingRejected(BookingError):
    status, code = 422, "booking_rejected"
    message = "The practice system did not accept this booking; the practice will contact you."
    follow_up = True


class NotMatched(BookingError):
    """A public caller's details did not match exactly one client and pet. One answer for every
    kind of miss, so that a stranger learns nothing about who is a client."""

    status, code = 422, "not_matched"
    follow_up = True

    def __init__(self, practice_phone: str = "", cause: str = "") -> None:
        call = f" You can also call the practice at {practice_phone}." if practice_phone else ""
        super().__init__(
            "Nothing is booked yet: these details did not match the practice's records. "
            "The practice has your request and will contact you." + call
        )
        #: For the log only: which part missed (client, pet, ambiguous).
        self.cause = cause


class HeldForReview(BookingError):
    """This contact is over its ``not_matched`` limit: nothing is looked up, staff call back."""

    status, code = 202, "held_for_review"
    message = "The practice has your request and will contact you."


class ClientNotFound(BookingError):
    status, code = 422, "client_not_found"
    message = "We could not find a client with these details; the practice will contact you."
    follow_up = True


class PatientNotFound(BookingError):
    status, code = 422, "patient_not_found"
    message = "We could not find this pet on the client's record; the practice will contact you."
    follow_up = True


class AmbiguousMatch(BookingError):
    status, code = 422, "ambiguous_match"
    message = "These details match more than one record; the practice will contact you."
    follow_up = True


class IdempotencyKeyReused(BookingError):
    status, code = 422, "idempotency_key_reused"
    message = "This Idempotency-Key was already used for a different booking."


class RateLimited(BookingError):
    status, code, message = 429, "rate_limited", "Too many requests; retry later."
    follow_up = True


class VisitorRateLimited(RateLimited):
    """This visitor (IP) sent too many requests: nobody to follow up, nothing was looked at."""

    follow_up = False


class UpstreamError(BookingError):
    status, code, message = 502, "upstream_error", "The practice system gave an unusable answer."
    follow_up = True


class UpstreamAuthFailed(BookingError):
    status, code = 502, "upstream_auth_failed"
    message = "The practice system refused our credentials."
    follow_up = True


class UpstreamUnavailable(BookingError):
    status, code = 503, "upstream_unavailable"
    message = "The practice system is unavailable; retry later."
    follow_up = True


class OutcomeUnknown(BookingError):
    status, code = 503, "outcome_unknown"
    message = "We could not confirm whether the booking was made; the practice will check."
    follow_up = True

    def __init__(self, *, retry_after: int | None = None, settling: bool = False) -> None:
        super().__init__(retry_after=retry_after)
        #: A background check will end it (``booking.settle``): it announces the outcome, so no
        #: ``Booking Failed`` now (staff would chase a booking that may well exist).
        self.follow_up = not settling


class ConfigurationError(BookingError):
    status, code = 503, "configuration_error"
    message = "The booking service is not configured correctly."

    def __init__(self, detail: str) -> None:
        super().__init__()
        #: For the operator's log only: which variable or secret is wrong (never its value).
        self.detail = detail


# -- raised by the adapters, turned into answers (or retries) by the logic ---------------------


class Unauthorized(Exception):
    """Upstream answered 401: the caller refreshes the credentials once and retries."""


class ReadRefused(UpstreamError):
    """Upstream refused a staff task or an AI outbound request with 400: an ``UpstreamError``
    unless the caller knows better."""


class CreateOutcomeUnknown(Exception):
    """The create may have reached upstream, but its result is not known."""


class CountersUnavailable(Exception):
    """DynamoDB could not be reached for a counter."""


class KeyUnavailable(Exception):
    """The HMAC key could not be read just now (a passing Secrets Manager fault)."""


class SignatureRejected(InvalidSignature):
    def __init__(self, reason: str) -> None:
        super().__init__()
        #: For the log only.
        self.reason = reason


class CheckAgainLater(Exception):
    """A background check of an unknown outcome could not finish (DynamoDB or SQS did not
    answer): its message comes back, and it is made again."""
