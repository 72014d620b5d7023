"""Warm own time, peak RSS and throughput: ``warm_child.py`` in a fresh process, fed from here.

Three series of warm bookings, each through the real handler: (a) a signed partner's by ids,
(b) a public one by name from the bench's (exempt) address, and (b) again from a visitor the
per-IP throttle counts, whose counter is one more DynamoDB call per booking.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from local import aws
from local.bench.world import API_FUNCTION, COUNTED_IP, World
from local.template import REPO_ROOT

CHILD = Path(__file__).resolve().parent / "warm_child.py"
RESULT_MARK = "BENCH-RESULT "
SERIES = {
    "partner": "(a) partner booking by ids",
    "public": "(b) public booking by name",
    "counted": "(b) from a counted visitor",
}


def measure(
    world: World,
    bookings: int,
    rss_bookings: int,
    throughput_bookings: int,
    profile: str | None = None,
) -> dict[str, Any]:
    """The warm figures; ``profile`` (a path prefix) adds a cProfile of each series'
    timed bookings, written to ``<profile>.<series>.prof``."""
    env = world.environment(API_FUNCTION)
    if profile:
        env["BENCH_PROFILE"] = profile
    del env["AWS_ENDPOINT_URL"]  # as deployed: the canned answers stand in before any socket
    secrets = {
        aws.OLIVER_SECRET_NAME: json.dumps(aws.oliver_secret_value()),
        aws.WEBHOOK_SECRET_NAME: json.dumps({aws.DEMO_WEBHOOK_SOURCE: aws.DEMO_WEBHOOK_SECRET}),
        aws.THROTTLE_KEY_SECRET_NAME: aws.throttle_key(),
    }
    public = world.public_event()
    spec = {
        "repo_root": str(REPO_ROOT),
        "module": "app",
        "handler": "lambda_handler",
        "context": world.context(API_FUNCTION),
        "secrets": secrets,
        "webhook_secret": aws.DEMO_WEBHOOK_SECRET,
        "templates": {
            "partner": world.partner_event(),
            "public": public,
            "counted": world.public_event(source_ip=COUNTED_IP),
        },
        "bookings": bookings,
        "warmup": 30,
        "rss_bookings": rss_bookings,
        "throughput": {
            "template": public,
            "slots": [world.next_slot() for _ in range(throughput_bookings + 1)],
        }
        if throughput_bookings
        else None,
    }
    process = subprocess.run(  # noqa: S603 - our own interpreter and script
        [*world.python, str(CHILD)],
        input=json.dumps(spec).encode(),
        capture_output=True,
        env=env,
        cwd=env["LAMBDA_TASK_ROOT"],
        timeout=600,
        check=False,
    )
    stdout = process.stdout.decode(errors="replace")
    marks = [line for line in stdout.splitlines() if line.startswith(RESULT_MARK)]
    if process.returncode != 0 or not marks:
        stderr = process.stderr.decode(errors="replace")
        raise RuntimeError(f"the warm measurement failed ({process.returncode}):\n{stderr[-4000:]}")
    return json.loads(marks[-1][len(RESULT_MARK) :])  # type: ignore[no-any-return]
