"""``make bench`` (``python -m local.bench``): every figure of issue 12 in one run, printed as a
table; ``--write`` also writes docs/performance.md. ``--profile CASE`` instead tells where one
cold launch spends its time; ``--serve DIR`` keeps a world up for a whole-process timer."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from local.bench import artifact, launch, warm
from local.bench.report import Run, markdown, table
from local.bench.world import World
from local.template import REPO_ROOT

DOCS = REPO_ROOT / "docs" / "performance.md"


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m local.bench", description=__doc__)
    parser.add_argument("--rounds", type=int, default=10, help="launch rounds (default 10)")
    parser.add_argument(
        "--no-bytecode-rounds",
        type=int,
        default=1,
        help="rounds of the launches without bytecode (default 1; 0 skips them)",
    )
    parser.add_argument(
        "--warm-bookings", type=int, default=300, help="timed warm bookings per series (300)"
    )
    parser.add_argument(
        "--rss-bookings",
        type=int,
        default=2000,
        help="warm bookings made before peak RSS is read (default 2000)",
    )
    parser.add_argument(
        "--throughput", type=int, default=100, help="bookings of the throughput run (100)"
    )
    parser.add_argument(
        "--offline",
        action="store_true",
        help="never ask PyPI: the children import the venv's packages, the layer is sized "
        "from .aws-sam/build or the venv",
    )
    parser.add_argument(
        "--write", action="store_true", help=f"also write {DOCS.relative_to(REPO_ROOT)}"
    )
    parser.add_argument(
        "--profile",
        metavar="CASE",
        help="only say where one cold launch of CASE (partner, public, health, ...) spends "
        "time, or with CASE warm where a warm booking's own time goes",
    )
    parser.add_argument(
        "--serve", metavar="DIR", type=Path, help="only keep a world up for a whole-process timer"
    )
    return parser.parse_args(argv)


_BEGAN = time.perf_counter()


def _say(text: str) -> None:
    print(f"[{time.perf_counter() - _BEGAN:5.0f} s] {text}", file=sys.stderr, flush=True)


def _world(offline: bool) -> World:
    """The world, its children importing the layer's dependencies as sam build installs them."""
    deps = None if offline else artifact.build(for_lambda=False)
    if deps is None:
        _say(
            "PyPI not reached: the children import the venv's packages, dev tools included "
            "(httpx then imports click, rich and pygments, which the layer lacks)"
        )
    return World(deps)


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    if args.serve is not None:
        from local.bench.serve import serve

        return serve(_world(args.offline), args.serve)
    if args.profile:
        from local.bench.cold_profile import profile, warm_profile

        with _world(args.offline) as world:
            if args.profile == "warm":
                print(warm_profile(world, args.warm_bookings))
            else:
                print(profile(world, args.profile))
        return 0
    began = time.perf_counter()
    run = Run(rounds=args.rounds)
    _say("the layer's dependencies for this machine (pip, kept for the next run)")
    with _world(args.offline) as world:
        if world.deps is None:
            run.imports = "the venv's packages (PyPI not reached)"
        _say("launch: preparing (a first round, not counted)")
        launch.prepare(world)
        run.launch = launch.measure(
            world, args.rounds, progress=lambda text: _say(f"launch: {text}")
        )
        if args.no_bytecode_rounds:
            _say("launch: without bytecode")
            run.no_bytecode = launch.without_bytecode(world, args.no_bytecode_rounds)
        _say("warm: own time, RSS, throughput")
        run.warm = warm.measure(world, args.warm_bookings, args.rss_bookings, args.throughput)
    _say("artifact: the layer as sam build makes it")
    run.layer = artifact.layer(offline=args.offline)
    run.functions = artifact.functions(offline=args.offline)
    run.seconds = time.perf_counter() - began
    text = table(run)
    print(text)
    if args.write:
        DOCS.write_text(markdown(run, text), encoding="utf-8")
        _say(f"wrote {DOCS.relative_to(REPO_ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
