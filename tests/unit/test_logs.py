"""Nothing the function prints or logs (at the INFO level it runs at) carries the Oliver token,
the partner password, or the client's email, phone or name."""

from __future__ import annotations

import json
import logging
import time

import httpx
from conftest import (
    API,
    LOCATION,
    SIGN_IN,
    TOKEN,
    booking_event,
    created,
    jwt,
    signed_in,
)

PASSWORD = "Pw-7h1s-mu5t-n0t-leak"
FIRST, LAST = "Zebediah", "Quillfeather"
EMAIL, PHONE = "zeb.quill@example.org", "(555) 867-5309"
PET_BOOKING = {
    "slot_id": "slot-1",
    "first_name": FIRST,
    "last_name": LAST,
    "email": EMAIL,
    "phone": PHONE,
    "patient_name": "Rex",
}
CLIENT = {
    "id": "3001",
    "name": f"{FIRST} {LAST}",
    "email": EMAIL,
    "phone": "+15558675309",
    "patients": [{"id": "4001", "name": "Rex"}],
}
THE_APPOINTMENT = created(
    610,
    client_first_name=FIRST,
    client_last_name=LAST,
    client_email=EMAIL,
    client_phone="+15558675309",
)


def assert_nothing_secret(output: str, *secrets: str) -> None:
    assert output.strip(), "nothing was captured: the fixture is broken"
    for secret in (
        PASSWORD,
        FIRST,
        LAST,
        EMAIL,
        EMAIL.replace("@", "%40"),
        "867-5309",
        "8675309",
        *secrets,
    ):
        assert secret not in output, f"{secret!r} appeared in the output"


def test_a_booking_by_pet_name_with_partner_credentials_logs_no_secret_or_personal_data(
    invoke, oliver, aws, printed
):
    token = jwt(time.time() + 3600)
    aws.set_secret(
        json.dumps({"username": "partner", "password": PASSWORD, "location_id": LOCATION})
    )
    oliver.post(SIGN_IN).respond(200, json=signed_in(token))
    oliver.get(f"{API}/clients").respond(200, json={"success": True, "data": [CLIENT]})
    oliver.post(f"{API}/appointments").respond(200, json=THE_APPOINTMENT)

    answer = invoke(booking_event(PET_BOOKING))

    assert answer.status == 201
    assert_nothing_secret(printed(), token)


def test_a_401_and_the_fresh_sign_in_log_no_secret_or_personal_data(invoke, oliver, aws, printed):
    first, second = jwt(time.time() + 3600), jwt(time.time() + 3600)
    aws.set_secret(
        json.dumps({"username": "partner", "password": PASSWORD, "location_id": LOCATION})
    )
    oliver.post(SIGN_IN).mock(
        side_effect=[
            httpx.Response(200, json=signed_in(first)),
            httpx.Response(200, json=signed_in(second)),
        ]
    )
    oliver.get(f"{API}/clients").respond(200, json={"success": True, "data": [CLIENT]})
    oliver.post(f"{API}/appointments").mock(
        side_effect=[
            httpx.Response(401, json={"success": False, "message": "expired"}),
            httpx.Response(200, json=THE_APPOINTMENT),
        ]
    )

    answer = invoke(booking_event(PET_BOOKING))

    assert answer.status == 201
    assert_nothing_secret(printed(), first, second)


def test_a_configuration_error_logs_what_is_wrong_but_not_the_secret(invoke, oliver, aws, printed):
    aws.set_secret(json.dumps({"username": "partner", "password": PASSWORD}))  # no location id
    create = oliver.post(f"{API}/appointments")

    answer = invoke(booking_event(PET_BOOKING))

    assert answer.json()["code"] == "configuration_error"
    assert not create.called
    output = printed()
    assert "location" in output.lower()  # the operator learns what to fix
    assert_nothing_secret(output)


def test_a_bare_token_secret_that_is_malformed_is_not_logged(invoke, aws, printed):
    aws.set_secret(f"{PASSWORD} with spaces")

    answer = invoke(booking_event(PET_BOOKING))

    assert answer.json()["code"] == "configuration_error"
    assert_nothing_secret(printed())


def test_a_validation_error_logs_no_submitted_values(invoke, printed):
    answer = invoke(booking_event({**PET_BOOKING, "email": f"{FIRST}@@{LAST}", "slot_id": ""}))

    assert answer.status == 422
    assert_nothing_secret(printed(), f"{FIRST}@@{LAST}")


def test_an_upstream_rejection_logs_no_personal_data(invoke, oliver, printed):
    oliver.get(f"{API}/clients").respond(200, json={"success": True, "data": [CLIENT]})
    oliver.post(f"{API}/appointments").respond(
        400, json={"success": False, "message": f"Client {FIRST} {LAST} has no such pet"}
    )

    answer = invoke(booking_event(PET_BOOKING))

    assert answer.json()["code"] == "booking_rejected"
    assert_nothing_secret(printed())


def test_debug_logging_does_not_let_http_or_aws_libraries_print_the_token(
    invoke, oliver, printed, caplog
):
    # Given an operator who turns every logger up to DEBUG to chase a problem
    caplog.set_level(logging.DEBUG)
    oliver.post(f"{API}/appointments").respond(200, json=created(9))

    # When a booking runs (secret read, upstream call with the bearer token, events)
    answer = invoke(booking_event())

    # Then nothing printed or logged carries the token
    assert answer.status == 201
    assert TOKEN not in printed()


def log_lines(output: str) -> list[dict]:
    lines = []
    for line in output.splitlines():
        if line.startswith("{"):
            try:
                lines.append(json.loads(line))
            except ValueError:
                continue
    return lines


def test_upstreams_words_reach_the_log_scrubbed_and_never_the_caller(invoke, oliver, printed):
    # Given Oliver refuses the create in words that carry an email, a phone number and a token
    oliver.get(f"{API}/clients").respond(200, json={"success": True, "data": [CLIENT]})
    token = "eyJhbGciOiJIUzI1NiJ9.c2Vzc2lvbi10b2tlbi1vZi1vbGl2ZXI"
    words = f"Slot refused:\n write to {EMAIL} or call {PHONE}, session {token}"
    oliver.post(f"{API}/appointments").respond(400, json={"success": False, "message": words})

    # When the booking is posted
    answer = invoke(booking_event(PET_BOOKING))

    # Then the caller gets none of those words
    assert answer.json()["code"] == "booking_rejected"
    assert "Slot refused" not in answer.body
    # and the operator's log has them on one line, without the email, the number or the token
    output = printed()
    refusals = [
        line for line in log_lines(output) if line.get("message") == "upstream refused the create"
    ]
    assert [(line["upstream_status"], line["upstream_message"]) for line in refusals] == [
        (400, "Slot refused: write to <email> or call <number>, session <token>")
    ]
    assert_nothing_secret(output, token)
