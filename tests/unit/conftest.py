"""Handler-level fixtures: AWS behind moto (in-process), Oliver behind respx, the real
``lambda_handler`` fed API Gateway HTTP API (payload 2.0) events."""

from __future__ import annotations

import base64
import copy
import functools
import importlib
import json
import sys
import time
import uuid
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import boto3
import pytest
import respx
from moto import mock_aws
from moto.backends import get_backend
from moto.core.models import DEFAULT_ACCOUNT_ID

from local.template import Template

ROOT = Path(__file__).resolve().parents[2]
for path in (ROOT / "layers" / "booking", ROOT / "functions" / "api"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

# The Powertools logger binds its handler to sys.stdout when first imported: import it now, under
# pytest's session-wide capture, not inside one test whose captured stream is closed afterwards.
import booking.telemetry  # noqa: E402, F401

API = "https://oliver.test/services/core/open_api/v1"
SIGN_IN = "https://oliver.test/services/user/v1/auth/sign-in"
LOCATION = "7d3c1f4e-2b8a-4c6d-9e0f-1a2b3c4d5e6f"
TOKEN = "tok-secret-3f9a1c"  # a test token that no answer or log may ever show
THROTTLE_KEY = "throttle-key-9d2e7b41c0a8f6e3"  # the HMAC key of visitor counters
REGION = "us-east-1"


@dataclass
class Aws:
    secret_arn: str
    bus: str
    table: str
    dlq_url: str
    inbox_url: str
    sqs: Any
    secrets: Any

    def events(self, wait: float = 0.0) -> list[dict[str, Any]]:
        """Every event delivered on the bus so far (via a rule to an SQS inbox)."""
        found: list[dict[str, Any]] = []
        deadline = time.monotonic() + wait
        while True:
            answer = self.sqs.receive_message(QueueUrl=self.inbox_url, MaxNumberOfMessages=10)
            messages = answer.get("Messages", [])
            for message in messages:
                found.append(json.loads(message["Body"]))
                self.sqs.delete_message(
                    QueueUrl=self.inbox_url, ReceiptHandle=message["ReceiptHandle"]
                )
            if not messages and time.monotonic() >= deadline:
                return found

    def parked(self) -> list[dict[str, Any]]:
        answer = self.sqs.receive_message(
            QueueUrl=self.dlq_url, MaxNumberOfMessages=10, VisibilityTimeout=0
        )
        return [json.loads(m["Body"]) for m in answer.get("Messages", [])]

    def set_secret(self, value: str) -> None:
        self.secrets.put_secret_value(SecretId=self.secret_arn, SecretString=value)


_CLIENTS: dict[str, Any] = {}


def client(service: str) -> Any:
    """One boto3 client per service for the whole session: moto intercepts every client, and
    building one costs more than a test (so each test makes fresh resources, not clients)."""
    if service not in _CLIENTS:
        _CLIENTS[service] = boto3.client(service, region_name=REGION)
    return _CLIENTS[service]


@pytest.fixture(scope="session", autouse=True)
def _one_user_agent_feature_per_client() -> Iterator[None]:
    """Powertools registers a User-Agent handler on a boto3 client each time a provider is built
    with it (``SecretsProvider``, ``DynamoDBPersistenceLayer``). A Lambda container builds them
    once; the unit tests build them again after every ``container.reset()`` while
    ``booking.container`` keeps its boto3 clients for the session, so the handlers piled up: late
    in the suite every AWS call ran hundreds of them (several seconds of the suite's CPU). Here a
    client gets each feature once, as in one container: the header it sends is production's."""
    from aws_lambda_powertools.shared import user_agent

    register = user_agent.register_feature_to_client
    features: weakref.WeakKeyDictionary[Any, set[str]] = weakref.WeakKeyDictionary()

    def register_once(client: Any, feature: str) -> None:
        try:
            known = features.setdefault(client, set())
        except TypeError:  # not a client (no weak reference): Powertools' own handling
            register(client=client, feature=feature)
            return
        if feature not in known:
            known.add(feature)
            register(client=client, feature=feature)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(user_agent, "register_feature_to_client", register_once)
        yield


@pytest.fixture(scope="session", autouse=True)
def _event_paths_parsed_once() -> Iterator[None]:
    """moto delivers each event to a rule's target through its input transformer, parsing the
    same eight JSONPath expressions (``$.detail-type``, ``$.source``, ...) with ``jsonpath_ng``
    every time: about 8 ms of CPU per event delivered to the inbox. A parsed expression is an
    immutable tree that ``find`` only reads, so the parses are memoized; nothing else changes."""
    from jsonpath_ng import ext

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(ext, "parse", functools.lru_cache(maxsize=256)(ext.parse))
        yield


#: moto's account and region for the credentials the ``aws`` fixture sets.
ACCOUNT = DEFAULT_ACCOUNT_ID


def _moto(service: str) -> Any:
    """The backend of the running ``mock_aws()`` behind a service, in ACCOUNT and REGION."""
    return get_backend(service)[ACCOUNT][REGION]  # type: ignore[call-overload]


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Aws]:
    """Fresh AWS for one test, in-process behind moto: the Oliver and throttle-key secrets, the
    ``bookings`` bus whose rule ``all`` sends every event to the ``inbox`` queue (read back with
    ``Aws.events``), the ``parked`` dead-letter queue and the ``idempotency`` table.

    The test's own code talks to these through boto3 as production does. The fixture builds them
    by calling moto's backends directly, with the arguments moto's own request handlers pass for
    the same API calls (CreateSecret, CreateEventBus, CreateQueue, PutRule, PutTargets,
    CreateTable): a round trip through botocore and moto's parsing costs 3-10 ms of CPU, and eight
    of them were most of a handler test's cost. Each test still gets a fresh ``mock_aws()``, so
    nothing is shared between tests (the Oliver secret has one version, the queues are empty).
    moto is pinned in pyproject.toml; a moto whose backend signatures change fails here, loudly,
    at the first test.

    SQS long polls (the replay's ``WaitTimeSeconds``) do not wait in real time either: see
    ``_sqs_long_polls_on_a_virtual_clock``."""
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    with mock_aws():
        _sqs_long_polls_on_a_virtual_clock(monkeypatch)
        arn = _create_secret(
            "booking/oliver", json.dumps({"token": TOKEN, "location_id": LOCATION})
        )
        _create_secret("booking/throttle-key", THROTTLE_KEY)
        events = _moto("events")
        events.create_event_bus(name="bookings")
        sqs = _moto("sqs")
        sqs.create_queue("parked")
        inbox = sqs.create_queue("inbox")
        events.put_rule(
            "all",
            event_bus_arn="bookings",
            event_pattern=json.dumps({"source": [{"prefix": ""}]}),
        )
        events.put_targets("all", "bookings", [{"Id": "inbox", "Arn": inbox.queue_arn}])
        table = copy.deepcopy(_idempotency_table())
        _moto("dynamodb").create_table(
            "idempotency",
            schema=table["KeySchema"],
            throughput=None,
            attr=table["AttributeDefinitions"],
            global_indexes=table["GlobalSecondaryIndexes"],
            indexes=[],
            streams=None,
            billing_mode="PAY_PER_REQUEST",
            sse_specification=None,
            tags=[],
            deletion_protection_enabled=False,
            warm_throughput=None,
        )
        # The URLs CreateQueue answers: the SQS endpoint, the account, the queue's name.
        endpoint = client("sqs").meta.endpoint_url.rstrip("/")
        dlq_url, inbox_url = (f"{endpoint}/{ACCOUNT}/{name}" for name in ("parked", "inbox"))
        yield Aws(
            arn,
            "bookings",
            "idempotency",
            dlq_url,
            inbox_url,
            client("sqs"),
            client("secretsmanager"),
        )


@functools.cache
def _idempotency_table() -> dict[str, Any]:
    """The idempotency table's keys and indexes as template.yaml deploys them (read once: parsing
    the template takes longer than a test)."""
    return Template().table("IdempotencyTable")


def _create_secret(name: str, value: str) -> str:
    """CreateSecret as moto's handler runs it (botocore fills ClientRequestToken with a fresh
    UUID, so does this); the secret's ARN."""
    answer = _moto("secretsmanager").create_secret(
        name=name,
        secret_string=value,
        secret_binary=None,
        description="",
        tags=[],
        kms_key_id=None,
        client_request_token=str(uuid.uuid4()),
        replica_regions=[],
        force_overwrite=False,
    )
    return str(json.loads(answer)["ARN"])


def _sqs_long_polls_on_a_virtual_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """An SQS long poll (ReceiveMessage with ``WaitTimeSeconds``) that finds no visible message
    makes moto block on a condition for the whole wait: no other thread sends in a unit test, so
    it always waits it out (the replay's 1 s poll on an emptied queue cost every replay test 1-2 s
    of wall time). Here moto's SQS reads a clock that such a wait moves forward instead of
    sleeping: the poll returns what it would have returned after the wait, messages become
    visible again (visibility timeouts, delays) exactly when they would have, and only the real
    seconds are saved. The clock starts at real time for each test, with its own ``mock_aws()``."""
    from moto.sqs import models as sqs_models

    ahead = 0.0
    real_unix_time = sqs_models.unix_time

    def unix_time(dt: Any = None) -> float:
        return real_unix_time(dt) if dt is not None else real_unix_time() + ahead

    def unix_time_millis(dt: Any = None) -> float:
        return unix_time(dt) * 1000.0

    def wait_for_messages(queue: Any, timeout: int) -> None:
        nonlocal ahead
        if not queue.messages:
            ahead += timeout

    monkeypatch.setattr(sqs_models, "unix_time", unix_time)
    monkeypatch.setattr(sqs_models, "unix_time_millis", unix_time_millis)
    monkeypatch.setattr(sqs_models.Queue, "wait_for_messages", wait_for_messages)


@pytest.fixture
def env(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    values = {
        "OLIVER_API_URL": API,
        "OLIVER_SECRET_ID": aws.secret_arn,
        "EVENT_BUS_NAME": aws.bus,
        "IDEMPOTENCY_TABLE_NAME": aws.table,
        "EVENT_DLQ_URL": aws.dlq_url,
        "ALLOWED_ORIGINS": "https://vet.example",
        "ALLOWED_REDIRECTS": "https://vet.example/booking",
        "POWERTOOLS_METRICS_NAMESPACE": "BookingWebhookTest",
        "THROTTLE_KEY_SECRET_ID": "booking/throttle-key",
        "PRACTICE_TIMEZONE": "America/Chicago",
        "PRACTICE_PHONE": "+1 555 0100",
    }
    for name in (
        "OLIVER_LOCATION_ID",
        "WEBHOOK_SOURCES",
        "WEBHOOK_SECRET_ID",
        "CAPTCHA_SECRET_ID",
        "THROTTLE_EXEMPT_CIDRS",
        "THROTTLE_BOOKINGS_PER_IP",
        "THROTTLE_OPEN_TIMES_PER_IP",
        "THROTTLE_MISSES_PER_CONTACT",
        "TRUSTED_EDGE",
        "PRACTICE_NAME",
    ):
        monkeypatch.delenv(name, raising=False)
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    from booking import container

    container.reset()
    yield values
    container.reset()


#: The seeded client of the handler tests: Jane Doe and her dog Rex (ids as the lookups give
#: them, strings; the create takes integers).
JANE = {
    "id": "1001",
    "name": "Jane Doe",
    "email": "jane@example.com",
    "phone": "+15555550100",
    "remote_id": "PIMS-C-77",
    "patients": [{"id": "2001", "name": "Rex", "client_id": "1001", "species": "Canine"}],
}
#: What a public form posts for Jane's Rex (upstream gets client_id 1001 and patient_id 2001).
JANE_BOOKS_REX = {
    "slot_id": "slot-1",
    "first_name": "Jane",
    "last_name": "Doe",
    "email": "jane@example.com",
    "patient_name": "Rex",
}


def clients_found(*clients: dict[str, Any]) -> dict[str, Any]:
    """A GET /clients answer."""
    return {"success": True, "data": list(clients)}


@pytest.fixture
def oliver() -> Iterator[respx.MockRouter]:
    with respx.mock(assert_all_called=False) as router:
        # Client lookups answer Jane to her own email and phone, nobody to anything else.
        def lookup(request: Any) -> Any:
            import httpx

            params = request.url.params
            found = params.get("email") == JANE["email"] or params.get("phone") == JANE["phone"]
            return httpx.Response(200, json=clients_found(JANE) if found else clients_found())

        router.get(f"{API}/clients", name="clients").mock(side_effect=lookup)
        yield router


def created(appointment_id: int = 501, **extra: Any) -> dict[str, Any]:
    data = {
        "id": appointment_id,
        "remote_id": None,
        "status": "REQUESTED",
        "booking_date": "2030-01-07T09:00:00-06:00",
        "end_date": "2030-01-07T09:20:00-06:00",
        "created_at": "2030-01-01T10:00:00Z",
        "updated_at": "2030-01-01T10:00:00Z",
        "client_first_name": "Jane",
        "client_last_name": "Doe",
        "client_email": "jane@example.com",
        "client_phone": "+15555550100",
        "client_type": "RETURNING",
        "patient_name": "Rex",
        **extra,
    }
    return {"success": True, "data": data, "message": "Appointment created successfully"}


class BackoffClock:
    """What ``booking.oliver``, ``booking.publisher`` and ``booking.budget`` see as ``time`` in
    unit tests: a retry's backoff is recorded in ``slept`` and moves this clock forward instead of
    being slept. ``time()`` and ``monotonic()`` are the real clocks plus every wait so far, so a
    budget still shrinks by each wait (a retry the invocation's time does not allow is still not
    made) and a ``Retry-After`` date is still read against the clock that waited. Everything else
    is the real ``time`` module. Only these modules are given it: the global ``time.sleep`` (moto,
    botocore, httpx, the tests' own waits) is untouched."""

    def __init__(self) -> None:
        self.slept: list[float] = []
        self.ahead = 0.0

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.ahead += seconds

    def time(self) -> float:
        return time.time() + self.ahead

    def monotonic(self) -> float:
        return time.monotonic() + self.ahead

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)


@pytest.fixture(autouse=True)
def backoff(monkeypatch: pytest.MonkeyPatch) -> BackoffClock:
    """Retry backoff without the real seconds (8 s of the unit suite's wall time otherwise): see
    ``BackoffClock``. A test asserts the waits with this fixture's ``slept``, or puts its own
    clock in place (``monkeypatch.setattr(oliver, "time", ...)``) on top of this one."""
    from booking import budget, oliver, publisher

    clock = BackoffClock()
    for module in (oliver, publisher, budget):
        monkeypatch.setattr(module, "time", clock)
    return clock


@dataclass
class Context:
    timeout_ms: int = 10_000
    function_name: str = "booking-webhook-ApiFunction"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:booking"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    started: float = field(default_factory=time.monotonic)

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int(self.timeout_ms - (time.monotonic() - self.started) * 1000))


EVENTS = ROOT / "events"


def function_module(directory: str, name: str) -> Any:
    """A function's ``app.py`` (functions/<directory>), imported afresh as its own module
    ``name``: every function's module is called ``app``, and the API function's is imported
    as that already."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, ROOT / "functions" / directory / "app.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def http_event(
    method: str,
    path: str,
    *,
    body: str | bytes | None = None,
    headers: dict[str, str] | None = None,
    query: dict[str, str] | None = None,
    route: str | None = None,
    path_parameters: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A payload 2.0 event as API Gateway sends it."""
    now = time.time()
    request_id = base64.b32encode(uuid.uuid4().bytes[:10]).decode().rstrip("=")
    is_binary = isinstance(body, bytes)
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route or f"{method} {path}",
        "rawPath": path,
        "rawQueryString": urlencode(query or {}),
        "headers": {"host": "api.vet.example", "user-agent": "pytest", **(headers or {})},
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abc123",
            "domainName": "api.vet.example",
            "domainPrefix": "api",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.7",
                "userAgent": "pytest",
            },
            "requestId": request_id,
            "routeKey": route or f"{method} {path}",
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "timeEpoch": int(now * 1000),
        },
        "isBase64Encoded": is_binary,
    }
    if query:
        event["queryStringParameters"] = query
    if path_parameters:
        event["pathParameters"] = path_parameters
    if body is not None:
        event["body"] = base64.b64encode(body).decode() if is_binary else body
    return event


def booking_event(
    fields: dict[str, Any] | None = None,
    *,
    form: bool = False,
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    fields = fields if fields is not None else dict(JANE_BOOKS_REX)
    if form:
        body = urlencode({k: str(v) for k, v in fields.items()})
        content_type = "application/x-www-form-urlencoded"
    else:
        body = json.dumps(fields)
        content_type = "application/json"
    return http_event(
        "POST", "/bookings", body=body, headers={"content-type": content_type, **(headers or {})}
    )


def load_event(name: str) -> dict[str, Any]:
    event = json.loads((EVENTS / name).read_text())
    fresh = copy.deepcopy(event)
    fresh["requestContext"]["timeEpoch"] = int(time.time() * 1000)
    fresh["requestContext"]["requestId"] = uuid.uuid4().hex[:16]
    return fresh


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: str

    def json(self) -> Any:
        return json.loads(self.body)


def _invoker():
    """Calls the real ``lambda_handler`` with an event and a Lambda-like context."""
    module = importlib.import_module("app")

    def call(event: dict[str, Any], context: Context | None = None) -> Answer:
        result = module.lambda_handler(event, context or Context())
        headers = {k.lower(): v for k, v in (result.get("headers") or {}).items()}
        return Answer(result["statusCode"], headers, result.get("body") or "")

    return call


@pytest.fixture
def invoke(env: dict[str, str]):
    return _invoker()


class CurrentStdout:
    """Whatever ``sys.stdout`` is when written to (capsys swaps it between setup and call)."""

    def write(self, text: str) -> int:
        return sys.stdout.write(text)

    def flush(self) -> None:
        sys.stdout.flush()


# -- helpers shared by the handler tests ---------------------------------------------------------

#: Every variable of CONTRACT §2 (and the local-only ones the function reads).
CONTRACT_VARIABLES = (
    "OLIVER_API_URL",
    "OLIVER_SECRET_ID",
    "OLIVER_LOCATION_ID",
    "EVENT_BUS_NAME",
    "EVENT_SOURCE",
    "IDEMPOTENCY_TABLE_NAME",
    "ALLOWED_ORIGINS",
    "ALLOWED_REDIRECTS",
    "EVENT_DLQ_URL",
    "WEBHOOK_SOURCES",
    "WEBHOOK_SECRET_ID",
    "CAPTCHA_SECRET_ID",
    "CAPTCHA_VERIFY_URL",
    "HONEYPOT_FIELD",
    "DEFAULT_PHONE_REGION",
    "AWS_ENDPOINT_URL",
)


def assert_error(answer: Answer, status: int, code: str) -> dict[str, Any]:
    """The answer is the contract's error body (JSON, with a sentence of ours) with this status
    and code; the body."""
    assert answer.status == status, answer.body
    assert answer.headers["content-type"].startswith("application/json")
    body = answer.json()
    assert body["success"] is False
    assert body["code"] == code
    assert isinstance(body["message"], str) and body["message"]
    return body  # type: ignore[no-any-return]


@pytest.fixture
def printed(capsys, caplog, monkeypatch) -> Callable[[], str]:  # type: ignore[no-untyped-def]
    """Everything printed to stdout/stderr and every log record at INFO and above, whatever
    logger wrote it (the Powertools logger's handler is pointed at the captured stdout)."""
    import logging

    caplog.set_level(logging.INFO)
    from booking.telemetry import logger

    for handler in logger.handlers:
        if isinstance(handler, logging.StreamHandler):
            monkeypatch.setattr(handler, "stream", CurrentStdout())

    def text() -> str:
        captured = capsys.readouterr()
        records = "\n".join(
            f"{r.name} {r.getMessage()} {json.dumps(r.__dict__, default=str)}"
            for r in caplog.records
        )
        return "\n".join((captured.out, captured.err, caplog.text, records))

    return text


def sent(route: Any, index: int = -1) -> Any:
    """The JSON body the ``index``-th call of a respx route carried upstream."""
    return json.loads(route.calls[index].request.content)


def bearer(route: Any, index: int = -1) -> str:
    return route.calls[index].request.headers["authorization"]


def jwt(exp: float | None, subject: str = "partner") -> str:
    """A JWT-looking token (unsigned) whose payload carries ``exp`` when given."""

    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")

    claims: dict[str, Any] = {"sub": subject, "jti": uuid.uuid4().hex}
    if exp is not None:
        claims["exp"] = int(exp)
    return f"{part({'alg': 'HS256', 'typ': 'JWT'})}.{part(claims)}.c2lnbmF0dXJl"


def signed_in(token: str) -> dict[str, Any]:
    """Oliver's sign-in answer."""
    return {"success": True, "data": {"token": token}, "message": "Signed in"}


def listed(*appointments: dict[str, Any]) -> dict[str, Any]:
    """A GET /appointments answer (one page)."""
    return {
        "success": True,
        "data": {
            "page": 0,
            "per_page": 100,
            "total_pages": 1 if appointments else 0,
            "total_count": len(appointments),
            "content": list(appointments),
        },
    }


def now_iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


@pytest.fixture
def reconfigure(env: dict[str, str], monkeypatch: pytest.MonkeyPatch):
    """Change the function's environment (None unsets) and start from a fresh container."""
    from booking import container

    def apply(**variables: str | None) -> None:
        for name, value in variables.items():
            if value is None:
                monkeypatch.delenv(name, raising=False)
            else:
                monkeypatch.setenv(name, value)
        container.reset()

    return apply


@pytest.fixture
def bare_invoke(monkeypatch: pytest.MonkeyPatch):
    """The handler with no configuration at all: no variable of CONTRACT §2, no AWS credentials."""
    for name in (*CONTRACT_VARIABLES, "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    from booking import container

    container.reset()
    yield _invoker()
    container.reset()


def pytest_configure(config: pytest.Config) -> None:
    # GET /health and refused requests add no metric; Powertools warns about that every time.
    config.addinivalue_line("filterwarnings", "ignore:No application metrics to publish")
