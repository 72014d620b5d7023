"""Duplicate storm: 50 identical submissions at once make exactly one appointment."""

from __future__ import annotations

import threading

import httpx
import pytest

from local.reliability import InProcess, StackTarget, duplicate_storm, moto_conditional_write_probe


@pytest.mark.integration
def test_through_the_local_stack_duplicates_get_the_first_answer_again(
    on_stack: StackTarget,
) -> None:
    result = duplicate_storm(on_stack, submissions=50)

    assert result.checks and result.passed, result.explain()
    # The local API runs one invocation at a time (one container): no duplicate overlaps.
    assert result.figures["statuses"] == {201: 50}
    assert result.figures["replayed 201"] == 49


def test_concurrent_invocations_in_process_get_409_or_the_appointment(
    in_process: InProcess,
) -> None:
    result = duplicate_storm(in_process, submissions=50, handlers=in_process.handler_copies(50))

    assert result.checks and result.passed, result.explain()
    assert result.figures["exceptions"] == []
    assert result.figures["statuses"].get(409, 0) > 0, "no duplicate overlapped the first"


def test_moto_applies_a_conditional_put_once_under_threads() -> None:
    """What the in-process harness's lock around moto guards against, probed without it."""
    probe = moto_conditional_write_probe(threads=20, rounds=2)
    assert probe["successes per round"] == [1, 1]


@pytest.mark.integration
def test_the_local_api_answers_a_burst_of_50_connections(stack) -> None:  # type: ignore[no-untyped-def]
    """API Gateway takes a burst; the local API must not reset the connections it has no thread
    for yet (with socketserver's listen backlog of 5 the storm saw 'Connection reset by peer').
    Each empty post is a 422 (this stack exempts the loopback address from the per-IP throttle,
    which would otherwise answer 429 after 20)."""
    outcomes: list[object] = []
    for _ in range(3):
        barrier = threading.Barrier(50)

        def post(barrier: threading.Barrier = barrier) -> None:
            # Plain HTTP on 127.0.0.1: no certificate to verify, so no CA bundle parsed (about
            # 50 ms of CPU a client, 150 clients).
            with httpx.Client(timeout=30, verify=False) as client:
                barrier.wait()
                try:
                    response = client.post(f"{stack.api_url}/bookings", json={})
                    outcomes.append(response.status_code)
                except httpx.HTTPError as exc:
                    outcomes.append(repr(exc))

        threads = [threading.Thread(target=post) for _ in range(50)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
    assert [o for o in outcomes if not isinstance(o, int)] == []
    assert outcomes == [422] * 150
