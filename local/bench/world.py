"""What the launch measurement talks to, and the events it sends.

- AWS: moto's server (``local.aws.AwsEmulation``) on a free 127.0.0.1 port, seeded once as the
  local stack seeds it (secrets, bus, tables, queues; the notification consumers' queues too),
  reached by real botocore clients over HTTP (``AWS_ENDPOINT_URL``).
- Oliver: the sandbox (``SandboxServer(port=0)``) over real HTTP.
- Each function's environment: template.yaml resolved for this world (``Template.environment``
  with ``LocalSettings`` pointing at the two servers), plus what the Lambda runtime sets.

Template defaults everywhere except what a local world must change: the Oliver URL and secrets
(sandbox credentials), the demo partner source, the consumers switched on (text-back included),
and ``ThrottleExemptCidrs`` (the bench posts every booking from 127.0.0.1, which the per-IP
throttle would answer 429 after 20). CAPTCHA stays off, as the template's default.

Every booking takes a fresh slot and a fresh idempotency key (a new slot changes a public
booking's derived key; a partner's delivery id is new each time), so every first answer is a
real booking, never a replay.
"""

from __future__ import annotations

import copy
import json
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from local import aws
from local.api_gateway import Request, build_event, lambda_runtime_environment, new_request_id
from local.oliver_sandbox import SandboxServer, slots
from local.template import LocalSettings, Route, Template

#: The bench posts from here; ``ThrottleExemptCidrs`` exempts it (see the module docstring).
BENCH_IP = "127.0.0.1"
#: A visitor the per-IP throttle counts (TEST-NET-3), for the warm "counted visitor" series.
COUNTED_IP = "203.0.113.7"
THROTTLE_EXEMPT_CIDRS = "127.0.0.0/8,::1/128"
#: Jane Doe and Rex as a visitor types them into the form (a public booking by name).
VISITOR = {
    "first_name": "Jane",
    "last_name": "Doe",
    "email": "jane@example.com",
    "phone": "(555) 555-0100",
    "patient_name": "Rex",
}
#: Jane and Rex as a partner addresses them (Oliver's ids).
PARTNER = {"client_id": 1001, "patient_id": 2001}
#: The failed booking that feeds the staff and text-back functions: Emma Chen (who books nothing
#: else here, so the follow-up is not dropped as rebooked) and her cat, by name on the public
#: form (so the event carries a phone to text back), on a taken slot.
FAILING = {
    "first_name": "Emma",
    "last_name": "Chen",
    "email": "emma.chen@example.com",
    "phone": "(555) 555-0105",
    "patient_name": "Mochi",
}
API_FUNCTION = "ApiFunction"
#: The notification functions and the event each one is fed.
CONSUMERS = {
    "ConfirmationEmailFunction": "Appointment Booked",
    "StaffFollowUpFunction": "Booking Failed",
    "TextBackFunction": "Booking Failed",
}
PARAMETERS = {
    "ThrottleExemptCidrs": THROTTLE_EXEMPT_CIDRS,
    "CaptchaSecretArn": "",  # the template's default: forms are not CAPTCHA-checked
    "TextBack": "on",  # so that the text-back function exists and has its queue
}


def slot_ids(first_day: date, category: str = "wellness") -> Iterator[str]:
    """Every schedule slot from ``first_day`` on (the sandbox issues and accepts these ids)."""
    day = first_day
    while True:
        for slot in slots.day_slots(day, category):
            yield slot.uuid
        day += timedelta(days=1)


def standard_signature(secret: str, msg_id: str, timestamp: int, body: str) -> str:
    """A Standard Webhooks signature (``v1,<base64 HMAC-SHA256>``), as the partner signs."""
    import base64
    import hashlib
    import hmac

    key = base64.b64decode(secret.removeprefix("whsec_"))
    digest = hmac.new(key, f"{msg_id}.{timestamp}.{body}".encode(), hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


class World:
    """``deps``: the layer's dependencies installed as ``sam build`` installs them, for this
    machine (``artifact.build(for_lambda=False)``). The children then run ``python -S`` with
    the function's code, our layer and these on their path, and nothing of the venv's: no
    package the deployed function lacks (the venv's dev tools include click, rich and pygments,
    which httpx imports when they are there). Without it, the venv's site-packages."""

    def __init__(self, deps: Path | None = None) -> None:
        self.deps = deps
        self.python = [sys.executable, "-S"] if deps is not None else [sys.executable]
        self.template = Template()
        self.emulation = aws.AwsEmulation(port=0)
        # A taken slot answered 409, so that the failed booking is ``slot_unavailable``: the
        # reason the text-back function acts on.
        self.sandbox = SandboxServer(port=0, state_file=None, slot_taken_status=409)
        self.settings: LocalSettings | None = None
        self._slots = slot_ids(date.today() + timedelta(days=2))
        self._home = tempfile.TemporaryDirectory(prefix="bench-home-")
        self.queue_urls: dict[str, str] = {}
        #: The bus event each notification function is fed (``launch.prepare`` finds them).
        self.fed: dict[str, dict[str, Any]] = {}

    # -- lifecycle

    def start(self) -> World:
        self.emulation.start()
        self.sandbox.start()
        self.settings = LocalSettings(
            sandbox_url=self.sandbox.url,
            sandbox_api_base=self.sandbox.api_base,
            aws_url=self.emulation.url,
            parameter_overrides=PARAMETERS,
        )
        os.environ.update(
            AWS_ACCESS_KEY_ID=aws.ACCESS_KEY,
            AWS_SECRET_ACCESS_KEY=aws.SECRET_KEY,
            AWS_DEFAULT_REGION=aws.REGION,
        )
        self.resources = self.emulation.seed()
        consumers = self.template.consumers(self.settings)
        sender = self.template.environment(consumers[0].function_id, self.settings).get(
            "NOTIFY_SENDER", aws.LOCAL_SENDER
        )
        self.queue_urls = self.emulation.seed_consumers(consumers, sender)
        self.consumer_queues = {c.function_id: c.queue_name for c in consumers}
        return self

    def stop(self) -> None:
        self.sandbox.stop()
        self.emulation.stop()
        self._home.cleanup()

    def __enter__(self) -> World:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    # -- functions

    def environment(self, function_id: str, code_dir: Path | None = None) -> dict[str, str]:
        """A Lambda-like environment: nothing of this shell's but PATH, the runtime's
        variables, the template's (resolved for this world), AWS at the moto server."""
        assert self.settings is not None
        spec = self.template.function(function_id)
        code = code_dir or spec.code_dir
        return {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": self._home.name,  # no ~/.aws of this machine's
            "LANG": "C.UTF-8",
            "TZ": "UTC",
            **lambda_runtime_environment(spec),
            "LAMBDA_TASK_ROOT": str(code),
            **self.template.environment(function_id, self.settings),
            "AWS_ENDPOINT_URL": self.emulation.url,
            "AWS_ACCESS_KEY_ID": aws.ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": aws.SECRET_KEY,
            "PYTHONPATH": os.pathsep.join(
                str(p) for p in (code, *self._own_deps(code), *spec.layer_dirs, *self._deps())
            ),
        }

    def _own_deps(self, code: Path) -> tuple[Path, ...]:
        """A function's own requirements (``sam build`` installs them into its artifact)."""
        requirements = code / "requirements.txt"
        if self.deps is None or not requirements.is_file():
            return ()
        from local.bench.artifact import build

        built = build(for_lambda=False, requirements=requirements)
        return (built,) if built is not None else ()

    def _deps(self) -> tuple[Path, ...]:
        return (self.deps,) if self.deps is not None else ()

    def floor_environment(self) -> dict[str, str]:
        """The floor's: the same interpreter and dependencies, nothing else."""
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": self._home.name,
            "LANG": "C.UTF-8",
            "TZ": "UTC",
        }
        if self.deps is not None:
            env["PYTHONPATH"] = str(self.deps)
        return env

    def context(self, function_id: str) -> dict[str, Any]:
        spec = self.template.function(function_id)
        return {
            "function_name": spec.function_name,
            "invoked_function_arn": (
                f"arn:aws:lambda:{aws.REGION}:{aws.ACCOUNT_ID}:function:{spec.function_name}"
            ),
            "memory_limit_in_mb": spec.memory_size,
            "timeout": spec.timeout,
            "aws_request_id": str(uuid.uuid4()),
        }

    # -- events

    def next_slot(self) -> str:
        return next(self._slots)

    def _http_event(
        self,
        method: str,
        path: str,
        body: str = "",
        headers: dict[str, str] | None = None,
        route: str | None = None,
        path_parameters: dict[str, str] | None = None,
        source_ip: str = BENCH_IP,
    ) -> dict[str, Any]:
        request = Request(
            method,
            path,
            "",
            [("host", "api.bench.example"), ("user-agent", "bench"), *(headers or {}).items()],
            body.encode(),
            source_ip=source_ip,
        )
        return build_event(
            request,
            Route(method, route or path, API_FUNCTION),
            path_parameters or {},
            request_id=new_request_id(),
            epoch_ms=int(time.time() * 1000),
        )

    def origin(self) -> str:
        assert self.settings is not None
        return self.settings.api_origins[0]

    def public_event(
        self,
        slot: str | None = None,
        fields: dict[str, Any] | None = None,
        source_ip: str = BENCH_IP,
    ) -> dict[str, Any]:
        """POST /bookings: Jane Doe, her email and phone, and Rex, as the practice's page posts
        them (JSON, from an allowed origin)."""
        body = json.dumps({"slot_id": slot or self.next_slot(), **(fields or VISITOR)})
        headers = {"content-type": "application/json", "origin": self.origin()}
        return self._http_event("POST", "/bookings", body, headers, source_ip=source_ip)

    def partner_event(
        self, slot: str | None = None, fields: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """POST /webhooks/partner-demo: Jane and Rex by Oliver's ids, signed by the demo partner
        (Standard Webhooks) with a new delivery id."""
        body = json.dumps({"slot_id": slot or self.next_slot(), **(fields or PARTNER)})
        delivery = f"msg_{uuid.uuid4().hex}"
        stamp = int(time.time())
        headers = {
            "content-type": "application/json",
            "webhook-id": delivery,
            "webhook-timestamp": str(stamp),
            "webhook-signature": standard_signature(aws.DEMO_WEBHOOK_SECRET, delivery, stamp, body),
        }
        source = aws.DEMO_WEBHOOK_SOURCE
        return self._http_event(
            "POST",
            f"/webhooks/{source}",
            body,
            headers,
            route="/webhooks/{source}",
            path_parameters={"source": source},
        )

    def health_event(self) -> dict[str, Any]:
        return self._http_event("GET", "/health")

    # -- the notification functions' events

    def bus_events(self) -> list[dict[str, Any]]:
        """Take every event the bus delivered so far (the inspection queue sees them all)."""
        sqs = aws.client("sqs", self.emulation.url)
        found: list[dict[str, Any]] = []
        while True:
            messages = sqs.receive_message(
                QueueUrl=self.resources.inspection_queue_url, MaxNumberOfMessages=10
            ).get("Messages", [])
            if not messages:
                return found
            for message in messages:
                found.append(json.loads(message["Body"]))
                sqs.delete_message(
                    QueueUrl=self.resources.inspection_queue_url,
                    ReceiptHandle=message["ReceiptHandle"],
                )

    def sqs_event(self, function_id: str, bus_event: dict[str, Any]) -> dict[str, Any]:
        """One SQS batch of one message, as the function's queue delivers ``bus_event`` (with a
        new event id, so that the consumer's run-once record is new too)."""
        from local.notifications import sqs_event

        fresh = copy.deepcopy(bus_event)
        fresh["id"] = str(uuid.uuid4())
        fresh["detail"]["event_id"] = str(uuid.uuid4())
        queue = self.consumer_queues[function_id]
        message = {
            "MessageId": str(uuid.uuid4()),
            "ReceiptHandle": uuid.uuid4().hex,
            "Body": json.dumps(fresh),
            "Attributes": {"ApproximateReceiveCount": "1"},
        }
        return sqs_event([message], f"arn:aws:sqs:{aws.REGION}:{aws.ACCOUNT_ID}:{queue}")
