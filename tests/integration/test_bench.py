"""`make bench`'s launch measurement, once, end to end: a moto server and the Oliver sandbox, one
fresh process per case, each answering what its figure claims to time (a 201 for a booking, a 200
for /health, no failed record for a notification). No time is asserted: the bench reports times
as ratios of one run, and a test never judges them."""

from __future__ import annotations

import pytest

from local.bench import launch, report
from local.bench.world import World

pytestmark = pytest.mark.integration


def test_one_round_of_launches_produces_every_figure() -> None:
    # The venv's packages (World without the layer built from PyPI): a test needs no network.
    with World() as world:
        launch.prepare(world, warm_up=False)
        figures = launch.measure(world, rounds=1)

    assert list(figures) == list(launch.CASE_KEYS)
    for key, measured in figures.items():
        assert len(measured.launches) == 1, key
        one = measured.launches[0]
        assert 0 < one.started <= one.imported <= one.answered, key
        if measured.case.function_id is not None:
            assert measured.case.expect(one.answer), (key, one.answer)
    measured_functions = {figures[key].case.function_id for key in figures}
    assert {"ApiFunction", "ConfirmationEmailFunction", "StaffFollowUpFunction",
            "TextBackFunction"} <= measured_functions  # fmt: skip

    table = report.table(report.Run(rounds=1, launch=figures))
    for case in launch.CASES:
        assert case.label in table
    assert "ratio" in table
