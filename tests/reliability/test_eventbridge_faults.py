"""EventBridge faults: bookings through every failure plan three times over, every event delivered
or parked, none lost, and the replay (the function, then ``python -m local.replay``) delivers every
parked one exactly once. ``make reliability`` runs the same scenario with 100 bookings."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from local.reliability import InProcess, eventbridge_faults
from local.reliability.eventbridge_faults import EVENTBRIDGE_PLANS

#: Every plan (fails for good, fails then passes, passes) three times: what 100 bookings show,
#: in a quarter of the time.
BOOKINGS = 3 * len(EVENTBRIDGE_PLANS)


@pytest.fixture
def on_stack_aws(stack) -> Iterator[InProcess]:  # type: ignore[no-untyped-def]
    """The handler in this process with its AWS calls going to the local stack's emulation."""
    with InProcess(aws_url=stack.aws_url, name="in-process, local stack's AWS") as target:
        yield target


@pytest.mark.integration
def test_bookings_lose_no_event_and_the_replay_delivers_every_parked_one(
    on_stack_aws: InProcess,
    stack,  # type: ignore[no-untyped-def]
) -> None:
    result = eventbridge_faults(on_stack_aws, bookings=BOOKINGS, replay_command_port=stack.aws_port)

    assert result.checks and result.passed, result.explain()
    figures = result.figures
    assert figures["injected exceptions"] > 0
    assert figures["injected partial failures"] > 0
    assert figures["delivered at once (after retries)"] + figures["parked"] == BOOKINGS
    assert figures["parked"] > 0
    assert figures["parked events arrived after replay"] == figures["parked"]
