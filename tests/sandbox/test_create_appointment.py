"""POST /appointments: slots are consumed, identification rules, status, response shape."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from local.oliver_sandbox import SandboxServer

from .conftest import API, auth_headers, book, free_slots, open_times, sign_in

DATA_FIELDS = {
    "id",
    "remote_id",
    "remote_client_id",
    "remote_patient_id",
    "status",
    "booking_date",
    "end_date",
    "created_at",
    "updated_at",
    "referral_source",
    "referral_campaign",
    "referral_medium",
    "client_first_name",
    "client_last_name",
    "client_email",
    "client_phone",
    "client_type",
    "patient_name",
}


def test_create_answers_200_with_the_full_data_object(
    http: httpx.Client, headers: dict[str, str]
) -> None:
    # Given a free slot / When booking Jane and Rex on it
    response = book(http, headers)
    # Then 200 with the documented data object
    assert response.status_code == 200, response.text
    payload = response.json()
    assert payload["success"] is True
    assert payload["message"] == "Appointment created successfully"
    data = payload["data"]
    assert set(data) == DATA_FIELDS
    assert isinstance(data["id"], int)
    assert data["remote_id"] is None
    assert data["remote_client_id"] == "PIMS-C-1001"
    assert data["remote_patient_id"] == "PIMS-P-2001"
    assert data["status"] == "REQUESTED"
    assert data["client_type"] == "RETURNING"
    assert (data["client_first_name"], data["client_last_name"]) == ("Jane", "Doe")
    assert (data["client_email"], data["client_phone"]) == ("jane@example.com", "+15555550100")
    assert data["patient_name"] == "Rex"
    assert data["referral_source"] is None


def test_booking_date_is_the_slot_start(http: httpx.Client, headers: dict[str, str]) -> None:
    slot = open_times(http, headers)[0]["times"] or open_times(http, headers)[1]["times"]
    response = book(http, headers, slot_id=slot[0]["uuid"])
    assert response.json()["data"]["booking_date"] == slot[0]["start"]
    assert response.json()["data"]["end_date"] == slot[0]["end"]


def test_booked_slot_disappears_from_later_searches(
    http: httpx.Client, headers: dict[str, str]
) -> None:
    # Given a slot seen in a search
    slot_id = free_slots(http, headers)[0]
    # When it is booked
    assert book(http, headers, slot_id=slot_id).status_code == 200
    # Then later searches (any category sharing the provider) no longer offer it
    uuids = [s["uuid"] for d in open_times(http, headers) for s in d["times"]]
    assert slot_id not in uuids


def test_second_booking_of_the_same_slot_is_400(
    http: httpx.Client, headers: dict[str, str]
) -> None:
    # Given a slot already booked
    slot_id = free_slots(http, headers)[0]
    book(http, headers, slot_id=slot_id)
    # When booking it again (even for another client)
    response = book(http, headers, {"client_id": 1002, "patient_id": 2003}, slot_id=slot_id)
    # Then 400 "no longer available"
    assert response.status_code == 400
    assert response.json()["success"] is False
    assert "no longer available" in response.json()["message"]


def test_slot_taken_status_can_be_409(sandbox_factory: Callable[..., SandboxServer]) -> None:
    server = sandbox_factory(slot_taken_status=409)
    with httpx.Client(base_url=server.url) as http:
        headers = auth_headers(sign_in(http))
        slot_id = free_slots(http, headers)[0]
        book(http, headers, slot_id=slot_id)
        assert book(http, headers, slot_id=slot_id).status_code == 409


def test_create_status_can_be_201(sandbox_factory: Callable[..., SandboxServer]) -> None:
    server = sandbox_factory(create_status=201)
    with httpx.Client(base_url=server.url) as http:
        assert book(http, auth_headers(sign_in(http))).status_code == 201


@pytest.mark.parametrize(
    "slot_id", ["b3f1c8a0-1111-4222-8333-444455556666", "not-a-uuid", "00000000-0000-8000-8000-0"]
)
def test_unknown_slot_is_400(http: httpx.Client, headers: dict[str, str], slot_id: str) -> None:
    response = book(http, headers, slot_id=slot_id)
    assert response.status_code == 400
    assert "no longer available" in response.json()["message"]


def test_there_is_no_idempotency(http: httpx.Client, headers: dict[str, str]) -> None:
    # Given the same booking sent twice with two free slots
    first_slot, second_slot = free_slots(http, headers, 2)
    # When both are posted
    first = book(http, headers, slot_id=first_slot).json()["data"]
    second = book(http, headers, slot_id=second_slot).json()["data"]
    # Then two distinct appointments exist
    assert first["id"] != second["id"]


@pytest.mark.parametrize("status", ["ACCEPTED", "CONFIRMED", "REQUESTED"])
def test_status_override(http: httpx.Client, headers: dict[str, str], status: str) -> None:
    response = book(http, headers, {"client_id": 1001, "patient_id": 2001, "status": status})
    assert response.json()["data"]["status"] == status


def test_status_outside_the_enum_is_400(http: httpx.Client, headers: dict[str, str]) -> None:
    response = book(http, headers, {"client_id": 1001, "patient_id": 2001, "status": "DONE"})
    assert response.status_code == 400


def test_auto_accept_setting_decides_without_status(
    http: httpx.Client, headers: dict[str, str]
) -> None:
    http.post("/__sandbox/settings", json={"auto_accept": True})
    assert book(http, headers).json()["data"]["status"] == "ACCEPTED"


def test_missing_slot_id_is_400(http: httpx.Client, headers: dict[str, str]) -> None:
    response = http.post(
        f"{API}/appointments", headers=headers, json={"client_id": 1001, "patient_id": 2001}
    )
    assert response.status_code == 400
    assert response.json()["message"] == "slot_id is required"


IDENTIFICATION_ERRORS: list[tuple[str, dict[str, Any]]] = [
    ("client_id as a string", {"client_id": "1001", "patient_id": 2001}),
    ("patient_id as a string", {"client_id": 1001, "patient_id": "2001"}),
    ("no client", {"patient_id": 2001}),
    ("no patient", {"client_id": 1001}),
    ("two client ids", {"client_id": 1001, "client_remote_id": "PIMS-C-1001", "patient_id": 2001}),
    (
        "client id plus name",
        {"client_id": 1001, "first_name": "Jane", "last_name": "Doe", "patient_id": 2001},
    ),
    (
        "two patient ids",
        {"client_id": 1001, "patient_id": 2001, "patient_remote_id": "PIMS-P-2001"},
    ),
    ("name without contact", {"first_name": "Jane", "last_name": "Doe", "patient_id": 2001}),
    (
        "name without last name",
        {"first_name": "Jane", "email": "jane@example.com", "patient_id": 2001},
    ),
    ("unknown client", {"client_id": 999999, "patient_id": 2001}),
    ("unknown client remote id", {"client_remote_id": "PIMS-C-0", "patient_id": 2001}),
    ("unknown patient", {"client_id": 1001, "patient_id": 999999}),
    ("patient of another client", {"client_id": 1001, "patient_id": 2003}),
    (
        "name with a phone that does not match",
        {"first_name": "Jane", "last_name": "Doe", "phone": "555-555-9999", "patient_id": 2001},
    ),
    ("client_id as a boolean", {"client_id": True, "patient_id": 2001}),
]


@pytest.mark.parametrize(
    "body", [b for _, b in IDENTIFICATION_ERRORS], ids=[n for n, _ in IDENTIFICATION_ERRORS]
)
def test_identification_violations_are_400(
    http: httpx.Client, headers: dict[str, str], body: dict[str, Any]
) -> None:
    # Given a body breaking one identification rule / When booking
    response = book(http, headers, body)
    # Then 400 with the error envelope and nothing booked
    assert response.status_code == 400, response.text
    assert response.json()["success"] is False
    assert response.json()["message"]
    assert http.get("/__sandbox/state").json()["appointments_created"] == 0


IDENTIFICATION_OK: list[tuple[str, dict[str, Any], str]] = [
    (
        "remote ids",
        {"client_remote_id": "PIMS-C-1001", "patient_remote_id": "PIMS-P-2002"},
        "Whiskers",
    ),
    (
        "name and formatted phone, any case",
        {"first_name": "jane", "last_name": "DOE", "phone": "(555) 555-0100", "patient_id": 2001},
        "Rex",
    ),
    (
        "name and email",
        {"first_name": "Jane", "last_name": "Doe", "email": "JANE@example.com", "patient_id": 2002},
        "Whiskers",
    ),
    (
        "accented name",
        {"first_name": "Ana", "last_name": "núñez", "phone": "+1 555 555 0101", "patient_id": 2003},
        "Chloé",
    ),
    (
        "family member by name and shared email",
        {
            "first_name": "Carol",
            "last_name": "Smith",
            "email": "smithfamily@example.com",
            "patient_id": 2007,
        },
        "Luna",
    ),
]


@pytest.mark.parametrize(
    ("body", "patient"),
    [(b, p) for _, b, p in IDENTIFICATION_OK],
    ids=[n for n, _, _ in IDENTIFICATION_OK],
)
def test_identifications_that_resolve(
    http: httpx.Client, headers: dict[str, str], body: dict[str, Any], patient: str
) -> None:
    response = book(http, headers, body)
    assert response.status_code == 200, response.text
    assert response.json()["data"]["patient_name"] == patient


def test_client_without_pims_ids_books_with_null_remote_ids(
    http: httpx.Client, headers: dict[str, str]
) -> None:
    data = book(http, headers, {"client_id": 1006, "patient_id": 2008}).json()["data"]
    assert data["remote_client_id"] is None
    assert data["remote_patient_id"] is None


def test_sync_control_endpoint_fills_remote_id(http: httpx.Client, headers: dict[str, str]) -> None:
    created = book(http, headers).json()["data"]
    http.post("/__sandbox/sync")
    stored = http.get("/__sandbox/state").json()["appointments"][0]
    assert stored["remote_id"] == f"PIMS-A-{created['id']}"


def test_state_records_the_note_and_slot(http: httpx.Client, headers: dict[str, str]) -> None:
    slot_id = free_slots(http, headers)[0]
    book(http, headers, {"client_id": 1001, "patient_id": 2001, "note": "Limping"}, slot_id=slot_id)
    state = http.get("/__sandbox/state").json()
    assert state["create_requests"] == 1
    assert state["appointments_created"] == 1
    assert state["appointments"][0]["sandbox"]["note"] == "Limping"
    assert state["appointments"][0]["sandbox"]["slot_id"] == slot_id


def test_concurrent_bookings_of_one_slot_book_it_once(
    http: httpx.Client, headers: dict[str, str], sandbox: SandboxServer
) -> None:
    # Given one free slot and eight clients racing for it
    slot_id = free_slots(http, headers)[0]

    def attempt(_: int) -> int:
        with httpx.Client(base_url=sandbox.url, timeout=10) as client:
            return book(client, headers, slot_id=slot_id).status_code

    # When they all post at once
    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(attempt, range(8)))
    # Then exactly one wins
    assert sorted(statuses) == [200] + [400] * 7
