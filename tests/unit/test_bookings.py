"""POST /bookings through the real handler: every row of CONTRACT §3, what goes upstream, and the
three forms of the Oliver secret (§2). Oliver is behind respx, AWS behind moto.

Public callers book by name, contact and pet name (conftest's Jane Doe and her dog Rex): the
function looks the client up (GET /clients) and sends Oliver the ids it found. Answers are
receipts, never the client's record."""

from __future__ import annotations

import base64
import json
import time
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from booking.errors import BookingRejected, SlotUnavailable
from conftest import (
    API,
    JANE,
    JANE_BOOKS_REX,
    LOCATION,
    SIGN_IN,
    TOKEN,
    assert_error,
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

#: What Oliver's create receives for JANE_BOOKS_REX: the ids the lookup found, as integers.
JANE_REX_UPSTREAM = {"slot_id": "slot-1", "client_id": 1001, "patient_id": 2001}
#: Fields only a signed partner may send (CONTRACT §3).
PARTNER_ONLY = {
    "client_id": 1001,
    "client_remote_id": "PIMS-C-77",
    "patient_id": 2001,
    "patient_remote_id": "PIMS-P-7",
    "status": "CONFIRMED",
}
UPSTREAM_INTERNALS = "java.lang.NullPointerException at com.oliver.core.AppointmentService"
REQUESTED_SENTENCE = "The practice has your request and will confirm the appointment."
BOOKED_SENTENCE = "Your appointment is booked."
#: What a receipt must never show: the client's contact, last name and PIMS or Oliver ids.
CLIENT_DETAILS = ("jane@example.com", "+15555550100", "555", "Doe", "PIMS", "1001", "2001")


def receipt(appointment_id: int = 501, **data: Any) -> dict[str, Any]:
    """The 201 body for conftest's ``created()`` appointment (09:00-09:20 in Chicago)."""
    return {
        "success": True,
        "data": {
            "id": appointment_id,
            "status": "REQUESTED",
            "start": "2030-01-07T09:00:00-06:00",
            "end": "2030-01-07T09:20:00-06:00",
            "patient_name": "Rex",
            **data,
        },
        "message": REQUESTED_SENTENCE,
    }


def error_fields(answer) -> set[str]:
    return {error["field"] for error in answer.json().get("errors", [])}


# -- 201: a receipt -------------------------------------------------------------------------------


def test_the_json_event_file_books_and_answers_201_with_a_receipt(invoke, oliver):
    # Given Jane Doe is a client with her dog Rex, and Oliver creates the appointment
    create = oliver.post(f"{API}/appointments").respond(200, json=created(501))

    # When the sample event of events/ is posted
    answer = invoke(load_event("bookings-json.json"))

    # Then the caller gets 201 with a receipt, times in the practice's zone
    assert answer.status == 201
    assert answer.json() == receipt(501)
    # and Oliver got the ids the lookup found, and the note: nothing else
    assert sent(create) == {
        "slot_id": "slot-abc",
        "client_id": 1001,
        "patient_id": 2001,
        "note": "Annual wellness exam; Rex is due for his rabies booster.",
    }


def test_the_by_name_event_file_books_jane_by_her_full_name_and_phone(invoke, oliver):
    # Given Oliver creates the appointment
    create = oliver.post(f"{API}/appointments").respond(200, json=created(501))

    # When the sample event that names the visitor "Doe, Jane" with a phone number is posted
    answer = invoke(load_event("bookings-by-name.json"))

    # Then Jane was looked up by her phone in E.164 and her Rex is booked
    assert answer.status == 201
    assert oliver.routes["clients"].calls.last.request.url.params["phone"] == "+15555550100"
    assert sent(create) == {"slot_id": "slot-abc", "client_id": 1001, "patient_id": 2001}


def test_a_receipt_carries_nothing_about_the_client_nor_upstreams_words(invoke, oliver):
    # Given Oliver answers the create with the whole appointment, the client's details included
    appointment = created(
        501,
        remote_id="PIMS-A-9",
        remote_client_id="PIMS-C-77",
        remote_patient_id="PIMS-P-7",
        client_id=1001,
        patient_id=2001,
    )
    appointment["message"] = "Appointment created for Jane Doe (jane@example.com)"
    oliver.post(f"{API}/appointments").respond(200, json=appointment)

    # When Jane books
    answer = invoke(booking_event())

    # Then the answer is the receipt only
    assert answer.json() == receipt(501)
    for detail in (*CLIENT_DETAILS, "Appointment created"):
        assert detail not in answer.body


def test_a_receipt_shows_the_times_in_the_practice_zone_and_the_status_upstream_gave(
    invoke, oliver
):
    # Given Oliver confirms at once, and gives its times in UTC (a summer day: Chicago is -05:00)
    oliver.post(f"{API}/appointments").respond(
        200,
        json=created(
            502,
            status="CONFIRMED",
            booking_date="2030-07-08T14:00:00Z",
            end_date="2030-07-08T14:30:00Z",
        ),
    )

    # When Jane books
    answer = invoke(booking_event())

    # Then the receipt has the practice's local times and says the appointment is booked
    assert answer.status == 201
    assert answer.json() == {
        "success": True,
        "data": {
            "id": 502,
            "status": "CONFIRMED",
            "start": "2030-07-08T09:00:00-05:00",
            "end": "2030-07-08T09:30:00-05:00",
            "patient_name": "Rex",
        },
        "message": BOOKED_SENTENCE,
    }


def test_the_practice_timezone_variable_sets_the_receipts_offset(invoke, oliver, reconfigure):
    reconfigure(PRACTICE_TIMEZONE="Europe/Paris")
    oliver.post(f"{API}/appointments").respond(200, json=created(501))

    answer = invoke(booking_event())

    data = answer.json()["data"]
    assert (data["start"], data["end"]) == (
        "2030-01-07T16:00:00+01:00",
        "2030-01-07T16:20:00+01:00",
    )


def test_upstream_receives_the_bearer_token_location_and_json_headers(invoke, oliver):
    create = oliver.post(f"{API}/appointments").respond(200, json=created())

    invoke(booking_event())

    lookup = oliver.routes["clients"]
    for request in (create.calls.last.request, lookup.calls.last.request):
        assert request.headers["authorization"] == f"Bearer {TOKEN}"
        assert request.headers["x-client-id"] == LOCATION
        assert request.headers["accept"] == "application/json"
    assert create.calls.last.request.headers["content-type"] == "application/json"


def test_fields_not_given_are_not_sent_upstream_at_all(invoke, oliver):
    # Given a public booking that gives no note
    create = oliver.post(f"{API}/appointments").respond(200, json=created())

    # When it is booked
    answer = invoke(booking_event(JANE_BOOKS_REX))

    # Then Oliver gets the slot and the ids found, and neither nulls nor what was only looked up
    assert answer.status == 201
    assert sent(create) == JANE_REX_UPSTREAM
    assert b"null" not in create.calls.last.request.content


def test_explicit_nulls_in_json_are_treated_as_not_given(invoke, oliver):
    create = oliver.post(f"{API}/appointments").respond(200, json=created())

    answer = invoke(booking_event({**JANE_BOOKS_REX, "note": None, "client_remote_id": None}))

    assert answer.status == 201
    assert sent(create) == JANE_REX_UPSTREAM


# -- forms ----------------------------------------------------------------------------------------


def test_a_urlencoded_form_books_with_the_ids_found_sent_as_integers(invoke, oliver):
    # Given Oliver's lookup gives Jane's and Rex's ids as strings
    assert (JANE["id"], JANE["patients"][0]["id"]) == ("1001", "2001")
    create = oliver.post(f"{API}/appointments").respond(200, json=created())

    # When the form of events/bookings-form-urlencoded.json is posted
    answer = invoke(load_event("bookings-form-urlencoded.json"))

    # Then Oliver's create gets integers, as it requires
    assert answer.status == 201
    body = sent(create)
    assert body["client_id"] == 1001 and body["patient_id"] == 2001
    assert isinstance(body["client_id"], int) and isinstance(body["patient_id"], int)


def test_a_multipart_form_books_like_the_same_json(invoke, oliver):
    create = oliver.post(f"{API}/appointments").respond(200, json=created())

    answer = invoke(load_event("bookings-multipart.json"))

    assert answer.status == 201
    assert answer.json() == receipt(501)
    assert sent(create) == {
        "slot_id": "slot-abc",
        "client_id": 1001,
        "patient_id": 2001,
        "note": "Annual wellness exam; Rex is due for his rabies booster.",
    }


def test_extra_form_fields_are_ignored_and_never_forwarded(invoke, oliver):
    create = oliver.post(f"{API}/appointments").respond(200, json=created())
    fields = {
        **JANE_BOOKS_REX,
        "submit": "Book now",
        "fbclid": "IwAR0x",
        "utm_source": "newsletter",
        "website": "",
    }

    answer = invoke(booking_event(fields, form=True))

    assert answer.status == 201
    assert sent(create) == JANE_REX_UPSTREAM


def test_empty_form_fields_count_as_not_given(invoke, oliver):
    # Given a form whose optional fields, a partner-only one included, were left empty
    create = oliver.post(f"{API}/appointments").respond(200, json=created())
    fields = {**JANE_BOOKS_REX, "note": "", "status": "", "phone": " "}

    # When it is posted
    answer = invoke(booking_event(fields, form=True))

    # Then the empty fields are absent: no refusal, nothing extra upstream, no phone lookup
    assert answer.status == 201
    assert sent(create) == JANE_REX_UPSTREAM
    assert oliver.routes["clients"].call_count == 1


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


@pytest.mark.parametrize(
    "body",
    [
        pytest.param("[" * 33 + "]" * 33, id="33-nested-arrays"),
        pytest.param("[" * 10_000 + "]" * 10_000, id="10000-nested-arrays"),
        pytest.param('{"note": ' + '{"a": ' * 32 + "1" + "}" * 33, id="33-nested-objects"),
        pytest.param('{"slot_id": NaN}', id="NaN"),
        pytest.param('{"slot_id": Infinity}', id="Infinity"),
        pytest.param('{"slot_id": -Infinity}', id="minus-Infinity"),
        pytest.param('{"slot_id": 1e999}', id="float-overflowing-to-inf"),
    ],
)
def test_json_too_deep_or_not_finite_is_400_malformed_body(invoke, oliver, body):
    # Given a JSON body nested deeper than 32 levels, or holding a number JSON cannot carry
    event = http_event("POST", "/bookings", body=body, headers={"content-type": "application/json"})

    # When it is posted
    answer = invoke(event)

    # Then it is refused unread, and nothing reaches upstream
    assert_error(answer, 400, "malformed_body")
    assert oliver.calls.call_count == 0


def test_json_nested_exactly_32_levels_is_read(invoke, oliver):
    event = http_event(
        "POST", "/bookings", body="[" * 32 + "]" * 32, headers={"content-type": "application/json"}
    )

    # Read, then refused for what it is (not an object), not for its depth
    assert_error(invoke(event), 422, "validation_error")


def test_brackets_inside_strings_do_not_count_as_nesting(invoke, oliver):
    create = oliver.post(f"{API}/appointments").respond(200, json=created())

    answer = invoke(booking_event({**JANE_BOOKS_REX, "note": "[{" * 40}))

    assert answer.status == 201
    assert sent(create)["note"] == "[{" * 40


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


def without(*names: str) -> dict[str, Any]:
    return {k: v for k, v in JANE_BOOKS_REX.items() if k not in names}


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        pytest.param(without("slot_id"), {"slot_id"}, id="missing-slot_id"),
        pytest.param(without("last_name"), {"last_name"}, id="name-without-last_name"),
        pytest.param(without("email"), {"email"}, id="name-without-phone-or-email"),
        pytest.param(
            {**without("first_name", "last_name"), "name": "Jane"}, {"name"}, id="name-one-word"
        ),
        pytest.param({**JANE_BOOKS_REX, "name": "Jane Doe"}, {"name"}, id="name-and-first_name"),
        pytest.param({**JANE_BOOKS_REX, "promo_code": "SPRING30"}, {"promo_code"}, id="unknown"),
        pytest.param({**JANE_BOOKS_REX, "email": "jane@@example"}, {"email"}, id="bad-email"),
        pytest.param({**JANE_BOOKS_REX, "phone": "call me"}, {"phone"}, id="bad-phone"),
        pytest.param({**JANE_BOOKS_REX, "note": "x" * 2001}, {"note"}, id="note-over-2000"),
        pytest.param(
            {**JANE_BOOKS_REX, "first_name": "J" * 101}, {"first_name"}, id="first_name-over-100"
        ),
        pytest.param(
            {**JANE_BOOKS_REX, "last_name": "D" * 101}, {"last_name"}, id="last_name-over-100"
        ),
        pytest.param(
            {**JANE_BOOKS_REX, "patient_name": "R" * 101}, {"patient_name"}, id="pet-name-over-100"
        ),
    ],
)
def test_an_invalid_booking_is_422_naming_the_fields(invoke, oliver, fields, named):
    create = oliver.post(f"{API}/appointments")

    answer = invoke(booking_event(fields))

    assert_error(answer, 422, "validation_error")
    assert named <= error_fields(answer)
    assert not create.called


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        pytest.param(
            {"slot_id": "slot-1", "patient_name": "Rex"},
            {"first_name", "last_name", "email"},
            id="no-visitor",
        ),
        pytest.param(without("patient_name"), {"patient_name"}, id="no-pet"),
    ],
)
def test_a_public_booking_missing_the_visitor_or_pet_names_fields_the_public_may_send(
    invoke, oliver, fields, named
):
    # Given a public booking that leaves out who the visitor is, or which pet
    # When it is posted
    answer = invoke(booking_event(fields))

    # Then the 422 names what a visitor can fill in, never an id only partners may send
    assert_error(answer, 422, "validation_error")
    assert named <= error_fields(answer)
    assert not error_fields(answer) & set(PARTNER_ONLY)


@pytest.mark.parametrize("form", [False, True], ids=["json", "form"])
@pytest.mark.parametrize("field", list(PARTNER_ONLY))
def test_a_partner_only_field_from_a_public_caller_is_422_naming_it(invoke, oliver, field, form):
    # Given an otherwise valid public booking that also sends an id or a status
    fields = {**JANE_BOOKS_REX, field: PARTNER_ONLY[field]}

    # When it is posted as JSON or as a form
    answer = invoke(booking_event(fields, form=form))

    # Then that field is refused by name, and nothing is looked up or booked
    assert_error(answer, 422, "validation_error")
    assert error_fields(answer) == {field}
    assert oliver.calls.call_count == 0


def test_a_booking_by_ids_alone_is_refused_naming_every_id_and_the_status(invoke, oliver):
    answer = invoke(booking_event({"slot_id": "slot-1", **PARTNER_ONLY}))

    assert_error(answer, 422, "validation_error")
    assert error_fields(answer) == set(PARTNER_ONLY)
    assert "1001" not in answer.body and "PIMS" not in answer.body
    assert oliver.calls.call_count == 0


@pytest.mark.parametrize(
    ("field", "value"),
    [
        pytest.param("first_name", "Ja\x00ne", id="NUL-in-first_name"),
        pytest.param("last_name", "Doe\x1b[2J", id="ESC-in-last_name"),
        pytest.param("last_name", "\u202eeoD", id="bidi-override-in-last_name"),
        pytest.param("patient_name", "Rex\x85", id="C1-in-patient_name"),
        pytest.param("slot_id", "slot-1\n", id="newline-in-slot_id"),
        pytest.param("note", "Ring\x07 the bell", id="BEL-in-note"),
        pytest.param("note", "\u2066isolated\u2069", id="bidi-isolate-in-note"),
        pytest.param("note", "form\x0cfeed", id="form-feed-in-note"),
    ],
)
def test_control_characters_in_a_text_field_are_422_naming_it(invoke, oliver, field, value):
    answer = invoke(booking_event({**JANE_BOOKS_REX, field: value}))

    assert_error(answer, 422, "validation_error")
    assert error_fields(answer) == {field}
    assert oliver.calls.call_count == 0


def test_tabs_and_newlines_in_a_note_reach_upstream_unchanged(invoke, oliver):
    create = oliver.post(f"{API}/appointments").respond(200, json=created())

    answer = invoke(booking_event({**JANE_BOOKS_REX, "note": "Limping\n\tfront left leg"}))

    assert answer.status == 201
    assert sent(create)["note"] == "Limping\n\tfront left leg"


def test_an_unknown_json_field_is_named_by_the_event_file(invoke):
    answer = invoke(load_event("bookings-unknown-field.json"))

    assert_error(answer, 422, "validation_error")
    assert error_fields(answer) == {"promo_code"}


@pytest.mark.parametrize(
    "fields",
    [
        pytest.param(
            {**JANE_BOOKS_REX, "email": "jane-at-example.com", "note": "SECRETVALUE" + "x" * 2000},
            id="invalid-values",
        ),
        pytest.param({**JANE_BOOKS_REX, "status": "SECRETVALUE"}, id="refused-field"),
    ],
)
def test_validation_errors_never_echo_the_submitted_values(invoke, fields):
    answer = invoke(booking_event(fields))

    assert answer.status == 422
    assert "jane-at-example.com" not in answer.body
    assert "SECRETVALUE" not in answer.body


def test_an_idempotency_key_over_255_characters_is_422(invoke, oliver):
    create = oliver.post(f"{API}/appointments")

    answer = invoke(booking_event(headers={"idempotency-key": "k" * 256}))

    assert_error(answer, 422, "validation_error")
    assert error_fields(answer) == {"Idempotency-Key"}
    assert not create.called


def test_a_json_body_that_is_not_an_object_is_422(invoke):
    event = http_event(
        "POST", "/bookings", body="[1, 2]", headers={"content-type": "application/json"}
    )

    assert_error(invoke(event), 422, "validation_error")


# -- upstream refusals: our own words -------------------------------------------------------------


def test_upstream_409_is_409_slot_unavailable_in_our_own_words(invoke, oliver):
    oliver.post(f"{API}/appointments").respond(
        409, json={"success": False, "message": "Slot taken by client 1002"}
    )

    body = assert_error(invoke(booking_event()), 409, "slot_unavailable")

    assert body["message"] == SlotUnavailable.message
    assert "taken by" not in json.dumps(body)


def test_upstream_400_is_422_booking_rejected_in_our_own_words(invoke, oliver):
    # Given Oliver refuses the create with words of its own
    upstream_words = "Slot slot-1 is no longer available. " + UPSTREAM_INTERNALS
    oliver.post(f"{API}/appointments").respond(
        400, json={"success": False, "message": upstream_words}
    )

    # When Jane books
    answer = invoke(booking_event())

    # Then she gets our sentence, none of Oliver's
    body = assert_error(answer, 422, "booking_rejected")
    assert body["message"] == BookingRejected.message
    assert "errors" not in body
    for words in ("no longer available", "slot-1", "NullPointerException", "com.oliver"):
        assert words not in answer.body


def test_upstream_200_with_success_false_is_422_booking_rejected_in_our_own_words(invoke, oliver):
    oliver.post(f"{API}/appointments").respond(
        200, json={"success": False, "data": None, "message": "Client not found"}
    )

    answer = invoke(booking_event())

    body = assert_error(answer, 422, "booking_rejected")
    assert body["message"] == BookingRejected.message
    assert "Client not found" not in answer.body


@pytest.mark.parametrize(
    ("upstream", "ours"),
    [
        pytest.param("17", "17", id="within-bounds"),
        pytest.param("999999", "300", id="huge-is-capped-at-300"),
        pytest.param("0", "1", id="zero-is-raised-to-1"),
        pytest.param("Wed, 21 Oct 2015 07:28:00 GMT", "1", id="date-in-the-past"),
    ],
)
def test_upstream_429_is_429_rate_limited_with_its_retry_after_clamped(
    invoke, oliver, upstream, ours
):
    oliver.post(f"{API}/appointments").respond(
        429, headers={"Retry-After": upstream}, json={"success": False, "message": "Too many"}
    )

    answer = invoke(booking_event())

    assert_error(answer, 429, "rate_limited")
    assert answer.headers["retry-after"] == ours


def test_upstream_429_without_retry_after_still_tells_the_caller_when_to_retry(invoke, oliver):
    oliver.post(f"{API}/appointments").respond(429, json={"success": False, "message": "Too many"})

    answer = invoke(booking_event())

    assert_error(answer, 429, "rate_limited")
    assert 1 <= int(answer.headers["retry-after"]) <= 300


def test_a_non_json_upstream_403_is_a_configuration_error_without_its_internals(invoke, oliver):
    # A 403 on the create is Oliver refusing the practice we named: a wrong location id
    oliver.post(f"{API}/appointments").respond(
        403,
        text=f"<html><body>Forbidden {UPSTREAM_INTERNALS}</body></html>",
        headers={"content-type": "text/html"},
    )

    answer = invoke(booking_event())

    assert_error(answer, 503, "configuration_error")
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
    answer = invoke(booking_event())

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

    answer = invoke(booking_event())

    assert_error(answer, 502, "upstream_auth_failed")
    assert create.call_count == 2
    # The retry used the value set after the first 401: the secret was read afresh in between.
    assert bearer(create, 0) == f"Bearer {TOKEN}"
    assert bearer(create, 1) == "Bearer tok-rotated"
    assert TOKEN not in answer.body and "tok-rotated" not in answer.body


def test_the_secret_is_cached_across_requests_without_a_401(invoke, oliver, aws):
    create = oliver.post(f"{API}/appointments").respond(200, json=created())
    invoke(booking_event())

    aws.set_secret(json.dumps({"token": "tok-new", "location_id": LOCATION}))
    invoke(booking_event({**JANE_BOOKS_REX, "slot_id": "slot-2"}))

    assert bearer(create, 1) == f"Bearer {TOKEN}"


# -- 503 ------------------------------------------------------------------------------------------


def test_a_refused_connection_is_retried_then_503_upstream_unavailable_with_retry_after(
    invoke, oliver
):
    create = oliver.post(f"{API}/appointments").mock(side_effect=httpx.ConnectError("refused"))

    answer = invoke(booking_event())

    assert_error(answer, 503, "upstream_unavailable")
    assert 1 <= int(answer.headers["retry-after"]) <= 300
    assert create.call_count > 1  # never sent, so it is safe to send again


def test_a_refused_connection_then_success_books_once(invoke, oliver):
    create = oliver.post(f"{API}/appointments").mock(
        side_effect=[httpx.ConnectError("refused"), httpx.Response(200, json=created(502))]
    )

    answer = invoke(booking_event())

    assert answer.status == 201
    assert answer.json() == receipt(502)
    assert create.call_count == 2


def test_a_read_timeout_on_create_is_not_retried_and_is_503_outcome_unknown_if_not_found(
    invoke, oliver
):
    create = oliver.post(f"{API}/appointments").mock(side_effect=httpx.ReadTimeout("slow"))
    lookup = oliver.get(f"{API}/appointments").respond(200, json=listed())

    answer = invoke(booking_event())

    assert_error(answer, 503, "outcome_unknown")
    assert 1 <= int(answer.headers["retry-after"]) <= 300
    assert create.call_count == 1
    assert lookup.called
    params = lookup.calls.last.request.url.params
    assert params["updated_at_start"] < params["updated_at_end"]


def jane_listed(appointment_id: str, **extra: Any) -> dict[str, Any]:
    """Jane's appointment for Rex as GET /appointments lists it (string id)."""
    return {
        "id": appointment_id,
        "status": "REQUESTED",
        "created_at": now_iso(),
        "updated_at": now_iso(),
        "booking_date": "2030-01-07T09:00:00-06:00",
        "end_date": "2030-01-07T09:20:00-06:00",
        "client_first_name": "Jane",
        "client_last_name": "Doe",
        "client_email": "jane@example.com",
        "patient_name": "Rex",
        **extra,
    }


def test_an_unknown_outcome_found_by_the_lookup_is_201_with_a_receipt_and_an_integer_id(
    invoke, oliver
):
    # Given the create times out but Oliver did create it (list answers carry string ids)
    oliver.post(f"{API}/appointments").mock(side_effect=httpx.ReadTimeout("slow"))
    someone_else = jane_listed("778", client_first_name="John", client_email="john@example.com")
    oliver.get(f"{API}/appointments").respond(200, json=listed(someone_else, jane_listed("777")))

    # When the booking is posted
    answer = invoke(booking_event())

    # Then it is answered as created, with the receipt the create would have given
    assert answer.status == 201
    assert answer.json() == receipt(777)


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
    # and Jane has two fresh appointments for Rex, only one of them at that slot's time
    oliver.post(f"{API}/appointments").mock(side_effect=httpx.ReadTimeout("slow"))
    oliver.get(f"{API}/appointments").respond(
        200,
        json=listed(
            jane_listed("31", booking_date="2030-01-08T09:00:00-06:00"),
            jane_listed("32", booking_date="2030-01-07T15:00:00Z"),
        ),
    )

    # When the create of that slot times out
    answer = invoke(booking_event())

    # Then the appointment at the slot's start is the one found
    assert answer.status == 201
    assert answer.json()["data"]["id"] == 32


def test_two_lookup_matches_are_still_outcome_unknown(invoke, oliver):
    oliver.post(f"{API}/appointments").mock(side_effect=httpx.ReadTimeout("slow"))
    oliver.get(f"{API}/appointments").respond(200, json=listed(jane_listed("1"), jane_listed("2")))

    assert_error(invoke(booking_event()), 503, "outcome_unknown")


# -- 503 configuration_error ----------------------------------------------------------------------


def test_a_missing_event_bus_variable_is_503_configuration_error(invoke, oliver, reconfigure):
    reconfigure(EVENT_BUS_NAME=None)

    body = assert_error(invoke(booking_event()), 503, "configuration_error")

    assert "EVENT_BUS_NAME" not in body["message"]  # the log names it, the caller needs not
    assert oliver.calls.call_count == 0


def test_a_secret_that_does_not_exist_is_503_configuration_error(invoke, oliver, reconfigure):
    reconfigure(OLIVER_SECRET_ID="booking/does-not-exist")

    assert_error(invoke(booking_event()), 503, "configuration_error")
    assert oliver.calls.call_count == 0


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
    aws.set_secret(value)

    answer = invoke(booking_event())

    assert_error(answer, 503, "configuration_error")
    assert oliver.calls.call_count == 0
    assert "abc" not in answer.body and "loc-1" not in answer.body


def test_no_location_id_anywhere_is_503_configuration_error(invoke, oliver, aws):
    aws.set_secret(TOKEN)  # a bare token has no location id, and OLIVER_LOCATION_ID is unset

    assert_error(invoke(booking_event()), 503, "configuration_error")
    assert oliver.calls.call_count == 0


def test_a_malformed_api_url_variable_is_503_configuration_error(invoke, reconfigure):
    reconfigure(OLIVER_API_URL="ftp://oliver.test")

    assert_error(invoke(booking_event()), 503, "configuration_error")


# -- the three forms of the secret ----------------------------------------------------------------


def test_a_bare_token_secret_with_the_location_variable_books(invoke, oliver, aws, reconfigure):
    aws.set_secret("bare-token-123")
    reconfigure(OLIVER_LOCATION_ID="loc-from-variable")
    create = oliver.post(f"{API}/appointments").respond(200, json=created())

    answer = invoke(booking_event())

    assert answer.status == 201
    assert bearer(create) == "Bearer bare-token-123"
    assert create.calls.last.request.headers["x-client-id"] == "loc-from-variable"


def test_the_location_variable_wins_over_the_secrets_location(invoke, oliver, reconfigure):
    reconfigure(OLIVER_LOCATION_ID="loc-from-variable")
    create = oliver.post(f"{API}/appointments").respond(200, json=created())

    invoke(booking_event())

    assert create.calls.last.request.headers["x-client-id"] == "loc-from-variable"


def test_a_token_secret_uses_its_own_location(invoke, oliver):
    create = oliver.post(f"{API}/appointments").respond(200, json=created())

    invoke(booking_event())

    assert bearer(create) == f"Bearer {TOKEN}"
    assert create.calls.last.request.headers["x-client-id"] == LOCATION


CREDENTIALS = {"username": "partner-user", "password": "pa55-w0rd-secret", "location_id": LOCATION}


def test_credentials_sign_in_with_role_api_and_use_the_jwt(invoke, oliver, aws):
    aws.set_secret(json.dumps(CREDENTIALS))
    token = jwt(time.time() + 3600)
    sign_in = oliver.post(SIGN_IN).respond(200, json=signed_in(token))
    create = oliver.post(f"{API}/appointments").respond(200, json=created())

    answer = invoke(booking_event())

    assert answer.status == 201
    assert sent(sign_in) == {
        "username": "partner-user",
        "password": "pa55-w0rd-secret",
        "role": "ROLE_API",
    }
    assert sign_in.call_count == 1  # the lookup and the create share one sign-in
    assert "authorization" not in sign_in.calls.last.request.headers
    assert bearer(create) == f"Bearer {token}"
    assert bearer(oliver.routes["clients"]) == f"Bearer {token}"
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
        assert invoke(booking_event({**JANE_BOOKS_REX, "slot_id": slot})).status == 201

    # The expiring token served one upstream call (the first lookup); the next call signed in
    # again, and its token served every call after it.
    lookup = oliver.routes["clients"]
    assert sign_in.call_count == 2
    assert [bearer(lookup, i) for i in range(4)] == [
        f"Bearer {expiring}",
        f"Bearer {lasting}",
        f"Bearer {lasting}",
        f"Bearer {lasting}",
    ]
    assert [bearer(create, i) for i in range(4)] == [f"Bearer {lasting}"] * 4


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

    answer = invoke(booking_event())

    assert answer.status == 201
    assert sign_in.call_count == 2
    assert [bearer(create, 0), bearer(create, 1)] == [f"Bearer {first}", f"Bearer {second}"]


def test_refused_credentials_at_sign_in_are_502_upstream_auth_failed(invoke, oliver, aws):
    aws.set_secret(json.dumps(CREDENTIALS))
    oliver.post(SIGN_IN).respond(401, json={"success": False, "message": "Incorrect email"})
    create = oliver.post(f"{API}/appointments")

    answer = invoke(booking_event())

    assert_error(answer, 502, "upstream_auth_failed")
    assert not create.called
    assert not oliver.routes["clients"].called
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
            id="400-data",
        ),
        pytest.param(
            httpx.Response(400, json={"success": False, "message": UPSTREAM_INTERNALS}),
            id="400-message",
        ),
        pytest.param(
            httpx.Response(409, json={"success": False, "message": UPSTREAM_INTERNALS}),
            id="409-message",
        ),
        pytest.param(
            httpx.Response(200, json={"success": False, "message": UPSTREAM_INTERNALS}),
            id="200-success-false",
        ),
        pytest.param(httpx.Response(418, text=UPSTREAM_INTERNALS), id="418"),
        pytest.param(httpx.Response(200, text="<html>not json</html>"), id="200-not-json"),
        pytest.param(httpx.Response(401, json={"success": False, "message": TOKEN}), id="401"),
    ],
)
def test_no_answer_carries_the_token_a_traceback_or_upstream_internals(invoke, oliver, upstream):
    # Given Oliver answers the create (and the lookup of an unknown outcome) with its internals
    create = oliver.post(f"{API}/appointments").mock(return_value=upstream)
    oliver.get(f"{API}/appointments").respond(500, text=f"Traceback {UPSTREAM_INTERNALS}")

    # When Jane books
    answer = invoke(booking_event())

    # Then the create was reached, the booking failed, and the answer says nothing of them
    assert create.called
    assert 400 <= answer.status < 600
    assert answer.json()["success"] is False
    for secret in (TOKEN, "Traceback", "NullPointerException", "com.oliver"):
        assert secret not in answer.body


def test_a_base64_encoded_json_body_is_read(invoke, oliver):
    create = oliver.post(f"{API}/appointments").respond(200, json=created())
    event = http_event(
        "POST",
        "/bookings",
        body=json.dumps(JANE_BOOKS_REX).encode(),
        headers={"content-type": "application/json"},
    )
    assert event["isBase64Encoded"] is True and base64.b64decode(event["body"])

    assert invoke(event).status == 201
    assert sent(create) == JANE_REX_UPSTREAM


def test_a_form_without_the_form_content_type_charset_still_books(invoke, oliver):
    create = oliver.post(f"{API}/appointments").respond(200, json=created())
    event = http_event(
        "POST",
        "/bookings",
        body=urlencode(JANE_BOOKS_REX),
        headers={"content-type": "application/x-www-form-urlencoded; charset=UTF-8"},
    )

    assert invoke(event).status == 201
    assert sent(create) == JANE_REX_UPSTREAM


# -- every answer ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("event", "status"),
    [
        pytest.param(lambda: booking_event(), 201, id="booked"),
        pytest.param(lambda: booking_event({"slot_id": "slot-1"}), 422, id="invalid"),
        pytest.param(lambda: load_event("bookings-malformed.json"), 400, id="malformed"),
        pytest.param(lambda: http_event("GET", "/health"), 200, id="health"),
        pytest.param(lambda: http_event("GET", "/nowhere"), 404, id="unknown-path"),
        pytest.param(lambda: http_event("GET", "/bookings"), 405, id="wrong-method"),
    ],
)
def test_every_answer_carries_no_store_and_nosniff(invoke, oliver, event, status):
    oliver.post(f"{API}/appointments").respond(200, json=created())

    answer = invoke(event())

    assert answer.status == status
    assert answer.headers["cache-control"] == "no-store"
    assert answer.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize("path", ["/nowhere", "/bookings/1001", "/webhooks", "/health/x"])
def test_an_unknown_path_is_404_not_found(invoke, oliver, path):
    answer = invoke(http_event("GET", path))

    assert_error(answer, 404, "not_found")
    assert oliver.calls.call_count == 0


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/bookings"),
        ("PUT", "/bookings"),
        ("DELETE", "/bookings"),
        ("POST", "/health"),
        ("POST", "/open-times"),
        ("GET", "/webhooks/partner-a"),
    ],
)
def test_a_known_path_with_another_method_is_405_method_not_allowed(invoke, oliver, method, path):
    answer = invoke(http_event(method, path))

    assert_error(answer, 405, "method_not_allowed")
    assert oliver.calls.call_count == 0


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

    answer = invoke(booking_event())

    assert_error(answer, 503, "upstream_unavailable")
    assert 1 <= int(answer.headers["retry-after"]) <= 300
    assert oliver.calls.call_count == 0


def test_an_unavailable_idempotency_table_is_503_and_books_nothing(invoke, oliver, monkeypatch):
    from booking import container

    dynamodb = container.aws_client("dynamodb")
    real_update_item = dynamodb.update_item
    refuse = aws_fault("InternalServerError")

    def update_item(**kwargs):
        # The claim of the idempotency record (the visitor counters still answer)
        claim = ":inprogress" in kwargs["UpdateExpression"]
        return (refuse if claim else real_update_item)(**kwargs)

    monkeypatch.setattr(dynamodb, "update_item", update_item)
    create = oliver.post(f"{API}/appointments")

    answer = invoke(booking_event())

    assert_error(answer, 503, "upstream_unavailable")
    assert 1 <= int(answer.headers["retry-after"]) <= 300
    assert not create.called
