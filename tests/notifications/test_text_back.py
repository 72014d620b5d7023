"""Text-back: a taken time becomes one Oliver AI outbound request (scheduling, by SMS, keyed by
the event id), only when it is on, only for slot_unavailable, never twice."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from .conftest import ZED_ASKED, Invoke, Oliver, assert_no_personal_data, bus_event, failed


def test_a_taken_time_asks_oliver_to_text_the_client_once(
    oliver: Oliver, text_back: Invoke
) -> None:
    assert text_back(failed("slot_unavailable")) == {"batchItemFailures": []}
    (request,) = oliver.outbound
    assert request["purpose"] == "scheduling" and request["channel"] == "sms"
    assert request["contact_number"] == "+15555550177"
    assert request["partner_request_id"] == "evt-f1"
    assert request["client_name"] == "Zed Quill" and request["patient_name"] == "Fido"
    assert "Monday, January 7, 2030 at 9:00 AM CST" in request["context"]


def test_redelivery_and_replay_text_once(oliver: Oliver, text_back: Invoke) -> None:
    event = failed("slot_unavailable")
    text_back(event)
    text_back(event, receive_count=2)
    text_back(bus_event("Booking Failed", event["detail"], replay_name="window-1"))
    assert oliver.router.routes["outbound"].call_count == 1


@pytest.mark.parametrize(
    "event",
    [
        failed("not_matched"),
        failed("slot_unavailable", {**ZED_ASKED, "phone": None}),
    ],
    ids=["another reason", "no phone"],
)
def test_nothing_is_asked_for_other_reasons_or_without_a_phone(
    oliver: Oliver, text_back: Invoke, event: dict[str, object]
) -> None:
    assert text_back(event) == {"batchItemFailures": []}
    assert oliver.outbound == []


def test_nothing_is_asked_when_text_back_is_off(
    oliver: Oliver, text_back: Invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEXT_BACK", "off")
    text_back(failed("slot_unavailable"))
    assert oliver.outbound == []


def test_nothing_is_asked_when_the_visitor_booked_meanwhile(
    oliver: Oliver, text_back: Invoke
) -> None:
    oliver.appointments.append(
        {
            "id": "7",
            "status": "REQUESTED",
            "booking_date": "2030-01-07T10:00:00-06:00",
            "created_at": "2030-01-01T10:03:00Z",
            "client_email": "zed@example.org",
            "patient_name": "Fido",
        }
    )
    text_back(failed("slot_unavailable"))
    assert oliver.outbound == []


def test_a_request_oliver_refuses_is_dropped_not_retried(oliver: Oliver, text_back: Invoke) -> None:
    oliver.router.routes["outbound"].side_effect = None
    oliver.router.routes["outbound"].return_value = httpx.Response(
        400, json={"success": False, "message": "Client could not be resolved"}
    )
    assert text_back(failed("slot_unavailable")) == {"batchItemFailures": []}


def test_oliver_over_its_rate_limit_fails_the_record_for_a_retry(
    oliver: Oliver, text_back: Invoke, printed: Callable[[], str]
) -> None:
    oliver.router.routes["outbound"].side_effect = None
    oliver.router.routes["outbound"].return_value = httpx.Response(
        429, json={"success": False, "message": "Rate limit exceeded"}
    )
    assert len(text_back(failed("slot_unavailable"))["batchItemFailures"]) == 1
    assert_no_personal_data(printed())
