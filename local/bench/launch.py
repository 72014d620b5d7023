"""Launch -> first answer: each figure a fresh ``python`` (the venv's, the runtime's version)
started by ``child.py``, timed from the instant before the parent starts it to the instant the
handler returned its answer: interpreter start, the function's init (the import of its module),
and its first invocation, with real botocore clients talking HTTP to the moto server and the
upstream calls going to the sandbox over HTTP. Network waits are in these figures: that is what
a visitor waits for (a real AWS endpoint adds TLS and distance; moto adds its own work).

Each child also stamps ``time.process_time()`` (its CPU time, every thread's) at the same
points, so a launch splits into CPU (``cpu_start``, ``cpu_init``, ``cpu_first``) and what is
not CPU (``wait``: waits on the servers, on the disk, on a busy machine, and the parent's own
work of starting the process); ``local.bench.report`` scales the CPU to Lambda's memory sizes.
The child's peak resident memory after its answer is kept too (``rss_mib``).

The floor is a fresh process that imports the four mandated packages and nothing else.
Rounds rotate the order of the cases so that a drift of the machine's speed spreads over all
of them; a first round (not counted) compiles the bytecode, warms the file cache and makes the
bus events the notification functions are fed.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from local.bench.world import API_FUNCTION, CONSUMERS, FAILING, World

HERE = Path(__file__).resolve().parent
CHILD = HERE / "child.py"
REFERENCE_DIR = HERE / "reference"
MANDATED = ("aws_lambda_powertools", "httpx", "pydantic", "boto3")
RESULT_MARK = "BENCH-RESULT "


class LaunchError(RuntimeError):
    """A launch did not give the answer its figure claims to time."""


@dataclass(frozen=True)
class Case:
    key: str
    label: str
    function_id: str | None  # None: the floor
    event: Callable[[World], dict[str, Any]] | None = None
    expect: Callable[[Any], bool] = lambda _answer: True
    expected: str = ""
    code_dir: Path | None = None  # another handler's code (the reference) instead of the template's
    target: float | None = None  # the ratio issue 12 asks for


def _status(code: int) -> Callable[[Any], bool]:
    return lambda answer: isinstance(answer, dict) and answer.get("statusCode") == code


def _batch_done(answer: Any) -> bool:
    return isinstance(answer, dict) and answer.get("batchItemFailures") == []


def _consumer(function_id: str) -> Callable[[World], dict[str, Any]]:
    def event(world: World) -> dict[str, Any]:
        return world.sqs_event(function_id, world.fed[function_id])

    return event


FLOOR = Case("floor", "floor: import the 4 packages", None)
CASES = (
    FLOOR,
    Case(
        "partner",
        "(a) partner booking by ids",
        API_FUNCTION,
        lambda w: w.partner_event(),
        _status(201),
        "201",
        target=1.4,
    ),
    Case(
        "public",
        "(b) public booking by name",
        API_FUNCTION,
        lambda w: w.public_event(),
        _status(201),
        "201",
        target=1.4,
    ),
    Case(
        "health", "(c) GET /health", API_FUNCTION, lambda w: w.health_event(), _status(200), "200"
    ),
    Case(
        "notify_email",
        "(d) notify_email, 1 SQS record",
        "ConfirmationEmailFunction",
        _consumer("ConfirmationEmailFunction"),
        _batch_done,
        "no failure",
    ),
    Case(
        "notify_staff",
        "(d) notify_staff, 1 SQS record",
        "StaffFollowUpFunction",
        _consumer("StaffFollowUpFunction"),
        _batch_done,
        "no failure",
    ),
    Case(
        "notify_text",
        "(d) notify_text, 1 SQS record",
        "TextBackFunction",
        _consumer("TextBackFunction"),
        _batch_done,
        "no failure",
    ),
    Case(
        "page",
        "(e) GET /book, the booking page",
        "PageFunction",
        # The hosted page's first view: its form with the open times (asked of the sandbox).
        lambda w: w._http_event("GET", "/book"),
        _status(200),
        "200",
    ),
    Case(
        "ref_partner",
        "reference handler, (a)",
        API_FUNCTION,
        lambda w: w.partner_event(),
        _status(201),
        "201",
        code_dir=REFERENCE_DIR,
    ),
    Case(
        "ref_public",
        "reference handler, (b)",
        API_FUNCTION,
        lambda w: w.public_event(),
        _status(201),
        "201",
        code_dir=REFERENCE_DIR,
    ),
)
CASE_KEYS = tuple(case.key for case in CASES)


@dataclass
class Launch:
    """One fresh process: seconds from the parent's start of it to each stamp."""

    started: float  # the interpreter ready: this script's first line
    imported: float  # the handler module imported (its init done)
    answered: float  # the first invocation answered (the harness's reading of stdin left out)
    answer: Any = None
    outcome: str | None = None
    #: ``--profile``: the probe's timings, ``start`` in seconds from the parent's start.
    calls: list[dict[str, Any]] = field(default_factory=list)
    #: CPU seconds of the process (all its threads): the interpreter's start-up before the
    #: child's first line, the import, the first invocation (the harness's reading of stdin
    #: left out, as from ``first``). The floor's ``cpu_first`` is 0.
    cpu_start: float = 0.0
    cpu_init: float = 0.0
    cpu_first: float = 0.0
    #: Peak resident memory (``VmHWM``) after the answer; None where Linux's /proc is not.
    rss_mib: float | None = None

    @property
    def total(self) -> float:
        return self.answered

    @property
    def cpu(self) -> float:
        """The process's CPU from its start to its answer."""
        return self.cpu_start + self.cpu_init + self.cpu_first

    @property
    def wait(self) -> float:
        """What of launch -> answer was not this process's CPU: waits on the servers (moto, the
        sandbox), the disk, the machine, and the parent's start of the process. Never below 0
        (two threads' CPU can overlap)."""
        return max(0.0, self.total - self.cpu)

    @property
    def init(self) -> float:
        return self.imported - self.started

    @property
    def first(self) -> float:
        return self.answered - self.imported


@dataclass
class Figures:
    case: Case
    launches: list[Launch] = field(default_factory=list)

    def median(self, attribute: str = "total") -> float:
        """The median of a ``Launch`` attribute: ``total``, ``started``, ``init``, ``first``,
        ``cpu``, ``cpu_start``, ``cpu_init``, ``cpu_first``, ``wait``."""
        return statistics.median(getattr(launch, attribute) for launch in self.launches)

    def peak_rss(self) -> float | None:
        """The highest peak resident memory of these launches, MiB (None if not read)."""
        values = [launch.rss_mib for launch in self.launches if launch.rss_mib is not None]
        return max(values) if values else None

    def low(self) -> float:
        return min(launch.total for launch in self.launches)

    def high(self) -> float:
        return max(launch.total for launch in self.launches)


def _outcome(stdout: str) -> str | None:
    """What a notification function says it did (its "notification done" log line)."""
    for line in stdout.splitlines():
        if '"outcome"' not in line:
            continue
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict) and entry.get("outcome"):
            return str(entry["outcome"])
    return None


def run_child(
    world: World,
    case: Case,
    *,
    python_args: tuple[str, ...] = (),
    extra_env: dict[str, str] | None = None,
) -> tuple[Launch, str, str]:
    """Start one fresh process for ``case``; (its figures, its stdout, its stderr)."""
    if case.function_id is None:
        argv = [*world.python, *python_args, str(CHILD), "--floor", ",".join(MANDATED)]
        env = world.floor_environment()
        cwd: Path = HERE
        stdin = b""
    else:
        argv = [*world.python, *python_args, str(CHILD), "app", "lambda_handler"]
        env = world.environment(case.function_id, case.code_dir)
        cwd = Path(env["LAMBDA_TASK_ROOT"])
        assert case.event is not None
        spec = {"event": case.event(world), "context": world.context(case.function_id)}
        stdin = json.dumps(spec).encode()
    env.update(extra_env or {})
    start = time.perf_counter()
    process = subprocess.Popen(  # noqa: S603 - our own interpreter and script
        argv,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        cwd=cwd,
    )
    out, err = process.communicate(stdin, timeout=120)
    stdout, stderr = out.decode(errors="replace"), err.decode(errors="replace")
    marks = [line for line in stdout.splitlines() if line.startswith(RESULT_MARK)]
    if process.returncode != 0 or not marks:
        raise LaunchError(
            f"{case.label}: the process exited {process.returncode} without a result\n"
            f"{stderr[-3000:]}{stdout[-2000:]}"
        )
    result = json.loads(marks[-1][len(RESULT_MARK) :])
    cpu = {
        "cpu_start": result["cpu_started"],
        "cpu_init": result["cpu_imported"] - result["cpu_started"],
        "rss_mib": result.get("rss_mib"),
    }
    if case.function_id is None:
        launch = Launch(
            result["started"] - start, result["imported"] - start, result["imported"] - start, **cpu
        )
    else:
        harness = result["invoked"] - result["imported"]  # reading the event: not the function's
        harness_cpu = result["cpu_invoked"] - result["cpu_imported"]
        launch = Launch(
            result["started"] - start,
            result["imported"] - start,
            result["answered"] - start - harness,
            result["answer"],
            _outcome(stdout),
            [{**call, "start": call["start"] - start} for call in result.get("calls") or []],
            cpu_first=result["cpu_answered"] - result["cpu_imported"] - harness_cpu,
            **cpu,
        )
        if not case.expect(launch.answer):
            raise LaunchError(
                f"{case.label}: answered {json.dumps(launch.answer)[:600]} where the figure "
                f"needs {case.expected}\n{stderr[-2000:]}{stdout[-3000:]}"
            )
    return launch, stdout, stderr


def prepare(world: World, warm_up: bool = True) -> None:
    """The round that is not counted (``warm_up``): bytecode compiled, file cache warm; and
    always the bus events the notification functions are fed (a booking, and a failed one on
    the slot it took)."""
    if warm_up:  # one launch per code path: the other cases import nothing more
        for case in CASES:
            if case.key in ("partner", "public", "page", "ref_partner"):
                run_child(world, case)
    taken = world.next_slot()
    booked = Case("setup", "setup booking", API_FUNCTION, lambda w: w.partner_event(taken))
    run_child(world, booked)
    failing = Case(
        "setup-failed",
        "setup booking on a taken slot",
        API_FUNCTION,
        lambda w: w.public_event(taken, FAILING),
        _status(409),
        "409 slot_unavailable",
    )
    run_child(world, failing)
    events = world.bus_events()
    for function_id, detail_type in CONSUMERS.items():
        chosen = [e for e in events if e.get("detail-type") == detail_type]
        if not chosen:
            raise LaunchError(f"no {detail_type} event on the bus to feed {function_id}")
        world.fed[function_id] = chosen[-1]
    if warm_up:
        for case in CASES:
            if case.function_id in CONSUMERS:
                run_child(world, case)


def measure(
    world: World,
    rounds: int,
    cases: tuple[Case, ...] = CASES,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Figures]:
    figures = {case.key: Figures(case) for case in cases}
    for number in range(rounds):
        shift = number % len(cases)
        for case in cases[shift:] + cases[:shift]:
            launch, _, _ = run_child(world, case)
            figures[case.key].launches.append(launch)
        if progress:
            progress(f"round {number + 1}/{rounds}")
    return figures


def without_bytecode(world: World, rounds: int = 1) -> dict[str, Figures]:
    """The floor, (a) and (b) with no bytecode to read, as ``sam build`` ships the layer (its
    sources only: every module is compiled at every cold start): an empty pycache prefix, and
    nothing written to it."""
    chosen = tuple(case for case in CASES if case.key in ("floor", "partner", "public"))
    figures = {case.key: Figures(case) for case in chosen}
    with tempfile.TemporaryDirectory(prefix="bench-nopyc-") as empty:
        extra = {"PYTHONPYCACHEPREFIX": empty, "PYTHONDONTWRITEBYTECODE": "1"}
        for _ in range(rounds):
            for case in chosen:
                launch, _, _ = run_child(world, case, extra_env=extra)
                figures[case.key].launches.append(launch)
    return figures
