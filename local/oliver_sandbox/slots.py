"""Open-time slots and their opaque, verifiable ids.

A slot id is a version-8 UUID that carries, masked and authenticated with an HMAC under a fixed
sandbox key, the slot's appointment category, provider, room, duration and start minute. Any
sandbox instance (even after a restart, even without a state file) can therefore tell a slot id
it issued from a made-up one and knows what it stands for, without keeping a registry.
Clients must treat it as opaque, as upstream asks.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from . import seed

SLOT_KEY = b"oliver-sandbox-slot-key (not a secret)"
_PAYLOAD_BITS = 52  # 32 start minute, 4 category, 4 provider, 4 room, 8 duration
_MAC_BITS = 70  # 122 usable bits in a UUID - 52

TZ = ZoneInfo(seed.TIME_ZONE)


@dataclass(frozen=True)
class Schedule:
    """The practice's schedule as the sandbox is switched: its zone (opening hours are local
    times there) and the length of a slot. The seed's by default."""

    zone: ZoneInfo = TZ
    minutes: int = seed.SLOT_MINUTES


DEFAULT_SCHEDULE = Schedule()


@dataclass(frozen=True)
class Slot:
    category: str
    provider_id: str
    room_id: str
    start: datetime  # aware, practice time zone
    minutes: int

    @property
    def end(self) -> datetime:
        return self.start + timedelta(minutes=self.minutes)

    @property
    def key(self) -> str:
        """What a booking occupies: one provider at one instant."""
        return f"{self.provider_id}@{int(self.start.timestamp()) // 60}"

    @property
    def uuid(self) -> str:
        return encode(self)

    def as_json(self, zone: ZoneInfo = TZ) -> dict[str, object]:
        local = self.start.astimezone(zone)
        hour12 = local.hour % 12 or 12
        return {
            "start": local.isoformat(),
            "end": self.end.astimezone(zone).isoformat(),
            "provider_id": self.provider_id,
            "room_id": self.room_id,
            "appointment_type_ids": type_ids(self.category),
            "value": local.strftime("%H:%M"),
            "label": f"{hour12}:{local.minute:02d} {'am' if local.hour < 12 else 'pm'}",
            "uuid": self.uuid,
        }


def type_ids(category: str) -> list[str]:
    return [t["id"] for t in seed.APPOINTMENT_TYPES if t["category"] == category]


def _mac(payload: int) -> int:
    digest = hmac.new(SLOT_KEY, b"mac" + payload.to_bytes(7, "big"), hashlib.sha256).digest()
    return int.from_bytes(digest, "big") >> (256 - _MAC_BITS)


def _mask(mac: int) -> int:
    digest = hmac.new(SLOT_KEY, b"mask" + mac.to_bytes(9, "big"), hashlib.sha256).digest()
    return int.from_bytes(digest, "big") >> (256 - _PAYLOAD_BITS)


def _index(items: list[str], value: str) -> int:
    return items.index(value)


_CATEGORIES = list(seed.APPOINTMENT_CATEGORIES)
_PROVIDERS = [p["id"] for p in seed.PROVIDERS]
_ROOMS = [r["id"] for r in seed.ROOMS]


def encode(slot: Slot) -> str:
    return _encode(slot.category, slot.provider_id, slot.room_id, slot.start, slot.minutes)


@functools.lru_cache(maxsize=65536)
def _encode(category: str, provider_id: str, room_id: str, start: datetime, minutes: int) -> str:
    # Cached: every search renders hundreds of ids (two HMACs each), mostly the same ones.
    slot = Slot(category, provider_id, room_id, start, minutes)
    minute = int(slot.start.timestamp()) // 60
    payload = (
        (minute & 0xFFFFFFFF) << 20
        | _index(_CATEGORIES, slot.category) << 16
        | _index(_PROVIDERS, slot.provider_id) << 12
        | _index(_ROOMS, slot.room_id) << 8
        | (slot.minutes & 0xFF)
    )
    mac = _mac(payload)
    bits = ((payload ^ _mask(mac)) << _MAC_BITS) | mac  # 122 bits
    high48, mid12, low62 = bits >> 74, (bits >> 62) & 0xFFF, bits & ((1 << 62) - 1)
    value = (high48 << 80) | (0x8 << 76) | (mid12 << 64) | (0b10 << 62) | low62
    return str(uuid.UUID(int=value))


def decode(slot_id: str, zone: ZoneInfo = TZ) -> Slot | None:
    """The slot an id stands for (its start in ``zone``), or None when the sandbox never issued
    such an id."""
    try:
        value = uuid.UUID(slot_id).int
    except (ValueError, AttributeError, TypeError):
        return None
    if (value >> 76) & 0xF != 0x8 or (value >> 62) & 0b11 != 0b10:
        return None
    high48, mid12, low62 = value >> 80, (value >> 64) & 0xFFF, value & ((1 << 62) - 1)
    bits = (high48 << 74) | (mid12 << 62) | low62
    mac = bits & ((1 << _MAC_BITS) - 1)
    payload = (bits >> _MAC_BITS) ^ _mask(mac)
    if not hmac.compare_digest(_mac(payload).to_bytes(9, "big"), mac.to_bytes(9, "big")):
        return None
    minute = payload >> 20
    category_i = (payload >> 16) & 0xF
    provider_i = (payload >> 12) & 0xF
    room_i = (payload >> 8) & 0xF
    if category_i >= len(_CATEGORIES) or provider_i >= len(_PROVIDERS) or room_i >= len(_ROOMS):
        return None
    start = datetime.fromtimestamp(minute * 60, UTC).astimezone(zone)
    minutes = payload & 0xFF
    return Slot(_CATEGORIES[category_i], _PROVIDERS[provider_i], _ROOMS[room_i], start, minutes)


def day_slots(day: date, category: str, schedule: Schedule = DEFAULT_SCHEDULE) -> list[Slot]:
    """Every slot of the practice's schedule on a local day for a category, booked or not."""
    hours = seed.OPENING_HOURS.get(day.isoweekday())
    if hours is None:
        return []
    opens, closes = hours
    result: list[Slot] = []
    providers = [p for p in seed.PROVIDERS if category in p["categories"]]
    zone, minutes = schedule.zone, schedule.minutes
    # Wall-clock steps, each made aware on its own: on a daylight-saving day the hours stay the
    # practice's local hours.
    cursor = datetime(day.year, day.month, day.day, opens)
    closing = datetime(day.year, day.month, day.day, closes)
    step = timedelta(minutes=minutes)
    while cursor + step <= closing:
        start = cursor.replace(tzinfo=zone)
        for provider in providers:
            result.append(Slot(category, provider["id"], provider["room_id"], start, minutes))
        cursor += step
    return result


def is_scheduled(slot: Slot, schedule: Schedule = DEFAULT_SCHEDULE) -> bool:
    """Whether a decoded slot is one the schedule really offers (same provider, room, grid)."""
    return slot in day_slots(slot.start.astimezone(schedule.zone).date(), slot.category, schedule)
