"""What the scenarios run against, and the helpers that inspect and reset it.

* ``Sandbox``: the Oliver sandbox's control endpoints (fault rules, state, request log).
* ``AwsSide``: the AWS side (inspection queue, dead-letter queue, idempotency table, secret).
* ``Target``: what a scenario needs of a target. Two run the real ``lambda_handler``:

  * ``StackTarget``: the local stack (``LocalStack``): HTTP to the API emulation, which runs
    one invocation at a time like one Lambda container; the Oliver sandbox and the AWS
    emulation (moto server) behind it.
  * ``InProcess``: the handler called in this process (its events built by the API
    emulation's own event builder), an Oliver sandbox (``SandboxServer``) on a free port, and
    AWS either under moto in-process (``mock_aws``) or the local stack's AWS emulation.
    Threads here are concurrent invocations, as separate Lambda containers would make them.

* ``open_slots``, ``fresh``: what every scenario starts with; ``booking_fields`` (a public
  booking by name, as the website's form sends it) and ``partner_fields`` (a signed partner's
  booking by Oliver's ids): what it posts.

The scenarios send dozens of bookings from one address: they are about reliability, not about
the per-visitor throttle, so every target exempts the loopback addresses from it
(``THROTTLE_EXEMPT_CIDRS``, as a practice exempts its front desk), the rest of the throttle
(its table, its key, the per-contact limit) configured as deployed.

Everything talks to 127.0.0.1 only.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import importlib.util
import json
import logging
import os
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import ModuleType
from typing import TYPE_CHECKING, Any, Protocol
from zoneinfo import ZoneInfo

import httpx

from local import aws
from local.template import REPO_ROOT

if TYPE_CHECKING:
    from local.stack import LocalStack

LAYER_DIR = REPO_ROOT / "layers" / "booking"
FUNCTION_DIR = REPO_ROOT / "functions" / "api"
SETTLE_FUNCTION_ID, SETTLE_QUEUE_ID = "SettleFunction", "SettleQueue"
PRACTICE_TIMEZONE = "America/Chicago"  # the sandbox's practice (local/oliver_sandbox/seed.py)
PRACTICE_TZ = ZoneInfo(PRACTICE_TIMEZONE)
#: Jane Doe and her dog Rex in the sandbox's seeded practice: as a visitor types them into the
#: public form (which asks for both email and phone), and as a partner addresses them (ids).
VISITOR = {
    "first_name": "Jane",
    "last_name": "Doe",
    "email": "jane@example.com",
    "phone": "(555) 555-0100",
    "patient_name": "Rex",
}
CLIENT_ID, PATIENT_ID = 1001, 2001
#: What no answer may carry (CONTRACT section 3: a receipt, never the client's name, email,
#: phone or PIMS ids), whichever channel booked and whatever went wrong.
CLIENT_DETAILS = ("Doe", "jane@example.com", "5555550100", "555-0100", "PIMS-C-1001",
                  "PIMS-P-2001", "PIMS-P-2002")  # fmt: skip
#: Not counted by the per-IP throttle: the scenarios' own address (see the module docstring).
THROTTLE_EXEMPT_CIDRS = "127.0.0.0/8,::1/128"
CAPTCHA_FIELD, CAPTCHA_TOKEN = "cf-turnstile-response", "XXXX.DUMMY.TOKEN.XXXX"  # Cloudflare's


def _ensure_import_paths() -> None:
    for path in (LAYER_DIR, FUNCTION_DIR):
        if str(path) not in sys.path:
            sys.path.insert(0, str(path))


# --- The Oliver sandbox's control endpoints --------------------------------------------------


class Sandbox:
    """The control endpoints of an Oliver sandbox (local/oliver_sandbox/README.md)."""

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")
        # A CA bundle only for HTTPS: parsing it costs ~50 ms of CPU, for nothing over plain HTTP.
        self._http = httpx.Client(timeout=10.0, verify=self.url.startswith("https://"))

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
    throttle_table: str
    #: The settle queue (background checks of unknown outcomes); "" where there is none.
    settle_url: str = ""

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
        """Empty the queues, the idempotency table (records and unknown-outcome markers) and
        the throttle table (visitor counters)."""
        self._drain(self.inbox_url)
        self._drain(self.dlq_url)
        if self.settle_url:
            self._drain(self.settle_url)
        for table in dict.fromkeys((self.table, self.throttle_table)):
            for page in self.dynamodb.get_paginator("scan").paginate(
                TableName=table, ProjectionExpression="id"
            ):
                for item in page.get("Items", []):
                    self.dynamodb.delete_item(TableName=table, Key={"id": item["id"]})

    def secret_value(self) -> str:
        return str(self.secrets.get_secret_value(SecretId=self.secret_id)["SecretString"])

    def put_secret(self, value: str | Mapping[str, Any]) -> None:
        text = value if isinstance(value, str) else json.dumps(value)
        self.secrets.put_secret_value(SecretId=self.secret_id, SecretString=text)


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
    """A public booking (POST /bookings): Jane Doe, her email, phone and her dog's name, as a
    visitor types them into the practice's form; the function finds her and Rex in Oliver."""
    return {"slot_id": slot_id, **VISITOR}


def partner_fields(slot_id: str) -> dict[str, Any]:
    """A signed partner's booking (POST /webhooks/{source}): Oliver's ids of Jane and Rex."""
    return {"slot_id": slot_id, "client_id": CLIENT_ID, "patient_id": PATIENT_ID}


def signed_delivery(body: str, delivery_id: str) -> dict[str, str]:
    """The headers of a delivery of the local stack's demo partner source, signed with the
    Standard Webhooks reference implementation as the partner would sign it."""
    from standardwebhooks.webhooks import Webhook

    now = datetime.now(UTC).replace(microsecond=0)
    return {
        "content-type": "application/json",
        "webhook-id": delivery_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Webhook(aws.DEMO_WEBHOOK_SECRET).sign(delivery_id, now, body),
    }


def new_delivery_id() -> str:
    return f"msg_{uuid.uuid4().hex}"


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

    def deliver(self, fields: Mapping[str, Any], delivery_id: str) -> Answer: ...

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


#: ``python -m local.dev`` arguments of the stack the scenarios run against: the template
#: parameter a practice sets for its front desk, here the loopback addresses they post from.
STACK_ARGS = ("--parameter-overrides", f"ThrottleExemptCidrs={THROTTLE_EXEMPT_CIDRS}")


def reliability_stack(**options: Any) -> LocalStack:
    """A ``LocalStack`` (not started) as the scenarios need it: ``STACK_ARGS``."""
    from local.stack import LocalStack

    return LocalStack(extra_args=STACK_ARGS, **options)


class StackTarget:
    """The local stack, over HTTP (its API runs one invocation at a time). Start it with
    ``STACK_ARGS`` (``reliability_stack``): otherwise its throttle answers 429 after 20
    bookings from the scenarios' address."""

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
            throttle_table=aws.THROTTLE_TABLE_NAME,
            settle_url=aws.queue_url(stack.aws_url, aws.queue_name(SETTLE_QUEUE_ID)),
        )
        self._http = httpx.Client(
            timeout=40.0,
            limits=httpx.Limits(max_connections=100),
            verify=stack.api_url.startswith("https://"),  # a CA bundle only for HTTPS
        )

    def book(self, fields: Mapping[str, Any], headers: Mapping[str, str] | None = None) -> Answer:
        # The local stack requires a CAPTCHA on form posts; its stand-in passes this token.
        body = {CAPTCHA_FIELD: CAPTCHA_TOKEN, **fields}
        response = self._http.post(
            f"{self.stack.api_url}/bookings", json=body, headers=dict(headers or {})
        )
        return _answer(response.status_code, response.headers, response.text)

    def deliver(self, fields: Mapping[str, Any], delivery_id: str) -> Answer:
        body = json.dumps(dict(fields))
        response = self._http.post(
            f"{self.stack.api_url}/webhooks/{aws.DEMO_WEBHOOK_SOURCE}",
            content=body,
            headers=signed_delivery(body, delivery_id),
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
        "PRACTICE_TIMEZONE", "PRACTICE_NAME", "PRACTICE_PHONE", "THROTTLE_TABLE_NAME",
        "THROTTLE_KEY_SECRET_ID", "THROTTLE_EXEMPT_CIDRS", "THROTTLE_BOOKINGS_PER_IP",
        "THROTTLE_OPEN_TIMES_PER_IP", "THROTTLE_MISSES_PER_CONTACT", "TRUSTED_EDGE",
        "SETTLE_QUEUE_URL", "SETTLE_BACKOFF_SECONDS",
    )  # fmt: skip
    #: In this process, background checks of unknown outcomes run when a scenario asks
    #: (``settle_checks``), each as soon as it is queued: the delays are the scenario's to make.
    SETTLE_BACKOFF = "0,0,0,0,0,0"

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
        self._log_level: int | None = None
        self._patched_count: Any = None
        self._aws_client_original: Any = None
        self._settle_module: ModuleType | None = None
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
                settle_url=aws.queue_url(self.aws_url, aws.queue_name(SETTLE_QUEUE_ID)),
            )
        # As the template configures the function (its other variables keep their defaults),
        # with the scenarios' own address exempt from the per-IP throttle.
        os.environ.update(
            OLIVER_API_URL=self._sandbox_server.api_base,
            OLIVER_SECRET_ID=self.aws.secret_id,
            EVENT_BUS_NAME=aws.EVENT_BUS_NAME,
            IDEMPOTENCY_TABLE_NAME=self.aws.table,
            EVENT_DLQ_URL=self.aws.dlq_url,
            PRACTICE_TIMEZONE=PRACTICE_TIMEZONE,
            THROTTLE_TABLE_NAME=self.aws.throttle_table,
            THROTTLE_KEY_SECRET_ID=aws.THROTTLE_KEY_SECRET_NAME,
            THROTTLE_EXEMPT_CIDRS=THROTTLE_EXEMPT_CIDRS,
            WEBHOOK_SOURCES=json.dumps(aws.DEMO_WEBHOOK_SOURCES),
            WEBHOOK_SECRET_ID=aws.WEBHOOK_SECRET_NAME,
            SETTLE_QUEUE_URL=self.aws.settle_url,
            SETTLE_BACKOFF_SECONDS=self.SETTLE_BACKOFF,
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
        # A copy of the function's module of its own, imported now so that it binds the patched
        # ``count`` (an ``app`` another test of this process imported earlier binds the real one).
        self._module = self._api_module_copy()
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
        secrets.create_secret(
            Name=aws.WEBHOOK_SECRET_NAME,
            SecretString=json.dumps({aws.DEMO_WEBHOOK_SOURCE: aws.DEMO_WEBHOOK_SECRET}),
        )
        secrets.create_secret(Name=aws.THROTTLE_KEY_SECRET_NAME, SecretString=aws.throttle_key())
        sqs = client("sqs")
        dlq_url = sqs.create_queue(QueueName=aws.DLQ_NAME)["QueueUrl"]
        settle_url = sqs.create_queue(QueueName=aws.queue_name(SETTLE_QUEUE_ID))["QueueUrl"]
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
        aws.create_tables(client("dynamodb"))
        self.aws = self._aws_side(
            client,
            dlq_url=dlq_url,
            inbox_url=inbox_url,
            secret_id=secret_arn,
            settle_url=settle_url,
        )

    @staticmethod
    def _aws_side(
        client: Callable[[str], Any],
        *,
        dlq_url: str,
        inbox_url: str,
        secret_id: str,
        settle_url: str,
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
            throttle_table=aws.THROTTLE_TABLE_NAME,
            settle_url=settle_url,
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

    def settle_checks(self) -> int:
        """Run the settle function (functions/settle) on the checks queued before this call, one
        message per invocation as its event source mapping does; how many it took. A check it
        queues is left for the next call; one it could not finish stays on the queue. (With the
        local stack's AWS, its own SettleFunction takes them instead.)"""
        if self._settle_module is None:
            spec = importlib.util.spec_from_file_location(
                "_reliability_settle", REPO_ROOT / "functions" / "settle" / "app.py"
            )
            assert spec is not None and spec.loader is not None
            self._settle_module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(self._settle_module)
        from local.api_gateway import LambdaContext
        from local.notifications import failed_ids, sqs_event
        from local.template import Template

        queue_url = self.aws.settle_url
        sqs = self.aws.sqs
        waiting = sqs.get_queue_attributes(
            QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessages"]
        )["Attributes"]["ApproximateNumberOfMessages"]
        function = Template().function(SETTLE_FUNCTION_ID)
        taken = 0
        for _ in range(int(waiting)):
            messages = sqs.receive_message(
                QueueUrl=queue_url, MaxNumberOfMessages=1, AttributeNames=["All"]
            ).get("Messages", [])
            if not messages:
                break
            event = sqs_event(messages, f"arn:aws:sqs:{aws.REGION}:{aws.ACCOUNT_ID}:settle")
            try:
                result = self._settle_module.lambda_handler(event, LambdaContext(function))
            except Exception:
                result = None
            taken += 1
            if not failed_ids(result, messages):
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=messages[0]["ReceiptHandle"])
        return taken

    def handler_copies(self, count: int) -> list[Callable[[dict[str, Any], Any], Any]]:
        """``count`` separately imported copies of the API function's module: each has its own
        Powertools resolver (which keeps the current event in module state, as Lambda can
        since a container runs one invocation at a time), so that threads are concurrent
        invocations as separate containers would run them. They share the ``booking``
        package of this process (its clients and caches)."""
        return [self._api_module_copy().lambda_handler for _ in range(count)]

    def _api_module_copy(self) -> ModuleType:
        """The API function's module imported afresh under a name of its own (forgotten on
        exit): it binds whatever ``booking.telemetry`` holds now."""
        name = f"_reliability_api_{uuid.uuid4().hex[:12]}"
        spec = importlib.util.spec_from_file_location(name, FUNCTION_DIR / "app.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        self._copies.append(name)
        spec.loader.exec_module(module)
        return module

    def invoke(
        self,
        method: str,
        path: str,
        *,
        body: bytes = b"",
        query: str = "",
        headers: Mapping[str, str] | None = None,
        handler: Callable[[dict[str, Any], Any], Any] | None = None,
        route: str | None = None,
        path_parameters: Mapping[str, str] | None = None,
    ) -> Answer:
        """One invocation as API Gateway makes it; ``route`` is the template's path when it
        has parameters (``/webhooks/{source}``), with their values in ``path_parameters``."""
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
            Route(method, route or path, "ApiFunction"),
            path_parameters or {},
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

    def deliver(
        self,
        fields: Mapping[str, Any],
        delivery_id: str,
        handler: Callable[[dict[str, Any], Any], Any] | None = None,
    ) -> Answer:
        body = json.dumps(dict(fields))
        return self.invoke(
            "POST",
            f"/webhooks/{aws.DEMO_WEBHOOK_SOURCE}",
            body=body.encode(),
            headers=signed_delivery(body, delivery_id),
            handler=handler,
            route="/webhooks/{source}",
            path_parameters={"source": aws.DEMO_WEBHOOK_SOURCE},
        )

    def open_times(self) -> Answer:
        from urllib.parse import urlencode

        query = urlencode({"search_from_date": _search_from(), "appointment_type": "wellness"})
        return self.invoke("GET", "/open-times", query=query)
