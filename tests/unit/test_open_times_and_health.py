"""GET /open-times (a proxy of Oliver's POST /open_times, cached per query) and GET /health."""

from __future__ import annotations

import httpx
import pytest
from conftest import API, LOCATION, TOKEN, http_event, load_event, sent

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

    # Then Oliver's POST /open_times is asked, with our credentials, and its days come back
    assert answer.status == 200
    assert answer.json() == {"success": True, "data": DAYS}
    assert sent(upstream) == {
        "search_from_date": "2030-01-07T08:00:00Z",
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

    # Then it answers ok and calls nothing
    assert answer.status == 200
    assert answer.json() == {"status": "ok"}
    assert oliver.calls.call_count == 0


def test_health_is_ok_in_a_configured_function_too(invoke, oliver):
    answer = invoke(http_event("GET", "/health"))

    assert (answer.status, answer.json()) == (200, {"status": "ok"})
    assert oliver.calls.call_count == 0


def test_a_date_upstream_refuses_is_422_on_search_from_date_without_upstreams_words(invoke, oliver):
    # Given Oliver refuses the search (its 400: a date outside what it serves)
    oliver.post(f"{API}/open_times").respond(
        400,
        json={"success": False, "message": "search_from_date is out of range (internal ref 42)"},
    )

    # When a page asks for that date
    answer = invoke(
        open_times_event(search_from_date="2101-01-01T00:00:00Z", appointment_type="wellness")
    )

    # Then it is the caller's parameter that is wrong: 422 naming it, not a 5xx
    assert answer.status == 422
    body = answer.json()
    assert body["code"] == "validation_error"
    assert [e["field"] for e in body["errors"]] == ["search_from_date"]
    assert "internal ref" not in answer.body


def test_an_unusable_upstream_error_on_a_read_passes_on_none_of_its_words(invoke, oliver):
    oliver.post(f"{API}/open_times").respond(
        403, json={"success": False, "message": "tenant 7 forbidden by rule X"}
    )

    answer = invoke(
        open_times_event(search_from_date="2030-01-07T08:00:00Z", appointment_type="wellness")
    )

    assert answer.status == 502
    assert answer.json()["code"] == "upstream_error"
    assert "tenant" not in answer.body
