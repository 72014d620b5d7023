"""The optional CAPTCHA of public bookings (Cloudflare Turnstile's siteverify), through the real
handler: turned on by CAPTCHA_SECRET_ID, checked before anything is asked of Oliver, and a
verifier that is down or slow is our outage (503), never the visitor's failure (400).

The verifier is behind respx like Oliver; AWS (the CAPTCHA secret) behind moto."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
from conftest import (
    API,
    JANE,
    JANE_BOOKS_REX,
    assert_error,
    booking_event,
    clients_found,
    created,
    sent,
)

VERIFY_URL = "https://turnstile.test/turnstile/v0/siteverify"
#: The site's Turnstile secret: sent to the verifier, never written anywhere else.
CAPTCHA_SECRET = "0x4AAAAAAA-turnstile-secret-5c7e19"
TOKEN_FIELD = "cf-turnstile-response"
VISITOR_IP = "203.0.113.7"  # the source IP of conftest's http_event
JANE_REX_UPSTREAM = {"slot_id": "slot-1", "client_id": 1001, "patient_id": 2001}
PASSED = {"success": True, "error-codes": [], "hostname": "vet.example"}
REFUSED = {"success": False, "error-codes": ["invalid-input-response"]}


@pytest.fixture
def captcha(aws, reconfigure) -> str:
    """CAPTCHA turned on: its secret in Secrets Manager, siteverify at VERIFY_URL."""
    arn = aws.secrets.create_secret(Name="booking/turnstile", SecretString=CAPTCHA_SECRET)["ARN"]
    reconfigure(CAPTCHA_SECRET_ID=arn, CAPTCHA_VERIFY_URL=VERIFY_URL)
    return arn


@pytest.fixture
def create(oliver) -> Any:
    return oliver.post(f"{API}/appointments").respond(200, json=created(501))


def with_token(token: str | None = "tok-from-the-widget", **fields: Any) -> dict[str, Any]:
    """Jane books Rex from a page that carries the Turnstile widget."""
    booking = {**JANE_BOOKS_REX, **fields}
    return booking if token is None else {**booking, TOKEN_FIELD: token}


def form_sent(route: Any, index: int = -1) -> dict[str, str]:
    """The form a respx route received (one value per field)."""
    body = route.calls[index].request.content.decode()
    return {name: values[0] for name, values in parse_qs(body).items()}


def oliver_calls(oliver: Any) -> list[str]:
    """Every call the function made to Oliver (the verifier's excluded)."""
    return [
        f"{call.request.method} {call.request.url.path}"
        for call in oliver.calls
        if str(call.request.url).startswith(API)
    ]


# -- missing: refused before anyone is asked ------------------------------------------------------


@pytest.mark.parametrize(
    ("token", "form"),
    [
        pytest.param(None, False, id="json-without-the-field"),
        pytest.param("", True, id="form-with-it-empty"),
        pytest.param("   ", False, id="json-with-it-blank"),
    ],
)
def test_a_booking_without_a_captcha_token_is_400_captcha_failed_and_nobody_is_asked(
    captcha, invoke, oliver, create, token, form
):
    # Given CAPTCHA is on and the verifier would pass anything
    verify = oliver.post(VERIFY_URL).respond(200, json=PASSED)

    # When a visitor posts without a token
    answer = invoke(booking_event(with_token(token), form=form))

    # Then it is refused as a failed check, and neither the verifier nor Oliver was asked
    assert_error(answer, 400, "captcha_failed")
    assert verify.call_count == 0
    assert oliver_calls(oliver) == []


# -- failed: the verifier says no ----------------------------------------------------------------


@pytest.mark.parametrize(
    "verdict",
    [
        pytest.param(REFUSED, id="success-false"),
        pytest.param({"success": "true"}, id="success-a-string"),
        pytest.param({"error-codes": []}, id="no-success"),
        pytest.param([True], id="not-an-object"),
    ],
)
def test_a_token_the_verifier_does_not_pass_is_400_captcha_failed_and_oliver_is_never_asked(
    captcha, invoke, oliver, create, aws, verdict
):
    # Given the verifier does not answer a clear success
    verify = oliver.post(VERIFY_URL).respond(200, json=verdict)

    # When a visitor posts a token
    answer = invoke(booking_event(with_token("tok-forged")))

    # Then the booking is refused after exactly one check, and nothing reached Oliver: no
    # lookup, no create, and no follow-up for staff (a bot is not a visitor to call back)
    assert_error(answer, 400, "captcha_failed")
    assert verify.call_count == 1
    assert oliver_calls(oliver) == []
    assert aws.events() == []


def test_a_passing_token_is_checked_once_before_any_oliver_call_then_books(captcha, invoke, oliver):
    # Given the verifier passes the token, and every call is recorded in order
    order: list[str] = []

    def answer(name: str, response: httpx.Response) -> Callable[[httpx.Request], httpx.Response]:
        def respond(_request: httpx.Request) -> httpx.Response:
            order.append(name)
            return response

        return respond

    verify = oliver.post(VERIFY_URL).mock(
        side_effect=answer("verify", httpx.Response(200, json=PASSED))
    )
    oliver.get(f"{API}/clients").mock(
        side_effect=answer("lookup", httpx.Response(200, json=clients_found(JANE)))
    )
    create = oliver.post(f"{API}/appointments").mock(
        side_effect=answer("create", httpx.Response(200, json=created(501)))
    )

    # When Jane books Rex with the widget's token
    result = invoke(booking_event(with_token("tok-from-the-widget")))

    # Then the check came first, exactly once, and the booking went on as without CAPTCHA
    assert result.status == 201, result.body
    assert order == ["verify", "lookup", "create"]
    assert verify.call_count == 1
    assert sent(create) == JANE_REX_UPSTREAM  # the token is never forwarded


def test_the_verifier_receives_the_secret_the_token_and_the_visitors_address_as_a_form(
    captcha, invoke, oliver, create
):
    verify = oliver.post(VERIFY_URL).respond(200, json=PASSED)

    invoke(booking_event(with_token("  tok-from-the-widget  "), form=True))

    request = verify.calls.last.request
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert form_sent(verify) == {
        "secret": CAPTCHA_SECRET,
        "response": "tok-from-the-widget",
        "remoteip": VISITOR_IP,
    }
    # Its own client: none of Oliver's credentials or headers go to Cloudflare
    assert "authorization" not in request.headers
    assert "x-client-id" not in request.headers


# -- down: our outage, not the visitor's failure -------------------------------------------------


@pytest.mark.parametrize(
    "down",
    [
        pytest.param(httpx.ConnectError("connection refused"), id="connection-refused"),
        pytest.param(
            httpx.Response(
                502, text="<html>Bad gateway</html>", headers={"content-type": "text/html"}
            ),
            id="502-html",
        ),
        pytest.param(httpx.Response(503, text=""), id="503-empty"),
        pytest.param(
            httpx.Response(
                200, text="<html>maintenance</html>", headers={"content-type": "text/html"}
            ),
            id="200-not-json",
        ),
        pytest.param(httpx.RemoteProtocolError("server disconnected"), id="disconnected"),
    ],
)
def test_a_verifier_that_is_down_is_503_upstream_unavailable_with_retry_after(
    captcha, invoke, oliver, create, down
):
    # Given the verifier cannot give a verdict
    oliver.post(VERIFY_URL).mock(side_effect=[down])

    # When a visitor posts a token
    answer = invoke(booking_event(with_token()))

    # Then the visitor is told to retry shortly, and nothing was asked of Oliver
    assert_error(answer, 503, "upstream_unavailable")
    assert answer.headers["retry-after"] == "5"
    assert oliver_calls(oliver) == []


@pytest.mark.parametrize("status", [500, 503])
def test_a_verifier_5xx_with_a_json_error_body_is_503_not_the_visitors_failure(
    captcha, invoke, oliver, create, status
):
    # Given the verifier fails with an error document (as load balancers and APIs often do)
    oliver.post(VERIFY_URL).respond(status, json={"success": False, "error-codes": ["internal"]})

    # When a visitor posts a token
    answer = invoke(booking_event(with_token()))

    # Then it is our outage: retry shortly; the visitor did nothing wrong
    assert_error(answer, 503, "upstream_unavailable")
    assert answer.headers["retry-after"] == "5"


# -- slow: bounded, then 503 ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "slow",
    [
        pytest.param(httpx.ReadTimeout("no answer in time"), id="read-timeout"),
        pytest.param(httpx.ConnectTimeout("no connection in time"), id="connect-timeout"),
        pytest.param(httpx.PoolTimeout("no connection free"), id="pool-timeout"),
    ],
)
def test_a_verifier_that_does_not_answer_in_time_is_503_upstream_unavailable(
    captcha, invoke, oliver, create, slow
):
    # Given the verifier times out (raised by the mock: nothing here really waits)
    verify = oliver.post(VERIFY_URL).mock(side_effect=[slow])

    # When a visitor posts a token
    answer = invoke(booking_event(with_token()))

    # Then the visitor is told to retry shortly, Oliver was never asked
    assert_error(answer, 503, "upstream_unavailable")
    assert answer.headers["retry-after"] == "5"
    assert verify.call_count == 1
    assert oliver_calls(oliver) == []


def test_the_verifier_is_given_at_most_three_seconds(captcha, invoke, oliver, create):
    verify = oliver.post(VERIFY_URL).respond(200, json=PASSED)

    invoke(booking_event(with_token()))

    timeouts = verify.calls.last.request.extensions["timeout"]
    assert 0 < timeouts["read"] <= 3.0
    assert 0 < timeouts["connect"] <= 3.0


# -- the secret ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "verdict",
    [
        pytest.param(httpx.Response(200, json=PASSED), id="passed"),
        pytest.param(httpx.Response(200, json=REFUSED), id="refused"),
        pytest.param(httpx.ConnectError("connection refused"), id="down"),
        pytest.param(httpx.ReadTimeout("slow"), id="slow"),
    ],
)
def test_the_captcha_secret_is_sent_to_the_verifier_and_never_logged(
    captcha, invoke, oliver, create, printed, verdict
):
    # Given whatever the verifier answers
    verify = oliver.post(VERIFY_URL).mock(side_effect=[verdict])

    # When a visitor posts a token
    invoke(booking_event(with_token()))

    # Then the secret went to the verifier, and to nothing that is printed or logged
    assert form_sent(verify)["secret"] == CAPTCHA_SECRET
    output = printed()
    assert output.strip(), "nothing was captured: the fixture is broken"
    assert CAPTCHA_SECRET not in output


def test_a_captcha_secret_that_does_not_exist_is_503_configuration_error_and_books_nothing(
    captcha, invoke, oliver, create, reconfigure
):
    # Given CAPTCHA_SECRET_ID names a secret that is not there
    reconfigure(CAPTCHA_SECRET_ID="booking/no-such-turnstile-secret")
    verify = oliver.post(VERIFY_URL).respond(200, json=PASSED)

    # When a visitor posts a token
    answer = invoke(booking_event(with_token()))

    # Then the operator's misconfiguration is named as such, and nobody was asked anything
    assert_error(answer, 503, "configuration_error")
    assert verify.call_count == 0
    assert oliver_calls(oliver) == []


# -- when no check is made -----------------------------------------------------------------------


def test_without_a_captcha_secret_no_token_is_needed_and_no_verifier_is_asked(
    invoke, oliver, create
):
    # Given CAPTCHA is off (conftest leaves CAPTCHA_SECRET_ID unset)
    verify = oliver.post(VERIFY_URL).respond(200, json=REFUSED)

    answer = invoke(booking_event(with_token(None)))

    assert answer.status == 201, answer.body
    assert verify.call_count == 0


def test_a_filled_honeypot_is_answered_as_booked_without_asking_the_verifier(
    captcha, invoke, oliver, create
):
    # Given a bot that fills the hidden field and sends no token
    verify = oliver.post(VERIFY_URL).respond(200, json=PASSED)

    answer = invoke(booking_event(with_token(None, website="http://spam.example")))

    # Then it learns nothing (a receipt, as for any booking), and nobody was asked
    assert answer.status == 201
    assert verify.call_count == 0
    assert oliver_calls(oliver) == []
