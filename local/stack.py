"""`LocalStack`: the local stack (`python -m local.dev`) as a subprocess, for tests and scripts.

    with LocalStack() as stack:
        httpx.post(f"{stack.api_url}/bookings", json=...)
        events = stack.received_events(expected=1)

It runs on free ports with `--no-console`, so the events stay in the inspection queue for
`received_events()`. Its output goes to a log file (`log_path`, `log_text()`).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx

from local import aws
from local.template import REPO_ROOT

SANDBOX_API_PREFIX = "/services/core/open_api/v1"


class LocalStackError(RuntimeError):
    """The local stack did not start (the message ends with the tail of its log)."""


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class LocalStack:
    def __init__(
        self,
        *,
        api_port: int | None = None,
        sandbox_port: int | None = None,
        aws_port: int | None = None,
        workdir: Path | str | None = None,
        template: Path | str | None = None,
        extra_args: Sequence[str] = (),
        env: Mapping[str, str] | None = None,
        startup_timeout: float = 60.0,
        python: str = sys.executable,
    ) -> None:
        self.api_port = api_port or free_port()
        self.sandbox_port = sandbox_port or free_port()
        self.aws_port = aws_port or free_port()
        self.api_url = f"http://127.0.0.1:{self.api_port}"
        self.sandbox_url = f"http://127.0.0.1:{self.sandbox_port}"
        self.sandbox_api_base = self.sandbox_url + SANDBOX_API_PREFIX
        self.aws_url = f"http://127.0.0.1:{self.aws_port}"
        self.inspection_queue_url = aws.queue_url(self.aws_url, aws.INSPECTION_QUEUE_NAME)
        self.dlq_url = aws.queue_url(self.aws_url, aws.DLQ_NAME)
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="local-stack-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.log_path = self.workdir / "local-stack.log"
        self.state_file = self.workdir / "sandbox.json"
        self.outbox = self.workdir / "outbox"
        self.template = template
        self.extra_args = tuple(extra_args)
        self.env = dict(env or {})
        self.startup_timeout = startup_timeout
        self.python = python
        self.startup_seconds: float | None = None
        self.process: subprocess.Popen[bytes] | None = None
        # A CA bundle only for HTTPS (the stack is plain HTTP: parsing it would cost ~50 ms of CPU).
        self._http = httpx.Client(timeout=10.0, verify=self.api_url.startswith("https://"))
        self._sqs: Any = None

    # -- lifecycle

    def command(self) -> list[str]:
        command = [
            self.python,
            "-m",
            "local.dev",
            "--api-port",
            str(self.api_port),
            "--sandbox-port",
            str(self.sandbox_port),
            "--aws-port",
            str(self.aws_port),
            "--state-file",
            str(self.state_file),
            "--outbox",
            str(self.outbox),
            "--no-console",
        ]
        if self.template is not None:
            command += ["--template", str(self.template)]
        return command + list(self.extra_args)

    def start(self) -> LocalStack:
        # The functions' configuration is the template's (and ``--env``): none of it is inherited
        # from whatever this process has set (a test harness that configured a function here
        # must not reconfigure the stack's, e.g. with its own backoff or cache times).
        inherited = {k: v for k, v in os.environ.items() if k not in _function_variables()}
        env = {**inherited, "PYTHONUNBUFFERED": "1", **self.env}
        env.pop("AWS_PROFILE", None)
        started = time.monotonic()
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(  # noqa: S603 - our own module, no shell
                self.command(),
                cwd=REPO_ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        try:
            self.wait_ready(deadline=started + self.startup_timeout)
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - started
        return self

    def wait_ready(self, *, deadline: float) -> None:
        """Until GET /health answers 200 on the API, the sandbox answers at all, and the stack
        said READY (after which its banner, with every address, is complete)."""
        api_ok = sandbox_ok = False
        while time.monotonic() < deadline:
            if self.process is None or self.process.poll() is not None:
                code = None if self.process is None else self.process.returncode
                raise LocalStackError(f"the local stack exited with {code}\n{self.log_tail()}")
            try:
                if not api_ok:
                    api_ok = self._http.get(f"{self.api_url}/health", timeout=2).status_code == 200
                if api_ok and not sandbox_ok:
                    self._http.get(f"{self.sandbox_url}/__sandbox/state", timeout=2)
                    sandbox_ok = True
                if api_ok and sandbox_ok and "READY" in self.log_text():
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise LocalStackError(
            f"the local stack was not ready after {self.startup_timeout:.0f}s\n{self.log_tail()}"
        )

    def stop(self, timeout: float = 10.0) -> int | None:
        """SIGINT (as Ctrl-C would), then SIGKILL if it does not exit. Returns the exit code."""
        process = self.process
        if process is None:
            return None
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)
        self._http.close()
        return process.returncode

    @property
    def returncode(self) -> int | None:
        return None if self.process is None else self.process.poll()

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""

    def log_tail(self, lines: int = 60) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])

    # -- AWS emulation

    def client(self, service: str) -> Any:
        """A boto3 client for the stack's AWS emulation."""
        return aws.client(service, self.aws_url)

    def _queue(self) -> Any:
        if self._sqs is None:
            self._sqs = self.client("sqs")
        return self._sqs

    def received_events(self, timeout: float = 5.0, expected: int = 1) -> list[dict[str, Any]]:
        """Events that reached the inspection queue (removed from it), waiting up to `timeout`
        seconds for `expected` of them; fewer if fewer arrive."""
        sqs = self._queue()
        events: list[dict[str, Any]] = []
        deadline = time.monotonic() + timeout
        while len(events) < expected:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            messages = sqs.receive_message(
                QueueUrl=self.inspection_queue_url,
                MaxNumberOfMessages=10,
                WaitTimeSeconds=max(0, min(1, int(remaining))),
            ).get("Messages", [])
            for message in messages:
                events.append(json.loads(message["Body"]))
                sqs.delete_message(
                    QueueUrl=self.inspection_queue_url, ReceiptHandle=message["ReceiptHandle"]
                )
        return events

    def drain_events(self) -> int:
        """Empty the inspection queue; returns how many events were dropped."""
        sqs = self._queue()
        dropped = 0
        while True:
            messages = sqs.receive_message(
                QueueUrl=self.inspection_queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0
            ).get("Messages", [])
            if not messages:
                return dropped
            for message in messages:
                sqs.delete_message(
                    QueueUrl=self.inspection_queue_url, ReceiptHandle=message["ReceiptHandle"]
                )
                dropped += 1

    def clear_idempotency(self) -> int:
        """Delete every idempotency record (so a test's booking is not a replay of another's)."""
        return self._clear_table(aws.IDEMPOTENCY_TABLE_NAME)

    def clear_counters(self) -> int:
        """Delete every visitor counter (so a test starts with every visitor's limits unused)."""
        return self._clear_table(aws.THROTTLE_TABLE_NAME)

    def _clear_table(self, table: str) -> int:
        dynamodb = self.client("dynamodb")
        deleted = 0
        for page in dynamodb.get_paginator("scan").paginate(
            TableName=table, ProjectionExpression="id"
        ):
            for item in page.get("Items", []):
                dynamodb.delete_item(TableName=table, Key={"id": item["id"]})
                deleted += 1
        return deleted

    # -- Oliver sandbox control endpoints

    def _control(self, method: str, name: str, body: Mapping[str, Any] | None = None) -> Any:
        response = self._http.request(
            method, f"{self.sandbox_url}/__sandbox/{name}", json=body if body is not None else None
        )
        response.raise_for_status()
        return response.json()

    def sandbox_state(self) -> dict[str, Any]:
        """`{"appointments": [...], "create_requests": n, "appointments_created": n}`."""
        return self._control("GET", "state")  # type: ignore[no-any-return]

    def sandbox_requests(self) -> list[dict[str, Any]]:
        """The requests the sandbox received (tokens and passwords masked)."""
        return self._control("GET", "requests")  # type: ignore[no-any-return]

    def sandbox_faults(self, rules: Sequence[Mapping[str, Any]], **options: Any) -> Any:
        """Add fault rules (and `latency_ms` / `error_rate`) to the sandbox."""
        return self._control("POST", "faults", {"rules": list(rules), **options})

    def sandbox_staff_tasks(self) -> list[dict[str, Any]]:
        """Every staff task in the sandbox, oldest first."""
        return self._control("GET", "staff_tasks")  # type: ignore[no-any-return]

    def sandbox_ai_outbound(self) -> list[dict[str, Any]]:
        """Every AI outbound request in the sandbox, oldest first."""
        return self._control("GET", "ai_outbound")  # type: ignore[no-any-return]

    def sent_emails(self) -> list[Path]:
        """The .eml files of the emails sent so far (the outbox), oldest first."""
        return sorted(self.outbox.glob("*.eml")) if self.outbox.is_dir() else []

    def sandbox_settings(self, **settings: Any) -> Any:
        return self._control("POST", "settings", settings)

    def sandbox_reset(self) -> None:
        """Back to the seeded practice: no appointments, no faults, default settings."""
        self._control("POST", "reset", {})


def _function_variables() -> frozenset[str]:
    """Every variable the functions' configuration reads (booking.config, booking.notify)."""
    layer = str(REPO_ROOT / "layers" / "booking")
    if layer not in sys.path:
        sys.path.insert(0, layer)
    from booking.config import _VARIABLES as BOOKING_VARIABLES
    from booking.notify.settings import VARIABLES as NOTIFY_VARIABLES

    return frozenset(BOOKING_VARIABLES) | frozenset(NOTIFY_VARIABLES)
