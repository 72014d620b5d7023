"""The figures of one run: the compact table ``make bench`` prints, and docs/performance.md."""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from local.bench.artifact import MIB, LayerSize, subfolders
from local.bench.launch import Figures
from local.bench.warm import SERIES

#: Issue 12's targets.
WARM_P50_MS, WARM_P99_MS = 3.0, 6.0
AWS_CALLS_PER_BOOKING = 3
LAYER_WITHOUT_BOTO3_MIB = 15.0
RSS_MIB = 80.0


@dataclass
class Run:
    rounds: int
    #: What the children import: the layer as sam build installs it, or the venv's packages.
    imports: str = "the layer as sam build builds it (for this machine), python -S"
    started: datetime = field(default_factory=lambda: datetime.now(UTC))
    seconds: float = 0.0
    launch: dict[str, Figures] = field(default_factory=dict)
    no_bytecode: dict[str, Figures] = field(default_factory=dict)
    warm: dict[str, Any] = field(default_factory=dict)
    layer: LayerSize | None = None
    functions: dict[str, tuple[int, int, int | None]] = field(default_factory=dict)

    def machine(self) -> str:
        load = f", load {os.getloadavg()[0]:.1f}" if hasattr(os, "getloadavg") else ""
        return (
            f"{self.started:%Y-%m-%d %H:%M} UTC, {platform.system()} {platform.machine()}, "
            f"{os.cpu_count()} cores{load}, Python {platform.python_version()}"
        )


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f}"


def verdict(value: float, target: float, unit: str = "") -> str:
    if value <= target:
        return "met"
    return f"missed by {value - target:.{0 if float(value).is_integer() else 2}f}{unit}"


def _calls(per_booking: dict[str, float]) -> str:
    total = sum(per_booking.values())
    parts = [
        f"{name.split('.', 1)[-1]}" + (f" x{n:g}" if n != 1 else "")
        for name, n in per_booking.items()
    ]
    return f"{total:g}: " + ", ".join(parts) if parts else "0"


# -- the printed table ---------------------------------------------------------------------------


def table(run: Run) -> str:
    lines = [f"make bench: {run.machine()}", ""]
    if run.launch:
        lines += _launch_lines(run)
    if run.warm:
        lines += _warm_lines(run)
    if run.layer is not None:
        lines += _artifact_lines(run)
    lines.append(f"(this run took {run.seconds:.0f} s)")
    return "\n".join(lines)


def _launch_lines(run: Run) -> list[str]:
    floor = run.launch["floor"].median()
    lines = [
        "1. launch -> first answer: a fresh python each (start + init + first invocation), real",
        "   botocore clients over HTTP to moto server, Oliver sandbox over HTTP; median of "
        f"{run.rounds} rotated rounds;",
        f"   imports from {run.imports}",
        f"   {'':34} {'median':>7} {'min-max':>11} {'start':>6} {'init':>6} {'first':>6} "
        f"{'ratio':>6}  target",
    ]
    for key, figures in run.launch.items():
        case = figures.case
        ratio = figures.median() / floor
        if case.target is not None:
            target = f"<= {case.target:.2f}x: {verdict(ratio, case.target, 'x')}"
        elif key == "floor":
            target = ""
        else:
            target = "reported"
        first = "-" if key == "floor" else _ms(figures.median("first"))
        outcome = next((launch.outcome for launch in figures.launches if launch.outcome), None)
        if outcome:
            target += f" (it logged: {outcome})"
        lines.append(
            f"   {case.label:34} {_ms(figures.median()):>4} ms {_ms(figures.low()):>5}-"
            f"{_ms(figures.high()):<5} {_ms(figures.median('started')):>6} "
            f"{_ms(figures.median('init')):>6} {first:>6} {ratio:>5.2f}x  {target}"
        )
    if run.no_bytecode:
        nopyc = run.no_bytecode
        base = nopyc["floor"].median()
        parts = [f"floor {_ms(base)} ms"] + [
            f"{f.case.label.split(' ', 1)[0]} {_ms(f.median())} ms = {f.median() / base:.2f}x"
            for key, f in nopyc.items()
            if key != "floor"
        ]
        count = len(nopyc["floor"].launches)
        lines.append(
            f"   without bytecode, as a layer built without python3.13 ({count} round"
            f"{'s' if count > 1 else ''}): " + "; ".join(parts)
        )
    return [*lines, ""]


def _warm_lines(run: Run) -> list[str]:
    warm = run.warm["warm"]
    lines = [
        "2. warm own time per booking: botocore's and httpx's work included, no network (canned",
        f"   AWS answers, the sandbox's logic in-process; its time taken off); "
        f"{next(iter(warm.values()))['bookings']} bookings each",
        f"   {'':34} {'p50':>7} {'p99':>7}  AWS calls / booking; upstream requests / booking",
    ]
    for key, label in SERIES.items():
        series = warm[key]
        lines.append(
            f"   {label:34} {series['p50_ms']:>4.2f} ms {series['p99_ms']:>4.2f} ms  "
            f"{_calls(series['aws'])}; {_calls(series['upstream'])}"
        )
    worst_p50 = max(warm[k]["p50_ms"] for k in ("partner", "public"))
    worst_p99 = max(warm[k]["p99_ms"] for k in ("partner", "public"))
    most_calls = max(sum(warm[k]["aws"].values()) for k in ("partner", "public"))
    lines.append(
        f"   targets for (a) and (b): p50 <= {WARM_P50_MS:g} ms: "
        f"{verdict(worst_p50, WARM_P50_MS, ' ms')}; p99 <= {WARM_P99_MS:g} ms: "
        f"{verdict(worst_p99, WARM_P99_MS, ' ms')}; <= {AWS_CALLS_PER_BOOKING} AWS calls: "
        f"{verdict(most_calls, AWS_CALLS_PER_BOOKING)}"
    )
    stages = run.warm.get("rss_stages") or {}
    earlier = "".join(f"{mib:.1f} MiB after the {name}, " for name, mib in stages.items())
    lines.append(
        f"   peak RSS: {earlier}{run.warm['rss_mib']:.1f} MiB after "
        f"{run.warm['rss_bookings']:,} warm bookings (<= {RSS_MIB:g} MiB: "
        f"{verdict(run.warm['rss_mib'], RSS_MIB, ' MiB')})"
    )
    rate = run.warm.get("throughput")
    if rate:
        lines.append(
            f"   throughput, public bookings against the sandbox over loopback HTTP: "
            f"{rate['per_second']:.1f}/s; while warm ({rate['bookings']} bookings): "
            f"{rate['secret_reads']} secret reads, {rate['new_connections']} new connections"
        )
    return [*lines, ""]


def _artifact_lines(run: Run) -> list[str]:
    layer = run.layer
    assert layer is not None
    without = layer.without
    lines = [
        f"3. artifact: the layer ({layer.source})",
        f"   everything                         {layer.raw() / MIB:6.1f} MiB unzipped "
        f"{layer.zipped() / MIB:6.1f} MiB zipped",
        f"   without boto3 and what only it needs {layer.raw(without) / MIB:4.1f} MiB unzipped "
        f"{layer.zipped(without) / MIB:6.1f} MiB zipped  (<= {LAYER_WITHOUT_BOTO3_MIB:g} MiB: "
        f"{verdict(layer.raw(without) / MIB, LAYER_WITHOUT_BOTO3_MIB, ' MiB')})",
        f"     ({', '.join(without)})",
        "   biggest: "
        + ", ".join(f"{p.name} {p.raw / MIB:.1f}" for p in layer.biggest(6))
        + " MiB unzipped",
    ]
    phone = layer.packages.get("phonenumbers") or layer.packages.get("phonenumberslite")
    if phone is not None:
        shares = ", ".join(
            f"{name} {size / MIB:.1f}"
            for name, size in list(subfolders(phone).items())[:4]
            if size >= MIB / 10
        )
        lines.append(f"   {phone.name}: {phone.raw / MIB:.1f} MiB ({shares} MiB)")
    sam = layer.sam_bytecode_files
    lines.append(
        f"   .pyc files: {layer.bytecode_files:,} in this layer"
        + (f", {sam:,} in .aws-sam/build's layer" if sam is not None else "")
    )
    parts = []
    for name, (raw, _, deps) in run.functions.items():
        extra = f" + its requirements {deps / MIB:.1f} MiB" if deps else ""
        parts.append(f"{name} {raw / 1024:.1f} KiB{extra}")
    line = "   functions' own code (unzipped): "
    for number, part in enumerate(parts):
        text = part + ("," if number < len(parts) - 1 else "")
        if len(line) + len(text) > 100:
            lines.append(line.rstrip())
            line = "     "
        line += text + " "
    lines.append(line.rstrip())
    return [*lines, ""]


# -- docs/performance.md ---------------------------------------------------------------------


HEADER = """\
# Performance

<!-- Written by `make bench ARGS=--write` (local/bench/): do not edit by hand, run it again. -->

`make bench ARGS=--write` writes this file from one run of `make bench` (which only prints the
same table); every ratio compares figures of that one run. It is not part of `make test`, and no
test asserts a time. What is measured, and how, is in the docstrings of `local/bench/`.

This run: {machine}; it took {seconds:.0f} s.
Absolute times depend on the machine and on what else runs on it (the load is the 1-minute load
average when the run began; Lambda runs arm64); the ratios much less. Rerun on a quiet machine
before judging a target that is close.
"""


def markdown(run: Run, table_text: str) -> str:
    parts = [HEADER.format(machine=run.machine(), seconds=run.seconds)]
    parts.append("## The figures\n\n```\n" + table_text + "\n```\n")
    parts.append(_targets(run))
    parts.append(MEANINGS)
    parts.append(CROSS_CHECK)
    return "\n".join(parts)


def _targets(run: Run) -> str:
    rows = [
        "## Issue 12's targets\n",
        "| figure | this run | target | |",
        "| --- | --- | --- | --- |",
    ]
    if run.launch:
        floor = run.launch["floor"].median()
        for key in ("partner", "public"):
            ratio = run.launch[key].median() / floor
            rows.append(
                f"| launch -> first 201 / floor, {run.launch[key].case.label} | "
                f"{ratio:.2f}x | <= 1.40x | {verdict(ratio, 1.4, 'x')} |"
            )
        for key in ("ref_partner", "ref_public"):
            if key in run.launch:
                ratio = run.launch[key].median() / floor
                rows.append(f"| the same, {run.launch[key].case.label} | {ratio:.2f}x | - | - |")
    if run.warm:
        warm = run.warm["warm"]
        for key in ("partner", "public"):
            series = warm[key]
            rows.append(
                f"| warm own time, {SERIES[key]}: p50 / p99 | {series['p50_ms']:.2f} / "
                f"{series['p99_ms']:.2f} ms | <= 3 / <= 6 ms | "
                f"{verdict(series['p50_ms'], 3, ' ms')} / {verdict(series['p99_ms'], 6, ' ms')} |"
            )
            calls = sum(series["aws"].values())
            rows.append(
                f"| AWS calls per warm booking, {SERIES[key]} | {calls:g} | 3 | "
                f"{verdict(calls, 3)} |"
            )
        rate = run.warm.get("throughput")
        if rate:
            rows.append(
                f"| secret reads / new upstream connections in {rate['bookings']} warm bookings | "
                f"{rate['secret_reads']} / {rate['new_connections']} | 0 / 0 | "
                f"{verdict(rate['secret_reads'] + rate['new_connections'], 0)} |"
            )
        rss = run.warm["rss_mib"]
        rows.append(
            f"| peak RSS after {run.warm['rss_bookings']:,} bookings | {rss:.1f} MiB | "
            f"<= 80 MiB | {verdict(rss, 80, ' MiB')} |"
        )
    if run.layer is not None:
        size = run.layer.raw(run.layer.without) / MIB
        rows.append(
            f"| layer without boto3/botocore, unzipped | {size:.1f} MiB | <= 15 MiB | "
            f"{verdict(size, 15, ' MiB')} |"
        )
    return "\n".join(rows) + "\n"


MEANINGS = """\
## What each figure means

**1. Launch -> first answer** is what the first visitor of a new Lambda container waits for (on
Lambda, the init phase and the first invocation are one wait). Each figure is a fresh `python`
process (the venv's interpreter, the Lambda runtime's version, with `-S`) started by
`local/bench/child.py`: *start* is the interpreter's own start-up, *init* the import of the
function's module (whatever it does at import: our init), *first* the first invocation with a
real API Gateway payload 2.0 event (or SQS batch) until the handler returns. The function's
environment is template.yaml's (`Template.environment` with `LocalSettings` pointing at this
run's servers, plus the variables the Lambda runtime sets); its boto3 clients are real and talk
HTTP to one moto server (`AWS_ENDPOINT_URL`), seeded once as the local stack seeds it; Oliver is
the sandbox over HTTP. So the first invocation includes the network waits a visitor has, with
local servers: real AWS adds TLS handshakes and distance, moto adds its own work. The children
import the layer's dependencies as `sam build` builds them (layers/booking/build_layer.py, for
this machine: pruned, with their bytecode), and a function's own requirements as `sam build`
installs them (`pip install --target`), both kept in the system's temporary folder, and run
`python -S`, so nothing of the venv is importable:
the venv's development tools include click, rich and pygments, and httpx imports its command
line when they are there (`--offline` uses the venv anyway, and says so). Every case
posts a fresh slot with a fresh idempotency key, and the bench stops unless the answer is the
real one (201 for a booking, 200 for /health, no failed record for a notification), so a figure
is never the time of an error or a replay. The bench's address is in `ThrottleExemptCidrs`;
CAPTCHA is off (the template's default); a taken slot is answered 409 by the sandbox.

- *floor*: a fresh process that imports `aws_lambda_powertools`, `httpx`, `pydantic` and
  `boto3` and does nothing else. Every *ratio* is a case's median over the floor's median.
- *(a)* a signed partner's booking by Oliver's ids (`POST /webhooks/partner-demo`, Standard
  Webhooks); *(b)* a public booking by name (`POST /bookings`, Jane Doe, jane@example.com, Rex):
  targets <= 1.4x each.
- *(c)* `GET /health`; *(d)* each notification function with one SQS record of a real bus event
  (the confirmation email of an Appointment Booked; the staff task and the text-back of a
  slot_unavailable Booking Failed), a new event id each time: reported, the outcome the function
  logged in brackets.
- *reference handler*: `local/bench/reference/app.py`, a booking function as one would write it
  in an afternoon with the same packages and Powertools' defaults (clients and the persistence
  layer built at import), launched the same way with the same environment.
- *without bytecode*: a layer built where no Python 3.13 is found has no `.pyc` files (the
  build says so), and `/opt` is read-only, so on Lambda every cold start then compiles every
  module it imports. The same launches with an empty `PYTHONPYCACHEPREFIX` and
  `PYTHONDONTWRITEBYTECODE=1` show what that costs. The figures above are with bytecode, as the
  layer ships it.

Rounds rotate the order of the cases so that the machine's drift spreads over all of them; a
first round, not counted, compiles the bytecode the layer does not ship (our code, imported
from the repository), warms the file cache and makes the bus events the notification functions
are fed. `--rounds N` changes the count (default 10).

**2. Warm own time per booking** is the CPU our code and its libraries spend on one warm booking,
botocore's work included and network waits excluded: the real handler in one process
(`local/bench/warm_child.py`), AWS answered through botocore's `before-send` event with canned
answers (so botocore builds, signs and serialises every request and parses every answer), Oliver
answered by the sandbox's own logic behind httpx's transport (so httpx builds and reads every
request and response). The time spent inside both stand-ins is measured and taken off. p50 and
p99 over the bookings of each series after 30 warm-up ones: (a) and (b) as above, and (b) from a
visitor the per-IP throttle counts (one more DynamoDB call). AWS calls and upstream requests are
counted per booking. *Peak RSS* is the process's peak resident memory (Linux's `VmHWM`) after
its import, its first booking, and all its warm bookings (`--rss-bookings`, default 2,000; the
in-process sandbox and the harness are in it too, about 1 MiB at import).
*Throughput*: warm public bookings against the sandbox over loopback HTTP (AWS still canned),
with the secret reads and new TCP connections made while warm: both 0 by design.

**3. Artifact**: the layer as `sam build` makes it (layers/booking/build_layer.py:
`pip install -r layers/booking/requirements.txt --target`, arm64 wheels for CPython 3.13,
botocore's data pruned to the AWS services the code uses, what never runs removed, our `booking`
package, and unchecked-hash bytecode when the bench runs on 3.13; kept in the system's
temporary folder for the next run). Unzipped is what counts against Lambda's 250 MiB limit,
bytecode included; zipped is deflate, as uploaded. *Without boto3* drops boto3 and what only it
needs (the Lambda Python runtime ships them too, with every service's data: the layer keeps its
own pruned copy). The biggest distributions, and the phone-number library's parts: the full
`phonenumbers` carries `geodata`, `carrierdata` and `tzdata` for geocoder, carrier and
time-zone lookups the function never makes, which `phonenumberslite` leaves out. `.pyc` files
are counted in the layer measured, and in `.aws-sam/build` when a `make build` left one. Each
function's own code is its `CodeUri` folder; a function's own requirements (the email
function's icalendar) are sized as `sam build` adds them to its artifact.

## Where the time goes

`python -m local.bench --profile partner` (or `public`) launches one cold process of that case
twice: once under `python -X importtime`, whose module times are summed by package for the init
and for the first invocation (modules imported lazily), and once with cProfile around the init
and around the first invocation and a probe that times each boto3 client creation, each AWS
call (and its wait on the socket) and each upstream request. It prints both; use it before and
after a change. `python -m local.bench --profile warm` runs the warm series under cProfile and
gives a warm booking's own time by package (botocore, httpx, our code, the standard library's
modules, ...), per booking.
"""

CROSS_CHECK = """\
## Cross-checking a figure from outside

The bench times its children from the inside (monotonic stamps compared with the instant the
parent started them). To check a launch figure with a whole-process timer instead, start a world
that stays up and hands out fresh events:

```
.venv/bin/python -m local.bench --serve /tmp/bench-world
```

It prints, for the floor, (a) and (b), a command whose every run launches one fresh process on
an event of its own (a new slot and delivery id each time; unused partner deliveries are signed
again every minute, as the signature is good for five). Time (a) or (b) against the floor with
any whole-process timer, alternating the two commands and taking the median of the ratios of
pairs: GNU time (`/usr/bin/time -v`) in a shell loop, or hyperfine. A whole-process figure also
counts the interpreter's teardown, which the bench leaves out.
"""
