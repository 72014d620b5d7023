"""Booking by requested time (`start` + `appointment_type`, optionally `provider_id`), for forms
and tools that cannot call GET /open-times, through the real handler; and what a taken slot is,
whatever status Oliver uses for it. Oliver behind respx, AWS behind moto."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from conftest import API, JANE_BOOKS_REX, booking_event, created

BY_TIME = {key: value for key, value in JANE_BOOKS_REX.items() if key != "slot_id"} | {
    "start": "2030-01-07T11:00:00",
    "appointment_type": "wellness",
}


def slot(day: str, hour: int, minute: int = 0, provider: str = "301", offset: str = "-06:00"):
    start = f"{day}T{hour:02d}:{minute:02d}:00{offset}"
    end = f"{day}T{hour:02d}:{minute + 20:02d}:00{offset}"
    return {
        "start": start,
        "end": end,
        "provider_id": provider,
        "value": f"{hour:02d}:{minute:02d}",
        "label": "",
        "uuid": f"{day}-{hour:02d}{minute:02d}-{provider}",
    }


MONDAY = [
    {
        "date": "01/07/2030",
        "available": True,
        "times": [
            slot("2030-01-07", 9),
            slot("2030-01-07", 10, 20),
            slot("2030-01-07", 11, provider="301"),
            slot("2030-01-07", 11, provider="302"),
            slot("2030-01-07", 13),
            slot("2030-01-07", 15),
        ],
    }
]


@pytest.fixture
def open_times(oliver: Any) -> Any:
    return oliver.post(f"{API}/open_times").respond(200, json={"success": True, "data": MONDAY})


@pytest.fixture
def create(oliver: Any) -> Any:
    return oliver.post(f"{API}/appointments").respond(200, json=created())


def sent(route: Any) -> dict[str, Any]:
    return json.loads(route.calls[-1].request.content)


def test_a_time_without_an_offset_is_the_practices_and_books_the_slot_starting_then(
    invoke: Any, open_times: Any, create: Any
) -> None:
    answer = invoke(booking_event(BY_TIME))

    assert answer.status == 201, answer.body
    # the first provider's slot at 11:00 Chicago time, booked by its id; start is never sent
    assert sent(create) == {"slot_id": "2030-01-07-1100-301", "client_id": 1001, "patient_id": 2001}
    assert sent(open_times) == {
        "search_from_date": "2030-01-07T06:00:00Z",  # that practice day, from its midnight
        "appointment_type": "wellness",
    }


def test_a_time_with_an_offset_is_that_instant(invoke: Any, open_times: Any, create: Any) -> None:
    answer = invoke(booking_event({**BY_TIME, "start": "2030-01-07T17:00:00Z"}))

    assert answer.status == 201
    assert sent(create)["slot_id"] == "2030-01-07-1100-301"


def test_a_provider_given_books_that_providers_slot(
    invoke: Any, open_times: Any, create: Any
) -> None:
    answer = invoke(booking_event({**BY_TIME, "provider_id": "302"}))

    assert answer.status == 201
    assert sent(create)["slot_id"] == "2030-01-07-1100-302"


def test_no_slot_at_that_time_is_409_with_the_three_nearest_and_a_follow_up(
    invoke: Any, open_times: Any, create: Any, aws: Any
) -> None:
    answer = invoke(booking_event({**BY_TIME, "start": "2030-01-07T12:00:00"}))

    assert answer.status == 409
    body = answer.json()
    assert body["code"] == "slot_unavailable"
    assert body["alternatives"] == [
        {"start": "2030-01-07T10:20:00-06:00", "end": "2030-01-07T10:40:00-06:00"},
        {"start": "2030-01-07T11:00:00-06:00", "end": "2030-01-07T11:20:00-06:00"},
        {"start": "2030-01-07T13:00:00-06:00", "end": "2030-01-07T13:20:00-06:00"},
    ]
    assert not create.called
    failed = [e["detail"] for e in aws.events() if e["detail-type"] == "Booking Failed"]
    assert [f["reason"] for f in failed] == ["slot_unavailable"]
    assert failed[0]["booking"]["start"] == "2030-01-07T18:00:00Z"


def test_a_providers_time_that_only_another_provider_has_is_409(
    invoke: Any, open_times: Any, create: Any
) -> None:
    answer = invoke(
        booking_event({**BY_TIME, "start": "2030-01-07T09:00:00", "provider_id": "302"})
    )
    assert answer.status == 409
    assert not create.called


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"start": "2030-01-07T11:00:00"}, "appointment_type"),
        ({"appointment_type": "wellness"}, "start"),
        ({"start": "tomorrow", "appointment_type": "wellness"}, "start"),
        ({"start": "2030-01-07T11:00:00", "appointment_type": "grooming"}, "appointment_type"),
        ({"slot_id": "s-1", "start": "2030-01-07T11:00:00"}, "start"),
        ({}, "slot_id"),
    ],
    ids=["no-type", "no-start", "not-a-time", "unknown-type", "both-slot-and-start", "no-time"],
)
def test_a_time_that_cannot_be_read_is_422_naming_the_field(
    invoke: Any, create: Any, fields: dict[str, str], named: str
) -> None:
    person = {k: v for k, v in JANE_BOOKS_REX.items() if k != "slot_id"}
    answer = invoke(booking_event({**person, **fields}))

    assert answer.status == 422
    assert named in {error["field"] for error in answer.json()["errors"]}
    assert not create.called


def test_the_same_time_written_two_ways_is_one_booking(
    invoke: Any, open_times: Any, create: Any
) -> None:
    first = invoke(booking_event(BY_TIME))
    again = invoke(booking_event({**BY_TIME, "start": "2030-01-07T17:00:00+00:00"}))

    assert (first.status, again.status) == (201, 201)
    assert again.headers.get("idempotent-replayed") == "true"
    assert create.call_count == 1


@pytest.mark.parametrize(
    ("start", "day", "offset", "search_from"),
    [
        # the Sunday clocks go back in Chicago: 09:00 is -05:00 in the morning of Nov 3rd
        ("2030-11-03T09:00:00", "2030-11-03", "-06:00", "2030-11-03T05:00:00Z"),
        # the Sunday clocks go forward: midnight is -06:00, 09:00 is -05:00
        ("2030-03-10T09:00:00", "2030-03-10", "-05:00", "2030-03-10T06:00:00Z"),
    ],
    ids=["fall-back", "spring-forward"],
)
def test_daylight_saving_days_read_the_time_in_the_practices_offset_of_that_day(
    invoke: Any, oliver: Any, create: Any, start: str, day: str, offset: str, search_from: str
) -> None:
    hours = {"date": day, "available": True, "times": [slot(day, 9, offset=offset)]}
    search = oliver.post(f"{API}/open_times").respond(200, json={"success": True, "data": [hours]})

    answer = invoke(booking_event({**BY_TIME, "start": start}))

    assert answer.status == 201, answer.body
    assert sent(create)["slot_id"] == f"{day}-0900-301"
    assert sent(search)["search_from_date"] == search_from


# -- a taken slot, whatever status Oliver uses -------------------------------------------------


@pytest.mark.parametrize("status", [400, 422])
def test_a_refusal_for_a_slot_no_longer_offered_is_409_slot_unavailable_with_alternatives(
    invoke: Any, oliver: Any, status: int
) -> None:
    # Given the 11:00 slot was offered, then taken between search and booking
    taken = {"date": "01/07/2030", "available": True, "times": MONDAY[0]["times"][:2]}
    oliver.post(f"{API}/open_times").mock(
        side_effect=[
            httpx.Response(200, json={"success": True, "data": MONDAY}),
            httpx.Response(200, json={"success": True, "data": [taken]}),
        ]
    )
    oliver.post(f"{API}/appointments").respond(status, json={"success": False, "message": "x"})

    answer = invoke(booking_event(BY_TIME))

    assert answer.status == 409
    assert answer.json()["code"] == "slot_unavailable"
    assert [a["start"] for a in answer.json()["alternatives"]] == [
        "2030-01-07T09:00:00-06:00",
        "2030-01-07T10:20:00-06:00",
    ]


@pytest.mark.parametrize("status", [400, 422])
def test_a_refusal_for_a_slot_still_offered_is_422_booking_rejected(
    invoke: Any, oliver: Any, open_times: Any, status: int
) -> None:
    oliver.post(f"{API}/appointments").respond(status, json={"success": False, "message": "x"})

    answer = invoke(booking_event(BY_TIME))

    assert answer.status == 422
    assert answer.json()["code"] == "booking_rejected"
    assert open_times.call_count == 2  # the search, then one fresh read to decide


def test_a_refusal_that_cannot_be_decided_stays_booking_rejected(invoke: Any, oliver: Any) -> None:
    # Given the slot is booked by id (never seen here) and open times cannot be read just now
    oliver.post(f"{API}/open_times").respond(503, json={"success": False, "message": "down"})
    oliver.post(f"{API}/appointments").respond(400, json={"success": False, "message": "x"})

    answer = invoke(booking_event())

    assert answer.status == 422
    assert answer.json()["code"] == "booking_rejected"
