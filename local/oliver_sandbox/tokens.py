"""HS256 JSON Web Tokens, standard library only (the sandbox signs with a fixed, public key)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from typing import Any

SIGNING_KEY = b"oliver-sandbox-signing-key (not a secret)"


def _b64encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def encode(claims: dict[str, Any], key: bytes = SIGNING_KEY) -> str:
    header = {"alg": "HS256", "typ": "JWT"}
    signing_input = ".".join(
        _b64encode(json.dumps(part, separators=(",", ":")).encode()) for part in (header, claims)
    )
    signature = hmac.new(key, signing_input.encode("ascii"), hashlib.sha256).digest()
    return f"{signing_input}.{_b64encode(signature)}"


def decode(token: str, key: bytes = SIGNING_KEY) -> dict[str, Any] | None:
    """The claims of a token signed with `key`, or None when it is malformed or forged.

    Expiry is not checked here."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        header = json.loads(_b64decode(parts[0]))
        claims = json.loads(_b64decode(parts[1]))
        signature = _b64decode(parts[2])
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(header, dict) or header.get("alg") != "HS256":
        return None
    expected = hmac.new(key, f"{parts[0]}.{parts[1]}".encode("ascii"), hashlib.sha256).digest()
    if not hmac.compare_digest(signature, expected) or not isinstance(claims, dict):
        return None
    return claims


def issue(subject: str, now: float, ttl_seconds: float, generation: int) -> str:
    issued_at = int(now)
    return encode(
        {
            "iss": "oliver-sandbox",
            "sub": subject,
            "role": "ROLE_API",
            "iat": issued_at,
            "exp": issued_at + int(ttl_seconds),
            "jti": str(uuid.uuid4()),
            "gen": generation,
        }
    )
