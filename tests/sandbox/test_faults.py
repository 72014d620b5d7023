"""Fault injection and the other control endpoints."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from local.oliver_sandbox import SandboxServer

from .conftest import API, AUTH_PATH, book, free_slots, sign_in


def _fault(http: httpx.Client, action: dict[str, Any], **rule: Any) -> None:
    body = {"rules": [{"method": "POST", "path": "/appointments", **rule, **action}]}
    response = http.post("/__sandbox/faults", json=body)
    assert response.status_code == 200, response.text


def _created(http: httpx.Client) -> int:
    count: int = http.get("/__sandbox/state").json()["appointments_created"]
    return count


def test_status_action_answers_without_processing(
    http: httpx.Client, headers: dict[str, str]
) -> None:
    # Given a 500 fault on the next create
    slot_id = free_slots(http, headers)[0]
    _fault(http, {"action": "status", "status": 500})
    # When creating
    response = book(http, headers, slot_id=slot_id)
    # Then the default error envelope, and nothing was booked
    assert response.status_code == 500
    assert response.json() == {"success": False, "data": None, "message": "Internal error"}
    assert _created(http) == 0


def test_status_action_with_body_and_headers(http: httpx.Client, headers: dict[str, str]) -> None:
    slot_id = free_slots(http, headers)[0]
    _fault(
        http,
        {
            "action": "status",
            "status": 429,
            "body": {"success": False, "message": "Too many requests"},
            "headers": {"Retry-After": "7"},
        },
    )
    response = book(http, headers, slot_id=slot_id)
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "7"
    assert response.json()["message"] == "Too many requests"


def test_rule_fires_only_times_times(http: httpx.Client, headers: dict[str, str]) -> None:
    # Given a fault for one request
    first, second = free_slots(http, headers, 2)
    _fault(http, {"action": "status", "status": 503}, times=1)
    # When creating twice / Then only the first is faulted
    assert book(http, headers, slot_id=first).status_code == 503
    assert book(http, headers, slot_id=second).status_code == 200


def test_rule_with_times_minus_one_fires_forever(
    http: httpx.Client, headers: dict[str, str]
) -> None:
    _fault(http, {"action": "status", "status": 502}, times=-1)
    assert [book(http, headers).status_code for _ in range(3)] == [502, 502, 502]


def test_rule_matches_method_and_path(http: httpx.Client, headers: dict[str, str]) -> None:
    # Given a fault on GET /clients only
    http.post(
        "/__sandbox/faults",
        json={"rules": [{"method": "GET", "path": "/clients", "action": "status", "status": 500}]},
    )
    # When creating / Then unaffected; the GET is faulted
    assert book(http, headers).status_code == 200
    assert http.get(f"{API}/clients", params={"name": "x"}, headers=headers).status_code == 500


def test_sign_in_is_matched_by_its_full_path(http: httpx.Client) -> None:
    http.post(
        "/__sandbox/faults",
        json={"rules": [{"path": AUTH_PATH, "action": "status", "status": 500}]},
    )
    response = http.post(AUTH_PATH, json={})
    assert response.status_code == 500


def test_raw_action_answers_a_non_json_body(http: httpx.Client, headers: dict[str, str]) -> None:
    slot_id = free_slots(http, headers)[0]
    _fault(http, {"action": "raw", "status": 200, "text": "<html>oops"})
    response = book(http, headers, slot_id=slot_id)
    assert response.status_code == 200
    assert response.text == "<html>oops"
    assert response.headers["content-type"].startswith("text/html")
    assert _created(http) == 0


def test_delay_action_sleeps_then_processes(http: httpx.Client, headers: dict[str, str]) -> None:
    slot_id = free_slots(http, headers)[0]
    _fault(http, {"action": "delay", "seconds": 0.5})
    started = time.monotonic()
    response = book(http, headers, slot_id=slot_id)
    assert time.monotonic() - started >= 0.5
    assert response.status_code == 200


def test_reset_before_drops_the_connection_and_books_nothing(
    http: httpx.Client, headers: dict[str, str]
) -> None:
    slot_id = free_slots(http, headers)[0]
    _fault(http, {"action": "reset_before"})
    with pytest.raises(httpx.TransportError):
        book(http, headers, slot_id=slot_id)
    state = http.get("/__sandbox/state").json()
    assert state["appointments_created"] == 0
    assert state["create_requests"] == 1


def test_reset_after_drops_the_connection_but_books(
    http: httpx.Client, headers: dict[str, str]
) -> None:
    # Given a fault that processes the create and then drops the connection
    slot_id = free_slots(http, headers)[0]
    _fault(http, {"action": "reset_after"})
    # When creating / Then the client sees a transport error
    with pytest.raises(httpx.TransportError):
        book(http, headers, slot_id=slot_id)
    # And the appointment exists anyway
    assert _created(http) == 1
    assert book(http, headers, slot_id=slot_id).status_code == 400


def test_timeout_after_books_then_answers_too_late(
    sandbox: SandboxServer, headers: dict[str, str]
) -> None:
    with httpx.Client(base_url=sandbox.url, timeout=10) as http:
        slot_id = free_slots(http, headers)[0]
        _fault(http, {"action": "timeout_after", "seconds": 3})
        # Only the booking waits briefly (a busy machine may take longer than that to search)
        with (
            httpx.Client(base_url=sandbox.url, timeout=0.3) as impatient,
            pytest.raises(httpx.ReadTimeout),
        ):
            book(impatient, headers, slot_id=slot_id)
        assert _created(http) == 1


def test_global_error_rate_one_fails_every_call(
    http: httpx.Client, headers: dict[str, str]
) -> None:
    http.post("/__sandbox/faults", json={"error_rate": 1.0})
    response = http.get(f"{API}/clients", params={"name": "Doe"}, headers=headers)
    assert response.status_code == 500
    assert response.json()["success"] is False


def test_global_latency_slows_every_call(http: httpx.Client, headers: dict[str, str]) -> None:
    http.post("/__sandbox/faults", json={"latency_ms": 300})
    started = time.monotonic()
    http.get(f"{API}/clients", params={"name": "Doe"}, headers=headers)
    assert time.monotonic() - started >= 0.3


def test_constructor_error_rate(sandbox_factory: Callable[..., SandboxServer]) -> None:
    server = sandbox_factory(error_rate=1.0)
    with httpx.Client(base_url=server.url) as http:
        assert http.post(AUTH_PATH, json={}).status_code == 500


def test_delete_faults_clears_rules_and_globals(
    http: httpx.Client, headers: dict[str, str]
) -> None:
    _fault(http, {"action": "status", "status": 500}, times=-1)
    http.post("/__sandbox/faults", json={"error_rate": 1.0})
    http.delete("/__sandbox/faults")
    assert book(http, headers).status_code == 200


def test_bad_rule_is_rejected(http: httpx.Client) -> None:
    response = http.post("/__sandbox/faults", json={"rules": [{"action": "explode"}]})
    assert response.status_code == 400


def test_reset_restores_the_seed(http: httpx.Client, headers: dict[str, str]) -> None:
    # Given a booking, a fault and logged requests
    slot_id = free_slots(http, headers)[0]
    book(http, headers, slot_id=slot_id)
    _fault(http, {"action": "status", "status": 500}, times=-1)
    # When resetting
    assert http.post("/__sandbox/reset").status_code == 200
    # Then no appointment, no fault, no log, and the slot is free again
    state = http.get("/__sandbox/state").json()
    assert state == {"appointments": [], "create_requests": 0, "appointments_created": 0}
    assert http.get("/__sandbox/requests").json() == []
    assert book(http, headers, slot_id=slot_id).status_code == 200


def test_request_log_masks_the_token(http: httpx.Client) -> None:
    # Given a signed-in call
    token = sign_in(http)
    http.get(
        f"{API}/clients",
        params={"email": "jane@example.com"},
        headers={"Authorization": f"Bearer {token}"},
    )
    # When reading the log
    log = http.get("/__sandbox/requests").json()
    # Then the token and the password never appear
    assert token not in str(log)
    assert "sandbox-password" not in str(log)
    last = log[-1]
    assert last["method"] == "GET"
    assert last["path"] == f"{API}/clients"
    assert last["query"] == {"email": "jane@example.com"}
    assert last["headers"]["authorization"] == "Bearer ***"
    assert last["body"] is None


def test_state_counts_create_requests_including_failed_ones(
    http: httpx.Client, headers: dict[str, str]
) -> None:
    slot_id = free_slots(http, headers)[0]
    book(http, headers, slot_id=slot_id)
    book(http, headers, slot_id=slot_id)
    state = http.get("/__sandbox/state").json()
    assert (state["create_requests"], state["appointments_created"]) == (2, 1)
