"""GET /appointments: required filter, paging, string ids, updated_at window."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from .conftest import API, book, free_slots


def _since(minutes: int = 5) -> str:
    return (datetime.now(UTC) - timedelta(minutes=minutes)).isoformat()


@pytest.fixture
def three_booked(http: httpx.Client, headers: dict[str, str]) -> list[int]:
    ids = []
    for slot_id in free_slots(http, headers, 3):
        ids.append(book(http, headers, slot_id=slot_id).json()["data"]["id"])
    return ids


def test_without_updated_at_start_is_400(http: httpx.Client, headers: dict[str, str]) -> None:
    response = http.get(f"{API}/appointments", headers=headers)
    assert response.status_code == 400
    assert response.json()["success"] is False


@pytest.mark.parametrize(
    "params",
    [
        {"updated_at_start": "yesterday"},
        {"updated_at_start": "2030-01-01"},
        {"updated_at_start": "2030-01-01T00:00:00Z", "updated_at_end": "soon"},
        {"updated_at_start": "2030-01-01T00:00:00Z", "page": "x"},
        {"updated_at_start": "2030-01-01T00:00:00Z", "page": "-1"},
    ],
)
def test_bad_parameters_are_400(
    http: httpx.Client, headers: dict[str, str], params: dict[str, str]
) -> None:
    assert http.get(f"{API}/appointments", headers=headers, params=params).status_code == 400


def test_created_appointments_are_listed_with_string_ids(
    http: httpx.Client, headers: dict[str, str], three_booked: list[int]
) -> None:
    # Given three appointments just created (integer ids in the create answers)
    # When listing them
    response = http.get(
        f"{API}/appointments", headers=headers, params={"updated_at_start": _since()}
    )
    # Then the page holds them with string ids (the documented quirk)
    data = response.json()["data"]
    assert data["total_count"] == 3
    assert [row["id"] for row in data["content"]] == [str(i) for i in three_booked]
    assert data["page"] == 0
    assert data["per_page"] == 50
    assert data["total_pages"] == 1


def test_paging_splits_the_results(
    http: httpx.Client, headers: dict[str, str], three_booked: list[int]
) -> None:
    params = {"updated_at_start": _since(), "per_page": "2", "page": "1"}
    data = http.get(f"{API}/appointments", headers=headers, params=params).json()["data"]
    assert (data["page"], data["per_page"], data["total_pages"], data["total_count"]) == (
        1,
        2,
        2,
        3,
    )
    assert [row["id"] for row in data["content"]] == [str(three_booked[2])]


def test_per_page_is_clamped_to_100(http: httpx.Client, headers: dict[str, str]) -> None:
    params = {"updated_at_start": _since(), "per_page": "500"}
    data = http.get(f"{API}/appointments", headers=headers, params=params).json()["data"]
    assert data["per_page"] == 100


def test_window_excludes_appointments_updated_outside_it(
    http: httpx.Client, headers: dict[str, str], three_booked: list[int]
) -> None:
    # Given a window that ended an hour ago
    params = {"updated_at_start": _since(120), "updated_at_end": _since(60)}
    # When listing / Then nothing
    data = http.get(f"{API}/appointments", headers=headers, params=params).json()["data"]
    assert data["total_count"] == 0
    assert data["content"] == []
    assert data["total_pages"] == 0


def test_offset_with_unencoded_plus_is_understood(
    http: httpx.Client, headers: dict[str, str], three_booked: list[int]
) -> None:
    # Given a query string whose '+' offset was not percent-encoded (it decodes to a space)
    start = (datetime.now(UTC) - timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%S+00:00")
    # When listing / Then it still parses
    response = http.get(f"{API}/appointments?updated_at_start={start}", headers=headers)
    assert response.status_code == 200
    assert response.json()["data"]["total_count"] == 3
