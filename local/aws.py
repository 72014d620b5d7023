"""AWS emulation: moto's server on 127.0.0.1, seeded with what the function expects.

Seeded over HTTP with boto3, exactly as a deployment would create them: the Oliver secret
(sandbox credentials), the Turnstile secret, the webhook signing secrets (the Standard Webhooks
demo source and one demo source per tool preset), the throttle key (random, like the one the
template generates), the event bus, the idempotency and throttle tables, the dead-letter queue,
and an inspection queue fed by a rule that matches every event on the bus. Then
(``seed_consumers``) the notification consumers' queues, dead-letter queues and rules as
template.yaml declares them, and the confirmation emails' sender verified in SES.
"""

from __future__ import annotations

import errno
import functools
import json
import logging
import secrets
import socket
import string
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx

if TYPE_CHECKING:
    from moto.server import ThreadedMotoServer

    from local.template import ConsumerSpec

REGION = "us-east-1"
ACCOUNT_ID = "123456789012"  # moto's default account
ACCESS_KEY = "testing"
SECRET_KEY = "testing"  # noqa: S105 - moto accepts any credentials

OLIVER_SECRET_NAME = "booking-webhook/oliver"  # noqa: S105 - a name, not a secret
CAPTCHA_SECRET_NAME = "booking-webhook/turnstile"  # noqa: S105 - a name, not a secret
CAPTCHA_SECRET_VALUE = "1x0000000000000000000000000000000AA"  # noqa: S105 - Turnstile's test key
WEBHOOK_SECRET_NAME = "booking-webhook/webhooks"  # noqa: S105 - a name, not a secret
#: A signed webhook source out of the box: Standard Webhooks, with the specification's example
#: secret (public, for local use only).
DEMO_WEBHOOK_SOURCE = "partner-demo"
DEMO_WEBHOOK_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"  # noqa: S105 - public example
#: One demo source per tool preset (README: For partners), each with a made-up secret for local
#: use only: the sample deliveries of events/ are signed with them and book Jane Doe's Rex.
DEMO_PRESET_SOURCES = {
    "calcom-demo": {"preset": "cal.com"},
    "calendly-demo": {"preset": "calendly"},
    "typeform-demo": {"preset": "typeform"},
    "tally-demo": {"preset": "tally"},
}
DEMO_PRESET_SECRETS = {
    "calcom-demo": "calcom-demo-secret-local-only",
    "calendly-demo": "calendly-demo-signing-key-local-only",
    "typeform-demo": "typeform-demo-secret-local-only",
    "tally-demo": "tally-demo-signing-secret-local-only",
}
DEMO_WEBHOOK_SOURCES = {DEMO_WEBHOOK_SOURCE: {"scheme": "standard-webhooks"}, **DEMO_PRESET_SOURCES}
DEMO_WEBHOOK_SECRETS = {DEMO_WEBHOOK_SOURCE: DEMO_WEBHOOK_SECRET, **DEMO_PRESET_SECRETS}
THROTTLE_KEY_SECRET_NAME = "booking-webhook/throttle-key"  # noqa: S105 - a name, not a secret
THROTTLE_KEY_LENGTH = 64
PAGE_FORM_KEY_SECRET_NAME = "booking-webhook/page-form-key"  # noqa: S105 - a name, not a secret
EVENT_BUS_NAME = "booking-webhook-local"
IDEMPOTENCY_TABLE_NAME = "booking-webhook-idempotency-local"
THROTTLE_TABLE_NAME = "booking-webhook-throttle-local"
DLQ_NAME = "booking-webhook-event-dlq-local"
INSPECTION_QUEUE_NAME = "booking-webhook-inspection-local"
INSPECTION_RULE_NAME = "booking-webhook-inspect-all-local"

# Every event has a source and every string starts with "", so this matches all events, on AWS
# (which rejects an empty pattern) and on moto alike.
MATCH_ALL_EVENTS = {"source": [{"prefix": ""}]}

#: The template's resources of the kinds seeded here, by logical id, and the local name of each.
TABLES = {"IdempotencyTable": IDEMPOTENCY_TABLE_NAME, "ThrottleTable": THROTTLE_TABLE_NAME}
SECRETS = {
    "ThrottleKeySecret": THROTTLE_KEY_SECRET_NAME,
    "PageFormKeySecret": PAGE_FORM_KEY_SECRET_NAME,
}
QUEUES = {"EventDeadLetterQueue": DLQ_NAME}
#: The confirmation emails' sender, verified in the emulation's SES (a reserved example domain).
LOCAL_SENDER = "appointments@sandbox-animal-hospital.example"


def queue_name(logical_id: str) -> str:
    """The local name of a queue of the template (the consumers' queues are named after their
    logical ids: booking-webhook-ConfirmationEmailQueue-local)."""
    return QUEUES.get(logical_id) or f"booking-webhook-{logical_id}-local"


def queue_url(aws_url: str, name: str) -> str:
    """The URL moto gives a queue (moto builds it from the endpoint the request came to)."""
    return f"{aws_url.rstrip('/')}/{ACCOUNT_ID}/{name}"


def _queue_arn(sqs: Any, url: str) -> str:
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
    return str(attributes["Attributes"]["QueueArn"])


def throttle_key() -> str:
    """A fresh key, of the length and alphabet the template's GenerateSecretString gives."""
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(THROTTLE_KEY_LENGTH))


def oliver_secret_value() -> dict[str, str]:
    from local.oliver_sandbox import seed

    return {"username": seed.USERNAME, "password": seed.PASSWORD, "location_id": seed.LOCATION_ID}


def client(service: str, aws_url: str) -> Any:
    import boto3

    return boto3.client(
        service,  # type: ignore[call-overload]
        endpoint_url=aws_url,
        region_name=REGION,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
    )


def _check_free(host: str, port: int) -> None:
    """Raise OSError when the port cannot be bound (with the reuse flag servers use)."""
    if port == 0:
        return
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind((host, port))


@dataclass(frozen=True)
class SeededResources:
    aws_url: str
    oliver_secret_arn: str
    captcha_secret_arn: str
    event_bus_arn: str
    table_name: str
    dlq_url: str
    inspection_queue_url: str
    throttle_table_name: str
    throttle_key_secret_arn: str


class AwsEmulation:
    """moto's ThreadedMotoServer, bound before start() returns so a busy port fails loudly."""

    def __init__(self, host: str = "127.0.0.1", port: int = 4566) -> None:
        self.host = host
        self.port = port
        self._server: ThreadedMotoServer | None = None
        self.resources: SeededResources | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> None:
        from threading import Thread

        from moto.moto_server.threaded_moto_server import ThreadedMotoServer
        from moto.moto_server.werkzeug_app import (
            DomainDispatcherApplication,
            MotoRequestHandler,
            create_backend_app,
        )
        from werkzeug.serving import make_server

        # moto's server logs every request through werkzeug; the console has better things to say.
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        app = DomainDispatcherApplication(create_backend_app)
        # ThreadedMotoServer binds inside its thread and waits forever when the port is taken, so
        # bind here (an OSError reaches the caller) and hand the bound server to its machinery.
        _check_free(self.host, self.port)
        try:
            wsgi = make_server(self.host, self.port, app, True, request_handler=MotoRequestHandler)
        except SystemExit as exc:  # werkzeug exits the process when it cannot bind
            raise OSError(errno.EADDRINUSE, f"cannot bind {self.host}:{self.port}") from exc
        self.port = wsgi.server_address[1]
        server = ThreadedMotoServer(ip_address=self.host, port=self.port, verbose=False)
        server._server = wsgi
        server._thread = Thread(
            target=wsgi.serve_forever, kwargs={"poll_interval": 0.1}, name="aws", daemon=True
        )
        server._thread.start()
        server._server_ready_event.set()
        self._server = server

    def seed(self, oliver_secret: dict[str, str] | str | None = None) -> SeededResources:
        url = self.url
        # moto keeps its state per process: an emulation started earlier in the same process (a
        # test session) must not leave its resources in this one.
        httpx.post(f"{url}/moto-api/reset", timeout=10).raise_for_status()
        secretsmanager = client("secretsmanager", url)
        value = oliver_secret if oliver_secret is not None else oliver_secret_value()
        oliver_arn = secretsmanager.create_secret(
            Name=OLIVER_SECRET_NAME,
            SecretString=value if isinstance(value, str) else json.dumps(value),
        )["ARN"]
        captcha_arn = secretsmanager.create_secret(
            Name=CAPTCHA_SECRET_NAME, SecretString=CAPTCHA_SECRET_VALUE
        )["ARN"]
        secretsmanager.create_secret(
            Name=WEBHOOK_SECRET_NAME,
            SecretString=json.dumps(DEMO_WEBHOOK_SECRETS),
        )
        throttle_key_arn = secretsmanager.create_secret(
            Name=THROTTLE_KEY_SECRET_NAME,
            Description="HMAC key for visitor throttling counters",
            SecretString=throttle_key(),
        )["ARN"]
        secretsmanager.create_secret(
            Name=PAGE_FORM_KEY_SECRET_NAME,
            Description="HMAC key for the booking page's form tokens and calendar links",
            SecretString=throttle_key(),
        )

        create_tables(client("dynamodb", url))

        sqs = client("sqs", url)
        dlq_url = sqs.create_queue(QueueName=DLQ_NAME)["QueueUrl"]
        inspection_url = sqs.create_queue(QueueName=INSPECTION_QUEUE_NAME)["QueueUrl"]
        inspection_arn = sqs.get_queue_attributes(
            QueueUrl=inspection_url, AttributeNames=["QueueArn"]
        )["Attributes"]["QueueArn"]

        events = client("events", url)
        bus_arn = events.create_event_bus(Name=EVENT_BUS_NAME)["EventBusArn"]
        events.put_rule(
            Name=INSPECTION_RULE_NAME,
            EventBusName=EVENT_BUS_NAME,
            EventPattern=json.dumps(MATCH_ALL_EVENTS),
            State="ENABLED",
            Description="Local stack: every event of the bus goes to the inspection queue",
        )
        events.put_targets(
            Rule=INSPECTION_RULE_NAME,
            EventBusName=EVENT_BUS_NAME,
            Targets=[{"Id": "inspection-queue", "Arn": inspection_arn}],
        )
        self.resources = SeededResources(
            aws_url=url,
            oliver_secret_arn=oliver_arn,
            captcha_secret_arn=captcha_arn,
            event_bus_arn=bus_arn,
            table_name=IDEMPOTENCY_TABLE_NAME,
            dlq_url=dlq_url,
            inspection_queue_url=inspection_url,
            throttle_table_name=THROTTLE_TABLE_NAME,
            throttle_key_secret_arn=throttle_key_arn,
        )
        return self.resources

    def seed_consumers(self, consumers: Sequence[ConsumerSpec], sender: str) -> dict[str, str]:
        """The consumers' queues (with their dead-letter queues and redrive), the rules that feed
        them, and `sender` verified in SES (v2). Returns queue logical id -> queue URL."""
        sqs, events = client("sqs", self.url), client("events", self.url)
        urls: dict[str, str] = {}
        for consumer in consumers:
            attributes = {
                "DelaySeconds": str(consumer.delay_seconds),
                "VisibilityTimeout": str(consumer.visibility_timeout),
            }
            if consumer.dead_letter_queue_name:
                dlq_url = sqs.create_queue(QueueName=consumer.dead_letter_queue_name)["QueueUrl"]
                dlq_arn = _queue_arn(sqs, dlq_url)
                redrive = {
                    "deadLetterTargetArn": dlq_arn,
                    "maxReceiveCount": consumer.max_receive_count,
                }
                attributes["RedrivePolicy"] = json.dumps(redrive)
            url = sqs.create_queue(QueueName=consumer.queue_name, Attributes=attributes)["QueueUrl"]
            urls[consumer.queue_id] = url
            for rule in consumer.rules:
                events.put_rule(
                    Name=rule.name,
                    EventBusName=EVENT_BUS_NAME,
                    EventPattern=json.dumps(rule.pattern),
                    State="ENABLED",
                )
                events.put_targets(
                    Rule=rule.name,
                    EventBusName=EVENT_BUS_NAME,
                    Targets=[{"Id": "queue", "Arn": _queue_arn(sqs, url)}],
                )
        if sender:
            client("sesv2", self.url).create_email_identity(EmailIdentity=sender)
        return urls

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.stop()


@functools.cache
def _tables() -> dict[str, dict[str, Any]]:
    """CreateTable's arguments of both tables, from template.yaml (parsed once a process)."""
    from local.template import Template

    template = Template()
    return {
        IDEMPOTENCY_TABLE_NAME: template.table("IdempotencyTable"),
        THROTTLE_TABLE_NAME: template.table("ThrottleTable"),
    }


def create_tables(dynamodb: Any) -> None:
    """Both tables as template.yaml declares them (keys, indexes), with TTL on `expiration`."""
    for name, table in _tables().items():
        dynamodb.create_table(TableName=name, **table)
        dynamodb.update_time_to_live(
            TableName=name,
            TimeToLiveSpecification={"Enabled": True, "AttributeName": "expiration"},
        )
