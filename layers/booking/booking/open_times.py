"""GET /open-times: Oliver's open times for a page, cached per appointment type and practice
day (queries minutes apart share one upstream call), and each slot remembered so that a booking
whose outcome is unknown can be matched by time, and a receipt can be written for a decoy."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from booking.text import parse_time

if TYPE_CHECKING:
    from booking.models import OpenTimesQuery
    from booking.oliver import OliverGateway


MAX_CACHED_DAYS = 256


class SlotTimes:
    """(start, end) of slots this container has seen in open-times answers (bounded)."""

    def __init__(self, capacity: int = 5000) -> None:
        self._slots: dict[str, tuple[str, str | None]] = {}
        self._capacity = capacity

    def remember(self, days: list[dict[str, Any]]) -> None:
        for day in days:
            for slot in day.get("times") or []:
                if isinstance(slot, dict) and slot.get("uuid") and slot.get("start"):
                    end = str(slot["end"]) if slot.get("end") else None
                    self._slots[str(slot["uuid"])] = (str(slot["start"]), end)
        while len(self._slots) > self._capacity:
            self._slots.pop(next(iter(self._slots)))

    def start_of(self, slot_id: str) -> datetime | None:
        return parse_time((self._slots.get(slot_id) or (None, None))[0])

    def end_of(self, slot_id: str) -> datetime | None:
        return parse_time((self._slots.get(slot_id) or (None, None))[1])


class OpenTimes:
    def __init__(
        self,
        zone: str,
        ttl_seconds: float,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.zone = ZoneInfo(zone)
        self.ttl = ttl_seconds
        self.slots = SlotTimes()
        self._clock = clock
        self._now = now
        self._entries: dict[tuple[str, str], tuple[float, list[dict[str, Any]]]] = {}
        self._lock = threading.Lock()

    def search(self, query: OpenTimesQuery, oliver: OliverGateway) -> list[dict[str, Any]]:
        """The open times from the query's time on, as Oliver gives them (days with times)."""
        requested = parse_time(query.search_from_date, self.zone)
        assert requested is not None  # validated by the model
        now = self._now()
        requested = max(requested, now)
        day = requested.astimezone(self.zone).date()
        key = (query.appointment_type, day.isoformat())
        with self._lock:
            hit = self._entries.get(key)
        if hit is None or hit[0] <= self._clock():
            day_start = datetime(day.year, day.month, day.day, tzinfo=self.zone)
            start = max(day_start, now).astimezone(UTC).replace(second=0, microsecond=0)
            body = {
                "search_from_date": start.isoformat().replace("+00:00", "Z"),
                "appointment_type": query.appointment_type,
            }
            days = oliver.open_times(body)
            self.slots.remember(days)
            self._store(key, days)
        else:
            days = hit[1]
        return _from(days, requested.replace(second=0, microsecond=0))

    def _store(self, key: tuple[str, str], days: list[dict[str, Any]]) -> None:
        now = self._clock()
        with self._lock:
            self._entries[key] = (now + self.ttl, days)
            if len(self._entries) > MAX_CACHED_DAYS:
                expired = [k for k, (until, _) in self._entries.items() if until <= now]
                for stale in expired or [next(iter(self._entries))]:
                    self._entries.pop(stale, None)

    def forget_slot(self, slot_id: str) -> None:
        """A slot upstream says is taken leaves every cached answer of this container at once."""
        with self._lock:
            for key, (until, days) in list(self._entries.items()):
                self._entries[key] = (until, [_without(day, slot_id) for day in days])


def _without(day: dict[str, Any], slot_id: str) -> dict[str, Any]:
    times = [t for t in day.get("times") or [] if t.get("uuid") != slot_id]
    return {**day, "times": times, "available": bool(day.get("available")) and bool(times)}


def _from(days: list[dict[str, Any]], moment: datetime) -> list[dict[str, Any]]:
    """Only the times that start at or after ``moment`` (a cached day may be asked later)."""
    kept = []
    for day in days:
        if not isinstance(day, dict):
            continue
        times = [
            slot
            for slot in day.get("times") or []
            if isinstance(slot, dict)
            and ((start := parse_time(slot.get("start"))) is None or start >= moment)
        ]
        if day.get("times") and not times:
            continue  # every time of this day is before the query's
        kept.append({**day, "times": times})
    return kept
