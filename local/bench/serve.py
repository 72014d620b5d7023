"""``python -m local.bench --serve DIR``: a world that stays up for a whole-process timer.

Writes, for the floor, (a) and (b), a command that launches one fresh process the way the bench
does (``child.py``), each run on its own event: DIR/<case>/env.json holds the function's
environment, DIR/<case>/events/ fresh events (a new slot, a new delivery id) that each run takes
one of. Partner deliveries are signed with a timestamp the function accepts for five minutes:
unused ones are replaced every minute. Runs until Ctrl-C.
"""

from __future__ import annotations

import json
import shlex
import time
from pathlib import Path
from typing import Any

from local.bench.launch import CHILD, MANDATED
from local.bench.world import API_FUNCTION, World

EVENTS_PER_CASE = 200


def _write_events(world: World, folder: Path, kind: str, start: int) -> int:
    events = folder / "events"
    events.mkdir(parents=True, exist_ok=True)
    for stale in events.glob("*.json"):
        try:
            stale.rename(stale.with_suffix(".stale"))
        except OSError:
            continue  # a run took it meanwhile
        stale.with_suffix(".stale").unlink()
    for number in range(start, start + EVENTS_PER_CASE):
        event = world.partner_event() if kind == "partner" else world.public_event()
        spec: dict[str, Any] = {"event": event, "context": world.context(API_FUNCTION)}
        (events / f"{number:08d}.json").write_text(json.dumps(spec))
    return start + EVENTS_PER_CASE


def serve(world: World, folder: Path) -> int:
    with world:
        python = " ".join(shlex.quote(part) for part in world.python)
        child = shlex.quote(str(CHILD))
        floor_path = world.floor_environment().get("PYTHONPATH")
        prefix = f"env PYTHONPATH={shlex.quote(floor_path)} " if floor_path else ""
        print(f"world up: AWS {world.emulation.url}, Oliver {world.sandbox.url}\n")
        print(f"floor:\n  {prefix}{python} {child} --floor {','.join(MANDATED)}")
        counters = {}
        for kind in ("partner", "public"):
            case = folder / kind
            case.mkdir(parents=True, exist_ok=True)
            env = world.environment(API_FUNCTION)
            path = env.pop("PYTHONPATH").split(":")
            world_file = {"env": env, "path": path, "cwd": env["LAMBDA_TASK_ROOT"]}
            (case / "env.json").write_text(json.dumps(world_file, indent=1))
            counters[kind] = _write_events(world, case, kind, 0)
            label = "(a) partner booking by ids" if kind == "partner" else "(b) public booking"
            print(
                f"{label}:\n  {python} {child} app lambda_handler --world {shlex.quote(str(case))}"
            )
        print("\nEach run takes one fresh event; Ctrl-C stops the world.", flush=True)
        try:
            while True:
                time.sleep(60)
                counters["partner"] = _write_events(
                    world, folder / "partner", "partner", counters["partner"]
                )
        except KeyboardInterrupt:
            return 0
