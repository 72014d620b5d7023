"""The public endpoint probed over HTTP on the real local stack (`python -m local.dev`: the
template's routes and limits, moto server, the Oliver sandbox), as an attacker would probe
`make dev`. This stack keeps the template's per-visitor limits (the shared test stack lifts
them)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from local.stack import LocalStack

pytestmark = pytest.mark.integration

CAPTCHA = "XXXX.DUMMY.TOKEN.XXXX"  # Cloudflare's documented dummy token (the local stand-in)
JANE_REX = {
    "first_name": "Jane",
    "last_name": "Doe",
    "email": "jane@example.com",
    "patient_name": "Rex",
    "cf-turnstile-response": CAPTCHA,
}
JANE_DETAILS = ("jane@example.com", "555", "Doe", "PIMS", "1001", "2001")


@pytest.fixture(scope="module")
def probed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    with LocalStack(workdir=tmp_path_factory.mktemp("probed")) as stack:
        yield stack


def first_slot(stack: LocalStack) -> dict[str, Any]:
    day = datetime.now(ZoneInfo("America/Chicago")) + timedelta(days=3)
    answer = httpx.get(
        f"{stack.api_url}/open-times",
        params={
            "search_from_date": day.date().isoformat() + "T00:00:00",
            "appointment_type": "sick",
        },
    )
    assert answer.status_code == 200, answer.text
    return next(slot for d in answer.json()["data"] for slot in d["times"])


def book(stack: LocalStack, **fields: Any) -> httpx.Response:
    return httpx.post(f"{stack.api_url}/bookings", json={**JANE_REX, **fields}, timeout=15)


def test_a_public_post_addressing_a_client_by_id_is_refused(probed: LocalStack) -> None:
    answer = book(probed, slot_id="any", client_id=1001, patient_id=2001)
    assert answer.status_code == 422
    assert {e["field"] for e in answer.json()["errors"]} == {"client_id", "patient_id"}
    assert probed.sandbox_state()["create_requests"] == 0


def test_jane_books_rex_and_is_told_only_what_she_typed_and_the_time(probed: LocalStack) -> None:
    slot = first_slot(probed)
    answer = book(probed, slot_id=slot["uuid"])
    assert answer.status_code == 201, answer.text
    assert answer.headers["cache-control"] == "no-store"
    receipt = answer.json()["data"]
    assert receipt["patient_name"] == "Rex"
    assert receipt["start"] == slot["start"]
    for detail in JANE_DETAILS:
        assert detail not in answer.text


def test_a_clients_email_and_a_strangers_get_the_same_bytes(probed: LocalStack) -> None:
    client = book(probed, slot_id="s-1", patient_name="Unicorn")
    stranger = book(probed, slot_id="s-1", email="nobody@example.org")
    assert client.status_code == stranger.status_code == 422
    assert client.content == stranger.content
    assert client.json()["code"] == "not_matched"


def test_a_filled_honeypot_books_nothing_and_looks_booked(probed: LocalStack) -> None:
    before = probed.sandbox_state()["create_requests"]
    answer = book(probed, slot_id=first_slot(probed)["uuid"], website="http://spam.example")
    assert answer.status_code == 201
    assert set(answer.json()["data"]) == {"id", "status", "start", "end", "patient_name"}
    assert probed.sandbox_state()["create_requests"] == before


def test_after_five_misses_a_contact_is_held_without_reaching_the_sandbox(
    probed: LocalStack,
) -> None:
    for guess in range(5):
        miss = book(probed, slot_id="s-2", email="guess@example.org", patient_name=f"P{guess}")
        assert miss.json()["code"] == "not_matched"
    before = probed.sandbox_state()
    held = book(probed, slot_id="s-2", email="guess@example.org")
    assert held.status_code == 202
    assert held.json()["code"] == "held_for_review"
    assert probed.sandbox_state() == before


def test_the_21st_post_from_one_address_is_429_before_anything_is_looked_at(
    probed: LocalStack,
) -> None:
    stack = probed
    stack.clear_counters()  # this address starts with its 20 bookings per 10 minutes unused
    try:
        for _ in range(20):  # whatever they carry, every post counts
            answer = httpx.post(f"{stack.api_url}/bookings", json={"slot_id": "s"})
            assert answer.status_code == 422
        requests_before = stack.sandbox_state()
        answer = book(stack, slot_id="s")
        assert answer.status_code == 429
        assert answer.json()["code"] == "rate_limited"
        assert 1 <= int(answer.headers["retry-after"]) <= 300
        assert stack.sandbox_state() == requests_before
    finally:
        stack.clear_counters()  # the module's other tests post from this address too
