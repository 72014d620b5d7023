"""Handler-level fixtures for the notification consumers: AWS behind moto (in-process), Oliver
behind respx, the real ``lambda_handler`` of each function fed SQS batches of EventBridge events
(directly, or through ``local.notifications.QueueFeeder`` from a moto queue with its redrive)."""

from __future__ import annotations

import importlib.util
import json
import logging
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
import respx
from moto import mock_aws

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT / "layers" / "booking") not in sys.path:
    sys.path.insert(0, str(ROOT / "layers" / "booking"))

# The Powertools logger binds its handler to sys.stdout when first imported: import it under
# pytest's session-wide capture, and point it at whatever stdout is current (``printed``).
import booking.telemetry  # noqa: E402

REGION = "us-east-1"
ACCOUNT = "123456789012"
API = "https://oliver.test/services/core/open_api/v1"
TOKEN = "tok-notify-7c1e"
LOCATION = "7d3c1f4e-2b8a-4c6d-9e0f-1a2b3c4d5e6f"
SENDER = "appointments@vet.example"
SOURCE = "booking.webhook"

JANE_APPOINTMENT = {
    "id": 501,
    "remote_id": None,
    "status": "REQUESTED",
    "booking_date": "2030-01-07T09:00:00-06:00",
    "end_date": "2030-01-07T09:20:00-06:00",
    "created_at": "2030-01-01T10:00:00Z",
    "updated_at": "2030-01-01T10:00:00Z",
    "client_first_name": "Jane",
    "client_last_name": "Doe",
    "client_email": "jane@example.com",
    "client_phone": "+15555550100",
    "client_type": "RETURNING",
    "patient_name": "Rex",
}
#: What the visitor typed when the booking failed (Booking Failed's `booking`).
ZED_ASKED = {
    "slot_id": "slot-9",
    "first_name": "Zed",
    "last_name": "Quill",
    "email": "zed@example.org",
    "phone": "+1 555 555 0177",
    "patient_name": "Fido",
    "note": "Please call after 5",
    "start": "2030-01-07T15:00:00Z",
}
#: Every piece of the visitors' personal data that must never reach a log line.
PERSONAL = (
    "jane@example.com",
    "Jane",
    "Doe",
    "5555550100",
    "zed@example.org",
    "Zed",
    "Quill",
    "555 555 0177",
    "5550177",
    "Please call",
)


class CurrentStdout:
    def write(self, text: str) -> int:
        return sys.stdout.write(text)

    def flush(self) -> None:
        sys.stdout.flush()


@dataclass
class Aws:
    sqs: Any
    dynamodb: Any

    def sent(self) -> list[Any]:
        from moto.ses.models import ses_backends

        return list(ses_backends[ACCOUNT][REGION].sent_messages)

    def queue(self, name: str, max_receive_count: int = 3) -> tuple[str, str]:
        """A queue and its dead-letter queue (URLs), as the template declares them."""
        dlq = self.sqs.create_queue(QueueName=f"{name}-dlq")["QueueUrl"]
        dlq_arn = self.sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        redrive = {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": max_receive_count}
        url = self.sqs.create_queue(
            QueueName=name, Attributes={"RedrivePolicy": json.dumps(redrive)}
        )["QueueUrl"]
        return url, dlq

    def count(self, url: str) -> int:
        attributes = self.sqs.get_queue_attributes(
            QueueUrl=url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"]) + int(
            attributes["ApproximateNumberOfMessagesNotVisible"]
        )


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Aws]:
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    with mock_aws():
        secrets = boto3.client("secretsmanager", region_name=REGION)
        secrets.create_secret(
            Name="booking/oliver",
            SecretString=json.dumps({"token": TOKEN, "location_id": LOCATION}),
        )
        dynamodb = boto3.client("dynamodb", region_name=REGION)
        dynamodb.create_table(
            TableName="idempotency",
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        boto3.client("sesv2", region_name=REGION).create_email_identity(EmailIdentity=SENDER)
        yield Aws(boto3.client("sqs", region_name=REGION), dynamodb)


@pytest.fixture
def env(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    values = {
        "IDEMPOTENCY_TABLE_NAME": "idempotency",
        "OLIVER_API_URL": API,
        "OLIVER_SECRET_ID": "booking/oliver",
        "NOTIFY_SENDER": SENDER,
        "PRACTICE_TIMEZONE": "America/Chicago",
        "PRACTICE_NAME": "Sandbox Animal Hospital",
        "PRACTICE_PHONE": "+1 555-555-0199",
        "DEFAULT_PHONE_REGION": "US",
        "STAFF_TASKS": "on",
        "TEXT_BACK": "on",
        "POWERTOOLS_METRICS_NAMESPACE": "BookingWebhookTest",
    }
    for name in ("OLIVER_LOCATION_ID", "DEDUP_DAYS", "SECRET_MAX_AGE_SECONDS"):
        monkeypatch.delenv(name, raising=False)
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return values


class Context:
    function_name = "notify-test"
    function_version = "$LATEST"
    memory_limit_in_mb = 512
    invoked_function_arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:notify-test"
    log_group_name = "/aws/lambda/notify-test"
    log_stream_name = "test"

    def __init__(self, seconds: float = 30.0) -> None:
        self.aws_request_id = str(uuid.uuid4())
        self._seconds = seconds

    def get_remaining_time_in_millis(self) -> int:
        return int(self._seconds * 1000)


def load_handler(folder: str) -> Callable[[dict[str, Any], Any], Any]:
    path = ROOT / "functions" / folder / "app.py"
    spec = importlib.util.spec_from_file_location(f"_test_{folder}_app", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.lambda_handler  # type: ignore[no-any-return]


def bus_event(
    detail_type: str, detail: dict[str, Any], *, replay_name: str | None = None
) -> dict[str, Any]:
    """The EventBridge envelope a rule's SQS target delivers (a new envelope id every time)."""
    event = {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": detail_type,
        "source": SOURCE,
        "account": ACCOUNT,
        "time": "2030-01-01T10:00:01Z",
        "region": REGION,
        "resources": [],
        "detail": detail,
    }
    if replay_name:
        event["replay-name"] = replay_name
    return event


def booked(appointment: dict[str, Any] | None = None, event_id: str = "evt-booked-501") -> dict:
    return bus_event(
        "Appointment Booked",
        {
            "version": 1,
            "event_id": event_id,
            "appointment": appointment or JANE_APPOINTMENT,
            "channel": "form",
            "webhook_source": None,
            "idempotency_key": "form:-:booking:abc",
            "request_id": "req-1",
            "submitted_at": "2030-01-01T10:00:00Z",
            "referral_source": None,
            "referral_medium": None,
            "referral_campaign": None,
        },
    )


def failed(
    reason: str = "not_matched", booking: dict[str, Any] | None = None, event_id: str = "evt-f1"
) -> dict[str, Any]:
    return bus_event(
        "Booking Failed",
        {
            "version": 1,
            "event_id": event_id,
            "reason": reason,
            "booking": booking or ZED_ASKED,
            "channel": "form",
            "webhook_source": None,
            "idempotency_key": "form:-:booking:def",
            "request_id": "req-2",
            "submitted_at": "2030-01-01T10:00:00Z",
        },
    )


def sqs_batch(*events: dict[str, Any], receive_count: int = 1) -> dict[str, Any]:
    return {
        "Records": [
            {
                "messageId": str(uuid.uuid4()),
                "receiptHandle": "handle",
                "body": json.dumps(event),
                "attributes": {
                    "ApproximateReceiveCount": str(receive_count),
                    "SentTimestamp": "1893492001000",
                    "SenderId": ACCOUNT,
                    "ApproximateFirstReceiveTimestamp": "1893492001000",
                },
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": f"arn:aws:sqs:{REGION}:{ACCOUNT}:notify",
                "awsRegion": REGION,
            }
            for event in events
        ]
    }


Invoke = Callable[..., dict[str, Any]]


def _invoker(folder: str) -> Invoke:
    handler = load_handler(folder)

    def invoke(*events: dict[str, Any], receive_count: int = 1) -> dict[str, Any]:
        return handler(sqs_batch(*events, receive_count=receive_count), Context())  # type: ignore[no-any-return]

    invoke.raw = lambda event: handler(event, Context())  # type: ignore[attr-defined]
    return invoke


@pytest.fixture
def send_email(env: dict[str, str]) -> Invoke:
    return _invoker("notify_email")


@pytest.fixture
def follow_up(env: dict[str, str]) -> Invoke:
    return _invoker("notify_staff")


@pytest.fixture
def text_back(env: dict[str, str]) -> Invoke:
    return _invoker("notify_text")


@dataclass
class Oliver:
    router: respx.MockRouter
    appointments: list[dict[str, Any]]
    tasks: list[dict[str, Any]]
    outbound: list[dict[str, Any]]


@pytest.fixture
def oliver() -> Iterator[Oliver]:
    state = Oliver(respx.MockRouter(assert_all_called=False), [], [], [])

    def list_appointments(request: httpx.Request) -> httpx.Response:
        data = {
            "page": 0,
            "per_page": 100,
            "total_pages": 1,
            "total_count": len(state.appointments),
            "content": state.appointments,
        }
        return httpx.Response(200, json={"success": True, "data": data})

    def create_task(request: httpx.Request) -> httpx.Response:
        task = {
            "id": f"task-{len(state.tasks) + 1}",
            "status": "pending",
            **json.loads(request.content),
        }
        state.tasks.append(task)
        return httpx.Response(201, json={"success": True, "data": task})

    def list_tasks(request: httpx.Request) -> httpx.Response:
        data = {"page": 0, "per_page": 100, "total_pages": 1, "total_count": len(state.tasks)}
        return httpx.Response(200, json={"success": True, "data": {**data, "content": state.tasks}})

    def create_outbound(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        existing = [
            r for r in state.outbound if r["partner_request_id"] == body["partner_request_id"]
        ]
        if existing:
            return httpx.Response(200, json={"success": True, "data": existing[0]})
        record = {"id": f"ai-{len(state.outbound) + 1}", "status": "queued", **body}
        state.outbound.append(record)
        return httpx.Response(201, json={"success": True, "data": record})

    with state.router:
        state.router.get(f"{API}/appointments", name="appointments").mock(
            side_effect=list_appointments
        )
        state.router.post(f"{API}/staff_tasks", name="create_task").mock(side_effect=create_task)
        state.router.get(f"{API}/staff_tasks", name="list_tasks").mock(side_effect=list_tasks)
        state.router.post(f"{API}/ai_outbound/requests", name="outbound").mock(
            side_effect=create_outbound
        )
        yield state


@pytest.fixture
def printed(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> Callable[[], str]:
    """Everything the functions print, their Powertools log lines included."""
    for handler in booking.telemetry.logger.handlers:
        if isinstance(handler, logging.StreamHandler):
            monkeypatch.setattr(handler, "stream", CurrentStdout())

    def text() -> str:
        captured = capsys.readouterr()
        return captured.out + captured.err

    return text


def assert_no_personal_data(output: str) -> None:
    for value in PERSONAL:
        assert value not in output, value
    assert TOKEN not in output
