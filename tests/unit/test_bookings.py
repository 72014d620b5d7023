"""POST /bookings through the real handler: every row of CONTRACT §3, what goes upstream, and the
three forms of the Oliver secret (§2). Oliver is behind respx, AWS behind moto."""

from __future__ import annotations

import base64
import json
import time
from urllib.parse import urlencode

import httpx
import pytest
from conftest import (
    API,
    LOCATION,
    SIGN_IN,
    TOKEN,
    bearer,
    booking_event,
    created,
    http_event,
    jwt,
    listed,
    load_event,
    now_iso,
    sent,
    signed_in,
)

BY_IDS = {"slot_id": "slot-1", "client_id": 1001, "patient_id": 2001}
BY_NAME = {
    "slot_id": "slot-1",
    "first_name": "Jane",
    "last_name": "Doe",
    "email": "jane@example.com",
    "patient_remote_id": "PIMS-P-7",
}
UPSTREAM_INTERNALS = "java.lang.NullPointerException at com.oliver.core.AppointmentService"


def assert_error(answer, status: int, code: str) -> dict:
    assert answer.status == status, answer.body
    assert answer.headers["content-type"].startswith("application/json")
    body = answer.json()
    assert body["success"] is False
    assert body["code"] == code
    assert isinstance(body["message"], str) and body["message"]
    return body


def error_fields(answer) -> set[str]:
    return {error["field"] for error in answer.json().get("errors", [])}


# -- 201 ------------------------------------------------------------------------------------------


def test_the_json_event_file_books_and_answers_201_with_upstream_data(invoke, oliver):
    # Given Oliver creates the appointment
    create = oliver.post(f"{API}/appointments").respond(200, json=created(501))

    # When the sample event of events/ is posted
    answer = invoke(load_event("bookings-json.json"))

    # Then the caller gets 201 with Oliver's data object and message
    assert answer.status == 201
    assert answer.json() == {
        "success": True,
        "data": created(501)["data"],
        "message": "Appointment created successfully",
    }
    assert sent(create) == {
        "slot_id": "slot-abc",
        "client_id": 1001,
        "patient_id": 2001,
        "note": "Annual wellness exam; Rex is due for his rabies booster.",
        "status": "REQUESTED",
    }


def test_upstream_receives_the_bearer_token_location_and_json_headers(invoke, oliver):
    create = oliver.post(f"{API}/appointments").respond(200, json=created())

    invoke(booking_event(BY_IDS))

    headers = create.calls.last.request.headers
    assert headers["authorization"] == f"Bearer {TOKEN}"
    assert headers["x-client-id"] == LOCATION
    assert headers["content-type"] == "application/json"
    assert headers["accept"] == "application/json"


def test_fields_not_given_are_not_sent_upstream_at_all(invoke, oliver):
    create = oliver.post(f"{API}/appointments").respond(200, json=created())

    answer = invoke(booking_event(BY_NAME))

    assert answer.status == 201
    assert sent(create) == BY_NAME
    assert b"null" not in create.calls.last.request.content


def test_explicit_nulls_in_json_are_treated_as_not_given(invoke, oliver):
    create = oliver.post(f"{API}/appointments").respond(200, json=created())

    answer = invoke(booking_event({**BY_IDS, "note": None, "client_remote_id": None}))

    assert answer.status == 201
    assert sent(create) == BY_IDS


# -- forms ----------------------------------------------------------------------------------------


def test_a_urlencoded_form_has_its_numbers_coerced_to_integers_upstream(invoke, oliver):
    create = oliver.post(f"{API}/appointments").respond(200, json=created())

    answer = invoke(load_event("bookings-form-urlencoded.json"))

    assert answer.status == 201
    body = sent(create)
    assert body["client_id"] == 1001 and body["patient_id"] == 2001
    assert isinstance(body["client_id"], int) and isinstance(body["patient_id"], int)


def test_a_multipart_form_books_like_the_same_json(invoke, oliver):
    create = oliver.post(f"{API}/appointments").respond(200, json=created())

    answer = invoke(load_event("bookings-multipart.json"))

    assert answer.status == 201
    assert sent(create) == {
        "slot_id": "slot-abc",
        "client_id": 1001,
        "patient_id": 2001,
        "note": "Annual wellness exam; Rex is due for his rabies booster.",
        "status": "REQUESTED",
    }


def test_extra_form_fields_are_ignored_and_never_forwarded(invoke, oliver):
    create = oliver.post(f"{API}/appointments").respond(200, json=created())
    fields = {
        **BY_IDS,
        "submit": "Book now",
        "fbclid": "IwAR0x",
        "utm_source": "newsletter",
        "website": "",
    }

    answer = invoke(booking_event(fields, form=True))

    assert answer.status == 201
    assert sent(create) == BY_IDS


def test_empty_form_fields_count_as_not_given(invoke, oliver):
    create = oliver.post(f"{API}/appointments").respond(200, json=created())

    answer = invoke(booking_event({**BY_IDS, "note": "", "status": "", "email": " "}, form=True))

    assert answer.status == 201
    assert sent(create) == BY_IDS


# -- 400 / 413 / 415 -------------------------------------------------------------------------------


def test_a_body_that_is_not_json_is_400_malformed_body(invoke, oliver):
    create = oliver.post(f"{API}/appointments")

    answer = invoke(load_event("bookings-malformed.json"))

    assert_error(answer, 400, "malformed_body")
    assert not create.called


def test_a_body_that_is_not_utf8_is_400_malformed_body(invoke, oliver):
    event = http_event(
        "POST",
        "/bookings",
        body=b'{"slot_id": "\xff\xfe"}',
        headers={"content-type": "application/json"},
    )

    assert_error(invoke(event), 400, "malformed_body")


def test_a_body_over_64_kib_is_413_and_nothing_is_booked(invoke, oliver):
    create = oliver.post(f"{API}/appointments")

    answer = invoke(load_event("bookings-too-large.json"))

    assert_error(answer, 413, "body_too_large")
    assert not create.called


def test_an_unsupported_content_type_is_415(invoke, oliver):
    create = oliver.post(f"{API}/appointments")

    answer = invoke(load_event("bookings-unsupported-media.json"))

    assert_error(answer, 415, "unsupported_media_type")
    assert not create.called


# -- 422 validation_error -------------------------------------------------------------------------


def test_the_invalid_event_file_names_the_missing_slot_and_last_name(invoke, oliver):
    answer = invoke(load_event("bookings-invalid.json"))

    assert_error(answer, 422, "validation_error")
    assert {"slot_id", "last_name"} <= error_fields(answer)


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        pytest.param({"client_id": 1001, "patient_id": 2001}, {"slot_id"}, id="missing-slot_id"),
        pytest.param(
            {"slot_id": "s", "first_name": "Jane", "email": "jane@example.com", "patient_id": 2001},
            {"last_name"},
            id="name-without-last_name",
        ),
        pytest.param(
            {"slot_id": "s", "first_name": "Jane", "last_name": "Doe", "patient_id": 2001},
            {"email"},
            id="name-without-phone-or-email",
        ),
        pytest.param({"slot_id": "s", "patient_id": 2001}, {"client_id"}, id="no-client"),
        pytest.param({"slot_id": "s", "client_id": 1001}, {"patient_id"}, id="no-patient"),
        pytest.param({**BY_IDS, "promo_code": "SPRING30"}, {"promo_code"}, id="unknown-field"),
        pytest.param({**BY_NAME, "email": "jane@@example"}, {"email"}, id="bad-email"),
        pytest.param({**BY_IDS, "status": "DONE"}, {"status"}, id="bad-status"),
        pytest.param({**BY_IDS, "note": "x" * 2001}, {"note"}, id="note-over-2000"),
        pytest.param(
            {**BY_NAME, "first_name": "J" * 101}, {"first_name"}, id="first_name-over-100"
        ),
        pytest.param({**BY_NAME, "last_name": "D" * 101}, {"last_name"}, id="last_name-over-100"),
        pytest.param({**BY_IDS, "client_id": "abc"}, {"client_id"}, id="client_id-not-a-number"),
        pytest.param({**BY_IDS, "client_id": True}, {"client_id"}, id="client_id-boolean"),
        pytest.param({**BY_IDS, "patient_id": True}, {"patient_id"}, id="patient_id-boolean"),
        pytest.param({**BY_IDS, "client_id": 1.5}, {"client_id"}, id="client_id-fraction"),
        pytest.param({**BY_IDS, "patient_id": 0}, {"patient_id"}, id="patient_id-zero"),
    ],
)
def test_an_invalid_booking_is_422_naming_the_fields(invoke, oliver, fields, named):
    create = oliver.post(f"{API}/appointments")

    answer = invoke(booking_event(fields))

    assert_error(answer, 422, "validation_error")
    assert named <= error_fields(answer)
    assert not create.called


def test_an_unknown_json_field_is_named_by_the_event_file(invoke):
    answer = invoke(load_event("bookings-unknown-field.json"))

    assert_error(answer, 422, "validation_error")
    assert error_fields(answer) == {"promo_code"}


def test_validation_errors_never_echo_the_submitted_values(invoke):
    answer = invoke(
        booking_event({**BY_NAME, "email": "jane-at-example.com", "status": "SECRETVALUE"})
    )

    assert answer.status == 422
    assert "jane-at-example.com" not in answer.body
    assert "SECRETVALUE" not in answer.body


def test_an_idempotency_key_over_255_characters_is_422(invoke, oliver):
    create = oliver.post(f"{API}/appointments")

    answer = invoke(booking_event(BY_IDS, headers={"idempotency-key": "k" * 256}))

    assert_error(answer, 422, "validation_error")
    assert error_fields(answer) == {"Idempotency-Key"}
    assert not create.called


def test_a_json_body_that_is_not_an_object_is_422(invoke):
    event = http_event(
        "POST", "/bookings", body="[1, 2]", headers={"content-type": "application/json"}
    )

    assert_error(invoke(event), 422, "validation_error")


# -- upstream refusals ----------------------------------------------------------------------------


def test_upstream_409_is_409_slot_unavailable(invoke, oliver):
    oliver.post(f"{API}/appointments").respond(
        409, json={"success": False, "message": "Slot taken"}
    )

    assert_error(invoke(booking_event(BY_IDS)), 409, "slot_unavailable")


def test_upstream_400_is_422_booking_rejected_with_its_message_on_one_trimmed_line(invoke, oliver):
    long_message = "Slot slot-1 is no longer available.\n  Please pick\tanother time. " + "x" * 300
    oliver.post(f"{API}/appointments").respond(
        400, json={"success": False, "message": long_message}
    )

    body = assert_error(invoke(booking_event(BY_IDS)), 422, "booking_rejected")

    assert body["message"].startswith(
        "Slot slot-1 is no longer available. Please pick another time. x"
    )
    assert len(body["message"]) <= 200
    assert "\n" not in body["message"] and "\t" not in body["message"]


def test_upstream_200_with_success_false_is_422_booking_rejected(invoke, oliver):
    oliver.post(f"{API}/appointments").respond(
        200, json={"success": False, "data": None, "message": "Client not found"}
    )

    body = assert_error(invoke(booking_event(BY_IDS)), 422, "booking_rejected")

    assert body["message"] == "Client not found"


def test_upstream_429_is_429_rate_limited_with_its_retry_after(invoke, oliver):
    oliver.post(f"{API}/appointments").respond(
        429, headers={"Retry-After": "17"}, json={"success": False, "message": "Too many"}
    )

    answer = invoke(booking_event(BY_IDS))

    assert_error(answer, 429, "rate_limited")
    assert answer.headers["retry-after"] == "17"


def test_upstream_429_without_retry_after_still_tells_the_caller_when_to_retry(invoke, oliver):
    oliver.post(f"{API}/appointments").respond(429, json={"success": False, "message": "Too many"})

    answer = invoke(booking_event(BY_IDS))

    assert_error(answer, 429, "rate_limited")
    assert int(answer.headers["retry-after"]) > 0


def test_a_non_json_upstream_403_is_502_upstream_error_without_its_internals(invoke, oliver):
    oliver.post(f"{API}/appointments").respond(
        403,
        text=f"<html><body>Forbidden {UPSTREAM_INTERNALS}</body></html>",
        headers={"content-type": "text/html"},
    )

    answer = invoke(booking_event(BY_IDS))

    assert_error(answer, 502, "upstream_error")
    assert "com.oliver" not in answer.body and "Forbidden" not in answer.body


# -- 401: a fresh read of the secret, one retry ----------------------------------------------------


def test_a_401_rereads_the_secret_and_retries_once_with_the_rotated_token(invoke, oliver, aws):
    # Given the token is rotated in Secrets Manager after the function cached the old one
    def first_refused(request: httpx.Request) -> httpx.Response:
        if request.headers["authorization"] == f"Bearer {TOKEN}":
            aws.set_secret(json.dumps({"token": "tok-rotated", "location_id": LOCATION}))
            return httpx.Response(401, json={"success": False, "message": "Unauthorized"})
        return httpx.Response(200, json=created())

    create = oliver.post(f"{API}/appointments").mock(side_effect=first_refused)

    # When a booking is posted
    answer = invoke(booking_event(BY_IDS))

    # Then it is created with exactly two creates, the second with the rotated token
    assert answer.status == 201
    assert create.call_count == 2
    assert bearer(create, 0) == f"Bearer {TOKEN}"
    assert bearer(create, 1) == "Bearer tok-rotated"


def test_two_401s_are_502_upstream_auth_failed_after_one_fresh_read(invoke, oliver, aws):
    rotations = iter(["tok-rotated", "tok-rotated-again"])

    def refuse(request: httpx.Request) -> httpx.Response:
        aws.set_secret(json.dumps({"token": next(rotations), "location_id": LOCATION}))
        return httpx.Response(401, json={"success": False, "message": "Unauthorized"})

    create = oliver.post(f"{API}/appointments").mock(side_effect=refuse)

    answer = invoke(booking_event(BY_IDS))

    assert_error(answer, 502, "upstream_auth_failed")
    assert create.call_count == 2
    # The retry used the value set after the first 401: the secret was read afresh in between.
    assert bearer(create, 0) == f"Bearer {TOKEN}"
    assert bearer(create, 1) == "Bearer tok-rotated"
    assert TOKEN not in answer.body and "tok-rotated" not in answer.body


def test_the_secret_is_cached_across_requests_without_a_401(invoke, oliver, aws):
    create = oliver.post(f"{API}/appointments").respond(200, json=created())
    invoke(booking_event(BY_IDS))

    aws.set_secret(json.dumps({"token": "tok-new", "location_id": LOCATION}))
    invoke(booking_event({**BY_IDS, "slot_id": "slot-2"}))

    assert bearer(create, 1) == f"Bearer {TOKEN}"


# -- 503 ------------------------------------------------------------------------------------------


def test_a_refused_connection_is_retried_then_503_upstream_unavailable_with_retry_after(
    invoke, oliver
):
    create = oliver.post(f"{API}/appointments").mock(side_effect=httpx.ConnectError("refused"))

    answer = invoke(booking_event(BY_IDS))

    assert_error(answer, 503, "upstream_unavailable")
    assert int(answer.headers["retry-after"]) > 0
    assert create.call_count > 1  # never sent, so it is safe to send again


def test_a_refused_connection_then_success_books_once(invoke, oliver):
    create = oliver.post(f"{API}/appointments").mock(
        side_effect=[httpx.ConnectError("refused"), httpx.Response(200, json=created(502))]
    )

    answer = invoke(booking_event(BY_IDS))

    assert answer.status == 201
    assert answer.json()["data"]["id"] == 502
    assert create.call_count == 2


def test_a_read_timeout_on_create_is_not_retried_and_is_503_outcome_unknown_if_not_found(
    invoke, oliver
):
    create = oliver.post(f"{API}/appointments").mock(side_effect=httpx.ReadTimeout("slow"))
    lookup = oliver.get(f"{API}/appointments").respond(200, json=listed())

    answer = invoke(booking_event(BY_NAME))

    assert_error(answer, 503, "outcome_unknown")
    assert int(answer.headers["retry-after"]) > 0
    assert create.call_count == 1
    assert lookup.called
    params = lookup.calls.last.request.url.params
    assert params["updated_at_start"] < params["updated_at_end"]


def test_an_unknown_outcome_found_by_the_lookup_is_201_with_an_integer_id(invoke, oliver):
    # Given the create times out but Oliver did create it (list answers carry string ids)
    oliver.post(f"{API}/appointments").mock(side_effect=httpx.ReadTimeout("slow"))
    mine = {
        "id": "777",
        "status": "REQUESTED",
        "created_at": now_iso(),
        "updated_at": now_iso(),
        "client_first_name": "Jane",
        "client_last_name": "Doe",
        "client_email": "jane@example.com",
        "remote_patient_id": "PIMS-P-7",
    }
    someone_else = {
        **mine,
        "id": "778",
        "client_first_name": "John",
        "client_email": "john@example.com",
    }
    oliver.get(f"{API}/appointments").respond(200, json=listed(someone_else, mine))

    # When the booking is posted
    answer = invoke(booking_event(BY_NAME))

    # Then it is answered as created, with the id as the create would have returned it
    assert answer.status == 201
    assert answer.json()["data"]["id"] == 777


def test_an_unknown_outcome_with_a_client_id_is_matched_through_the_client_record(invoke, oliver):
    oliver.post(f"{API}/appointments").respond(502, text="Bad gateway")
    oliver.get(f"{API}/clients/1001").respond(
        200,
        json={
            "success": True,
            "data": {"id": "1001", "name": "Jane Doe", "email": "jane@example.com"},
        },
    )
    mine = {
        "id": "901",
        "status": "ACCEPTED",
        "created_at": now_iso(),
        "client_first_name": "Jane",
        "client_last_name": "Doe",
        "client_email": "jane@example.com",
    }
    oliver.get(f"{API}/appointments").respond(200, json=listed(mine))

    answer = invoke(booking_event(BY_IDS))

    assert answer.status == 201
    assert answer.json()["data"]["id"] == 901


def test_the_lookup_tells_apart_appointments_by_the_start_of_a_slot_seen_in_open_times(
    invoke, oliver
):
    # Given the page fetched open times, so the slot's start is known
    day = {
        "date": "01/07/2030",
        "available": True,
        "times": [
            {
                "start": "2030-01-07T09:00:00-06:00",
                "end": "2030-01-07T09:20:00-06:00",
                "provider_id": "p-1",
                "value": "09:00",
                "label": "9:00 am",
                "uuid": "slot-1",
            }
        ],
    }
    oliver.post(f"{API}/open_times").respond(200, json={"success": True, "data": [day]})
    query = {"search_from_date": "2030-01-07T08:00:00Z", "appointment_type": "wellness"}
    assert invoke(http_event("GET", "/open-times", query=query)).status == 200
    # and Jane has two fresh appointments, only one of them at that slot's time
    oliver.post(f"{API}/appointments").mock(side_effect=httpx.ReadTimeout("slow"))
    jane = {
        "created_at": now_iso(),
        "client_first_name": "Jane",
        "client_last_name": "Doe",
        "client_email": "jane@example.com",
    }
    oliver.get(f"{API}/appointments").respond(
        200,
        json=listed(
            {**jane, "id": "31", "booking_date": "2030-01-08T09:00:00-06:00"},
            {**jane, "id": "32", "booking_date": "2030-01-07T15:00:00Z"},
        ),
    )

    # When the create of that slot times out
    answer = invoke(booking_event(BY_NAME))

    # Then the appointment at the slot's start is the one found
    assert answer.status == 201
    assert answer.json()["data"]["id"] == 32


def test_two_lookup_matches_are_still_outcome_unknown(invoke, oliver):
    oliver.post(f"{API}/appointments").mock(side_effect=httpx.ReadTimeout("slow"))
    one = {
        "id": "1",
        "created_at": now_iso(),
        "client_first_name": "Jane",
        "client_last_name": "Doe",
        "client_email": "jane@example.com",
    }
    oliver.get(f"{API}/appointments").respond(200, json=listed(one, {**one, "id": "2"}))

    assert_error(invoke(booking_event(BY_NAME)), 503, "outcome_unknown")


# -- 503 configuration_error ----------------------------------------------------------------------


def test_a_missing_event_bus_variable_is_503_configuration_error(invoke, oliver, reconfigure):
    create = oliver.post(f"{API}/appointments")
    reconfigure(EVENT_BUS_NAME=None)

    body = assert_error(invoke(booking_event(BY_IDS)), 503, "configuration_error")

    assert "EVENT_BUS_NAME" not in body["message"]  # the log names it, the caller needs not
    assert not create.called


def test_a_secret_that_does_not_exist_is_503_configuration_error(invoke, oliver, reconfigure):
    create = oliver.post(f"{API}/appointments")
    reconfigure(OLIVER_SECRET_ID="booking/does-not-exist")

    assert_error(invoke(booking_event(BY_IDS)), 503, "configuration_error")
    assert not create.called


@pytest.mark.parametrize(
    "value",
    [
        pytest.param('{"token": "abc", ', id="not-valid-json"),
        pytest.param('{"location_id": "loc-1"}', id="neither-token-nor-credentials"),
        pytest.param(
            '{"username": "partner", "location_id": "loc-1"}', id="username-without-password"
        ),
        pytest.param("two words", id="not-a-token"),
        pytest.param("[1, 2]", id="json-but-not-an-object"),
    ],
)
def test_an_unusable_secret_is_503_configuration_error(invoke, oliver, aws, value):
    create = oliver.post(f"{API}/appointments")
    aws.set_secret(value)

    answer = invoke(booking_event(BY_IDS))

    assert_error(answer, 503, "configuration_error")
    assert not create.called
    assert "abc" not in answer.body and "loc-1" not in answer.body


def test_no_location_id_anywhere_is_503_configuration_error(invoke, oliver, aws):
    create = oliver.post(f"{API}/appointments")
    aws.set_secret(TOKEN)  # a bare token has no location id, and OLIVER_LOCATION_ID is unset

    assert_error(invoke(booking_event(BY_IDS)), 503, "configuration_error")
    assert not create.called


def test_a_malformed_api_url_variable_is_503_configuration_error(invoke, reconfigure):
    reconfigure(OLIVER_API_URL="ftp://oliver.test")

    assert_error(invoke(booking_event(BY_IDS)), 503, "configuration_error")


# -- the three forms of the secret ----------------------------------------------------------------


def test_a_bare_token_secret_with_the_location_variable_books(invoke, oliver, aws, reconfigure):
    aws.set_secret("bare-token-123")
    reconfigure(OLIVER_LOCATION_ID="loc-from-variable")
    create = oliver.post(f"{API}/appointments").respond(200, json=created())

    answer = invoke(booking_event(BY_IDS))

    assert answer.status == 201
    assert bearer(create) == "Bearer bare-token-123"
    assert create.calls.last.request.headers["x-client-id"] == "loc-from-variable"


def test_the_location_variable_wins_over_the_secrets_location(invoke, oliver, reconfigure):
    reconfigure(OLIVER_LOCATION_ID="loc-from-variable")
    create = oliver.post(f"{API}/appointments").respond(200, json=created())

    invoke(booking_event(BY_IDS))

    assert create.calls.last.request.headers["x-client-id"] == "loc-from-variable"


def test_a_token_secret_uses_its_own_location(invoke, oliver):
    create = oliver.post(f"{API}/appointments").respond(200, json=created())

    invoke(booking_event(BY_IDS))

    assert bearer(create) == f"Bearer {TOKEN}"
    assert create.calls.last.request.headers["x-client-id"] == LOCATION


CREDENTIALS = {"username": "partner-user", "password": "pa55-w0rd-secret", "location_id": LOCATION}


def test_credentials_sign_in_with_role_api_and_use_the_jwt(invoke, oliver, aws):
    aws.set_secret(json.dumps(CREDENTIALS))
    token = jwt(time.time() + 3600)
    sign_in = oliver.post(SIGN_IN).respond(200, json=signed_in(token))
    create = oliver.post(f"{API}/appointments").respond(200, json=created())

    answer = invoke(booking_event(BY_IDS))

    assert answer.status == 201
    assert sent(sign_in) == {
        "username": "partner-user",
        "password": "pa55-w0rd-secret",
        "role": "ROLE_API",
    }
    assert "authorization" not in sign_in.calls.last.request.headers
    assert bearer(create) == f"Bearer {token}"
    assert create.calls.last.request.headers["x-client-id"] == LOCATION


def test_the_jwt_is_reused_across_requests_until_near_its_expiry(invoke, oliver, aws):
    aws.set_secret(json.dumps(CREDENTIALS))
    expiring = jwt(time.time() + 30)  # inside the renewal margin: not worth keeping
    lasting = jwt(time.time() + 3600)
    sign_in = oliver.post(SIGN_IN).mock(
        side_effect=[
            httpx.Response(200, json=signed_in(expiring)),
            httpx.Response(200, json=signed_in(lasting)),
        ]
    )
    create = oliver.post(f"{API}/appointments").respond(200, json=created())

    for slot in ("slot-1", "slot-2", "slot-3", "slot-4"):
        assert invoke(booking_event({**BY_IDS, "slot_id": slot})).status == 201

    assert sign_in.call_count == 2
    assert [bearer(create, i) for i in range(4)] == [
        f"Bearer {expiring}",
        f"Bearer {lasting}",
        f"Bearer {lasting}",
        f"Bearer {lasting}",
    ]


def test_a_401_with_credentials_signs_in_again_and_retries(invoke, oliver, aws):
    aws.set_secret(json.dumps(CREDENTIALS))
    first, second = jwt(time.time() + 3600), jwt(time.time() + 3600)
    sign_in = oliver.post(SIGN_IN).mock(
        side_effect=[
            httpx.Response(200, json=signed_in(first)),
            httpx.Response(200, json=signed_in(second)),
        ]
    )
    create = oliver.post(f"{API}/appointments").mock(
        side_effect=[
            httpx.Response(401, json={"success": False, "message": "Token expired"}),
            httpx.Response(200, json=created()),
        ]
    )

    answer = invoke(booking_event(BY_IDS))

    assert answer.status == 201
    assert sign_in.call_count == 2
    assert [bearer(create, 0), bearer(create, 1)] == [f"Bearer {first}", f"Bearer {second}"]


def test_refused_credentials_at_sign_in_are_502_upstream_auth_failed(invoke, oliver, aws):
    aws.set_secret(json.dumps(CREDENTIALS))
    oliver.post(SIGN_IN).respond(401, json={"success": False, "message": "Incorrect email"})
    create = oliver.post(f"{API}/appointments")

    answer = invoke(booking_event(BY_IDS))

    assert_error(answer, 502, "upstream_auth_failed")
    assert not create.called
    assert "pa55-w0rd-secret" not in answer.body


# -- nothing leaks --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "upstream",
    [
        pytest.param(
            httpx.Response(500, text=f"Traceback (most recent call last): {UPSTREAM_INTERNALS}"),
            id="500",
        ),
        pytest.param(
            httpx.Response(400, json={"success": False, "data": {"trace": UPSTREAM_INTERNALS}}),
            id="400",
        ),
        pytest.param(httpx.Response(418, text=UPSTREAM_INTERNALS), id="418"),
        pytest.param(httpx.Response(200, text="<html>not json</html>"), id="200-not-json"),
        pytest.param(httpx.Response(401, json={"success": False, "message": TOKEN}), id="401"),
    ],
)
def test_no_answer_carries_the_token_a_traceback_or_upstream_internals(invoke, oliver, upstream):
    oliver.post(f"{API}/appointments").mock(return_value=upstream)
    oliver.get(f"{API}/clients/1001").respond(200, json={"success": True, "data": None})
    oliver.get(f"{API}/appointments").respond(500, text=f"Traceback {UPSTREAM_INTERNALS}")

    answer = invoke(booking_event(BY_IDS))

    assert 400 <= answer.status < 600
    assert answer.json()["success"] is False
    for secret in (TOKEN, "Traceback", "NullPointerException", "com.oliver"):
        assert secret not in answer.body


def test_a_base64_encoded_json_body_is_read(invoke, oliver):
    create = oliver.post(f"{API}/appointments").respond(200, json=created())
    event = http_event(
        "POST",
        "/bookings",
        body=json.dumps(BY_IDS).encode(),
        headers={"content-type": "application/json"},
    )
    assert event["isBase64Encoded"] is True and base64.b64decode(event["body"])

    assert invoke(event).status == 201
    assert sent(create) == BY_IDS


def test_a_form_without_the_form_content_type_charset_still_books(invoke, oliver):
    create = oliver.post(f"{API}/appointments").respond(200, json=created())
    event = http_event(
        "POST",
        "/bookings",
        body=urlencode({k: str(v) for k, v in BY_IDS.items()}),
        headers={"content-type": "application/x-www-form-urlencoded; charset=UTF-8"},
    )

    assert invoke(event).status == 201
    assert sent(create) == BY_IDS


# -- passing AWS faults ---------------------------------------------------------------------------


def aws_fault(code: str):
    from botocore.exceptions import ClientError

    def fail(**kwargs):
        raise ClientError({"Error": {"Code": code, "Message": "try later"}}, "Operation")

    return fail


def test_a_throttled_secret_read_is_503_upstream_unavailable_not_a_configuration_error(
    invoke, oliver, monkeypatch
):
    from booking import container

    monkeypatch.setattr(
        container.aws_client("secretsmanager"), "get_secret_value", aws_fault("ThrottlingException")
    )
    create = oliver.post(f"{API}/appointments")

    answer = invoke(booking_event(BY_IDS))

    assert_error(answer, 503, "upstream_unavailable")
    assert int(answer.headers["retry-after"]) > 0
    assert not create.called


def test_an_unavailable_idempotency_table_is_503_and_books_nothing(invoke, oliver, monkeypatch):
    from booking import container

    monkeypatch.setattr(
        container.aws_client("dynamodb"), "put_item", aws_fault("InternalServerError")
    )
    create = oliver.post(f"{API}/appointments")

    answer = invoke(booking_event(BY_IDS))

    assert_error(answer, 503, "upstream_unavailable")
    assert int(answer.headers["retry-after"]) > 0
    assert not create.called
