"""Signed partner webhooks: signature schemes, delivery ids and field maps (README: For
partners).

Signatures are checked on the raw body before anything parses it. Comparison is constant-time;
the caller only ever learns "invalid_signature", the log learns why (never the secret).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import time
from collections.abc import Mapping
from typing import Any

from booking.config import WebhookSource
from booking.errors import SignatureRejected

_UNIX_SECONDS = re.compile(r"-?[0-9]{1,15}")


def _fresh(timestamp: str | None, tolerance: int, now: float) -> None:
    # ASCII digits only: str.isdigit() also accepts "²", which int() refuses (a 500), and an
    # unbounded length would reach int()'s digit limit.
    if timestamp is None or not _UNIX_SECONDS.fullmatch(timestamp):
        raise SignatureRejected("missing or malformed timestamp")
    if abs(now - int(timestamp)) > tolerance:
        raise SignatureRejected("timestamp outside the tolerance")


def _standard_key(secret: str) -> bytes:
    encoded = secret.removeprefix("whsec_")
    try:
        # Padding is optional, as in the reference implementation (standardwebhooks).
        return base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except ValueError:
        return secret.encode()


def _same(expected: str, offered: str) -> bool:
    """Constant-time comparison of anything a caller may send (compare_digest refuses str with
    non-ASCII characters, which a forged header may well contain)."""
    return hmac.compare_digest(expected.encode(), offered.encode("utf-8", "surrogatepass"))


def verify_signature(
    source: WebhookSource,
    secrets: list[str],
    headers: Mapping[str, str],
    body: bytes,
    now: float | None = None,
) -> None:
    """Raise ``SignatureRejected`` unless one of ``secrets`` signed this delivery."""
    now = time.time() if now is None else now
    if not secrets:
        raise SignatureRejected("no signing secret configured for this source")
    if source.scheme == "standard-webhooks":
        msg_id, timestamp = headers.get("webhook-id"), headers.get("webhook-timestamp")
        signatures = headers.get("webhook-signature", "")
        if not msg_id:
            raise SignatureRejected("missing webhook-id")
        _fresh(timestamp, source.tolerance_seconds, now)
        signed = f"{msg_id}.{timestamp}.".encode() + body
        offered = [
            part.split(",", 1)[1]
            for part in signatures.split()
            if part.startswith("v1,") and "," in part
        ]
        for secret in secrets:
            expected = base64.b64encode(
                hmac.new(_standard_key(secret), signed, hashlib.sha256).digest()
            ).decode()
            if any(_same(expected, candidate) for candidate in offered):
                return
        raise SignatureRejected("no signature matched")
    if source.scheme == "timestamped-hmac":
        _verify_timestamped(source, secrets, headers.get(source.header.lower(), ""), body, now)
        return
    header = headers.get(source.header.lower(), "").strip()
    if source.prefix:
        if not header.startswith(source.prefix):
            raise SignatureRejected("signature header without the expected prefix")
        header = header[len(source.prefix) :]
    signed = body
    if source.timestamp_header:
        timestamp = headers.get(source.timestamp_header.lower())
        _fresh(timestamp, source.tolerance_seconds, now)
        signed = f"{timestamp}.".encode() + body
    for secret in secrets:
        digest = hmac.new(secret.encode(), signed, hashlib.sha256).digest()
        expected = digest.hex() if source.encoding == "hex" else base64.b64encode(digest).decode()
        candidate = header.lower() if source.encoding == "hex" else header
        if _same(expected, candidate):
            return
    raise SignatureRejected("no signature matched")


def _verify_timestamped(
    source: WebhookSource, secrets: list[str], header: str, body: bytes, now: float
) -> None:
    """``t=<unix seconds>,v1=<hex>[,v1=<hex>...]``: HMAC-SHA256 of ``{t}.{raw body}`` (the form
    Stripe and Calendly use). Parts of other versions are ignored; one ``t`` exactly."""
    parts = [part.strip().partition("=") for part in header.split(",")]
    stamps = [value for name, _, value in parts if name == "t"]
    offered = [value.lower() for name, _, value in parts if name == "v1" and value]
    if len(stamps) != 1:
        raise SignatureRejected("missing or malformed timestamp")
    _fresh(stamps[0], source.tolerance_seconds, now)
    signed = f"{stamps[0]}.".encode() + body
    for secret in secrets:
        expected = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
        if any(_same(expected, candidate) for candidate in offered):
            return
    raise SignatureRejected("no signature matched")


def delivery_id(source: WebhookSource, headers: Mapping[str, str], payload: Any) -> str | None:
    """The delivery id used as idempotency key: ``webhook-id``, or the configured header/field."""
    if source.scheme == "standard-webhooks":
        return headers.get("webhook-id")
    if source.id_header:
        return headers.get(source.id_header.lower()) or None
    if source.id_field:
        value = _search(source.id_field, payload)
        return str(value) if value not in (None, "") else None
    return None


def _search(expression: str, payload: Any) -> Any:
    """A JMESPath value of the body, or None when the body's types do not fit the expression
    (e.g. ``join`` over a number): then the field is missing, named in a 422, never a 500."""
    import jmespath
    from jmespath.exceptions import JMESPathError

    try:
        return jmespath.search(expression, payload)
    except JMESPathError:
        return None


def mapped_fields(
    source: WebhookSource, payload: Any, read: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The booking fields of a webhook body: what a preset ``read`` from it, or the body itself
    when the source has neither preset nor ``map``; then each ``map`` entry (an expression that
    finds nothing leaves the field out), then ``defaults`` for the fields still missing."""
    if read is not None:
        fields = dict(read)
    elif not source.mapped:
        fields = dict(payload) if isinstance(payload, dict) else {}
    else:
        fields = {}
    for field, expression in source.map.items():
        value = _search(expression, payload)
        if value is None:
            fields.pop(field, None)
        else:
            fields[field] = value
    for field, constant in source.defaults.items():
        if fields.get(field) in (None, ""):
            fields[field] = constant
    return fields


def secrets_for(source_name: str, secret_document: Any) -> list[str]:
    """The signing secret(s) of a source from ``WEBHOOK_SECRET_ID``'s JSON document."""
    if not isinstance(secret_document, dict):
        return []
    value = secret_document.get(source_name)
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [item for item in value if isinstance(item, str) and item]
    return []
