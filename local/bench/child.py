"""One fresh Lambda-like process, as ``local.bench.launch`` starts it for every measurement:
interpreter start -> import of the handler module (the function's init) -> one invocation ->
answer. It stamps each step with ``time.perf_counter()``, which on Linux is CLOCK_MONOTONIC, the
same clock in every process, so the parent compares the stamps with the instant it started this
process; and with ``time.process_time()``, this process's CPU time so far (every thread's, the
interpreter's own start-up included), so the parent can tell the CPU of each step from its waits.
After the answer (and its stamps) it reads the process's peak resident memory (``VmHWM``).

    python child.py MODULE HANDLER        the invocation (event and context as JSON on stdin,
                                           read after the import and not timed)
    python child.py --floor MOD[,MOD...]  import these modules and nothing else (the floor)
    python child.py MODULE HANDLER --world DIR
                                           a cross-check run (``python -m local.bench --serve``):
                                           the environment from DIR/env.json, the next unused
                                           event of DIR/events/

One line ``BENCH-RESULT {json}`` on stdout ends the output (the handler's log lines come before
it). Only the standard library is imported before the measured import, so nothing the handler
needs is loaded for it. For ``--profile``: ``BENCH_PHASES=1`` marks the end of the import on
stderr (between ``-X importtime`` lines); ``BENCH_PROFILE=<prefix>`` adds a cProfile of the
import and one of the first invocation, and the time of every boto3 client creation, AWS call
and upstream request.
"""

import sys
import time

STARTED = time.perf_counter()
CPU_STARTED = time.process_time()


def _claim(folder: str) -> str:
    """The path of the next event of a cross-check world, taken so that no other run uses it."""
    import os

    events = os.path.join(folder, "events")
    for name in sorted(os.listdir(events)):
        if not name.endswith(".json"):
            continue
        claimed = os.path.join(events, name[:-5] + ".used")
        try:
            os.rename(os.path.join(events, name), claimed)
        except OSError:
            continue  # another run took it first
        return claimed
    raise SystemExit(f"no unused event left in {events}: run python -m local.bench --serve again")


def _enter_world(folder: str) -> str:
    import json
    import os

    with open(os.path.join(folder, "env.json"), encoding="utf-8") as file:
        world = json.load(file)
    os.environ.update(world["env"])
    sys.path[0:0] = world["path"]
    os.chdir(world["cwd"])
    return _claim(folder)


class Context:
    """What the Python runtime passes as ``context``."""

    def __init__(self, spec: dict) -> None:  # type: ignore[type-arg]
        self.function_name = spec["function_name"]
        self.function_version = "$LATEST"
        self.invoked_function_arn = spec["invoked_function_arn"]
        self.memory_limit_in_mb = str(spec["memory_limit_in_mb"])
        self.aws_request_id = spec["aws_request_id"]
        self.log_group_name = f"/aws/lambda/{self.function_name}"
        self.log_stream_name = "2026/01/01/[$LATEST]bench"
        self.identity = None
        self.client_context = None
        self.tenant_id = None
        self._deadline = time.monotonic() + float(spec["timeout"])

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def main() -> None:
    import os

    here = os.path.dirname(os.path.abspath(__file__))
    if sys.path and os.path.abspath(sys.path[0] or ".") == here:
        del sys.path[0]  # this folder is the bench's, not the function's
    args = sys.argv[1:]
    if args[0] == "--floor":
        for name in args[1].split(","):
            __import__(name)
        imported = time.perf_counter()
        cpu_imported = time.process_time()
        _emit(
            {
                "started": STARTED,
                "imported": imported,
                "cpu_started": CPU_STARTED,
                "cpu_imported": cpu_imported,
                "rss_mib": _rss_mib(),
            }
        )
        return
    event_file = _enter_world(args[3]) if args[2:3] == ["--world"] else None
    profile = os.environ.get("BENCH_PROFILE")
    calls = None
    if profile:
        sys.path.insert(0, here)
        import probe  # type: ignore[import-not-found]

        del sys.path[0]
        calls = probe.install()
    if profile:
        import cProfile

        init_profiler = cProfile.Profile()
        init_profiler.runcall(__import__, args[0])
        init_profiler.dump_stats(profile + ".init.prof")
    else:
        __import__(args[0])
    handler = getattr(sys.modules[args[0]], args[1])
    imported = time.perf_counter()
    cpu_imported = time.process_time()
    if profile or os.environ.get("BENCH_PHASES"):
        print("BENCH-PHASE first-invocation", file=sys.stderr, flush=True)
    import json

    if event_file is not None:
        with open(event_file, encoding="utf-8") as file:
            spec = json.load(file)
    else:
        spec = json.loads(sys.stdin.buffer.read())
    context = Context(spec["context"])
    invoked = time.perf_counter()
    cpu_invoked = time.process_time()
    if profile:
        import cProfile

        profiler = cProfile.Profile()
        answer = profiler.runcall(handler, spec["event"], context)
        answered = time.perf_counter()
        cpu_answered = time.process_time()
        profiler.dump_stats(profile + ".prof")
    else:
        answer = handler(spec["event"], context)
        answered = time.perf_counter()
        cpu_answered = time.process_time()
    result = {
        "started": STARTED,
        "imported": imported,
        "invoked": invoked,
        "answered": answered,
        "cpu_started": CPU_STARTED,
        "cpu_imported": cpu_imported,
        "cpu_invoked": cpu_invoked,
        "cpu_answered": cpu_answered,
        "rss_mib": _rss_mib(),
        "answer": answer,
    }
    if calls is not None:
        result["calls"] = calls
    _emit(result)


def _rss_mib() -> float | None:
    """Peak resident memory of this process so far (Linux's ``VmHWM``), in MiB; None elsewhere."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def _emit(result: dict) -> None:  # type: ignore[type-arg]
    import json
    import os

    sys.stdout.write("\nBENCH-RESULT " + json.dumps(result, default=str) + "\n")
    sys.stdout.flush()
    os._exit(0)  # the interpreter's teardown is no part of any figure


if __name__ == "__main__":
    main()
