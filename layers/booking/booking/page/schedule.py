"""Open times as the page shows them: a week of days (closed ones included), then one day's
times, every time in the practice's zone, one choice per start time (a visitor picks a time, not
a provider or a room)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

DAYS_SHOWN = 7
#: How far ahead a visitor may page (the upstream's own horizon is undocumented).
WEEKS_AHEAD = 12

#: Plain names of the zones practices are most likely in; others are named after their city.
ZONE_NAMES = {
    "America/New_York": "Eastern Time",
    "America/Detroit": "Eastern Time",
    "America/Toronto": "Eastern Time",
    "America/Indiana/Indianapolis": "Eastern Time",
    "America/Kentucky/Louisville": "Eastern Time",
    "America/Chicago": "Central Time",
    "America/Winnipeg": "Central Time",
    "America/Denver": "Mountain Time",
    "America/Edmonton": "Mountain Time",
    "America/Boise": "Mountain Time",
    "America/Phoenix": "Mountain Time (Arizona)",
    "America/Los_Angeles": "Pacific Time",
    "America/Vancouver": "Pacific Time",
    "America/Anchorage": "Alaska Time",
    "Pacific/Honolulu": "Hawaii Time",
    "America/Halifax": "Atlantic Time",
    "America/Puerto_Rico": "Atlantic Time",
    "America/St_Johns": "Newfoundland Time",
    "Europe/London": "UK time",
    "Europe/Dublin": "Irish time",
    "UTC": "UTC",
    "Etc/UTC": "UTC",
}


def zone_name(zone: ZoneInfo) -> str:
    """``Central Time``; a zone not in the table: ``Buenos Aires time``."""
    known = ZONE_NAMES.get(zone.key)
    if known:
        return known
    city = zone.key.rsplit("/", 1)[-1].replace("_", " ")
    return f"{city} time"


def clock(moment: datetime) -> str:
    """``9:00 am``, ``12:40 pm``."""
    hour = moment.hour % 12 or 12
    return f"{hour}:{moment.minute:02d} {'am' if moment.hour < 12 else 'pm'}"


def long_day(day: date) -> str:
    """``Monday, January 7``."""
    return f"{day:%A}, {day:%B} {day.day}"


def long_day_with_year(day: date) -> str:
    return f"{long_day(day)}, {day.year}"


def parse_day(value: object) -> date | None:
    """A ``YYYY-MM-DD`` day (links) or an upstream ``MM/DD/YYYY`` one; anything else: None."""
    if not isinstance(value, str) or len(value) > 10:
        return None
    for layout in ("%Y-%m-%d", "%m/%d/%Y"):
        try:
            return datetime.strptime(value.strip(), layout).date()
        except ValueError:
            continue
    return None


@dataclass(frozen=True)
class Slot:
    slot_id: str
    start: datetime
    end: datetime | None

    @property
    def label(self) -> str:
        return clock(self.start)


@dataclass(frozen=True)
class Day:
    date: date
    slots: tuple[Slot, ...]

    @property
    def open(self) -> bool:
        return bool(self.slots)

    @property
    def iso(self) -> str:
        return self.date.isoformat()


@dataclass(frozen=True)
class Week:
    days: tuple[Day, ...]
    chosen: Day | None
    today: date
    #: The day a visitor asked for (a link's ``day``) when it has no open time.
    unavailable: date | None = None

    @property
    def start(self) -> date:
        return self.days[0].date

    @property
    def previous(self) -> date | None:
        earlier = self.start - timedelta(days=DAYS_SHOWN)
        return max(earlier, self.today) if self.start > self.today else None

    @property
    def next(self) -> date | None:
        later = self.start + timedelta(days=DAYS_SHOWN)
        return later if later <= self.today + timedelta(weeks=WEEKS_AHEAD) else None

    @property
    def has_openings(self) -> bool:
        return any(day.open for day in self.days)


def window_start(today: date, day: date | None) -> date:
    """The first day of the week shown around ``day``: weeks start today, then every 7 days."""
    if day is None or day <= today:
        return today
    weeks = min((day - today).days // DAYS_SHOWN, WEEKS_AHEAD)
    return today + timedelta(days=weeks * DAYS_SHOWN)


def search_from(start: date) -> str:
    """The ``search_from_date`` of a week: its first midnight, in the practice's zone."""
    return f"{start.isoformat()}T00:00:00"


def slots_by_day(upstream_days: Iterable[Any], zone: ZoneInfo) -> dict[date, list[Slot]]:
    """Every open time of an open-times answer, by local day, one per start time, in order."""
    by_day: dict[date, dict[datetime, Slot]] = {}
    for day in upstream_days:
        if not isinstance(day, dict):
            continue
        for time in day.get("times") or []:
            if not isinstance(time, dict) or not time.get("uuid"):
                continue
            start = _moment(time.get("start"), zone)
            if start is None:
                continue
            by_start = by_day.setdefault(start.date(), {})
            if start not in by_start:
                end = _moment(time.get("end"), zone)
                by_start[start] = Slot(str(time["uuid"]), start, end)
    return {d: [slots[s] for s in sorted(slots)] for d, slots in sorted(by_day.items())}


def _moment(value: object, zone: ZoneInfo) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    return moment.astimezone(zone)


def build_week(
    upstream_days: Iterable[Any], zone: ZoneInfo, today: date, start: date, wanted: date | None
) -> Week:
    """The week from ``start`` with ``wanted`` chosen when it has open times, else its first
    open day. Asked for no day and this week has none: the week of the first open day found."""
    by_day = slots_by_day(upstream_days, zone)
    if wanted is None and not any(by_day.get(start + timedelta(days=i)) for i in range(DAYS_SHOWN)):
        later = [d for d, slots in by_day.items() if slots and d >= start]
        if later:
            start = window_start(today, later[0])
    days = tuple(
        Day(d, tuple(by_day.get(d, ()))) for d in (start + timedelta(days=i) for i in range(7))
    )
    chosen = next((d for d in days if d.date == wanted and d.open), None)
    unavailable = wanted if wanted is not None and chosen is None else None
    if chosen is None:
        chosen = next((d for d in days if d.open), None)
    return Week(days, chosen, today, unavailable)


def find_slot(week: Week | None, slot_id: str) -> Slot | None:
    if week is None:
        return None
    for day in week.days:
        for slot in day.slots:
            if slot.slot_id == slot_id:
                return slot
    return None
