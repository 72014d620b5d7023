"""The consumers' configuration: one validated model of the environment, read once per container.

Separate from ``booking.config`` on purpose: the consumers need neither the bus nor the API's
knobs, and the API function's environment stays exactly what it is. A missing or malformed
variable is ``ConfigurationError`` naming the variable, never its value.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

# The parsers every function's configuration shares (a value that does not fit raises _Invalid).
from booking.config import (
    DEFAULT_OLIVER_API_URL,
    _Invalid,
    _region,
    _seconds,
    _text,
    _timezone,
    _url,
    read_environment,
)

_ON = {"on", "true", "yes", "1"}
_OFF = {"off", "false", "no", "0"}
_ADDRESS = re.compile(r"^[^@\s<>\"]{1,64}@[^@\s<>\".]+(\.[^@\s<>\".]+)+$")


@dataclass(frozen=True)
class NotifySettings:
    idempotency_table_name: str
    oliver_api_url: str = DEFAULT_OLIVER_API_URL
    oliver_secret_id: str = ""
    oliver_location_id: str | None = None
    practice_timezone: str = "America/Chicago"
    practice_name: str = ""
    practice_phone: str = ""
    default_phone_region: str = "US"
    #: The verified SES identity the confirmation emails come from; empty: no emails.
    notify_sender: str = ""
    staff_tasks: bool = True
    text_back: bool = False
    #: How long a consumer remembers an event id: a redelivery or an archive replay within it
    #: does nothing (the template sets it to the archive's retention).
    dedup_days: int = 30
    secret_max_age_seconds: int = 300

    @property
    def sender_domain(self) -> str:
        return self.notify_sender.rpartition("@")[2] or "localhost"


def _switch(value: str) -> bool:
    word = value.strip().lower()
    if word not in _ON | _OFF:
        raise _Invalid()
    return word in _ON


def _sender(value: str) -> str:
    if not _ADDRESS.match(value.strip()):
        raise _Invalid()
    return value.strip()


def _days(value: str) -> int:
    if not value.strip().isdigit() or not 1 <= int(value) <= 3653:
        raise _Invalid()
    return int(value)


#: Environment variable -> (settings field, parser). Only these are read.
VARIABLES: dict[str, tuple[str, Callable[[str], Any]]] = {
    "IDEMPOTENCY_TABLE_NAME": ("idempotency_table_name", _text),
    "OLIVER_API_URL": ("oliver_api_url", _url),
    "OLIVER_SECRET_ID": ("oliver_secret_id", _text),
    "OLIVER_LOCATION_ID": ("oliver_location_id", _text),
    "PRACTICE_TIMEZONE": ("practice_timezone", _timezone),
    "PRACTICE_NAME": ("practice_name", _text),
    "PRACTICE_PHONE": ("practice_phone", _text),
    "DEFAULT_PHONE_REGION": ("default_phone_region", _region),
    "NOTIFY_SENDER": ("notify_sender", _sender),
    "STAFF_TASKS": ("staff_tasks", _switch),
    "TEXT_BACK": ("text_back", _switch),
    "DEDUP_DAYS": ("dedup_days", _days),
    "SECRET_MAX_AGE_SECONDS": ("secret_max_age_seconds", _seconds),
}
_REQUIRED = ("IDEMPOTENCY_TABLE_NAME",)


def load_notify_settings(environ: Mapping[str, str]) -> NotifySettings:
    """Settings from an environment; empty values count as unset."""
    return NotifySettings(**read_environment(environ, VARIABLES, _REQUIRED))


def fingerprint(environ: Mapping[str, str] = os.environ) -> tuple[str | None, ...]:
    """The values everything built from this configuration depends on."""
    names = (*VARIABLES, "AWS_ENDPOINT_URL", "AWS_REGION", "AWS_DEFAULT_REGION")
    return tuple(environ.get(name) for name in names)
