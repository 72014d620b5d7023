"""The state file: bookings survive a restart; slot ids stay valid across instances."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import httpx

from local.oliver_sandbox import SandboxServer

from .conftest import API, auth_headers, book, free_slots, sign_in


def test_bookings_survive_a_restart(
    sandbox_factory: Callable[..., SandboxServer], tmp_path: Path
) -> None:
    # Given a sandbox with a state file and one booking
    state_file = tmp_path / "oliver.json"
    first = sandbox_factory(state_file=state_file)
    with httpx.Client(base_url=first.url) as http:
        headers = auth_headers(sign_in(http))
        slot_id = free_slots(http, headers)[0]
        created = book(http, headers, slot_id=slot_id).json()["data"]
    first.stop()
    # When a new sandbox starts on the same file
    second = sandbox_factory(state_file=state_file)
    with httpx.Client(base_url=second.url) as http:
        headers = auth_headers(sign_in(http))
        state = http.get("/__sandbox/state").json()
        retry = book(http, headers, slot_id=slot_id)
        nxt = book(http, headers).json()["data"]
    # Then the appointment is still there, its slot still taken, and ids keep counting
    assert [a["id"] for a in state["appointments"]] == [created["id"]]
    assert retry.status_code == 400
    assert nxt["id"] == created["id"] + 1


def test_state_file_is_valid_json_after_each_change(
    sandbox_factory: Callable[..., SandboxServer], tmp_path: Path
) -> None:
    state_file = tmp_path / "nested" / "oliver.json"
    server = sandbox_factory(state_file=state_file)
    with httpx.Client(base_url=server.url) as http:
        book(http, auth_headers(sign_in(http)))
    saved = json.loads(state_file.read_text(encoding="utf-8"))
    assert len(saved["appointments"]) == 1
    assert [p.name for p in state_file.parent.iterdir()] == ["oliver.json"]


def test_slot_seen_before_a_restart_can_be_booked_after_it(
    sandbox_factory: Callable[..., SandboxServer],
) -> None:
    # Given a slot id from one sandbox instance (no state file at all)
    first = sandbox_factory()
    with httpx.Client(base_url=first.url) as http:
        slot_id = free_slots(http, auth_headers(sign_in(http)))[0]
    first.stop()
    # When another instance is asked to book it
    second = sandbox_factory()
    with httpx.Client(base_url=second.url) as http:
        response = book(http, auth_headers(sign_in(http)), slot_id=slot_id)
    # Then it is accepted
    assert response.status_code == 200, response.text


def test_stop_drops_kept_alive_connections(sandbox_factory: Callable[..., SandboxServer]) -> None:
    # Given a client with a kept-alive connection to a sandbox
    server = sandbox_factory()
    with httpx.Client(base_url=server.url) as http:
        assert http.get(f"{API}/nope").status_code == 404
        # When the sandbox stops
        server.stop()
        # Then the old connection no longer answers
        try:
            http.get(f"{API}/nope")
        except httpx.TransportError:
            return
    raise AssertionError("a stopped sandbox answered")
