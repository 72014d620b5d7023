"""POST /webhooks/{source} through the real handler (CONTRACT §3): the check order, both signature
schemes and their options, delivery ids as idempotency keys, field maps, events and configuration.

Standard Webhooks deliveries are signed with the reference implementation (``standardwebhooks``),
so our own verifier is checked against it; hmac-sha256 deliveries are signed with ``hmac``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from conftest import (
    API,
    JANE,
    JANE_BOOKS_REX,
    CurrentStdout,
    assert_error,
    clients_found,
    created,
    http_event,
    listed,
    load_event,
    now_iso,
    sent,
)
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from standardwebhooks.webhooks import Webhook

#: The Standard Webhooks specification's example secret (also signs events/webhook-standard.json).
STANDARD_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
RETIRING_SECRET = "whsec_" + base64.b64encode(b"the secret being rotated out!!!!").decode()
HMAC_SECRET = "oliver-partner-webhook-secret-7f3a"
BY_IDS = {"slot_id": "slot-1", "client_id": 1001, "patient_id": 2001}
OTHER_BOOKING = {"slot_id": "slot-2", "client_id": 1001, "patient_id": 2001}
WEBHOOK_ROUTE = "POST /webhooks/{source}"
MAX_BODY = 64 * 1024

STANDARD = {"scheme": "standard-webhooks"}
OLIVER_STYLE = {"scheme": "hmac-sha256"}
RECEIPT_501 = {
    "success": True,
    "data": {
        "id": 501,
        "status": "REQUESTED",
        "start": "2030-01-07T09:00:00-06:00",
        "end": "2030-01-07T09:20:00-06:00",
        "patient_name": "Rex",
    },
    "message": "The practice has your request and will confirm the appointment.",
}


# -- helpers --------------------------------------------------------------------------------------


def webhook_event(
    source: str,
    body: str | bytes,
    headers: dict[str, str] | None = None,
    content_type: str = "application/json",
) -> dict[str, Any]:
    return http_event(
        "POST",
        f"/webhooks/{source}",
        body=body,
        headers={"content-type": content_type, **(headers or {})},
        route=WEBHOOK_ROUTE,
        path_parameters={"source": source},
    )


def standard_headers(
    body: str | bytes,
    msg_id: str = "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W",
    at: float | None = None,
    secret: str = STANDARD_SECRET,
) -> dict[str, str]:
    """Headers the reference implementation produces for this delivery."""
    moment = datetime.fromtimestamp(int(time.time() if at is None else at), UTC)
    text = body.decode("utf-8") if isinstance(body, bytes) else body
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(moment.timestamp())),
        "webhook-signature": Webhook(secret).sign(msg_id, moment, text),
    }


def standard_delivery(
    fields: dict[str, Any] | None = None, source: str = "partner-a", **signing: Any
) -> dict[str, Any]:
    body = json.dumps(BY_IDS if fields is None else fields)
    return webhook_event(source, body, standard_headers(body, **signing))


def hmac_signature(
    body: str | bytes,
    secret: str = HMAC_SECRET,
    encoding: str = "hex",
    timestamp: str | None = None,
) -> str:
    data = body.encode() if isinstance(body, str) else body
    if timestamp is not None:
        data = f"{timestamp}.".encode() + data
    digest = hmac.new(secret.encode(), data, hashlib.sha256).digest()
    return digest.hex() if encoding == "hex" else base64.b64encode(digest).decode()


def oliver_delivery(
    fields: dict[str, Any] | None = None,
    source: str = "oliver",
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    body = json.dumps(BY_IDS if fields is None else fields)
    return webhook_event(
        source, body, {"x-webhook-signature": hmac_signature(body), **(headers or {})}
    )


def of_type(events: list[dict[str, Any]], detail_type: str) -> list[dict[str, Any]]:
    return [e for e in events if e["detail-type"] == detail_type]


@pytest.fixture
def webhooks(aws, reconfigure) -> Callable[..., None]:
    """Configure webhook sources and their signing secrets (a second secret in moto)."""
    arn: list[str] = []

    def configure(sources: dict[str, Any], secrets: dict[str, Any] | None = None) -> None:
        if secrets is None:
            secrets = {
                name: STANDARD_SECRET if options["scheme"] == "standard-webhooks" else HMAC_SECRET
                for name, options in sources.items()
            }
        document = json.dumps(secrets)
        if arn:
            aws.secrets.put_secret_value(SecretId=arn[0], SecretString=document)
        else:
            arn.append(
                aws.secrets.create_secret(Name="booking/webhooks", SecretString=document)["ARN"]
            )
        reconfigure(WEBHOOK_SOURCES=json.dumps(sources), WEBHOOK_SECRET_ID=arn[0])

    return configure


@pytest.fixture
def standard(webhooks) -> None:
    webhooks({"partner-a": STANDARD})


@pytest.fixture
def create(oliver) -> Any:
    return oliver.post(f"{API}/appointments").respond(200, json=created(501))


@pytest.fixture
def logged(capsys, monkeypatch) -> Callable[[], list[dict[str, Any]]]:
    """The function's structured log lines (the Powertools logger prints JSON to stdout)."""
    from booking.telemetry import logger

    for handler in logger.handlers:
        if isinstance(handler, logging.StreamHandler):
            monkeypatch.setattr(handler, "stream", CurrentStdout())

    def lines() -> list[dict[str, Any]]:
        out = capsys.readouterr().out
        return [json.loads(line) for line in out.splitlines() if line.startswith("{")]

    return lines


# -- check order: 404, 413, 401, then 415 / 400 / 422 ---------------------------------------------


def test_an_unknown_source_is_404_even_with_a_huge_unsigned_body(standard, invoke, create):
    # Given only partner-a is configured
    # When another source posts more than 64 KiB with no signature at all
    answer = invoke(webhook_event("partner-z", "x" * (MAX_BODY + 1)))

    # Then it is told the source is unknown, before size or signature are looked at
    assert_error(answer, 404, "unknown_source")
    assert not create.called


def test_without_any_webhook_source_configured_every_source_is_unknown(invoke, create):
    answer = invoke(standard_delivery())

    assert_error(answer, 404, "unknown_source")


def test_a_body_over_64_kib_is_413_before_the_signature_is_checked(standard, invoke, create):
    # Given a known source and a body one byte over the limit, with no signature
    body = json.dumps({**BY_IDS, "note": "x" * MAX_BODY})

    # When it is posted
    answer = invoke(webhook_event("partner-a", body))

    # Then it is refused for its size, not its signature
    assert_error(answer, 413, "body_too_large")
    assert not create.called


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"webhook-id": "msg_1", "webhook-timestamp": str(int(time.time()))},
        {
            "webhook-id": "msg_1",
            "webhook-timestamp": str(int(time.time())),
            "webhook-signature": "v1,bm90IHRoZSBzaWduYXR1cmU=",
        },
    ],
    ids=["no-headers", "no-signature", "wrong-signature"],
)
def test_a_missing_or_wrong_signature_is_401_and_books_nothing(standard, invoke, create, headers):
    answer = invoke(webhook_event("partner-a", json.dumps(BY_IDS), headers))

    assert_error(answer, 401, "invalid_signature")
    assert not create.called


def test_the_401_body_never_says_why(standard, invoke):
    # Given deliveries refused for three different reasons
    body = json.dumps(BY_IDS)
    unsigned = webhook_event("partner-a", body)
    wrong_key = webhook_event("partner-a", body, standard_headers(body, secret=RETIRING_SECRET))
    stale = webhook_event("partner-a", body, standard_headers(body, at=time.time() - 3600))

    # When each is posted
    answers = [invoke(event) for event in (unsigned, wrong_key, stale)]

    # Then the three answers are word for word the same
    assert {answer.status for answer in answers} == {401}
    assert len({answer.body for answer in answers}) == 1


def test_the_log_says_why_a_signature_was_rejected_without_the_secret(standard, invoke, logged):
    body = json.dumps(BY_IDS)
    stale = webhook_event("partner-a", body, standard_headers(body, at=time.time() - 3600))

    invoke(stale)

    lines = logged()
    rejected = [line for line in lines if line.get("message") == "webhook signature rejected"]
    assert [line["reason"] for line in rejected] == ["timestamp outside the tolerance"]
    everything = json.dumps(lines)
    assert STANDARD_SECRET not in everything
    assert STANDARD_SECRET.removeprefix("whsec_") not in everything


def test_an_unsigned_delivery_of_an_unsupported_type_is_401_not_415(standard, invoke):
    answer = invoke(webhook_event("partner-a", "slot_id slot-1", content_type="text/plain"))

    assert_error(answer, 401, "invalid_signature")


def test_a_signed_delivery_of_an_unsupported_type_is_415(standard, invoke, create):
    body = "slot_id slot-1"
    event = webhook_event("partner-a", body, standard_headers(body), content_type="text/plain")

    answer = invoke(event)

    assert_error(answer, 415, "unsupported_media_type")


def test_a_signed_delivery_that_is_not_json_is_400_malformed(standard, invoke, create):
    body = '{"slot_id": "slot-1",'

    answer = invoke(webhook_event("partner-a", body, standard_headers(body)))

    assert_error(answer, 400, "malformed_body")
    assert not create.called


def test_a_signed_delivery_with_an_invalid_booking_is_422_naming_the_fields(
    standard, invoke, create
):
    answer = invoke(standard_delivery({"slot_id": "slot-1", "client_id": 1.5}))

    body = assert_error(answer, 422, "validation_error")
    assert {error["field"] for error in body["errors"]} == {"client_id", "patient_id"}
    assert not create.called


# -- standard-webhooks ----------------------------------------------------------------------------


def test_the_standard_webhook_event_file_resigned_now_books_201(standard, invoke, create):
    # Given the sample event, re-signed now with the example secret
    event = load_event("webhook-standard.json")
    event["headers"].update(standard_headers(event["body"], msg_id=event["headers"]["webhook-id"]))

    # When it is delivered
    answer = invoke(event)

    # Then it is booked, answered with a receipt, and Oliver received exactly the booking fields
    # of the body (a partner's names, contact and PIMS ids go upstream as given)
    assert answer.status == 201, answer.body
    assert answer.json() == RECEIPT_501
    assert sent(create) == json.loads(event["body"])


def test_upstream_receives_only_the_booking_fields_of_a_webhook(standard, invoke, create):
    answer = invoke(standard_delivery({**BY_IDS, "note": "From partner-a"}))

    assert answer.status == 201
    assert sent(create) == {**BY_IDS, "note": "From partner-a"}
    request = create.calls.last.request
    assert not any(name.startswith("webhook-") for name in request.headers)


def test_the_same_webhook_id_and_body_is_replayed_with_one_upstream_create(
    standard, invoke, create
):
    # Given a delivery that was booked
    body = json.dumps(BY_IDS)
    headers = standard_headers(body, msg_id="msg_retry")
    first = invoke(webhook_event("partner-a", body, headers))

    # When the partner delivers it again (re-signed, as a retry is)
    again = invoke(webhook_event("partner-a", body, standard_headers(body, msg_id="msg_retry")))

    # Then the same answer, the receipt, is replayed and Oliver was asked once
    assert first.status == again.status == 201
    assert first.json() == RECEIPT_501
    assert again.body == first.body
    assert again.headers.get("idempotent-replayed") == "true"
    assert "idempotent-replayed" not in first.headers
    assert create.call_count == 1


def test_the_same_webhook_id_with_a_different_booking_is_422_key_reused(standard, invoke, create):
    invoke(standard_delivery(BY_IDS, msg_id="msg_same"))

    answer = invoke(standard_delivery(OTHER_BOOKING, msg_id="msg_same"))

    assert_error(answer, 422, "idempotency_key_reused")
    assert create.call_count == 1


def test_two_webhook_ids_with_the_same_booking_are_two_deliveries(standard, invoke, create):
    # CONTRACT §3: the idempotency key is the delivery id, not the booking.
    first = invoke(standard_delivery(BY_IDS, msg_id="msg_one"))

    second = invoke(standard_delivery(BY_IDS, msg_id="msg_two"))

    assert first.status == second.status == 201
    assert "idempotent-replayed" not in second.headers
    assert create.call_count == 2


def test_one_valid_signature_among_several_is_accepted(standard, invoke, create):
    body = json.dumps(BY_IDS)
    headers = standard_headers(body)
    wrong = standard_headers(body, secret=RETIRING_SECRET)["webhook-signature"]
    headers["webhook-signature"] = f"{wrong} {headers['webhook-signature']} v1,AAAA"

    answer = invoke(webhook_event("partner-a", body, headers))

    assert answer.status == 201, answer.body


@pytest.mark.parametrize("version", ["v1a", "v2", "V1", "v0"])
def test_a_valid_digest_under_another_version_is_ignored(standard, invoke, create, version):
    body = json.dumps(BY_IDS)
    headers = standard_headers(body)
    digest = headers["webhook-signature"].split(",", 1)[1]
    headers["webhook-signature"] = f"{version},{digest}"

    answer = invoke(webhook_event("partner-a", body, headers))

    assert_error(answer, 401, "invalid_signature")


@pytest.mark.parametrize("offset", [-290, 290], ids=["old", "ahead"])
def test_a_timestamp_within_the_tolerance_either_way_is_accepted(standard, invoke, create, offset):
    answer = invoke(standard_delivery(at=time.time() + offset))

    assert answer.status == 201, answer.body


@pytest.mark.parametrize("offset", [-310, 310], ids=["too-old", "too-far-ahead"])
def test_a_timestamp_outside_the_tolerance_is_401(standard, invoke, create, offset):
    answer = invoke(standard_delivery(at=time.time() + offset))

    assert_error(answer, 401, "invalid_signature")
    assert not create.called


def test_tolerance_seconds_narrows_the_window(webhooks, invoke, create):
    webhooks({"partner-a": {**STANDARD, "tolerance_seconds": 60}})

    answer = invoke(standard_delivery(at=time.time() - 90))

    assert_error(answer, 401, "invalid_signature")


@pytest.mark.parametrize(
    "timestamp",
    ["", "soon", "1.5e9", "²", "9" * 5000, "-"],
    ids=["empty", "word", "float", "superscript-digit", "5000-digits", "minus"],
)
def test_a_malformed_timestamp_is_401_not_a_crash(standard, invoke, create, timestamp):
    body = json.dumps(BY_IDS)
    headers = {**standard_headers(body), "webhook-timestamp": timestamp}

    answer = invoke(webhook_event("partner-a", body, headers))

    assert_error(answer, 401, "invalid_signature")


def test_during_a_rotation_the_second_secret_may_match(webhooks, invoke, create):
    # Given partner-a's secret is being rotated: the old one first, the new one second
    webhooks({"partner-a": STANDARD}, {"partner-a": [RETIRING_SECRET, STANDARD_SECRET]})

    # When the partner signs with the new one
    answer = invoke(standard_delivery(secret=STANDARD_SECRET))

    # Then it is accepted
    assert answer.status == 201, answer.body


def test_a_secret_in_unpadded_base64_verifies_as_the_reference_implementation_signs(
    webhooks, invoke, create
):
    # Given a 32-byte key written without base64 padding (the reference library accepts it)
    secret = "whsec_" + base64.b64encode(bytes(range(32))).decode().rstrip("=")
    webhooks({"partner-a": STANDARD}, {"partner-a": secret})

    answer = invoke(standard_delivery(secret=secret))

    assert answer.status == 201, answer.body


def test_a_source_missing_from_the_secret_document_is_401(webhooks, invoke, create):
    webhooks({"partner-a": STANDARD}, {"someone-else": STANDARD_SECRET})

    answer = invoke(standard_delivery())

    assert_error(answer, 401, "invalid_signature")


def test_a_delivery_signed_for_another_source_is_401(webhooks, invoke, create):
    webhooks(
        {"partner-a": STANDARD, "partner-b": STANDARD},
        {"partner-a": STANDARD_SECRET, "partner-b": RETIRING_SECRET},
    )

    answer = invoke(standard_delivery(source="partner-b", secret=STANDARD_SECRET))

    assert_error(answer, 401, "invalid_signature")


# -- hmac-sha256 ----------------------------------------------------------------------------------


def test_an_oliver_style_lowercase_hex_signature_of_the_raw_body_books(webhooks, invoke, create):
    # Given a source signing as Oliver does: hex HMAC-SHA256 of the raw body, no timestamp
    webhooks({"oliver": OLIVER_STYLE})

    answer = invoke(oliver_delivery())

    assert answer.status == 201, answer.body
    assert sent(create) == BY_IDS


def test_an_uppercase_hex_signature_is_accepted(webhooks, invoke, create):
    # Hex is case-insensitive; Oliver documents lowercase, but the digest is the same.
    webhooks({"oliver": OLIVER_STYLE})
    body = json.dumps(BY_IDS)

    answer = invoke(
        webhook_event("oliver", body, {"x-webhook-signature": hmac_signature(body).upper()})
    )

    assert answer.status == 201, answer.body


def test_an_hmac_signature_of_another_body_is_401(webhooks, invoke, create):
    webhooks({"oliver": OLIVER_STYLE})
    body = json.dumps(BY_IDS)

    answer = invoke(
        webhook_event("oliver", body, {"x-webhook-signature": hmac_signature(body + " ")})
    )

    assert_error(answer, 401, "invalid_signature")
    assert not create.called


def test_a_base64_encoded_signature_in_a_custom_header_books(webhooks, invoke, create):
    webhooks(
        {"p": {"scheme": "hmac-sha256", "header": "X-Partner-Signature", "encoding": "base64"}}
    )
    body = json.dumps(BY_IDS)

    answer = invoke(
        webhook_event("p", body, {"X-Partner-Signature": hmac_signature(body, encoding="base64")})
    )

    assert answer.status == 201, answer.body


def test_a_hex_signature_where_base64_is_configured_is_401(webhooks, invoke, create):
    webhooks({"p": {"scheme": "hmac-sha256", "encoding": "base64"}})
    body = json.dumps(BY_IDS)

    answer = invoke(webhook_event("p", body, {"x-webhook-signature": hmac_signature(body)}))

    assert_error(answer, 401, "invalid_signature")


def test_a_prefixed_signature_books(webhooks, invoke, create):
    webhooks({"p": {"scheme": "hmac-sha256", "prefix": "sha256="}})
    body = json.dumps(BY_IDS)

    answer = invoke(
        webhook_event("p", body, {"x-webhook-signature": "sha256=" + hmac_signature(body)})
    )

    assert answer.status == 201, answer.body


def test_a_signature_without_the_configured_prefix_is_401(webhooks, invoke, create):
    webhooks({"p": {"scheme": "hmac-sha256", "prefix": "sha256="}})
    body = json.dumps(BY_IDS)

    answer = invoke(webhook_event("p", body, {"x-webhook-signature": hmac_signature(body)}))

    assert_error(answer, 401, "invalid_signature")


TIMESTAMPED = {"scheme": "hmac-sha256", "timestamp_header": "X-Timestamp", "tolerance_seconds": 120}


def timestamped(at: float, signed_at: str | None = None) -> dict[str, Any]:
    body = json.dumps(BY_IDS)
    stamp = str(int(at))
    signature = hmac_signature(body, timestamp=stamp if signed_at is None else signed_at)
    return webhook_event("p", body, {"x-timestamp": stamp, "x-webhook-signature": signature})


@pytest.mark.parametrize("offset", [-110, 0, 110])
def test_a_timestamped_hmac_signature_within_the_tolerance_books(webhooks, invoke, create, offset):
    webhooks({"p": TIMESTAMPED})

    answer = invoke(timestamped(time.time() + offset))

    assert answer.status == 201, answer.body


@pytest.mark.parametrize("offset", [-130, 130])
def test_a_timestamped_hmac_signature_outside_the_tolerance_is_401(
    webhooks, invoke, create, offset
):
    webhooks({"p": TIMESTAMPED})

    answer = invoke(timestamped(time.time() + offset))

    assert_error(answer, 401, "invalid_signature")


def test_a_timestamped_source_refuses_a_signature_of_the_body_alone(webhooks, invoke, create):
    webhooks({"p": TIMESTAMPED})
    body = json.dumps(BY_IDS)
    headers = {"x-timestamp": str(int(time.time())), "x-webhook-signature": hmac_signature(body)}

    answer = invoke(webhook_event("p", body, headers))

    assert_error(answer, 401, "invalid_signature")


def test_a_timestamped_source_refuses_a_delivery_without_the_timestamp(webhooks, invoke, create):
    webhooks({"p": TIMESTAMPED})
    body = json.dumps(BY_IDS)

    answer = invoke(webhook_event("p", body, {"x-webhook-signature": hmac_signature(body)}))

    assert_error(answer, 401, "invalid_signature")


def test_hmac_rotation_accepts_the_second_secret(webhooks, invoke, create):
    webhooks({"oliver": OLIVER_STYLE}, {"oliver": ["old-secret", HMAC_SECRET]})

    answer = invoke(oliver_delivery())

    assert answer.status == 201, answer.body


def test_the_id_header_is_the_idempotency_key(webhooks, invoke, create):
    # Given a source whose deliveries carry their id in a header
    webhooks({"oliver": {**OLIVER_STYLE, "id_header": "X-Delivery-Id"}})
    first = invoke(oliver_delivery(headers={"x-delivery-id": "dlv-1"}))

    # When the same delivery comes again, and then another delivery of the same booking
    again = invoke(oliver_delivery(headers={"x-delivery-id": "dlv-1"}))
    other = invoke(oliver_delivery(headers={"x-delivery-id": "dlv-2"}))

    # Then the repeat is a replay and the other delivery a booking of its own
    assert again.headers.get("idempotent-replayed") == "true"
    assert "idempotent-replayed" not in other.headers
    assert first.status == again.status == other.status == 201
    assert create.call_count == 2


def test_the_same_id_header_with_a_different_booking_is_422_key_reused(webhooks, invoke, create):
    webhooks({"oliver": {**OLIVER_STYLE, "id_header": "X-Delivery-Id"}})
    invoke(oliver_delivery(BY_IDS, headers={"x-delivery-id": "dlv-1"}))

    answer = invoke(oliver_delivery(OTHER_BOOKING, headers={"x-delivery-id": "dlv-1"}))

    assert_error(answer, 422, "idempotency_key_reused")


MAPPED = {
    "scheme": "hmac-sha256",
    "id_field": "event.id",
    "map": {
        "slot_id": "appointment.slot",
        "client_id": "customer.id",
        "patient_id": "customer.pets[0].id",
        "note": "appointment.comment",
    },
}


def partner_body(event_id: str = "evt_1", slot: str = "slot-1") -> dict[str, Any]:
    return {
        "event": {"id": event_id, "type": "appointment.requested"},
        "appointment": {"slot": slot, "comment": "Limping", "channel": "app"},
        "customer": {"id": 1001, "name": "Jane", "pets": [{"id": 2001, "species": "dog"}]},
        "tracking": {"campaign": "spring"},
    }


def test_a_map_takes_the_booking_fields_from_the_body_and_ignores_the_rest(
    webhooks, invoke, create
):
    # Given a source whose bodies are shaped its own way
    webhooks({"p": MAPPED})

    # When it delivers a body with many fields that are not booking fields
    answer = invoke(oliver_delivery(partner_body(), source="p"))

    # Then the booking is made from the mapped fields only
    assert answer.status == 201, answer.body
    assert sent(create) == {**BY_IDS, "note": "Limping"}


def test_a_map_that_finds_no_slot_is_422_naming_it(webhooks, invoke, create):
    webhooks({"p": MAPPED})
    body = partner_body()
    del body["appointment"]["slot"]

    answer = invoke(oliver_delivery(body, source="p"))

    answer_body = assert_error(answer, 422, "validation_error")
    assert "slot_id" in {error["field"] for error in answer_body["errors"]}


def test_the_id_field_is_the_idempotency_key(webhooks, invoke, create):
    webhooks({"p": MAPPED})
    invoke(oliver_delivery(partner_body("evt_1"), source="p"))

    again = invoke(oliver_delivery(partner_body("evt_1"), source="p"))
    reused = invoke(oliver_delivery(partner_body("evt_1", slot="slot-2"), source="p"))

    assert again.status == 201 and again.headers.get("idempotent-replayed") == "true"
    assert_error(reused, 422, "idempotency_key_reused")
    assert create.call_count == 1


def test_without_a_map_unknown_fields_are_422_naming_them(webhooks, invoke, create):
    webhooks({"oliver": OLIVER_STYLE})

    answer = invoke(oliver_delivery({**BY_IDS, "practice_id": "p-1", "reminders": []}))

    body = assert_error(answer, 422, "validation_error")
    assert {"practice_id", "reminders"} <= {error["field"] for error in body["errors"]}
    assert not create.called


BY_IDS_MAP = {
    "slot_id": "ids.slot_id",
    "client_id": "ids.client_id",
    "patient_id": "ids.patient_id",
}


def test_a_map_expression_that_fails_on_the_body_is_422_not_a_crash(webhooks, invoke, create):
    # Given a map using a JMESPath function that needs a string
    webhooks({"p": {"scheme": "hmac-sha256", "map": {**BY_IDS_MAP, "note": "join(', ', notes)"}}})

    # When the body's value has another type
    answer = invoke(oliver_delivery({"ids": BY_IDS, "notes": 42}, source="p"))

    # Then the field is treated as absent, and the booking proceeds without it
    assert answer.status == 201, answer.body
    assert sent(create) == BY_IDS


# -- partners: every upstream field, receipts, precise reasons ------------------------------------

#: A partner that knows the client by name and contact, and the pet by its PIMS id.
BY_NAME = {
    "slot_id": "slot-1",
    "first_name": "Jane",
    "last_name": "Doe",
    "email": "jane@example.com",
    "patient_remote_id": "PIMS-P-7",
}


@pytest.mark.parametrize(
    "fields",
    [
        pytest.param({**BY_IDS, "status": "CONFIRMED"}, id="ids-and-status"),
        pytest.param(
            {"slot_id": "slot-1", "client_remote_id": "PIMS-C-77", "patient_remote_id": "PIMS-P-7"},
            id="remote-ids",
        ),
        pytest.param(BY_NAME, id="name-contact-and-remote-pet-id"),
        pytest.param({**BY_IDS, "note": None, "status": None}, id="nulls-not-sent"),
    ],
)
def test_a_partner_may_send_every_upstream_field_and_they_go_upstream_as_given(
    standard, invoke, oliver, create, fields
):
    # Given a signed partner delivery that addresses records by id, PIMS id or name
    # When it is delivered
    answer = invoke(standard_delivery(fields))

    # Then Oliver gets exactly the fields given (no nulls), and nothing was looked up
    assert answer.status == 201, answer.body
    assert sent(create) == {k: v for k, v in fields.items() if v is not None}
    assert b"null" not in create.calls.last.request.content
    assert not oliver.routes["clients"].called


def test_a_partners_answer_is_a_receipt_never_the_client_record(standard, invoke, oliver):
    # Given Oliver answers the create with the whole appointment, client details and words
    appointment = created(501, remote_client_id="PIMS-C-77", client_id=1001)
    appointment["message"] = "Created for Jane Doe"
    oliver.post(f"{API}/appointments").respond(200, json=appointment)

    answer = invoke(standard_delivery())

    assert answer.json() == RECEIPT_501
    for detail in ("jane@example.com", "+15555550100", "Doe", "PIMS", "1001", "Created for"):
        assert detail not in answer.body


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        pytest.param({**BY_IDS, "client_id": ""}, "client_id", id="client_id-empty"),
        pytest.param({**BY_IDS, "client_id": "x" * 101}, "client_id", id="client_id-too-long"),
        pytest.param({**BY_IDS, "client_id": True}, "client_id", id="client_id-boolean"),
        pytest.param({**BY_IDS, "patient_id": True}, "patient_id", id="patient_id-boolean"),
        pytest.param({**BY_IDS, "client_id": 1.5}, "client_id", id="client_id-fraction"),
        pytest.param({**BY_IDS, "patient_id": 0}, "patient_id", id="patient_id-zero"),
        pytest.param({**BY_IDS, "status": "DONE"}, "status", id="unknown-status"),
        pytest.param({"slot_id": "s", "patient_id": 2001}, "client_id", id="no-client"),
        pytest.param({"slot_id": "s", "client_id": 1001}, "patient_id", id="no-patient"),
        pytest.param(
            {"slot_id": "s", "client_id": 1001, "patient_name": "Rex"},
            "patient_name",
            id="pet-name-without-the-clients-contact",
        ),
        pytest.param({**BY_IDS, "note": "bell\x07"}, "note", id="control-character"),
    ],
)
def test_a_partner_delivery_with_an_invalid_field_is_422_naming_it(
    standard, invoke, create, fields, named
):
    answer = invoke(standard_delivery(fields))

    body = assert_error(answer, 422, "validation_error")
    assert named in {error["field"] for error in body["errors"]}
    assert not create.called


def test_a_form_encoded_delivery_has_its_numbers_coerced_to_integers_upstream(
    webhooks, invoke, create
):
    # Given a partner that posts forms, signed as Oliver signs
    webhooks({"oliver": OLIVER_STYLE})
    body = "slot_id=slot-1&client_id=1001&patient_id=2001&status=ACCEPTED"
    headers = {"x-webhook-signature": hmac_signature(body)}

    # When it delivers ids as the strings a form carries
    answer = invoke(webhook_event("oliver", body, headers, "application/x-www-form-urlencoded"))

    # Then Oliver's create gets them as integers
    assert answer.status == 201, answer.body
    assert sent(create) == {**BY_IDS, "status": "ACCEPTED"}
    assert isinstance(sent(create)["client_id"], int)


def test_a_partner_booking_by_pet_name_is_matched_like_a_visitors(standard, invoke, oliver, create):
    # Given a partner that knows Jane by her full name, "Last, First", and her pet by name
    fields = {"slot_id": "slot-1", "name": "Doe, J.", "email": "jane@example.com"}

    answer = invoke(standard_delivery({**fields, "patient_name": "rex"}))

    assert answer.status == 201, answer.body
    assert sent(create) == BY_IDS


@pytest.mark.parametrize(
    ("found", "fields", "code", "named"),
    [
        pytest.param([], JANE_BOOKS_REX, "client_not_found", "email", id="no-client"),
        pytest.param(
            [JANE],
            {**JANE_BOOKS_REX, "first_name": "Mallory"},
            "client_not_found",
            "email",
            id="another-first-name",
        ),
        pytest.param(
            [],
            {k: v for k, v in JANE_BOOKS_REX.items() if k != "email"} | {"phone": "555 555 0100"},
            "client_not_found",
            "phone",
            id="no-client-by-phone",
        ),
        pytest.param(
            [JANE],
            {**JANE_BOOKS_REX, "patient_name": "Max"},
            "patient_not_found",
            "patient_name",
            id="no-such-pet",
        ),
        pytest.param(
            [JANE, {**JANE, "id": "1002"}],
            JANE_BOOKS_REX,
            "ambiguous_match",
            None,
            id="two-clients",
        ),
    ],
)
def test_a_partner_keeps_the_precise_reason_a_booking_was_not_matched(
    standard, invoke, oliver, create, aws, found, fields, code, named
):
    # Given what Oliver's lookup answers for this partner's booking by pet name
    oliver.get(f"{API}/clients").respond(200, json=clients_found(*found))

    # When the partner delivers it
    answer = invoke(standard_delivery(fields))

    # Then the partner is told why, by field, and staff get a follow-up with that reason
    body = assert_error(answer, 422, code)
    if named is not None:
        assert [error["field"] for error in body["errors"]] == [named]
    assert not create.called
    failed = of_type(aws.events(), "Booking Failed")
    assert [event["detail"]["reason"] for event in failed] == [code]
    assert failed[0]["detail"]["channel"] == "webhook"


def test_an_unknown_outcome_with_a_client_id_is_matched_through_the_client_record(
    standard, invoke, oliver
):
    # Given a partner booking by ids whose create answers 502 (it may have been made)
    oliver.post(f"{API}/appointments").respond(502, text="Bad gateway")
    client = oliver.get(f"{API}/clients/1001").respond(
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
        "booking_date": "2030-01-07T15:00:00Z",
        "end_date": "2030-01-07T15:20:00Z",
        "client_first_name": "Jane",
        "client_last_name": "Doe",
        "client_email": "jane@example.com",
        "patient_name": "Rex",
    }
    someone_else = {**mine, "id": "902", "client_first_name": "John", "client_email": "j@x.org"}
    oliver.get(f"{API}/appointments").respond(200, json=listed(someone_else, mine))

    # When it is delivered
    answer = invoke(standard_delivery())

    # Then the client's record told which listed appointment is this one
    assert client.called
    assert answer.status == 201, answer.body
    assert answer.json() == {
        "success": True,
        "data": {**RECEIPT_501["data"], "id": 901, "status": "ACCEPTED"},
        "message": "Your appointment is booked.",
    }


# -- events ----------------------------------------------------------------------------------------


def test_appointment_booked_names_the_webhook_channel_and_source(standard, invoke, create, aws):
    invoke(standard_delivery(msg_id="msg_evt"))

    booked = of_type(aws.events(), "Appointment Booked")
    assert len(booked) == 1
    detail = booked[0]["detail"]
    assert detail["channel"] == "webhook"
    assert detail["webhook_source"] == "partner-a"
    assert detail["idempotency_key"].endswith("msg_evt")


def test_booking_failed_names_the_webhook_channel_and_source(standard, invoke, oliver, aws):
    oliver.post(f"{API}/appointments").respond(
        400, json={"success": False, "message": "Stale slot"}
    )

    answer = invoke(standard_delivery())

    assert_error(answer, 422, "booking_rejected")
    failed = of_type(aws.events(), "Booking Failed")
    assert len(failed) == 1
    assert failed[0]["detail"]["channel"] == "webhook"
    assert failed[0]["detail"]["webhook_source"] == "partner-a"


def test_a_refused_signature_emits_no_event(standard, invoke, create, aws):
    invoke(webhook_event("partner-a", json.dumps(BY_IDS)))

    assert aws.events() == []


# -- configuration --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "sources",
    [
        "{not json",
        '["partner-a"]',
        '{"partner-a": {"scheme": "rsa-sha512"}}',
        '{"partner-a": {}}',
        '{"partner-a": {"scheme": "hmac-sha256", "encoding": "base32"}}',
        '{"partner-a": {"scheme": "hmac-sha256", "tolerence_seconds": 60}}',
        '{"partner-a": {"scheme": "hmac-sha256", "id_field": "event.["}}',
        '{"partner-a": {"scheme": "hmac-sha256", "map": {"slot_id": "a..b"}}}',
    ],
    ids=[
        "not-json",
        "not-an-object",
        "unknown-scheme",
        "no-scheme",
        "unknown-encoding",
        "unknown-option",
        "bad-id-field",
        "bad-map",
    ],
)
@pytest.mark.parametrize(
    "event",
    [
        lambda: standard_delivery(),
        lambda: http_event(
            "POST",
            "/bookings",
            body=json.dumps(BY_IDS),
            headers={"content-type": "application/json"},
        ),
        lambda: http_event(
            "GET",
            "/open-times",
            query={"search_from_date": "2030-01-07T00:00:00Z", "appointment_type": "wellness"},
        ),
    ],
    ids=["webhooks", "bookings", "open-times"],
)
def test_malformed_webhook_sources_are_503_on_every_configured_route(
    reconfigure, invoke, create, sources, event
):
    reconfigure(WEBHOOK_SOURCES=sources)

    answer = invoke(event())

    assert_error(answer, 503, "configuration_error")
    assert not create.called


def test_malformed_webhook_sources_leave_health_answering(reconfigure, invoke):
    reconfigure(WEBHOOK_SOURCES="{not json")

    answer = invoke(http_event("GET", "/health"))

    assert answer.status == 200


def test_a_webhook_without_a_secret_id_is_401_not_a_crash(reconfigure, invoke, create):
    # Given a configured source but no WEBHOOK_SECRET_ID to verify its signatures with
    reconfigure(WEBHOOK_SOURCES=json.dumps({"partner-a": STANDARD}), WEBHOOK_SECRET_ID=None)

    # When it posts a delivery signed with the right secret
    answer = invoke(standard_delivery())

    # Then nothing can be verified: 401, nothing booked
    assert_error(answer, 401, "invalid_signature")
    assert not create.called


# -- Origin ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("origin", ["https://evil.example", "null", "https://vet.example"])
def test_webhooks_are_not_subject_to_the_origin_check(standard, invoke, create, origin):
    event = standard_delivery()
    event["headers"]["origin"] = origin

    answer = invoke(event)

    assert answer.status == 201, answer.body


# -- properties: any tampering is a 401 -----------------------------------------------------------


def flip(text: str | bytes, index: int, mask: int) -> bytes:
    data = bytearray(text.encode("latin-1") if isinstance(text, str) else text)
    data[index % len(data)] ^= mask
    return bytes(data)


TAMPERING = settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
PARTS = st.sampled_from(["body", "signature", "timestamp", "id"])


@TAMPERING
@given(part=PARTS, index=st.integers(min_value=0), mask=st.integers(min_value=1, max_value=255))
def test_any_tampering_with_a_standard_webhook_is_401(standard, invoke, create, part, index, mask):
    body = json.dumps(BY_IDS)
    headers = standard_headers(body)
    sent_body: str | bytes = body
    if part == "body":
        sent_body = flip(body, index, mask)
    else:
        header = {"signature": "webhook-signature", "timestamp": "webhook-timestamp"}.get(
            part, "webhook-id"
        )
        headers[header] = flip(headers[header], index, mask).decode("latin-1")

    answer = invoke(webhook_event("partner-a", sent_body, headers))

    assert_error(answer, 401, "invalid_signature")
    assert not create.called


@TAMPERING
@given(
    part=st.sampled_from(["body", "signature", "timestamp"]),
    encoding=st.sampled_from(["hex", "base64"]),
    index=st.integers(min_value=0),
    mask=st.integers(min_value=1, max_value=255),
)
def test_any_tampering_with_a_timestamped_hmac_webhook_is_401(
    webhooks, invoke, create, part, encoding, index, mask
):
    webhooks({"p": {**TIMESTAMPED, "encoding": encoding}})
    body = json.dumps(BY_IDS)
    stamp = str(int(time.time()))
    headers = {
        "x-timestamp": stamp,
        "x-webhook-signature": hmac_signature(body, encoding=encoding, timestamp=stamp),
    }
    sent_body: str | bytes = body
    if part == "body":
        sent_body = flip(body, index, mask)
    else:
        header = "x-webhook-signature" if part == "signature" else "x-timestamp"
        original = headers[header]
        headers[header] = flip(original, index, mask).decode("latin-1")
        if encoding == "hex" and part == "signature":
            # Hex is compared case-insensitively: a change of case is the same signature.
            assume(headers[header].lower() != original.lower())

    answer = invoke(webhook_event("p", sent_body, headers))

    assert_error(answer, 401, "invalid_signature")
    assert not create.called
