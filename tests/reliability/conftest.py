"""Reliability suite fixtures: the scenarios live in ``local/reliability/`` (which also writes
``docs/reliability.md``); these tests run them and assert every figure. Nothing here writes
into the repository.

``stack`` here is the reliability suite's own local stack: the session's one (tests/conftest.py)
counts every booking post from 127.0.0.1 against the per-IP throttle (20 per 10 minutes), and
the scenarios post dozens from there. Theirs exempts the loopback addresses
(``ThrottleExemptCidrs``, as a practice exempts its front desk); the rest is the same."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
for path in (ROOT / "layers" / "booking", ROOT / "functions" / "api"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

# The Powertools logger binds its handler to sys.stdout when first imported: import it now, under
# pytest's session-wide capture, not inside one test whose captured stream is closed afterwards.
import booking.telemetry  # noqa: E402, F401

from local.reliability import InProcess, StackTarget, reliability_stack  # noqa: E402


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """`python -m local.dev` on free ports with the loopback addresses exempt from the per-IP
    throttle (``local.reliability.STACK_ARGS``)."""
    local_stack = reliability_stack(workdir=tmp_path_factory.mktemp("reliability-stack"))
    local_stack.start()
    yield local_stack
    local_stack.stop()


@pytest.fixture(scope="module")
def in_process() -> Iterator[InProcess]:
    """The handler in this process, AWS under moto in-process, an Oliver sandbox on a free port
    (the environment and the container are restored when the module's tests are done)."""
    with InProcess() as target:
        yield target


@pytest.fixture(scope="module")
def on_stack(stack) -> Iterator[StackTarget]:  # type: ignore[no-untyped-def]
    """The local stack over HTTP (the session's ``stack``)."""
    target = StackTarget(stack)
    yield target
    target.close()


def pytest_configure(config: pytest.Config) -> None:
    # The in-process target tallies outcomes itself, so Powertools has no metric to flush.
    config.addinivalue_line("filterwarnings", "ignore:No application metrics to publish")
