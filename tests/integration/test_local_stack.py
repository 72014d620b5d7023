"""The local stack: AWS emulation, event console, `python -m local.dev`, and bookings end to end.

The AWS emulation and console tests run in-process against moto on a free port. The `stack`
tests start `python -m local.dev` (template.yaml, the real handler, the Oliver sandbox) on free
ports once per session.
"""

from __future__ import annotations

import io
import json
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from booking.version import VERSION

from local import aws
from local.console import EventConsole, format_event
from local.stack import LocalStack, LocalStackError, free_port
from local.template import REPO_ROOT

pytestmark = pytest.mark.integration

CAPTCHA_TOKEN = "XXXX.DUMMY.TOKEN.XXXX"  # Cloudflare's documented dummy token
HEALTHY = {"status": "ok", "version": VERSION}
PRACTICE_TZ = ZoneInfo("America/Chicago")


# --- AWS emulation (in-process) ----------------------------------------------------------------


@pytest.fixture(scope="module")
def emulation() -> Iterator[aws.AwsEmulation]:
    running = aws.AwsEmulation(port=0)
    running.start()
    running.seed()
    yield running
    running.stop()


def test_the_oliver_secret_holds_the_sandbox_credentials(emulation: aws.AwsEmulation) -> None:
    from local.oliver_sandbox import seed

    secrets = aws.client("secretsmanager", emulation.url)
    value = json.loads(secrets.get_secret_value(SecretId=aws.OLIVER_SECRET_NAME)["SecretString"])
    assert value == {
        "username": seed.USERNAME,
        "password": seed.PASSWORD,
        "location_id": seed.LOCATION_ID,
    }
    captcha = secrets.get_secret_value(SecretId=aws.CAPTCHA_SECRET_NAME)["SecretString"]
    assert captcha == "1x0000000000000000000000000000000AA"


def test_the_bus_table_and_queues_exist(emulation: aws.AwsEmulation) -> None:
    events = aws.client("events", emulation.url)
    assert events.describe_event_bus(Name=aws.EVENT_BUS_NAME)["Name"] == aws.EVENT_BUS_NAME
    dynamodb = aws.client("dynamodb", emulation.url)
    table = dynamodb.describe_table(TableName=aws.IDEMPOTENCY_TABLE_NAME)["Table"]
    assert table["KeySchema"] == [{"AttributeName": "id", "KeyType": "HASH"}]
    ttl = dynamodb.describe_time_to_live(TableName=aws.IDEMPOTENCY_TABLE_NAME)
    assert ttl["TimeToLiveDescription"] == {
        "TimeToLiveStatus": "ENABLED",
        "AttributeName": "expiration",
    }
    sqs = aws.client("sqs", emulation.url)
    for name in (aws.DLQ_NAME, aws.INSPECTION_QUEUE_NAME):
        assert sqs.get_queue_url(QueueName=name)["QueueUrl"] == aws.queue_url(emulation.url, name)


def test_an_event_put_on_the_bus_reaches_the_inspection_queue(emulation: aws.AwsEmulation) -> None:
    # Given the seeded rule / When an event is put on the bus
    events = aws.client("events", emulation.url)
    detail = {"appointment": {"id": "42", "status": "REQUESTED"}, "channel": "form"}
    answer = events.put_events(
        Entries=[
            {
                "EventBusName": aws.EVENT_BUS_NAME,
                "Source": "booking.webhook",
                "DetailType": "Appointment Booked",
                "Detail": json.dumps(detail),
            }
        ]
    )
    assert answer["FailedEntryCount"] == 0
    # Then it is in the inspection queue, as EventBridge delivers it
    sqs = aws.client("sqs", emulation.url)
    queue = aws.queue_url(emulation.url, aws.INSPECTION_QUEUE_NAME)
    messages = sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=2)["Messages"]
    event = json.loads(messages[0]["Body"])
    sqs.delete_message(QueueUrl=queue, ReceiptHandle=messages[0]["ReceiptHandle"])
    assert event["detail-type"] == "Appointment Booked"
    assert event["source"] == "booking.webhook"
    assert event["detail"] == detail
    assert event["id"] == answer["Entries"][0]["EventId"]


def test_an_event_on_the_default_bus_does_not_reach_the_inspection_queue(
    emulation: aws.AwsEmulation,
) -> None:
    events = aws.client("events", emulation.url)
    events.put_events(Entries=[{"Source": "elsewhere", "DetailType": "x", "Detail": "{}"}])
    sqs = aws.client("sqs", emulation.url)
    queue = aws.queue_url(emulation.url, aws.INSPECTION_QUEUE_NAME)
    assert "Messages" not in sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=1)


def test_a_busy_aws_port_fails_instead_of_hanging() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with pytest.raises(OSError):
            aws.AwsEmulation(port=taken.getsockname()[1]).start()


# --- Console -----------------------------------------------------------------------------------


BOOKED_DETAIL = {
    "version": 1,
    "event_id": "evt-1",
    "appointment": {
        "id": "9001",
        "status": "REQUESTED",
        "booking_date": "2026-12-01T08:00:00-06:00",
        "client_first_name": "Jane",
        "client_last_name": "Doe",
        "client_email": "jane@example.com",
        "client_phone": "+15555550100",
    },
    "channel": "form",
    "webhook_source": None,
    "idempotency_key": "form:abc",
    "request_id": "req-1",
}
FAILED_DETAIL = {
    "version": 1,
    "reason": "upstream_unavailable",
    "booking": {
        "slot_id": "s-1",
        "first_name": "Jane",
        "last_name": "Doe",
        "email": "jane@example.com",
        "phone": "+15555550100",
        "note": "limping since Monday",
        "patient_name": "Rex",
    },
    "channel": "webhook",
    "idempotency_key": "webhook:partner-a:d-1",
}
PERSONAL_VALUES = ("Jane", "Doe", "jane@example.com", "5555550100", "limping", "Rex")


def test_the_console_line_keeps_ids_and_statuses_and_drops_personal_data() -> None:
    booked = format_event(
        json.dumps(
            {
                "id": "e-1",
                "detail-type": "Appointment Booked",
                "source": "booking.webhook",
                "detail": BOOKED_DETAIL,
            }
        )
    )
    failed = format_event(
        json.dumps({"id": "e-2", "detail-type": "Booking Failed", "detail": FAILED_DETAIL})
    )
    assert "'Appointment Booked'" in booked
    assert "id=e-1" in booked
    for kept in ('"id":"9001"', '"status":"REQUESTED"', "booking_date", "form:abc", '"form"'):
        assert kept in booked
    assert "upstream_unavailable" in failed
    assert '"slot_id":"s-1"' in failed
    assert "webhook:partner-a:d-1" in failed
    for value in PERSONAL_VALUES:
        assert value not in booked
        assert value not in failed


def test_the_console_prints_each_event_as_it_arrives_and_removes_it(
    emulation: aws.AwsEmulation,
) -> None:
    out = io.StringIO()
    queue = aws.queue_url(emulation.url, aws.INSPECTION_QUEUE_NAME)
    console = EventConsole(emulation.url, queue, out=out)
    console.start()
    try:
        aws.client("events", emulation.url).put_events(
            Entries=[
                {
                    "EventBusName": aws.EVENT_BUS_NAME,
                    "Source": "booking.webhook",
                    "DetailType": "Appointment Booked",
                    "Detail": json.dumps(BOOKED_DETAIL),
                }
            ]
        )
        deadline = time.monotonic() + 5
        while "Appointment Booked" not in out.getvalue() and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        console.stop()
    assert out.getvalue().count("Appointment Booked") == 1
    assert "jane@example.com" not in out.getvalue()
    sqs = aws.client("sqs", emulation.url)
    attributes = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["All"])["Attributes"]
    assert attributes["ApproximateNumberOfMessages"] == "0"
    assert attributes["ApproximateNumberOfMessagesNotVisible"] == "0"


# --- `python -m local.dev` ---------------------------------------------------------------------


def test_dev_starts_prints_its_urls_answers_health_and_stops_cleanly_on_sigint(
    tmp_path: Path,
) -> None:
    # (It is ready in a few seconds on a quiet machine; the bound is for a loaded CI runner.)
    local_stack = LocalStack(workdir=tmp_path, startup_timeout=45)
    local_stack.start()
    try:
        assert local_stack.startup_seconds is not None
        assert local_stack.startup_seconds < 45
        assert httpx.get(f"{local_stack.api_url}/health").json() == HEALTHY
        log = local_stack.log_text()
        assert "READY" in log
        for url in (
            f"{local_stack.api_url}/",
            local_stack.sandbox_api_base,
            local_stack.aws_url,
        ):
            assert url in log
        assert "0.0.0.0" not in log  # every part binds to 127.0.0.1 only
    finally:
        code = local_stack.stop()
    assert code == 0, local_stack.log_tail()
    for port in (local_stack.api_port, local_stack.sandbox_port, local_stack.aws_port):
        with pytest.raises(ConnectionRefusedError):  # nothing is left listening
            socket.create_connection(("127.0.0.1", port), timeout=1).close()


def test_dev_refuses_a_busy_port_naming_the_variable(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        local_stack = LocalStack(workdir=tmp_path, sandbox_port=busy, startup_timeout=45)
        with pytest.raises(LocalStackError) as failure:
            local_stack.start()
    assert "OLIVER_SANDBOX_PORT" in str(failure.value)
    assert local_stack.returncode == 1


def test_ports_come_from_the_environment_variables(tmp_path: Path) -> None:
    ports = {
        "BOOKING_API_PORT": free_port(),
        "OLIVER_SANDBOX_PORT": free_port(),
        "AWS_EMULATION_PORT": free_port(),
    }
    env = {**{k: str(v) for k, v in ports.items()}, "PYTHONUNBUFFERED": "1"}
    command = [sys.executable, "-m", "local.dev", "--no-console"]
    command += ["--state-file", str(tmp_path / "sandbox.json")]
    log = tmp_path / "dev.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, cwd=REPO_ROOT, env={**_base_env(), **env}, stdout=out, stderr=out
        )
    try:
        deadline = time.monotonic() + 45
        while "READY" not in log.read_text() and time.monotonic() < deadline:
            assert process.poll() is None, log.read_text()
            time.sleep(0.1)
        api = f"http://127.0.0.1:{ports['BOOKING_API_PORT']}"
        assert httpx.get(f"{api}/health").status_code == 200
        sandbox = f"http://127.0.0.1:{ports['OLIVER_SANDBOX_PORT']}/__sandbox/state"
        assert httpx.get(sandbox).status_code == 200
        sqs = aws.client("sqs", f"http://127.0.0.1:{ports['AWS_EMULATION_PORT']}")
        assert sqs.get_queue_url(QueueName=aws.DLQ_NAME)
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0


def _base_env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}


# --- Through the real handler (needs functions/api/app.py) -------------------------------------


def _first_open_slot(api_url: str, appointment_type: str = "wellness") -> dict[str, Any]:
    start = datetime.now(PRACTICE_TZ).replace(hour=0, minute=0, second=0, microsecond=0)
    search = (start + timedelta(days=2)).isoformat()
    response = httpx.get(
        f"{api_url}/open-times",
        params={"search_from_date": search, "appointment_type": appointment_type},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    for day in response.json()["data"]:
        if day["times"]:
            return day["times"][0]  # type: ignore[no-any-return]
    raise AssertionError("no open time in the sandbox's next two weeks")


def test_health_answers_through_the_real_handler(stack: LocalStack) -> None:
    response = httpx.get(f"{stack.api_url}/health")
    assert response.status_code == 200
    assert response.json() == HEALTHY
    assert response.headers["apigw-requestid"]


def test_an_unknown_route_is_the_functions_404_and_a_wrong_method_its_405(
    stack: LocalStack,
) -> None:
    unknown = httpx.post(f"{stack.api_url}/not-a-route", json={})
    wrong = httpx.delete(f"{stack.api_url}/bookings")
    assert (unknown.status_code, unknown.json()["code"]) == (404, "not_found")
    assert (wrong.status_code, wrong.json()["code"]) == (405, "method_not_allowed")
    for response in (unknown, wrong):
        assert response.headers["cache-control"] == "no-store"
        assert response.headers["x-content-type-options"] == "nosniff"


def test_the_api_answers_cors_preflights_for_the_local_origin(stack: LocalStack) -> None:
    response = httpx.options(
        f"{stack.api_url}/bookings",
        headers={"Origin": stack.api_url, "Access-Control-Request-Method": "POST"},
    )
    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == stack.api_url


def test_a_booking_through_the_api_reaches_the_sandbox_and_its_event_the_bus(
    fresh_sandbox: LocalStack,
) -> None:
    stack = fresh_sandbox
    # Given an open slot and a seeded client and patient
    slot = _first_open_slot(stack.api_url)
    key = f"it-{uuid.uuid4()}"
    # When Jane books Rex through the local API, as a website form would
    response = httpx.post(
        f"{stack.api_url}/bookings",
        json={
            "slot_id": slot["uuid"],
            "first_name": "Jane",
            "last_name": "Doe",
            "email": "jane@example.com",
            "patient_name": "Rex",
            "cf-turnstile-response": CAPTCHA_TOKEN,
        },
        headers={"Idempotency-Key": key},
        timeout=15,
    )
    # Then it is created upstream for Jane's Rex, and she gets a receipt...
    assert response.status_code == 201, response.text
    appointment = response.json()["data"]
    assert set(appointment) == {"id", "status", "start", "end", "patient_name"}
    assert appointment["start"] == slot["start"]
    state = stack.sandbox_state()
    assert [a["id"] for a in state["appointments"]] == [appointment["id"]]
    # ...and exactly one Appointment Booked event reaches the inspection queue
    events = stack.received_events(timeout=5, expected=1)
    assert [e["detail-type"] for e in events] == ["Appointment Booked"]
    assert events[0]["source"] == "booking.webhook"
    assert str(events[0]["detail"]["appointment"]["id"]) == str(appointment["id"])
    assert events[0]["detail"]["appointment"]["client_first_name"] == "Jane"
    assert stack.received_events(timeout=1, expected=1) == []


def test_a_repeated_booking_is_replayed_without_a_second_appointment_or_event(
    fresh_sandbox: LocalStack,
) -> None:
    stack = fresh_sandbox
    slot = _first_open_slot(stack.api_url, "sick")
    body = {
        "slot_id": slot["uuid"],
        "name": "Ana Nunez",
        "email": "ANA.NUNEZ@example.com",
        "patient_name": "chloe",
        "cf-turnstile-response": CAPTCHA_TOKEN,
    }
    headers = {"Idempotency-Key": f"it-{uuid.uuid4()}"}
    first = httpx.post(f"{stack.api_url}/bookings", json=body, headers=headers, timeout=15)
    second = httpx.post(f"{stack.api_url}/bookings", json=body, headers=headers, timeout=15)
    assert first.status_code == 201, first.text
    assert second.status_code == 201
    assert second.headers.get("idempotent-replayed") == "true"
    assert second.json() == first.json()
    assert stack.sandbox_state()["appointments_created"] == 1
    assert len(stack.received_events(timeout=2, expected=2)) == 1


def test_the_demo_page_is_served_at_the_root(stack: LocalStack) -> None:
    response = httpx.get(f"{stack.api_url}/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
