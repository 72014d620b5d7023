"""The Cloudflare Turnstile siteverify stand-in."""

from __future__ import annotations

import httpx
import pytest

PATH = "/turnstile/v0/siteverify"
PASS = "1x0000000000000000000000000000000AA"
FAIL = "2x0000000000000000000000000000000AA"


def test_pass_secret_accepts_any_token_form_encoded(http: httpx.Client) -> None:
    response = http.post(PATH, data={"secret": PASS, "response": "XXXX.DUMMY.TOKEN.XXXX"})
    assert response.status_code == 200
    assert response.json()["success"] is True
    assert response.json()["error-codes"] == []


def test_pass_secret_accepts_json(http: httpx.Client) -> None:
    response = http.post(PATH, json={"secret": PASS, "response": "anything"})
    assert response.json()["success"] is True


def test_pass_secret_rejects_the_literal_fail(http: httpx.Client) -> None:
    body = http.post(PATH, data={"secret": PASS, "response": "fail"}).json()
    assert body == {"success": False, "error-codes": ["invalid-input-response"]}


def test_pass_secret_rejects_an_empty_token(http: httpx.Client) -> None:
    body = http.post(PATH, data={"secret": PASS, "response": ""}).json()
    assert body == {"success": False, "error-codes": ["missing-input-response"]}


def test_fail_secret_always_fails(http: httpx.Client) -> None:
    body = http.post(PATH, data={"secret": FAIL, "response": "good-token"}).json()
    assert body["success"] is False


@pytest.mark.parametrize("secret", ["0x4AAAAAAAreal-secret", "1x0000000000000000000000000000000AB"])
def test_other_secrets_are_invalid(http: httpx.Client, secret: str) -> None:
    body = http.post(PATH, data={"secret": secret, "response": "token"}).json()
    assert body == {"success": False, "error-codes": ["invalid-input-secret"]}
