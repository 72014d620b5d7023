"""Oliver credentials from Secrets Manager (through Powertools parameters), cached.

The secret is a bare token, ``{"token", "location_id"}``, or partner credentials
``{"username", "password", "location_id"}`` that are exchanged for a JWT at sign-in. The
secret is reused for ``max_age`` seconds and the JWT until shortly before its ``exp``; after a
401, ``refresh`` reads the secret afresh (it may have been rotated) and signs in again.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from booking.budget import Budget
from booking.errors import ConfigurationError

#: A JWT is renewed this long before it expires; one without ``exp`` is kept this long.
JWT_EARLY_RENEWAL = 60
JWT_DEFAULT_LIFETIME = 600


@dataclass(frozen=True)
class Credentials:
    token: str = field(repr=False)
    location_id: str


@dataclass(frozen=True)
class _Secret:
    token: str | None
    username: str | None
    password: str | None
    location_id: str | None


def parse_secret(raw: object, variable: str = "OLIVER_SECRET_ID") -> _Secret:
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8", errors="replace")
    if not isinstance(raw, str) or not raw.strip():
        raise ConfigurationError(f"the secret named by {variable} is empty")
    text = raw.strip()
    if not text.startswith("{"):
        if any(ch.isspace() for ch in text):
            raise ConfigurationError(f"the secret named by {variable} is not a token or JSON")
        return _Secret(text, None, None, None)
    try:
        value = json.loads(text)
    except ValueError:
        raise ConfigurationError(f"the secret named by {variable} is not valid JSON") from None
    if not isinstance(value, dict):
        raise ConfigurationError(f"the secret named by {variable} is not a JSON object")
    location = value.get("location_id")
    location = str(location) if location not in (None, "") else None
    token, username, password = value.get("token"), value.get("username"), value.get("password")
    if isinstance(token, str) and token:
        return _Secret(token, None, None, location)
    if isinstance(username, str) and username and isinstance(password, str) and password:
        return _Secret(None, username, password, location)
    raise ConfigurationError(
        f"the secret named by {variable} has neither a token nor username and password"
    )


def jwt_expiry(token: str, now: float) -> float:
    """When to stop using a JWT: shortly before its ``exp``, or after a default lifetime."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        exp = float(claims["exp"])
    except (IndexError, ValueError, KeyError, TypeError):
        return now + JWT_DEFAULT_LIFETIME
    return exp - JWT_EARLY_RENEWAL


class CredentialProvider:
    def __init__(
        self,
        read_secret: Callable[[bool], Any],
        sign_in: Callable[[str, str, Budget], str],
        location_override: str | None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._read_secret = read_secret
        self._sign_in = sign_in
        self._location_override = location_override
        self._clock = clock
        self._jwt: tuple[str, float, str] | None = None  # (token, valid until, username)
        self._lock = threading.Lock()

    def get(self, budget: Budget) -> Credentials:
        return self._credentials(budget, fresh=False)

    def refresh(self, budget: Budget) -> Credentials:
        """After a 401: read the secret afresh and sign in again."""
        with self._lock:
            self._jwt = None
        return self._credentials(budget, fresh=True)

    def _credentials(self, budget: Budget, fresh: bool) -> Credentials:
        secret = parse_secret(self._read_secret(fresh))
        location = self._location_override or secret.location_id
        if not location:
            raise ConfigurationError(
                "no location id: set OLIVER_LOCATION_ID or location_id in the Oliver secret"
            )
        if secret.token is not None:
            return Credentials(secret.token, location)
        assert secret.username is not None and secret.password is not None
        now = self._clock()
        with self._lock:
            cached = self._jwt
        if cached and cached[2] == secret.username and cached[1] > now:
            return Credentials(cached[0], location)
        token = self._sign_in(secret.username, secret.password, budget)
        with self._lock:
            self._jwt = (token, jwt_expiry(token, now), secret.username)
        return Credentials(token, location)
