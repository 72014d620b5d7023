"""Handler-level fixtures: AWS behind moto (in-process), Oliver behind respx, the real
``lambda_handler`` fed API Gateway HTTP API (payload 2.0) events."""

from __future__ import annotations

import base64
import copy
import importlib
import json
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import boto3
import pytest
import respx
from moto import mock_aws

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


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Aws]:
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    with mock_aws():
        secrets = client("secretsmanager")
        arn = secrets.create_secret(
            Name="booking/oliver",
            SecretString=json.dumps({"token": TOKEN, "location_id": LOCATION}),
        )["ARN"]
        secrets.create_secret(Name="booking/throttle-key", SecretString=THROTTLE_KEY)
        events = client("events")
        events.create_event_bus(Name="bookings")
        sqs = client("sqs")
        dlq = sqs.create_queue(QueueName="parked")["QueueUrl"]
        inbox = sqs.create_queue(QueueName="inbox")["QueueUrl"]
        inbox_arn = sqs.get_queue_attributes(QueueUrl=inbox, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        events.put_rule(
            Name="all",
            EventBusName="bookings",
            EventPattern=json.dumps({"source": [{"prefix": ""}]}),
        )
        events.put_targets(
            Rule="all", EventBusName="bookings", Targets=[{"Id": "inbox", "Arn": inbox_arn}]
        )
        dynamodb = client("dynamodb")
        dynamodb.create_table(
            TableName="idempotency",
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        yield Aws(arn, "bookings", "idempotency", dlq, inbox, sqs, secrets)


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
