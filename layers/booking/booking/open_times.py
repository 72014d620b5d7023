"""GET /open-times: Oliver's open times for a page, cached briefly per query so that a busy
site does not hammer upstream, and remembered so an unknown booking can be matched by time."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from booking.times import parse_time

if TYPE_CHECKING:
    from booking.models import OpenTimesQuery


MAX_CACHED_QUERIES = 256


def upstream_query(query: OpenTimesQuery) -> dict[str, str]:
    """The upstream body, with the start folded to the minute so that pages asking for "now"
    share one cached answer."""
    start = datetime.fromisoformat(query.search_from_date.replace("Z", "+00:00"))
    if start.tzinfo is None:
        start = start.replace(tzinfo=UTC)
    start = start.astimezone(UTC).replace(second=0, microsecond=0)
    return {
        "search_from_date": start.isoformat().replace("+00:00", "Z"),
        "appointment_type": query.appointment_type,
    }


class OpenTimesCache:
    def __init__(self, ttl_seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl_seconds
        self._clock = clock
        self._entries: dict[tuple[str, str], tuple[float, list[dict[str, Any]]]] = {}
        self._lock = threading.Lock()

    def get_or_fetch(
        self, body: dict[str, str], fetch: Callable[[], list[dict[str, Any]]]
    ) -> list[dict[str, Any]]:
        key = (body["search_from_date"], body["appointment_type"])
        now = self._clock()
        with self._lock:
            hit = self._entries.get(key)
        if hit and hit[0] > now:
            return hit[1]
        days = fetch()
        with self._lock:
            self._entries[key] = (now + self.ttl, days)
            if len(self._entries) > MAX_CACHED_QUERIES:
                expired = [k for k, (until, _) in self._entries.items() if until <= now]
                for stale in expired or [next(iter(self._entries))]:
                    self._entries.pop(stale, None)
        return days


class SlotTimes:
    """Start times of slots this container has seen in open-times answers (bounded)."""

    def __init__(self, capacity: int = 5000) -> None:
        self._starts: dict[str, str] = {}
        self._capacity = capacity

    def remember(self, days: list[dict[str, Any]]) -> None:
        for day in days:
            for slot in day.get("times") or []:
                if isinstance(slot, dict) and slot.get("uuid") and slot.get("start"):
                    self._starts[str(slot["uuid"])] = str(slot["start"])
        while len(self._starts) > self._capacity:
            self._starts.pop(next(iter(self._starts)))

    def start_of(self, slot_id: str) -> datetime | None:
        return parse_time(self._starts.get(slot_id))
