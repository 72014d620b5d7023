"""`make go-live-check` against the Oliver sandbox: it learns what the docs leave unknown and
says which of the function's assumptions hold, without printing the token or client details."""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Iterator
from typing import Any

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


# -- under switched interpretations of what the docs leave unknown (the sandbox's switches) -------


@pytest.fixture
def switched() -> Iterator[Callable[..., SandboxServer]]:
    started: list[SandboxServer] = []

    def start(**switches: Any) -> SandboxServer:
        server = SandboxServer(port=0, state_file=None, **switches).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


def test_it_learns_whether_a_sign_in_revokes_earlier_tokens(
    sandbox: SandboxServer, switched: Callable[..., SandboxServer]
) -> None:
    _, printed = run("--api-url", sandbox.api_base)
    assert "earlier tokens stay valid" in printed
    revoking = switched(revoke_on_sign_in=True)
    report, printed = run("--api-url", revoking.api_base, "--email", "jane@example.com")
    assert "a new sign-in revokes the earlier token" in printed
    # and it goes on with the newer token: every other check still asks Oliver
    assert report.failed == 0, printed
    assert "client search: 200" in printed


def test_a_test_booking_reports_the_list_delay(switched: Callable[..., SandboxServer]) -> None:
    delayed = switched(list_delay_seconds=1.0)
    report, printed = run("--api-url", delayed.api_base, "--test-booking", "1001", "2001")
    assert report.failed == 0, printed
    found = re.search(r"it shows in the appointment list after (\d+\.\d) s", printed)
    assert found, printed
    assert 1.0 <= float(found[1]) < 3.0


def test_ids_that_are_not_numbers(switched: Callable[..., SandboxServer]) -> None:
    strings = switched(id_style="string")
    report, printed = run(
        "--api-url", strings.api_base, "--email", "jane@example.com",
        "--test-booking", "cli_1001", "pat_2001",
    )  # fmt: skip
    assert report.failed == 0, printed
    assert "client ids are strs (not numeric)" in printed
    assert "created appointment apt_50001 (id str); cancel it" in printed
    assert "it shows in the appointment list after" in printed


def test_zone_slot_length_and_horizon(switched: Callable[..., SandboxServer]) -> None:
    berlin = switched(time_zone="Europe/Berlin", slot_minutes=30, horizon_days=3)
    report, printed = run("--api-url", berlin.api_base, "--timezone", "Europe/Berlin")
    assert report.failed == 0, printed
    assert "slot length: 30 minutes" in printed
    assert "horizon: 3 days from one search" in printed
    # A practice configured with another zone than Oliver's is told so
    report, printed = run("--api-url", berlin.api_base, "--timezone", "America/Chicago")
    assert "[FAIL] times carry the practice's offset" in printed
    assert report.failed == 1


@pytest.mark.parametrize("status", [403, 404, 401])
def test_the_status_of_a_wrong_location_id(
    switched: Callable[..., SandboxServer], status: int
) -> None:
    server = switched(client_id_error_status=status)
    report, printed = run("--api-url", server.api_base)
    assert f"a wrong location id answers open times {status}, client search {status}" in printed
    if status == 401:
        # The function would take it for its token (502), not for its configuration (503)
        assert "[FAIL] a wrong location id is refused with 400, 403 or 404" in printed
        assert report.failed == 1
    else:
        assert report.failed == 0, printed
