"""The replay function (functions/replay/app.py) end to end: parked events back onto the bus,
each message deleted only once EventBridge took it, and a parked message that is not an event set
aside (logged and counted) rather than retried forever. AWS behind moto."""

from __future__ import annotations

import json
from typing import Any

import pytest
from conftest import Context, CurrentStdout, function_module


@pytest.fixture
def replay(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Any:
    return function_module("replay", "replay_app")


def park(aws: Any, body: str) -> None:
    aws.sqs.send_message(QueueUrl=aws.dlq_url, MessageBody=body)


def entry(aws: Any, event_id: str) -> str:
    detail = {"version": 1, "event_id": event_id}
    return json.dumps(
        {
            "Source": "booking.webhook",
            "DetailType": "Appointment Booked",
            "Detail": json.dumps(detail),
            "EventBusName": aws.bus,
        }
    )


def visible(aws: Any) -> int:
    attributes = aws.sqs.get_queue_attributes(
        QueueUrl=aws.dlq_url, AttributeNames=["ApproximateNumberOfMessages"]
    )
    return int(attributes["Attributes"]["ApproximateNumberOfMessages"])


def test_parked_events_go_back_on_the_bus_and_leave_the_queue(aws: Any, replay: Any) -> None:
    park(aws, entry(aws, "e-1"))
    park(aws, entry(aws, "e-2"))

    result = replay.lambda_handler({}, Context())

    assert result == {"received": 2, "replayed": 2, "failed": 0, "set_aside": 0}
    assert sorted(event["detail"]["event_id"] for event in aws.events()) == ["e-1", "e-2"]
    assert visible(aws) == 0


@pytest.mark.parametrize(
    "body", ["not json at all", '["a list"]', '{"Source": "x"}'], ids=["text", "list", "partial"]
)
def test_a_parked_message_that_is_not_an_event_is_set_aside_logged_and_counted_not_retried(
    aws: Any, replay: Any, body: str, capsys: pytest.CaptureFixture[str], monkeypatch: Any
) -> None:
    from booking.telemetry import logger

    monkeypatch.setattr(logger.registered_handler, "stream", CurrentStdout())
    park(aws, body)
    park(aws, entry(aws, "e-1"))

    first = replay.lambda_handler({}, Context())
    second = replay.lambda_handler({}, Context())

    assert first == {"received": 2, "replayed": 1, "failed": 0, "set_aside": 1}
    assert second == {"received": 0, "replayed": 0, "failed": 0, "set_aside": 0}
    printed = capsys.readouterr().out
    assert "set aside" in printed
    assert '"ParkedMessagesSetAside":[1.0]' in printed
    assert body not in printed  # a parked body may hold a client's details
    assert [event["detail"]["event_id"] for event in aws.events()] == ["e-1"]
