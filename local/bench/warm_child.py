"""The warm measurements, in one fresh process of their own (``local.bench.warm`` starts it):

1. **Own time per booking**: warm bookings through the real ``lambda_handler`` where nothing
   goes to the network. AWS answers through a botocore ``before-send`` hook with canned answers,
   so botocore still builds, signs and serialises every request and parses every answer; Oliver
   answers through httpx's transport, replaced by the sandbox's own logic called in-process
   (the request and response still go through httpx). The time spent inside both stand-ins is
   measured and taken off each booking: what is left is ours (the handler, Powertools,
   pydantic, botocore, httpx). AWS calls and upstream requests are counted per booking.
   Two clocks: *own time* is wall time (``perf_counter``) with the stand-ins' wall time taken
   off, CPU-like since nothing is left to wait on (but a busy machine's preemptions count);
   *own CPU* is the process's CPU time (``process_time``, every thread) over the same booking
   with the stand-ins' CPU time taken off, what ``local.bench.report`` scales to Lambda's
   memory sizes.
2. **Peak RSS** after all the bookings this process made (``VmHWM``), and after the import and
   the first booking.
3. **Throughput**: warm public bookings against the parent's sandbox over loopback HTTP (AWS
   still canned), counting secret reads and new TCP connections while warm.

Input: one JSON document on stdin (``local.bench.warm`` writes it). Output: one line
``BENCH-RESULT {json}``. The hooks are installed before the handler is imported, whatever
session or client the function builds.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
import os
import resource
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

RESULT_MARK = "BENCH-RESULT "


class Stubs:
    """The outside world, answering at once; ``seconds`` is the time spent inside it, and
    ``cpu_seconds`` the process's CPU time spent inside it."""

    def __init__(self, secrets: dict[str, str], sandbox: Any) -> None:
        self.secrets = secrets
        self.sandbox = sandbox
        self.seconds = 0.0
        self.cpu_seconds = 0.0
        self.aws: Counter[str] = Counter()
        self.upstream: Counter[str] = Counter()
        self.connects = 0

    # -- AWS: botocore's before-send event (a non-None answer replaces the HTTP exchange)

    def aws_answer(self, request: Any, event_name: str = "", **_: Any) -> Any:
        from botocore.awsrequest import AWSResponse

        start, cpu_start = time.perf_counter(), time.process_time()
        service, operation = event_name.split(".", 2)[1:]
        self.aws[f"{service}.{operation}"] += 1
        try:
            params = json.loads(request.body or b"{}")
        except ValueError:
            params = {}
        status, body = self._canned(service, operation, params)
        raw = _Raw(json.dumps(body).encode())
        headers = {"x-amzn-requestid": "bench", "content-type": "application/x-amz-json-1.1"}
        answer = AWSResponse(request.url, status, headers, raw)
        self.seconds += time.perf_counter() - start
        self.cpu_seconds += time.process_time() - cpu_start
        return answer

    def _canned(self, service: str, operation: str, params: dict[str, Any]) -> tuple[int, Any]:
        now = int(time.time())
        if operation == "GetSecretValue":
            secret_id = params.get("SecretId", "")
            if secret_id not in self.secrets:
                return 400, {"__type": "ResourceNotFoundException", "message": "no such secret"}
            return 200, {
                "ARN": f"arn:aws:secretsmanager:us-east-1:123456789012:secret:{secret_id}",
                "Name": secret_id,
                "SecretString": self.secrets[secret_id],
                "VersionId": "bench",
                "VersionStages": ["AWSCURRENT"],
                "CreatedDate": now,
            }
        if operation == "PutEvents":
            entries = params.get("Entries") or []
            return 200, {
                "FailedEntryCount": 0,
                "Entries": [{"EventId": str(uuid.uuid4())} for _ in entries],
            }
        if operation == "UpdateItem" and "hits" in str(params.get("UpdateExpression")):
            # A visitor counter: the first hit of a new window.
            return 200, {"Attributes": {"hits": {"N": "1"}, "expiration": {"N": str(now + 600)}}}
        if operation == "BatchGetItem":
            tables = params.get("RequestItems") or {}
            return 200, {"Responses": {table: [] for table in tables}, "UnprocessedKeys": {}}
        if operation == "SendMessage":
            body = str(params.get("MessageBody", ""))
            digest = hashlib.md5(body.encode()).hexdigest()  # noqa: S324 - SQS's own checksum
            return 200, {"MessageId": str(uuid.uuid4()), "MD5OfMessageBody": digest}
        # PutItem (a new record), GetItem (nothing there), UpdateItem, DeleteItem, ...
        return 200, {}

    # -- Oliver: httpx's transport, answered by the sandbox's logic in this process

    def upstream_answer(self, transport: Any, request: Any) -> Any:
        import email.message
        from urllib.parse import parse_qs

        import httpx

        from local.oliver_sandbox.api import Request

        start, cpu_start = time.perf_counter(), time.process_time()
        path = request.url.path
        self.upstream[f"{request.method} {path.split('/v1', 1)[-1]}"] += 1
        headers = email.message.Message()
        for name, value in request.headers.items():
            headers[name] = value
        query = parse_qs(request.url.query.decode(), keep_blank_values=True)
        answer = self.sandbox.route(Request(request.method, path, query, headers, request.read()))
        response = httpx.Response(
            answer.status,
            headers={"content-type": answer.content_type, **answer.headers},
            content=answer.encoded(),
        )
        self.seconds += time.perf_counter() - start
        self.cpu_seconds += time.process_time() - cpu_start
        return response


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Any:
        yield self._body


class Context:
    def __init__(self, spec: dict[str, Any]) -> None:
        self.function_name = spec["function_name"]
        self.function_version = "$LATEST"
        self.invoked_function_arn = spec["invoked_function_arn"]
        self.memory_limit_in_mb = str(spec["memory_limit_in_mb"])
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{self.function_name}"
        self.log_stream_name = "2026/01/01/[$LATEST]bench"
        self.identity = None
        self.client_context = None
        self._timeout = float(spec["timeout"])
        self._deadline = time.monotonic() + self._timeout

    def fresh(self) -> Context:
        """The next invocation's context (a new request id and deadline)."""
        self.aws_request_id = str(uuid.uuid4())
        self._deadline = time.monotonic() + self._timeout
        return self

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def _sign(secret: str, msg_id: str, stamp: int, body: str) -> str:
    key = base64.b64decode(secret.removeprefix("whsec_"))
    digest = hmac.new(key, f"{msg_id}.{stamp}.{body}".encode(), hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def _events(template: dict[str, Any], slots: list[str], secret: str) -> list[dict[str, Any]]:
    """One event per slot from ``template``: new body, request id, time, and for a partner's
    delivery a new delivery id and signature."""
    made = []
    fields = json.loads(template["body"])
    for slot in slots:
        event = copy.deepcopy(template)
        body = json.dumps({**fields, "slot_id": slot})
        event["body"] = body
        event["requestContext"]["requestId"] = uuid.uuid4().hex
        event["requestContext"]["timeEpoch"] = int(time.time() * 1000)
        headers = event["headers"]
        if "webhook-id" in headers:
            delivery, stamp = f"msg_{uuid.uuid4().hex}", int(time.time())
            headers["webhook-id"] = delivery
            headers["webhook-timestamp"] = str(stamp)
            headers["webhook-signature"] = _sign(secret, delivery, stamp, body)
        made.append(event)
    return made


def _profiler(kind: str) -> Any:
    """``--profile warm``: a cProfile of the timed bookings of each series (slower)."""
    if not os.environ.get("BENCH_PROFILE"):
        return None
    import cProfile

    profiler = cProfile.Profile()
    profiler.enable()
    return profiler


def _rss_mib() -> float:
    """Peak resident memory of this process so far: Linux's VmHWM. Not ``ru_maxrss``, which
    Linux carries over from the parent across fork and exec (it would read the bench's own)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(share * (len(ordered) - 1))))
    return ordered[index]


def _expect(answer: Any, kind: str) -> None:
    if not isinstance(answer, dict) or answer.get("statusCode") != 201:
        log = sys.stdout
        log.seek(0)
        sys.stderr.write("".join(log.readlines()[-20:]))
        raise SystemExit(f"{kind}: a warm booking was answered {json.dumps(answer)[:600]}")


def main() -> None:
    here = os.path.dirname(os.path.abspath(__file__))
    if sys.path and os.path.abspath(sys.path[0] or ".") == here:
        del sys.path[0]  # this folder is the bench's, not the function's
    spec = json.loads(sys.stdin.buffer.read())
    sys.path.append(spec["repo_root"])  # the sandbox's logic; after the function's own paths
    import botocore.handlers

    from local.oliver_sandbox import SandboxServer, slots

    sandbox = SandboxServer(port=0, state_file=None)  # never started: its logic only
    stubs = Stubs(spec["secrets"], sandbox)
    botocore.handlers.BUILTIN_HANDLERS.append(("before-send", stubs.aws_answer))
    import httpx

    real_transport = httpx.HTTPTransport.handle_request

    def handle_request(transport: Any, request: Any) -> Any:
        return stubs.upstream_answer(transport, request)

    httpx.HTTPTransport.handle_request = handle_request  # type: ignore[method-assign,assignment]

    # The handler's log lines go to a file, as on Lambda they go to a pipe; shown on a failure.
    log = tempfile.TemporaryFile("w+")  # noqa: SIM115 - open for the process's life
    sys.stdout = log
    handler: Callable[[dict[str, Any], Any], Any] = getattr(
        __import__(spec["module"]), spec["handler"]
    )
    context = Context(spec["context"])
    rss = {"import": _rss_mib()}
    supply = (
        slot.uuid
        for offset in range(400)
        for slot in slots.day_slots(date.today() + timedelta(days=2 + offset), "wellness")
    )
    secret = spec["webhook_secret"]
    warm: dict[str, Any] = {}
    made = 0
    for kind, template in spec["templates"].items():
        warmup = _events(template, [next(supply) for _ in range(spec["warmup"])], secret)
        timed = _events(template, [next(supply) for _ in range(spec["bookings"])], secret)
        for event in warmup:
            _expect(handler(event, context.fresh()), kind)
            rss.setdefault("first booking", _rss_mib())
        stubs.aws.clear()
        stubs.upstream.clear()
        own, own_cpu = [], []
        profiler = _profiler(kind)
        for event in timed:
            stubs.seconds = stubs.cpu_seconds = 0.0
            start, cpu_start = time.perf_counter(), time.process_time()
            answer = handler(event, context.fresh())
            elapsed = time.perf_counter() - start
            cpu = time.process_time() - cpu_start
            _expect(answer, kind)
            own.append(elapsed - stubs.seconds)
            own_cpu.append(cpu - stubs.cpu_seconds)
        if profiler is not None:
            profiler.disable()
            profiler.dump_stats(f"{os.environ['BENCH_PROFILE']}.{kind}.prof")
        made += len(warmup) + len(timed)
        count = len(timed)
        warm[kind] = {
            "p50_ms": _percentile(own, 0.50) * 1000,
            "p99_ms": _percentile(own, 0.99) * 1000,
            "mean_ms": sum(own) / count * 1000,
            "cpu_p50_ms": _percentile(own_cpu, 0.50) * 1000,
            "cpu_p99_ms": _percentile(own_cpu, 0.99) * 1000,
            "cpu_mean_ms": sum(own_cpu) / count * 1000,
            "bookings": count,
            "aws": {name: n / count for name, n in sorted(stubs.aws.items())},
            "upstream": {name: n / count for name, n in sorted(stubs.upstream.items())},
        }
    template = spec["templates"]["public"]
    while made < spec["rss_bookings"]:
        batch = _events(template, [next(supply) for _ in range(100)], secret)
        for event in batch:
            _expect(handler(event, context.fresh()), "public")
        made += len(batch)
    rss_mib = _rss_mib()

    result: dict[str, Any] = {
        "warm": warm,
        "rss_mib": rss_mib,
        "rss_bookings": made,
        "rss_stages": rss,
    }
    if spec.get("throughput"):
        result["throughput"] = _throughput(
            spec["throughput"], handler, context, stubs, real_transport, secret
        )
    sys.stdout = sys.__stdout__
    print(RESULT_MARK + json.dumps(result))


def _throughput(
    spec: dict[str, Any],
    handler: Callable[[dict[str, Any], Any], Any],
    context: Context,
    stubs: Stubs,
    real_transport: Any,
    secret: str,
) -> dict[str, Any]:
    """Warm public bookings against the sandbox over loopback HTTP, AWS still canned: bookings
    per second, and the secret reads and TCP connections made while warm (both should be 0)."""
    import socket

    import httpx

    httpx.HTTPTransport.handle_request = real_transport  # type: ignore[method-assign]
    connect = socket.create_connection

    def counted(*args: Any, **kwargs: Any) -> Any:
        stubs.connects += 1
        return connect(*args, **kwargs)

    socket.create_connection = counted  # type: ignore[assignment]
    events = _events(spec["template"], spec["slots"], secret)
    _expect(handler(events[0], context.fresh()), "throughput")  # opens the connection
    stubs.aws.clear()
    stubs.connects = 0
    start = time.perf_counter()
    for event in events[1:]:
        _expect(handler(event, context.fresh()), "throughput")
    elapsed = time.perf_counter() - start
    count = len(events) - 1
    return {
        "bookings": count,
        "per_second": count / elapsed,
        "secret_reads": stubs.aws.get("secrets-manager.GetSecretValue", 0),
        "new_connections": stubs.connects,
    }


if __name__ == "__main__":
    main()
