"""Fixtures: a SandboxServer on a free port of 127.0.0.1 and an httpx client talking to it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from local.oliver_sandbox import SandboxServer
from local.oliver_sandbox.seed import LOCATION_ID, PASSWORD, TIME_ZONE, USERNAME

TZ = ZoneInfo(TIME_ZONE)
AUTH_PATH = "/services/user/v1/auth/sign-in"
API = "/services/core/open_api/v1"


@pytest.fixture
def sandbox_factory() -> Iterator[Callable[..., SandboxServer]]:
    started: list[SandboxServer] = []

    def make(**options: Any) -> SandboxServer:
        server = SandboxServer(port=0, **options).start()
        started.append(server)
        return server

    yield make
    for server in started:
        server.stop()


@pytest.fixture
def sandbox(sandbox_factory: Callable[..., SandboxServer]) -> SandboxServer:
    return sandbox_factory()


@pytest.fixture
def http(sandbox: SandboxServer) -> Iterator[httpx.Client]:
    # Plain HTTP on 127.0.0.1: no certificate, so no CA bundle parsed for every test's client.
    with httpx.Client(base_url=sandbox.url, timeout=10, verify=False) as client:
        yield client


def sign_in(http: httpx.Client) -> str:
    response = http.post(
        AUTH_PATH, json={"username": USERNAME, "password": PASSWORD, "role": "ROLE_API"}
    )
    assert response.status_code == 200, response.text
    token: str = response.json()["data"]["token"]
    return token


def auth_headers(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "X-Client-Id": LOCATION_ID}


@pytest.fixture
def headers(http: httpx.Client) -> dict[str, str]:
    return auth_headers(sign_in(http))


def tomorrow_morning() -> str:
    """A search start in the future (tomorrow 00:00 practice time), as ISO 8601."""
    day = datetime.now(TZ).date() + timedelta(days=1)
    return datetime(day.year, day.month, day.day, tzinfo=TZ).isoformat()


def open_times(
    http: httpx.Client,
    headers: dict[str, str],
    appointment_type: str = "wellness",
    search_from_date: str | None = None,
) -> list[dict[str, Any]]:
    response = http.post(
        f"{API}/open_times",
        headers=headers,
        json={
            "search_from_date": search_from_date or tomorrow_morning(),
            "appointment_type": appointment_type,
        },
    )
    assert response.status_code == 200, response.text
    days: list[dict[str, Any]] = response.json()["data"]
    return days


def free_slots(http: httpx.Client, headers: dict[str, str], count: int = 1) -> list[str]:
    days = open_times(http, headers)
    uuids = [slot["uuid"] for day in days for slot in day["times"]]
    assert len(uuids) >= count
    return uuids[:count]


JANE_REX = {"client_id": 1001, "patient_id": 2001}


def book(
    http: httpx.Client,
    headers: dict[str, str],
    body: dict[str, Any] | None = None,
    slot_id: str | None = None,
) -> httpx.Response:
    """POST /appointments for `body` (Jane and Rex by default) on `slot_id` (a free one)."""
    payload = dict(JANE_REX if body is None else body)
    payload["slot_id"] = slot_id or free_slots(http, headers)[0]
    return http.post(f"{API}/appointments", headers=headers, json=payload)
