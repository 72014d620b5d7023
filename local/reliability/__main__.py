"""The reliability suite: fault-injection scenarios that each return their figures.

``python -m local.reliability`` (``make reliability``) starts the local stack, runs every
scenario and writes ``docs/reliability.md``; ``tests/reliability`` runs the same functions and
asserts every figure. Two targets run the real ``lambda_handler``:

* ``StackTarget``: the local stack (``LocalStack``): HTTP to the API emulation, which runs one
  invocation at a time like one Lambda container; the Oliver sandbox and the AWS emulation
  (moto server) behind it. It is started with the loopback addresses exempt from the per-IP
  throttle: the scenarios post dozens of bookings from there.
* ``InProcess``: the handler called in this process (its events built by the API emulation's
  own event builder), an Oliver sandbox (``SandboxServer``) on a free port, and AWS either under
  moto in-process (``mock_aws``) or the local stack's AWS emulation. Threads here are
  concurrent invocations, as separate Lambda containers would make them.

Faults are injected where they happen: the sandbox's fault rules for Oliver, the secret's
value in Secrets Manager, and (EventBridge having no local stand-in that fails) a stub around
the EventBridge client. Everything talks to 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from pathlib import Path

from local.reliability.duplicate_storm import moto_conditional_write_probe
from local.reliability.report import DEFAULT_OUTPUT, render, run_all


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local.reliability", description=__doc__)
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="default %(default)s")
    args = parser.parse_args(argv)
    from local.reliability.targets import STACK_ARGS, reliability_stack

    started = time.monotonic()
    print(f"Reliability suite: starting the local stack ({' '.join(STACK_ARGS)})...", flush=True)
    with reliability_stack() as stack:
        results = run_all(stack, log=lambda text: print(text, flush=True))
    probe = moto_conditional_write_probe()
    args.output.write_text(render(results, probe), encoding="utf-8")
    failed = [r for r in results if not r.passed]
    print(
        f"{len(results) - len(failed)} of {len(results)} scenarios as expected in "
        f"{time.monotonic() - started:.0f}s; figures written to {args.output}"
    )
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
