"""Staff follow-up: a failed or cancelled booking becomes one Oliver staff task that says what the
visitor asked for, unless the visitor booked the same pet or the same time by themselves since;
an Oliver 500 is retried, parked in the dead-letter queue at last, and never makes two tasks."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from local.notifications import QueueFeeder

from .conftest import (
    API,
    ZED_ASKED,
    Aws,
    Invoke,
    Oliver,
    assert_no_personal_data,
    bus_event,
    failed,
)

#: An appointment Oliver lists after the failure (created later than it was submitted).
ROW = {
    "id": "50007",
    "status": "REQUESTED",
    "booking_date": "2030-01-08T10:00:00-06:00",
    "created_at": "2030-01-01T10:05:00Z",
    "updated_at": "2030-01-01T10:05:00Z",
    "client_first_name": "Zed",
    "client_last_name": "Quill",
    "client_email": "zed@example.org",
    "client_phone": "+15555550177",
    "patient_name": "Fido",
}


def test_a_failed_booking_becomes_one_task_that_says_what_the_visitor_asked_for(
    oliver: Oliver, follow_up: Invoke
) -> None:
    assert follow_up(failed()) == {"batchItemFailures": []}
    (task,) = oliver.tasks
    assert task["title"] == "Call back Zed Quill: online booking for Fido not made"
    description = task["description"]
    for words in (
        "Email: zed@example.org",
        "Phone: +1 555 555 0177",
        "Pet: Fido",
        "Monday, January 7, 2030 at 9:00 AM CST",
        "did not match the practice's records",
        "Note from the visitor: Please call after 5",
        "the website's booking form",
        "Reference: evt-f1",
    ):
        assert words in description, words
    assert task["reference_time_at"] == "2030-01-07T15:00:00Z"
    assert task["task_type"] == "task"
    assert "client_id" not in task and "patient_id" not in task


def test_a_partners_booking_ties_the_task_to_the_client_and_patient(
    oliver: Oliver, follow_up: Invoke
) -> None:
    booking = {"slot_id": "s", "client_id": 1001, "patient_id": 2001, "start": None}
    follow_up(failed("upstream_unavailable", booking))
    (task,) = oliver.tasks
    assert (task["client_id"], task["patient_id"]) == ("1001", "2001")
    assert "reference_time_at" not in task
    assert "could not be reached" in task["description"]


@pytest.mark.parametrize(
    "row",
    [
        ROW,  # the same pet, another time
        {**ROW, "patient_name": "Fido ", "client_email": None},  # matched by phone
        {**ROW, "patient_name": "Rex", "booking_date": "2030-01-07T09:00:00-06:00"},  # same time
        {**ROW, "client_email": "ZED@example.org", "client_phone": None, "patient_name": "fido"},
    ],
    ids=["same pet", "same pet, by phone", "same time", "same pet, folded"],
)
def test_no_task_when_the_visitor_booked_the_same_pet_or_time_since(
    oliver: Oliver, follow_up: Invoke, row: dict[str, Any]
) -> None:
    oliver.appointments.append(row)
    assert follow_up(failed()) == {"batchItemFailures": []}
    assert oliver.tasks == []
    query = oliver.router.routes["appointments"].calls.last.request.url.params
    assert query["updated_at_start"] == "2030-01-01T09:59:00Z"


@pytest.mark.parametrize(
    "row",
    [
        {**ROW, "patient_name": "Whiskers"},  # another pet at another time
        {**ROW, "client_first_name": "Ann", "client_last_name": "Other", "client_email": "a@x.org",
         "client_phone": "+15555550111"},  # another visitor
        {**ROW, "status": "DECLINED"},
        {**ROW, "created_at": "2029-12-01T10:00:00Z"},  # booked long before, only updated since
    ],
    ids=["another pet", "another visitor", "declined", "older appointment"],
)  # fmt: skip
def test_the_task_stays_when_what_was_booked_since_is_not_the_same_request(
    oliver: Oliver, follow_up: Invoke, row: dict[str, Any]
) -> None:
    oliver.appointments.append(row)
    follow_up(failed())
    assert len(oliver.tasks) == 1


def test_a_cancellation_asks_staff_to_cancel_the_appointment(
    oliver: Oliver, follow_up: Invoke
) -> None:
    detail = {
        "version": 1,
        "event_id": "evt-c1",
        "webhook_source": "calendly",
        "reference": "https://calendly.example/invitees/ABC",
        "booking": {"name": "Zed Quill", "email": "zed@example.org", "pet": "Fido",
                    "start": "2030-01-07T15:00:00Z"},
        "appointment_id": 501,
        "request_id": "req-3",
        "submitted_at": "2030-01-01T11:00:00Z",
    }  # fmt: skip
    follow_up(bus_event("Booking Cancelled", detail))
    (task,) = oliver.tasks
    assert task["title"] == "Cancel appointment 501 for Zed Quill: cancelled in calendly"
    assert "Cancel appointment 501 in the practice system" in task["description"]
    assert "Pet: Fido" in task["description"]
    assert task["reference_time_at"] == "2030-01-07T15:00:00Z"
    assert not oliver.router.routes["appointments"].called


def test_a_redelivered_or_replayed_failure_makes_one_task(
    oliver: Oliver, follow_up: Invoke
) -> None:
    event = failed()
    follow_up(event)
    follow_up(event, receive_count=2)
    follow_up(bus_event("Booking Failed", event["detail"], replay_name="window-1"))
    assert len(oliver.tasks) == 1


def test_no_task_when_staff_tasks_are_off(
    oliver: Oliver, follow_up: Invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STAFF_TASKS", "off")
    assert follow_up(failed()) == {"batchItemFailures": []}
    assert oliver.tasks == [] and not oliver.router.routes["appointments"].called


def test_a_task_oliver_made_but_did_not_confirm_is_not_made_again(
    oliver: Oliver, follow_up: Invoke
) -> None:
    created = oliver.router.routes["create_task"].side_effect

    def made_then_500(request: httpx.Request) -> httpx.Response:
        created(request)  # type: ignore[operator]
        return httpx.Response(500, json={"success": False, "message": "Internal error"})

    oliver.router.routes["create_task"].side_effect = made_then_500
    assert len(follow_up(failed())["batchItemFailures"]) == 1
    oliver.router.routes["create_task"].side_effect = created
    assert follow_up(failed(), receive_count=2) == {"batchItemFailures": []}
    assert len(oliver.tasks) == 1


def test_an_oliver_500_is_retried_then_parked_and_never_makes_two_tasks(
    aws: Aws, oliver: Oliver, follow_up: Invoke, printed: Callable[[], str]
) -> None:
    oliver.router.routes["create_task"].side_effect = None
    oliver.router.routes["create_task"].return_value = httpx.Response(
        500, json={"success": False, "message": "Internal error"}
    )
    queue, dlq = aws.queue("staff", max_receive_count=3)
    aws.sqs.send_message(QueueUrl=queue, MessageBody=json.dumps(failed()))
    feeder = QueueFeeder(aws.sqs, queue, follow_up.raw, retry_seconds=0)  # type: ignore[attr-defined]
    for _ in range(6):
        feeder.poll_once()
    assert aws.count(queue) == 0 and aws.count(dlq) == 1
    assert oliver.router.routes["create_task"].call_count == 3
    assert oliver.tasks == []
    output = printed()
    assert '"error":"CreateOutcomeUnknown"' in output.replace(" ", "")
    assert_no_personal_data(output)


def test_the_log_names_outcomes_and_ids_but_no_visitor(
    oliver: Oliver, follow_up: Invoke, printed: Callable[[], str]
) -> None:
    follow_up(failed())
    oliver.appointments.append(ROW)
    follow_up(failed(event_id="evt-f2"))
    output = printed().replace(" ", "")
    assert '"outcome":"task_created"' in output and '"outcome":"dropped_rebooked"' in output
    assert_no_personal_data(output)


def test_oliver_is_asked_with_the_practice_and_the_token_from_the_secret(
    oliver: Oliver, follow_up: Invoke
) -> None:
    follow_up(failed())
    request = oliver.router.routes["create_task"].calls.last.request
    assert request.url == f"{API}/staff_tasks"
    assert request.headers["x-client-id"] == "7d3c1f4e-2b8a-4c6d-9e0f-1a2b3c4d5e6f"
    assert request.headers["authorization"].startswith("Bearer ")
    assert ZED_ASKED["email"] in json.loads(request.content)["description"]
