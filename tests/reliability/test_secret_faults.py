"""Secret faults: missing, malformed or unreadable secret; rotation in the middle of traffic."""

from __future__ import annotations

import pytest

from local.reliability import (
    InProcess,
    StackTarget,
    secret_malformed,
    secret_missing,
    secret_rotation,
    secret_throttled,
)


def test_a_missing_secret_is_a_configuration_error(in_process: InProcess) -> None:
    result = secret_missing(in_process)
    assert result.checks and result.passed, result.explain()


def test_a_malformed_secret_is_a_configuration_error(in_process: InProcess) -> None:
    result = secret_malformed(in_process)
    assert result.checks and result.passed, result.explain()


def test_a_throttled_secret_read_is_upstream_unavailable(in_process: InProcess) -> None:
    result = secret_throttled(in_process)
    assert result.checks and result.passed, result.explain()


def test_when_every_secret_read_is_throttled_the_booking_is_still_followed_up(
    in_process: InProcess,
) -> None:
    """Secrets Manager throttling is account-wide: the throttle key's reads fail too. The
    visitor's valid booking must still reach staff (one Booking Failed), as when only the
    Oliver secret is throttled."""
    result = secret_throttled(in_process, every_secret=True)
    assert result.checks and result.passed, result.explain()


def test_rotation_during_concurrent_traffic_in_process_fails_no_booking(
    in_process: InProcess,
) -> None:
    result = secret_rotation(in_process, bookings=30, threads=4)

    assert result.checks and result.passed, result.explain()
    assert result.figures["statuses"] == {201: 30}


def test_rotation_in_process_costs_one_fresh_read_per_rotation(in_process: InProcess) -> None:
    result = secret_rotation(in_process, bookings=30, threads=1)

    assert result.checks and result.passed, result.explain()
    assert result.figures["401 answers upstream"] == 2
    assert result.figures["Oliver secret reads while the traffic ran"] == 2


@pytest.mark.integration
def test_rotation_on_the_warm_local_stack_fails_no_booking(on_stack: StackTarget) -> None:
    result = secret_rotation(on_stack, bookings=30)

    assert result.checks and result.passed, result.explain()
    assert result.figures["statuses"] == {201: 30}
    assert result.figures["401 answers upstream"] == 2
