"""Signed values the page hands to the visitor and takes back: the form token and calendar links.

Both are HMAC-SHA256 under one key of the page's own (a secret the template generates), each
with its purpose in the signed text, so that one can never stand for the other.

The form token (a hidden field) says "this post comes from a page we rendered in the last few
hours": a script must load the page (counted by the per-visitor throttle) before it can post, and
the page's own origin may post without being listed in ``ALLOWED_ORIGINS``. It carries nothing
about the visitor. A calendar link carries the receipt it was made from, so that nobody can make
the page serve an invitation it did not issue.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Callable
from typing import Any

#: How long a rendered form may be posted: long enough for a tab left open over lunch.
FORM_TOKEN_SECONDS = 8 * 60 * 60
#: A token from a clock slightly ahead of ours is still ours.
CLOCK_SKEW_SECONDS = 60
_MAX_TOKEN = 200
_MAX_LINK = 2000


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Signer:
    def __init__(self, key: Callable[[], bytes], clock: Callable[[], float] = time.time) -> None:
        #: Read on use: the secret store caches it, and a rotated key is picked up.
        self._key = key
        self._clock = clock

    def _mac(self, purpose: str, text: str) -> str:
        digest = hmac.new(self._key(), f"{purpose}|{text}".encode(), hashlib.sha256).digest()
        return _b64(digest)

    # -- form tokens ---------------------------------------------------------------------------

    def form_token(self) -> str:
        issued = str(int(self._clock()))
        nonce = secrets.token_urlsafe(9)
        return f"{issued}.{nonce}.{self._mac('form', f'{issued}.{nonce}')}"

    def form_token_valid(self, token: object) -> bool:
        """Whether ``token`` is one of ours and still fresh (forged, altered or stale: False)."""
        if not isinstance(token, str) or len(token) > _MAX_TOKEN or token.count(".") != 2:
            return False
        issued, nonce, mac = token.split(".")
        if not issued.isdigit() or not hmac.compare_digest(
            mac.encode(), self._mac("form", f"{issued}.{nonce}").encode()
        ):
            return False
        age = self._clock() - int(issued)
        return -CLOCK_SKEW_SECONDS <= age <= FORM_TOKEN_SECONDS

    # -- calendar links ------------------------------------------------------------------------

    def calendar_link(self, receipt: dict[str, Any]) -> str:
        """The ``a`` parameter of GET /book/calendar for a receipt's fields."""
        payload = _b64(json.dumps(receipt, separators=(",", ":"), sort_keys=True).encode())
        return f"{payload}.{self._mac('calendar', payload)}"

    def calendar_receipt(self, link: object) -> dict[str, Any] | None:
        """The receipt a calendar link was made from, or None when it is not one of ours."""
        if not isinstance(link, str) or len(link) > _MAX_LINK or link.count(".") != 1:
            return None
        payload, mac = link.split(".")
        if not hmac.compare_digest(mac.encode(), self._mac("calendar", payload).encode()):
            return None
        try:
            receipt = json.loads(_unb64(payload))
        except ValueError:
            return None
        return receipt if isinstance(receipt, dict) else None
