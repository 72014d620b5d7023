"""Slot ids are opaque UUIDs the sandbox can verify and decode without a registry."""

from __future__ import annotations

import uuid
from datetime import date

from hypothesis import given, settings
from hypothesis import strategies as st

from local.oliver_sandbox import slots


def test_every_slot_id_round_trips() -> None:
    for slot in slots.day_slots(date(2031, 3, 10), "sick"):  # a Monday
        assert slots.decode(slot.uuid) == slot


def test_slot_ids_look_like_uuids() -> None:
    slot = slots.day_slots(date(2031, 3, 10), "wellness")[0]
    assert str(uuid.UUID(slot.uuid)) == slot.uuid


def test_a_tampered_id_is_rejected() -> None:
    slot_id = slots.day_slots(date(2031, 3, 10), "recheck")[5].uuid
    last = "0" if slot_id[-1] != "0" else "1"
    assert slots.decode(slot_id[:-1] + last) is None


def test_a_random_uuid_is_rejected() -> None:
    assert slots.decode(str(uuid.uuid4())) is None


def test_dst_days_keep_local_clinic_hours() -> None:
    # 2031-03-10 is the Monday after the spring-forward Sunday in Chicago
    before = slots.day_slots(date(2031, 3, 8), "wellness")[0]
    after = slots.day_slots(date(2031, 3, 10), "wellness")[0]
    assert str(before.as_json()["start"]).endswith("08:00:00-06:00")
    assert str(after.as_json()["start"]).endswith("08:00:00-05:00")


@given(
    day=st.dates(min_value=date(2024, 1, 1), max_value=date(2060, 12, 31)),
    category=st.sampled_from(["wellness", "sick", "technician", "recheck"]),
)
@settings(max_examples=60, deadline=None)
def test_round_trip_on_any_day(day: date, category: str) -> None:
    for slot in slots.day_slots(day, category):
        decoded = slots.decode(slot.uuid)
        assert decoded == slot
        assert decoded is not None and slots.is_scheduled(decoded)
