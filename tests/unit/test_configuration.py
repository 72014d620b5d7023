"""The configuration is read once per container, and again only when the environment changes
(never on Lambda; a test harness or the local stack may change it between invocations)."""

import importlib
import json

import httpx
from conftest import API, JANE_BOOKS_REX, booking_event, created


def test_a_variable_removed_between_invocations_is_a_configuration_error_on_the_next(
    invoke, oliver, monkeypatch
):
    # Given a working function that has already booked once
    oliver.post(f"{API}/appointments").mock(return_value=httpx.Response(200, json=created()))
    assert invoke(booking_event()).status == 201

    # When EVENT_BUS_NAME disappears from the environment (no explicit reset)
    monkeypatch.delenv("EVENT_BUS_NAME")
    answer = invoke(booking_event({**JANE_BOOKS_REX, "slot_id": "slot-2"}))

    # Then the next invocation sees it
    assert answer.status == 503
    assert answer.json()["code"] == "configuration_error"


def test_a_new_location_id_between_invocations_is_sent_upstream(invoke, oliver, monkeypatch):
    # Given a function that has already called upstream with the secret's location id
    create = oliver.post(f"{API}/appointments").mock(
        return_value=httpx.Response(200, json=created())
    )
    invoke(booking_event())

    # When OLIVER_LOCATION_ID is set
    monkeypatch.setenv("OLIVER_LOCATION_ID", "0f0e0d0c-0000-4000-8000-000000000001")
    invoke(booking_event({**JANE_BOOKS_REX, "slot_id": "slot-2"}))

    # Then it wins from the next request on
    assert create.calls[-1].request.headers["x-client-id"] == "0f0e0d0c-0000-4000-8000-000000000001"


def test_a_partial_or_missing_lambda_context_still_books(invoke, oliver):
    # Given a caller (a local runner, a harness) whose context is partial, or None
    oliver.post(f"{API}/appointments").mock(return_value=httpx.Response(200, json=created()))

    class OnlyRemainingTime:
        def get_remaining_time_in_millis(self) -> int:
            return 8_000

    handler = importlib.import_module("app").lambda_handler

    # When it invokes the handler
    first = handler(booking_event(), OnlyRemainingTime())
    second = handler(booking_event({**JANE_BOOKS_REX, "slot_id": "slot-2"}), None)

    # Then the booking path works as with a full context
    assert (first["statusCode"], second["statusCode"]) == (201, 201)


def test_a_configuration_error_is_counted_for_its_alarm(invoke, monkeypatch, capsys):
    # Given a function whose bus variable is missing
    monkeypatch.delenv("EVENT_BUS_NAME")

    # When a booking arrives
    answer = invoke(booking_event())

    # Then it is refused, and the EMF metric the ConfigurationErrorAlarm watches is emitted
    assert answer.json()["code"] == "configuration_error"
    metrics = [
        json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line
    ]
    assert any(m.get("ConfigurationError") == [1.0] for m in metrics)
