"""The function's configuration: one validated model of the environment (README: Configuration).

Read once per container. A missing or malformed variable becomes ``ConfigurationError``
naming the variable (never its value), answered as 503 ``configuration_error``.

Plain frozen dataclasses rather than pydantic: the configuration is read on every cold start,
including GET /health's, and pydantic's import is the largest part of our cold-start budget.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from functools import lru_cache
from typing import Any

from booking.errors import ConfigurationError

DEFAULT_OLIVER_API_URL = "https://partner-api.getoliver.com/services/core/open_api/v1"
DEFAULT_CAPTCHA_VERIFY_URL = "https://challenges.cloudflare.com/turnstile/v0/siteverify"
SCHEMES = ("standard-webhooks", "hmac-sha256", "timestamped-hmac")


class _Invalid(ValueError):
    """A value that does not fit its variable (the message names the variable only)."""


@dataclass(frozen=True)
class WebhookSource:
    """One entry of ``WEBHOOK_SOURCES``: how a partner signs, and where its fields are. With
    ``preset`` (``booking.presets``), a tool's options, each overridable in the entry."""

    scheme: str
    header: str = "X-Webhook-Signature"
    encoding: str = "hex"
    prefix: str = ""
    timestamp_header: str | None = None
    tolerance_seconds: int = 300
    id_header: str | None = None
    id_field: str | None = None
    map: Mapping[str, str] = field(default_factory=dict)
    preset: str | None = None
    #: Answer 200 (with the error body) to a booking refused for good, once staff have it.
    ack_failures: bool = False
    #: Booking field -> constant, for what the partner does not send.
    defaults: Mapping[str, str | int] = field(default_factory=dict)

    @property
    def mapped(self) -> bool:
        """Whether the booking is read out of the partner's own JSON (not posted as is)."""
        return bool(self.map or self.preset)

    @classmethod
    def parse(cls, value: object) -> WebhookSource:
        if not isinstance(value, dict):
            raise _Invalid()
        if "preset" in value:
            from booking.presets import PRESETS

            if value["preset"] not in PRESETS:
                raise _Invalid()
            value = {**PRESETS[value["preset"]].options, **value}
        if set(value) - {f.name for f in fields(cls)}:
            raise _Invalid()
        source = cls(**value)
        text_options = (source.header, source.prefix)
        optional = (source.timestamp_header, source.id_header, source.id_field)
        if (
            source.scheme not in SCHEMES
            or source.encoding not in ("hex", "base64")
            or not all(isinstance(v, str) for v in text_options)
            or not all(v is None or (isinstance(v, str) and v) for v in optional)
            or not isinstance(source.tolerance_seconds, int)
            or not 1 <= source.tolerance_seconds <= 86_400
            or not isinstance(source.map, dict)
            or not all(isinstance(k, str) and isinstance(v, str) for k, v in source.map.items())
            or not isinstance(source.ack_failures, bool)
            or not _constants(source.defaults)
            or (source.scheme == "timestamped-hmac" and not _one_header(source))
        ):
            raise _Invalid()
        expressions = [e for e in (source.id_field, *source.map.values()) if e is not None]
        if expressions:
            # A JMESPath that does not parse is a configuration error now, not a 500 per delivery.
            import jmespath
            from jmespath.exceptions import JMESPathError

            try:
                for expression in expressions:
                    jmespath.compile(expression)
            except JMESPathError:
                raise _Invalid() from None
        return source


def _constants(defaults: object) -> bool:
    """``defaults``: booking field names to strings or whole numbers."""
    from booking.presets import BOOKING_FIELDS

    return isinstance(defaults, dict) and all(
        name in BOOKING_FIELDS and isinstance(value, str | int) and not isinstance(value, bool)
        for name, value in defaults.items()
    )


def _one_header(source: WebhookSource) -> bool:
    """``timestamped-hmac`` carries the time and hex digests in its one header, unprefixed."""
    return source.encoding == "hex" and not source.prefix and source.timestamp_header is None


@dataclass(frozen=True)
class Limit:
    """At most ``count`` events per ``seconds`` (``count`` 0: no limit)."""

    count: int
    seconds: int


@dataclass(frozen=True)
class Settings:
    oliver_secret_id: str
    event_bus_name: str
    idempotency_table_name: str
    event_dlq_url: str
    oliver_api_url: str = DEFAULT_OLIVER_API_URL
    oliver_location_id: str | None = None
    event_source: str = "booking.webhook"
    allowed_origins: tuple[str, ...] = ()
    allowed_redirects: tuple[str, ...] = ()
    webhook_sources: Mapping[str, WebhookSource] = field(default_factory=dict)
    webhook_secret_id: str | None = None
    captcha_secret_id: str | None = None
    captcha_verify_url: str = DEFAULT_CAPTCHA_VERIFY_URL
    honeypot_field: str = "website"
    default_phone_region: str = "US"
    #: How long a secret read is reused before Secrets Manager is asked again.
    secret_max_age_seconds: int = 300
    #: How long an open-times answer is reused per appointment type and practice day.
    open_times_cache_seconds: int = 300
    #: IANA zone of the practice: naive times are read in it, receipts and pages show it.
    practice_timezone: str = "America/Chicago"
    practice_name: str = ""
    practice_phone: str = ""
    #: Per-visitor throttling (public callers): counters live in this table, keyed by an HMAC
    #: of the IP or contact with the key in ``throttle_key_secret_id``.
    throttle_table_name: str | None = None
    throttle_key_secret_id: str | None = None
    throttle_exempt_cidrs: tuple[Any, ...] = ()
    bookings_per_ip: Limit = Limit(20, 600)
    open_times_per_ip: Limit = Limit(60, 60)
    misses_per_contact: Limit = Limit(5, 3600)
    #: ``cloudfront`` when the edge protection of the template sits in front of the API: the
    #: visitor's IP is then read from ``CloudFront-Viewer-Address`` on verified requests.
    trusted_edge: str = ""
    #: Where an unknown create outcome is checked again later (functions/settle); unset: staff
    #: are asked at once with a ``Booking Failed``.
    settle_queue_url: str | None = None
    #: The delays between those checks (seconds).
    settle_backoff_seconds: tuple[int, ...] = (30, 60, 120, 240, 480, 870)

    @property
    def table_for_throttling(self) -> str:
        return self.throttle_table_name or self.idempotency_table_name


def _text(value: str) -> str:
    return value.strip()


def _url(value: str) -> str:
    value = value.strip()
    if not re.match(r"^https?://[^\s/]+", value):
        raise _Invalid()
    return value.rstrip("/")


def _csv(value: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in value.split(",") if part.strip())


def _origins(value: str) -> tuple[str, ...]:
    return tuple(origin.rstrip("/").lower() for origin in _csv(value))


def _redirects(value: str) -> tuple[str, ...]:
    prefixes = _csv(value)
    if not all(re.match(r"^https?://[^\s/]+", prefix) for prefix in prefixes):
        raise _Invalid()
    return prefixes


def _sources(value: str) -> dict[str, WebhookSource]:
    try:
        document = json.loads(value)
    except ValueError:
        raise _Invalid() from None
    if not isinstance(document, dict):
        raise _Invalid()
    return {str(name): WebhookSource.parse(options) for name, options in document.items()}


def _region(value: str) -> str:
    if not re.fullmatch(r"[A-Z]{2}", value.strip()):
        raise _Invalid()
    return value.strip()


def _limit(value: str) -> Limit:
    match = re.fullmatch(r"\s*([0-9]{1,6})\s*/\s*([0-9]{1,6})\s*", value)
    if not match or int(match.group(2)) == 0:
        raise _Invalid()
    return Limit(int(match.group(1)), int(match.group(2)))


def _cidrs(value: str) -> tuple[Any, ...]:
    import ipaddress

    try:
        return tuple(ipaddress.ip_network(part, strict=False) for part in _csv(value))
    except ValueError:
        raise _Invalid() from None


def _timezone(value: str) -> str:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(value.strip())
    except (ZoneInfoNotFoundError, ValueError):
        raise _Invalid() from None
    return value.strip()


def _edge(value: str) -> str:
    if value.strip() not in ("", "cloudfront"):
        raise _Invalid()
    return value.strip()


def _delays(value: str) -> tuple[int, ...]:
    delays = _csv(value)
    if not delays or not all(d.isdigit() and int(d) <= 900 for d in delays):
        raise _Invalid()  # SQS delays a message by 15 minutes at most
    return tuple(int(d) for d in delays)


def _seconds(value: str) -> int:
    if not value.strip().isdigit():
        raise _Invalid()
    return int(value)


#: Environment variable -> (settings field, parser). Only these are read.
_VARIABLES: dict[str, tuple[str, Callable[[str], Any]]] = {
    "OLIVER_API_URL": ("oliver_api_url", _url),
    "OLIVER_SECRET_ID": ("oliver_secret_id", _text),
    "OLIVER_LOCATION_ID": ("oliver_location_id", _text),
    "EVENT_BUS_NAME": ("event_bus_name", _text),
    "EVENT_SOURCE": ("event_source", _text),
    "IDEMPOTENCY_TABLE_NAME": ("idempotency_table_name", _text),
    "ALLOWED_ORIGINS": ("allowed_origins", _origins),
    "ALLOWED_REDIRECTS": ("allowed_redirects", _redirects),
    "EVENT_DLQ_URL": ("event_dlq_url", _url),
    "WEBHOOK_SOURCES": ("webhook_sources", _sources),
    "WEBHOOK_SECRET_ID": ("webhook_secret_id", _text),
    "CAPTCHA_SECRET_ID": ("captcha_secret_id", _text),
    "CAPTCHA_VERIFY_URL": ("captcha_verify_url", _url),
    "HONEYPOT_FIELD": ("honeypot_field", _text),
    "DEFAULT_PHONE_REGION": ("default_phone_region", _region),
    "SECRET_MAX_AGE_SECONDS": ("secret_max_age_seconds", _seconds),
    "OPEN_TIMES_CACHE_SECONDS": ("open_times_cache_seconds", _seconds),
    "PRACTICE_TIMEZONE": ("practice_timezone", _timezone),
    "PRACTICE_NAME": ("practice_name", _text),
    "PRACTICE_PHONE": ("practice_phone", _text),
    "THROTTLE_TABLE_NAME": ("throttle_table_name", _text),
    "THROTTLE_KEY_SECRET_ID": ("throttle_key_secret_id", _text),
    "THROTTLE_EXEMPT_CIDRS": ("throttle_exempt_cidrs", _cidrs),
    "THROTTLE_BOOKINGS_PER_IP": ("bookings_per_ip", _limit),
    "THROTTLE_OPEN_TIMES_PER_IP": ("open_times_per_ip", _limit),
    "THROTTLE_MISSES_PER_CONTACT": ("misses_per_contact", _limit),
    "TRUSTED_EDGE": ("trusted_edge", _edge),
    "SETTLE_QUEUE_URL": ("settle_queue_url", _url),
    "SETTLE_BACKOFF_SECONDS": ("settle_backoff_seconds", _delays),
}
_REQUIRED = ("OLIVER_SECRET_ID", "EVENT_BUS_NAME", "IDEMPOTENCY_TABLE_NAME", "EVENT_DLQ_URL")


def read_environment(
    environ: Mapping[str, str],
    variables: Mapping[str, tuple[str, Callable[[str], Any]]],
    required: tuple[str, ...] = (),
) -> dict[str, Any]:
    """Field values from an environment: ``variables`` maps each variable to its field and
    parser; empty values count as unset. ``ConfigurationError`` names every variable that is
    missing or malformed (never its value). Shared by every function's configuration."""
    values: dict[str, Any] = {}
    problems = [name for name in required if not environ.get(name, "").strip()]
    for variable, (name, parse) in variables.items():
        raw = environ.get(variable, "")
        if not raw.strip():
            continue
        try:
            values[name] = parse(raw)
        except (ValueError, TypeError):
            problems.append(variable)
    if problems:
        raise ConfigurationError("missing or malformed: " + ", ".join(sorted(problems)))
    return values


def load_settings(environ: Mapping[str, str]) -> Settings:
    """Build settings from an environment; empty values count as unset."""
    return Settings(**read_environment(environ, _VARIABLES, _REQUIRED))


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The container's settings, read from the process environment once."""
    return load_settings(os.environ)
