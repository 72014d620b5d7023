"""POST /open_times: validation, shape, time zone, horizon, Sundays, past slots."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta

import httpx
import pytest

from .conftest import API, TZ, open_times


def _next_weekday(weekday: int) -> date:
    """The first date after tomorrow with this ISO weekday (1 = Monday)."""
    day = datetime.now(TZ).date() + timedelta(days=2)
    while day.isoweekday() != weekday:
        day += timedelta(days=1)
    return day


def _local_midnight(day: date) -> str:
    return datetime(day.year, day.month, day.day, tzinfo=TZ).isoformat()


def test_answers_fourteen_consecutive_days_from_the_search_date(
    http: httpx.Client, headers: dict[str, str]
) -> None:
    # Given a search starting on a future Monday
    monday = _next_weekday(1)
    # When searching
    days = open_times(http, headers, search_from_date=_local_midnight(monday))
    # Then 14 days, MM/DD/YYYY, consecutive from that Monday
    expected = [(monday + timedelta(days=i)).strftime("%m/%d/%Y") for i in range(14)]
    assert [d["date"] for d in days] == expected


def test_sundays_are_unavailable_with_no_times(http: httpx.Client, headers: dict[str, str]) -> None:
    monday = _next_weekday(1)
    days = open_times(http, headers, search_from_date=_local_midnight(monday))
    sundays = [d for d in days if datetime.strptime(d["date"], "%m/%d/%Y").isoweekday() == 7]
    assert len(sundays) == 2
    assert all(d["available"] is False and d["times"] == [] for d in sundays)
    assert all(d["available"] and d["times"] for d in days if d not in sundays)


def test_slot_shape_matches_the_reference(http: httpx.Client, headers: dict[str, str]) -> None:
    # Given a future Monday / When searching wellness
    days = open_times(http, headers, search_from_date=_local_midnight(_next_weekday(1)))
    slot = days[0]["times"][0]
    # Then the first slot is 8:00 local with every documented field
    assert set(slot) == {
        "start",
        "end",
        "provider_id",
        "room_id",
        "appointment_type_ids",
        "value",
        "label",
        "uuid",
    }
    assert slot["value"] == "08:00"
    assert slot["label"] == "8:00 am"
    assert isinstance(slot["appointment_type_ids"], list)
    assert isinstance(slot["provider_id"], str)
    start, end = datetime.fromisoformat(slot["start"]), datetime.fromisoformat(slot["end"])
    assert end - start == timedelta(minutes=20)


def test_start_and_end_carry_the_practice_utc_offset(
    http: httpx.Client, headers: dict[str, str]
) -> None:
    days = open_times(http, headers, search_from_date=_local_midnight(_next_weekday(3)))
    for slot in days[0]["times"]:
        start = datetime.fromisoformat(slot["start"])
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d", slot["start"])
        assert start.utcoffset() == start.astimezone(TZ).utcoffset()
        assert start.utcoffset() in (timedelta(hours=-6), timedelta(hours=-5))


def test_afternoon_labels_use_pm(http: httpx.Client, headers: dict[str, str]) -> None:
    days = open_times(http, headers, search_from_date=_local_midnight(_next_weekday(2)))
    last = days[0]["times"][-1]
    assert last["value"] == "16:40"
    assert last["label"] == "4:40 pm"


def test_slots_within_clinic_hours(http: httpx.Client, headers: dict[str, str]) -> None:
    days = open_times(http, headers, search_from_date=_local_midnight(_next_weekday(1)))
    values = {slot["value"] for day in days for slot in day["times"]}
    assert min(values) == "08:00"
    assert max(values) == "16:40"


def test_past_slots_are_not_offered(http: httpx.Client, headers: dict[str, str]) -> None:
    # Given a search starting yesterday
    yesterday = datetime.now(TZ) - timedelta(days=1)
    # When searching
    days = open_times(http, headers, search_from_date=yesterday.isoformat())
    # Then every offered slot starts in the future
    now = datetime.now(TZ)
    starts = [datetime.fromisoformat(s["start"]) for d in days for s in d["times"]]
    assert starts
    assert all(start > now for start in starts)
    assert days[0]["times"] == []


def test_slot_ids_are_stable_across_searches(http: httpx.Client, headers: dict[str, str]) -> None:
    search = _local_midnight(_next_weekday(4))
    first = [
        s["uuid"] for d in open_times(http, headers, search_from_date=search) for s in d["times"]
    ]
    again = [
        s["uuid"] for d in open_times(http, headers, search_from_date=search) for s in d["times"]
    ]
    assert first == again
    assert len(set(first)) == len(first)


def test_technician_slots_belong_to_the_technician(
    http: httpx.Client, headers: dict[str, str]
) -> None:
    days = open_times(http, headers, "technician", _local_midnight(_next_weekday(1)))
    providers = {slot["provider_id"] for day in days for slot in day["times"]}
    assert providers == {"303"}


@pytest.mark.parametrize(
    "body",
    [
        {"appointment_type": "wellness"},
        {"search_from_date": "not a date", "appointment_type": "wellness"},
        {"search_from_date": "2030-01-07", "appointment_type": "wellness"},
        {"search_from_date": "2030-01-07T07:00:00Z"},
        {"search_from_date": "2030-01-07T07:00:00Z", "appointment_type": "surgery"},
        {"search_from_date": 20300107, "appointment_type": "wellness"},
    ],
)
def test_bad_input_is_400(http: httpx.Client, headers: dict[str, str], body: dict) -> None:
    response = http.post(f"{API}/open_times", headers=headers, json=body)
    assert response.status_code == 400
    assert response.json()["success"] is False
    assert response.json()["message"]


def test_absurd_search_date_is_400(http: httpx.Client, headers: dict[str, str]) -> None:
    body = {"search_from_date": "9999-12-31T00:00:00Z", "appointment_type": "wellness"}
    response = http.post(f"{API}/open_times", headers=headers, json=body)
    assert response.status_code == 400
