"""The configuration is read once per container: Lambda never changes a container's
environment, so nothing on the hot path looks for a change (a new environment is a new container,
which the tests make with ``reconfigure``)."""

import json

import httpx
from conftest import API, JANE_BOOKS_REX, booking_event, created


def test_a_container_started_without_a_required_variable_answers_configuration_error(
    invoke, oliver, reconfigure
):
    # Given a container whose environment lacks EVENT_BUS_NAME
    create = oliver.post(f"{API}/appointments").mock(
        return_value=httpx.Response(200, json=created())
    )
    reconfigure(EVENT_BUS_NAME=None)

    # When a booking arrives
    answer = invoke(booking_event())

    # Then it is refused before anything is looked up or booked
    assert answer.status == 503
    assert answer.json()["code"] == "configuration_error"
    assert not create.called


def test_a_container_with_a_location_variable_sends_it_upstream(invoke, oliver, reconfigure):
    # Given a container whose OLIVER_LOCATION_ID differs from the secret's location_id
    create = oliver.post(f"{API}/appointments").mock(
        return_value=httpx.Response(200, json=created())
    )
    reconfigure(OLIVER_LOCATION_ID="0f0e0d0c-0000-4000-8000-000000000001")

    # When it books
    invoke(booking_event())

    # Then the variable wins
    assert create.calls[-1].request.headers["x-client-id"] == "0f0e0d0c-0000-4000-8000-000000000001"


def test_the_environment_is_read_once_per_container(invoke, oliver, monkeypatch):
    # Given a container that has booked
    oliver.post(f"{API}/appointments").mock(return_value=httpx.Response(200, json=created()))
    assert invoke(booking_event()).status == 201

    # When its environment changes under it (Lambda never does this)
    monkeypatch.delenv("EVENT_BUS_NAME")

    # Then it keeps the configuration it started with
    assert invoke(booking_event({**JANE_BOOKS_REX, "slot_id": "slot-2"})).status == 201


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
