"""Builds each adapter once per container (cached factories), from the validated settings.

Warm invocations reuse the HTTP connections, boto3 clients and caches built here; tests and the
local stack call ``reset()`` to start a new container with a new environment.
"""

from __future__ import annotations

import contextlib
import functools
import os
import threading
from collections.abc import Callable
from functools import cache, lru_cache
from typing import TYPE_CHECKING, Any

import boto3
import httpx
from botocore.config import Config

from booking.budget import Budget
from booking.captcha import CaptchaVerifier
from booking.config import Settings, get_settings
from booking.credentials import CredentialProvider
from booking.idempotency import IdempotencyGuard
from booking.oliver import OliverClient
from booking.open_times import OpenTimes
from booking.publisher import EventPublisher
from booking.secret_store import SecretStore
from booking.store import Counters, RecentBookings, UnknownOutcomeMarkers
from booking.throttle import VisitorThrottle

if TYPE_CHECKING:
    from booking.service import BookingService
    from booking.settle import SettleQueue

#: AWS calls sit on the request path: fail fast and let our own policies decide what next.
_AWS_CONFIG = Config(
    connect_timeout=2, read_timeout=3, retries={"max_attempts": 2, "mode": "standard"}
)


def settings() -> Settings:
    return get_settings()


def aws_client(service: str) -> Any:
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    return _aws_client(service, region, os.environ.get("AWS_ENDPOINT_URL"))


@cache
def _aws_client(service: str, region: str, endpoint: str | None) -> Any:
    # Keyed by where it talks to: a harness that starts a new container in the same process
    # (``reset``) reuses the clients that still point at the same place.
    return boto3.client(service, region_name=region, config=_AWS_CONFIG)  # type: ignore[call-overload]


@lru_cache(maxsize=1)
def http_client() -> httpx.Client:
    return OliverClient.build_http_client(settings().oliver_api_url)


@lru_cache(maxsize=1)
def secrets() -> SecretStore:
    return SecretStore(aws_client("secretsmanager"), settings().secret_max_age_seconds)


def read_secret(secret_id: str, variable: str, fresh: bool = False, transform: Any = None) -> Any:
    return secrets().read(secret_id, variable, fresh, transform)


@lru_cache(maxsize=1)
def oliver() -> OliverClient:
    return OliverClient(settings().oliver_api_url, http_client())


@lru_cache(maxsize=1)
def credentials() -> CredentialProvider:
    config = settings()
    return CredentialProvider(
        read_secret=lambda fresh: read_secret(config.oliver_secret_id, "OLIVER_SECRET_ID", fresh),
        sign_in=oliver().sign_in,
        location_override=config.oliver_location_id,
        # A token this container had to sign in for after a 401 goes back into the secret for
        # the other containers (the role may write it only with SharedSignIn on).
        write_secret=lambda value: aws_client("secretsmanager").put_secret_value(
            SecretId=config.oliver_secret_id, SecretString=value
        ),
    )


@lru_cache(maxsize=1)
def publisher() -> EventPublisher:
    config = settings()
    return EventPublisher(
        aws_client("events"),
        lambda: aws_client("sqs"),
        config.event_bus_name,
        config.event_source,
        config.event_dlq_url,
    )


@lru_cache(maxsize=1)
def guard() -> IdempotencyGuard:
    return IdempotencyGuard(settings().idempotency_table_name, aws_client("dynamodb"))


@lru_cache(maxsize=1)
def open_times() -> OpenTimes:
    config = settings()
    return OpenTimes(
        config.practice_timezone,
        config.open_times_cache_seconds,
        RecentBookings(aws_client("dynamodb"), config.idempotency_table_name),
    )


@lru_cache(maxsize=1)
def _process_throttle_key() -> bytes:
    from booking.telemetry import logger

    logger.warning("THROTTLE_KEY_SECRET_ID is not set: visitor counters use a per-container key")
    return os.urandom(32)


def throttle_key() -> bytes:
    """The HMAC key of visitor counters (a secret of its own, cached like every secret)."""
    secret_id = settings().throttle_key_secret_id
    if not secret_id:
        return _process_throttle_key()
    return str(read_secret(secret_id, "THROTTLE_KEY_SECRET_ID")).strip().encode()


@lru_cache(maxsize=1)
def throttle() -> VisitorThrottle:
    from booking import telemetry

    config = settings()
    return VisitorThrottle(
        Counters(aws_client("dynamodb"), config.table_for_throttling),
        throttle_key,
        config.throttle_exempt_cidrs,
        config.default_phone_region,
        count=telemetry.count,
    )


@lru_cache(maxsize=1)
def captcha() -> CaptchaVerifier | None:
    """The CAPTCHA check of public forms, when the deployment turned it on."""
    secret_id = settings().captcha_secret_id
    if not secret_id:
        return None
    return CaptchaVerifier(
        settings().captcha_verify_url,
        lambda: str(read_secret(secret_id, "CAPTCHA_SECRET_ID")).strip(),
    )


def webhook_secret_document() -> Any:
    secret_id = settings().webhook_secret_id
    if not secret_id:
        return {}
    return read_secret(secret_id, "WEBHOOK_SECRET_ID", transform="json")


@lru_cache(maxsize=1)
def booking_service() -> BookingService:
    # The logic and its pydantic models load with the first request that needs them.
    from zoneinfo import ZoneInfo

    from booking import telemetry
    from booking.service import BookingService, Practice

    config = settings()
    return BookingService(
        oliver=oliver(),
        credentials=credentials(),
        publisher=publisher(),
        guard=guard(),
        markers=UnknownOutcomeMarkers(
            aws_client("dynamodb"), config.idempotency_table_name, guard().records.record_id
        ),
        open_times=open_times(),
        throttle=throttle(),
        practice=Practice(
            zone=ZoneInfo(config.practice_timezone),
            phone=config.practice_phone,
            phone_region=config.default_phone_region,
            misses_per_contact=config.misses_per_contact,
            honeypot_field=config.honeypot_field,
        ),
        captcha=captcha(),
        count=telemetry.count,
        settle_queue=settle_queue(),
    )


def settle_queue() -> SettleQueue | None:
    config = settings()
    if not config.settle_queue_url:
        return None
    from booking.settle import SettleQueue

    return SettleQueue(
        lambda: aws_client("sqs"), config.settle_queue_url, config.settle_backoff_seconds
    )


def prime(read_ahead: bool = False) -> None:
    """Build at init what every booking needs (Lambda's init phase runs with a full CPU, and a
    visitor waits for init and first invocation alike): the clients, the connection pool, the
    validation models and the booking logic. A configuration error is left for the first
    request to answer (503, not a failed init). ``read_ahead``: also read the secrets meanwhile
    (``start_read_ahead``); never before a SnapStart snapshot, which must not keep them."""
    from booking.errors import ConfigurationError

    try:
        settings()
    except ConfigurationError:
        return
    for service in ("secretsmanager", "dynamodb", "events"):
        aws_client(service)
    http_client()
    if read_ahead:
        start_read_ahead()
    booking_service()
    import phonenumbers  # noqa: F401 - most forms carry a phone; its import is the slow part


def reads_ahead() -> bool:
    """Whether this init may read secrets: an on-demand or provisioned container's init (the
    Lambda runtime says which), not the init a SnapStart snapshot is taken of."""
    kind = os.environ.get("AWS_LAMBDA_INITIALIZATION_TYPE")
    return kind in ("on-demand", "provisioned-concurrency")


#: The secrets being read at init, on a thread of their own (``start_read_ahead``).
_reading_ahead: threading.Thread | None = None
#: The most the first request waits for them: after that, it reads what it needs itself.
READ_AHEAD_SECONDS = 5.0


def start_read_ahead() -> None:
    """Read, on a thread of its own, the secrets a request will read (and Oliver's token,
    signing in when the secret holds credentials), while init goes on importing and building:
    the network waits of the first request are then spent during init's CPU work. The first
    request waits for it (``await_read_ahead``); a read that fails is left for the request that
    needs it, which reads again and answers as it would have."""
    global _reading_ahead
    config = settings()
    secrets()  # built here, before the thread: one store, shared by the requests
    provider = credentials()
    # The readers the requests use (so the same cache entries), each only when configured.
    reads: list[Callable[[], object]] = [lambda: provider.get(Budget(READ_AHEAD_SECONDS))]
    if config.webhook_secret_id:
        reads.append(webhook_secret_document)
    if config.throttle_key_secret_id:
        reads.append(throttle_key)
    if config.captcha_secret_id:
        reads.append(functools.partial(read_secret, config.captcha_secret_id, "CAPTCHA_SECRET_ID"))

    def read_ahead() -> None:
        for read in reads:
            with contextlib.suppress(Exception):
                read()

    _reading_ahead = threading.Thread(target=read_ahead, name="read-ahead", daemon=True)
    _reading_ahead.start()


def await_read_ahead() -> None:
    """At the start of an invocation: the first one waits for the read-ahead of init."""
    global _reading_ahead
    thread, _reading_ahead = _reading_ahead, None
    if thread is not None:
        thread.join(READ_AHEAD_SECONDS)


def after_restore() -> None:
    """A container restored from a SnapStart snapshot (``booking.snapstart``): new connections,
    secrets and token read again (ahead of the first request), new random state; the clients and
    everything imported are kept, and the adapters are built again at once (cheap: nothing is
    imported)."""
    import random

    random.seed()
    if http_client.cache_info().currsize:
        http_client().close()
    reset()
    prime(read_ahead=True)


def budget(context: Any) -> Budget:
    return Budget.from_context(context)


def reset() -> None:
    """Forget everything built so far: what is built next follows the current environment. For
    harnesses that start a new "container" in the same process (tests, the local stack), and
    for a container restored from a SnapStart snapshot (``after_restore``); nothing on the hot
    path calls this."""
    await_read_ahead()  # it writes into this container's caches: never into the next one's
    get_settings.cache_clear()
    for factory in (
        http_client,
        secrets,
        oliver,
        credentials,
        publisher,
        guard,
        open_times,
        _process_throttle_key,
        throttle,
        captcha,
        booking_service,
    ):
        factory.cache_clear()
