"""`make bench`'s launch measurement, once, end to end: a moto server and the Oliver sandbox, one
fresh process per case, each answering what its figure claims to time (a 201 for a booking, a 200
for /health and the booking page, no failed record for a notification), with its CPU time and
peak RSS; and the memory-size section built from them. No time is asserted: the bench reports
times as ratios of one run, and a test never judges them."""

from __future__ import annotations

import os
import sys

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
        # CPU stamps: present and sane (no CPU past what the machine's cores give in the time).
        assert one.cpu_start > 0, key
        assert one.cpu_init >= 0 and one.cpu_first >= 0, key
        if measured.case.function_id is None:
            assert one.cpu_first == 0, key
        cores = os.cpu_count() or 1
        assert one.cpu_init + one.cpu_first <= (one.answered - one.started) * cores + 0.05, key
        assert one.wait >= 0, key
        if sys.platform == "linux":
            assert one.rss_mib is not None and one.rss_mib > 0, key
    measured_functions = {figures[key].case.function_id for key in figures}
    assert {"ApiFunction", "PageFunction", "ConfirmationEmailFunction", "StaffFollowUpFunction",
            "TextBackFunction"} <= measured_functions  # fmt: skip

    run = report.Run(rounds=1, launch=figures)
    table = report.table(run)
    for case in launch.CASES:
        assert case.label in table
    assert "ratio" in table

    # The memory-size section: every candidate size, every visitor-facing and background case,
    # the choice; and its reasoning in docs/performance.md's text.
    section = table[table.index("4. memory size") :]
    for size in report.MEMORY_SIZES:
        assert f"{size} MB" in section
    for key in (*report.VISITOR_CASES, *report.BACKGROUND_CASES):
        assert figures[key].case.label in section, key
    assert "choice: ApiFunction and PageFunction" in section
    choice = report.choose(run)
    assert choice.visitor in report.MEMORY_SIZES and choice.background in report.MEMORY_SIZES
    text = report.memory_markdown(run)
    assert text.startswith("## Memory size")
    assert f"{choice.visitor:,} MB" in text and f"{choice.background:,} MB" in text
    assert "## Memory size" in report.markdown(run, table)
