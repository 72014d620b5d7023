"""Shared fixtures: the real local stack (started once, only by the tests that ask for it)."""

from __future__ import annotations

import os
import sys
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import settings

REPO_ROOT = Path(__file__).resolve().parent.parent
for _path in (REPO_ROOT, REPO_ROOT / "layers" / "booking"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

if TYPE_CHECKING:
    from local.stack import LocalStack

#: In CI (.ci/run sets REQUIRE_BROWSER=1) every run draws the same examples: a red build is
#: reproducible and never a matter of luck; locally the default profile keeps exploring.
settings.register_profile("ci", derandomize=True, deadline=None)
if os.environ.get("CI") or os.environ.get("REQUIRE_BROWSER"):
    settings.load_profile("ci")


#: The shared test stack takes every test's requests from one address (127.0.0.1), far more than a
#: visitor would: its per-visitor limits are lifted. tests/security starts a stack of its own with
#: the template's limits to prove them.
LIFTED_LIMITS = (
    "--env",
    "THROTTLE_BOOKINGS_PER_IP=100000/60",
    "--env",
    "THROTTLE_OPEN_TIMES_PER_IP=100000/60",
    "--env",
    "THROTTLE_MISSES_PER_CONTACT=100000/60",
    # Tests reset the sandbox between them; an answer cached before a reset must not be offered.
    "--env",
    "OPEN_TIMES_CACHE_SECONDS=0",
)


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    """`python -m local.dev` on free ports (template.yaml, the real handler, the sandbox)."""
    from local.stack import LocalStack

    local_stack = LocalStack(
        workdir=tmp_path_factory.mktemp("local-stack"), extra_args=LIFTED_LIMITS
    )
    local_stack.start()
    yield local_stack
    local_stack.stop()


@pytest.fixture
def fresh_sandbox(stack: LocalStack) -> LocalStack:
    """The stack with the sandbox back at its seed, no queued events, no idempotency records."""
    stack.sandbox_reset()
    stack.drain_events()
    stack.clear_idempotency()
    return stack


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[Any]
) -> Generator[None, Any, None]:
    """A failing test that used the local stack shows the end of the stack's log."""
    outcome = yield
    report = outcome.get_result()
    funcargs = getattr(item, "funcargs", {})
    local_stack = funcargs.get("stack") or funcargs.get("fresh_sandbox")
    if report.failed and local_stack is not None:
        report.sections.append(("local stack log (tail)", local_stack.log_tail(80)))


#: Suites that start a costly session fixture of their own run on one xdist worker each
#: (``--dist loadgroup`` in the Makefile): the reliability suite's local stack is then started
#: once, not once per worker. Everything else is spread over the workers test by test.
ONE_WORKER_SUITES = ("reliability",)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        suite = item.path.relative_to(REPO_ROOT / "tests").parts[0]
        if suite in ONE_WORKER_SUITES:
            item.add_marker(pytest.mark.xdist_group(suite))
