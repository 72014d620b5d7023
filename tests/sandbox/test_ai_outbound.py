"""AI outbound requests (reference §4.10): 201 queued, 200 for a repeated partner_request_id or a
suppressed request, 400 when nobody can be texted, 429 over the per-practice limit."""

from __future__ import annotations

import httpx

from .conftest import API, book

JANE = {
    "purpose": "scheduling",
    "contact_number": "+15555550100",
    "client_name": "Jane Doe",
    "patient_name": "Rex",
    "context": "The time Jane wanted was taken.",
}
REQUESTS = f"{API}/ai_outbound/requests"


def ask(http: httpx.Client, headers: dict[str, str], **fields: object) -> httpx.Response:
    return http.post(REQUESTS, headers=headers, json={**JANE, **fields})


def test_a_request_is_queued_201_for_the_client_behind_the_number(
    http: httpx.Client, headers: dict[str, str]
) -> None:
    answer = ask(http, headers, partner_request_id="evt-1")
    assert answer.status_code == 201
    record = answer.json()["data"]
    assert record["status"] == "queued" and record["channel"] == "sms"
    assert (record["client_id"], record["partner_request_id"]) == ("1001", "evt-1")
    assert record["outcome"] is None and record["suppression_reason"] is None


def test_a_repeated_partner_request_id_returns_the_existing_request(
    http: httpx.Client, headers: dict[str, str]
) -> None:
    first = ask(http, headers, partner_request_id="evt-2").json()["data"]
    again = ask(http, headers, partner_request_id="evt-2")
    assert again.status_code == 200
    assert again.json()["data"] == first
    listed = http.get(REQUESTS, headers=headers).json()["data"]
    assert listed["total_count"] == 1


def test_a_second_text_to_the_same_number_within_72_hours_is_suppressed(
    http: httpx.Client, headers: dict[str, str]
) -> None:
    ask(http, headers, partner_request_id="evt-3")
    answer = ask(http, headers, partner_request_id="evt-4")
    assert answer.status_code == 200
    data = answer.json()["data"]
    assert (data["status"], data["suppression_reason"]) == ("suppressed", "recent_contact")


def test_scheduling_is_suppressed_for_a_client_with_an_upcoming_appointment(
    http: httpx.Client, headers: dict[str, str]
) -> None:
    assert book(http, headers).status_code == 200
    answer = ask(http, headers, partner_request_id="evt-5")
    assert answer.json()["data"]["suppression_reason"] == "recent_or_upcoming_appointment"


def test_nobody_to_text_or_a_wrong_purpose_or_channel_is_400(
    http: httpx.Client, headers: dict[str, str]
) -> None:
    for fields in (
        {"purpose": "marketing"},
        {"channel": "voice"},
        {"contact_number": None},
        {"contact_number": "+15555550999"},  # nobody's number
        {"contact_number": "+15555550103", "client_name": None},  # shared by two clients
        {"callback_url": "http://partner.example/hook"},
    ):
        answer = ask(http, headers, **fields)
        assert answer.status_code == 400, fields
        assert answer.json()["success"] is False


def test_a_shared_number_is_resolved_by_the_client_name(
    http: httpx.Client, headers: dict[str, str]
) -> None:
    answer = ask(http, headers, contact_number="+15555550103", client_name="Carol Smith")
    assert answer.status_code == 201
    assert answer.json()["data"]["client_id"] == "1005"


def test_over_the_practice_limit_a_minute_is_429(
    http: httpx.Client, headers: dict[str, str]
) -> None:
    http.post("/__sandbox/settings", json={"ai_outbound_per_minute": 2})
    statuses = [ask(http, headers, partner_request_id=f"n-{n}").status_code for n in range(3)]
    assert 429 not in statuses[:2] and statuses[2] == 429


def test_a_request_is_shown_by_its_id_or_partner_request_id(
    http: httpx.Client, headers: dict[str, str]
) -> None:
    record = ask(http, headers, partner_request_id="evt-6").json()["data"]
    for key in (record["id"], "evt-6"):
        shown = http.get(f"{REQUESTS}/{key}", headers=headers)
        assert shown.status_code == 200 and shown.json()["data"] == record
    assert http.get(f"{REQUESTS}/unknown", headers=headers).status_code == 404
    wrong = http.get(REQUESTS, headers=headers, params={"status": "sent"})
    assert wrong.status_code == 400
