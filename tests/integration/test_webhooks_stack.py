"""Signed webhooks over HTTP through the local stack (`python -m local.dev`): the demo source it
offers out of the box, and a source configured with `--parameter-overrides`.

Deliveries are signed with the Standard Webhooks reference implementation (``standardwebhooks``)
or with ``hmac``, exactly as a partner would sign them.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from standardwebhooks.webhooks import Webhook

from local import aws
from local.stack import LocalStack

pytestmark = pytest.mark.integration

PRACTICE_TZ = ZoneInfo("America/Chicago")
SEEDED_CLIENT, SEEDED_PATIENT = 1001, 2001


def first_open_slot(api_url: str, appointment_type: str = "wellness") -> dict[str, Any]:
    start = datetime.now(PRACTICE_TZ).replace(hour=0, minute=0, second=0, microsecond=0)
    response = httpx.get(
        f"{api_url}/open-times",
        params={
            "search_from_date": (start + timedelta(days=2)).isoformat(),
            "appointment_type": appointment_type,
        },
        timeout=10,
    )
    assert response.status_code == 200, response.text
    for day in response.json()["data"]:
        if day["times"]:
            return day["times"][0]  # type: ignore[no-any-return]
    raise AssertionError("no open time in the sandbox's next two weeks")


def signed_standard(
    body: str, msg_id: str, secret: str = aws.DEMO_WEBHOOK_SECRET
) -> dict[str, str]:
    now = datetime.now(UTC).replace(microsecond=0)
    return {
        "content-type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Webhook(secret).sign(msg_id, now, body),
    }


def booking_body(slot: dict[str, Any]) -> str:
    return json.dumps(
        {"slot_id": slot["uuid"], "client_id": SEEDED_CLIENT, "patient_id": SEEDED_PATIENT}
    )


def demo_url(stack: LocalStack) -> str:
    return f"{stack.api_url}/webhooks/{aws.DEMO_WEBHOOK_SOURCE}"


def test_a_signed_demo_webhook_books_in_the_sandbox_and_announces_it_on_the_bus(
    fresh_sandbox: LocalStack,
) -> None:
    stack = fresh_sandbox
    # Given an open slot, and a delivery signed with the demo source's secret
    body = booking_body(first_open_slot(stack.api_url))
    msg_id = f"msg_{uuid.uuid4().hex}"

    # When the partner posts it to the local API
    response = httpx.post(
        demo_url(stack), content=body, headers=signed_standard(body, msg_id), timeout=15
    )

    # Then the sandbox has the appointment...
    assert response.status_code == 201, response.text
    appointment = response.json()["data"]
    assert [a["id"] for a in stack.sandbox_state()["appointments"]] == [appointment["id"]]
    # ...and one Appointment Booked event names the webhook channel and source
    events = stack.received_events(timeout=5, expected=1)
    assert [e["detail-type"] for e in events] == ["Appointment Booked"]
    detail = events[0]["detail"]
    assert (detail["channel"], detail["webhook_source"]) == ("webhook", aws.DEMO_WEBHOOK_SOURCE)
    assert str(detail["appointment"]["id"]) == str(appointment["id"])
    assert detail["idempotency_key"].endswith(msg_id)


def test_a_redelivered_webhook_is_replayed_without_a_second_appointment(
    fresh_sandbox: LocalStack,
) -> None:
    stack = fresh_sandbox
    body = booking_body(first_open_slot(stack.api_url, "sick"))
    msg_id = f"msg_{uuid.uuid4().hex}"
    first = httpx.post(
        demo_url(stack), content=body, headers=signed_standard(body, msg_id), timeout=15
    )

    again = httpx.post(
        demo_url(stack), content=body, headers=signed_standard(body, msg_id), timeout=15
    )

    assert first.status_code == again.status_code == 201, again.text
    assert again.headers.get("idempotent-replayed") == "true"
    assert stack.sandbox_state()["appointments_created"] == 1
    assert len(stack.received_events(timeout=2, expected=2)) == 1


def test_a_webhook_signed_with_another_secret_is_401_and_books_nothing(
    fresh_sandbox: LocalStack,
) -> None:
    stack = fresh_sandbox
    body = booking_body(first_open_slot(stack.api_url))
    forged = signed_standard(body, "msg_forged", secret="whsec_" + "A" * 32)

    response = httpx.post(demo_url(stack), content=body, headers=forged, timeout=15)

    assert response.status_code == 401
    assert response.json()["code"] == "invalid_signature"
    assert stack.sandbox_state()["appointments_created"] == 0
    assert stack.received_events(timeout=1, expected=1) == []


OLIVER_STYLE_SECRET = "local-oliver-style-secret"


@pytest.fixture(scope="module")
def configured_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    """A stack whose webhook sources come from `--parameter-overrides`."""
    sources = {"oliver": {"scheme": "hmac-sha256", "id_header": "X-Delivery-Id"}}
    with LocalStack(
        workdir=tmp_path_factory.mktemp("webhook-stack"),
        # The function read its secrets at init (the stack starts it at once): with no caching,
        # it verifies with the secret as it is when a delivery comes, the one put below.
        extra_args=[
            "--env",
            "SECRET_MAX_AGE_SECONDS=0",
            "--parameter-overrides",
            f"WebhookSources={json.dumps(sources)}",
        ],
    ) as stack:
        stack.client("secretsmanager").put_secret_value(
            SecretId=aws.WEBHOOK_SECRET_NAME,
            SecretString=json.dumps({"oliver": OLIVER_STYLE_SECRET}),
        )
        yield stack


def test_a_source_given_by_parameter_override_verifies_oliver_style_signatures(
    configured_stack: LocalStack,
) -> None:
    stack = configured_stack
    # Given the overridden sources: an hmac-sha256 source, and no demo source any more
    body = booking_body(first_open_slot(stack.api_url))
    signature = hmac.new(OLIVER_STYLE_SECRET.encode(), body.encode(), hashlib.sha256).hexdigest()
    headers = {
        "content-type": "application/json",
        "x-webhook-signature": signature,
        "x-delivery-id": f"dlv-{uuid.uuid4().hex}",
    }

    # When a delivery signed as Oliver signs its own webhooks is posted
    response = httpx.post(f"{stack.api_url}/webhooks/oliver", content=body, headers=headers)
    demo = httpx.post(
        demo_url(stack), content=body, headers=signed_standard(body, "msg_demo"), timeout=15
    )

    # Then it is booked, and the demo source is unknown on this stack
    assert response.status_code == 201, response.text
    assert demo.status_code == 404
    events = stack.received_events(timeout=5, expected=1)
    assert [e["detail"]["webhook_source"] for e in events] == ["oliver"]
