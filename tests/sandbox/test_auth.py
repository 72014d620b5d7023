"""Sign-in, bearer tokens and the X-Client-Id header."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from typing import Any

import httpx

from local.oliver_sandbox import SandboxServer
from local.oliver_sandbox.seed import LOCATION_ID, PASSWORD, STATIC_TOKEN, USERNAME

from .conftest import API, AUTH_PATH, auth_headers, book, free_slots, sign_in

OPEN_TIMES_BODY = {"search_from_date": "2030-01-07T07:00:00Z", "appointment_type": "wellness"}


def _claims(token: str) -> dict[str, Any]:
    part = token.split(".")[1]
    result: dict[str, Any] = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    return result


def test_sign_in_returns_a_jwt_in_the_envelope(http: httpx.Client) -> None:
    # Given the partner credentials
    body = {"username": USERNAME, "password": PASSWORD, "role": "ROLE_API"}
    # When signing in
    response = http.post(AUTH_PATH, json=body)
    # Then a three-part JWT comes back in the success envelope
    assert response.status_code == 200
    payload = response.json()
    assert payload["success"] is True
    assert isinstance(payload["message"], str)
    assert len(payload["data"]["token"].split(".")) == 3


def test_token_exp_is_now_plus_the_configured_ttl(sandbox_factory: Callable[..., SandboxServer]):
    # Given a sandbox whose tokens live 120 seconds
    server = sandbox_factory(token_ttl_seconds=120)
    with httpx.Client(base_url=server.url) as http:
        # When signing in
        before = int(time.time())
        claims = _claims(sign_in(http))
    # Then exp is iat + 120 and iat is now
    assert claims["exp"] == claims["iat"] + 120
    assert before <= claims["iat"] <= time.time()


def test_wrong_password_is_401(http: httpx.Client) -> None:
    # Given a wrong password / When signing in
    response = http.post(
        AUTH_PATH, json={"username": USERNAME, "password": "nope", "role": "ROLE_API"}
    )
    # Then 401 with the error envelope
    assert response.status_code == 401
    assert response.json()["success"] is False
    assert response.json()["message"]


def test_wrong_role_is_400(http: httpx.Client) -> None:
    response = http.post(
        AUTH_PATH, json={"username": USERNAME, "password": PASSWORD, "role": "ROLE_USER"}
    )
    assert response.status_code == 400
    assert response.json()["success"] is False


def test_malformed_sign_in_body_is_400(http: httpx.Client) -> None:
    response = http.post(
        AUTH_PATH, content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["success"] is False


def test_core_route_without_token_is_401(http: httpx.Client) -> None:
    # Given no Authorization header / When calling a core route
    response = http.post(
        f"{API}/open_times", headers={"X-Client-Id": LOCATION_ID}, json=OPEN_TIMES_BODY
    )
    # Then 401 envelope
    assert response.status_code == 401
    assert response.json() == {"success": False, "data": None, "message": "Missing bearer token"}


def test_forged_token_is_401(http: httpx.Client) -> None:
    # Given a token whose signature was tampered with
    token = sign_in(http)
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    # When using it
    response = http.post(f"{API}/open_times", headers=auth_headers(forged), json=OPEN_TIMES_BODY)
    # Then 401
    assert response.status_code == 401


def test_token_expires_after_its_ttl(sandbox_factory: Callable[..., SandboxServer]) -> None:
    # Given a sandbox whose tokens live one second, and a fresh token
    server = sandbox_factory(token_ttl_seconds=1)
    with httpx.Client(base_url=server.url) as http:
        token = sign_in(http)
        # When the second has passed
        time.sleep(1.2)
        response = http.post(f"{API}/open_times", headers=auth_headers(token), json=OPEN_TIMES_BODY)
    # Then the token is refused
    assert response.status_code == 401
    assert response.json()["message"] == "Token expired"


def test_expire_tokens_control_endpoint_invalidates_issued_tokens(
    http: httpx.Client, headers: dict[str, str]
) -> None:
    # Given a working token
    assert http.post(f"{API}/open_times", headers=headers, json=OPEN_TIMES_BODY).status_code == 200
    # When the sandbox expires every token
    assert http.post("/__sandbox/expire-tokens").status_code == 200
    # Then the next call is 401, and a fresh sign-in works again
    assert http.post(f"{API}/open_times", headers=headers, json=OPEN_TIMES_BODY).status_code == 401
    fresh = auth_headers(sign_in(http))
    assert http.post(f"{API}/open_times", headers=fresh, json=OPEN_TIMES_BODY).status_code == 200


def test_static_token_is_accepted(http: httpx.Client) -> None:
    response = http.post(
        f"{API}/open_times", headers=auth_headers(STATIC_TOKEN), json=OPEN_TIMES_BODY
    )
    assert response.status_code == 200


def test_static_token_can_be_revoked(http: httpx.Client) -> None:
    # Given the static token revoked through the control endpoint
    http.post("/__sandbox/expire-tokens", json={"static": True})
    # When using it / Then 401
    response = http.post(
        f"{API}/open_times", headers=auth_headers(STATIC_TOKEN), json=OPEN_TIMES_BODY
    )
    assert response.status_code == 401


def test_missing_x_client_id_is_400(http: httpx.Client) -> None:
    token = sign_in(http)
    response = http.get(
        f"{API}/clients", params={"name": "Doe"}, headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 400
    assert response.json()["success"] is False


def test_unknown_x_client_id_is_400(http: httpx.Client) -> None:
    headers = {**auth_headers(sign_in(http)), "X-Client-Id": "00000000-0000-0000-0000-000000000000"}
    response = http.get(f"{API}/clients", params={"name": "Doe"}, headers=headers)
    assert response.status_code == 400


def test_create_without_x_client_id_is_400_by_default(
    http: httpx.Client, headers: dict[str, str]
) -> None:
    # Given a free slot and a create request without X-Client-Id
    no_location = {"Authorization": headers["Authorization"]}
    slot = free_slots(http, headers)[0]
    # When creating / Then 400 (X-Client-Id required on create by default)
    response = book(http, no_location, slot_id=slot)
    assert response.status_code == 400


def test_create_without_x_client_id_passes_when_optional(
    sandbox_factory: Callable[..., SandboxServer],
) -> None:
    # Given a sandbox where X-Client-Id is optional on create
    server = sandbox_factory(require_client_id_on_create=False)
    with httpx.Client(base_url=server.url) as http:
        headers = auth_headers(sign_in(http))
        slot = free_slots(http, headers)[0]
        # When creating without the header
        response = book(http, {"Authorization": headers["Authorization"]}, slot_id=slot)
    # Then the appointment is created
    assert response.status_code == 200, response.text


def test_unknown_route_is_a_404_envelope(http: httpx.Client, headers: dict[str, str]) -> None:
    response = http.get(f"{API}/nope", headers=headers)
    assert response.status_code == 404
    assert response.json()["success"] is False
