"""The read-ahead of init: on Lambda, init and the first invocation are one wait for the visitor,
so an on-demand container reads its secrets (and signs in to Oliver) on a thread of its own while
init goes on importing; the first request waits for it. A read that fails there is met again by
the request that needs it, which answers exactly as it would have without a read-ahead."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from conftest import API, assert_error, booking_event, created


@pytest.fixture
def secret_reads() -> list[str]:
    """The thread of every Secrets Manager read the function makes."""
    from booking import container

    threads: list[str] = []

    def record(**_kwargs: Any) -> None:
        threads.append(threading.current_thread().name)

    client = container.aws_client("secretsmanager")
    client.meta.events.register("before-parameter-build.secrets-manager.GetSecretValue", record)
    yield threads
    client.meta.events.unregister("before-parameter-build.secrets-manager.GetSecretValue", record)


def test_an_on_demand_init_reads_the_secrets_before_the_first_request_needs_them(
    invoke, oliver, secret_reads
):
    # Given a new container whose init read ahead
    from booking import container

    container.prime(read_ahead=True)
    oliver.post(f"{API}/appointments").respond(200, json=created(501))

    # When its first visitor books
    answer = invoke(booking_event())

    # Then the Oliver secret and the throttle key were read at init, on the read-ahead's
    # thread, and the booking itself read none
    assert answer.status == 201
    assert secret_reads == ["read-ahead", "read-ahead"]


def test_a_secret_the_read_ahead_could_not_read_is_the_first_requests_503(
    invoke, oliver, reconfigure, secret_reads, capsys
):
    # Given the Oliver secret does not exist, and a new container read ahead
    from booking import container

    reconfigure(OLIVER_SECRET_ID="booking/missing")
    container.prime(read_ahead=True)
    container.await_read_ahead()
    assert "read-ahead" in secret_reads
    assert capsys.readouterr().out == ""  # the read-ahead itself says nothing

    # When the first visitor books
    answer = invoke(booking_event())

    # Then the request read it again and answered as it always would
    assert_error(answer, 503, "configuration_error")
    assert secret_reads[-1] == "MainThread"
    assert not oliver.routes["clients"].called


@pytest.mark.parametrize(
    ("initialization", "reads"),
    [("on-demand", True), ("provisioned-concurrency", True), ("snap-start", False), (None, False)],
)
def test_only_an_init_no_snapshot_keeps_reads_ahead(monkeypatch, initialization, reads):
    from booking import container

    if initialization is None:
        monkeypatch.delenv("AWS_LAMBDA_INITIALIZATION_TYPE", raising=False)
    else:
        monkeypatch.setenv("AWS_LAMBDA_INITIALIZATION_TYPE", initialization)
    assert container.reads_ahead() is reads
