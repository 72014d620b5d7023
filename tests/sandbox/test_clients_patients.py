"""GET /clients, /clients/{id}, /patients, /patients/{id}."""

from __future__ import annotations

import httpx
import pytest

from .conftest import API


def _clients(http: httpx.Client, headers: dict[str, str], **params: str) -> httpx.Response:
    return http.get(f"{API}/clients", headers=headers, params=params)


def test_clients_without_any_filter_is_400(http: httpx.Client, headers: dict[str, str]) -> None:
    response = _clients(http, headers)
    assert response.status_code == 400
    assert response.json()["success"] is False


def test_client_by_email_has_the_documented_shape(
    http: httpx.Client, headers: dict[str, str]
) -> None:
    # Given Jane's email in another case / When looking her up
    response = _clients(http, headers, email="JANE@Example.com")
    # Then exactly Jane, string ids, with her patients
    data = response.json()["data"]
    assert response.status_code == 200
    assert data == [
        {
            "id": "1001",
            "name": "Jane Doe",
            "email": "jane@example.com",
            "phone": "+15555550100",
            "remote_id": "PIMS-C-1001",
            "patients": [
                {
                    "id": "2001",
                    "name": "Rex",
                    "client_id": "1001",
                    "species": "dog",
                    "breed": "Labrador Retriever",
                },
                {
                    "id": "2002",
                    "name": "Whiskers",
                    "client_id": "1001",
                    "species": "cat",
                    "breed": "Domestic Shorthair",
                },
            ],
        }
    ]


@pytest.mark.parametrize(
    "phone", ["(555) 555-0100", "+1 555 555 0100", "5555550100", "+15555550100"]
)
def test_client_by_phone_in_any_format(
    http: httpx.Client, headers: dict[str, str], phone: str
) -> None:
    data = _clients(http, headers, phone=phone).json()["data"]
    assert [c["id"] for c in data] == ["1001"]


def test_shared_email_finds_the_whole_family(http: httpx.Client, headers: dict[str, str]) -> None:
    data = _clients(http, headers, email="smithfamily@example.com").json()["data"]
    assert sorted(c["name"] for c in data) == ["Bob Smith", "Carol Smith"]


def test_shared_phone_finds_the_whole_family(http: httpx.Client, headers: dict[str, str]) -> None:
    data = _clients(http, headers, phone="555.555.0103").json()["data"]
    assert len(data) == 2


def test_name_matches_a_substring_case_insensitively(
    http: httpx.Client, headers: dict[str, str]
) -> None:
    data = _clients(http, headers, name="NÚÑ").json()["data"]
    assert [c["name"] for c in data] == ["Ana Núñez"]
    assert data[0]["patients"][0]["name"] == "Chloé"


def test_unmatched_filter_is_an_empty_list(http: httpx.Client, headers: dict[str, str]) -> None:
    response = _clients(http, headers, email="nobody@example.com")
    assert response.status_code == 200
    assert response.json()["data"] == []


def test_get_client(http: httpx.Client, headers: dict[str, str]) -> None:
    data = http.get(f"{API}/clients/1003", headers=headers).json()["data"]
    assert data["name"] == "Sam Rivera"
    assert [p["name"] for p in data["patients"]] == ["Max", "Max"]


def test_unknown_client_is_404(http: httpx.Client, headers: dict[str, str]) -> None:
    response = http.get(f"{API}/clients/424242", headers=headers)
    assert response.status_code == 404
    assert response.json()["success"] is False


def test_patients_without_client_id_is_400(http: httpx.Client, headers: dict[str, str]) -> None:
    assert http.get(f"{API}/patients", headers=headers).status_code == 400


def test_patients_of_a_client_filtered_by_name(http: httpx.Client, headers: dict[str, str]) -> None:
    params = {"client_id": "1001", "name": "whis"}
    data = http.get(f"{API}/patients", headers=headers, params=params).json()["data"]
    assert data == [
        {
            "id": "2002",
            "name": "Whiskers",
            "client_id": "1001",
            "species": "cat",
            "breed": "Domestic Shorthair",
        }
    ]


def test_get_patient(http: httpx.Client, headers: dict[str, str]) -> None:
    data = http.get(f"{API}/patients/2003", headers=headers).json()["data"]
    assert (data["name"], data["client_id"]) == ("Chloé", "1002")


def test_unknown_patient_is_404(http: httpx.Client, headers: dict[str, str]) -> None:
    assert http.get(f"{API}/patients/1", headers=headers).status_code == 404
