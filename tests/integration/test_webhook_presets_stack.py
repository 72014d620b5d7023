"""The tools' sample deliveries through the local stack (`python -m local.dev`), signed and posted
by the partner kit (`python -m local.sign_webhook`) as a partner would: Cal.com (hmac-sha256)
books Jane Doe's Rex at the time she chose and then cancels it, Calendly (timestamped-hmac) books.
The Standard Webhooks and plain hmac-sha256 sources are in test_webhooks_stack.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from local import sign_webhook
from local.stack import LocalStack

pytestmark = pytest.mark.integration

EVENTS = Path(__file__).resolve().parents[2] / "events"
SEEDED_CLIENT, SEEDED_PATIENT = "1001", "2001"


def kit(stack: LocalStack, source: str, sample: str, capsys: pytest.CaptureFixture[str]) -> str:
    """Run the partner kit against this stack; its printed answer."""
    status = sign_webhook.main(
        [
            "--source",
            source,
            "--file",
            str(EVENTS / sample),
            "--url",
            f"{stack.api_url}/webhooks/{source}",
            "--aws-url",
            stack.aws_url,
        ]
    )
    printed = capsys.readouterr().out
    assert status == 0, printed
    return printed


def appointments(stack: LocalStack) -> list[dict[str, Any]]:
    """The sandbox's appointments: what Oliver answered, with the ids the create named."""
    return [{**a, **a["sandbox"]} for a in stack.sandbox_state()["appointments"]]


def test_a_calcom_booking_signed_by_the_kit_books_jane_does_rex_and_its_cancellation_reaches_staff(
    fresh_sandbox: LocalStack, capsys: pytest.CaptureFixture[str]
) -> None:
    stack = fresh_sandbox
    # When Cal.com's sample booking (Jane Doe, Rex, 2030-01-07 09:00 CST) is signed and posted
    printed = kit(stack, "calcom-demo", "webhook-calcom.json", capsys)

    # Then it is booked in the sandbox at that time for Jane and Rex, and announced
    assert "201 Created" in printed
    (booked,) = appointments(stack)
    assert (booked["client_id"], booked["patient_id"]) == (SEEDED_CLIENT, SEEDED_PATIENT)
    assert (booked["client_first_name"], booked["patient_name"]) == ("Jane", "Rex")
    assert booked["booking_date"] == "2030-01-07T09:00:00-06:00"
    assert booked["note"] == "Limping on the left front leg."
    events = stack.received_events(timeout=5, expected=1)
    assert [(e["detail-type"], e["detail"]["webhook_source"]) for e in events] == [
        ("Appointment Booked", "calcom-demo")
    ]

    # When Cal.com then says the booking is cancelled
    printed = kit(stack, "calcom-demo", "webhook-calcom-cancelled.json", capsys)

    # Then nothing more is booked and staff hear of it
    assert "200 OK" in printed and '"cancelled":true' in printed
    assert stack.sandbox_state()["appointments_created"] == 1
    events = stack.received_events(timeout=5, expected=1)
    assert [e["detail-type"] for e in events] == ["Booking Cancelled"]
    assert events[0]["detail"]["reference"] == "bFJeNb2uX8ANpT3JL5EfXw"


def test_a_calendly_booking_signed_with_a_timestamped_hmac_books(
    fresh_sandbox: LocalStack, capsys: pytest.CaptureFixture[str]
) -> None:
    stack = fresh_sandbox

    printed = kit(stack, "calendly-demo", "webhook-calendly.json", capsys)

    assert "201 Created" in printed
    (booked,) = appointments(stack)
    assert (booked["client_id"], booked["patient_id"]) == (SEEDED_CLIENT, SEEDED_PATIENT)
    assert booked["booking_date"] == "2030-01-07T09:20:00-06:00"
    events = stack.received_events(timeout=5, expected=1)
    assert events[0]["detail"]["webhook_source"] == "calendly-demo"
