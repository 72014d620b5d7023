"""Builds the consumers' adapters once per container (cached factories), from their settings.

Like ``booking.container`` but for the consumers: their own boto3 clients (timeouts fit for a
queue consumer, not a visitor's request), their own Oliver connection pool and credentials.
``refresh()`` at the start of every invocation rebuilds everything when the environment changed
(never on Lambda; a test harness or the local stack may change it).
"""

from __future__ import annotations

import os
from functools import cache, lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from botocore.config import Config

from booking.budget import Budget
from booking.credentials import CredentialProvider
from booking.notify.settings import NotifySettings, fingerprint, load_notify_settings
from booking.oliver import OliverClient, OliverGateway
from booking.secret_store import SecretStore

#: Retries of our own stay with SQS (a failed record is delivered again); botocore only smooths
#: over a passing throttle or network fault.
_AWS_CONFIG = Config(
    connect_timeout=3, read_timeout=10, retries={"max_attempts": 3, "mode": "standard"}
)


@lru_cache(maxsize=1)
def settings() -> NotifySettings:
    return load_notify_settings(os.environ)


def zone() -> ZoneInfo:
    return ZoneInfo(settings().practice_timezone)


@cache
def aws_client(service: str) -> Any:
    import boto3

    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    return boto3.client(service, region_name=region, config=_AWS_CONFIG)  # type: ignore[call-overload]


@lru_cache(maxsize=1)
def _secrets() -> SecretStore:
    return SecretStore(aws_client("secretsmanager"), settings().secret_max_age_seconds)


def _read_oliver_secret(fresh: bool) -> Any:
    secret_id = settings().oliver_secret_id
    if not secret_id:
        from booking.errors import ConfigurationError

        raise ConfigurationError("missing or malformed: OLIVER_SECRET_ID")
    return _secrets().read(secret_id, "OLIVER_SECRET_ID", fresh)


@lru_cache(maxsize=1)
def _oliver() -> OliverClient:
    api_url = settings().oliver_api_url
    return OliverClient(api_url, OliverClient.build_http_client(api_url))


@lru_cache(maxsize=1)
def _credentials() -> CredentialProvider:
    return CredentialProvider(
        read_secret=_read_oliver_secret,
        sign_in=_oliver().sign_in,
        location_override=settings().oliver_location_id,
    )


def oliver(request_id: str, budget: Budget) -> OliverGateway:
    """Oliver for one event: the gateway brings the credentials and the 401 refresh."""
    return OliverGateway(_oliver(), _credentials(), request_id, budget)


_built_for: tuple[str | None, ...] | None = None
_FACTORIES: list[Any] = [settings, aws_client, _secrets, _oliver, _credentials]


def on_reset(factory: Any) -> Any:
    """Register another cached factory to forget when the environment changes."""
    _FACTORIES.append(factory)
    return factory


def refresh() -> None:
    global _built_for
    current = fingerprint()
    if current != _built_for:
        _built_for = current
        for factory in _FACTORIES:
            factory.cache_clear()
