"""Upstream fault matrix: each fault of Oliver's create answers its documented status, never
creates twice, and announces only what was booked."""

from __future__ import annotations

import re

import pytest

from local.reliability import UPSTREAM_FAULTS, InProcess, StackTarget, UpstreamFault, upstream_fault


def _id(fault: UpstreamFault) -> str:
    return re.sub(r"[^a-z0-9]+", "-", fault.name.lower()).strip("-")


@pytest.mark.parametrize("fault", UPSTREAM_FAULTS, ids=_id)
def test_in_process(in_process: InProcess, fault: UpstreamFault) -> None:
    result = upstream_fault(in_process, fault)

    assert result.checks and result.passed, result.explain()
    assert result.figures["first answer"]["status"] == fault.status


@pytest.mark.integration
@pytest.mark.parametrize("fault", UPSTREAM_FAULTS, ids=_id)
def test_through_the_local_stack(on_stack: StackTarget, fault: UpstreamFault) -> None:
    result = upstream_fault(on_stack, fault)

    assert result.checks and result.passed, result.explain()
    assert result.figures["first answer"]["status"] == fault.status
