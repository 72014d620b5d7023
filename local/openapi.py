"""``make openapi``: the OpenAPI 3.1 document of the HTTP API, written to docs/openapi.json.

Nothing in it is copied by hand where the code already says it:

- request schemas are the pydantic models' own JSON Schemas (``BookingRequest``,
  ``OpenTimesQuery``), their ``$defs`` moved to ``components/schemas``;
- every error status and its ``code`` values come from ``booking.errors`` (each operation only
  picks which codes it can answer);
- the appointment object is the one of docs/schemas/appointment-booked.schema.json;
- limits (body size, Idempotency-Key length, CAPTCHA and honeypot field names) are the
  constants of the ``booking`` package.

tests/unit/test_openapi.py fails when the committed docs/openapi.json differs from what this
module builds now (then run ``make openapi``) or is not a valid OpenAPI 3.1 document.
"""

from __future__ import annotations

import copy
import json
import sys
from dataclasses import fields
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
LAYER = ROOT / "layers" / "booking"
if str(LAYER) not in sys.path:
    sys.path.insert(0, str(LAYER))

from booking import errors  # noqa: E402
from booking.config import Settings  # noqa: E402
from booking.http import MAX_BODY_BYTES, MAX_KEY_LENGTH  # noqa: E402
from booking.intake import CAPTCHA_FIELD  # noqa: E402
from booking.models import (  # noqa: E402
    EVENT_DETAILS,
    PARTNER_ONLY_FIELDS,
    Appointment,
    BookingRequest,
    OpenTimesQuery,
)
from booking.version import VERSION  # noqa: E402

OUTPUT = ROOT / "docs" / "openapi.json"
SCHEMAS = ROOT / "docs" / "schemas"
LOCAL_SERVER = "http://127.0.0.1:3000"
REF = "#/components/schemas/{model}"

JSON = "application/json"
FORM = "application/x-www-form-urlencoded"
MULTIPART = "multipart/form-data"
HTML = "text/html"

HONEYPOT_FIELD = str(next(f.default for f in fields(Settings) if f.name == "honeypot_field"))

# Which codes of booking.errors each operation can answer (a code that no longer exists there
# makes the build fail, so the document cannot name codes the service does not have).
BOOKING_CODES = (
    "held_for_review",
    "malformed_body",
    "captcha_failed",
    "origin_not_allowed",
    "slot_unavailable",
    "duplicate_in_progress",
    "body_too_large",
    "unsupported_media_type",
    "validation_error",
    "booking_rejected",
    "not_matched",
    "idempotency_key_reused",
    "rate_limited",
    "upstream_error",
    "upstream_auth_failed",
    "upstream_unavailable",
    "outcome_unknown",
    "configuration_error",
)
#: Partners are trusted with the precise reason of a miss, and are not throttled per visitor.
PUBLIC_ONLY_CODES = ("held_for_review", "captcha_failed", "origin_not_allowed", "not_matched")
WEBHOOK_CODES = (
    *(code for code in BOOKING_CODES if code not in PUBLIC_ONLY_CODES),
    "client_not_found",
    "patient_not_found",
    "ambiguous_match",
    "invalid_signature",
    "unknown_source",
)
OPEN_TIMES_CODES = (
    "validation_error",
    "rate_limited",
    "upstream_error",
    "upstream_auth_failed",
    "upstream_unavailable",
    "configuration_error",
)
#: Codes whose answers carry ``Retry-After``.
RETRY_AFTER_CODES = (
    "duplicate_in_progress",
    "rate_limited",
    "upstream_unavailable",
    "outcome_unknown",
)

#: What each code means, for the descriptions of the responses that carry it.
CODE_TEXT = {
    "malformed_body": "the body could not be read (not valid JSON, not decodable)",
    "captcha_failed": "the anti-spam (CAPTCHA) check failed",
    "invalid_signature": "the webhook signature is missing or not valid (the body never says why)",
    "origin_not_allowed": "a browser post from an Origin not in ALLOWED_ORIGINS (or `null`); "
    "nothing is booked",
    "unknown_source": "no webhook source has this name",
    "held_for_review": "this contact's details missed too often within the hour: nothing was "
    "looked up, the practice has the request and will call (the same for everybody)",
    "not_found": "no such path",
    "method_not_allowed": "the path does not take this method",
    "not_matched": "the name, contact and pet did not match exactly one client and pet: one "
    "fixed answer whichever part missed (no `errors`); nothing is booked and the practice will "
    "contact the visitor",
    "slot_unavailable": "upstream says the slot is taken",
    "duplicate_in_progress": "the same booking is being processed right now (with `Retry-After`)",
    "body_too_large": f"the body is larger than {MAX_BODY_BYTES // 1024} KiB",
    "unsupported_media_type": "the Content-Type is not one of those documented for the body",
    "validation_error": "some fields (or parameters, or the Idempotency-Key) are missing or not "
    "valid; `errors` names them",
    "booking_rejected": "upstream rejected the booking (stale slot, unknown record, ...); the "
    "message is ours, upstream's words go to the log only",
    "client_not_found": "booking by pet name: no client matches the name and contact",
    "patient_not_found": "booking by pet name: the client has no pet of that name",
    "ambiguous_match": "booking by pet name: the details match more than one record",
    "idempotency_key_reused": "this Idempotency-Key was used for a different booking",
    "rate_limited": "this visitor's requests are over the per-IP limit, or upstream's rate limit "
    "(with `Retry-After`, 1 to 300 seconds)",
    "upstream_error": "upstream answered with something unusable",
    "upstream_auth_failed": "upstream refused our credentials, even after a fresh read",
    "upstream_unavailable": "upstream, Secrets Manager or DynamoDB unavailable (with "
    "`Retry-After`)",
    "outcome_unknown": "a create may have reached upstream but its outcome is unknown (with "
    "`Retry-After`); the practice will check",
    "configuration_error": "the function is misconfigured (a variable or secret)",
}


# --- what the code says ------------------------------------------------------------------------


def error_codes() -> dict[str, int]:
    """Every contract ``code`` of booking.errors and its HTTP status (definition order)."""
    codes: dict[str, int] = {}
    for value in vars(errors).values():
        if (
            isinstance(value, type)
            and issubclass(value, errors.BookingError)
            and value is not errors.BookingError
            and value.code not in codes
        ):
            codes[value.code] = value.status
    return codes


def _pick(codes: tuple[str, ...]) -> dict[int, list[str]]:
    known = error_codes()
    by_status: dict[int, list[str]] = {}
    for code in codes:
        if code not in known:
            raise ValueError(f"{code!r} is not a code of booking.errors")
        by_status.setdefault(known[code], []).append(code)
    return dict(sorted(by_status.items()))


def _model_schema(model: Any, components: dict[str, Any]) -> dict[str, Any]:
    """The model's JSON Schema, its ``$defs`` moved into ``components``."""
    schema: dict[str, Any] = model.model_json_schema(ref_template=REF)
    for name, definition in schema.pop("$defs", {}).items():
        components[name] = definition
    return schema


def _without_null(schema: dict[str, Any]) -> dict[str, Any]:
    """``X | None`` as a query parameter's schema: absent stands for None, so just ``X``."""
    schema = dict(schema)
    options = schema.pop("anyOf", None)
    if options is not None:
        kept = [option for option in options if option != {"type": "null"}]
        schema = {**kept[0], **schema} if len(kept) == 1 else {"anyOf": kept, **schema}
    if schema.get("default", ...) is None:
        del schema["default"]
    schema.pop("title", None)
    return schema


def _appointment() -> dict[str, Any]:
    appointment: dict[str, Any] = Appointment.model_json_schema()
    appointment["description"] += " Also the `appointment` of the `Appointment Booked` event."
    return appointment


def event_schemas() -> dict[Path, str]:
    """docs/schemas/: the JSON Schema of each event's detail, from its model."""
    written = {}
    for detail_type, model in EVENT_DETAILS.items():
        schema = {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            **model.model_json_schema(mode="serialization"),
        }
        name = detail_type.lower().replace(" ", "-") + ".schema.json"
        written[SCHEMAS / name] = json.dumps(schema, indent=2, ensure_ascii=False) + "\n"
    return written


# --- building blocks ---------------------------------------------------------------------------


def _ref(name: str) -> dict[str, str]:
    return {"$ref": REF.format(model=name)}


def _json_body(schema: dict[str, Any], html: bool) -> dict[str, Any]:
    content: dict[str, Any] = {JSON: {"schema": schema}}
    if html:
        content[HTML] = {"schema": {"type": "string"}}
    return content


def _error_responses(codes: tuple[str, ...], *, html: bool) -> dict[str, Any]:
    responses: dict[str, Any] = {}
    for status, names in _pick(codes).items():
        schema = {"allOf": [_ref("Error"), {"properties": {"code": {"enum": names}}}]}
        response: dict[str, Any] = {
            "description": "; ".join(f"`{name}`: {CODE_TEXT[name]}" for name in names)
            + "."
            + (
                " A plain HTML form (that prefers text/html) gets a 303 to its failure_url "
                "instead, or a small HTML page when no redirect is configured."
                if html
                else ""
            ),
            "content": _json_body(schema, html),
        }
        if any(name in RETRY_AFTER_CODES for name in names):
            response["headers"] = {"Retry-After": {"$ref": "#/components/headers/Retry-After"}}
        responses[str(status)] = response
    return responses


def _created(*, html: bool) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": "Appointment created (or, with `Idempotent-Replayed: true`, the first "
        "answer to the same booking within 24 hours: nothing new was booked).",
        "headers": {"Idempotent-Replayed": {"$ref": "#/components/headers/Idempotent-Replayed"}},
        "content": _json_body(_ref("BookingReceipt"), html),
    }
    if html:
        response["description"] += (
            " A plain HTML form with no redirect configured gets a small HTML page."
        )
    return response


def _booking_body(description: str, *, public: bool) -> dict[str, Any]:
    prefix = "Public" if public else "Partner"
    return {
        "required": True,
        "description": description,
        "content": {
            JSON: {"schema": _ref(f"{prefix}BookingRequest"), "example": BOOKING_EXAMPLE},
            FORM: {"schema": _ref(f"{prefix}BookingForm")},
            MULTIPART: {"schema": _ref(f"{prefix}BookingForm")},
        },
    }


#: Booking by pet name, as the demo page does (the slot comes from GET /open-times).
BOOKING_EXAMPLE = {
    "slot_id": "2a4f0c6e-8b1d-8e3f-9a5c-7d2e4b6f8a10",
    "first_name": "Jane",
    "last_name": "Doe",
    "email": "jane@example.com",
    "patient_name": "Rex",
    "note": "Limping on the left front leg.",
}


def _header(name: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": name,
        "in": "header",
        "required": False,
        "description": description,
        "schema": schema,
    }


IDEMPOTENCY_KEY = _header(
    "Idempotency-Key",
    "Your key for this booking: a repeat within 24 hours returns the first answer (with "
    "`Idempotent-Replayed: true`) and books nothing new; the same key with a different booking "
    "is 422 `idempotency_key_reused`. Without it, the key is the normalised booking (slot, "
    "client and patient identification).",
    {"type": "string", "minLength": 1, "maxLength": MAX_KEY_LENGTH},
)


# --- the document ------------------------------------------------------------------------------


def _components() -> dict[str, Any]:
    schemas: dict[str, Any] = {}
    booking = _model_schema(BookingRequest, schemas)
    spam = {
        HONEYPOT_FIELD: {
            "type": "string",
            "maxLength": 0,
            "description": "Honeypot (name set by HONEYPOT_FIELD, default `website`): hide it "
            "from people and leave it empty. A filled honeypot is answered as if booked, "
            "and nothing is booked.",
        },
        CAPTCHA_FIELD: {
            "type": "string",
            "description": "Cloudflare Turnstile token, required when the deployment sets "
            "CAPTCHA_SECRET_ID (else ignored); a missing or refused token is 400 "
            "`captcha_failed`. Never forwarded upstream.",
        },
    }
    common = (
        " Only Oliver's create-appointment fields are forwarded upstream, and only those "
        "given; `patient_name`, `utm_*`, `success_url` / `failure_url` are ours. Empty "
        "strings and nulls count as absent. Text fields may not carry control characters "
        "(CR and CRLF in `note` are read as newlines). JSON bodies with unknown fields are 422."
    )
    public = copy.deepcopy(booking)
    for name in PARTNER_ONLY_FIELDS:
        public["properties"].pop(name)
    public["properties"] = {**public["properties"], **spam}
    public["title"] = "PublicBookingRequest"
    public["description"] = (
        "A booking from a public form. The visitor is identified by `first_name` + `last_name` "
        "(or `name`) + `email` and/or `phone`, and the pet by `patient_name`; the practice's "
        "records are searched for exactly one matching client and pet (else 422 "
        "`not_matched`). Record ids and `status` are refused (422 naming the field)." + common
    )
    booking["title"] = "PartnerBookingRequest"
    booking["description"] = (
        "A booking from a signed partner. The client is identified by `client_id`, or "
        "`client_remote_id`, or `first_name` + `last_name` (or `name`) + (`phone` or `email`); "
        "the patient by `patient_id` or `patient_remote_id`, or by `patient_name` when the "
        "client is identified by name and contact. A missing or partial identification is 422 "
        "`validation_error` naming what is missing." + common
    )
    for request in (public, booking):
        form = copy.deepcopy(request)
        form["title"] = request["title"].replace("Request", "Form")
        form["additionalProperties"] = True
        form["description"] = (
            "The same fields as a form post (numbers are sent as text and read as numbers). "
            "A form may carry other fields (buttons, tracking): they are ignored."
        )
        schemas[request["title"]] = request
        schemas[form["title"]] = form
    schemas["Appointment"] = _appointment()
    schemas["Receipt"] = {
        "type": "object",
        "description": "What a booking's caller is told: the appointment's id, status, time "
        "and pet, never the client's details (those go to the `Appointment Booked` event).",
        "required": ["id", "status", "start", "end", "patient_name"],
        "properties": {
            "id": {"type": "integer", "description": "Oliver's appointment id."},
            "status": {
                "type": "string",
                "description": "`REQUESTED` (the practice will confirm), `ACCEPTED` or "
                "`CONFIRMED`.",
            },
            "start": {
                "type": ["string", "null"],
                "description": "ISO 8601 with the practice's offset (PRACTICE_TIMEZONE).",
            },
            "end": {"type": ["string", "null"], "description": "As `start`."},
            "patient_name": {"type": ["string", "null"]},
        },
        "additionalProperties": False,
    }
    schemas["BookingReceipt"] = {
        "type": "object",
        "required": ["success", "data", "message"],
        "properties": {
            "success": {"const": True},
            "data": _ref("Receipt"),
            "message": {"type": "string", "description": "One sentence of ours."},
        },
        "additionalProperties": False,
    }
    schemas["Error"] = {
        "type": "object",
        "description": "Every error answer. Never carries a stack trace, a token or upstream "
        "internals.",
        "required": ["success", "code", "message"],
        "properties": {
            "success": {"const": False},
            "code": {"type": "string", "enum": list(error_codes())},
            "message": {"type": "string", "description": "One human sentence."},
            "alternatives": {
                "type": "array",
                "description": "With `slot_unavailable`: up to three nearest open times of the "
                "same kind (times only), when they are known.",
                "maxItems": 3,
                "items": {
                    "type": "object",
                    "required": ["start", "end"],
                    "properties": {"start": {"type": "string"}, "end": {"type": "string"}},
                    "additionalProperties": False,
                },
            },
            "errors": {
                "type": "array",
                "description": "Field-level problems (only for those); values are never echoed.",
                "minItems": 1,
                "items": {
                    "type": "object",
                    "required": ["field", "message"],
                    "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
                    "additionalProperties": False,
                },
            },
        },
        "additionalProperties": False,
    }
    schemas["TimeSlot"] = {
        "type": "object",
        "description": "An opening, as Oliver returns it.",
        "required": ["start", "end", "provider_id", "value", "label", "uuid"],
        "properties": {
            "start": {"type": "string", "description": "ISO 8601 with offset."},
            "end": {"type": "string", "description": "ISO 8601 with offset."},
            "provider_id": {"type": "string"},
            "room_id": {"type": "string"},
            "appointment_type_ids": {"type": "array", "items": {"type": "string"}},
            "value": {"type": "string", "description": "24-hour clock, `16:00`."},
            "label": {"type": "string", "description": "Display text, `4:00 pm`."},
            "uuid": {"type": "string", "description": "Send it as `slot_id` to book."},
        },
    }
    schemas["OpenTimesDay"] = {
        "type": "object",
        "required": ["date", "available", "times"],
        "properties": {
            "date": {"type": "string", "description": "`MM/DD/YYYY`."},
            "available": {"type": "boolean"},
            "times": {"type": "array", "items": _ref("TimeSlot")},
        },
    }
    schemas["OpenTimes"] = {
        "type": "object",
        "required": ["success", "data"],
        "properties": {
            "success": {"const": True},
            "data": {"type": "array", "items": _ref("OpenTimesDay")},
        },
    }
    schemas["Health"] = {
        "type": "object",
        "required": ["status", "version"],
        "properties": {
            "status": {"const": "ok"},
            "version": {"type": "string", "description": "The release's semantic version."},
        },
        "additionalProperties": False,
    }
    return {
        "schemas": dict(sorted(schemas.items())),
        "headers": {
            "Retry-After": {
                "description": "Seconds to wait before retrying.",
                "schema": {"type": "integer", "minimum": 1, "maximum": 300},
            },
            "Idempotent-Replayed": {
                "description": "`true` when this is the stored first answer to a repeated "
                "request (nothing new was booked).",
                "schema": {"type": "string", "enum": ["true"]},
            },
        },
    }


def _open_times_parameters() -> list[dict[str, Any]]:
    schema = _model_schema(OpenTimesQuery, {})
    examples = {"search_from_date": "2030-01-07T08:00:00Z", "appointment_type": "wellness"}
    parameters = []
    for name, prop in schema["properties"].items():
        parameter: dict[str, Any] = {
            "name": name,
            "in": "query",
            "required": name in schema.get("required", ()),
            "schema": _without_null(prop),
        }
        if name == "search_from_date":
            # The model checks it with datetime.fromisoformat; say what it is for generators.
            parameter["schema"]["format"] = "date-time"
        description = parameter["schema"].pop("description", None)
        if description:
            parameter["description"] = description
        if name in examples:
            parameter["example"] = examples[name]
        parameters.append(parameter)
    return parameters


def _paths() -> dict[str, Any]:
    bookings = {
        "post": {
            "operationId": "createBooking",
            "summary": "Book an appointment (web forms and scripts)",
            "description": "Public and anonymous. Validates the booking, matches the visitor "
            "and pet to exactly one client and patient, creates the appointment in Oliver and "
            "announces it on EventBridge (`Appointment Booked`); the answer is a receipt. "
            "Throttled per visitor before anything is looked up: per IP "
            "(THROTTLE_BOOKINGS_PER_IP, 429) and per contact after repeated misses "
            "(THROTTLE_MISSES_PER_CONTACT, 202 `held_for_review`). A filled honeypot is "
            "answered like a booking, and nothing is booked. A browser post must come "
            "from an Origin in ALLOWED_ORIGINS (a request without Origin passes). All answers "
            "are JSON unless the caller is a plain HTML form (`text/html` preferred over "
            "`application/json`): it is sent to its `success_url` / `failure_url` (when under "
            "an ALLOWED_REDIRECTS prefix, else to the first prefix) with a 303, or gets a small "
            "HTML page when no redirect is configured.",
            "parameters": [IDEMPOTENCY_KEY],
            "requestBody": _booking_body("The booking, as JSON or as a form post.", public=True),
            "responses": {
                "201": _created(html=True),
                "303": {
                    "description": "A plain HTML form is sent back: to its `success_url` (with "
                    "`appointment_id`) or its `failure_url` (with `error=<code>` and "
                    "`fields=<names>`, never values).",
                    "headers": {
                        "Location": {
                            "required": True,
                            "description": "An allowed success or failure page.",
                            "schema": {"type": "string", "format": "uri"},
                        },
                        "Idempotent-Replayed": {"$ref": "#/components/headers/Idempotent-Replayed"},
                    },
                    "content": {HTML: {"schema": {"type": "string", "maxLength": 0}}},
                },
                **_error_responses(BOOKING_CODES, html=True),
            },
        }
    }
    open_times = {
        "get": {
            "operationId": "getOpenTimes",
            "summary": "Open times (Oliver's POST /open_times, without the token)",
            "description": "The practice's open times from `search_from_date`, for a page that "
            "must never hold the token. Each time's `uuid` is a `slot_id`. Answers are cached "
            "per appointment type and practice day (OPEN_TIMES_CACHE_SECONDS, default 300), "
            "and throttled per IP (THROTTLE_OPEN_TIMES_PER_IP, 429).",
            "parameters": _open_times_parameters(),
            "responses": {
                "200": {
                    "description": "Upstream's days, each with its open times.",
                    "content": {JSON: {"schema": _ref("OpenTimes")}},
                },
                **_error_responses(OPEN_TIMES_CODES, html=False),
            },
        }
    }
    health = {
        "get": {
            "operationId": "getHealth",
            "summary": "Liveness",
            "description": "Touches nothing upstream.",
            "responses": {
                "200": {
                    "description": "The function answers.",
                    "content": {JSON: {"schema": _ref("Health")}},
                }
            },
        }
    }
    webhooks = {
        "post": {
            "operationId": "receiveWebhook",
            "summary": "Signed partner webhook (same booking semantics as POST /bookings)",
            "description": "Checked in this order: unknown source 404, body over "
            f"{MAX_BODY_BYTES // 1024} KiB 413, signature 401, then content type, parsing and "
            "validation. Per source in WEBHOOK_SOURCES: `standard-webhooks` (headers "
            "`webhook-id`, `webhook-timestamp`, `webhook-signature`; signed content "
            "`{id}.{timestamp}.{raw body}`), `hmac-sha256` (header `X-Webhook-Signature` by "
            "default, hex or base64, optional prefix and timestamp header) or "
            "`timestamped-hmac` (one header `t=<unix>,v1=<hex>` over `{t}.{raw body}`, as "
            "Calendly and Stripe sign); or a `preset` (`cal.com`, `calendly`, `typeform`, "
            "`tally`) with that tool's scheme, delivery id and field map. A source with a "
            "field `map` reads the booking out of the partner's own JSON. The idempotency key "
            "is the `webhook-id` (or the source's `id_header` / `id_field`), else "
            "`Idempotency-Key`. Not subject to the Origin check; answers are always JSON.",
            "parameters": [
                {
                    "name": "source",
                    "in": "path",
                    "required": True,
                    "description": "A source name of WEBHOOK_SOURCES.",
                    "schema": {"type": "string", "minLength": 1},
                },
                _header(
                    "webhook-id",
                    "Standard Webhooks: the delivery id (also the idempotency key).",
                    {"type": "string", "minLength": 1},
                ),
                _header(
                    "webhook-timestamp",
                    "Standard Webhooks: Unix seconds; accepted within the source's tolerance "
                    "(300 s by default) both ways.",
                    {"type": "string", "pattern": "^[0-9]+$"},
                ),
                _header(
                    "webhook-signature",
                    "Standard Webhooks: space-separated `v1,<base64 HMAC-SHA256>` signatures.",
                    {"type": "string", "minLength": 1},
                ),
                IDEMPOTENCY_KEY,
            ],
            "requestBody": _booking_body(
                "The booking (every upstream field, ids and status included), or the "
                "partner's own JSON when the source has a field map.",
                public=False,
            ),
            "responses": {
                "200": {
                    "description": "A preset source's delivery that books nothing: another "
                    "event of the tool (`ignored: true`), a cancellation announced as `Booking "
                    "Cancelled`, or, under `ack_failures`, a refusal for good acknowledged "
                    "(`success: false` with its `code`) once its `Booking Failed` is out.",
                    "content": {JSON: {"schema": {"type": "object"}}},
                },
                "201": _created(html=False),
                **_error_responses(WEBHOOK_CODES, html=False),
            },
        }
    }
    return {
        "/bookings": bookings,
        "/open-times": open_times,
        "/health": health,
        "/webhooks/{source}": webhooks,
        **_page_paths(),
    }


def _page_paths() -> dict[str, Any]:
    """The hosted booking page (its own function): HTML for people, so described, not typed."""

    def html(description: str) -> dict[str, Any]:
        return {"description": description, "content": {HTML: {"schema": {"type": "string"}}}}

    def query(name: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
        return {
            "name": name,
            "in": "query",
            "required": False,
            "description": description,
            "schema": schema,
        }

    types = ["wellness", "sick", "technician", "recheck"]
    utm = [
        query(name, "Carried into the booking's event as its referral.", {"type": "string"})
        for name in ("utm_source", "utm_medium", "utm_campaign")
    ]
    page = {
        "get": {
            "operationId": "showBookingPage",
            "summary": "The hosted booking page",
            "description": "A server-rendered page that books without JavaScript: the kind of "
            "visit, a week of days (closed ones shown closed), the chosen day's times in "
            "PRACTICE_TIMEZONE, then the visitor. Framed only by its own origin and "
            "ALLOWED_ORIGINS (CSP `frame-ancestors`). Open times are counted by the per-IP "
            "open-times limit.",
            "parameters": [
                query("appointment_type", "The kind of visit chosen.", {"enum": types}),
                query(
                    "day",
                    "The day chosen (YYYY-MM-DD, the practice's calendar); a day without open "
                    "times chooses the first open day of its week.",
                    {"type": "string", "format": "date"},
                ),
                *utm,
                query(
                    "part",
                    "`picker`: only the day and time step (what the page's script swaps in).",
                    {"enum": ["picker"]},
                ),
            ],
            "responses": {
                "200": html("The page."),
                "429": html("The page, saying to wait (open times over the per-IP limit)."),
                "503": html("The page, saying open times could not be loaded (with the phone)."),
            },
        },
        "post": {
            "operationId": "bookFromPage",
            "summary": "Book from the hosted booking page (its own form)",
            "description": "The page's form, with its signed `form_token`: a booking through "
            "the same service as POST /bookings (channel `page`), or `step=type` / "
            "`step=day:<YYYY-MM-DD>` to show a visit's days or another day without "
            "JavaScript. Every answer is a page; a refused booking is the form again with "
            "every value kept and each problem beside its field. Any Origin but the page's "
            "own and ALLOWED_ORIGINS is refused (403).",
            "requestBody": {
                "required": True,
                "content": {
                    FORM: {"schema": {"type": "object", "additionalProperties": {"type": "string"}}}
                },
            },
            "responses": {
                "200": html(
                    "The confirmation (pet, day, time, the practice, a calendar "
                    "link), or the form for another visit or day."
                ),
                "202": html("The practice has the request and will call (held for review)."),
                "400": html("The form again: its token expired, or the CAPTCHA failed."),
                "403": html("The form again: posted from another site."),
                "409": html("The form again: the time was just taken."),
                "413": html("The body is larger than 64 KiB."),
                "415": html("Not a form post."),
                "422": html(
                    "The form again, with each problem beside its field (or the "
                    "details did not match: said once, nothing booked)."
                ),
                "429": html("The form again: too many attempts (with `Retry-After`)."),
                "503": html("The form again: the practice system is unavailable."),
            },
        },
    }
    calendar = {
        "get": {
            "operationId": "bookingCalendarFile",
            "summary": "The .ics file of a confirmation",
            "description": 'The confirmation\'s "Add to calendar" link, signed by the page.',
            "parameters": [
                {
                    "name": "a",
                    "in": "query",
                    "required": True,
                    "description": "The signed receipt.",
                    "schema": {"type": "string"},
                }
            ],
            "responses": {
                "200": {
                    "description": "An RFC 5545 calendar with the appointment.",
                    "content": {"text/calendar": {"schema": {"type": "string"}}},
                },
                "404": html("The link was not signed by the page."),
            },
        }
    }
    return {"/book": page, "/book/calendar": calendar}


def build() -> dict[str, Any]:
    """The OpenAPI 3.1 document of the HTTP API."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Booking webhook",
            "version": VERSION,
            "summary": "Website booking forms and partner webhooks into Oliver appointments.",
            "description": "The HTTP API of the booking webhook (generated by `make openapi` "
            "from the code: do not edit by hand). Every answer carries `Cache-Control: "
            "no-store` and `X-Content-Type-Options: nosniff`; an unknown path is 404 "
            "`not_found`, another method on a known path 405 `method_not_allowed`. Every error is "
            "`{success: false, code, message, errors?}`; bodies over the API Gateway payload "
            "quota (10 MB) or a function that failed to run get API Gateway's own "
            '`{"message": "..."}` answer.',
            "license": {"name": "MIT", "identifier": "MIT"},
        },
        "servers": [
            {"url": LOCAL_SERVER, "description": "The local stack (`make dev`)."},
            {
                "url": "https://{apiId}.execute-api.{region}.amazonaws.com",
                "description": "A deployed stack: its `ApiUrl` output.",
                "variables": {
                    "apiId": {"default": "your-api-id", "description": "The HTTP API's id."},
                    "region": {"default": "us-east-1"},
                },
            },
        ],
        "paths": _paths(),
        "components": _components(),
    }


def render() -> str:
    return json.dumps(build(), indent=2, ensure_ascii=False) + "\n"


def main() -> int:
    OUTPUT.write_text(render(), encoding="utf-8")
    print(f"wrote {OUTPUT.relative_to(ROOT)}")
    for path, text in event_schemas().items():
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
