"""Signed partner webhooks: signature schemes, delivery ids and field maps (CONTRACT §3).

Signatures are checked on the raw body before anything parses it. Comparison is constant-time;
the caller only ever learns "invalid_signature", the log learns why (never the secret).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Mapping
from typing import Any

from booking.config import WebhookSource
from booking.errors import InvalidSignature


class SignatureRejected(InvalidSignature):
    def __init__(self, reason: str) -> None:
        super().__init__()
        #: For the log only.
        self.reason = reason


def _fresh(timestamp: str | None, tolerance: int, now: float) -> None:
    if timestamp is None or not timestamp.strip().lstrip("-").isdigit():
        raise SignatureRejected("missing or malformed timestamp")
    if abs(now - int(timestamp)) > tolerance:
        raise SignatureRejected("timestamp outside the tolerance")


def _standard_key(secret: str) -> bytes:
    encoded = secret.removeprefix("whsec_")
    try:
        return base64.b64decode(encoded, validate=True)
    except ValueError:
        return secret.encode()


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
            if any(hmac.compare_digest(expected, candidate) for candidate in offered):
                return
        raise SignatureRejected("no signature matched")
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
        if hmac.compare_digest(expected, candidate):
            return
    raise SignatureRejected("no signature matched")


def delivery_id(source: WebhookSource, headers: Mapping[str, str], payload: Any) -> str | None:
    """The delivery id used as idempotency key: ``webhook-id``, or the configured header/field."""
    if source.scheme == "standard-webhooks":
        return headers.get("webhook-id")
    if source.id_header:
        return headers.get(source.id_header.lower()) or None
    if source.id_field:
        import jmespath

        value = jmespath.search(source.id_field, payload)
        return str(value) if value not in (None, "") else None
    return None


def mapped_fields(source: WebhookSource, payload: Any) -> dict[str, Any]:
    """The booking fields of a webhook body: through the source's ``map`` when it has one."""
    if not source.map:
        return dict(payload) if isinstance(payload, dict) else {}
    import jmespath

    fields = {}
    for field, expression in source.map.items():
        value = jmespath.search(expression, payload)
        if value is not None:
            fields[field] = value
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
