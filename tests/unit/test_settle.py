"""Unknown outcomes settled in the background (functions/settle/app.py), end to end: the booking
function queues a check instead of asking staff at once, the settle function looks again with
backoff and announces the booking exactly once, as booked or (after the last check) as failed,
never both, and a visitor's retry meanwhile still looks first and settles it itself.

AWS behind moto (the settle queue is a real SQS queue there), Oliver behind respx; every create
times out after sending, so its outcome is unknown."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError
from conftest import (
    API,
    Context,
    CurrentStdout,
    assert_error,
    booking_event,
    function_module,
    listed,
)
from test_reconcile import appointments_listed, markers, row

#: Short steps for the tests; the template's default is 30 s, 1, 2, 4, 8 and 14.5 minutes.
BACKOFF = "0,0,0"


@pytest.fixture
def lost_create(oliver: Any) -> Any:
    """A create that times out after sending: the outcome is unknown."""
    return oliver.post(f"{API}/appointments").mock(side_effect=httpx.ReadTimeout("no answer"))


@pytest.fixture
def settle_queue(aws: Any, reconfigure: Any) -> str:
    url = aws.sqs.create_queue(QueueName="settle")["QueueUrl"]
    reconfigure(SETTLE_QUEUE_URL=url, SETTLE_BACKOFF_SECONDS=BACKOFF)
    return str(url)


@pytest.fixture
def settle_function(settle_queue: str) -> Any:
    return function_module("settle", "settle_app")


@pytest.fixture
def delays() -> list[int]:
    """The DelaySeconds of every message the functions send to SQS, in order."""
    from booking import container

    sent: list[int] = []

    def record(params: dict[str, Any], **_: Any) -> None:
        sent.append(int(params.get("DelaySeconds", 0)))

    events = container.aws_client("sqs").meta.events
    events.register("provide-client-params.sqs.SendMessage", record)
    yield sent
    events.unregister("provide-client-params.sqs.SendMessage", record)


def take(aws: Any, queue_url: str) -> list[dict[str, Any]]:
    """Receive (and delete) every visible message of the queue."""
    found = []
    while True:
        answer = aws.sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)
        messages = answer.get("Messages", [])
        if not messages:
            return found
        for message in messages:
            aws.sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
            found.append(message)


def sqs_event(*messages: dict[str, Any]) -> dict[str, Any]:
    return {
        "Records": [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": {"ApproximateReceiveCount": "1"},
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:settle",
                "awsRegion": "us-east-1",
            }
            for m in messages
        ]
    }


def run_checks(settle_function: Any, aws: Any, queue_url: str) -> dict[str, Any]:
    """Feed every message now on the queue to the settle function, as its event source would."""
    messages = take(aws, queue_url)
    assert messages, "no check was queued"
    result: dict[str, Any] = settle_function.lambda_handler(sqs_event(*messages), Context())
    return result


def of_type(events: list[dict[str, Any]], detail_type: str) -> list[dict[str, Any]]:
    return [e["detail"] for e in events if e["detail-type"] == detail_type]


def test_an_unknown_outcome_queues_a_check_instead_of_asking_staff_at_once(
    invoke, oliver, lost_create, aws, settle_queue, delays, reconfigure
):
    reconfigure(SETTLE_BACKOFF_SECONDS="30,60,120")
    appointments_listed(oliver, listed())

    answer = invoke(booking_event())

    assert_error(answer, 503, "outcome_unknown")
    assert answer.headers["retry-after"] == "60"
    assert aws.events() == []  # no Booking Failed yet: the booking may well exist
    assert delays == [30]  # the first step of the backoff
    assert len(markers(aws)) == 1


def test_the_check_that_finds_the_appointment_announces_it_once_and_a_retry_gets_the_receipt(
    invoke, oliver, lost_create, aws, settle_queue, settle_function
):
    lookup = appointments_listed(oliver, listed(), listed(row("731")))
    assert_error(invoke(booking_event()), 503, "outcome_unknown")

    result = run_checks(settle_function, aws, settle_queue)

    assert result == {"batchItemFailures": []}
    booked = of_type(aws.events(), "Appointment Booked")
    assert [b["appointment"]["id"] for b in booked] == [731]
    assert booked[0]["channel"] == "form"
    assert lookup.call_count == 2

    # A retry of the same booking gets its receipt, without a create or a second announcement
    retried = invoke(booking_event())
    assert retried.status == 201, retried.body
    assert retried.json()["data"]["id"] == 731
    assert lost_create.call_count == 1
    assert aws.events() == []
    assert take(aws, settle_queue) == []


def test_a_check_that_finds_nothing_queues_the_next_with_the_next_delay(
    invoke, oliver, lost_create, aws, settle_queue, settle_function, delays, reconfigure
):
    reconfigure(SETTLE_BACKOFF_SECONDS="0,30,60")
    appointments_listed(oliver, listed())
    assert_error(invoke(booking_event()), 503, "outcome_unknown")

    run_checks(settle_function, aws, settle_queue)

    assert aws.events() == []
    assert delays == [0, 30]  # the first check at once (here), the next after the second step
    waiting = aws.sqs.get_queue_attributes(
        QueueUrl=settle_queue, AttributeNames=["ApproximateNumberOfMessagesDelayed"]
    )["Attributes"]
    assert waiting["ApproximateNumberOfMessagesDelayed"] == "1"
    assert take(aws, settle_queue) == []  # not before its delay


def test_after_the_last_check_it_is_one_booking_failed_and_never_also_booked(
    invoke, oliver, lost_create, aws, settle_queue, settle_function
):
    appointments_listed(oliver, listed())
    assert_error(invoke(booking_event()), 503, "outcome_unknown")

    for _ in range(3):  # BACKOFF has three steps
        run_checks(settle_function, aws, settle_queue)

    failed = of_type(aws.events(), "Booking Failed")
    assert [f["reason"] for f in failed] == ["outcome_unknown"]
    assert failed[0]["booking"]["patient_name"] == "Rex"
    assert take(aws, settle_queue) == []

    # Were the same last check delivered again, and the appointment listed by then: nothing more
    appointments_listed(oliver, listed(row("732")))
    last = json.dumps({**json.loads(failed_message(failed[0])), "checks": 2})
    aws.sqs.send_message(QueueUrl=settle_queue, MessageBody=last)
    run_checks(settle_function, aws, settle_queue)
    assert aws.events() == []


def failed_message(detail: dict[str, Any]) -> str:
    """The settle message of the booking a Booking Failed detail describes."""
    return json.dumps(
        {
            "key": detail["idempotency_key"],
            "booking": detail["booking"],
            "channel": detail["channel"],
            "webhook_source": detail["webhook_source"],
            "request_id": detail["request_id"],
            "submitted_at": detail["submitted_at"],
        }
    )


def test_a_retry_that_finds_it_first_settles_it_and_the_check_announces_nothing(
    invoke, oliver, lost_create, aws, settle_queue, settle_function
):
    appointments_listed(oliver, listed(), listed(row("733")))
    assert_error(invoke(booking_event()), 503, "outcome_unknown")

    retried = invoke(booking_event())
    assert retried.status == 201
    assert [b["appointment"]["id"] for b in of_type(aws.events(), "Appointment Booked")] == [733]

    result = run_checks(settle_function, aws, settle_queue)

    assert result == {"batchItemFailures": []}
    assert aws.events() == []
    assert take(aws, settle_queue) == []


def test_a_retry_refused_for_the_slot_stays_unknown_and_leaves_it_to_the_check(
    invoke, oliver, aws, settle_queue
):
    attempts = iter([httpx.ReadTimeout("no answer"), httpx.Response(409, json={"success": False})])

    def create_answer(_request: httpx.Request) -> httpx.Response:
        outcome = next(attempts)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    oliver.post(f"{API}/appointments").mock(side_effect=create_answer)
    appointments_listed(oliver, listed())
    assert_error(invoke(booking_event()), 503, "outcome_unknown")

    assert_error(invoke(booking_event()), 503, "outcome_unknown")

    assert aws.events() == []  # neither attempt asked staff: the check will
    assert len(take(aws, settle_queue)) == 1  # and only the first attempt queued one


def test_a_check_that_cannot_reach_dynamodb_comes_back(
    invoke, oliver, lost_create, aws, settle_queue, settle_function, monkeypatch
):
    appointments_listed(oliver, listed(), listed(row("734")))
    assert_error(invoke(booking_event()), 503, "outcome_unknown")
    from booking import container
    from botocore.exceptions import ClientError

    dynamodb = container.aws_client("dynamodb")
    real_update_item = dynamodb.update_item

    def update_item(**_: Any) -> Any:
        error = {"Error": {"Code": "InternalServerError", "Message": "x"}}
        raise ClientError(error, "UpdateItem")

    monkeypatch.setattr(dynamodb, "update_item", update_item)
    messages = take(aws, settle_queue)

    # Then the invocation fails (its one record failed), so SQS delivers the message again
    with pytest.raises(BatchProcessingError):
        settle_function.lambda_handler(sqs_event(*messages), Context())
    assert aws.events() == []

    # And once DynamoDB answers again, the same message settles it
    monkeypatch.setattr(dynamodb, "update_item", real_update_item)
    result = settle_function.lambda_handler(sqs_event(*messages), Context())
    assert result == {"batchItemFailures": []}
    assert [b["appointment"]["id"] for b in of_type(aws.events(), "Appointment Booked")] == [734]


def test_a_message_that_is_not_a_pending_outcome_is_dropped_not_retried(
    aws, settle_queue, settle_function, capsys, monkeypatch
):
    from booking.telemetry import logger

    monkeypatch.setattr(logger.registered_handler, "stream", CurrentStdout())
    aws.sqs.send_message(QueueUrl=settle_queue, MessageBody="not json")
    aws.sqs.send_message(QueueUrl=settle_queue, MessageBody=json.dumps({"key": "k"}))

    result = run_checks(settle_function, aws, settle_queue)

    assert result == {"batchItemFailures": []}
    assert capsys.readouterr().out.count("was dropped") == 2
    assert aws.events() == []


def test_without_a_settle_queue_staff_are_asked_at_once(invoke, oliver, lost_create, aws):
    appointments_listed(oliver, listed())

    assert_error(invoke(booking_event()), 503, "outcome_unknown")

    failed = of_type(aws.events(), "Booking Failed")
    assert [f["reason"] for f in failed] == ["outcome_unknown"]
