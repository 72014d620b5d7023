"""``python -m local.bench --profile CASE``: where the time of one cold launch goes.

Two fresh processes of the case, after a warm-up one:

1. ``python -X importtime``: every module's own import time, summed by top-level package, for
   the init (the handler module's import) and for the first invocation (modules imported
   lazily); ``-X importtime`` slows imports down a little, evenly.
2. cProfile around the import (the init) and around the first invocation, and ``probe.py``'s
   timings of every boto3 client creation, AWS call (with its wait on the socket), upstream
   request (with its wait) and TCP connect, at init or during the first invocation.
"""

from __future__ import annotations

import pstats
import re
import sysconfig
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Any

from local.bench import warm
from local.bench.launch import CASES, Case, prepare, run_child
from local.bench.world import API_FUNCTION, World
from local.template import REPO_ROOT

PHASE_MARK = "BENCH-PHASE first-invocation"
_IMPORT_LINE = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \|(\s*)(\S+)")


def _package(module: str) -> str:
    return module.split(".", 1)[0]


def import_times(stderr: str) -> dict[str, dict[str, Any]]:
    """Per phase: total own import time (ms), module count, and own time per package."""
    phases: dict[str, dict[str, Any]] = {
        "init": {"ms": 0.0, "modules": 0, "packages": defaultdict(float)},
        "first": {"ms": 0.0, "modules": 0, "packages": defaultdict(float)},
    }
    phase = "init"
    for line in stderr.splitlines():
        if line.startswith(PHASE_MARK):
            phase = "first"
            continue
        match = _IMPORT_LINE.match(line)
        if not match:
            continue
        own_ms = int(match.group(1)) / 1000
        phases[phase]["ms"] += own_ms
        phases[phase]["modules"] += 1
        phases[phase]["packages"][_package(match.group(4))] += own_ms
    return phases


_WAITS = ("recv", "connect", "select", "poll", "sendall", "send", "accept", "getaddrinfo")
_LOADING = ("marshal.loads", "builtins.exec", "_imp.", "builtins.compile", "open_code", "read")


class Places:
    """Which part of the process a profiled function belongs to, from its file."""

    def __init__(self, world: World, case: Case) -> None:
        env = world.environment(case.function_id or API_FUNCTION, case.code_dir)
        self.roots = [Path(p) for p in env["PYTHONPATH"].split(":")]
        self.code = Path(env["LAMBDA_TASK_ROOT"])
        self.stdlib = Path(sysconfig.get_paths()["stdlib"])

    def __call__(self, filename: str, function: str) -> str:
        if Path(filename).is_relative_to(REPO_ROOT / "local"):
            return "(the bench's stand-ins)"
        if filename == "~":
            if any(word in function for word in _WAITS):
                return "(network: socket calls)"
            if any(word in function for word in _LOADING):
                return "(imports: reading and running modules)"
            return "(builtins)"
        if filename.startswith("<frozen importlib") or filename.startswith("<frozen zipimport"):
            return "(imports: importlib)"
        path = Path(filename)
        if path.is_relative_to(self.code):
            return "app (the function's module)"
        for root in self.roots:
            if path.is_relative_to(root):
                return path.relative_to(root).parts[0].removesuffix(".py")
        if path.is_relative_to(self.stdlib):
            return "stdlib:" + path.relative_to(self.stdlib).parts[0].removesuffix(".py")
        return "(other)"

    def ours(self, filename: str) -> bool:
        path = Path(filename)
        return path.is_relative_to(self.code) or (
            "booking" in path.parts
            and any(
                path.is_relative_to(root) and (root / "booking").is_dir() for root in self.roots
            )
        )


def profile_summary(
    path: str, places: Places, top: int = 16
) -> tuple[dict[str, float], list[str], float, list[tuple[str, float]]]:
    """(own time in ms by place, our functions by cumulative time, total ms, the builtins with
    the most own time)."""
    stats = pstats.Stats(path)
    table = stats.stats  # type: ignore[attr-defined]
    own: dict[str, float] = defaultdict(float)
    builtins: list[tuple[str, float]] = []
    for (filename, _, function), (_, _, tottime, _, _) in table.items():
        own[places(filename, function)] += tottime * 1000
        if filename == "~":
            builtins.append((function, tottime * 1000))
    total = sum(own.values())
    builtins.sort(key=lambda item: item[1], reverse=True)
    ours = sorted(
        (
            (cumtime, tottime, calls, f"{function} ({Path(filename).name}:{line})")
            for (filename, line, function), (_, calls, tottime, cumtime, _) in table.items()
            if places.ours(filename)
        ),
        reverse=True,
    )
    lines = [
        f"{cum * 1000:8.1f} {own_s * 1000:7.1f} {calls:6d}  {name}"
        for cum, own_s, calls, name in ours[:top]
    ]
    places_ms = dict(sorted(own.items(), key=lambda item: item[1], reverse=True))
    return places_ms, lines, total, builtins[:6]


def warm_profile(world: World, bookings: int = 300) -> str:
    """Where a warm booking's own time goes: cProfile over each series' timed bookings."""
    out = ["where the time of a warm booking goes (cProfile over the timed bookings; slower)", ""]
    places = Places(world, CASES[1])
    with tempfile.TemporaryDirectory(prefix="bench-profile-") as folder:
        prefix = str(Path(folder) / "warm")
        figures = warm.measure(world, bookings, 0, 0, profile=prefix)
        for kind, label in warm.SERIES.items():
            own, top, total, builtins = profile_summary(f"{prefix}.{kind}.prof", places)
            count = figures["warm"][kind]["bookings"]
            out.append(
                f"{label}: {total / count:.2f} ms a booking under cProfile, own time by place "
                "(ms a booking): "
                + ", ".join(f"{name} {ms / count:.2f}" for name, ms in list(own.items())[:12])
            )
            out.append(
                "  builtins with the most own time (ms a booking): "
                + ", ".join(f"{name} {ms / count:.2f}" for name, ms in builtins[:5])
            )
            out.append("  our functions by cumulative time (ms for all the bookings):")
            out += ["  " + line for line in top[:12]]
            out.append("")
    return "\n".join(out)


def _case(key: str) -> Case:
    for case in CASES:
        if case.key == key:
            return case
    keys = ", ".join(c.key for c in CASES if c.function_id)
    raise SystemExit(f"--profile takes warm or one of {keys}")


def profile(world: World, key: str) -> str:
    case = _case(key)
    prepare(world, warm_up=False)  # the notification functions' events
    run_child(world, case)  # bytecode and file cache warm, as in the counted rounds
    out: list[str] = [f"where the time goes: one cold launch of {case.label}", ""]
    launch, _, stderr = run_child(
        world, case, python_args=("-X", "importtime"), extra_env={"BENCH_PHASES": "1"}
    )
    phases = import_times(stderr)
    out.append(
        f"launch -> answer {launch.total * 1000:.0f} ms under -X importtime: start "
        f"{launch.started * 1000:.0f}, init {launch.init * 1000:.0f}, first invocation "
        f"{launch.first * 1000:.0f} ms"
    )
    for name, title in (("init", "init (module import)"), ("first", "first invocation")):
        phase = phases[name]
        packages = sorted(phase["packages"].items(), key=lambda item: item[1], reverse=True)
        shown = ", ".join(f"{package} {ms:.0f}" for package, ms in packages[:10] if ms >= 1)
        out.append(
            f"  imports during {title}: {phase['modules']} modules, {phase['ms']:.0f} ms own "
            f"time: {shown or '-'} (ms)"
        )
    with tempfile.TemporaryDirectory(prefix="bench-profile-") as folder:
        prefix = str(Path(folder) / "run")
        launch, _, _ = run_child(world, case, extra_env={"BENCH_PROFILE": prefix})
        places = Places(world, case)
        summaries = {
            "init": profile_summary(prefix + ".init.prof", places),
            "first invocation": profile_summary(prefix + ".prof", places),
        }
    out.append("")
    out.append(
        f"with the probe and cProfile (slower): init {launch.init * 1000:.0f} ms, first "
        f"invocation {launch.first * 1000:.0f} ms"
    )
    for title, calls in (
        ("at init", [c for c in launch.calls if c["start"] < launch.imported]),
        ("in the first invocation", [c for c in launch.calls if c["start"] >= launch.imported]),
    ):
        out.append(f"  {title}:")
        out += _call_lines(calls) or ["    nothing"]
    for stage, (own, top, total, builtins) in summaries.items():
        out.append(
            f"  {stage} under cProfile, {total:.0f} ms, own time by place (ms): "
            + ", ".join(f"{name} {ms:.0f}" for name, ms in list(own.items())[:14] if ms >= 0.5)
        )
        out.append(
            "    builtins with the most own time (ms): "
            + ", ".join(f"{name} {ms:.0f}" for name, ms in builtins)
        )
        out.append(f"    our functions in the {stage}, by cumulative time:")
        out.append("      cum ms  own ms  calls  function")
        out += ["    " + line for line in top]
    return "\n".join(out)


def _call_lines(calls: list[dict[str, Any]]) -> list[str]:
    lines = []
    by_kind: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for call in calls:
        by_kind[call["kind"]].append(call)
    for kind, title in (
        ("client", "boto3 clients created"),
        ("aws", "AWS calls (total, of which waiting on the socket)"),
        ("upstream", "upstream requests (total, of which waiting on the socket)"),
        ("upstream-connect", "TCP connects to upstream"),
        ("aws-connect", "TCP connects to AWS"),
    ):
        items = by_kind.get(kind, [])
        if not items:
            continue
        waits = list(by_kind.get(kind + "-wait", []))
        parts = []
        for item in items:
            text = f"{item['name']} {item['seconds'] * 1000:.1f}"
            wait = next(
                (
                    w
                    for w in waits
                    if w["start"] >= item["start"] and w["start"] <= item["start"] + item["seconds"]
                ),
                None,
            )
            if wait is not None:
                waits.remove(wait)
                text += f" ({wait['seconds'] * 1000:.1f})"
            parts.append(text)
        total = sum(item["seconds"] for item in items) * 1000
        lines.append(f"    {title}: {len(items)}, {total:.0f} ms: " + ", ".join(parts) + " ms")
    return lines
