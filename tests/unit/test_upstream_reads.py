"""Errors on Oliver's reads (the client lookup, open times, the reconciliation lookup) through the
real handler: 429 and 5xx retried a fixed number of times with known waits, ``Retry-After`` in
seconds or as an HTTP date kept within 1..300, and a 401 answered by one fresh read of the
credentials.

No test here waits: ``booking.oliver``'s clock is replaced by one that records each sleep and
moves its own time forward, so the waits are asserted exactly and cost nothing."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

import httpx
import pytest
from conftest import (
    API,
    JANE,
    LOCATION,
    SIGN_IN,
    TOKEN,
    assert_error,
    bearer,
    booking_event,
    clients_found,
    created,
    http_event,
    jwt,
    listed,
    now_iso,
    signed_in,
)

NOW = 1_900_000_000.0  # 2030-03-17T17:46:40Z, the recorded clock's start
ROTATED = "tok-rotated-after-401"
DAYS = [
    {
        "date": "01/07/2030",
        "available": True,
        "times": [
            {
                "start": "2030-01-07T09:00:00-06:00",
                "end": "2030-01-07T09:20:00-06:00",
                "uuid": "slot-1",
            }
        ],
    }
]
OPEN_TIMES = {"search_from_date": "2030-01-07T08:00:00Z", "appointment_type": "wellness"}
TOO_MANY = {"success": False, "message": "Too many requests"}
UNAUTHORIZED = {"success": False, "message": "Unauthorized"}


@dataclass
class Clock:
    """Stands in for the ``time`` module in ``booking.oliver``: sleeps are recorded, not slept."""

    now: float = NOW
    slept: list[float] = field(default_factory=list)

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@pytest.fixture
def clock(monkeypatch) -> Clock:
    from booking import oliver

    recorded = Clock()
    monkeypatch.setattr(oliver, "time", recorded)
    return recorded


@pytest.fixture
def create(oliver) -> Any:
    return oliver.post(f"{API}/appointments").respond(200, json=created(501))


def http_date(at: float) -> str:
    return format_datetime(datetime.fromtimestamp(at, UTC), usegmt=True)


def too_many(retry_after: str | None) -> httpx.Response:
    headers = {"Retry-After": retry_after} if retry_after is not None else {}
    return httpx.Response(429, headers=headers, json=TOO_MANY)


def jane_found() -> httpx.Response:
    return httpx.Response(200, json=clients_found(JANE))


def open_times_event() -> dict[str, Any]:
    return http_event("GET", "/open-times", query=OPEN_TIMES)


# -- 429 on a read: retried, then rate_limited ----------------------------------------------------


def test_a_lookup_answered_429_three_times_is_429_rate_limited_after_waiting_as_told(
    invoke, oliver, create, clock
):
    # Given Oliver answers every client lookup 429, retry after 2 s
    lookup = oliver.get(f"{API}/clients").mock(return_value=too_many("2"))

    # When Jane books
    answer = invoke(booking_event())

    # Then the lookup was tried three times, 2 s apart, and the caller is told Oliver's wait
    assert_error(answer, 429, "rate_limited")
    assert answer.headers["retry-after"] == "2"
    assert lookup.call_count == 3
    assert clock.slept == [2.0, 2.0]
    assert create.call_count == 0


def test_a_lookup_answered_429_once_books_after_one_wait(invoke, oliver, create, clock):
    lookup = oliver.get(f"{API}/clients").mock(side_effect=[too_many("1"), jane_found()])

    answer = invoke(booking_event())

    assert answer.status == 201, answer.body
    assert lookup.call_count == 2
    assert clock.slept == [1.0]
    assert create.call_count == 1


@pytest.mark.parametrize(
    ("upstream", "ours", "calls", "slept"),
    [
        pytest.param("0", "1", 3, [1.0, 1.0], id="zero-is-raised-to-1"),
        pytest.param("3", "3", 3, [3.0, 3.0], id="within-the-time-left"),
        pytest.param("60", "60", 1, [], id="longer-than-the-time-left-is-not-waited"),
        pytest.param("999999", "300", 1, [], id="huge-is-capped-at-300"),
        pytest.param(None, "30", 1, [], id="absent-is-30"),
        pytest.param("soon", "30", 1, [], id="unreadable-is-30"),
        pytest.param("-5", "30", 1, [], id="negative-is-30"),
    ],
)
def test_retry_after_on_a_read_is_waited_when_time_allows_and_passed_on_within_1_to_300(
    invoke, oliver, create, clock, upstream, ours, calls, slept
):
    lookup = oliver.get(f"{API}/clients").mock(return_value=too_many(upstream))

    answer = invoke(booking_event())

    assert_error(answer, 429, "rate_limited")
    assert answer.headers["retry-after"] == ours
    assert lookup.call_count == calls
    assert clock.slept == slept


@pytest.mark.parametrize(
    ("offset", "ours", "calls", "slept"),
    [
        # 3 s ahead: waited; by the second answer that moment has come, so 1 s (the floor)
        pytest.param(3, "1", 3, [3.0, 1.0], id="3s-ahead"),
        pytest.param(90, "90", 1, [], id="90s-ahead-is-more-than-the-time-left"),
        pytest.param(86_400, "300", 1, [], id="a-day-ahead-is-capped-at-300"),
        pytest.param(-3_600, "1", 3, [1.0, 1.0], id="an-hour-ago-is-raised-to-1"),
    ],
)
def test_retry_after_as_an_http_date_counts_from_the_current_time(
    invoke, oliver, create, clock, offset, ours, calls, slept
):
    # Given Oliver says when to come back as a date, not a number of seconds
    lookup = oliver.get(f"{API}/clients").mock(return_value=too_many(http_date(NOW + offset)))

    answer = invoke(booking_event())

    assert_error(answer, 429, "rate_limited")
    assert answer.headers["retry-after"] == ours
    assert lookup.call_count == calls
    assert clock.slept == slept


def test_open_times_answered_429_three_times_is_429_rate_limited_after_waiting_as_told(
    invoke, oliver, clock
):
    search = oliver.post(f"{API}/open_times").mock(return_value=too_many("2"))

    answer = invoke(open_times_event())

    assert_error(answer, 429, "rate_limited")
    assert answer.headers["retry-after"] == "2"
    assert search.call_count == 3
    assert clock.slept == [2.0, 2.0]


def test_open_times_answered_429_once_answers_after_one_wait(invoke, oliver, clock):
    search = oliver.post(f"{API}/open_times").mock(
        side_effect=[too_many("1"), httpx.Response(200, json={"success": True, "data": DAYS})]
    )

    answer = invoke(open_times_event())

    assert answer.status == 200, answer.body
    assert answer.json()["data"] == DAYS
    assert search.call_count == 2
    assert clock.slept == [1.0]


def test_a_rate_limited_reconciliation_lookup_leaves_the_outcome_unknown(invoke, oliver, clock):
    # Given the create timed out after sending, and the lookup is rate limited
    create = oliver.post(f"{API}/appointments").mock(side_effect=httpx.ReadTimeout("no answer"))
    lookup = oliver.get(f"{API}/appointments").mock(return_value=too_many("2"))

    answer = invoke(booking_event())

    # Then the caller is not told "rate limited" (the booking may exist): outcome unknown
    assert_error(answer, 503, "outcome_unknown")
    assert answer.headers["retry-after"] == "60"
    assert create.call_count == 1
    assert lookup.call_count == 3
    assert clock.slept == [2.0, 2.0]


# -- 5xx and refused connections on a read --------------------------------------------------------


@pytest.mark.parametrize(
    "failure",
    [
        pytest.param(httpx.Response(503, text="busy"), id="503"),
        pytest.param(httpx.Response(500, json={"success": False}), id="500"),
        pytest.param(httpx.ConnectError("connection refused"), id="connection-refused"),
    ],
)
def test_a_lookup_that_keeps_failing_is_tried_three_times_then_503(
    invoke, oliver, create, clock, failure
):
    lookup = oliver.get(f"{API}/clients").mock(side_effect=[failure] * 3)

    answer = invoke(booking_event())

    assert_error(answer, 503, "upstream_unavailable")
    assert answer.headers["retry-after"] == "10"
    assert lookup.call_count == 3
    assert clock.slept == pytest.approx([0.2, 0.6])
    assert create.call_count == 0


def test_open_times_that_keep_failing_are_tried_three_times_then_503(invoke, oliver, clock):
    search = oliver.post(f"{API}/open_times").mock(side_effect=httpx.ConnectError("refused"))

    answer = invoke(open_times_event())

    assert_error(answer, 503, "upstream_unavailable")
    assert answer.headers["retry-after"] == "10"
    assert search.call_count == 3
    assert clock.slept == pytest.approx([0.2, 0.6])


def test_a_create_whose_connection_is_refused_is_sent_exactly_three_times(invoke, oliver, clock):
    # Never sent, so safe to send again: three attempts, 0.2 s then 0.4 s apart
    create = oliver.post(f"{API}/appointments").mock(side_effect=httpx.ConnectError("refused"))

    answer = invoke(booking_event())

    assert_error(answer, 503, "upstream_unavailable")
    assert answer.headers["retry-after"] == "10"
    assert create.call_count == 3
    assert clock.slept == pytest.approx([0.2, 0.4])


# -- 401 on a read: one fresh read of the credentials ---------------------------------------------


def rotate_on_first_401(aws: Any, route_answer: httpx.Response) -> Any:
    """A side effect: the old token is refused (and the secret rotated meanwhile), the rotated
    one gets ``route_answer``."""

    def answer(request: httpx.Request) -> httpx.Response:
        if request.headers["authorization"] == f"Bearer {TOKEN}":
            aws.set_secret(json.dumps({"token": ROTATED, "location_id": LOCATION}))
            return httpx.Response(401, json=UNAUTHORIZED)
        return route_answer

    return answer


def always_401(aws: Any) -> Any:
    rotations = iter([ROTATED, "tok-rotated-again"])

    def answer(_request: httpx.Request) -> httpx.Response:
        aws.set_secret(json.dumps({"token": next(rotations), "location_id": LOCATION}))
        return httpx.Response(401, json=UNAUTHORIZED)

    return answer


def test_a_401_on_the_lookup_rereads_the_secret_and_retries_once_then_books(
    invoke, oliver, create, aws
):
    # Given the token was rotated after the function cached it
    lookup = oliver.get(f"{API}/clients").mock(side_effect=rotate_on_first_401(aws, jane_found()))

    # When Jane books
    answer = invoke(booking_event())

    # Then the lookup was retried once with the rotated token, and so was everything after it
    assert answer.status == 201, answer.body
    assert lookup.call_count == 2
    assert [bearer(lookup, 0), bearer(lookup, 1)] == [f"Bearer {TOKEN}", f"Bearer {ROTATED}"]
    assert create.call_count == 1
    assert bearer(create) == f"Bearer {ROTATED}"


def test_two_401s_on_the_lookup_are_502_upstream_auth_failed_and_nothing_is_created(
    invoke, oliver, create, aws
):
    lookup = oliver.get(f"{API}/clients").mock(side_effect=always_401(aws))

    answer = invoke(booking_event())

    assert_error(answer, 502, "upstream_auth_failed")
    assert lookup.call_count == 2
    # The retry used the value set after the first 401: the secret was read afresh in between
    assert [bearer(lookup, 0), bearer(lookup, 1)] == [f"Bearer {TOKEN}", f"Bearer {ROTATED}"]
    assert create.call_count == 0
    assert TOKEN not in answer.body and ROTATED not in answer.body


def test_a_401_on_open_times_rereads_the_secret_and_retries_once(invoke, oliver, aws):
    search = oliver.post(f"{API}/open_times").mock(
        side_effect=rotate_on_first_401(
            aws, httpx.Response(200, json={"success": True, "data": DAYS})
        )
    )

    answer = invoke(open_times_event())

    assert answer.status == 200, answer.body
    assert answer.json()["data"] == DAYS
    assert search.call_count == 2
    assert [bearer(search, 0), bearer(search, 1)] == [f"Bearer {TOKEN}", f"Bearer {ROTATED}"]


def test_two_401s_on_open_times_are_502_upstream_auth_failed(invoke, oliver, aws):
    search = oliver.post(f"{API}/open_times").mock(side_effect=always_401(aws))

    answer = invoke(open_times_event())

    assert_error(answer, 502, "upstream_auth_failed")
    assert search.call_count == 2


def test_a_401_on_the_reconciliation_lookup_rereads_the_secret_and_finds_the_booking(
    invoke, oliver, aws
):
    # Given the create timed out after sending, and the token was rotated meanwhile
    create = oliver.post(f"{API}/appointments").mock(side_effect=httpx.ReadTimeout("no answer"))
    made = {
        "id": "730",
        "status": "REQUESTED",
        "created_at": now_iso(),
        "booking_date": "2030-01-07T15:00:00Z",
        "end_date": "2030-01-07T15:20:00Z",
        "client_first_name": "Jane",
        "client_last_name": "Doe",
        "client_email": "jane@example.com",
        "patient_name": "Rex",
    }
    lookup = oliver.get(f"{API}/appointments").mock(
        side_effect=rotate_on_first_401(aws, httpx.Response(200, json=listed(made)))
    )

    answer = invoke(booking_event())

    assert answer.status == 201, answer.body
    assert answer.json()["data"]["id"] == 730
    assert create.call_count == 1
    assert lookup.call_count == 2
    assert bearer(lookup, 1) == f"Bearer {ROTATED}"


def test_a_401_on_the_lookup_signs_in_again_once_with_partner_credentials(
    invoke, oliver, create, aws
):
    # Given partner credentials: the function signs in for a JWT, which Oliver then revokes
    aws.set_secret(json.dumps({"username": "partner", "password": "pw", "location_id": LOCATION}))
    first, second = jwt(exp=NOW), jwt(exp=NOW)
    sign_in = oliver.post(SIGN_IN).mock(
        side_effect=[
            httpx.Response(200, json=signed_in(first)),
            httpx.Response(200, json=signed_in(second)),
        ]
    )
    lookup = oliver.get(f"{API}/clients").mock(
        side_effect=[httpx.Response(401, json=UNAUTHORIZED), jane_found()]
    )

    answer = invoke(booking_event())

    # Then one more sign-in, one retried lookup with the new JWT, and the booking
    assert answer.status == 201, answer.body
    assert sign_in.call_count == 2
    assert [bearer(lookup, 0), bearer(lookup, 1)] == [f"Bearer {first}", f"Bearer {second}"]
    assert bearer(create) == f"Bearer {second}"
