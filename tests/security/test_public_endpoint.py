"""The public endpoint, probed as an attacker would, through the real handler (Oliver behind
respx, AWS behind moto): it reveals nothing about the practice's clients and trusts nothing a
stranger sends (docs/security.md lists each defence and the test that proves it)."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any
from urllib.parse import urlencode

import boto3
import httpx
import pytest

from tests.unit.conftest import (
    API,
    JANE,
    JANE_BOOKS_REX,
    REGION,
    THROTTLE_KEY,
    booking_event,
    clients_found,
    created,
    http_event,
)

PARTNER_ONLY = ("client_id", "client_remote_id", "patient_id", "patient_remote_id", "status")
PARTNER_VALUES = {
    "client_id": 1001,
    "client_remote_id": "PIMS-C-77",
    "patient_id": 2001,
    "patient_remote_id": "PIMS-P-7",
    "status": "CONFIRMED",
}
#: What no answer to anybody may carry: Jane's contact details, last name and record ids.
JANE_SECRETS = ("jane@example.com", "5555550100", "Doe", "PIMS-C-77", "1001", "2001")
SENTINEL = "SENTINEL-7c1e upstream internals: java.lang.IllegalStateException"
WEBHOOK_SECRET = "partner-signing-secret-5b21"


def events_of(aws: Any, detail_type: str) -> list[dict[str, Any]]:
    return [e["detail"] for e in aws.events() if e["detail-type"] == detail_type]


def upstream_calls(router: Any) -> list[tuple[str, str, tuple[str, ...]]]:
    """Every call made upstream: method, path and the names (not values) of its query."""
    return [
        (call.request.method, call.request.url.path, tuple(sorted(call.request.url.params)))
        for call in router.calls
    ]


@pytest.fixture
def create(oliver: Any) -> Any:
    return oliver.post(f"{API}/appointments").respond(200, json=created(501))


@pytest.fixture
def partner(aws: Any, reconfigure: Any) -> Any:
    """A signed partner source (Oliver-style hex HMAC of the raw body)."""
    arn = aws.secrets.create_secret(
        Name="booking/webhooks", SecretString=json.dumps({"partner": WEBHOOK_SECRET})
    )["ARN"]
    reconfigure(
        WEBHOOK_SOURCES=json.dumps({"partner": {"scheme": "hmac-sha256"}}), WEBHOOK_SECRET_ID=arn
    )

    def delivery(fields: dict[str, Any]) -> dict[str, Any]:
        body = json.dumps(fields)
        signature = hmac.new(WEBHOOK_SECRET.encode(), body.encode(), hashlib.sha256).hexdigest()
        return http_event(
            "POST",
            "/webhooks/partner",
            body=body,
            headers={"content-type": "application/json", "x-webhook-signature": signature},
            route="POST /webhooks/{source}",
            path_parameters={"source": "partner"},
        )

    return delivery


# -- two kinds of caller ---------------------------------------------------------------------------


@pytest.mark.parametrize("field", PARTNER_ONLY)
@pytest.mark.parametrize("form", [False, True], ids=["json", "form"])
def test_ids_and_status_are_refused_from_a_public_caller_naming_the_field(
    invoke: Any, oliver: Any, create: Any, field: str, form: bool
) -> None:
    # Given a public post that addresses a record by id (or sets the status)
    answer = invoke(booking_event({**JANE_BOOKS_REX, field: PARTNER_VALUES[field]}, form=form))
    # Then it is refused, naming the field, and nothing is looked up or booked
    assert answer.status == 422
    assert answer.json()["code"] == "validation_error"
    assert [e["field"] for e in answer.json()["errors"]] == [field]
    assert oliver.calls.call_count == 0


def test_ids_and_status_are_accepted_from_a_signed_partner(
    invoke: Any, oliver: Any, create: Any, partner: Any
) -> None:
    fields = {"slot_id": "slot-1", "client_id": 1001, "patient_id": 2001, "status": "CONFIRMED"}
    answer = invoke(partner(fields))
    assert answer.status == 201, answer.body
    assert json.loads(create.calls[0].request.content) == fields


# -- receipts, not records -------------------------------------------------------------------------


def test_a_booking_answers_a_receipt_in_the_practice_zone_and_nothing_about_the_client(
    invoke: Any, create: Any, aws: Any
) -> None:
    answer = invoke(booking_event())
    assert answer.status == 201
    assert answer.json()["data"] == {
        "id": 501,
        "status": "REQUESTED",
        "start": "2030-01-07T09:00:00-06:00",
        "end": "2030-01-07T09:20:00-06:00",
        "patient_name": "Rex",
    }
    # the full appointment goes to the event only
    booked = events_of(aws, "Appointment Booked")
    assert booked[0]["appointment"]["client_email"] == "jane@example.com"


def test_no_answer_to_anybody_carries_a_clients_details(
    invoke: Any, oliver: Any, partner: Any, reconfigure: Any
) -> None:
    # Given every kind of answer a caller can provoke, public and partner
    oliver.post(f"{API}/appointments").mock(
        side_effect=[
            httpx.Response(200, json=created(501)),
            httpx.Response(200, json=created(502)),
            httpx.Response(400, json={"success": False, "message": "jane@example.com 1001"}),
            httpx.Response(409, json={"success": False, "message": "Doe PIMS-C-77"}),
            httpx.Response(200, json=created(503)),
        ]
    )
    answers = [
        invoke(booking_event()),  # 201 by name
        invoke(booking_event()),  # the replay
        invoke(partner({"slot_id": "s-2", "client_id": 1001, "patient_id": 2001})),  # partner 201
        invoke(booking_event({**JANE_BOOKS_REX, "slot_id": "s-3"})),  # rejected upstream
        invoke(booking_event({**JANE_BOOKS_REX, "slot_id": "s-4"})),  # slot taken
        invoke(booking_event({**JANE_BOOKS_REX, "patient_name": "Whiskers"})),  # no such pet
        invoke(booking_event({**JANE_BOOKS_REX, "first_name": "Mallory"})),  # not Jane
        # Jane's name and phone with another email: matched by phone, booked, told nothing
        invoke(booking_event({**JANE_BOOKS_REX, "email": "x@example.org", "phone": JANE["phone"]})),
        invoke(booking_event({**JANE_BOOKS_REX, "client_id": 1001})),  # refused field
    ]
    assert [a.status for a in answers] == [201, 201, 201, 422, 409, 422, 422, 201, 422]
    # Then no status, header or body carries Jane's details beyond what the caller typed
    for answer in answers[:3] + answers[5:]:
        text = answer.body + json.dumps(answer.headers)
        for secret in JANE_SECRETS:
            if secret in json.dumps(JANE_BOOKS_REX):
                continue  # what the visitor typed in themselves may come back as a field name only
            assert secret not in text, (secret, answer.body)
    for answer in answers:
        assert "jane@example.com" not in answer.body
        assert "5555550100" not in answer.body
        assert "PIMS" not in answer.body


# -- matching that proves who you are --------------------------------------------------------------


MISSES = {
    "no-such-client": {**JANE_BOOKS_REX, "email": "stranger@example.org"},
    "another-first-name": {**JANE_BOOKS_REX, "first_name": "Mallory"},
    "another-last-name": {**JANE_BOOKS_REX, "last_name": "Dough"},
    "no-such-pet": {**JANE_BOOKS_REX, "patient_name": "Fido"},
    "known-phone-unknown-email": {
        **JANE_BOOKS_REX,
        "email": "stranger@example.org",
        "phone": "555-555-0199",
    },
}


def test_every_kind_of_miss_is_one_byte_identical_answer_with_the_same_upstream_calls(
    invoke: Any, oliver: Any, create: Any
) -> None:
    answers, calls = {}, {}
    for name, fields in MISSES.items():
        oliver.reset()
        answers[name] = invoke(booking_event(fields))
        calls[name] = upstream_calls(oliver)
    bodies = {answer.body for answer in answers.values()}
    assert len(bodies) == 1, bodies
    answer = next(iter(answers.values()))
    assert answer.status == 422
    body = answer.json()
    assert body["code"] == "not_matched"
    assert "errors" not in body
    assert "+1 555 0100" in body["message"]  # the practice's phone, to call
    by_email = [("GET", "/services/core/open_api/v1/clients", ("email",))]
    by_phone = [("GET", "/services/core/open_api/v1/clients", ("phone",))]
    expected = {name: by_email for name in MISSES}
    expected["known-phone-unknown-email"] = by_email + by_phone
    assert calls == expected
    assert create.call_count == 0


def test_a_real_clients_email_and_an_unknown_email_make_the_same_upstream_calls(
    invoke: Any, oliver: Any, create: Any
) -> None:
    with_phone = {**JANE_BOOKS_REX, "phone": "555-555-0142", "patient_name": "Fido"}
    oliver.reset()
    known = invoke(booking_event(with_phone))
    known_calls = upstream_calls(oliver)
    oliver.reset()
    unknown = invoke(booking_event({**with_phone, "email": "nobody@example.org"}))
    unknown_calls = upstream_calls(oliver)
    assert known.body == unknown.body
    assert known_calls == unknown_calls
    assert known_calls == [
        ("GET", "/services/core/open_api/v1/clients", ("email",)),
        ("GET", "/services/core/open_api/v1/clients", ("phone",)),
    ]


@pytest.mark.parametrize(
    "first_name", ["Jane", "jane", "J.", "J", "Ja", "JANE"], ids=lambda n: f"first={n}"
)
def test_the_first_name_may_be_the_name_an_initial_or_a_prefix(
    invoke: Any, create: Any, first_name: str
) -> None:
    answer = invoke(booking_event({**JANE_BOOKS_REX, "first_name": first_name}))
    assert answer.status == 201, answer.body


def test_the_first_name_is_checked_so_another_name_with_jane_s_email_books_nothing(
    invoke: Any, create: Any, aws: Any
) -> None:
    answer = invoke(booking_event({**JANE_BOOKS_REX, "first_name": "Mallory"}))
    assert answer.status == 422
    assert answer.json()["code"] == "not_matched"
    assert create.call_count == 0
    assert [e["reason"] for e in events_of(aws, "Booking Failed")] == ["not_matched"]


def test_a_known_phone_does_not_open_the_door_to_an_unknown_email_when_the_name_differs(
    invoke: Any, create: Any
) -> None:
    fields = {**JANE_BOOKS_REX, "first_name": "Mallory", "email": "m@example.org"}
    answer = invoke(booking_event({**fields, "phone": JANE["phone"]}))
    assert answer.json()["code"] == "not_matched"
    assert create.call_count == 0


def test_two_clients_sharing_an_email_are_a_miss_for_the_public(
    invoke: Any, oliver: Any, create: Any
) -> None:
    twin = {**JANE, "id": "1009", "name": "Jane Doe"}
    oliver.get(f"{API}/clients").respond(200, json=clients_found(JANE, twin))
    answer = invoke(booking_event())
    assert answer.json()["code"] == "not_matched"
    assert create.call_count == 0


def test_a_partner_keeps_the_precise_reason(invoke: Any, create: Any, partner: Any) -> None:
    fields = {**JANE_BOOKS_REX, "patient_name": "Fido"}
    answer = invoke(partner(fields))
    assert answer.status == 422
    assert answer.json()["code"] == "patient_not_found"
    assert answer.json()["errors"][0]["field"] == "patient_name"


# -- throttling per visitor ------------------------------------------------------------------------


def test_the_post_over_the_ip_limit_is_429_with_a_bounded_retry_after_and_no_upstream_call(
    invoke: Any, oliver: Any, create: Any, reconfigure: Any
) -> None:
    reconfigure(THROTTLE_BOOKINGS_PER_IP="3/600")
    for slot in ("s-1", "s-2", "s-3"):
        assert invoke(booking_event({**JANE_BOOKS_REX, "slot_id": slot})).status == 201
    oliver.reset()
    answer = invoke(booking_event({**JANE_BOOKS_REX, "slot_id": "s-4"}))
    assert answer.status == 429
    assert answer.json()["code"] == "rate_limited"
    assert 1 <= int(answer.headers["retry-after"]) <= 600
    assert int(answer.headers["retry-after"]) <= 300
    assert oliver.calls.call_count == 0


def test_an_exempt_address_is_not_counted(invoke: Any, create: Any, reconfigure: Any) -> None:
    reconfigure(THROTTLE_BOOKINGS_PER_IP="1/600", THROTTLE_EXEMPT_CIDRS="203.0.113.0/24")
    answers = [invoke(booking_event({**JANE_BOOKS_REX, "slot_id": f"s-{i}"})) for i in range(3)]
    assert [a.status for a in answers] == [201, 201, 201]


def test_open_times_are_throttled_per_ip_too(invoke: Any, oliver: Any, reconfigure: Any) -> None:
    reconfigure(THROTTLE_OPEN_TIMES_PER_IP="2/60")
    oliver.post(f"{API}/open_times").respond(200, json={"success": True, "data": []})
    query = {"search_from_date": "2030-01-07T00:00:00Z", "appointment_type": "wellness"}
    statuses = [invoke(http_event("GET", "/open-times", query=query)).status for _ in range(3)]
    assert statuses == [200, 200, 429]


def test_the_ip_and_the_contact_are_stored_only_as_hmacs(
    invoke: Any, create: Any, env: dict[str, str]
) -> None:
    invoke(booking_event({**JANE_BOOKS_REX, "patient_name": "Fido"}))
    items = boto3.client("dynamodb", region_name=REGION).scan(
        TableName=env["IDEMPOTENCY_TABLE_NAME"]
    )
    stored = json.dumps(items["Items"])
    assert "203.0.113.7" not in stored
    assert "jane@example.com" not in stored
    digest = hmac.new(THROTTLE_KEY.encode(), b"ip:203.0.113.7", hashlib.sha256).hexdigest()[:40]
    assert digest in stored


@pytest.mark.parametrize("email", ["jane@example.com", "stranger@example.org"])
def test_after_five_misses_a_contact_is_held_for_review_without_any_lookup(
    invoke: Any, oliver: Any, create: Any, aws: Any, email: str
) -> None:
    # Given five misses for one contact (client or not)
    for pet in ("A", "B", "C", "D", "E"):
        miss = invoke(booking_event({**JANE_BOOKS_REX, "email": email, "patient_name": pet}))
        assert miss.json()["code"] == "not_matched"
    aws.events()
    oliver.reset()
    # When the contact books again, even with the right pet
    held = invoke(booking_event({**JANE_BOOKS_REX, "email": email}))
    again = invoke(booking_event({**JANE_BOOKS_REX, "email": email, "slot_id": "s-9"}))
    # Then it is held for staff: 202, nothing looked up, one follow-up
    assert held.status == 202
    assert held.json() == {
        "success": False,
        "code": "held_for_review",
        "message": "The practice has your request and will contact you.",
    }
    assert again.body == held.body
    assert oliver.calls.call_count == 0
    failed = events_of(aws, "Booking Failed")
    assert [e["reason"] for e in failed] == ["held_for_review"]


def test_many_misses_at_one_contact_are_one_follow_up(
    invoke: Any, create: Any, aws: Any, reconfigure: Any
) -> None:
    # (With the limits lifted, so that every guess is looked up and announced.)
    reconfigure(THROTTLE_MISSES_PER_CONTACT="1000/3600", THROTTLE_BOOKINGS_PER_IP="1000/600")
    guesses = 10
    for guess in range(guesses):
        invoke(booking_event({**JANE_BOOKS_REX, "patient_name": f"Pet {guess}"}))
    failed = events_of(aws, "Booking Failed")
    assert len(failed) == guesses
    assert {e["reason"] for e in failed} == {"not_matched"}
    assert len({e["event_id"] for e in failed}) == 1


# -- bounded input, our own words ------------------------------------------------------------------


def raw_booking(body: str) -> dict[str, Any]:
    return http_event("POST", "/bookings", body=body, headers={"content-type": "application/json"})


@pytest.mark.parametrize(
    "body",
    ["[" * 10_000, '{"a":' * 40 + "1" + "}" * 40, '{"slot_id": NaN}', '{"x": Infinity}', "[1e999]"],
    ids=["10000-brackets", "40-levels", "NaN", "Infinity", "overflow"],
)
def test_deep_or_non_finite_json_is_400_malformed_body(invoke: Any, body: str) -> None:
    answer = invoke(raw_booking(body))
    assert answer.status == 400
    assert answer.json()["code"] == "malformed_body"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("first_name", "Ja\x00ne"),
        ("last_name", "Doe\u202e"),
        ("patient_name", "Rex\x85"),
        ("note", "call me\x1b[31m"),
        ("note", "ok\u2066hidden"),
        ("first_name", "Jane\n"),
    ],
)
def test_control_characters_are_422_naming_the_field(
    invoke: Any, create: Any, field: str, value: str
) -> None:
    answer = invoke(booking_event({**JANE_BOOKS_REX, field: value}))
    assert answer.status == 422
    assert field in {e["field"] for e in answer.json()["errors"]}
    assert create.call_count == 0


def test_a_notes_crlf_reaches_the_practice_as_newlines(invoke: Any, create: Any) -> None:
    body = urlencode({**JANE_BOOKS_REX, "note": "line one\r\nline two\rthree\tend"})
    event = http_event(
        "POST",
        "/bookings",
        body=body,
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert invoke(event).status == 201
    assert json.loads(create.calls[0].request.content)["note"] == "line one\nline two\nthree\tend"


@pytest.mark.parametrize(
    "upstream",
    [
        httpx.Response(400, json={"success": False, "message": SENTINEL}),
        httpx.Response(409, json={"success": False, "message": SENTINEL}),
        httpx.Response(422, json={"success": False, "message": SENTINEL}),
        httpx.Response(200, json={"success": False, "message": SENTINEL}),
        httpx.Response(403, json={"success": False, "message": SENTINEL}),
        httpx.Response(503, text=SENTINEL),
    ],
    ids=["400", "409", "422", "200-success-false", "403", "503"],
)
def test_upstreams_words_never_reach_a_caller(
    invoke: Any, oliver: Any, upstream: httpx.Response
) -> None:
    oliver.post(f"{API}/appointments").mock(return_value=upstream)
    oliver.get(f"{API}/appointments").respond(200, json={"success": True, "data": {"content": []}})
    answer = invoke(booking_event())
    assert answer.status >= 400
    assert "SENTINEL" not in answer.body
    assert "java" not in answer.body


@pytest.mark.parametrize(("upstream", "ours"), [("999999", "300"), ("0", "1")])
def test_retry_after_is_clamped_to_1_to_300_seconds(
    invoke: Any, oliver: Any, upstream: str, ours: str
) -> None:
    oliver.post(f"{API}/appointments").respond(
        429, headers={"Retry-After": upstream}, json={"success": False, "message": "slow down"}
    )
    answer = invoke(booking_event())
    assert answer.status == 429
    assert answer.headers["retry-after"] == ours


@pytest.mark.parametrize(
    "event",
    [
        http_event("GET", "/health"),
        http_event("GET", "/nope"),
        http_event("DELETE", "/bookings"),
        booking_event(),
        booking_event({"slot_id": "x"}),
        raw_booking("{"),
    ],
    ids=["health", "unknown-path", "wrong-method", "booking", "invalid", "malformed"],
)
def test_every_answer_says_no_store_and_nosniff(invoke: Any, create: Any, event: Any) -> None:
    answer = invoke(event)
    assert answer.headers["cache-control"] == "no-store"
    assert answer.headers["x-content-type-options"] == "nosniff"


def test_an_unknown_path_is_404_and_a_wrong_method_405(invoke: Any) -> None:
    unknown = invoke(http_event("GET", "/admin"))
    wrong = invoke(http_event("PUT", "/bookings"))
    assert (unknown.status, unknown.json()["code"]) == (404, "not_found")
    assert (wrong.status, wrong.json()["code"]) == (405, "method_not_allowed")


# -- spam ------------------------------------------------------------------------------------------


def shape(value: Any) -> Any:
    """Keys and value types, not values."""
    if isinstance(value, dict):
        return {k: shape(v) for k, v in value.items()}
    return type(value).__name__


def test_a_filled_honeypot_is_answered_exactly_like_a_booking_and_books_nothing(
    invoke: Any, oliver: Any, create: Any, aws: Any
) -> None:
    real = invoke(booking_event())
    aws.events()
    oliver.reset()
    caught = invoke(booking_event({**JANE_BOOKS_REX, "slot_id": "s-2", "website": "spam.example"}))
    assert caught.status == real.status == 201
    assert sorted(caught.headers) == sorted(real.headers)
    assert shape(caught.json()) == shape(real.json())
    assert caught.json()["data"]["patient_name"] == "Rex"
    assert oliver.calls.call_count == 0
    assert aws.events() == []


# -- behind the template's CloudFront -------------------------------------------------------------


def test_the_viewer_address_is_trusted_only_with_the_origin_secret(
    invoke: Any, create: Any, reconfigure: Any
) -> None:
    reconfigure(TRUSTED_EDGE="cloudfront", THROTTLE_BOOKINGS_PER_IP="1/600")
    forged = {"cloudfront-viewer-address": "198.51.100.1:4431"}
    verified = {"x-origin-verify": THROTTLE_KEY}

    def post(slot: str, viewer: str, headers: dict[str, str]) -> int:
        fields = {**JANE_BOOKS_REX, "slot_id": slot}
        return invoke(
            booking_event(fields, headers={**headers, "cloudfront-viewer-address": viewer})
        ).status

    # Without the origin secret, the header is ignored: both posts count for the source IP
    assert post("s-1", "198.51.100.1:1", forged) == 201
    assert post("s-2", "198.51.100.2:1", forged) == 429
    # With it, each viewer is counted for itself
    assert post("s-3", "198.51.100.3:1", verified) == 201
    assert post("s-4", "198.51.100.4:1", verified) == 201
    assert post("s-5", "198.51.100.4:1", verified) == 429
