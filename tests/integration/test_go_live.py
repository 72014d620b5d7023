"""`make go-live-check` against the Oliver sandbox: it learns what the docs leave unknown and
says which of the function's assumptions hold, without printing the token or client details."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest

from local import go_live
from local.oliver_sandbox import SandboxServer, seed

pytestmark = pytest.mark.integration


@pytest.fixture
def sandbox() -> Iterator[SandboxServer]:
    server = SandboxServer(port=0, state_file=None).start()
    yield server
    server.stop()


def run(*args: str) -> tuple[go_live.Report, str]:
    out = io.StringIO()
    report = go_live.run(list(args), out=out)
    return report, out.getvalue()


def test_every_assumption_holds_against_the_sandbox(sandbox: SandboxServer) -> None:
    report, printed = run("--api-url", sandbox.api_base, "--email", "jane@example.com")
    assert report.failed == 0, printed
    assert "a wrong location id answers open times 400" in printed
    assert "slot length: 20 minutes" in printed
    assert "a client record embeds its patients" in printed
    assert "jane@example.com" not in printed
    assert "eyJ" not in printed  # no JWT


def test_a_test_booking_measures_how_soon_the_list_shows_it(sandbox: SandboxServer) -> None:
    report, printed = run("--api-url", sandbox.api_base, "--test-booking", "1001", "2001")
    assert report.failed == 0, printed
    assert "it shows in the appointment list after" in printed


def test_a_secret_without_a_location_fails_the_check(
    sandbox: SandboxServer, tmp_path: pytest.TempPathFactory
) -> None:
    secret = tmp_path / "secret.json"  # type: ignore[operator]
    secret.write_text(f'{{"username": "{seed.USERNAME}", "password": "{seed.PASSWORD}"}}')
    report, printed = run("--api-url", sandbox.api_base, "--secret-file", str(secret))
    assert "[FAIL] a location id is configured" in printed
    assert report.failed >= 1
