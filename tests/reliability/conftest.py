"""Reliability suite fixtures: the scenarios live in ``local/reliability/`` (which also writes
``docs/reliability.md``); these tests run them and assert every figure. Nothing here writes
into the repository."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
for path in (ROOT / "layers" / "booking", ROOT / "functions" / "api"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

# The Powertools logger binds its handler to sys.stdout when first imported: import it now, under
# pytest's session-wide capture, not inside one test whose captured stream is closed afterwards.
import booking.telemetry  # noqa: E402, F401

from local.reliability import InProcess, StackTarget  # noqa: E402


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
