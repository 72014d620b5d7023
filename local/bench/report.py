"""The figures of one run: the compact table ``make bench`` prints, and docs/performance.md."""

from __future__ import annotations

import os
import platform
import re
import statistics
import textwrap
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from local.bench.artifact import MIB, LayerSize, subfolders
from local.bench.launch import Figures, Launch
from local.bench.warm import SERIES
from local.template import Template

#: Issue 12's targets.
WARM_P50_MS, WARM_P99_MS = 3.0, 6.0
AWS_CALLS_PER_BOOKING = 3
LAYER_WITHOUT_BOTO3_MIB = 15.0
RSS_MIB = 80.0

#: The memory-size estimate (section 4; the model is MEMORY_MODEL's text). AWS: "At 1,769 MB, a
#: function has the equivalent of one vCPU (one vCPU-second of credits per second)", a
#: proportional share below (Lambda Developer Guide, "Configure Lambda function memory").
FULL_CPU_MB = 1769
MEMORY_SIZES = (256, 512, 1024, 1769, 3008)
#: arm64 duration price, US East (N. Virginia), first 7.5 billion GB-s a month, and the request
#: price, as https://aws.amazon.com/lambda/pricing/ lists them: prices change, check there.
PRICE_PER_GB_S = 0.0000133334
PRICE_PER_REQUEST = 0.20 / 1_000_000
#: Assumed: the network waits of a real booking or notification (Oliver and AWS over the
#: internet, connections kept open while warm). The bench's local servers answer far faster.
NETWORK_WAIT_S = 0.150
#: A wide margin: the highest peak RSS measured at most this share of the memory size.
RSS_SHARE = 0.5
#: Lambda's limit on an on-demand init; past it, the init is retried inside the first invocation.
INIT_LIMIT_S = 10.0
#: Background inits must stay within this share of that limit: Lambda's arm64 core and its CPU
#: share during init may well differ from this machine's core, which stands for it here.
INIT_SHARE = 0.5
#: Visitor-facing functions: the smallest size whose cold start is within this of the fastest.
COLD_TOLERANCE = 1.10
#: What a visitor waits for (sized for the cold start); every other function runs in the background.
VISITOR_FACING = ("ApiFunction", "PageFunction")
VISITOR_CASES = ("partner", "public", "page")
BACKGROUND_CASES = ("notify_email", "notify_staff", "notify_text")
#: A real booking's volume at a vet practice, for the cost in the text (assumed).
BOOKINGS_PER_MONTH = 1000


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
    if run.launch:
        lines += _memory_lines(run)
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
        f"{next(iter(warm.values()))['bookings']} bookings each;",
        "   CPU: the process's CPU time per booking (mean), the stand-ins' own CPU taken off",
        f"   {'':34} {'p50':>7} {'p99':>7} {'CPU':>7}  AWS calls / booking; upstream requests / "
        "booking",
    ]
    for key, label in SERIES.items():
        series = warm[key]
        cpu = f"{series['cpu_mean_ms']:>4.2f} ms" if "cpu_mean_ms" in series else f"{'-':>7}"
        lines.append(
            f"   {label:34} {series['p50_ms']:>4.2f} ms {series['p99_ms']:>4.2f} ms {cpu}  "
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


# -- section 4: memory size ----------------------------------------------------------------------


def cpu_factor(mb: int) -> float:
    """How much longer CPU work takes at ``mb`` than on one full core: 1769/M below 1,769 MB, 1
    from there on (a second vCPU only helps threads running at once, which the GIL rarely
    lets Python do)."""
    return max(1.0, FULL_CPU_MB / mb)


def cold_start_at(launch: Launch, mb: int) -> float:
    """One launch's launch -> first answer at ``mb``: its CPU scaled, its wait as measured."""
    return launch.cpu * cpu_factor(mb) + launch.wait


def init_at(launch: Launch, mb: int) -> float:
    """Its start and init alone at ``mb``: what Lambda's init limit applies to."""
    cpu = launch.cpu_start + launch.cpu_init
    return cpu * cpu_factor(mb) + max(0.0, launch.imported - cpu)


def median_at(figures: Figures, mb: int, estimate: Any = cold_start_at) -> float:
    return statistics.median(estimate(launch, mb) for launch in figures.launches)


def warm_seconds(series: dict[str, Any], mb: int) -> float:
    """A warm booking's billed duration at ``mb``: its mean CPU scaled, plus the network waits
    assumed."""
    return series["cpu_mean_ms"] / 1000 * cpu_factor(mb) + NETWORK_WAIT_S


def gb_s(mb: int, seconds: float) -> float:
    return mb / 1024 * seconds


def cost_per_1000(mb: int, seconds: float) -> float:
    """Dollars for 1,000 invocations of ``seconds`` each at ``mb``: GB-s x price + requests."""
    return 1000 * (gb_s(mb, seconds) * PRICE_PER_GB_S + PRICE_PER_REQUEST)


@dataclass
class MemoryChoice:
    """The sizes this run's figures choose, and the figures they rest on."""

    visitor: int
    background: int
    rss_mib: float  # the highest peak RSS measured, any function
    rss_where: str
    visitor_keys: tuple[str, ...]
    background_keys: tuple[str, ...]


def _cases(run: Run, keys: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(key for key in keys if key in run.launch)


def choose(run: Run) -> MemoryChoice:
    """Visitor-facing functions: the smallest size whose estimated cold starts are each within
    ``COLD_TOLERANCE`` of the fastest size's. Background functions: the smallest size where the
    highest peak RSS measured is at most ``RSS_SHARE`` of it and every init estimated (the
    notification functions', and the API function's as the bound of the functions the bench does
    not launch) stays under Lambda's init limit. Both also keep the RSS margin."""
    visitor_keys = _cases(run, VISITOR_CASES)
    background_keys = _cases(run, BACKGROUND_CASES)
    peaks = [
        (figures.peak_rss(), f"{figures.case.label}, after its first answer")
        for key, figures in run.launch.items()
        if key in visitor_keys + background_keys
    ]
    if run.warm:
        peaks.append(
            (
                run.warm["rss_mib"],
                f"the API function after {run.warm['rss_bookings']:,} warm bookings",
            )
        )
    known = [(mib, where) for mib, where in peaks if mib is not None]
    rss_mib, rss_where = max(known) if known else (0.0, "not measured")

    def roomy(mb: int) -> bool:
        return rss_mib <= RSS_SHARE * mb

    def fast(mb: int) -> bool:
        return all(
            median_at(run.launch[key], mb)
            <= COLD_TOLERANCE * min(median_at(run.launch[key], n) for n in MEMORY_SIZES)
            for key in visitor_keys
        )

    def inits_fit(mb: int) -> bool:
        keys = background_keys + _cases(run, ("partner", "public"))
        limit = INIT_SHARE * INIT_LIMIT_S
        return all(median_at(run.launch[key], mb, init_at) <= limit for key in keys)

    visitor = next((mb for mb in MEMORY_SIZES if roomy(mb) and fast(mb)), MEMORY_SIZES[-1])
    background = next((mb for mb in MEMORY_SIZES if roomy(mb) and inits_fit(mb)), visitor)
    return MemoryChoice(visitor, background, rss_mib, rss_where, visitor_keys, background_keys)


def flood_limits() -> tuple[float, int]:
    """template.yaml's stage rate limit (requests a second) and the default reserved concurrency
    of the visitor-facing functions: what bounds a flood's cost."""
    template = Template()
    api = template.resources["HttpApi"]["Properties"]["DefaultRouteSettings"]
    reserved = template.parameters["ApiReservedConcurrency"]["Default"]
    return float(api["ThrottlingRateLimit"]), int(reserved)


def template_sizes() -> dict[str, int]:
    """Every function's MemorySize in template.yaml (Globals' where it has none of its own)."""
    return {name: spec.memory_size for name, spec in Template().functions().items()}


def _template_words(choice: MemoryChoice) -> str:
    """Whether template.yaml has the sizes this run chooses, and where not."""
    sizes = template_sizes()
    wanted = {
        name: choice.visitor if name in VISITOR_FACING else choice.background for name in sizes
    }
    off = [
        f"{name} has {sizes[name]} MB (chosen: {wanted[name]})"
        for name in sizes
        if sizes[name] != wanted[name]
    ]
    if not off:
        return "template.yaml has these sizes."
    return "template.yaml differs: " + "; ".join(off) + "."


def _wrap(text: str, indent: str = "   ", width: int = 100) -> list[str]:
    lines: list[str] = []
    line = indent
    for word in text.split(" "):
        if len(line) + len(word) > width and line.strip():
            lines.append(line.rstrip())
            line = indent
        line += word + " "
    lines.append(line.rstrip())
    return lines


def _short(label: str) -> str:
    return label.split(",")[0]


def machine_cpu() -> str:
    """This machine's processor, as /proc/cpuinfo names it (else what platform says)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as info:
            for line in info:
                if line.startswith("model name"):
                    return f"{line.split(':', 1)[1].strip()}, {platform.machine()}"
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _memory_lines(run: Run) -> list[str]:
    choice = choose(run)
    sizes = "".join(f"{mb:>5} MB" for mb in MEMORY_SIZES)
    blank = f"{'':23}"  # the CPU, wait and RSS columns
    lines = [
        "4. memory size: an estimate for Lambda from this run's CPU times, not a measurement on "
        "Lambda.",
        f"   Lambda gives a function CPU in proportion to its MemorySize M, one vCPU at "
        f"{FULL_CPU_MB:,} MB:",
        f"   CPU work of C ms takes C x max(1, {FULL_CPU_MB}/M) ms there; waits do not scale. "
        "One core of",
        f"   this machine ({machine_cpu()}) stands for Lambda's arm64 vCPU",
        f"   cold start = CPU x max(1, {FULL_CPU_MB}/M) + wait (median of the launches of "
        "section 1; CPU:",
        "   the process's, all threads, start to first answer; wait: the rest, at every M "
        "as here, on",
        "   local servers); RSS: the launches' highest peak resident memory after the first answer",
        f"   {'':33} {'CPU':>7} {'wait':>7} {'RSS':>7}{sizes}",
    ]
    for key in ("floor", *choice.visitor_keys, *choice.background_keys):
        if key not in run.launch:
            continue
        figures = run.launch[key]
        rss = figures.peak_rss()
        rss_text = f"{rss:>3.0f} MiB" if rss is not None else f"{'-':>7}"
        lines.append(
            f"   {figures.case.label:33} {_ms(figures.median('cpu')):>4} ms "
            f"{_ms(figures.median('wait')):>4} ms {rss_text}"
            + "".join(f"{median_at(figures, mb):>6.1f} s" for mb in MEMORY_SIZES)
        )
    warm = run.warm.get("warm") if run.warm else None
    if warm and not all("cpu_mean_ms" in series for series in warm.values()):
        warm = None
    if warm:
        lines.append(
            f"   warm booking: CPU per booking (mean of {next(iter(warm.values()))['bookings']}, "
            f"section 2) x max(1, {FULL_CPU_MB}/M)"
        )
        for key in ("partner", "public"):
            cpu = warm[key]["cpu_mean_ms"]
            lines.append(
                f"   {SERIES[key]:33} {cpu:>4.2f} ms {'':15}"
                + "".join(f"{cpu * cpu_factor(mb):>5.1f} ms" for mb in MEMORY_SIZES)
            )
    lines += [
        f"   {'highest peak RSS, share of M':33} {'':15} {choice.rss_mib:>3.0f} MiB"
        + "".join(f"{choice.rss_mib / mb:>8.0%}" for mb in MEMORY_SIZES),
        f"     (the highest: {choice.rss_mib:.1f} MiB, {choice.rss_where})",
        f"   $ per 1,000 = 1,000 x (M/1024 x seconds x ${PRICE_PER_GB_S:.10f} per GB-s + "
        f"${PRICE_PER_REQUEST:.7f}),",
        f"   seconds = CPU x max(1, {FULL_CPU_MB}/M) + {NETWORK_WAIT_S * 1000:.0f} ms of network "
        "waits assumed (warm: the mean CPU",
        "   above; cold: the launch's CPU, plus its wait); Lambda's arm64 prices in US East, as",
        "   aws.amazon.com/lambda/pricing lists them (they change)",
        f"   {'$ per 1,000 invocations':33} {blank}{sizes}",
    ]
    if warm:
        for key in ("partner", "public"):
            lines.append(
                f"   {_short(SERIES[key]) + ', warm':33} {blank}"
                + "".join(
                    f"{cost_per_1000(mb, warm_seconds(warm[key], mb)):>8.5f}" for mb in MEMORY_SIZES
                )
            )
    for key in (*choice.visitor_keys, *choice.background_keys):
        figures = run.launch[key]
        lines.append(
            f"   {_short(figures.case.label) + ', cold':33} {blank}"
            + "".join(
                f"{cost_per_1000(mb, median_at(figures, mb) + NETWORK_WAIT_S):>8.5f}"
                for mb in MEMORY_SIZES
            )
        )
    choice_text = (
        f"choice: {' and '.join(VISITOR_FACING)} {choice.visitor} MB (visitors wait: the smallest "
        f"M whose cold starts are each within {COLD_TOLERANCE - 1:.0%} of the fastest M's); the "
        f"others {choice.background} MB (the smallest M of which the highest peak RSS is at most "
        f"{RSS_SHARE:.0%} and the inits take at most {INIT_SHARE * INIT_LIMIT_S:.0f} s, half "
        f"Lambda's {INIT_LIMIT_S:.0f} s limit). "
    )
    lines += _wrap(choice_text + _template_words(choice))
    return [*lines, ""]


# -- docs/performance.md ---------------------------------------------------------------------


def _s(seconds: float) -> str:
    return f"{seconds:.1f} s"


def _dollars(amount: float) -> str:
    return (
        f"${amount:.2f}"
        if amount >= 1
        else f"${amount:.4f}"
        if amount >= 0.001
        else (f"${amount:.6f}")
    )


def memory_markdown(run: Run) -> str:
    """The "Memory size" section of docs/performance.md: the model, what it assumes, and the
    choice from this run's figures (section 4 of the table)."""
    choice = choose(run)
    visitor, background = choice.visitor, choice.background
    parts = [
        MEMORY_MODEL.format(
            full=FULL_CPU_MB,
            wait_ms=NETWORK_WAIT_S * 1000,
            price=f"{PRICE_PER_GB_S:.10f}",
            request=f"{PRICE_PER_REQUEST:.7f}",
            visitor=visitor,
            background=background,
            template=_template_words(choice),
        )
    ]
    launch = run.launch
    warm = (run.warm or {}).get("warm") or {}
    if not all("cpu_mean_ms" in series for series in warm.values()):
        warm = {}

    # -- visitor-facing
    colds = []
    for key in choice.visitor_keys:
        figures = launch[key]
        at = ", ".join(f"{_s(median_at(figures, mb))} at {mb:,} MB" for mb in (512, 1024, visitor))
        colds.append(f"{_short(figures.case.label)} {at}")
    text = (
        "*Visitor-facing: ApiFunction and PageFunction.* A visitor who meets a new container "
        "waits for the whole cold start: " + "; ".join(colds) + f". Above {FULL_CPU_MB:,} MB it "
        f"is no faster ({MEMORY_SIZES[-1]:,} MB: the same estimate). The smallest size whose "
        f"estimates are each within {COLD_TOLERANCE - 1:.0%} of the fastest is {visitor:,} MB."
    )
    if warm and "public" in launch:
        public = warm["public"]
        warm_s = warm_seconds(public, visitor)
        cold_s = median_at(launch["public"], visitor) + NETWORK_WAIT_S
        month_cold = cost_per_1000(visitor, cold_s) * BOOKINGS_PER_MONTH / 1000
        month_warm = cost_per_1000(visitor, warm_s) * BOOKINGS_PER_MONTH / 1000
        month_cold_512 = (
            cost_per_1000(512, median_at(launch["public"], 512) + NETWORK_WAIT_S)
            * BOOKINGS_PER_MONTH
            / 1000
        )
        rate, reserved = flood_limits()
        flood = rate * 86_400
        flood_cost = flood * (gb_s(visitor, warm_s) * PRICE_PER_GB_S + PRICE_PER_REQUEST)
        flood_512 = flood * (
            gb_s(512, warm_seconds(public, 512)) * PRICE_PER_GB_S + PRICE_PER_REQUEST
        )
        cap = reserved * gb_s(visitor, 86_400) * PRICE_PER_GB_S
        text += (
            f" What it costs: a warm public booking at {visitor:,} MB bills "
            f"{gb_s(visitor, warm_s):.3f} GB-s ({public['cpu_mean_ms']:.1f} ms of CPU and "
            f"{NETWORK_WAIT_S * 1000:.0f} ms of waits), "
            f"{_dollars(cost_per_1000(visitor, warm_s) / 1000)} with its request; a cold one "
            f"{gb_s(visitor, cold_s):.2f} GB-s, {_dollars(cost_per_1000(visitor, cold_s) / 1000)}. "
            f"A practice taking {BOOKINGS_PER_MONTH:,} bookings a month (an assumption) pays "
            f"between {_dollars(month_warm)} (no booking meets a cold container) and "
            f"{_dollars(month_cold)} (every one does) a month for them at this size, against at "
            f"most {_dollars(month_cold_512)} at 512 MB: fractions of a cent per booking. "
            f"The size's price shows in a flood: at "
            f"API Gateway's stage rate limit ({rate:g} requests a second, all day, each "
            f"priced as a warm public booking, which a refused request is not) a day costs "
            f"about {_dollars(flood_cost)} at {visitor:,} MB against {_dollars(flood_512)} at "
            f"512 MB; `ApiReservedConcurrency` ({reserved} by default, for each of the two "
            f"functions) caps a function's day at {reserved} x M/1024 x 86,400 GB-s, "
            f"{_dollars(cap)} at {visitor:,} MB."
        )
    if run.warm:
        text += (
            f" The API function's peak RSS, {run.warm['rss_mib']:.1f} MiB after "
            f"{run.warm['rss_bookings']:,} warm bookings, is "
            f"{run.warm['rss_mib'] / visitor:.0%} of {visitor:,} MB."
        )
    parts.append(_paragraph(text))

    # -- background
    if choice.background_keys:
        notify = [launch[key] for key in choice.background_keys]
        low = min(median_at(f, background) for f in notify)
        high = max(median_at(f, background) for f in notify)
        init_high = max(median_at(f, background, init_at) for f in notify)

        def dearest(mb: int) -> float:
            return max(cost_per_1000(mb, median_at(f, mb) + NETWORK_WAIT_S) for f in notify)

        text = (
            "*Background: the notification functions, SettleFunction, ReplayFunction, "
            "TokenRefresherFunction.* Nobody waits for them, so what they cost counts, and "
            f"below {FULL_CPU_MB:,} MB the size hardly changes it: C seconds of CPU bill "
            f"M/1024 x C x {FULL_CPU_MB}/M = C x {FULL_CPU_MB}/1024 GB-s at any M below it, so a "
            "smaller size saves only on the waits. 1,000 cold notifications cost at most "
            + ", ".join(
                f"{_dollars(dearest(mb))} at {mb:,} MB"
                for mb in sorted({MEMORY_SIZES[0], background, FULL_CPU_MB})
            )
            + f". The smallest size of which the highest peak RSS measured ({choice.rss_mib:.1f} "
            f"MiB) is at most {RSS_SHARE:.0%} and whose inits stay within "
            f"{INIT_SHARE * INIT_LIMIT_S:.0f} s, half of Lambda's {INIT_LIMIT_S:.0f} s limit "
            "(past it, Lambda retries the init inside the first invocation; this machine's core "
            "only stands for Lambda's, hence the margin) "
            f"is {background:,} MB. There a notification's cold start is {_s(low)} to "
            f"{_s(high)} (its init at most {_s(init_high)}), which a queue's consumer can afford "
            f"(their timeouts: {_timeouts(choice.background_keys, run)})."
        )
        bound = [launch[key] for key in ("partner", "public") if key in launch]
        if bound:
            api_init = max(median_at(f, background, init_at) for f in bound)
            text += (
                " The bench launches neither the settle, the replay nor the token refresher "
                "function; each imports a part of what the API function imports (the same layer), "
                f"so the API function's launch bounds theirs: its init at {background:,} MB is "
                f"{_s(api_init)}."
            )
        text += (
            f" 128 MB, Lambda's least, is left out: the peak RSS would be "
            f"{choice.rss_mib / 128:.0%} of it, the CPU 1/{FULL_CPU_MB / 128:.0f} of a core"
        )
        if bound:
            text += (
                f", and the API function's init, the bound of the others', "
                f"{_s(max(median_at(f, 128, init_at) for f in bound))}"
            )
        parts.append(_paragraph(text + "."))
    parts.append(MEMORY_CAVEATS.format(cpu=machine_cpu(), share=RSS_SHARE))
    return "\n\n".join(parts) + "\n"


def _timeouts(keys: tuple[str, ...], run: Run) -> str:
    """The template's timeouts of the functions these cases launch."""
    functions = Template().functions()
    seconds = sorted({functions[run.launch[key].case.function_id or ""].timeout for key in keys})
    return " to ".join(f"{value} s" for value in (seconds[0], seconds[-1])[: len(set(seconds))])


def _paragraph(text: str) -> str:
    """``text`` wrapped at 100 columns, never between a number and its unit."""
    kept = re.sub(r"(\d) (s|ms|MB|MiB|GB-s)\b", "\\1\u00a0\\2", text)
    wrapped = textwrap.fill(kept, 100, break_long_words=False, break_on_hyphens=False)
    return wrapped.replace("\u00a0", " ")


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
    parts.append(MISSES)
    if run.launch:
        parts.append(memory_markdown(run))
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
function's module (whatever it does at import: our init), *first* the first invocation with a real
API Gateway payload 2.0 event (or SQS batch) until the handler returns. Each process also stamps its
CPU time (`time.process_time()`: every thread's, the interpreter's start-up included) at the same
points, and reads its peak resident memory after the answer, for section 4. The function's
environment is template.yaml's (`Template.environment` with `LocalSettings` pointing at this run's
servers, plus the variables the Lambda runtime sets); its boto3 clients are real and talk HTTP to
one moto server (`AWS_ENDPOINT_URL`), seeded once as the local stack seeds it; Oliver is the sandbox
over HTTP. So the first invocation includes the network waits a visitor has, with local servers:
real AWS adds TLS handshakes and distance, moto adds its own work. The children import the layer's
dependencies as `sam build` builds them (layers/booking/build_layer.py, for this machine: pruned,
with their bytecode), and a function's own requirements as `sam build` installs them (`pip install
--target`), both kept in the system's temporary folder, and run `python -S`, so nothing of the venv
is importable: the venv's development tools include click, rich and pygments, and httpx imports its
command line when they are there (`--offline` uses the venv anyway, and says so). Every case posts a
fresh slot with a fresh idempotency key, and the bench stops unless the answer is the real one (201
for a booking, 200 for /health, no failed record for a notification), so a figure is never the time
of an error or a replay. The bench's address is in `ThrottleExemptCidrs`; CAPTCHA is off (the
template's default); a taken slot is answered 409 by the sandbox.

- *floor*: a fresh process that imports `aws_lambda_powertools`, `httpx`, `pydantic` and
  `boto3` and does nothing else. Every *ratio* is a case's median over the floor's median.
- *(a)* a signed partner's booking by Oliver's ids (`POST /webhooks/partner-demo`, Standard
  Webhooks); *(b)* a public booking by name (`POST /bookings`, Jane Doe, jane@example.com, Rex):
  targets <= 1.4x each.
- *(c)* `GET /health`; *(d)* each notification function with one SQS record of a real bus event
  (the confirmation email of an Appointment Booked; the staff task and the text-back of a
  slot_unavailable Booking Failed), a new event id each time: reported, the outcome the function
  logged in brackets. *(e)* the booking page function's `GET /book` (the form with the open
  times, which it asks the sandbox for): what a visitor of the hosted page waits for first.
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

**2. Warm own time per booking** is the time our code and its libraries spend on one warm
booking, botocore's work included and network waits excluded: the real handler in one process
(`local/bench/warm_child.py`), AWS answered through botocore's `before-send` event with canned
answers (so botocore builds, signs and serialises every request and parses every answer), Oliver
answered by the sandbox's own logic behind httpx's transport (so httpx builds and reads every
request and response). The time spent inside both stand-ins is measured and taken off. *Own
time* is wall-clock time (`perf_counter`), CPU-like as nothing is left to wait on, though a busy
machine's preemptions count in it; *CPU* is the process's CPU time (`process_time`) over the same
booking, the stand-ins' own CPU taken off, the mean per booking: what section 4 scales. p50 and
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

**4. Memory size**: the CPU times of sections 1 and 2 scaled to Lambda's memory sizes, with the
peak RSS against each size and what 1,000 invocations cost: the model, its assumptions and the
sizes it chooses are under *Memory size* above.

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

MISSES = """\
## Why the missed targets are missed

Read with `python -m local.bench --profile partner` (and `--profile warm`) on this machine on
2026-11-29; the milliseconds below are from those profiled runs, so read them as shares.

**Launch -> first 201 at most 1.4x the floor.** The floor only imports the four packages. A
booking's init adds, on top of it: pydantic building the booking's models and its validation
machinery (about 80 ms: `booking.models`, `booking.intake`), Powertools' event handler (about
55 ms, a third of it asyncio, which its package imports with the AppSync resolvers), the three
boto3 clients a booking uses (about 30 ms each, the first one no longer scanning ~450 service
folders: `layers/booking/build_layer.py`), `phonenumbers` (about 35 ms; most forms carry a phone),
Powertools' idempotency and parameters utilities (about 30 ms), httpx's transport (httpcore and
h11, about 30 ms) and our own modules (about 40 ms). Each is one of the mandated packages doing
what a booking needs, or our code; nothing is imported that a booking does not use, and the
network waits of init (the secrets, Oliver's sign-in) run on a thread while it imports, so the
first invocation makes only the booking's own calls. The reference handler of the same run
(`local/bench/reference/app.py`, which validates less, matches nobody by name and throttles
nobody) lands within about 0.1x of ours. What would take init off a visitor's path is not a
smaller init but none: SnapStart (the `SnapStart` parameter, README: Performance).

**Warm own time at most 3 ms (p50) and 6 ms (p99).** A partner booking makes three AWS calls and
one request to Oliver. botocore's share of a warm booking (building, validating, signing and
serialising each request, parsing each answer, with `http.client`'s header parsing under it) is
more than half of it, about 0.9 ms a call here; httpx's request, Powertools' idempotency, the
JSON logs and metrics and our own code share the rest. Three botocore calls alone are close to
3 ms on this machine. A public booking adds two lookups in Oliver (`GET /clients`, by email and by
phone or name) and the throttle's read.

**Three AWS calls for a public booking.** A partner's booking makes exactly three (claim,
`PutEvents`, completion). A public booking makes a fourth: the read of the visitor's contact
counters (`BatchGetItem` of hashed keys), which has to come before any lookup, so that a stranger
guessing at a client is held after five misses without learning anything (docs/security.md). A
visitor outside `ThrottleExemptCidrs` adds the per-IP counter (`UpdateItem`): five.

**The layer without boto3 at most 15 MiB.** It ships its bytecode on purpose (7.4 MiB of the
19.2); without it the same layer is 11.8 MiB, and every cold start compiles every module it
imports, as `/opt` is read-only: the *without bytecode* line of section 1 (several times the
floor's time on this machine). Zipped, as uploaded, it is 7.6 MiB.
"""

MEMORY_MODEL = """\
## Memory size

template.yaml's `MemorySize` is chosen from section 4 of the figures above: {visitor:,} MB for the
two functions a visitor waits for (ApiFunction and PageFunction, each with a `MemorySize` of its
own), {background:,} MB for every other function (the `Globals`). {template} To change a size,
edit `MemorySize` in template.yaml and run `make bench` again: section 4 says when this run's
figures would choose otherwise. The local emulation passes each function the template's size
(its context's `memory_limit_in_mb`, `AWS_LAMBDA_FUNCTION_MEMORY_SIZE`), as Lambda does.

**The model.** Lambda gives a function CPU in proportion to its memory: one vCPU at {full:,} MB
(AWS Lambda Developer Guide, "Configure Lambda function memory"), a proportional share below. So
CPU work that takes C ms on one full core takes C x {full}/M ms at M MB below {full:,} MB, and C ms
from there on: Python runs one thread at a time, so a second vCPU helps only what overlaps (the
read-ahead thread at init), which the estimate leaves out. A wait (for an answer from AWS or
Oliver) takes as long at every size. Each launch of section 1 stamps its process's CPU time next
to its wall-clock stamps; what of launch -> first answer is not its CPU is its *wait*: on the
local servers (moto's work, the sandbox's), the disk, the machine (the floor waits on no server:
its wait is the machine's own). A warm booking is CPU only (section 2's CPU column).

- cold start at M = CPU x max(1, {full}/M) + wait, the median over a case's launches;
- a warm booking's CPU at M = its mean CPU x max(1, {full}/M);
- billed seconds = that CPU + {wait_ms:.0f} ms of network waits, assumed for a real booking or
  notification (its calls to Oliver and AWS over the internet; the bench's local servers answer
  in a few ms); for a cold invocation, its cold start estimate + {wait_ms:.0f} ms;
- dollars per 1,000 invocations = 1,000 x (M/1024 x seconds x ${price} + ${request}): GB-s at
  Lambda's arm64 duration price, plus the request price, in US East (N. Virginia), as
  <https://aws.amazon.com/lambda/pricing/> lists them (the first 7.5 billion GB-s of a month;
  prices change and differ by region: check there before relying on a figure). Lambda bills
  each 1 ms (the rounding is left out here), and an on-demand init too since 1 August 2025 (AWS
  Compute Blog, "AWS Lambda standardizes billing for INIT phase").

**The choice, from this run's figures.**"""

MEMORY_CAVEATS = """\
**What the estimate assumes**, each a reason it may be off (judge no size by a few percent):

- one core of this machine ({cpu}) does what one of Lambda's arm64 vCPUs does. Graviton
  cores may run Python slower or faster: the seconds move, the ratios between sizes much less;
- the CPU share holds for the init as for the invocation. Some report that Lambda gives an init
  more CPU than its share (AWS does not document it): then a cold start depends on the size far
  less than estimated here, and a smaller visitor-facing size would cost visitors little. Compare
  the *Init Duration* of the REPORT log lines at two sizes before lowering it;
- the waits are this machine's, the same at every size: real AWS adds TLS handshakes and distance
  to a cold start, at every size alike;
- the peak RSS is this machine's (x86_64 wheels); Lambda's *Max Memory Used* (the REPORT line)
  counts the whole execution environment, its runtime client too, so expect it somewhat higher:
  hence a margin of {share:.0%};
- with SnapStart on (the `SnapStart` parameter, the API function only) a restore replaces the
  init: these estimates are for on-demand inits."""


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
