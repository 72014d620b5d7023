"""Oliver's open times: for GET /open-times, for booking by requested time, and to tell a taken
slot from another refusal.

Answers are cached per appointment type and practice day, so queries minutes apart share one
upstream call. A cached answer cannot outlive a booking: a taken slot leaves this container's
cache at once, and a cached answer older than ``RECHECK_SECONDS`` is used only while no slot was
taken anywhere since it was fetched (``RecentBookings``: every booking's record is stamped when
it completes, see ``booking.store.RecentBookings``); so it leaves every other container's cache
within seconds. Each slot seen is remembered (start, end, type), so that a booking whose outcome
is unknown can be matched by time and a receipt written for a decoy.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol
from zoneinfo import ZoneInfo

from booking.errors import SlotUnavailable
from booking.text import parse_time

if TYPE_CHECKING:
    from booking.oliver import OliverGateway


MAX_CACHED_DAYS = 256
#: A cached answer younger than this is used without asking whether a booking happened since.
RECHECK_SECONDS = 5.0
ALTERNATIVES = 3
TYPES = ("wellness", "sick", "technician", "recheck")


class RecentBookings(Protocol):
    """What every container knows of slots taken lately (``booking.store.RecentBookings``)."""

    def since(self, moment: float) -> bool | None: ...

    def taken(self, slot_id: str) -> None: ...


@dataclass(frozen=True)
class Slot:
    start: str
    end: str | None
    appointment_type: str | None


class SlotTimes:
    """Slots this container has seen in open-times answers (bounded)."""

    def __init__(self, capacity: int = 5000) -> None:
        self._slots: dict[str, Slot] = {}
        self._capacity = capacity

    def remember(self, days: list[dict[str, Any]], appointment_type: str | None = None) -> None:
        for slot in _times(days):
            if slot.get("uuid") and slot.get("start"):
                end = str(slot["end"]) if slot.get("end") else None
                self._slots[str(slot["uuid"])] = Slot(str(slot["start"]), end, appointment_type)
        while len(self._slots) > self._capacity:
            self._slots.pop(next(iter(self._slots)))

    def start_of(self, slot_id: str | None) -> datetime | None:
        slot = self._slots.get(slot_id or "")
        return parse_time(slot.start) if slot else None

    def end_of(self, slot_id: str | None) -> datetime | None:
        slot = self._slots.get(slot_id or "")
        return parse_time(slot.end) if slot else None

    def type_of(self, slot_id: str | None) -> str | None:
        slot = self._slots.get(slot_id or "")
        return slot.appointment_type if slot else None


@dataclass
class _Entry:
    until: float
    checked: float
    #: When it was fetched (epoch seconds): a slot taken after that makes it stale.
    fetched_at: float
    days: list[dict[str, Any]]


class OpenTimes:
    def __init__(
        self,
        zone: str,
        ttl_seconds: float,
        recent: RecentBookings | None = None,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.zone = ZoneInfo(zone)
        self.ttl = ttl_seconds
        self.slots = SlotTimes()
        #: None: this container alone (a slot it saw taken leaves its cache at once).
        self._recent = recent
        self._clock = clock
        self._now = now
        self._entries: dict[tuple[str, str], _Entry] = {}
        self._lock = threading.Lock()

    # -- reading --------------------------------------------------------------------------------

    def search(
        self, appointment_type: str, requested: datetime, oliver: OliverGateway
    ) -> list[dict[str, Any]]:
        """The open times of a type from ``requested`` on (days with times, as Oliver gives
        them), cached per practice day."""
        requested = max(requested, self._now())
        day = requested.astimezone(self.zone).date().isoformat()
        key = (appointment_type, day)
        with self._lock:
            entry = self._entries.get(key)
        if entry is None or not self._still_good(entry):
            entry = self._fetch(key, oliver)
        return _from(entry.days, requested.replace(second=0, microsecond=0))

    def _still_good(self, entry: _Entry) -> bool:
        now = self._clock()
        if entry.until <= now:
            return False
        if now - entry.checked < RECHECK_SECONDS:
            return True
        if self._recent is not None and self._recent.since(entry.fetched_at):
            return False
        entry.checked = now
        return True

    def _fetch(self, key: tuple[str, str], oliver: OliverGateway) -> _Entry:
        appointment_type, day = key
        fetched_at = self._now().timestamp()
        day_start = datetime.fromisoformat(day).replace(tzinfo=self.zone)
        # Never a time in the past (Oliver may refuse one): now, rounded up to the minute.
        now = self._now().replace(second=0, microsecond=0) + timedelta(minutes=1)
        start = max(day_start, now).astimezone(UTC)
        body = {
            "search_from_date": start.isoformat().replace("+00:00", "Z"),
            "appointment_type": appointment_type,
        }
        days = oliver.open_times(body)
        self.slots.remember(days, appointment_type)
        checked = self._clock()
        entry = _Entry(checked + self.ttl, checked, fetched_at, days)
        if self.ttl > 0:
            with self._lock:
                self._entries[key] = entry
                if len(self._entries) > MAX_CACHED_DAYS:
                    expired = [k for k, e in self._entries.items() if e.until <= checked]
                    for stale in expired or [next(iter(self._entries))]:
                        self._entries.pop(stale, None)
        return entry

    # -- booking by requested time ---------------------------------------------------------------

    def slot_at(
        self,
        appointment_type: str,
        start: datetime,
        provider_id: str | None,
        oliver: OliverGateway,
    ) -> dict[str, Any]:
        """The open slot of a type starting exactly at ``start`` (and of ``provider_id`` when
        given); ``SlotUnavailable`` with the nearest alternatives when there is none."""
        day_start = start.astimezone(self.zone).replace(hour=0, minute=0, second=0, microsecond=0)
        times = _times(self.search(appointment_type, day_start, oliver))
        for slot in times:
            if parse_time(slot.get("start")) == start and (
                provider_id is None or str(slot.get("provider_id")) == provider_id
            ):
                return slot
        raise SlotUnavailable(alternatives=self._nearest(times, start))

    def _nearest(self, times: list[dict[str, Any]], wanted: datetime) -> list[dict[str, str]]:
        starts: dict[datetime, dict[str, str]] = {}
        for slot in times:
            start = parse_time(slot.get("start"))
            if start is not None and start not in starts:
                end = parse_time(slot.get("end"))
                starts[start] = {
                    "start": start.astimezone(self.zone).isoformat(),
                    "end": end.astimezone(self.zone).isoformat() if end else "",
                }
        nearest = sorted(starts, key=lambda moment: abs(moment - wanted))[:ALTERNATIVES]
        return [starts[moment] for moment in sorted(nearest)]

    # -- a slot upstream refused -----------------------------------------------------------------

    def still_open(self, slot_id: str, oliver: OliverGateway) -> tuple[bool, list[dict[str, str]]]:
        """Asks Oliver afresh whether the slot is still offered: (open, alternatives). Used to
        tell a taken slot from another refusal when Oliver answers a create with 400 or 422."""
        known = self.slots.type_of(slot_id)
        start = self.slots.start_of(slot_id)
        requested = start or self._now()
        for appointment_type in (known,) if known else TYPES:
            day = requested.astimezone(self.zone).date().isoformat()
            entry = self._fetch((appointment_type, day), oliver)
            times = _times(entry.days)
            if any(slot.get("uuid") == slot_id for slot in times):
                return True, []
            if known:
                return False, self._nearest(times, requested)
        return False, []

    def slot_taken(self, slot_id: str | None, recorded: bool = False) -> None:
        """A slot is gone (booked, or upstream says so): it leaves this container's cache at
        once, and every other container learns it from ``RecentBookings``; ``recorded``: the
        booking's record will stamp it (a booking made by this request), else it is told."""
        if not slot_id:
            return
        with self._lock:
            for entry in self._entries.values():
                entry.days = [_without(day, slot_id) for day in entry.days]
        if not recorded and self._recent is not None:
            self._recent.taken(slot_id)


def _times(days: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        slot
        for day in days
        if isinstance(day, dict)
        for slot in day.get("times") or []
        if isinstance(slot, dict)
    ]


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
