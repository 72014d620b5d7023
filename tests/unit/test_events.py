"""Events on EventBridge (CONTRACT §4): their detail against the published JSON Schemas, Booking
Failed for what staff should follow up, and nothing lost when PutEvents fails."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import httpx
import jsonschema
import pytest
from booking import container
from booking.publisher import replay_parked
from conftest import (
    API,
    JANE_BOOKS_REX,
    REGION,
    booking_event,
    clients_found,
    created,
    http_event,
    listed,
    load_event,
    sent,
)

SCHEMAS = Path(__file__).resolve().parents[2] / "docs" / "schemas"
#: What Oliver's create receives for JANE_BOOKS_REX: the ids the lookup found, as integers.
JANE_REX_UPSTREAM = {"slot_id": "slot-1", "client_id": 1001, "patient_id": 2001}
WITH_UTM = {
    **JANE_BOOKS_REX,
    "utm_source": "newsletter",
    "utm_medium": "email",
    "utm_campaign": "spring",
}
ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|\+00:00)$")


def conforms(detail: dict[str, Any], schema_file: str) -> None:
    schema = json.loads((SCHEMAS / schema_file).read_text())
    validator = jsonschema.Draft202012Validator(
        schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )
    validator.validate(detail)


def of_type(events: list[dict[str, Any]], detail_type: str) -> list[dict[str, Any]]:
    return [e for e in events if e["detail-type"] == detail_type]


# -- Appointment Booked ---------------------------------------------------------------------------


def test_a_created_appointment_yields_one_appointment_booked_matching_its_schema(
    invoke, oliver, aws
):
    oliver.post(f"{API}/appointments").respond(200, json=created(501))
    event = booking_event(WITH_UTM, form=True, headers={"idempotency-key": "order-7"})

    answer = invoke(event)

    assert answer.status == 201
    booked = of_type(aws.events(), "Appointment Booked")
    assert len(booked) == 1
    assert booked[0]["source"] == "booking.webhook"
    detail = booked[0]["detail"]
    conforms(detail, "appointment-booked.schema.json")
    assert detail["appointment"] == created(501)["data"]
    assert detail["channel"] == "form" and detail["webhook_source"] is None
    assert detail["request_id"] == event["requestContext"]["requestId"]
    assert detail["idempotency_key"].endswith("order-7")
    assert (detail["referral_source"], detail["referral_medium"], detail["referral_campaign"]) == (
        "newsletter",
        "email",
        "spring",
    )


def test_the_pet_name_event_file_announces_the_whole_appointment_and_its_referral(
    invoke, oliver, aws
):
    # Given Oliver answers the create with the whole appointment, the client's details included
    oliver.post(f"{API}/appointments").respond(200, json=created(501))

    # When the sample booking of Jane's Rex, arriving from the newsletter, is posted
    answer = invoke(load_event("bookings-by-pet-name.json"))

    # Then the caller got a receipt, and the event carries the whole appointment
    assert answer.status == 201
    assert "jane@example.com" not in answer.body
    detail = of_type(aws.events(), "Appointment Booked")[0]["detail"]
    conforms(detail, "appointment-booked.schema.json")
    assert detail["appointment"] == created(501)["data"]
    assert detail["referral_source"] == "newsletter"


def test_submitted_at_is_when_api_gateway_received_the_request_in_utc(invoke, oliver, aws):
    oliver.post(f"{API}/appointments").respond(200, json=created(501))
    event = booking_event()
    event["requestContext"]["timeEpoch"] = 1893942240000  # 2030-01-06T15:04:00Z

    invoke(event)

    detail = of_type(aws.events(), "Appointment Booked")[0]["detail"]
    assert ISO_UTC.match(detail["submitted_at"])
    moment = datetime.fromisoformat(detail["submitted_at"].replace("Z", "+00:00"))
    assert moment == datetime(2030, 1, 6, 15, 4, tzinfo=UTC)


def test_without_utm_fields_the_referral_is_null(invoke, oliver, aws):
    oliver.post(f"{API}/appointments").respond(200, json=created(501))

    invoke(booking_event())

    detail = of_type(aws.events(), "Appointment Booked")[0]["detail"]
    assert detail["referral_source"] is None and detail["referral_campaign"] is None
    assert detail["idempotency_key"]


def test_utm_fields_go_into_the_event_and_never_upstream(invoke, oliver, aws):
    create = oliver.post(f"{API}/appointments").respond(200, json=created(501))

    invoke(booking_event(WITH_UTM))

    assert sent(create) == JANE_REX_UPSTREAM
    assert b"utm" not in create.calls.last.request.content


def test_a_replayed_booking_announces_nothing_new(invoke, oliver, aws):
    oliver.post(f"{API}/appointments").respond(200, json=created(501))
    invoke(booking_event())
    aws.events()

    invoke(booking_event())

    assert aws.events() == []


def test_an_event_source_variable_sets_the_source(invoke, oliver, aws, reconfigure):
    reconfigure(EVENT_SOURCE="vet.bookings")
    oliver.post(f"{API}/appointments").respond(200, json=created(501))

    invoke(booking_event())

    assert [e["source"] for e in aws.events()] == ["vet.bookings"]


# -- Booking Failed -------------------------------------------------------------------------------


def failed_event(aws) -> dict[str, Any]:
    failed = of_type(aws.events(), "Booking Failed")
    assert len(failed) == 1, failed
    detail = failed[0]["detail"]
    conforms(detail, "booking-failed.schema.json")
    return detail


def test_an_upstream_rejection_emits_booking_failed_with_the_reason_and_booking(
    invoke, oliver, aws
):
    oliver.post(f"{API}/appointments").respond(
        400, json={"success": False, "message": "Stale slot"}
    )
    event = booking_event(WITH_UTM)

    answer = invoke(event)

    assert answer.json()["code"] == "booking_rejected"
    detail = failed_event(aws)
    assert detail["reason"] == "booking_rejected"
    assert detail["booking"] == WITH_UTM
    assert detail["channel"] == "form" and detail["webhook_source"] is None
    assert detail["request_id"] == event["requestContext"]["requestId"]
    assert ISO_UTC.match(detail["submitted_at"])
    assert of_type(aws.events(), "Appointment Booked") == []


def test_upstream_unavailable_emits_booking_failed(invoke, oliver, aws):
    oliver.post(f"{API}/appointments").mock(side_effect=httpx.ConnectError("refused"))

    invoke(booking_event())

    assert failed_event(aws)["reason"] == "upstream_unavailable"


def test_an_unknown_outcome_emits_booking_failed(invoke, oliver, aws):
    oliver.post(f"{API}/appointments").mock(side_effect=httpx.ReadTimeout("slow"))
    oliver.get(f"{API}/appointments").respond(200, json=listed())

    invoke(booking_event())

    assert failed_event(aws)["reason"] == "outcome_unknown"


@pytest.mark.parametrize(
    "fields",
    [
        pytest.param(JANE_BOOKS_REX, id="first-and-last-name"),
        pytest.param(
            {
                "slot_id": "slot-1",
                "name": "Doe, Jane",
                "phone": "555 0100 555",
                "patient_name": "Rex",
            },
            id="full-name-and-phone",
        ),
    ],
)
def test_a_visitor_not_matched_emits_booking_failed_with_the_booking_as_given(
    invoke, oliver, aws, fields
):
    # Given Oliver knows no client with this contact
    oliver.get(f"{API}/clients").respond(200, json=clients_found())
    create = oliver.post(f"{API}/appointments")

    # When a visitor books by pet name
    answer = invoke(booking_event(fields))

    # Then staff get a follow-up with what the visitor asked for, and nothing is booked
    assert answer.json()["code"] == "not_matched"
    detail = failed_event(aws)
    assert detail["reason"] == "not_matched"
    assert detail["booking"] == fields
    assert detail["channel"] == "form"
    assert not create.called


def test_not_matched_follow_ups_have_one_event_id_per_contact_and_day(invoke, oliver, aws):
    # Given a contact Oliver does not know
    oliver.get(f"{API}/clients").respond(200, json=clients_found())
    guesses = [
        ({**JANE_BOOKS_REX, "slot_id": "slot-1"}, {"idempotency-key": "a"}),
        ({**JANE_BOOKS_REX, "slot_id": "slot-2", "patient_name": "Max"}, {"idempotency-key": "b"}),
        ({**JANE_BOOKS_REX, "slot_id": "slot-3", "first_name": "Joan"}, None),
    ]

    # When it is tried with different bookings and keys, then another contact once
    ids = []
    for fields, headers in guesses:
        assert invoke(booking_event(fields, headers=headers)).json()["code"] == "not_matched"
        ids.append(failed_event(aws)["event_id"])
    invoke(booking_event({**JANE_BOOKS_REX, "email": "someone.else@example.org"}))
    other = failed_event(aws)["event_id"]

    # Then every guess at the one contact is the same follow-up, the other contact another one
    assert len(set(ids)) == 1
    assert other != ids[0]


def test_booking_failed_carries_the_slots_start_when_it_was_seen_in_open_times(invoke, oliver, aws):
    # Given the page fetched open times, so the slot's start is known
    day = {
        "date": "01/07/2030",
        "available": True,
        "times": [
            {
                "start": "2030-01-07T09:00:00-06:00",
                "end": "2030-01-07T09:20:00-06:00",
                "uuid": "slot-1",
            }
        ],
    }
    oliver.post(f"{API}/open_times").respond(200, json={"success": True, "data": [day]})
    query = {"search_from_date": "2030-01-07T08:00:00Z", "appointment_type": "wellness"}
    assert invoke(http_event("GET", "/open-times", query=query)).status == 200
    # and the slot is taken by the time the visitor books it
    oliver.post(f"{API}/appointments").respond(409, json={"success": False, "message": "taken"})

    # When the visitor books it
    invoke(booking_event())

    # Then the follow-up (as its published schema describes it) says which time was wanted
    detail = failed_event(aws)
    assert detail["reason"] == "slot_unavailable"
    assert detail["booking"] == {**JANE_BOOKS_REX, "start": "2030-01-07T15:00:00Z"}


@pytest.mark.parametrize(
    "fields",
    [
        pytest.param(
            {k: v for k, v in JANE_BOOKS_REX.items() if k != "slot_id"}, id="missing-slot"
        ),
        pytest.param({**JANE_BOOKS_REX, "email": "not-an-email"}, id="bad-email"),
        pytest.param({**JANE_BOOKS_REX, "coupon": "x"}, id="unknown-field"),
        pytest.param({**JANE_BOOKS_REX, "patient_id": 2001}, id="partner-only-field"),
    ],
)
def test_validation_errors_emit_no_booking_failed(invoke, oliver, aws, fields):
    answer = invoke(booking_event(fields))

    assert answer.status == 422
    assert aws.events() == []


# -- PutEvents failures: parked, then replayed ----------------------------------------------------


class RaisingPutEvents:
    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, **kwargs: Any) -> Any:
        self.calls += 1
        raise RuntimeError("EventBridge is having a bad day")


class RefusingPutEvents(RaisingPutEvents):
    def __call__(self, **kwargs: Any) -> Any:
        self.calls += 1
        return {
            "FailedEntryCount": 1,
            "Entries": [{"ErrorCode": "InternalFailure", "ErrorMessage": "try again"}],
        }


@pytest.mark.parametrize(
    "stub", [RaisingPutEvents, RefusingPutEvents], ids=["raises", "failed-entry"]
)
def test_a_failed_put_events_still_answers_201_and_parks_the_whole_event(
    invoke, oliver, aws, monkeypatch, stub
):
    # Given EventBridge refuses every PutEvents
    put_events = stub()
    monkeypatch.setattr(container.aws_client("events"), "put_events", put_events)
    oliver.post(f"{API}/appointments").respond(200, json=created(501))
    event = booking_event(WITH_UTM)

    # When a booking is created
    answer = invoke(event)

    # Then the caller still gets 201, the put was retried, and the whole event is parked
    assert answer.status == 201
    assert put_events.calls > 1
    parked = aws.parked()
    assert len(parked) == 1
    entry = parked[0]
    assert entry["DetailType"] == "Appointment Booked"
    assert entry["Source"] == "booking.webhook"
    assert entry["EventBusName"] == aws.bus
    detail = json.loads(entry["Detail"])
    conforms(detail, "appointment-booked.schema.json")
    assert detail["appointment"]["id"] == 501
    assert detail["request_id"] == event["requestContext"]["requestId"]


def test_replaying_parked_events_delivers_them_and_empties_the_queue(
    invoke, oliver, aws, monkeypatch
):
    # Given an Appointment Booked event parked while EventBridge was failing
    monkeypatch.setattr(container.aws_client("events"), "put_events", RaisingPutEvents())
    oliver.post(f"{API}/appointments").respond(200, json=created(501))
    invoke(booking_event())
    parked = json.loads(aws.parked()[0]["Detail"])
    assert aws.events() == []

    # When the parked events are replayed with a working EventBridge
    result = replay_parked(
        boto3.client("events", region_name=REGION), aws.sqs, aws.dlq_url, max_messages=10
    )

    # Then the very same event reaches the bus and the queue is empty
    assert (result.received, result.replayed, result.failed) == (1, 1, 0)
    delivered = aws.events()
    assert [e["detail-type"] for e in delivered] == ["Appointment Booked"]
    assert delivered[0]["detail"] == parked
    assert aws.parked() == []


def test_a_parked_event_that_still_fails_to_replay_stays_parked(invoke, oliver, aws, monkeypatch):
    refusing = container.aws_client("events")
    monkeypatch.setattr(refusing, "put_events", RefusingPutEvents())
    oliver.post(f"{API}/appointments").respond(200, json=created(501))
    invoke(booking_event())

    result = replay_parked(refusing, aws.sqs, aws.dlq_url, max_messages=1)

    assert (result.replayed, result.failed) == (0, 1)
    counts = aws.sqs.get_queue_attributes(
        QueueUrl=aws.dlq_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    assert sum(int(n) for n in counts.values()) == 1  # still there, back once its lease ends
