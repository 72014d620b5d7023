"""Idempotency of POST /bookings (CONTRACT §3): one appointment per booking, whatever the
retries, and only successes remembered."""

from __future__ import annotations

import json
import threading
from typing import Any

import httpx
import pytest
from conftest import (
    API,
    JANE_BOOKS_REX,
    booking_event,
    created,
    http_event,
    listed,
    now_iso,
    sent,
)

#: Jane books Rex by phone rather than email.
BY_PHONE = {
    "slot_id": "slot-9",
    "first_name": "Jane",
    "last_name": "Doe",
    "phone": "(555) 555-0100",
    "patient_name": "Rex",
}
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


def test_the_same_booking_twice_replays_the_first_answer_and_books_once(invoke, oliver):
    # Given a booking that was created
    create = oliver.post(f"{API}/appointments").respond(200, json=created(501))
    first = invoke(booking_event())

    # When the very same booking is posted again
    again = invoke(booking_event())

    # Then the first answer, a receipt, comes back marked as replayed, and nothing new is booked
    assert (first.status, again.status) == (201, 201)
    assert first.json() == RECEIPT_501
    assert again.body == first.body
    assert again.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert create.call_count == 1
    assert oliver.routes["clients"].call_count == 1  # a replay does not even look Jane up


@pytest.mark.parametrize(
    "same_person",
    [
        pytest.param(
            {
                "patient_name": " REX ",
                "phone": "555.555.0100",
                "last_name": "  DOE ",
                "first_name": "jane",
                "slot_id": " slot-9 ",
            },
            id="first_and_last_name",
        ),
        pytest.param(
            {
                "slot_id": "slot-9",
                "name": "Doe, Jane",
                "phone": "5555550100",
                "patient_name": "rex",
            },
            id="last-comma-first",
        ),
        pytest.param(
            {
                "slot_id": "slot-9",
                "name": "jane doe",
                "phone": "555 555 0100",
                "patient_name": "Rex",
            },
            id="full-name",
        ),
    ],
)
def test_key_order_whitespace_case_name_form_and_phone_punctuation_are_folded(
    invoke, oliver, same_person
):
    create = oliver.post(f"{API}/appointments").respond(200, json=created(501))
    first = invoke(booking_event(BY_PHONE))

    again = invoke(booking_event(same_person))

    assert again.status == 201
    assert again.headers.get("idempotent-replayed") == "true"
    assert again.body == first.body
    assert create.call_count == 1


def test_a_different_slot_is_a_different_booking(invoke, oliver):
    create = oliver.post(f"{API}/appointments").respond(200, json=created(501))
    invoke(booking_event())

    answer = invoke(booking_event({**JANE_BOOKS_REX, "slot_id": "slot-2"}))

    assert "idempotent-replayed" not in answer.headers
    assert create.call_count == 2


def test_the_same_idempotency_key_replays_even_from_a_form(invoke, oliver):
    create = oliver.post(f"{API}/appointments").respond(200, json=created(501))
    headers = {"idempotency-key": "order-42"}
    first = invoke(booking_event(headers=headers))

    again = invoke(booking_event(JANE_BOOKS_REX, form=True, headers=headers))

    assert again.status == 201
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json() == RECEIPT_501
    assert create.call_count == 1


def test_an_idempotency_key_reused_for_a_different_booking_is_422(invoke, oliver):
    create = oliver.post(f"{API}/appointments").respond(200, json=created(501))
    invoke(booking_event(headers={"idempotency-key": "order-42"}))

    answer = invoke(
        booking_event(
            {**JANE_BOOKS_REX, "slot_id": "slot-2"}, headers={"idempotency-key": "order-42"}
        )
    )

    assert answer.status == 422
    assert answer.json()["code"] == "idempotency_key_reused"
    assert create.call_count == 1


def test_failures_are_not_remembered_so_a_retry_books(invoke, oliver):
    # Given Oliver was unreachable for the first attempt
    create = oliver.post(f"{API}/appointments").mock(
        side_effect=[httpx.ConnectError("refused")] * 3 + [httpx.Response(200, json=created(503))]
    )
    failed = invoke(booking_event())

    # When the same booking is retried
    retried = invoke(booking_event())

    # Then the retry books, and is not a replay of the failure
    assert failed.status == 503
    assert retried.status == 201
    assert "idempotent-replayed" not in retried.headers
    assert retried.json()["data"]["id"] == 503
    assert create.call_count == 4  # three refused connections, then the one that booked


def test_a_rejected_booking_can_be_retried_with_the_same_key(invoke, oliver):
    oliver.post(f"{API}/appointments").mock(
        side_effect=[
            httpx.Response(400, json={"success": False, "message": "Slot is stale"}),
            httpx.Response(200, json=created(504)),
        ]
    )
    headers = {"idempotency-key": "order-43"}
    assert invoke(booking_event(headers=headers)).status == 422

    assert invoke(booking_event(headers=headers)).status == 201


def test_a_duplicate_while_the_first_is_in_progress_is_409_with_retry_after(invoke, oliver):
    # Given a first booking whose create is still waiting on Oliver
    entered, release = threading.Event(), threading.Event()

    def slow_create(request: httpx.Request) -> httpx.Response:
        entered.set()
        release.wait(timeout=10)
        return httpx.Response(200, json=created(505))

    create = oliver.post(f"{API}/appointments").mock(side_effect=slow_create)
    results = {}
    first = threading.Thread(target=lambda: results.update(first=invoke(booking_event())))
    first.start()
    assert entered.wait(timeout=10)

    # When the same booking arrives meanwhile
    try:
        duplicate = invoke(booking_event())
    finally:
        release.set()
        first.join(timeout=10)

    # Then it is told to come back, and only the first one books
    assert duplicate.status == 409
    assert duplicate.json()["code"] == "duplicate_in_progress"
    assert int(duplicate.headers["retry-after"]) > 0
    assert results["first"].status == 201
    assert create.call_count == 1


def test_after_an_unknown_outcome_a_retry_looks_up_first_and_finds_the_booking(invoke, oliver):
    # Given a create that timed out and a lookup that did not (yet) see the appointment
    create = oliver.post(f"{API}/appointments").mock(side_effect=httpx.ReadTimeout("slow"))
    appointment = {
        "id": "880",
        "status": "REQUESTED",
        "created_at": now_iso(),
        "booking_date": "2030-01-07T15:00:00Z",
        "end_date": "2030-01-07T15:20:00Z",
        "client_first_name": "Jane",
        "client_last_name": "Doe",
        "client_phone": "+15555550100",
        "patient_name": "Rex",
    }
    lookup = oliver.get(f"{API}/appointments").mock(
        side_effect=[
            httpx.Response(200, json=listed()),
            httpx.Response(200, json=listed(appointment)),
        ]
    )
    first = invoke(booking_event(BY_PHONE))

    # When the same booking is retried
    retried = invoke(booking_event(BY_PHONE))

    # Then the lookup finds it before any new create: booked once
    assert first.status == 503 and first.json()["code"] == "outcome_unknown"
    assert retried.status == 201
    assert retried.json() == {**RECEIPT_501, "data": {**RECEIPT_501["data"], "id": 880}}
    assert create.call_count == 1
    assert lookup.call_count == 2


def test_after_an_unknown_outcome_a_retry_that_finds_nothing_creates_after_the_lookup(
    invoke, oliver
):
    order: list[str] = []

    def create_answer(request: httpx.Request) -> httpx.Response:
        order.append("create")
        if order.count("create") == 1:
            raise httpx.ReadTimeout("slow", request=request)
        return httpx.Response(200, json=created(881))

    def lookup_answer(request: httpx.Request) -> httpx.Response:
        order.append("lookup")
        return httpx.Response(200, json=listed())

    oliver.post(f"{API}/appointments").mock(side_effect=create_answer)
    oliver.get(f"{API}/appointments").mock(side_effect=lookup_answer)
    assert invoke(booking_event(BY_PHONE)).status == 503

    retried = invoke(booking_event(BY_PHONE))

    assert retried.status == 201
    assert order == ["create", "lookup", "lookup", "create"]


def test_a_retry_that_books_after_an_unknown_outcome_is_remembered_like_any_success(invoke, oliver):
    create = oliver.post(f"{API}/appointments").mock(
        side_effect=[httpx.ReadTimeout("slow"), httpx.Response(200, json=created(882))]
    )
    lookup = oliver.get(f"{API}/appointments").respond(200, json=listed())
    invoke(booking_event(BY_PHONE, headers={"idempotency-key": "k-1"}))
    invoke(booking_event(BY_PHONE, headers={"idempotency-key": "k-1"}))
    lookups_so_far = lookup.call_count

    replay = invoke(booking_event(BY_PHONE, headers={"idempotency-key": "k-1"}))

    assert replay.headers["idempotent-replayed"] == "true"
    assert replay.json() == {**RECEIPT_501, "data": {**RECEIPT_501["data"], "id": 882}}
    assert lookup.call_count == lookups_so_far
    assert create.call_count == 2
    assert json.loads(create.calls[1].request.content) == sent(create, 0)


def test_a_booking_whose_answer_cannot_be_remembered_still_answers_201(
    invoke, oliver, aws, monkeypatch
):
    # Given DynamoDB refuses the write that marks the record complete (after the create)
    from booking import container
    from botocore.exceptions import ClientError

    dynamodb = container.aws_client("dynamodb")
    real_update_item = dynamodb.update_item

    def refuse_completion(**kwargs):
        if "#response_data" in kwargs["UpdateExpression"]:
            error = {"Error": {"Code": "InternalServerError", "Message": "x"}}
            raise ClientError(error, "UpdateItem")
        return real_update_item(**kwargs)

    monkeypatch.setattr(dynamodb, "update_item", refuse_completion)
    create = oliver.post(f"{API}/appointments").mock(
        return_value=httpx.Response(200, json=created(777))
    )

    # When a booking is made
    answer = invoke(booking_event())

    # Then the caller learns the truth: booked, once, and announced once
    assert answer.status == 201
    assert answer.json() == {**RECEIPT_501, "data": {**RECEIPT_501["data"], "id": 777}}
    assert create.call_count == 1
    assert [e["detail-type"] for e in aws.events(wait=0.3)] == ["Appointment Booked"]


def test_a_booking_makes_three_calls_to_aws_and_reads_nothing_back(invoke, oliver, aws):
    # Given every AWS call of the function is recorded, with the item it is about
    from booking import container

    calls: list[tuple[str, str]] = []

    def record(model: Any, params: dict[str, Any], **_kwargs: Any) -> None:
        counter = "hits" in params.get("UpdateExpression", "") or "RequestItems" in params
        item = "counter" if counter else params.get("Key", {}).get("id", {}).get("S", "")
        calls.append((model.name, item.split("#")[0]))

    for service in ("dynamodb", "events", "secretsmanager", "sqs"):
        container.aws_client(service).meta.events.register("before-parameter-build", record)
    oliver.post(f"{API}/appointments").respond(200, json=created(501))
    invoke(booking_event())  # the first booking also reads the secrets
    calls.clear()

    # When a warm container books
    assert invoke(booking_event({**JANE_BOOKS_REX, "slot_id": "slot-2"})).status == 201

    # Then the record is claimed, the booking announced and the record completed: no read of
    # an unknown-outcome marker (it would come back with the claim), no write to tell the other
    # containers' open-times caches (the completion does); besides, only the visitor's counters
    assert [call for call in calls if call[1] != "counter"] == [
        ("UpdateItem", "booking"),
        ("PutEvents", ""),
        ("UpdateItem", "booking"),
    ]


def test_a_booking_in_any_container_sends_a_cached_answer_older_than_five_seconds_back_to_oliver(
    invoke, oliver, aws, monkeypatch
):
    # Given this container cached Monday's open times, on a clock the test moves
    from booking import container
    from booking.idempotency import IdempotencyGuard

    clock = [1000.0]
    monkeypatch.setattr(container.open_times(), "_clock", lambda: clock[0])
    upstream = oliver.post(f"{API}/open_times").respond(200, json={"success": True, "data": []})
    search = http_event(
        "GET",
        "/open-times",
        query={"search_from_date": "2030-01-07T08:00:00Z", "appointment_type": "wellness"},
    )
    invoke(search)

    # When 6 seconds later nobody has booked, the cached answer is served
    clock[0] += 6
    invoke(search)
    assert upstream.call_count == 1

    # and when another container completes a booking (its idempotency record, same table)
    other = IdempotencyGuard(aws.table, container.aws_client("dynamodb"))
    other.register_context(type("Context", (), {"get_remaining_time_in_millis": lambda _: 9000})())
    other.run_once("webhook:x:key:1", "fingerprint", lambda _marker: {"status": 201, "body": {}})
    clock[0] += 6

    # Then the next visitor's answer is fetched again
    invoke(search)
    assert upstream.call_count == 2
