"""``make bench``: the performance figures, each measured in this one run so ratios compare.

- cold import: importing the handler module vs importing the four mandated packages
  (fresh interpreters, interleaved, median of several runs);
- warm overhead: our own work per warm request, with the outside world answering instantly
  (upstream through ``httpx.MockTransport``, AWS through stub clients);
- throughput: warm bookings per second against the Oliver sandbox over real loopback HTTP,
  counting secret reads and new upstream connections during the warm run (both should be 0);
- artifact size: the function code, and the layer (our package plus the pinned dependencies).

Bookings are public ones, as the demo form posts them (``VISITOR``: name, email, phone and the
pet's name): the function looks the client up (``GET /clients`` by email and by phone), picks the
pet, then creates. The bench's address (127.0.0.1) is exempt from the per-IP throttle
(``THROTTLE_EXEMPT_CIDRS``): it measures the booking path, not the throttle's 429.
"""

from __future__ import annotations

import importlib
import io
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
import zipfile
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
LAYER = ROOT / "layers" / "booking"
FUNCTION = ROOT / "functions" / "api"
RUNTIME_PACKAGES = ["aws-lambda-powertools", "httpx", "pydantic", "boto3", "phonenumbers"]
MANDATED_IMPORT = "import aws_lambda_powertools, httpx, pydantic, boto3"
#: What the first booking of a container imports on top of the handler (validation models,
#: the logic, Powertools idempotency): the honest total of a cold booking's import work.
FIRST_BOOKING_IMPORT = (
    "import app; from booking import intake, service; "
    "from aws_lambda_powertools.utilities import idempotency, parameters"
)
COLD_RUNS = 9
WARM_REQUESTS = 400

ENV = {
    "OLIVER_API_URL": "http://127.0.0.1:9/services/core/open_api/v1",
    "OLIVER_SECRET_ID": "bench/oliver",
    "EVENT_BUS_NAME": "bench",
    "IDEMPOTENCY_TABLE_NAME": "bench",
    "EVENT_DLQ_URL": "http://127.0.0.1:9/queue/bench",
    "THROTTLE_KEY_SECRET_ID": "bench/throttle-key",
    "PRACTICE_TIMEZONE": "America/Chicago",
    "THROTTLE_EXEMPT_CIDRS": "127.0.0.0/8",
    "POWERTOOLS_LOG_LEVEL": "WARNING",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
}


# -- cold import -------------------------------------------------------------------------------


def _import_seconds(statement: str) -> float:
    code = f"import time; t = time.perf_counter(); {statement}; print(time.perf_counter() - t)"
    env = {**os.environ, **ENV, "PYTHONPATH": os.pathsep.join([str(FUNCTION), str(LAYER)])}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    out = subprocess.run(  # noqa: S603 - our own interpreter and a fixed statement
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    return float(out.stdout.strip().splitlines()[-1])


def cold_import() -> dict[str, float]:
    _import_seconds("import app")  # compile bytecode once, as a deployed package has it
    base, handler, booking = [], [], []
    for _ in range(COLD_RUNS):
        base.append(_import_seconds(MANDATED_IMPORT))
        handler.append(_import_seconds("import app"))
        booking.append(_import_seconds(FIRST_BOOKING_IMPORT))
    b, h, f = (statistics.median(runs) for runs in (base, handler, booking))
    return {
        "mandated_ms": b * 1000,
        "handler_ms": h * 1000,
        "ratio": h / b,
        "first_booking_ms": f * 1000,
        "first_booking_ratio": f / b,
    }


# -- warm requests -----------------------------------------------------------------------------


class _Context:
    function_name = "bench"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:bench"
    aws_request_id = "bench"

    def get_remaining_time_in_millis(self) -> int:
        return 10_000


class _Stub:
    """An AWS client that answers at once, counting calls. An answer may be a function of the
    call's parameters."""

    def __init__(self, answers: dict[str, Any]) -> None:
        self.answers = answers
        self.calls: dict[str, int] = {}

    def __getattr__(self, name: str) -> Any:
        def call(**kwargs: Any) -> Any:
            self.calls[name] = self.calls.get(name, 0) + 1
            answer = self.answers.get(name, {})
            return answer(kwargs) if callable(answer) else answer

        return call


BENCH_SECRET = {"token": "bench-token", "location_id": "bench-location"}


def _stubs(oliver_secret: dict[str, str]) -> dict[str, _Stub]:
    def get_secret_value(params: dict[str, Any]) -> dict[str, str]:
        if params.get("SecretId") == ENV["THROTTLE_KEY_SECRET_ID"]:
            # As the template generates it: a random string of its own.
            return {"SecretString": "bench-throttle-key-" + "k" * 45, "Name": "t"}
        return {"SecretString": json.dumps(oliver_secret), "Name": "b"}

    return {
        "secretsmanager": _Stub({"get_secret_value": get_secret_value}),
        "events": _Stub({"put_events": {"FailedEntryCount": 0, "Entries": [{"EventId": "1"}]}}),
        "sqs": _Stub({}),
        "dynamodb": _Stub({}),
    }


def _event(method: str, path: str, body: dict[str, Any] | None = None, query: str = "") -> dict:
    now = time.time()
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": f"{method} {path}",
        "rawPath": path,
        "rawQueryString": query,
        "headers": {"content-type": "application/json", "host": "bench"},
        "requestContext": {
            "http": {"method": method, "path": path, "sourceIp": "127.0.0.1"},
            "requestId": uuid.uuid4().hex,
            "stage": "$default",
            "timeEpoch": int(now * 1000),
        },
        "isBase64Encoded": False,
    }
    if query:
        event["queryStringParameters"] = dict(p.split("=", 1) for p in query.split("&"))
    if body is not None:
        event["body"] = json.dumps(body)
    return event


_ORIGINALS: dict[str, Any] = {}


def _load_handler(
    api_url: str, transport: Any = None, oliver_secret: dict[str, str] = BENCH_SECRET
) -> tuple[Any, Any, dict[str, _Stub]]:
    os.environ.update({**ENV, "OLIVER_API_URL": api_url})
    for path in (str(FUNCTION), str(LAYER)):
        if path not in sys.path:
            sys.path.insert(0, path)
    import httpx
    from booking import container

    originals = _ORIGINALS.setdefault("container", (container.aws_client, container.http_client))
    container.aws_client, container.http_client = originals  # type: ignore[assignment]
    container.reset()
    stubs = _stubs(oliver_secret)
    container.aws_client = lambda service: stubs[service]  # type: ignore[assignment]
    if transport is not None:
        client = httpx.Client(transport=transport)
        container.http_client = lambda: client  # type: ignore[assignment]
    app = importlib.import_module("app")
    return app, container, stubs


#: The sandbox's Jane Doe and her dog Rex, as a visitor types them into the demo form.
VISITOR = {
    "first_name": "Jane",
    "last_name": "Doe",
    "email": "jane@example.com",
    "phone": "(555) 555-0100",
    "patient_name": "Rex",
}
#: Jane's record as Oliver's ``GET /clients`` returns it (the stand-in's only client).
CLIENT = {
    "id": "1001",
    "name": "Jane Doe",
    "email": "jane@example.com",
    "phone": "+15555550100",
    "remote_id": "PIMS-C-1001",
    "patients": [
        {"id": "2001", "name": "Rex", "client_id": "1001", "species": "dog"},
        {"id": "2002", "name": "Whiskers", "client_id": "1001", "species": "cat"},
    ],
}


def _booking(i: int) -> dict[str, Any]:
    return {"slot_id": f"bench-{uuid.uuid4()}", **VISITOR}


def _clients_answer(request: Any) -> dict[str, Any]:
    """``GET /clients?email=...`` or ``?phone=...`` as Oliver answers it: the clients whose email
    (folded) or phone (digits) agrees, in its envelope."""
    email = request.url.params.get("email")
    phone = request.url.params.get("phone")
    by_email = email is not None and email.strip().lower() == CLIENT["email"]
    by_phone = phone is not None and "".join(c for c in phone if c.isdigit()) == "15555550100"
    return {
        "success": True,
        "data": [CLIENT] if by_email or by_phone else [],
        "message": "Clients retrieved successfully",
    }


def warm_overhead() -> dict[str, float]:
    import httpx

    created = {
        "success": True,
        "data": {
            "id": 1,
            "status": "REQUESTED",
            "booking_date": "2030-01-07T09:00:00-06:00",
            "end_date": "2030-01-07T09:20:00-06:00",
            "client_first_name": "Jane",
            "client_last_name": "Doe",
            "patient_name": "Rex",
        },
        "message": "Appointment created successfully",
    }
    days = [{"date": "01/07/2030", "available": True, "times": []}]

    def upstream(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/open_times"):
            return httpx.Response(200, json={"success": True, "data": days})
        if request.method == "GET" and request.url.path.endswith("/clients"):
            return httpx.Response(200, json=_clients_answer(request))
        return httpx.Response(200, json=created)

    app, _, _ = _load_handler("http://upstream.bench/v1", httpx.MockTransport(upstream))
    context = _Context()
    results = {}
    routes = {
        "health": lambda i: _event("GET", "/health"),
        "open_times": lambda i: _event(
            "GET",
            "/open-times",
            query="search_from_date=2030-01-07T08:00:00Z&appointment_type=sick",
        ),
        "booking": lambda i: _event("POST", "/bookings", _booking(i)),
    }
    expected = {"health": 200, "open_times": 200, "booking": 201}
    for name, make in routes.items():
        for i in range(20):  # warm up
            _expect(app.lambda_handler(make(i), context), expected[name], name)
        samples = []
        for i in range(WARM_REQUESTS):
            event = make(i)
            start = time.perf_counter()
            answer = app.lambda_handler(event, context)
            samples.append(time.perf_counter() - start)
            _expect(answer, expected[name], name)
        results[f"{name}_ms"] = statistics.median(samples) * 1000
    return results


def _expect(answer: dict[str, Any], status: int, route: str) -> None:
    """A figure is only worth reporting for the answer it claims to time."""
    if answer["statusCode"] != status:
        raise RuntimeError(
            f"{route}: answered {answer['statusCode']} instead of {status}: {answer.get('body')}"
        )


def throughput() -> dict[str, float]:
    sys.path.insert(0, str(ROOT))
    from local.oliver_sandbox import SandboxServer
    from local.oliver_sandbox.seed import LOCATION_ID

    sandbox = SandboxServer(port=0).start()
    try:
        secret = {"token": "sandbox-static-token", "location_id": LOCATION_ID}
        app, container, stubs = _load_handler(sandbox.api_base, oliver_secret=secret)
        context = _Context()
        query = "search_from_date=2030-01-07T08:00:00Z&appointment_type=wellness"
        answer = app.lambda_handler(_event("GET", "/open-times", query=query), context)
        slots = [t["uuid"] for day in json.loads(answer["body"])["data"] for t in day["times"]]
        first = {"slot_id": slots.pop(), **VISITOR}
        # the cold request
        _expect(app.lambda_handler(_event("POST", "/bookings", first), context), 201, "booking")
        reads_before = stubs["secretsmanager"].calls.get("get_secret_value", 0)
        pool = container.http_client()._transport._pool
        connections_before = {id(c) for c in pool.connections}
        count = min(len(slots), 100)
        start = time.perf_counter()
        statuses = []
        for slot in slots[:count]:
            body = {"slot_id": slot, **VISITOR}
            statuses.append(
                app.lambda_handler(_event("POST", "/bookings", body), context)["statusCode"]
            )
        elapsed = time.perf_counter() - start
        new_connections = {id(c) for c in pool.connections} - connections_before
        return {
            "bookings": count,
            "created": statuses.count(201),
            "bookings_per_second": count / elapsed,
            "secret_reads_while_warm": stubs["secretsmanager"].calls.get("get_secret_value", 0)
            - reads_before,
            "new_upstream_connections_while_warm": len(new_connections),
        }
    finally:
        sandbox.stop()


# -- artifact size -----------------------------------------------------------------------------


def _zipped(files: list[tuple[Path, str]]) -> tuple[int, int]:
    buffer = io.BytesIO()
    raw = 0
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path, name in files:
            raw += path.stat().st_size
            archive.write(path, name)
    return raw, len(buffer.getvalue())


def _code_files(base: Path) -> list[tuple[Path, str]]:
    return [
        (p, str(p.relative_to(base)))
        for p in sorted(base.rglob("*"))
        if p.is_file() and "__pycache__" not in p.parts
    ]


def _distribution_files(name: str, seen: set[str]) -> list[tuple[Path, str]]:
    key = name.lower().replace("_", "-")
    if key in seen:
        return []
    seen.add(key)
    dist = metadata.distribution(name)
    files = [
        (Path(str(dist.locate_file(f))), str(f))
        for f in dist.files or []
        if "__pycache__" not in str(f) and Path(str(dist.locate_file(f))).is_file()
    ]
    for requirement in dist.requires or []:
        if "extra ==" in requirement:
            continue
        dep = requirement.split(";")[0].split("[")[0]
        for sep in "<>=!~ (":
            dep = dep.split(sep)[0]
        try:
            files += _distribution_files(dep.strip(), seen)
        except metadata.PackageNotFoundError:
            continue
    return files


def artifact_size() -> dict[str, float]:
    _, function_zip = _zipped(_code_files(FUNCTION))
    seen: set[str] = set()
    layer_files = _code_files(LAYER)
    for package in RUNTIME_PACKAGES:
        layer_files += _distribution_files(package, seen)
    layer_raw, layer_zip = _zipped(layer_files)
    return {
        "function_zip_kib": function_zip / 1024,
        "layer_unzipped_mib": layer_raw / 2**20,
        "layer_zip_mib": layer_zip / 2**20,
    }


_SINK: list[Any] = []


def _quietly(measure: Any) -> Any:
    """Run a measurement with the handler's log and metric lines kept off the report. The sink
    stays open: the handler's logger keeps the stream it was first imported under."""
    import contextlib

    if not _SINK:
        _SINK.append(open(os.devnull, "w"))  # noqa: SIM115 - open for the process's life
    with contextlib.redirect_stdout(_SINK[0]):
        return measure()


def main() -> int:
    print(f"Python {sys.version.split()[0]} on {sys.platform}; figures from this one run\n")
    cold = cold_import()
    print("cold import (median of", COLD_RUNS, "fresh interpreters)")
    print(f"  four mandated packages   {cold['mandated_ms']:8.1f} ms")
    print(f"  handler module (app.py)  {cold['handler_ms']:8.1f} ms")
    print(f"  ratio                    {cold['ratio']:8.2f} x   (target <= 1.15 x)")
    print(f"  + first booking's loads  {cold['first_booking_ms']:8.1f} ms")
    print(f"  ratio                    {cold['first_booking_ratio']:8.2f} x")
    warm = _quietly(warm_overhead)
    print(f"\nwarm overhead: our own work per request (median of {WARM_REQUESTS}, outside instant)")
    print(f"  GET /health              {warm['health_ms']:8.3f} ms")
    print(f"  GET /open-times (cached) {warm['open_times_ms']:8.3f} ms")
    print(f"  POST /bookings           {warm['booking_ms']:8.3f} ms   (target < 1 ms)")
    rate = _quietly(throughput)
    print("\nthroughput: warm bookings against the Oliver sandbox over loopback HTTP")
    print(f"  bookings                 {rate['bookings']:8.0f}   ({rate['created']:.0f} created)")
    print(f"  bookings per second      {rate['bookings_per_second']:8.1f}")
    print(f"  secret reads while warm  {rate['secret_reads_while_warm']:8.0f}   (target 0)")
    new_connections = rate["new_upstream_connections_while_warm"]
    print(f"  new connections (warm)   {new_connections:8.0f}   (target 0)")
    size = artifact_size()
    print("\nartifact size")
    print(f"  function code (zip)      {size['function_zip_kib']:8.1f} KiB")
    print(f"  layer unzipped           {size['layer_unzipped_mib']:8.1f} MiB   (Lambda limit 250)")
    print(f"  layer zipped             {size['layer_zip_mib']:8.1f} MiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
