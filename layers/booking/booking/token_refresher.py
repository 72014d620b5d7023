"""One sign-in for the whole deployment: the token refresher (``functions/token_refresher``).

Run on a schedule (every ``TokenRefreshMinutes``, template parameter ``SharedSignIn`` on), it
reads the Oliver secret and, when the secret holds partner credentials, signs in once and writes
the JWT back into the same secret with ``PutSecretValue``: the same JSON (``username``,
``password``, ``location_id`` and anything else) plus ``token`` and ``token_expires_at`` (epoch
seconds: the JWT's ``exp``, or ten minutes from now when it has none). A new version becomes
``AWSCURRENT``, as a Secrets Manager rotation would make it. The functions read that token
(``booking.credentials``) and never sign in while it is current.

It signs in only when it must: the secret has no token yet, its expiry is unknown, or it expires
before the next run plus ``RENEW_AHEAD``. Each write is a new secret version, and Secrets Manager
keeps every version of the last 24 hours (at most 100 are removed): signing in at every run
would exhaust them when runs come more often than every 15 minutes. A bare token or
``{"token", "location_id"}`` secret is left alone.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from booking.budget import Budget
from booking.credentials import (
    parse_secret,
    secret_with_token,
    token_expires_at,
)
from booking.errors import ConfigurationError

#: Beyond the schedule's interval, how long before its expiry the shared token is replaced: a
#: reader's cached secret (5 minutes), its early-renewal minute and a late or failed run.
RENEW_AHEAD = 600
DEFAULT_INTERVAL_MINUTES = 10


@dataclass(frozen=True)
class Refresh:
    """What one run did (returned by the function and logged; never the token)."""

    signed_in: bool
    #: ``signed_in``: no_token, expiring, unknown_expiry or forced; otherwise current (nothing
    #: to do), no_credentials (a token-form secret) or secret_changed (edited meanwhile).
    reason: str
    expires_at: int | None = None
    #: Seconds the new token lives (from the sign-in to its expiry).
    lifetime: int | None = None


def _value(answer: dict[str, Any]) -> Any:
    return answer["SecretString"] if "SecretString" in answer else answer.get("SecretBinary")


def refresh(
    secrets: Any,
    secret_id: str,
    sign_in: Callable[[str, str, Budget], str],
    budget: Budget,
    interval: float,
    *,
    force: bool = False,
    clock: Callable[[], float] = time.time,
) -> Refresh:
    """Sign in and write the token into the secret when the secret holds credentials and its
    token will not last until the next run (plus ``RENEW_AHEAD``)."""
    raw = _value(secrets.get_secret_value(SecretId=secret_id))
    secret = parse_secret(raw)
    if secret.username is None or secret.password is None:
        return Refresh(False, "no_credentials")
    now = clock()
    expiry = secret.shared_expiry()
    if force:
        reason = "forced"
    elif secret.shared_token is None:
        reason = "no_token"
    elif expiry is None:
        reason = "unknown_expiry"
    elif expiry - now <= interval + RENEW_AHEAD:
        reason = "expiring"
    else:
        return Refresh(False, "current", int(expiry))
    token = sign_in(secret.username, secret.password, budget)
    expires_at = token_expires_at(token, now)
    # Written over the secret as it is now, not as it was before the sign-in: an operator who
    # changed the credentials meanwhile keeps the change (the next run signs in with them).
    latest_raw = _value(secrets.get_secret_value(SecretId=secret_id))
    latest = parse_secret(latest_raw)
    if (latest.username, latest.password, latest.location_id) != (
        secret.username,
        secret.password,
        secret.location_id,
    ):
        return Refresh(False, "secret_changed")
    secrets.put_secret_value(
        SecretId=secret_id, SecretString=secret_with_token(latest_raw, token, expires_at)
    )
    return Refresh(True, reason, expires_at, int(expires_at - now))


def _interval_seconds() -> float:
    text = os.environ.get("TOKEN_REFRESH_MINUTES", "").strip() or str(DEFAULT_INTERVAL_MINUTES)
    try:
        minutes = float(text)
    except ValueError:
        raise ConfigurationError("missing or malformed: TOKEN_REFRESH_MINUTES") from None
    if not 0 < minutes <= 24 * 60:
        raise ConfigurationError("missing or malformed: TOKEN_REFRESH_MINUTES")
    return minutes * 60


def run(event: Any, context: Any) -> dict[str, Any]:
    """The function's work: configuration from the environment, one ``refresh``, its log line
    and metric. Any failure is raised (the function's errors alarm fires); nothing logged
    carries the token or the password."""
    from booking import container
    from booking.config import DEFAULT_OLIVER_API_URL
    from booking.oliver import OliverClient
    from booking.telemetry import count, logger

    secret_id = os.environ.get("OLIVER_SECRET_ID", "").strip()
    if not secret_id:
        raise ConfigurationError("missing or malformed: OLIVER_SECRET_ID")
    interval = _interval_seconds()
    api_url = os.environ.get("OLIVER_API_URL", "").strip() or DEFAULT_OLIVER_API_URL
    oliver = OliverClient(api_url, container.http_client())
    force = isinstance(event, dict) and event.get("force") is True
    try:
        result = refresh(
            container.aws_client("secretsmanager"),
            secret_id,
            oliver.sign_in,
            Budget.from_context(context),
            interval,
            force=force,
        )
    except Exception as exc:
        code = getattr(exc, "response", {}).get("Error", {}).get("Code", "")
        logger.error(
            "the Oliver token was not refreshed", extra={"error": code or type(exc).__name__}
        )
        raise
    details = asdict(result)
    if result.signed_in:
        count("OliverTokenRefreshed")
        logger.info("signed in to Oliver and wrote the token into the secret", extra=details)
        if result.lifetime is not None and result.lifetime <= interval + RENEW_AHEAD:
            logger.warning(
                "the Oliver token lives no longer than TokenRefreshMinutes plus 10 minutes: every "
                "run signs in and writes a new secret version, and Secrets Manager keeps those "
                "of the last 24 hours (at most about 100 fit); consider SharedSignIn off",
                extra=details,
            )
    elif result.reason == "secret_changed":
        logger.warning(
            "the Oliver secret's credentials changed while signing in; left as it is (the next "
            "run signs in with the new ones)"
        )
    else:
        logger.info("the Oliver token needs no refresh", extra=details)
    return details
