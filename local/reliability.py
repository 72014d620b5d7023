"""The reliability suite: fault-injection scenarios that each return their figures.

``python -m local.reliability`` (``make reliability``) starts the local stack, runs every
scenario and writes ``docs/reliability.md``; ``tests/reliability`` runs the same functions and
asserts every figure. Two targets run the real ``lambda_handler``:

* ``StackTarget``: the local stack (``LocalStack``): HTTP to the API emulation, which runs one
  invocation at a time like one Lambda container; the Oliver sandbox and the AWS emulation
  (moto server) behind it.
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
import contextlib
import functools
import importlib
import importlib.util
import json
import logging
import os
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any, Protocol
from zoneinfo import ZoneInfo

import httpx

from local import aws
from local.template import REPO_ROOT

LAYER_DIR = REPO_ROOT / "layers" / "booking"
FUNCTION_DIR = REPO_ROOT / "functions" / "api"
DEFAULT_OUTPUT = REPO_ROOT / "docs" / "reliability.md"
PRACTICE_TZ = ZoneInfo("America/Chicago")
#: Jane Doe and her dog Rex in the sandbox's seeded practice.
CLIENT_ID, PATIENT_ID = 1001, 2001
BOOKED, FAILED = "Appointment Booked", "Booking Failed"
CAPTCHA_FIELD, CAPTCHA_TOKEN = "cf-turnstile-response", "XXXX.DUMMY.TOKEN.XXXX"  # Cloudflare's


def _ensure_import_paths() -> None:
    for path in (LAYER_DIR, FUNCTION_DIR):
        if str(path) not in sys.path:
            sys.path.insert(0, str(path))


# --- Figures ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Check:
    """One figure: what the contract (or the code's documented guarantee) expects, and what
    was observed. ``ok`` is equality unless the expectation is a bound."""

    what: str
    expected: Any
    observed: Any
    ok: bool


def check(what: str, expected: Any, observed: Any, ok: bool | None = None) -> Check:
    return Check(what, expected, observed, expected == observed if ok is None else ok)


@dataclass
class Result:
    """A scenario's run on one target: what was injected, its figures and checks."""

    scenario: str
    target: str
    injected: str
    checks: list[Check] = field(default_factory=list)
    figures: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    #: The figures that matter, as the doc's table shows them (every check is still asserted).
    expected: dict[str, Any] = field(default_factory=dict)
    observed: dict[str, Any] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return all(c.ok for c in self.checks)

    def failures(self) -> list[Check]:
        return [c for c in self.checks if not c.ok]

    def explain(self) -> str:
        """For assertion messages: every failed check, then the raw figures."""
        lines = [f"{self.scenario} [{self.target}] injected: {self.injected}"]
        lines += [
            f"  FAILED {c.what}: expected {c.expected!r}, observed {c.observed!r}"
            for c in self.failures()
        ]
        lines.append(f"  figures: {json.dumps(self.figures, default=str, sort_keys=True)}")
        return "\n".join(lines)


# --- The Oliver sandbox's control endpoints --------------------------------------------------


class Sandbox:
    """The control endpoints of an Oliver sandbox (local/oliver_sandbox/README.md)."""

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")
        self._http = httpx.Client(timeout=10.0)

    def _call(self, method: str, name: str, body: Mapping[str, Any] | None = None) -> Any:
        response = self._http.request(method, f"{self.url}/__sandbox/{name}", json=body)
        response.raise_for_status()
        return response.json()

    def reset(self) -> None:
        self._call("POST", "reset", {})

    def faults(self, *rules: Mapping[str, Any]) -> None:
        self._call("POST", "faults", {"rules": list(rules)})

    def clear_faults(self) -> None:
        self._call("DELETE", "faults")

    def state(self) -> dict[str, Any]:
        return self._call("GET", "state")  # type: ignore[no-any-return]

    def requests(self) -> list[dict[str, Any]]:
        return self._call("GET", "requests")  # type: ignore[no-any-return]

    def expire_tokens(self, static: bool = False) -> None:
        self._call("POST", "expire-tokens", {"static": static})

    def wait_created(self, count: int, timeout: float) -> int:
        """Until the sandbox holds ``count`` appointments (or ``timeout``); returns how many."""
        deadline = time.monotonic() + timeout
        while True:
            created = int(self.state()["appointments_created"])
            if created >= count or time.monotonic() > deadline:
                return created
            time.sleep(0.1)

    def close(self) -> None:
        self._http.close()


# --- The AWS side: inspection queue, dead-letter queue, idempotency table, secret ------------


@dataclass
class AwsSide:
    sqs: Any
    events: Any
    dynamodb: Any
    secrets: Any
    inbox_url: str
    dlq_url: str
    table: str
    secret_id: str

    def take_events(self, expected: int = 0, timeout: float = 3.0) -> list[dict[str, Any]]:
        """Events delivered on the bus (removed from the inspection queue): waits up to
        ``timeout`` for ``expected`` of them, then takes whatever else is already there."""
        found: list[dict[str, Any]] = []
        deadline = time.monotonic() + timeout
        while True:
            wait = 1 if len(found) < expected and time.monotonic() < deadline else 0
            messages = self.sqs.receive_message(
                QueueUrl=self.inbox_url, MaxNumberOfMessages=10, WaitTimeSeconds=wait
            ).get("Messages", [])
            for message in messages:
                found.append(json.loads(message["Body"]))
                self.sqs.delete_message(
                    QueueUrl=self.inbox_url, ReceiptHandle=message["ReceiptHandle"]
                )
            if not messages and (len(found) >= expected or time.monotonic() >= deadline):
                return found

    def parked(self) -> list[dict[str, Any]]:
        """The entries parked in the dead-letter queue, left there (visible again)."""
        entries: list[dict[str, Any]] = []
        handles: list[str] = []
        while True:
            messages = self.sqs.receive_message(
                QueueUrl=self.dlq_url, MaxNumberOfMessages=10, VisibilityTimeout=30
            ).get("Messages", [])
            if not messages:
                break
            for message in messages:
                entries.append(json.loads(message["Body"]))
                handles.append(message["ReceiptHandle"])
        for start in range(0, len(handles), 10):
            batch = handles[start : start + 10]
            self.sqs.change_message_visibility_batch(
                QueueUrl=self.dlq_url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": h, "VisibilityTimeout": 0}
                    for i, h in enumerate(batch)
                ],
            )
        return entries

    def _drain(self, queue_url: str) -> None:
        while True:
            messages = self.sqs.receive_message(
                QueueUrl=queue_url, MaxNumberOfMessages=10, VisibilityTimeout=0
            ).get("Messages", [])
            if not messages:
                return
            for message in messages:
                self.sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])

    def clear(self) -> None:
        """Empty both queues and the idempotency table (records and unknown-outcome markers)."""
        self._drain(self.inbox_url)
        self._drain(self.dlq_url)
        for page in self.dynamodb.get_paginator("scan").paginate(
            TableName=self.table, ProjectionExpression="id"
        ):
            for item in page.get("Items", []):
                self.dynamodb.delete_item(TableName=self.table, Key={"id": item["id"]})

    def secret_value(self) -> str:
        return str(self.secrets.get_secret_value(SecretId=self.secret_id)["SecretString"])

    def put_secret(self, value: str | Mapping[str, Any]) -> None:
        text = value if isinstance(value, str) else json.dumps(value)
        self.secrets.put_secret_value(SecretId=self.secret_id, SecretString=text)


def _statuses(statuses: Mapping[Any, int]) -> str:
    return ", ".join(f"{status} x{n}" for status, n in sorted(statuses.items(), key=str))


def _answer_text(status: int, code: str | None, retry_after: str | None = None) -> str:
    text = f"{status} {code}" if code else str(status)
    return f"{text}, Retry-After {retry_after}" if retry_after else text


def _of_type(events: Sequence[Mapping[str, Any]], detail_type: str) -> list[Mapping[str, Any]]:
    return [e for e in events if e.get("detail-type") == detail_type]


# --- Targets ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    status: int
    headers: Mapping[str, str]
    body: Any

    @property
    def code(self) -> str | None:
        return self.body.get("code") if isinstance(self.body, dict) else None

    @property
    def appointment_id(self) -> Any:
        data = self.body.get("data") if isinstance(self.body, dict) else None
        return data.get("id") if isinstance(data, dict) else None


def _answer(status: int, headers: Mapping[str, str], text: str) -> Answer:
    try:
        body: Any = json.loads(text) if text else None
    except ValueError:
        body = text
    return Answer(status, {k.lower(): v for k, v in headers.items()}, body)


def booking_fields(slot_id: str) -> dict[str, Any]:
    return {"slot_id": slot_id, "client_id": CLIENT_ID, "patient_id": PATIENT_ID}


def _search_from() -> str:
    start = datetime.now(PRACTICE_TZ).replace(hour=0, minute=0, second=0, microsecond=0)
    return (start + timedelta(days=2)).isoformat()


class Target(Protocol):
    name: str
    sandbox: Sandbox
    aws: AwsSide

    def book(
        self, fields: Mapping[str, Any], headers: Mapping[str, str] | None = None
    ) -> Answer: ...

    def open_times(self) -> Answer: ...


def open_slots(target: Target, count: int) -> list[str]:
    """Free slot ids, read through the function's GET /open-times (so that it knows their
    start times, which the lookup of an unknown outcome matches on)."""
    answer = target.open_times()
    if answer.status != 200:
        raise RuntimeError(f"GET /open-times answered {answer.status}: {answer.body}")
    slots = [t["uuid"] for day in answer.body["data"] for t in day.get("times") or []]
    if len(slots) < count:
        raise RuntimeError(f"only {len(slots)} open slots in the sandbox, {count} needed")
    return slots[:count]


def fresh(target: Target) -> None:
    """Seeded sandbox (no appointments, faults or request log), empty queues and table."""
    target.sandbox.reset()
    target.aws.clear()


class StackTarget:
    """The local stack, over HTTP (its API runs one invocation at a time)."""

    def __init__(self, stack: Any) -> None:
        self.stack = stack
        self.name = "local stack"
        self.sandbox = Sandbox(stack.sandbox_url)
        self.aws = AwsSide(
            sqs=stack.client("sqs"),
            events=stack.client("events"),
            dynamodb=stack.client("dynamodb"),
            secrets=stack.client("secretsmanager"),
            inbox_url=stack.inspection_queue_url,
            dlq_url=stack.dlq_url,
            table=aws.IDEMPOTENCY_TABLE_NAME,
            secret_id=aws.OLIVER_SECRET_NAME,
        )
        self._http = httpx.Client(timeout=40.0, limits=httpx.Limits(max_connections=100))

    def book(self, fields: Mapping[str, Any], headers: Mapping[str, str] | None = None) -> Answer:
        # The local stack requires a CAPTCHA on form posts; its stand-in passes this token.
        body = {CAPTCHA_FIELD: CAPTCHA_TOKEN, **fields}
        response = self._http.post(
            f"{self.stack.api_url}/bookings", json=body, headers=dict(headers or {})
        )
        return _answer(response.status_code, response.headers, response.text)

    def open_times(self) -> Answer:
        response = self._http.get(
            f"{self.stack.api_url}/open-times",
            params={"search_from_date": _search_from(), "appointment_type": "wellness"},
        )
        return _answer(response.status_code, response.headers, response.text)

    def close(self) -> None:
        self._http.close()
        self.sandbox.close()


class InProcess:
    """The real handler in this process; an Oliver sandbox on a free port; AWS under moto
    in-process (``aws_url=None``) or an AWS emulation at ``aws_url`` (the local stack's).

    Every moto request is handled under one lock: DynamoDB applies a conditional write
    atomically, and moto's in-process backend makes no such promise (the check and the write
    are separate Python statements), so without the lock a thread switch between them could
    let two conditional puts both succeed: a fault of the emulation, not of the code under
    test. Threads still interleave freely between AWS calls, which is where a race of ours
    would be."""

    FUNCTION_ENV = (
        "OLIVER_API_URL", "OLIVER_SECRET_ID", "OLIVER_LOCATION_ID", "EVENT_BUS_NAME",
        "EVENT_SOURCE", "IDEMPOTENCY_TABLE_NAME", "ALLOWED_ORIGINS", "ALLOWED_REDIRECTS",
        "EVENT_DLQ_URL", "WEBHOOK_SOURCES", "WEBHOOK_SECRET_ID", "CAPTCHA_SECRET_ID",
        "CAPTCHA_VERIFY_URL", "HONEYPOT_FIELD", "DEFAULT_PHONE_REGION", "AWS_ENDPOINT_URL",
        "AWS_PROFILE", "AWS_SESSION_TOKEN", "SECRET_MAX_AGE_SECONDS", "OPEN_TIMES_CACHE_SECONDS",
    )  # fmt: skip

    def __init__(self, aws_url: str | None = None, *, name: str | None = None) -> None:
        self.aws_url = aws_url
        self.name = name or ("in-process (moto)" if aws_url is None else "in-process")
        self.counts: Counter[str] = Counter()
        self._saved_env: dict[str, str] = {}
        self._mock: Any = None
        self._moto_patch: Any = None
        self._sandbox_server: Any = None
        self._spec: Any = None
        self._module: ModuleType | None = None
        self._copies: list[str] = []
        self._imported_app = False
        self._log_level: int | None = None
        self._patched_count: Any = None
        self._aws_client_original: Any = None
        self.sandbox: Sandbox
        self.aws: AwsSide

    # -- lifecycle

    def __enter__(self) -> InProcess:
        try:
            self._start()
        except BaseException:
            self.__exit__()
            raise
        return self

    def _start(self) -> None:
        from local.oliver_sandbox import SandboxServer

        _ensure_import_paths()
        self._saved_env = dict(os.environ)
        for name in self.FUNCTION_ENV:
            os.environ.pop(name, None)
        os.environ.update(
            AWS_ACCESS_KEY_ID=aws.ACCESS_KEY,
            AWS_SECRET_ACCESS_KEY=aws.SECRET_KEY,
            AWS_DEFAULT_REGION=aws.REGION,
            AWS_REGION=aws.REGION,
            # EMF lines on stdout are noise here (and the shared Metrics object is not made for
            # concurrent flushes, which Lambda never does); outcomes are tallied in ``counts``.
            POWERTOOLS_METRICS_DISABLED="true",
            POWERTOOLS_METRICS_NAMESPACE="BookingWebhookReliability",
        )
        self._sandbox_server = SandboxServer(port=0, state_file=None).start()
        self.sandbox = Sandbox(self._sandbox_server.url)
        if self.aws_url is None:
            self._start_moto()
        else:
            os.environ["AWS_ENDPOINT_URL"] = self.aws_url
            self.aws = self._aws_side(
                lambda service: aws.client(service, self.aws_url or ""),
                dlq_url=aws.queue_url(self.aws_url, aws.DLQ_NAME),
                inbox_url=aws.queue_url(self.aws_url, aws.INSPECTION_QUEUE_NAME),
                secret_id=aws.OLIVER_SECRET_NAME,
            )
        os.environ.update(
            OLIVER_API_URL=self._sandbox_server.api_base,
            OLIVER_SECRET_ID=self.aws.secret_id,
            EVENT_BUS_NAME=aws.EVENT_BUS_NAME,
            IDEMPOTENCY_TABLE_NAME=self.aws.table,
            EVENT_DLQ_URL=self.aws.dlq_url,
        )
        from booking import telemetry

        from local.template import Template

        self._spec = Template().function("ApiFunction")
        self._log_level = telemetry.logger.log_level
        telemetry.logger.setLevel(logging.ERROR)
        self._patched_count = telemetry.count

        def count(name: str) -> None:
            self.counts[name] += 1

        telemetry.count = count  # the service is given this when the container builds it
        # An ``app`` imported here binds the patched ``count``: forget it on exit so that later
        # users of this process (the unit tests) import it afresh.
        self._imported_app = "app" not in sys.modules
        self._module = importlib.import_module("app")
        self.cold_start()

    def _start_moto(self) -> None:
        import boto3
        from moto import mock_aws
        from moto.core.botocore_stubber import BotocoreStubber

        self._mock = mock_aws()
        self._mock.start()
        lock = threading.RLock()
        original = BotocoreStubber.__call__

        @functools.wraps(original)
        def serialised(stubber: Any, *args: Any, **kwargs: Any) -> Any:
            with lock:
                return original(stubber, *args, **kwargs)

        BotocoreStubber.__call__ = serialised  # type: ignore[method-assign, assignment]
        self._moto_patch = original

        def client(service: str) -> Any:
            return boto3.client(service, region_name=aws.REGION)  # type: ignore[call-overload]

        secrets = client("secretsmanager")
        secret_arn = secrets.create_secret(
            Name=aws.OLIVER_SECRET_NAME, SecretString=json.dumps(aws.oliver_secret_value())
        )["ARN"]
        sqs = client("sqs")
        dlq_url = sqs.create_queue(QueueName=aws.DLQ_NAME)["QueueUrl"]
        inbox_url = sqs.create_queue(QueueName=aws.INSPECTION_QUEUE_NAME)["QueueUrl"]
        inbox_arn = sqs.get_queue_attributes(QueueUrl=inbox_url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        events = client("events")
        events.create_event_bus(Name=aws.EVENT_BUS_NAME)
        events.put_rule(
            Name=aws.INSPECTION_RULE_NAME,
            EventBusName=aws.EVENT_BUS_NAME,
            EventPattern=json.dumps(aws.MATCH_ALL_EVENTS),
            State="ENABLED",
        )
        events.put_targets(
            Rule=aws.INSPECTION_RULE_NAME,
            EventBusName=aws.EVENT_BUS_NAME,
            Targets=[{"Id": "inspection-queue", "Arn": inbox_arn}],
        )
        client("dynamodb").create_table(
            TableName=aws.IDEMPOTENCY_TABLE_NAME,
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        self.aws = self._aws_side(
            client, dlq_url=dlq_url, inbox_url=inbox_url, secret_id=secret_arn
        )

    @staticmethod
    def _aws_side(
        client: Callable[[str], Any], *, dlq_url: str, inbox_url: str, secret_id: str
    ) -> AwsSide:
        return AwsSide(
            sqs=client("sqs"),
            events=client("events"),
            dynamodb=client("dynamodb"),
            secrets=client("secretsmanager"),
            inbox_url=inbox_url,
            dlq_url=dlq_url,
            table=aws.IDEMPOTENCY_TABLE_NAME,
            secret_id=secret_id,
        )

    def __exit__(self, *_: object) -> None:
        with contextlib.suppress(Exception):
            self.restore_aws_clients()
        if self._patched_count is not None:
            from booking import telemetry

            telemetry.count = self._patched_count
            if self._log_level is not None:
                telemetry.logger.setLevel(self._log_level)
        for name in self._copies:
            sys.modules.pop(name, None)
        if self._imported_app:
            sys.modules.pop("app", None)
        if self._module is not None:
            from booking import container

            container.reset()
        if self._moto_patch is not None:
            from moto.core.botocore_stubber import BotocoreStubber

            BotocoreStubber.__call__ = self._moto_patch  # type: ignore[method-assign]
        if self._mock is not None:
            self._mock.stop()
        if self._sandbox_server is not None:
            self.sandbox.close()
            self._sandbox_server.stop()
        if self._saved_env:
            os.environ.clear()
            os.environ.update(self._saved_env)

    def cold_start(self) -> None:
        """A new container: every cached client, secret, token and open-times answer dropped."""
        from booking import container

        container.reset()

    # -- seams for faults the sandbox cannot make

    def wrap_aws_clients(self, wrap: Callable[[str, Any], Any]) -> None:
        """From the next cold start on, the container's boto3 client for each service is
        ``wrap(service, real_client)`` (a stub that fails some calls, for instance)."""
        from booking import container

        self.restore_aws_clients()
        original = container.aws_client

        @functools.cache
        def wrapped(service: str) -> Any:
            return wrap(service, original(service))

        self._aws_client_original = original
        container.aws_client = wrapped
        self.cold_start()

    def restore_aws_clients(self) -> None:
        if self._aws_client_original is None:
            return
        from booking import container

        container.aws_client = self._aws_client_original
        self._aws_client_original = None
        self.cold_start()

    def aws_client(self, service: str) -> Any:
        """The container's own client (created now if not yet)."""
        from booking import container

        return container.aws_client(service)

    # -- invocations

    def handler_copies(self, count: int) -> list[Callable[[dict[str, Any], Any], Any]]:
        """``count`` separately imported copies of the API function's module: each has its own
        Powertools resolver (which keeps the current event in module state, as Lambda can
        since a container runs one invocation at a time), so that threads are concurrent
        invocations as separate containers would run them. They share the ``booking``
        package of this process (its clients and caches)."""
        handlers = []
        for _ in range(count):
            name = f"_reliability_api_{uuid.uuid4().hex[:12]}"
            spec = importlib.util.spec_from_file_location(name, FUNCTION_DIR / "app.py")
            assert spec is not None and spec.loader is not None
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module
            self._copies.append(name)
            spec.loader.exec_module(module)
            handlers.append(module.lambda_handler)
        return handlers

    def invoke(
        self,
        method: str,
        path: str,
        *,
        body: bytes = b"",
        query: str = "",
        headers: Mapping[str, str] | None = None,
        handler: Callable[[dict[str, Any], Any], Any] | None = None,
    ) -> Answer:
        from local.api_gateway import LambdaContext, Request, build_event, new_request_id
        from local.template import Route

        request = Request(
            method,
            path,
            query,
            [("host", "127.0.0.1"), *((headers or {}).items())],
            body,
        )
        event = build_event(
            request,
            Route(method, path, "ApiFunction"),
            {},
            request_id=new_request_id(),
            epoch_ms=int(time.time() * 1000),
        )
        assert self._module is not None
        call = handler or self._module.lambda_handler
        result = call(event, LambdaContext(self._spec))
        return _answer(result["statusCode"], result.get("headers") or {}, result.get("body") or "")

    def book(
        self,
        fields: Mapping[str, Any],
        headers: Mapping[str, str] | None = None,
        handler: Callable[[dict[str, Any], Any], Any] | None = None,
    ) -> Answer:
        return self.invoke(
            "POST",
            "/bookings",
            body=json.dumps(dict(fields)).encode(),
            headers={"content-type": "application/json", **(headers or {})},
            handler=handler,
        )

    def open_times(self) -> Answer:
        from urllib.parse import urlencode

        query = urlencode({"search_from_date": _search_from(), "appointment_type": "wellness"})
        return self.invoke("GET", "/open-times", query=query)


# --- Scenario 1: duplicate storm ---------------------------------------------------------------


def duplicate_storm(
    target: Target,
    submissions: int = 50,
    create_delay: float = 0.5,
    handlers: Sequence[Callable[..., Any]] | None = None,
) -> Result:
    """``submissions`` identical bookings at once (a barrier releases every thread together).
    The create is slowed by ``create_delay`` so that the duplicates arrive while it runs."""
    fresh(target)
    slot = open_slots(target, 1)[0]
    target.sandbox.faults(
        {"method": "POST", "path": "/appointments", "times": -1,
         "action": "delay", "seconds": create_delay}
    )  # fmt: skip
    fields = booking_fields(slot)
    barrier = threading.Barrier(submissions)
    answers: list[Answer | BaseException] = [RuntimeError("not run")] * submissions

    def submit(index: int) -> None:
        handler = handlers[index % len(handlers)] if handlers else None
        barrier.wait()
        try:
            if handler is not None:
                assert isinstance(target, InProcess)
                answers[index] = target.book(fields, handler=handler)
            else:
                answers[index] = target.book(fields)
        except BaseException as exc:
            answers[index] = exc

    started = time.monotonic()
    threads = [threading.Thread(target=submit, args=(i,)) for i in range(submissions)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    seconds = time.monotonic() - started
    target.sandbox.clear_faults()

    crashed = [repr(a) for a in answers if isinstance(a, BaseException)]
    ok = [a for a in answers if isinstance(a, Answer)]
    statuses = Counter(a.status for a in ok)
    codes = Counter(a.code for a in ok if a.status != 201)
    created_ids = {a.appointment_id for a in ok if a.status == 201}
    replayed = sum(1 for a in ok if a.status == 201 and a.headers.get("idempotent-replayed"))
    retry_after = all("retry-after" in a.headers for a in ok if a.status == 409)
    state = target.sandbox.state()
    events = target.aws.take_events(expected=1)
    result = Result(
        "Duplicate storm",
        target.name,
        f"{submissions} identical JSON bookings released together; create slowed by "
        f"{create_delay}s",
        seconds=seconds,
    )
    result.figures = {
        "statuses": dict(sorted(statuses.items())),
        "codes": dict(codes),
        "replayed 201": replayed,
        "exceptions": crashed,
    }
    result.checks = [
        check("answers", submissions, len(ok)),
        check("upstream create requests", 1, state["create_requests"]),
        check("appointments created", 1, state["appointments_created"]),
        check("answers other than 201 / 409", 0, sum(n for s, n in statuses.items()
                                                       if s not in (201, 409))),
        check("5xx answers", 0, sum(n for s, n in statuses.items() if s >= 500)),
        check("every 409 is duplicate_in_progress", True,
              set(codes) <= {"duplicate_in_progress"}),
        check("every 409 has Retry-After", True, retry_after),
        check("distinct appointments in the 201s", 1, len(created_ids)),
        check("201 answers that are replays", statuses.get(201, 0) - 1, replayed),
        check(f"'{BOOKED}' events", 1, len(_of_type(events, BOOKED))),
        check(f"'{FAILED}' events", 0, len(_of_type(events, FAILED))),
    ]  # fmt: skip
    result.expected = {
        "answers": "201 or 409 only",
        "creates upstream": 1,
        "distinct appointments in the 201s": 1,
        "Booked events": 1,
    }
    result.observed = {
        "answers": _statuses(statuses) + (f", {len(crashed)} errors" if crashed else ""),
        "creates upstream": state["create_requests"],
        "distinct appointments in the 201s": len(created_ids),
        "Booked events": len(_of_type(events, BOOKED)),
    }
    return result


def moto_conditional_write_probe(threads: int = 50, rounds: int = 5) -> dict[str, Any]:
    """Whether moto in-process applies a conditional put atomically under threads (without the
    harness's lock): ``threads`` conditional creates of one key per round, successes counted."""
    import boto3
    from moto import mock_aws

    saved = dict(os.environ)
    os.environ.pop("AWS_ENDPOINT_URL", None)
    os.environ.update(
        AWS_ACCESS_KEY_ID=aws.ACCESS_KEY,
        AWS_SECRET_ACCESS_KEY=aws.SECRET_KEY,
        AWS_DEFAULT_REGION=aws.REGION,
    )
    successes: list[int] = []
    try:
        with mock_aws():
            dynamodb = boto3.client("dynamodb", region_name="us-east-1")
            dynamodb.create_table(
                TableName="probe",
                KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                BillingMode="PAY_PER_REQUEST",
            )
            for round_ in range(rounds):
                won: list[int] = []
                barrier = threading.Barrier(threads)

                def put(
                    key: str = f"k{round_}",
                    won: list[int] = won,
                    barrier: threading.Barrier = barrier,
                ) -> None:
                    barrier.wait()
                    try:
                        dynamodb.put_item(
                            TableName="probe",
                            Item={"id": {"S": key}},
                            ConditionExpression="attribute_not_exists(id)",
                        )
                        won.append(1)
                    except dynamodb.exceptions.ConditionalCheckFailedException:
                        pass

                workers = [threading.Thread(target=put) for _ in range(threads)]
                for worker in workers:
                    worker.start()
                for worker in workers:
                    worker.join()
                successes.append(len(won))
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return {"threads": threads, "rounds": rounds, "successes per round": successes}


# --- Scenario 2: upstream fault matrix -------------------------------------------------------


@dataclass(frozen=True)
class UpstreamFault:
    name: str
    rules: tuple[Mapping[str, Any], ...]
    status: int
    code: str | None
    #: appointments upstream after the faulted request
    appointments: int
    #: ``Booking Failed`` reason expected (None: no such event)
    failed_reason: str | None
    retry_after: str | None = None
    #: then submit the same booking again without the fault (expected: 201, one appointment)
    retry: bool = True
    #: before the retry, wait for upstream to finish what it was still doing
    settle: int | None = None
    create_requests: int = 1
    message: str | None = None


def _create_rule(**action: Any) -> dict[str, Any]:
    return {"method": "POST", "path": "/appointments", "times": 1, **action}


SLOW = 8  # seconds: past the create's 6 s cap (Lambda timeout 10 s, less the lookup's reserve)

UPSTREAM_FAULTS: tuple[UpstreamFault, ...] = (
    UpstreamFault("500 on the create (not processed)",
                  (_create_rule(action="status", status=500),),
                  503, "outcome_unknown", 0, "outcome_unknown", retry_after="60"),
    UpstreamFault("502 on the create (not processed)",
                  (_create_rule(action="status", status=502,
                                body={"success": False, "message": "Bad gateway"}),),
                  503, "outcome_unknown", 0, "outcome_unknown", retry_after="60"),
    UpstreamFault("503 on the create (not processed)",
                  (_create_rule(action="status", status=503,
                                body={"success": False, "message": "Service unavailable"}),),
                  503, "outcome_unknown", 0, "outcome_unknown", retry_after="60"),
    UpstreamFault("429 with Retry-After: 7",
                  (_create_rule(action="status", status=429, headers={"Retry-After": "7"},
                                body={"success": False, "message": "Too many requests"}),),
                  429, "rate_limited", 0, "rate_limited", retry_after="7"),
    UpstreamFault(f"answer {SLOW}s late, after creating (timeout_after)",
                  (_create_rule(action="timeout_after", seconds=SLOW),),
                  201, None, 1, None),
    UpstreamFault(f"{SLOW}s late before creating (delay): created after we gave up",
                  (_create_rule(action="delay", seconds=SLOW),),
                  503, "outcome_unknown", 0, "outcome_unknown", retry_after="60", settle=1),
    UpstreamFault("connection reset before processing (reset_before)",
                  (_create_rule(action="reset_before"),),
                  503, "outcome_unknown", 0, "outcome_unknown", retry_after="60"),
    UpstreamFault("connection reset after creating (reset_after)",
                  (_create_rule(action="reset_after"),),
                  201, None, 1, None),
    UpstreamFault("200 with a non-JSON body (not processed)",
                  (_create_rule(action="raw", status=200, text="<html>upstream proxy</html>"),),
                  503, "outcome_unknown", 0, "outcome_unknown", retry_after="60"),
    UpstreamFault("200 with success: false",
                  (_create_rule(action="status", status=200,
                                body={"success": False, "data": None,
                                      "message": "Provider is not\n available at this time"}),),
                  422, "booking_rejected", 0, "booking_rejected", retry=False,
                  message="Provider is not available at this time"),
    UpstreamFault("401 once, then success",
                  (_create_rule(action="status", status=401,
                                body={"success": False, "message": "Token expired"}),),
                  201, None, 1, None, create_requests=2),
)  # fmt: skip


def upstream_fault(target: Target, fault: UpstreamFault) -> Result:
    """One row of the matrix: a booking against the fault, then (for most) the same booking
    again once the fault is gone, counting appointments, create requests and events."""
    started = time.monotonic()
    fresh(target)
    slot = open_slots(target, 1)[0]
    target.sandbox.faults(*fault.rules)
    fields = booking_fields(slot)
    first = target.book(fields)
    after_first = target.sandbox.state()
    events = target.aws.take_events(expected=1 if fault.status == 201 else 0, timeout=2)
    if fault.failed_reason:
        events += target.aws.take_events(expected=1 - len(_of_type(events, FAILED)), timeout=2)
    booked_first = _of_type(events, BOOKED)
    failed_first = _of_type(events, FAILED)
    result = Result("Upstream fault matrix", target.name, fault.name)
    result.figures = {"first answer": {"status": first.status, "code": first.code}}
    checks = [
        check("status", fault.status, first.status),
        check("code", fault.code, first.code),
        check("upstream create requests", fault.create_requests, after_first["create_requests"]),
        check("appointments upstream", fault.appointments, after_first["appointments_created"]),
        check(f"'{BOOKED}' events", fault.appointments, len(booked_first)),
        check(f"'{FAILED}' events", 1 if fault.failed_reason else 0, len(failed_first)),
    ]
    if fault.failed_reason:
        reasons = [e["detail"].get("reason") for e in failed_first]
        checks.append(check(f"'{FAILED}' reason", [fault.failed_reason], reasons))
    if fault.retry_after is not None:
        checks.append(check("Retry-After", fault.retry_after, first.headers.get("retry-after")))
    if fault.message is not None:
        message = first.body.get("message") if isinstance(first.body, dict) else None
        checks.append(check("upstream message passed on (one line)", fault.message, message))
    if fault.status == 201:
        upstream_ids = [str(a["id"]) for a in after_first["appointments"]]
        checks.append(check("201 carries the upstream appointment", upstream_ids,
                            [str(first.appointment_id)]))  # fmt: skip
    if fault.retry:
        if fault.settle is not None:
            result.figures["upstream created it late"] = target.sandbox.wait_created(
                fault.settle, timeout=SLOW + 2
            )
        second = target.book(fields)
        after = target.sandbox.state()
        late = target.aws.take_events(expected=0 if booked_first else 1, timeout=2)
        result.figures["retry answer"] = {
            "status": second.status,
            "replayed": bool(second.headers.get("idempotent-replayed")),
        }
        ids = {str(a["id"]) for a in after["appointments"]}
        checks += [
            check("retry: status", 201, second.status),
            check("retry: appointments upstream", 1, after["appointments_created"]),
            check("retry: answers the appointment upstream holds", ids,
                  {str(second.appointment_id)}),
            check(f"'{BOOKED}' events in all", 1, len(booked_first) + len(_of_type(late, BOOKED))),
            check(f"'{FAILED}' events after the retry", 0, len(_of_type(late, FAILED))),
        ]  # fmt: skip
    parked = target.aws.parked()
    checks.append(check("events parked", 0, len(parked)))
    result.checks = checks
    failed_text = f"Failed 1 ({fault.failed_reason})" if fault.failed_reason else "Failed 0"
    result.expected = {
        "answer": _answer_text(fault.status, fault.code, fault.retry_after),
        "appointments": fault.appointments,
        "events": f"Booked {fault.appointments}, {failed_text}",
    }
    reasons_seen = ", ".join(e["detail"].get("reason", "?") for e in failed_first)
    result.observed = {
        "answer": _answer_text(first.status, first.code, first.headers.get("retry-after")),
        "appointments": after_first["appointments_created"],
        "events": f"Booked {len(booked_first)}, Failed {len(failed_first)}"
        + (f" ({reasons_seen})" if reasons_seen else ""),
    }
    if fault.retry:
        result.expected["same booking again"] = "201, 1 appointment, 1 Booked event in all"
        result.observed["same booking again"] = (
            f"{second.status}{' (replayed)' if second.headers.get('idempotent-replayed') else ''}"
            f", {after['appointments_created']} appointment, "
            f"{len(booked_first) + len(_of_type(late, BOOKED))} Booked event in all"
        )
    result.seconds = time.monotonic() - started
    target.sandbox.clear_faults()
    return result


def upstream_fault_matrix(
    target: Target, faults: Sequence[UpstreamFault] = UPSTREAM_FAULTS
) -> list[Result]:
    return [upstream_fault(target, fault) for fault in faults]


# --- Scenario 3: EventBridge faults --------------------------------------------------------


#: What the stub does to the n-th distinct event it sees (cycling): "raise" and "partial" are
#: one failed attempt each (an exception, or ``FailedEntryCount: 1``); "ok" passes through.
EVENTBRIDGE_PLANS: tuple[tuple[str, ...], ...] = (
    ("raise",) * 5,                      # fails every attempt: parked
    ("partial",) * 5,                    # fails every attempt: parked
    ("raise", "partial", "raise", "partial", "raise"),  # mixed, every attempt: parked
    ("raise", "ok"),                     # delivered on the retry
    ("partial", "ok"),                   # delivered on the retry
    ("raise", "partial", "ok"),          # delivered on the third attempt
    ("ok",),
    ("ok",),
)  # fmt: skip


class FaultyEvents:
    """Stands in for the EventBridge client (EventBridge has no local stand-in that fails):
    ``put_events`` raises or reports a partial failure according to the plan of the entry's
    event, and otherwise passes the call to the real client."""

    def __init__(self, real: Any, plans: Sequence[Sequence[str]] = EVENTBRIDGE_PLANS) -> None:
        self.real = real
        self.plans = plans
        self.order: dict[str, int] = {}
        self.attempts: Counter[str] = Counter()
        self.injected: Counter[str] = Counter()
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)

    def put_events(self, **kwargs: Any) -> Any:
        from botocore.exceptions import ClientError

        entries = kwargs["Entries"]
        event_id = str(json.loads(entries[0]["Detail"]).get("event_id"))
        with self._lock:
            index = self.order.setdefault(event_id, len(self.order))
            attempt = self.attempts[event_id]
            self.attempts[event_id] += 1
        plan = self.plans[index % len(self.plans)]
        step = plan[min(attempt, len(plan) - 1)]
        if step == "raise":
            self.injected["exception"] += 1
            raise ClientError(
                {"Error": {"Code": "InternalException", "Message": "injected fault"}}, "PutEvents"
            )
        if step == "partial":
            self.injected["FailedEntryCount"] += 1
            return {
                "FailedEntryCount": len(entries),
                "Entries": [
                    {"ErrorCode": "InternalFailure", "ErrorMessage": "injected fault"}
                    for _ in entries
                ],
            }
        return self.real.put_events(**kwargs)


def _appointment_of(detail: Mapping[str, Any]) -> str:
    return str((detail.get("appointment") or {}).get("id"))


def eventbridge_faults(
    target: InProcess,
    bookings: int = 100,
    replay_command_port: int | None = None,
    function_replay_batch: int = 10,
) -> Result:
    """``bookings`` bookings while EventBridge fails (exceptions and partial
    ``FailedEntryCount``, by plan). Every event must end up delivered or parked, none lost;
    then the replay delivers every parked one exactly once: first ``replay_parked`` in this
    process (one batch of ``function_replay_batch``), then, when ``replay_command_port`` (the
    local stack's AWS emulation) is given, ``python -m local.replay`` for the rest."""
    from booking.publisher import PUT_ATTEMPTS, replay_parked

    started = time.monotonic()
    fresh(target)
    stubs: list[FaultyEvents] = []

    def wrap(service: str, client: Any) -> Any:
        if service != "events":
            return client
        stubs.append(FaultyEvents(client))
        return stubs[-1]

    target.wrap_aws_clients(wrap)
    target.counts.clear()
    try:
        slots = open_slots(target, bookings)
        answers = [target.book(booking_fields(slot)) for slot in slots]
    finally:
        target.restore_aws_clients()
    stub = stubs[0]
    statuses = Counter(a.status for a in answers)
    booked_ids = {str(a.appointment_id) for a in answers if a.status == 201}
    delivered = [_appointment_of(e["detail"]) for e in _of_type(target.aws.take_events(), BOOKED)]
    parked_entries = target.aws.parked()
    parked = [_appointment_of(json.loads(e["Detail"])) for e in parked_entries]
    accounted = set(delivered) | set(parked)
    expected_parked = sum(
        1 for i in range(bookings)
        if "ok" not in EVENTBRIDGE_PLANS[i % len(EVENTBRIDGE_PLANS)][:PUT_ATTEMPTS]
    )  # fmt: skip
    state = target.sandbox.state()

    # Replay: the function, then the documented command against the stack's AWS emulation.
    first = replay_parked(
        target.aws.events, target.aws.sqs, target.aws.dlq_url, max_messages=function_replay_batch
    )
    command: dict[str, Any] = {}
    if replay_command_port is not None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update(AWS_EMULATION_PORT=str(replay_command_port), EVENT_DLQ_URL=target.aws.dlq_url)
        ran = subprocess.run(  # noqa: S603 - our own module, no shell
            [sys.executable, "-m", "local.replay"],
            cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        command = {"exit code": ran.returncode, "output": ran.stdout.strip() or ran.stderr[-500:]}
    else:
        rest = replay_parked(target.aws.events, target.aws.sqs, target.aws.dlq_url)
        command = {
            "exit code": 0 if rest.failed == 0 else 1,
            "output": f"replay_parked: {rest.replayed} replayed, {rest.failed} failed",
        }
    arrived = [
        _appointment_of(e["detail"])
        for e in _of_type(target.aws.take_events(expected=len(parked), timeout=10), BOOKED)
    ]
    left = target.aws.parked()
    per_event = Counter(arrived)

    result = Result(
        "EventBridge faults",
        target.name,
        f"{bookings} bookings; PutEvents stubbed to fail by plan (cycle of "
        f"{len(EVENTBRIDGE_PLANS)}): {stub.injected['exception']} exceptions and "
        f"{stub.injected['FailedEntryCount']} partial FailedEntryCount answers injected",
        seconds=time.monotonic() - started,
    )
    result.figures = {
        "statuses": dict(statuses),
        "PutEvents attempts": sum(stub.attempts.values()),
        "injected exceptions": stub.injected["exception"],
        "injected partial failures": stub.injected["FailedEntryCount"],
        "delivered at once (after retries)": len(delivered),
        "parked": len(parked),
        "EventParked metric": target.counts["EventParked"],
        "EventLost metric": target.counts["EventLost"],
        "replayed by replay_parked()": first.replayed,
        "replay command": command,
        "parked events arrived after replay": len(arrived),
    }
    result.checks = [
        check("bookings answered 201", bookings, statuses.get(201, 0)),
        check("appointments upstream", bookings, state["appointments_created"]),
        check(f"'{BOOKED}' events delivered + parked", bookings, len(delivered) + len(parked)),
        check("events both delivered and parked", 0, len(set(delivered) & set(parked))),
        check("events lost", 0, len(booked_ids - accounted)),
        check("events parked (by plan)", expected_parked, len(parked)),
        check("EventLost metric", 0, target.counts["EventLost"]),
        check("replay_parked() replayed", min(function_replay_batch, len(parked)) if parked else 0,
              first.replayed, ok=first.failed == 0 and 0 < first.replayed <= len(parked)),
        check("replay command exit code", 0, command.get("exit code")),
        check("parked events that arrived exactly once", len(parked),
              sum(1 for a in set(parked) if per_event[a] == 1)),
        check("replayed events that were not parked", 0, len(set(arrived) - set(parked))),
        check("left in the dead-letter queue", 0, len(left)),
    ]  # fmt: skip
    once = sum(1 for a in set(parked) if per_event[a] == 1)
    result.expected = {
        "bookings": f"201 x{bookings}",
        "delivered + parked": bookings,
        "lost": 0,
        "parked (by plan)": expected_parked,
        "after the replay": "every parked event arrived once, dead-letter queue empty",
    }
    result.observed = {
        "bookings": _statuses(statuses),
        "delivered + parked": f"{len(delivered)} + {len(parked)} = {len(delivered) + len(parked)}",
        "lost": len(booked_ids - accounted),
        "parked (by plan)": len(parked),
        "after the replay": f"{once} of {len(parked)} arrived once ({first.replayed} by "
        f"replay_parked(), the rest by the command), {len(left)} left parked",
    }
    return result


# --- Scenario 4: secret faults -------------------------------------------------------------


def _secret_fault_row(
    target: InProcess,
    injected: str,
    status: int,
    code: str,
    failed_events: int,
    prepare: Callable[[], None],
    undo: Callable[[], None],
) -> Result:
    started = time.monotonic()
    fresh(target)
    prepare()
    target.cold_start()
    try:
        times = target.open_times()
        answer = target.book(booking_fields("a-slot-never-reached"))
    finally:
        undo()
        target.cold_start()
    state = target.sandbox.state()
    events = target.aws.take_events(expected=failed_events, timeout=2)
    body = json.dumps(answer.body)
    result = Result("Secret faults", target.name, injected, seconds=time.monotonic() - started)
    result.figures = {"POST /bookings": answer.status, "GET /open-times": times.status}
    result.checks = [
        check("POST /bookings status", status, answer.status),
        check("POST /bookings code", code, answer.code),
        check("GET /open-times status", status, times.status),
        check("GET /open-times code", code, times.code),
        check("upstream requests", 0, len(target.sandbox.requests())),
        check("appointments upstream", 0, state["appointments_created"]),
        check(f"'{BOOKED}' events", 0, len(_of_type(events, BOOKED))),
        check(f"'{FAILED}' events", failed_events, len(_of_type(events, FAILED))),
        check("secret value or password in the answer", False,
              aws.oliver_secret_value()["password"] in body or "sandbox-partner" in body),
    ]  # fmt: skip
    result.expected = {
        "POST /bookings": _answer_text(status, code),
        "GET /open-times": _answer_text(status, code),
        "upstream requests": 0,
        "Failed events": failed_events,
    }
    result.observed = {
        "POST /bookings": _answer_text(answer.status, answer.code),
        "GET /open-times": _answer_text(times.status, times.code),
        "upstream requests": len(target.sandbox.requests()),
        "Failed events": len(_of_type(events, FAILED)),
    }
    return result


def secret_missing(target: InProcess) -> Result:
    def prepare() -> None:
        os.environ["OLIVER_SECRET_ID"] = "booking-webhook/no-such-secret"  # noqa: S105

    def undo() -> None:
        os.environ["OLIVER_SECRET_ID"] = target.aws.secret_id

    return _secret_fault_row(
        target, "OLIVER_SECRET_ID names a secret that does not exist (cold container)",
        503, "configuration_error", 0, prepare, undo,
    )  # fmt: skip


def secret_malformed(target: InProcess) -> Result:
    original = target.aws.secret_value()
    return _secret_fault_row(
        target,
        "the secret's value is truncated JSON (cold container)",
        503, "configuration_error", 0,
        lambda: target.aws.put_secret('{"username": "sandbox-partner", "password": "sandbox-pa'),
        lambda: target.aws.put_secret(original),
    )  # fmt: skip


def secret_throttled(target: InProcess) -> Result:
    """A passing Secrets Manager fault (throttling) is not a configuration error."""
    from botocore.exceptions import ClientError

    class Throttled:
        def __init__(self, real: Any) -> None:
            self.real = real

        def __getattr__(self, name: str) -> Any:
            return getattr(self.real, name)

        def get_secret_value(self, **_: Any) -> Any:
            raise ClientError(
                {"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}},
                "GetSecretValue",
            )

    return _secret_fault_row(
        target, "Secrets Manager throttles every read (stub; cold container)",
        503, "upstream_unavailable", 1,
        lambda: target.wrap_aws_clients(
            lambda s, c: Throttled(c) if s == "secretsmanager" else c),
        target.restore_aws_clients,
    )  # fmt: skip


def secret_rotation(target: Target, bookings: int = 30, threads: int = 1) -> Result:
    """Traffic while the secret rotates twice: after a third of the bookings, the secret
    becomes the static token and every issued JWT is expired; after two thirds, it becomes the
    partner credentials again and the static token is revoked. Each rotation costs one 401,
    after which the function reads the secret afresh and retries: every booking is 201."""
    from local.oliver_sandbox import seed

    started = time.monotonic()
    fresh(target)
    original = target.aws.secret_value()
    slots = open_slots(target, bookings)  # also warms the container: secret and JWT cached
    reads: list[int] = []
    if isinstance(target, InProcess):
        client = target.aws_client("secretsmanager")
        client.meta.events.register(
            "before-call.secrets-manager.GetSecretValue", lambda **_: reads.append(1)
        )

    def to_static_token() -> None:
        target.aws.put_secret({"token": seed.STATIC_TOKEN, "location_id": seed.LOCATION_ID})
        target.sandbox.expire_tokens()

    def to_credentials() -> None:
        target.aws.put_secret(original)
        target.sandbox.expire_tokens(static=True)

    rotations = {bookings // 3: to_static_token, 2 * bookings // 3: to_credentials}
    handlers = target.handler_copies(threads) if isinstance(target, InProcess) else []
    lock = threading.Lock()
    queue = list(enumerate(slots))
    answers: dict[int, Answer | BaseException] = {}
    done = 0

    def worker(number: int) -> None:
        nonlocal done
        while True:
            with lock:
                if not queue:
                    return
                index, slot = queue.pop(0)
            try:
                if handlers:
                    assert isinstance(target, InProcess)
                    answers[index] = target.book(booking_fields(slot), handler=handlers[number])
                else:
                    answers[index] = target.book(booking_fields(slot))
            except BaseException as exc:
                answers[index] = exc
            with lock:
                done += 1
                rotate = rotations.pop(done, None)
                if rotate is not None:
                    rotate()

    try:
        workers = [threading.Thread(target=worker, args=(n,)) for n in range(threads)]
        for thread in workers:
            thread.start()
        for thread in workers:
            thread.join(300)
    finally:
        target.aws.put_secret(original)
    results = [answers.get(i) for i in range(bookings)]
    statuses = Counter(a.status if isinstance(a, Answer) else repr(a) for a in results)
    state = target.sandbox.state()
    log = target.sandbox.requests()
    creates = [r for r in log if r["method"] == "POST" and r["path"].endswith("/appointments")]
    sign_ins = [r for r in log if r["path"].endswith("/auth/sign-in")]
    events = target.aws.take_events(expected=bookings, timeout=5)
    result = Result(
        "Secret faults",
        target.name,
        f"rotation in the middle of {bookings} bookings ({threads} at a time): static token "
        f"+ JWTs expired after {bookings // 3}, credentials + static token revoked after "
        f"{2 * bookings // 3}",
        seconds=time.monotonic() - started,
    )
    result.figures = {
        "statuses": dict(statuses),
        "401 answers upstream": sum(1 for r in log if r["status"] == 401),
        "sign-ins": len(sign_ins),
        "secret reads while the traffic ran": (
            len(reads) if isinstance(target, InProcess) else "n/a"
        ),
    }
    result.checks = [
        check("bookings answered 201", bookings, statuses.get(201, 0)),
        check("appointments upstream", bookings, state["appointments_created"]),
        check("upstream 401s (at least one per rotation)", ">= 2",
              result.figures["401 answers upstream"],
              ok=result.figures["401 answers upstream"] >= 2),
        check("create requests that were not 401", bookings,
              sum(1 for r in creates if r["status"] != 401)),
        check(f"'{BOOKED}' events", bookings, len(_of_type(events, BOOKED))),
        check(f"'{FAILED}' events", 0, len(_of_type(events, FAILED))),
    ]  # fmt: skip
    result.expected = {
        "bookings": f"201 x{bookings}",
        "appointments": bookings,
        "upstream 401s": "2 or more",
        "events": f"Booked {bookings}, Failed 0",
    }
    result.observed = {
        "bookings": _statuses(statuses),
        "appointments": state["appointments_created"],
        "upstream 401s": result.figures["401 answers upstream"],
        "events": f"Booked {len(_of_type(events, BOOKED))}, Failed {len(_of_type(events, FAILED))}",
    }
    if isinstance(target, InProcess) and threads == 1:
        result.checks.append(check("fresh secret reads (one per rotation)", 2, len(reads)))
        result.expected["fresh secret reads"] = 2
        result.observed["fresh secret reads"] = len(reads)
    return result


# --- Running everything and writing docs/reliability.md --------------------------------------


def run_all(stack: Any, log: Callable[[str], None] = print) -> list[Result]:
    results: list[Result] = []

    def record(found: Result | list[Result]) -> None:
        for item in found if isinstance(found, list) else [found]:
            results.append(item)
            mark = "ok" if item.passed else "FAILED"
            log(f"  {mark:6} {item.seconds:5.1f}s  {item.scenario} [{item.target}]: "
                f"{item.injected}")  # fmt: skip
            if not item.passed:
                log(item.explain())

    on_stack = StackTarget(stack)
    try:
        record(duplicate_storm(on_stack))
        with InProcess() as local:
            record(duplicate_storm(local, handlers=local.handler_copies(50)))
            record(upstream_fault_matrix(local))
            record(secret_missing(local))
            record(secret_malformed(local))
            record(secret_throttled(local))
            record(secret_rotation(local, threads=1))
            record(secret_rotation(local, threads=4))
        record(upstream_fault_matrix(on_stack))
        record(secret_rotation(on_stack))
        with InProcess(aws_url=stack.aws_url, name="in-process, local stack's AWS") as mixed:
            record(eventbridge_faults(mixed, replay_command_port=stack.aws_port))
    finally:
        on_stack.close()
    return results


def _cell(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str, sort_keys=True)
    return text.replace("|", "\\|").replace("\n", " ")


def _commit() -> str:
    def git(*args: str) -> str:
        command = ["git", *args]
        return subprocess.run(  # noqa: S603 - fixed git command, no shell
            command, cwd=REPO_ROOT, capture_output=True, text=True, check=False
        ).stdout.strip()

    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    dirty = git("status", "--porcelain", "--untracked-files=no")
    return f"{commit} (with uncommitted changes)" if dirty else commit


SECTIONS = (
    ("Duplicate storm",
     "50 identical submissions at once. Through the local stack the API runs one invocation "
     "at a time (as one Lambda container), so the duplicates wait and get the first answer "
     "again (`Idempotent-Replayed: true`). In-process, 50 threads are 50 concurrent "
     "invocations (each with its own copy of the function module), sharing the DynamoDB "
     "table: duplicates that arrive while the first still runs get 409 "
     "`duplicate_in_progress`. Either way: exactly one create upstream."),
    ("Upstream fault matrix",
     "One booking (client 1001, pet 2001, a slot read through GET /open-times) against each "
     "fault of the Oliver sandbox on `POST /appointments`; then, for most rows, the same "
     "booking again once the fault is gone. Expected statuses are CONTRACT section 3: a create "
     "that may have reached upstream (5xx, timeout, dropped connection, unreadable 2xx) is "
     "never retried blindly but settled by a lookup; found is 201, not found is 503 "
     "`outcome_unknown`, and the retry looks again before creating."),
    ("EventBridge faults",
     "PutEvents fails by exception or by partial `FailedEntryCount`, according to a plan per "
     "event (a stub around the function's EventBridge client; the rest is the local stack's "
     "AWS emulation). The publisher retries within the budget and parks what still fails in "
     "the dead-letter queue; the replay then delivers every parked event."),
    ("Secret faults",
     "The Oliver secret missing, malformed or unreadable, and rotated in the middle of "
     "traffic (CONTRACT section 2)."),
)  # fmt: skip


def render(results: Sequence[Result], probe: Mapping[str, Any] | None = None) -> str:
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    total = sum(len(r.checks) for r in results)
    failed = sum(len(r.failures()) for r in results)
    lines = [
        "# Reliability figures",
        "",
        f"Written by `make reliability` (`python -m local.reliability`) on {now}, commit "
        f"`{_commit()}`. `make test` runs the same scenarios (`tests/reliability`) and asserts "
        "every figure below.",
        "",
        f"**{total - failed} of {total} checks as expected**"
        + (f", **{failed} not**." if failed else ".")
        + " The tables show the figures that matter; the *checks* column counts every "
        "figure the scenario compares (statuses, codes, headers, upstream creates and "
        "appointments, each kind of event, the dead-letter queue).",
        "",
        "Targets: *local stack* is `python -m local.dev` over HTTP (API emulation from "
        "template.yaml, Oliver sandbox, moto server); *in-process (moto)* calls the real "
        "`lambda_handler` in the test process with AWS under moto's in-process mock and an "
        "Oliver sandbox on a free port; *in-process, local stack's AWS* is the same handler "
        "with AWS calls going to the local stack's emulation.",
        "",
    ]
    for title, intro in SECTIONS:
        rows = [r for r in results if r.scenario == title]
        if not rows:
            continue
        first_seen = {r.injected: i for i, r in reversed(list(enumerate(rows)))}
        rows.sort(key=lambda r: first_seen[r.injected])  # one fault's targets side by side
        lines += [f"## {title}", "", intro, ""]
        lines += [
            "| injected | target | expected | observed | checks | s |",
            "| --- | --- | --- | --- | --- | ---: |",
        ]
        for row in rows:
            expected = "<br>".join(f"{k}: {_cell(v)}" for k, v in row.expected.items())
            observed = "<br>".join(f"{k}: {_cell(v)}" for k, v in row.observed.items())
            passed = len(row.checks) - len(row.failures())
            verdict = f"{passed}/{len(row.checks)}" + ("" if row.passed else " **FAILED**")
            lines.append(
                f"| {_cell(row.injected)} | {row.target} | {expected} | {observed} | {verdict} "
                f"| {row.seconds:.1f} |"
            )
        lines.append("")
        failed_rows = [r for r in rows if not r.passed]
        if failed_rows:
            lines += ["Checks not as expected:", ""]
            for row in failed_rows:
                for c in row.failures():
                    lines.append(
                        f"- {row.target}, {_cell(row.injected)}: {_cell(c.what)}: expected "
                        f"{_cell(c.expected)}, observed {_cell(c.observed)}"
                    )
            lines.append("")
        if title == "Duplicate storm" and probe is not None:
            lines += [
                "moto and threads: DynamoDB applies a conditional write atomically; moto's "
                "in-process backend does not promise it (the condition check and the write are "
                "separate Python statements). The in-process harness therefore handles one "
                "moto request at a time (a lock around moto's request handler), which is "
                "DynamoDB's own per-request atomicity; threads still interleave freely between "
                "AWS calls. A probe without that lock "
                f"({probe['threads']} threads racing to create one item, {probe['rounds']} "
                f"rounds) saw {probe['successes per round']} successful conditional puts per "
                "round.",
                "",
            ]
    lines += [
        "## Notes",
        "",
        "- `429 rate_limited` emits a `Booking Failed` event (reason `rate_limited`): the code "
        "marks it for follow-up like `upstream_unavailable`; CONTRACT section 4's list of "
        "reasons does not name it.",
        "- A misconfigured secret (missing, malformed) answers 503 `configuration_error` and "
        "emits no `Booking Failed` event: it is an operator's problem, logged once per request; "
        "a passing Secrets Manager fault is `upstream_unavailable` and does emit one.",
        "- The 200-with-non-JSON and 5xx rows: the sandbox answers without creating, so the "
        "lookup finds nothing (503 `outcome_unknown`) and the retry books once. The "
        "`reset_after` and `timeout_after` rows created the appointment: the lookup finds it "
        "and answers 201 with it.",
        "- Found by this suite and fixed: the local API emulation listened with socketserver's "
        "default backlog of 5, so a burst of 50 clients saw connections reset "
        "(`local/api_gateway.py`, now 128; "
        "`tests/reliability/test_duplicate_storm.py::test_the_local_api_answers_a_burst_of_50_"
        "connections`).",
        "",
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local.reliability", description=__doc__)
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="default %(default)s")
    args = parser.parse_args(argv)
    from local.stack import LocalStack

    started = time.monotonic()
    print("Reliability suite: starting the local stack...", flush=True)
    with LocalStack() as stack:
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


__all__ = [
    "EVENTBRIDGE_PLANS",
    "UPSTREAM_FAULTS",
    "Answer",
    "AwsSide",
    "Check",
    "FaultyEvents",
    "InProcess",
    "Result",
    "Sandbox",
    "StackTarget",
    "Target",
    "UpstreamFault",
    "duplicate_storm",
    "eventbridge_faults",
    "main",
    "moto_conditional_write_probe",
    "open_slots",
    "render",
    "run_all",
    "secret_malformed",
    "secret_missing",
    "secret_rotation",
    "secret_throttled",
    "upstream_fault",
    "upstream_fault_matrix",
]
