"""`make dev`: the whole local stack in the foreground, on 127.0.0.1; Ctrl-C stops all of it.

AWS emulation (moto) -> Oliver sandbox -> token refresher (SharedSignIn on: signs in once and
writes the token into the local Oliver secret, then runs on its schedule) -> API emulation (the
real handler, in this process) -> event console. Ports come from BOOKING_API_PORT,
OLIVER_SANDBOX_PORT and AWS_EMULATION_PORT (or the flags). `READY` is printed once every part
answers.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType
from typing import Any, ClassVar, Protocol

from local import aws
from local.api_gateway import LocalApi
from local.console import EventConsole
from local.notifications import LocalNotifications
from local.oliver_sandbox import SandboxServer, seed
from local.template import (
    DEFAULT_TEMPLATE,
    REPO_ROOT,
    LocalSettings,
    Resolver,
    Template,
    TemplateError,
)

HOST = "127.0.0.1"
READY_LINE = "READY"
DEFAULT_STATE_FILE = REPO_ROOT / ".local-state" / "sandbox.json"
DEFAULT_OUTBOX = REPO_ROOT / ".local-state" / "outbox"


def _port(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    try:
        port = int(value)
    except ValueError:
        raise SystemExit(f"{name}={value!r} is not a port number") from None
    if not 0 <= port <= 65535:
        raise SystemExit(f"{name}={value!r} is not a port number")
    return port


def _pairs(values: Sequence[str], flag: str) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for item in values:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise SystemExit(f"{flag} expects NAME=VALUE, got {item!r}")
        pairs[name] = value
    return pairs


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m local.dev", description=__doc__)
    parser.add_argument(
        "--api-port", type=int, default=_port("BOOKING_API_PORT", 3000), help="default 3000"
    )
    parser.add_argument(
        "--sandbox-port", type=int, default=_port("OLIVER_SANDBOX_PORT", 3001), help="default 3001"
    )
    parser.add_argument(
        "--aws-port", type=int, default=_port("AWS_EMULATION_PORT", 4566), help="default 4566"
    )
    parser.add_argument(
        "--no-console", action="store_true", help="do not print (and consume) bus events"
    )
    parser.add_argument(
        "--state-file",
        type=Path,
        default=DEFAULT_STATE_FILE,
        help="where the sandbox keeps its state (default .local-state/sandbox.json)",
    )
    parser.add_argument(
        "--outbox",
        type=Path,
        default=DEFAULT_OUTBOX,
        help="where every email sent is written as an .eml file (default .local-state/outbox)",
    )
    parser.add_argument(
        "--no-notifications",
        action="store_true",
        help="do not run the notification consumers (emails, staff tasks, text-back)",
    )
    parser.add_argument("--template", type=Path, default=DEFAULT_TEMPLATE, help=argparse.SUPPRESS)
    parser.add_argument(
        "--parameter-overrides",
        nargs="*",
        default=[],
        metavar="NAME=VALUE",
        help="template parameter values for the local stack (as sam deploy takes them)",
    )
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="set a function environment variable after the template's (repeatable)",
    )
    return parser.parse_args(argv)


def _say(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def _set_aws_environment(aws_url: str) -> None:
    """Every boto3 client of this process (the handler's included) talks to the emulation."""
    os.environ["AWS_ENDPOINT_URL"] = aws_url
    os.environ["AWS_DEFAULT_REGION"] = aws.REGION
    os.environ["AWS_REGION"] = aws.REGION
    os.environ["AWS_ACCESS_KEY_ID"] = aws.ACCESS_KEY
    os.environ["AWS_SECRET_ACCESS_KEY"] = aws.SECRET_KEY
    for name in ("AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_SECURITY_TOKEN"):
        os.environ.pop(name, None)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.monotonic()
    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    try:
        template = Template(args.template)
    except TemplateError as exc:
        _say(f"local stack: {exc}")
        return 1

    stack: list[tuple[str, _Stoppable]] = []
    try:
        emulation = aws.AwsEmulation(HOST, args.aws_port)
        _start("AWS emulation", emulation.start, "AWS_EMULATION_PORT", args.aws_port)
        stack.append(("AWS emulation", emulation))
        _set_aws_environment(emulation.url)
        resources = emulation.seed()

        args.state_file.parent.mkdir(parents=True, exist_ok=True)
        sandbox = SandboxServer(HOST, args.sandbox_port, state_file=args.state_file)
        _start("Oliver sandbox", sandbox.start, "OLIVER_SANDBOX_PORT", args.sandbox_port)
        stack.append(("Oliver sandbox", sandbox))

        api_port = args.api_port or _free_port()
        settings = LocalSettings(
            api_url=f"http://{HOST}:{api_port}",
            sandbox_url=sandbox.url,
            sandbox_api_base=sandbox.api_base,
            aws_url=emulation.url,
            parameter_overrides=_pairs(args.parameter_overrides, "--parameter-overrides"),
            env_overrides=_pairs(args.env, "--env"),
        )
        # The demo page builds its absolute URLs from this.
        os.environ["BOOKING_API_PORT"] = str(api_port)
        # Before the API: its first request finds the shared token in the secret.
        refresher = LocalTokenRefresher.start(template, settings)
        if refresher is not None:
            stack.append(("token refresher", refresher))
        # Before the API: once /health answers, every part runs (and READY follows at once).
        notifications = None
        if not args.no_notifications:
            notifications = LocalNotifications.start(
                template, settings, emulation, args.outbox.resolve()
            )
            stack.append(("notification consumers", notifications))

        api = LocalApi(template, settings, host=HOST, port=api_port, access_log=sys.stdout)
        _start("API", lambda: api.start(preload=True), "BOOKING_API_PORT", api_port)
        stack.append(("API", api))

        if not args.no_console:
            console = EventConsole(emulation.url, resources.inspection_queue_url)
            console.start()
            stack.append(("console", console))

        _say(_banner(api, sandbox, emulation, resources, console=not args.no_console))
        if notifications is not None:
            _say(_notifications_banner(notifications, args.outbox))
        if refresher is not None:
            _say(refresher.banner())
        _say(f"{READY_LINE} in {time.monotonic() - started:.1f}s; Ctrl-C stops everything.")
        stop.wait()
        _say("\nStopping the local stack...")
        return 0
    except _StartError as exc:
        _say(f"local stack: {exc}")
        return 1
    finally:
        for name, part in reversed(stack):
            try:
                part.stop()
            except Exception as exc:
                _say(f"local stack: stopping the {name} failed: {exc}")


def _banner(
    api: LocalApi,
    sandbox: SandboxServer,
    emulation: aws.AwsEmulation,
    resources: aws.SeededResources,
    *,
    console: bool,
) -> str:
    routes = ", ".join(route.route_key for route in api.routes)
    pad = " " * 18
    events = "printed below as they reach the bus" if console else "not printed (--no-console)"
    return "\n".join(
        [
            "",
            f"  Demo page       {api.url}/",
            f"  API             {api.url}  ({routes})",
            f"  Oliver sandbox  {sandbox.api_base}",
            f"{pad}control endpoints under {sandbox.url}/__sandbox/",
            f"  AWS emulation   {emulation.url}  (region {aws.REGION}, keys testing/testing)",
            f"{pad}bus {aws.EVENT_BUS_NAME}, table {aws.IDEMPOTENCY_TABLE_NAME}",
            f"{pad}secret {aws.OLIVER_SECRET_NAME}",
            f"  Webhooks        {api.url}/webhooks/{aws.DEMO_WEBHOOK_SOURCE}  (standard-webhooks,",
            f"{pad}secret {aws.DEMO_WEBHOOK_SECRET} in {aws.WEBHOOK_SECRET_NAME})",
            f"{pad}inspection queue {resources.inspection_queue_url}",
            f"{pad}dead-letter queue {resources.dlq_url}",
            f"  Practice        {seed.PRACTICE_NAME}, location {seed.LOCATION_ID}",
            f"{pad}partner login {seed.USERNAME} / {seed.PASSWORD}",
            f"  Events          {events}",
            "",
        ]
    )


def _notifications_banner(notifications: LocalNotifications, outbox: Path) -> str:
    pad = " " * 18
    lines = []
    for consumer in notifications.consumers:
        wait = f", after {consumer.delay_seconds} s" if consumer.delay_seconds else ""
        lines.append(f"{pad}{consumer.function_id} <- {consumer.queue_name}{wait}")
    consumers = "\n".join(lines) if lines else f"{pad}none (each is off in the template)"
    return f"  Notifications   emails written to {outbox}\n{consumers}\n"


class LocalTokenRefresher:
    """The template's TokenRefresherFunction (SharedSignIn on) with its real handler: one run
    before the API starts, so the local Oliver secret holds a token from the first request on,
    then one every TokenRefreshMinutes, as its schedule runs it when deployed."""

    FUNCTION_ID = "TokenRefresherFunction"
    #: What EventBridge hands a function on a schedule.
    EVENT: ClassVar[dict[str, Any]] = {
        "version": "0",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "detail": {},
    }

    def __init__(self, runtime: Any, interval: float) -> None:
        self.runtime = runtime
        self.interval = interval
        self.runs = 0
        self.last: dict[str, Any] | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @classmethod
    def start(cls, template: Template, settings: LocalSettings) -> LocalTokenRefresher | None:
        """Run it once now and then on its schedule; None when the template leaves it out."""
        from local.api_gateway import FunctionRuntime

        resource = template.resources.get(cls.FUNCTION_ID)
        if not isinstance(resource, dict):
            return None
        condition = resource.get("Condition")
        if condition and not Resolver(template, settings).condition(condition):
            return None
        environment = template.environment(cls.FUNCTION_ID, settings)
        for name, value in environment.items():
            os.environ[name] = value
        minutes = float(environment.get("TOKEN_REFRESH_MINUTES") or 10)
        refresher = cls(FunctionRuntime(template.function(cls.FUNCTION_ID)), minutes * 60)
        refresher.run_once()
        refresher._thread = threading.Thread(
            target=refresher._loop, name="token-refresher", daemon=True
        )
        refresher._thread.start()
        return refresher

    def run_once(self) -> dict[str, Any] | None:
        invocation = self.runtime.invoke(dict(self.EVENT))
        self.runs += 1
        ok = invocation.outcome == "ok" and isinstance(invocation.result, dict)
        self.last = invocation.result if ok else None
        return self.last

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.run_once()
            except Exception as exc:  # never let the schedule's thread die
                _say(f"token refresher: the run failed ({type(exc).__name__})")

    def banner(self) -> str:
        pad = " " * 18
        every = f"every {self.interval / 60:g} min"
        if self.last is None:
            done = "its first run failed (above): each function signs in itself"
        elif self.last.get("signed_in"):
            done = f"signed in once; the token is in {aws.OLIVER_SECRET_NAME}"
        elif self.last.get("reason") == "no_credentials":
            done = "the secret holds a token, not credentials: nothing to do"
        else:
            done = f"the token in {aws.OLIVER_SECRET_NAME} is current"
        return f"  Token refresher {done}\n{pad}runs {every} (SharedSignIn on)\n"

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=3)


class _StartError(Exception):
    pass


class _Stoppable(Protocol):
    def stop(self) -> None: ...


def _start(name: str, start: Callable[[], object], variable: str, port: int) -> None:
    try:
        start()
    except OSError as exc:
        raise _StartError(
            f"cannot start the {name} on {HOST}:{port} ({exc.strerror or exc}); "
            f"choose another port with {variable}=<port>"
        ) from exc


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


if __name__ == "__main__":
    sys.exit(main())
