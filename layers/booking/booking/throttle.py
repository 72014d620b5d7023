"""Per-visitor throttling of public callers, before any upstream call (docs/security.md).

- Per source IP: at most N posts (or open-times queries) per window; over it, 429 with a
  bounded ``Retry-After``. Addresses in ``THROTTLE_EXEMPT_CIDRS`` are not counted.
- Per contact (normalised email and phone): after N ``not_matched`` answers in a window, the
  contact is no longer looked up at all; every booking for it is held for staff (202), the same
  for clients and strangers, so nobody can lock a real client out or learn who is one.

IPs and contacts are stored only as HMACs with a key of their own (a generated secret), in
items that expire with their window.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from booking.config import Limit
from booking.errors import (
    CountersUnavailable,
    KeyUnavailable,
    UpstreamUnavailable,
    VisitorRateLimited,
)
from booking.phone import to_e164
from booking.store import Counters
from booking.text import digits, fold

if TYPE_CHECKING:
    from booking.models import BookingRequest

DAY_SECONDS = 24 * 60 * 60


class VisitorThrottle:
    def __init__(
        self,
        counters: Counters,
        hmac_key: Callable[[], bytes],
        exempt: tuple[Any, ...],
        phone_region: str,
        count: Callable[[str], None] = lambda _name: None,
    ) -> None:
        self._counters = counters
        self._key = hmac_key
        self._exempt = exempt
        self._phone_region = phone_region
        self._count = count

    def _digest(self, kind: str, value: str) -> str:
        """The HMAC of a value; ``KeyUnavailable`` when the key cannot be read just now."""
        try:
            key = self._key()
        except UpstreamUnavailable:
            # A passing Secrets Manager fault: throttling fails open, the booking goes on (and
            # is followed up if it fails), as for a DynamoDB fault.
            self._count("ThrottleUnavailable")
            raise KeyUnavailable() from None
        return hmac.new(key, f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()[:40]

    def _exempted(self, ip: str) -> bool:
        try:
            address = ipaddress.ip_address(ip)
        except ValueError:
            return False
        return any(address in network for network in self._exempt)

    # -- per IP ---------------------------------------------------------------------------------

    def check_ip(self, ip: str | None, route: str, limit: Limit) -> None:
        """Count this request; ``VisitorRateLimited`` once the IP is over ``limit``."""
        if not ip or limit.count == 0 or self._exempted(ip):
            return
        try:
            key = f"throttle#ip#{route}#{self._digest('ip', ip)}"
            hits, left = self._counters.hit(key, limit.seconds)
        except KeyUnavailable:
            return
        except CountersUnavailable:
            self._count("ThrottleUnavailable")  # fail open: a DynamoDB blip must not stop bookings
            return
        if hits > limit.count:
            self._count("VisitorRateLimited")
            raise VisitorRateLimited(retry_after=left)

    # -- per contact ----------------------------------------------------------------------------

    def contact_ids(self, booking: BookingRequest) -> list[str]:
        """Opaque ids of the booking's normalised email and phone."""
        ids = []
        if booking.email:
            ids.append(self._digest("email", fold(booking.email)))
        if booking.phone:
            phone = to_e164(booking.phone, self._phone_region) or digits(booking.phone)
            ids.append(self._digest("phone", phone))
        return ids

    def is_held(self, booking: BookingRequest, limit: Limit) -> bool:
        if limit.count == 0:
            return False
        try:
            keys = [f"throttle#misses#{contact}" for contact in self.contact_ids(booking)]
            return self._counters.peek(keys) >= limit.count
        except KeyUnavailable:
            return False
        except CountersUnavailable:
            self._count("ThrottleUnavailable")
            return False

    def record_miss(self, booking: BookingRequest, limit: Limit) -> None:
        try:
            contacts = self.contact_ids(booking)
        except KeyUnavailable:
            return
        for contact in contacts:
            try:
                self._counters.hit(f"throttle#misses#{contact}", limit.seconds)
            except CountersUnavailable:
                self._count("ThrottleUnavailable")

    def first_today(self, what: str, booking: BookingRequest) -> bool:
        """True once per contact and UTC day for ``what`` (one follow-up, not a hundred)."""
        day = datetime.now(UTC).date().isoformat()
        contact = (self.contact_ids(booking) or ["-"])[0]
        return self._counters.claim(f"throttle#{what}#{contact}#{day}", DAY_SECONDS)

    def contact_day(self, booking: BookingRequest) -> str | None:
        """A stable name for this contact today, for event ids (no personal data in it), or
        None when the key cannot be read just now."""
        day = datetime.now(UTC).date().isoformat()
        try:
            return f"{(self.contact_ids(booking) or ['-'])[0]}:{day}"
        except KeyUnavailable:
            return None
