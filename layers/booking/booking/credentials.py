"""Oliver credentials from Secrets Manager (through Powertools parameters), cached.

The secret is a bare token, ``{"token", "location_id"}``, or partner credentials
``{"username", "password", "location_id"}`` that are exchanged for a JWT at sign-in. The
secret is reused for ``max_age`` seconds and a JWT until shortly before its ``exp``.

With credentials, the secret may also carry the deployment's shared JWT: ``token`` and
``token_expires_at`` (epoch seconds), written by the token refresher (``booking.token_refresher``)
with ``PutSecretValue``. While that token is current every container uses it and none signs in,
so a sign-in that revokes earlier tokens cannot set containers against each other. Without one
(before the refresher's first run, or with it off) a container signs in itself, as before.

After a 401, ``refresh`` reads the secret afresh. A shared token other than the refused one is
used (the refresher or another container rotated it). Otherwise the container signs in itself and
writes its new token back into the secret (``write_secret``), so that the other containers take
it at their next fresh read instead of each signing in. A token Oliver refused is never offered
again by this container.
"""

from __future__ import annotations

import base64
import json
import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from booking.budget import Budget
from booking.errors import ConfigurationError

#: A JWT is renewed this long before it expires; one without ``exp`` is kept this long.
JWT_EARLY_RENEWAL = 60
JWT_DEFAULT_LIFETIME = 600
#: Tokens Oliver refused that a container remembers (never to offer them again).
REFUSED_REMEMBERED = 16
#: Secrets Manager errors that say this function may not write the secret (SharedSignIn off).
_WRITE_DENIED = {"AccessDeniedException", "AccessDenied"}


@dataclass(frozen=True)
class Credentials:
    token: str = field(repr=False)
    location_id: str


@dataclass(frozen=True)
class _Secret:
    #: The bare-token and ``{"token", "location_id"}`` forms: used as it is, no sign-in.
    token: str | None = field(repr=False)
    username: str | None
    password: str | None = field(repr=False)
    location_id: str | None
    #: With credentials: the deployment's current JWT and when it expires, when the secret has one.
    shared_token: str | None = field(default=None, repr=False)
    shared_expires_at: float | None = None

    def shared_expiry(self) -> float | None:
        """When the shared token expires: the earlier of ``token_expires_at`` and its ``exp``;
        None when neither is known."""
        if self.shared_token is None:
            return None
        known = [t for t in (self.shared_expires_at, jwt_exp(self.shared_token)) if t is not None]
        return min(known) if known else None

    def shared_usable(self, now: float) -> bool:
        """The shared token is there and not within the early-renewal margin of its expiry."""
        if self.shared_token is None:
            return False
        expiry = self.shared_expiry()
        return expiry is None or expiry - JWT_EARLY_RENEWAL > now


def _epoch(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


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
    token = token if isinstance(token, str) and token else None
    if isinstance(username, str) and username and isinstance(password, str) and password:
        return _Secret(
            None, username, password, location, token, _epoch(value.get("token_expires_at"))
        )
    if token is not None:
        return _Secret(token, None, None, location)
    raise ConfigurationError(
        f"the secret named by {variable} has neither a token nor username and password"
    )


def jwt_exp(token: str) -> float | None:
    """The JWT's ``exp`` claim (not verified: only to know when to renew), or None."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        exp = float(claims["exp"])
    except (IndexError, ValueError, KeyError, TypeError):
        return None
    return exp if math.isfinite(exp) else None


def jwt_expiry(token: str, now: float) -> float:
    """When to stop using a JWT: shortly before its ``exp``, or after a default lifetime."""
    exp = jwt_exp(token)
    return now + JWT_DEFAULT_LIFETIME if exp is None else exp - JWT_EARLY_RENEWAL


def token_expires_at(token: str, now: float) -> int:
    """What the secret records as ``token_expires_at``: the JWT's ``exp``, or the default
    lifetime from now when it has none."""
    exp = jwt_exp(token)
    return int(now + JWT_DEFAULT_LIFETIME) if exp is None else int(exp)


def secret_with_token(raw: object, token: str, expires_at: int) -> str:
    """The credentials secret's JSON with ``token`` and ``token_expires_at`` set; every other
    field (username, password, location_id, anything else) as it was."""
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8", errors="replace")
    value = json.loads(str(raw))
    if not isinstance(value, dict):
        raise ConfigurationError("the secret named by OLIVER_SECRET_ID is not a JSON object")
    value["token"] = token
    value["token_expires_at"] = expires_at
    return json.dumps(value)


class CredentialProvider:
    def __init__(
        self,
        read_secret: Callable[[bool], Any],
        sign_in: Callable[[str, str, Budget], str],
        location_override: str | None,
        clock: Callable[[], float] = time.time,
        write_secret: Callable[[str], object] | None = None,
    ) -> None:
        self._read_secret = read_secret
        self._sign_in = sign_in
        self._location_override = location_override
        self._clock = clock
        self._write_secret = write_secret
        self._jwt: tuple[str, float, str] | None = None  # own sign-in: (token, valid until, user)
        self._refused: deque[str] = deque(maxlen=REFUSED_REMEMBERED)
        self._handed = threading.local()  # the token last handed out on this thread
        self._lock = threading.Lock()

    def get(self, budget: Budget) -> Credentials:
        return self._credentials(budget, after_refusal=False)

    def refresh(self, budget: Budget) -> Credentials:
        """After a 401 (for the token last handed out on this thread): read the secret afresh,
        take a rotated token from it, or else sign in again (and share the new token)."""
        refused = getattr(self._handed, "token", None)
        with self._lock:
            self._jwt = None
            if refused is not None and refused not in self._refused:
                self._refused.append(refused)
        return self._credentials(budget, after_refusal=True)

    def _hand(self, token: str, location: str) -> Credentials:
        self._handed.token = token
        return Credentials(token, location)

    def _credentials(self, budget: Budget, after_refusal: bool) -> Credentials:
        raw = self._read_secret(after_refusal)
        secret = parse_secret(raw)
        location = self._location_override or secret.location_id
        if not location:
            raise ConfigurationError(
                "no location id: set OLIVER_LOCATION_ID or location_id in the Oliver secret"
            )
        if secret.token is not None:
            return self._hand(secret.token, location)
        assert secret.username is not None and secret.password is not None
        now = self._clock()
        with self._lock:
            shared = secret.shared_token
            if shared is not None and shared not in self._refused and secret.shared_usable(now):
                return self._hand(shared, location)
            cached = self._jwt
        if cached and cached[2] == secret.username and cached[1] > now:
            return self._hand(cached[0], location)
        token = self._sign_in(secret.username, secret.password, budget)
        with self._lock:
            self._jwt = (token, jwt_expiry(token, now), secret.username)
        if after_refusal:
            self._share(raw, token, now)
        return self._hand(token, location)

    def _share(self, raw: object, token: str, now: float) -> None:
        """Write a token this container had to sign in for into the secret (best effort: the
        token is good for this container whatever happens here)."""
        from booking.telemetry import logger

        write = self._write_secret
        if write is None:
            return
        try:
            write(secret_with_token(raw, token, token_expires_at(token, now)))
        except Exception as exc:
            code = getattr(exc, "response", {}).get("Error", {}).get("Code", "")
            if code in _WRITE_DENIED:
                # This function may not write the secret (SharedSignIn off): never try again.
                self._write_secret = None
            logger.warning(
                "signed in to Oliver after a 401 but could not share the token in the secret",
                extra={"error": code or type(exc).__name__},
            )
            return
        logger.info("signed in to Oliver after a 401 and shared the new token in the secret")
