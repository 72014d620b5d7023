"""The function's configuration: one validated model of the environment (CONTRACT §2).

Read once per container. A missing or malformed variable becomes ``ConfigurationError``
naming the variable (never its value), answered as 503 ``configuration_error``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from functools import lru_cache
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from booking.errors import ConfigurationError

DEFAULT_OLIVER_API_URL = "https://partner-api.getoliver.com/services/core/open_api/v1"
DEFAULT_CAPTCHA_VERIFY_URL = "https://challenges.cloudflare.com/turnstile/v0/siteverify"


class WebhookSource(BaseModel):
    """One entry of ``WEBHOOK_SOURCES``: how a partner signs, and where its fields are."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    scheme: Literal["standard-webhooks", "hmac-sha256"]
    header: str = "X-Webhook-Signature"
    encoding: Literal["hex", "base64"] = "hex"
    prefix: str = ""
    timestamp_header: str | None = None
    tolerance_seconds: int = Field(default=300, ge=1, le=86_400)
    id_header: str | None = None
    id_field: str | None = None
    map: dict[str, str] = Field(default_factory=dict)


def _csv(value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    return tuple(value)  # type: ignore[arg-type]


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True)

    oliver_api_url: str = DEFAULT_OLIVER_API_URL
    oliver_secret_id: str
    oliver_location_id: str | None = None
    event_bus_name: str
    event_source: str = "booking.webhook"
    idempotency_table_name: str
    allowed_origins: tuple[str, ...] = ()
    allowed_redirects: tuple[str, ...] = ()
    event_dlq_url: str
    webhook_sources: dict[str, WebhookSource] = Field(default_factory=dict)
    webhook_secret_id: str | None = None
    captcha_secret_id: str | None = None
    captcha_verify_url: str = DEFAULT_CAPTCHA_VERIFY_URL
    honeypot_field: str = "website"
    default_phone_region: str = Field(default="US", pattern=r"^[A-Z]{2}$")
    #: How long a secret read is reused before Secrets Manager is asked again.
    secret_max_age_seconds: int = 300
    #: How long an open-times answer is reused per query.
    open_times_cache_seconds: int = 60

    @field_validator("oliver_api_url", "captcha_verify_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")):
            raise ValueError("must be an http(s) URL")
        return value.rstrip("/")

    @field_validator("allowed_origins", mode="before")
    @classmethod
    def _origins(cls, value: object) -> tuple[str, ...]:
        return tuple(origin.rstrip("/").lower() for origin in _csv(value))

    @field_validator("allowed_redirects", mode="before")
    @classmethod
    def _redirects(cls, value: object) -> tuple[str, ...]:
        prefixes = _csv(value)
        for prefix in prefixes:
            if not prefix.startswith(("https://", "http://")):
                raise ValueError("every prefix must be an http(s) URL")
        return prefixes

    @field_validator("webhook_sources", mode="before")
    @classmethod
    def _sources(cls, value: object) -> object:
        return json.loads(value) if isinstance(value, str) else value


#: Environment variable -> settings field. Only these are read.
_VARIABLES = {
    "OLIVER_API_URL": "oliver_api_url",
    "OLIVER_SECRET_ID": "oliver_secret_id",
    "OLIVER_LOCATION_ID": "oliver_location_id",
    "EVENT_BUS_NAME": "event_bus_name",
    "EVENT_SOURCE": "event_source",
    "IDEMPOTENCY_TABLE_NAME": "idempotency_table_name",
    "ALLOWED_ORIGINS": "allowed_origins",
    "ALLOWED_REDIRECTS": "allowed_redirects",
    "EVENT_DLQ_URL": "event_dlq_url",
    "WEBHOOK_SOURCES": "webhook_sources",
    "WEBHOOK_SECRET_ID": "webhook_secret_id",
    "CAPTCHA_SECRET_ID": "captcha_secret_id",
    "CAPTCHA_VERIFY_URL": "captcha_verify_url",
    "HONEYPOT_FIELD": "honeypot_field",
    "DEFAULT_PHONE_REGION": "default_phone_region",
    "SECRET_MAX_AGE_SECONDS": "secret_max_age_seconds",
    "OPEN_TIMES_CACHE_SECONDS": "open_times_cache_seconds",
}
_FIELD_TO_VARIABLE = {field: variable for variable, field in _VARIABLES.items()}


def load_settings(environ: Mapping[str, str]) -> Settings:
    """Build settings from an environment; empty values count as unset."""
    values = {
        field: environ[variable]
        for variable, field in _VARIABLES.items()
        if environ.get(variable, "").strip()
    }
    try:
        return Settings.model_validate(values)
    except (ValidationError, json.JSONDecodeError) as exc:
        if isinstance(exc, ValidationError):
            names = sorted(
                {_FIELD_TO_VARIABLE.get(str(err["loc"][0]), str(err["loc"][0])) for err in exc.errors()}
            )
        else:
            names = ["WEBHOOK_SOURCES"]
        raise ConfigurationError("missing or malformed: " + ", ".join(names)) from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The container's settings, read from the process environment once."""
    return load_settings(os.environ)
