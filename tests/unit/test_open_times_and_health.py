"""GET /open-times (a proxy of Oliver's POST /open_times, cached per appointment type and practice
day) and GET /health."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from booking.version import VERSION
from conftest import (
    API,
    JANE_BOOKS_REX,
    LOCATION,
    TOKEN,
    booking_event,
    http_event,
    load_event,
    sent,
)

DAYS = [
    {
        "date": f"01/0{day}/2030",
        "available": True,
        "times": [
            {
                "start": f"2030-01-0{day}T09:00:00-06:00",
                "end": f"2030-01-0{day}T09:20:00-06:00",
                "provider_id": "prov-1",
                "value": "09:00",
                "label": "9:00 am",
                "uuid": f"slot-{day}",
            }
        ],
    }
    for day in (7, 8, 9)
]


def open_times_event(**query: str):
    return http_event("GET", "/open-times", query=query, headers={"accept": "application/json"})


@pytest.fixture
def upstream(oliver):
    return oliver.post(f"{API}/open_times").respond(200, json={"success": True, "data": DAYS})


def test_open_times_proxies_oliver_with_the_query_as_its_body(invoke, upstream):
    # When a page asks for wellness openings
    answer = invoke(load_event("open-times.json"))

    # Then Oliver's POST /open_times is asked for that practice day from its start (midnight in
    # Chicago), with our credentials, and its days come back
    assert answer.status == 200
    assert answer.json() == {"success": True, "data": DAYS}
    assert sent(upstream) == {
        "search_from_date": "2030-01-07T06:00:00Z",
        "appointment_type": "wellness",
    }
    headers = upstream.calls.last.request.headers
    assert headers["x-client-id"] == LOCATION
    assert headers["authorization"] == f"Bearer {TOKEN}"
    assert TOKEN not in answer.body


def test_two_identical_queries_call_upstream_once(invoke, upstream):
    first = invoke(
        open_times_event(search_from_date="2030-01-07T08:00:00Z", appointment_type="sick")
    )
    second = invoke(
        open_times_event(search_from_date="2030-01-07T08:00:00Z", appointment_type="sick")
    )

    assert first.json() == second.json()
    assert upstream.call_count == 1


def test_a_different_query_is_not_served_from_the_cache(invoke, upstream):
    invoke(open_times_event(search_from_date="2030-01-07T08:00:00Z", appointment_type="sick"))
    invoke(open_times_event(search_from_date="2030-01-07T08:00:00Z", appointment_type="recheck"))

    assert upstream.call_count == 2


def test_days_trims_the_answer(invoke, upstream):
    answer = invoke(
        open_times_event(
            search_from_date="2030-01-07T08:00:00Z", appointment_type="wellness", days="2"
        )
    )

    assert answer.status == 200
    assert answer.json()["data"] == DAYS[:2]
    assert "days" not in sent(upstream)


@pytest.mark.parametrize(
    ("query", "field"),
    [
        pytest.param(
            {"search_from_date": "2030-01-07T08:00:00Z", "appointment_type": "grooming"},
            "appointment_type",
            id="bad-type",
        ),
        pytest.param(
            {"search_from_date": "2030-01-07T08:00:00Z"}, "appointment_type", id="missing-type"
        ),
        pytest.param({"appointment_type": "wellness"}, "search_from_date", id="missing-date"),
        pytest.param(
            {"search_from_date": "next tuesday", "appointment_type": "wellness"},
            "search_from_date",
            id="non-iso-date",
        ),
        pytest.param(
            {"search_from_date": "01/07/2030", "appointment_type": "wellness"},
            "search_from_date",
            id="us-date",
        ),
        pytest.param(
            {
                "search_from_date": "2030-01-07T08:00:00Z",
                "appointment_type": "wellness",
                "days": "0",
            },
            "days",
            id="days-zero",
        ),
    ],
)
def test_bad_parameters_are_422_naming_the_field(invoke, upstream, query, field):
    answer = invoke(open_times_event(**query))

    assert answer.status == 422
    body = answer.json()
    assert body["code"] == "validation_error"
    assert field in {error["field"] for error in body["errors"]}
    assert not upstream.called


def test_the_invalid_open_times_event_file_is_422(invoke, upstream):
    answer = invoke(load_event("open-times-invalid.json"))

    assert answer.status == 422
    assert [e["field"] for e in answer.json()["errors"]] == ["appointment_type"]
    assert "grooming" not in answer.body


def test_upstream_unreachable_for_open_times_is_503_with_retry_after(invoke, oliver):
    oliver.post(f"{API}/open_times").mock(side_effect=httpx.ConnectError("refused"))

    answer = invoke(
        open_times_event(search_from_date="2030-01-07T08:00:00Z", appointment_type="sick")
    )

    assert answer.status == 503
    assert answer.json()["code"] == "upstream_unavailable"
    assert int(answer.headers["retry-after"]) > 0


def test_health_is_ok_without_any_configuration_or_upstream_call(bare_invoke, oliver):
    # Given a function with no configuration at all, and Oliver watching for calls
    # When the health check is called
    answer = bare_invoke(load_event("health.json"))

    # Then it answers ok with the release's version, and calls nothing
    assert answer.status == 200
    assert answer.json() == {"status": "ok", "version": VERSION}
    assert oliver.calls.call_count == 0


def test_the_health_version_is_the_releases_semantic_version(bare_invoke):
    answer = bare_invoke(http_event("GET", "/health"))

    assert answer.json()["version"] == VERSION == "0.2.0"
    assert re.fullmatch(r"\d+\.\d+\.\d+", answer.json()["version"])


def test_health_is_ok_in_a_configured_function_too(invoke, oliver):
    answer = invoke(http_event("GET", "/health"))

    assert (answer.status, answer.json()) == (200, {"status": "ok", "version": VERSION})
    assert oliver.calls.call_count == 0


def test_a_date_more_than_ten_years_ahead_is_422_on_search_from_date_without_asking(invoke, oliver):
    search = oliver.post(f"{API}/open_times")

    answer = invoke(
        open_times_event(search_from_date="2101-01-01T00:00:00Z", appointment_type="wellness")
    )

    assert answer.status == 422
    assert [e["field"] for e in answer.json()["errors"]] == ["search_from_date"]
    assert not search.called


@pytest.mark.parametrize("status", [400, 403, 404])
def test_a_search_oliver_refuses_is_a_wrong_location_so_503_configuration_error(
    invoke, oliver, status, caplog
):
    # Given Oliver refuses a well-formed search (the practice it was told is not one it knows)
    oliver.post(f"{API}/open_times").respond(
        status, json={"success": False, "message": "tenant 7 forbidden by rule X"}
    )

    # When a page asks for open times
    answer = invoke(open_times_event(search_from_date=soon(), appointment_type="wellness"))

    # Then the operator is told what is wrong (and alarmed), the caller nothing of upstream
    assert answer.status == 503
    assert answer.json()["code"] == "configuration_error"
    assert "tenant" not in answer.body
    assert any("OLIVER_LOCATION_ID" in str(r.__dict__.get("detail")) for r in caplog.records)


def soon() -> str:
    return (datetime.now(UTC) + timedelta(days=2)).isoformat()


# -- the cache: per appointment type and practice day ---------------------------------------------


def at(hour: int, minute: int = 0) -> dict[str, str]:
    """A 20-minute time on 2030-01-07 in Chicago (-06:00), as Oliver lists it."""
    start = f"2030-01-07T{hour:02d}:{minute:02d}:00-06:00"
    return {
        "start": start,
        "end": f"2030-01-07T{hour:02d}:{minute + 20:02d}:00-06:00",
        "uuid": f"slot-{hour:02d}{minute:02d}",
    }


MONDAY = {"date": "01/07/2030", "available": True, "times": [at(9), at(11), at(14)]}


def wellness_from(when: str):
    return open_times_event(search_from_date=when, appointment_type="wellness")


def test_later_queries_of_the_same_day_share_one_upstream_call_and_keep_only_later_times(
    invoke, oliver
):
    # Given Oliver has three times on Monday the 7th
    upstream = oliver.post(f"{API}/open_times").respond(
        200, json={"success": True, "data": [MONDAY]}
    )

    # When a page asks from 08:00, then from 10:30, then from 11:00 (Chicago) that day
    early = invoke(wellness_from("2030-01-07T08:00:00-06:00"))
    later = invoke(wellness_from("2030-01-07T16:30:00Z"))
    on_the_hour = invoke(wellness_from("2030-01-07T11:00:00-06:00"))

    # Then Oliver was asked once, and each answer holds the times from the asked time on
    assert upstream.call_count == 1
    assert early.json()["data"] == [MONDAY]
    assert later.json()["data"] == [{**MONDAY, "times": [at(11), at(14)]}]
    assert on_the_hour.json()["data"] == [{**MONDAY, "times": [at(11), at(14)]}]


def test_another_practice_day_is_another_upstream_call(invoke, oliver):
    upstream = oliver.post(f"{API}/open_times").respond(
        200, json={"success": True, "data": [MONDAY]}
    )

    # 23:00 on the 7th in Chicago is already the 8th in UTC: still Monday for the practice
    invoke(wellness_from("2030-01-07T08:00:00-06:00"))
    invoke(wellness_from("2030-01-08T05:00:00Z"))
    assert upstream.call_count == 1

    invoke(wellness_from("2030-01-08T08:00:00-06:00"))

    assert upstream.call_count == 2
    assert sent(upstream) == {
        "search_from_date": "2030-01-08T06:00:00Z",
        "appointment_type": "wellness",
    }


def test_a_time_already_past_is_searched_from_the_next_minute(invoke, oliver, monkeypatch):
    # Given it is 09:04:37 on Monday the 7th in Chicago
    from booking import container

    now = datetime(2030, 1, 7, 15, 4, 37, tzinfo=UTC)
    monkeypatch.setattr(container.open_times(), "_now", lambda: now)
    upstream = oliver.post(f"{API}/open_times").respond(200, json={"success": True, "data": DAYS})

    # When a page asks for that morning's times from 02:00
    answer = invoke(wellness_from("2030-01-07T08:00:00Z"))

    # Then Oliver is asked from the next minute (never a time already past, which it may
    # refuse), and the 09:00 time that has gone is not offered
    assert sent(upstream) == {
        "search_from_date": "2030-01-07T15:05:00Z",
        "appointment_type": "wellness",
    }
    assert answer.json()["data"] == DAYS[1:]


def test_the_cache_lasts_the_configured_seconds(invoke, oliver, reconfigure):
    reconfigure(OPEN_TIMES_CACHE_SECONDS="0")
    upstream = oliver.post(f"{API}/open_times").respond(200, json={"success": True, "data": DAYS})

    invoke(wellness_from("2030-01-07T08:00:00Z"))
    invoke(wellness_from("2030-01-07T08:00:00Z"))

    assert upstream.call_count == 2


def test_a_slot_found_taken_leaves_the_cached_answer_at_once(invoke, oliver):
    # Given a page got the open times of the 7th to the 9th
    upstream = oliver.post(f"{API}/open_times").respond(200, json={"success": True, "data": DAYS})
    assert invoke(wellness_from("2030-01-07T08:00:00Z")).status == 200
    # and the time of the 7th was taken meanwhile
    oliver.post(f"{API}/appointments").respond(409, json={"success": False, "message": "taken"})

    # When a visitor tries to book it
    assert invoke(booking_event({**JANE_BOOKS_REX, "slot_id": "slot-7"})).status == 409

    # Then the next visitor is not offered it; the one fresh read made to offer alternatives
    # is what the cache serves from
    answer = invoke(wellness_from("2030-01-07T08:00:00Z"))
    offered = [t["uuid"] for day in answer.json()["data"] for t in day["times"]]
    assert offered == ["slot-8", "slot-9"]
    assert upstream.call_count == 2
