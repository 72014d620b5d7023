"""HTTP plumbing of the sandbox: ThreadingHTTPServer, fault injection, control endpoints."""

from __future__ import annotations

import contextlib
import json
import logging
import random
import re
import socket
import struct
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit

from . import seed
from .api import (
    API_PREFIX,
    AUTH_PATH,
    Config,
    OliverApi,
    Request,
    Response,
    check_config,
    check_setting,
    error,
)
from .state import State

log = logging.getLogger("oliver_sandbox")

CONTROL_PREFIX = "/__sandbox/"
TURNSTILE_PATH = "/turnstile/v0/siteverify"
# Cloudflare's documented test secrets (public).
TURNSTILE_PASS = "1x0000000000000000000000000000000AA"  # noqa: S105
TURNSTILE_FAIL = "2x0000000000000000000000000000000AA"
TURNSTILE_SPENT = "3x0000000000000000000000000000000AA"
ACTIONS = ("status", "raw", "delay", "reset_before", "reset_after", "timeout_after")
MAX_BODY = 1 << 20
REQUEST_LOG_SIZE = 500


@dataclass
class FaultRule:
    action: dict[str, Any]
    method: str | None = None
    path: str | None = None
    times: int = 1

    def matches(self, method: str, path: str) -> bool:
        if self.times == 0:
            return False
        if self.method and self.method.upper() != method:
            return False
        if not self.path:
            return True
        relative = path[len(API_PREFIX) :] if path.startswith(API_PREFIX + "/") else None
        candidates = {path.rstrip("/") or "/", (relative or "").rstrip("/")}
        if self.path.endswith("*"):
            return any(c.startswith(self.path[:-1]) for c in candidates if c)
        return self.path.rstrip("/") in candidates

    def as_json(self) -> dict[str, Any]:
        return {"method": self.method, "path": self.path, "times": self.times, **self.action}


def parse_rule(raw: Any) -> FaultRule:
    if not isinstance(raw, dict):
        raise ValueError("each rule must be an object")
    action = raw.get("action")
    if action not in ACTIONS:
        raise ValueError(f"action must be one of {', '.join(ACTIONS)}")
    times = raw.get("times", 1)
    if isinstance(times, bool) or not isinstance(times, int) or times < -1 or times == 0:
        raise ValueError("times must be a positive integer or -1")
    spec = {k: v for k, v in raw.items() if k not in ("method", "path", "times")}
    if action in ("status", "raw"):
        status = spec.setdefault("status", 500 if action == "status" else 200)
        if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599:
            raise ValueError("status must be an HTTP status code")
    if action in ("delay", "timeout_after"):
        seconds = spec.get("seconds", 1)
        if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds < 0:
            raise ValueError("seconds must be a non-negative number")
        spec["seconds"] = seconds
    if "headers" in spec and not isinstance(spec["headers"], dict):
        raise ValueError("headers must be an object")
    return FaultRule(spec, raw.get("method"), raw.get("path"), times)


@dataclass
class Faults:
    rules: list[FaultRule] = field(default_factory=list)
    latency_ms: float = 0
    error_rate: float = 0.0

    def take(self, method: str, path: str) -> FaultRule | None:
        for rule in self.rules:
            if rule.matches(method, path):
                if rule.times > 0:
                    rule.times -= 1
                return rule
        return None

    def as_json(self) -> dict[str, Any]:
        active = [r.as_json() for r in self.rules if r.times != 0]
        return {"rules": active, "latency_ms": self.latency_ms, "error_rate": self.error_rate}


class _Aborted(Exception):
    """The connection was dropped on purpose; nothing must be written."""


class _HTTPServer(ThreadingHTTPServer):
    # socketserver's default listen backlog (5) resets connections under a burst of clients.
    request_queue_size = 128
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], sandbox: SandboxServer) -> None:
        self.sandbox = sandbox
        self.connections: set[socket.socket] = set()
        self.aborted: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self.connections_lock:
            self.connections.add(request)
        super().process_request(request, client_address)

    def mark_aborted(self, connection: socket.socket) -> None:
        with self.connections_lock:
            self.aborted.add(connection)

    def shutdown_request(self, request: Any) -> None:
        with self.connections_lock:
            self.connections.discard(request)
            aborted = request in self.aborted
            self.aborted.discard(request)
        if aborted:
            # No FIN first: closing with SO_LINGER 0 sends a bare RST.
            self.close_request(request)
        else:
            super().shutdown_request(request)

    def close_connections(self) -> None:
        with self.connections_lock:
            open_connections = list(self.connections)
        for connection in open_connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    server: _HTTPServer
    protocol_version = "HTTP/1.1"
    server_version = "OliverSandbox/1.0"
    timeout = 120  # idle keep-alive connections are dropped after this
    # Headers and body leave in one write: with separate writes, Nagle's algorithm and the
    # client's delayed ACK stall every keep-alive answer by 40 ms.
    wbufsize = -1

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:
        # Query strings carry clients' emails and phones (GET /clients?email=...): never logged.
        line = format % args
        if "?" in line:
            line = re.sub(r"\?[^\s\"]*", "?…", line)
        log.info("%s %s", self.address_string(), line)

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def do_PATCH(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    # -- plumbing -----------------------------------------------------------------------------

    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            raise ValueError("body too large")
        return self.rfile.read(length) if length > 0 else b""

    def _send(self, response: Response) -> None:
        body = response.encoded()
        self.send_response(response.status)
        headers = {"Content-Type": response.content_type, **response.headers}
        for name, value in headers.items():
            if name.lower() not in ("content-length", "connection"):
                self.send_header(name, str(value))
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        self.wfile.flush()

    def _abort(self) -> None:
        """Drop the connection without an answer (RST where the platform allows)."""
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close_connection = True
        self.server.mark_aborted(self.connection)
        raise _Aborted

    def _dispatch(self) -> None:
        try:
            self._dispatch_inner()
        except _Aborted:
            self.close_connection = True
        except (ConnectionError, TimeoutError):
            self.close_connection = True

    def _dispatch_inner(self) -> None:
        sandbox = self.server.sandbox
        split = urlsplit(self.path)
        path = split.path or "/"
        try:
            body = self._read_body()
        except ValueError:
            self.close_connection = True
            self._send(error(413, "Request body too large"))
            return
        request = Request(
            self.command, path, parse_qs(split.query, keep_blank_values=True), self.headers, body
        )
        if path.startswith(CONTROL_PREFIX):
            self._send(sandbox.control(request))
            return
        entry = sandbox.record(request)
        rule = sandbox.faults_for(request)
        action = rule.action if rule else {}
        kind = action.get("action")
        if kind == "delay":
            sandbox.sleep(float(action["seconds"]))
        if kind == "status":
            default = {"success": False, "data": None, "message": "Internal error"}
            response = Response(
                action["status"],
                action.get("body", default),
                {str(k): str(v) for k, v in (action.get("headers") or {}).items()},
            )
        elif kind == "raw":
            text = str(action.get("text", ""))
            response = Response(
                action["status"],
                raw=text.encode("utf-8"),
                headers={str(k): str(v) for k, v in (action.get("headers") or {}).items()},
                content_type=str(action.get("content_type", "text/html; charset=utf-8")),
            )
        elif kind == "reset_before":
            entry["status"] = "reset"
            self._abort()
            return
        elif sandbox.random_error():
            response = error(500, "Internal error")
        else:
            try:
                response = sandbox.route(request)
            except Exception:
                log.exception("unexpected error on %s %s", request.method, request.path)
                response = error(500, "Internal error")
        if kind == "reset_after":
            entry["status"] = "reset"
            self._abort()
            return
        if kind == "timeout_after":
            sandbox.sleep(float(action["seconds"]))
        entry["status"] = response.status
        self._send(response)


class SandboxServer:
    """A local stand-in for the Oliver partner API (and Cloudflare Turnstile's siteverify).

    `SandboxServer(port=0).start()` serves in a background thread; `.url` / `.api_base` then tell
    where. `stop()` shuts it down (and drops open keep-alive connections).

    The keyword arguments after `error_rate` are the behaviour switches (`api.Config`, README
    "Switches"); each can also be changed at run time with `POST /__sandbox/settings`, and
    `POST /__sandbox/reset` returns to the values given here."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        state_file: str | Path | None = None,
        token_ttl_seconds: float = 3600,
        latency_ms: float = 0,
        error_rate: float = 0.0,
        create_status: int = 200,
        slot_taken_status: int = 400,
        require_client_id_on_create: bool = True,
        client_id_error_status: int = 400,
        not_found_status: int = 404,
        ai_outbound_per_minute: int = 120,
        id_style: str = "numeric",
        revoke_on_sign_in: bool = False,
        list_delay_seconds: float = 0,
        rate_limit_per_minute: int = 0,
        rate_limit_retry_after: bool = True,
        horizon_days: int = seed.SEARCH_DAYS,
        time_zone: str = seed.TIME_ZONE,
        slot_minutes: int = seed.SLOT_MINUTES,
        new_clients_by_name: bool = False,
        taken_before_booking: int = 0,
    ) -> None:
        self.host = host
        self.port = port
        self.config = check_config(
            Config(
                token_ttl_seconds=token_ttl_seconds,
                create_status=create_status,
                slot_taken_status=slot_taken_status,
                require_client_id_on_create=require_client_id_on_create,
                client_id_error_status=client_id_error_status,
                not_found_status=not_found_status,
                ai_outbound_per_minute=ai_outbound_per_minute,
                id_style=id_style,
                revoke_on_sign_in=revoke_on_sign_in,
                list_delay_seconds=list_delay_seconds,
                rate_limit_per_minute=rate_limit_per_minute,
                rate_limit_retry_after=rate_limit_retry_after,
                horizon_days=horizon_days,
                time_zone=time_zone,
                slot_minutes=slot_minutes,
                new_clients_by_name=new_clients_by_name,
                taken_before_booking=taken_before_booking,
            )
        )
        self._initial_config = Config(**vars(self.config))
        self.state = State(state_file)
        self.api = OliverApi(self.state, self.config)
        self.faults = Faults(latency_ms=latency_ms, error_rate=error_rate)
        self._initial_faults = (latency_ms, error_rate)
        self._faults_lock = threading.Lock()
        self.requests: deque[dict[str, Any]] = deque(maxlen=REQUEST_LOG_SIZE)
        self._requests_lock = threading.Lock()
        self._stopping = threading.Event()
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ----------------------------------------------------------------------------

    def _bind(self) -> _HTTPServer:
        if self._httpd is None:
            self._stopping.clear()
            self._httpd = _HTTPServer((self.host, self.port), self)
            self.port = self._httpd.server_address[1]
        return self._httpd

    def start(self) -> Self:
        httpd = self._bind()
        self._thread = threading.Thread(
            target=httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            daemon=True,
            name=f"oliver-sandbox:{self.port}",
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in the calling thread until interrupted (what `python -m` does)."""
        httpd = self._bind()
        try:
            httpd.serve_forever(poll_interval=0.2)
        finally:
            self._close()

    def stop(self) -> None:
        if self._httpd is None:
            return
        self._httpd.shutdown()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        self._close()

    def _close(self) -> None:
        self._stopping.set()
        if self._httpd is not None:
            self._httpd.server_close()
            self._httpd.close_connections()
            self._httpd = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def api_base(self) -> str:
        return self.url + API_PREFIX

    # -- used by the handler ------------------------------------------------------------------

    def sleep(self, seconds: float) -> None:
        """Sleep, but wake up when the server stops."""
        if seconds > 0:
            self._stopping.wait(seconds)

    def record(self, request: Request) -> dict[str, Any]:
        headers = {k.lower(): v for k, v in request.headers.items()}
        if "authorization" in headers:
            headers["authorization"] = "Bearer ***"
        body: Any
        try:
            body = json.loads(request.body) if request.body else None
        except (ValueError, UnicodeDecodeError):
            body = request.body.decode("utf-8", "replace")
        if isinstance(body, dict) and "password" in body:
            body = {**body, "password": "***"}
        query = {k: v[0] if len(v) == 1 else v for k, v in request.query.items()}
        entry: dict[str, Any] = {
            "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "method": request.method,
            "path": request.path,
            "query": query,
            "headers": headers,
            "body": body,
            "status": None,
        }
        with self._requests_lock:
            self.requests.append(entry)
        if request.method == "POST" and request.path.rstrip("/") == API_PREFIX + "/appointments":
            with self.state.lock:
                self.state.create_requests += 1
        return entry

    def faults_for(self, request: Request) -> FaultRule | None:
        with self._faults_lock:
            rule = self.faults.take(request.method, request.path)
            latency = self.faults.latency_ms
        self.sleep(latency / 1000)
        return rule

    def random_error(self) -> bool:
        rate = self.faults.error_rate
        return rate > 0 and random.random() < rate  # noqa: S311 - not cryptography

    def route(self, request: Request) -> Response:
        if request.path.rstrip("/") == TURNSTILE_PATH:
            if request.method != "POST":
                return error(405, "Method not allowed")
            return turnstile(request)
        if request.path.startswith(API_PREFIX) or request.path.rstrip("/") == AUTH_PATH:
            return self.api.handle(request)
        return error(404, "Not found")

    # -- control endpoints --------------------------------------------------------------------

    def control(self, request: Request) -> Response:
        name = request.path[len(CONTROL_PREFIX) :].strip("/")
        handlers: dict[tuple[str, str], Callable[[dict[str, Any]], Response]] = {
            ("POST", "faults"): self._set_faults,
            ("GET", "faults"): self._get_faults,
            ("DELETE", "faults"): self._clear_faults,
            ("POST", "reset"): self._reset,
            ("POST", "expire-tokens"): self._expire_tokens,
            ("GET", "state"): self._get_state,
            ("GET", "staff_tasks"): self._get_staff_tasks,
            ("GET", "ai_outbound"): self._get_ai_outbound,
            ("GET", "requests"): self._get_requests,
            ("DELETE", "requests"): self._clear_requests,
            ("POST", "settings"): self._settings,
            ("GET", "settings"): self._settings,
            ("POST", "sync"): self._sync,
        }
        handler = handlers.get((request.method, name))
        if handler is None:
            return Response(404, {"ok": False, "error": "unknown control endpoint"})
        try:
            body = json.loads(request.body) if request.body.strip() else {}
        except (ValueError, UnicodeDecodeError):
            return Response(400, {"ok": False, "error": "malformed JSON"})
        if not isinstance(body, dict):
            return Response(400, {"ok": False, "error": "the body must be a JSON object"})
        try:
            return handler(body)
        except (ValueError, TypeError) as exc:
            return Response(400, {"ok": False, "error": str(exc)})

    def _set_faults(self, body: dict[str, Any]) -> Response:
        rules = [parse_rule(raw) for raw in body.get("rules") or []]
        latency, rate = body.get("latency_ms"), body.get("error_rate")
        if latency is not None and (not isinstance(latency, int | float) or latency < 0):
            raise ValueError("latency_ms must be a non-negative number")
        if rate is not None and (not isinstance(rate, int | float) or not 0 <= rate <= 1):
            raise ValueError("error_rate must be between 0 and 1")
        with self._faults_lock:
            self.faults.rules.extend(rules)
            if latency is not None:
                self.faults.latency_ms = latency
            if rate is not None:
                self.faults.error_rate = rate
            return Response(200, {"ok": True, **self.faults.as_json()})

    def _get_faults(self, _: dict[str, Any]) -> Response:
        with self._faults_lock:
            return Response(200, {"ok": True, **self.faults.as_json()})

    def _clear_faults(self, _: dict[str, Any] | None = None) -> Response:
        with self._faults_lock:
            self.faults = Faults()
        return Response(200, {"ok": True})

    def _reset(self, _: dict[str, Any]) -> Response:
        self._clear_faults()
        with self.state.lock:
            self.state.reset()
            self.state.save()
        with self._requests_lock:
            self.requests.clear()
        self.api.reset()
        for name, value in vars(self._initial_config).items():
            setattr(self.config, name, value)
        return Response(200, {"ok": True})

    def _expire_tokens(self, body: dict[str, Any]) -> Response:
        self.api.expire_tokens(static=bool(body.get("static", False)))
        return Response(200, {"ok": True})

    def _get_state(self, _: dict[str, Any]) -> Response:
        with self.state.lock:
            # Ids as the create answered them (the switched id style); "sandbox" holds the
            # internal (seed) client and patient ids.
            appointments = [
                {**a["data"], "id": self.api.created_id(a["data"]["id"]), "sandbox": a["sandbox"]}
                for a in self.state.appointments
            ]
            payload = {
                "appointments": appointments,
                "create_requests": self.state.create_requests,
                "appointments_created": len(appointments),
            }
        return Response(200, payload)

    def _get_staff_tasks(self, _: dict[str, Any]) -> Response:
        """Every staff task, oldest first (kept apart from `state`, which tests compare whole)."""
        with self.state.lock:
            return Response(200, [dict(task) for task in self.state.staff_tasks])

    def _get_ai_outbound(self, _: dict[str, Any]) -> Response:
        with self.state.lock:
            return Response(200, [dict(record) for record in self.state.ai_outbound])

    def _get_requests(self, _: dict[str, Any]) -> Response:
        with self._requests_lock:
            return Response(200, list(self.requests))

    def _clear_requests(self, _: dict[str, Any]) -> Response:
        with self._requests_lock:
            self.requests.clear()
        return Response(200, {"ok": True})

    def _settings(self, body: dict[str, Any]) -> Response:
        """Change switches (all or none: every value is checked first); answer them all."""
        for name, value in body.items():
            if name == "auto_accept":
                if not isinstance(value, bool):
                    raise ValueError("auto_accept must be a boolean")
            else:
                check_setting(name, value)
        for name, value in body.items():
            if name == "auto_accept":
                with self.state.lock:
                    self.state.auto_accept = value
                    self.state.save()
            else:
                setattr(self.config, name, value)
        settings = {**vars(self.config), "auto_accept": self.state.auto_accept}
        return Response(200, {"ok": True, **settings})

    def _sync(self, body: dict[str, Any]) -> Response:
        """Pretend the PIMS sync ran: give appointments (all, or `id`) a `remote_id`."""
        wanted = body.get("id")
        synced = []
        with self.state.lock:
            stamp = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
            for appointment in self.state.appointments:
                data = appointment["data"]
                ids = (data["id"], self.api.created_id(data["id"]), self.api.listed_id(data["id"]))
                if (wanted is None or wanted in ids) and data["remote_id"] is None:
                    data["remote_id"] = f"PIMS-A-{data['id']}"
                    data["updated_at"] = stamp
                    synced.append(self.api.created_id(data["id"]))
            self.state.save()
        return Response(200, {"ok": True, "synced": synced})


def turnstile(request: Request) -> Response:
    """Cloudflare Turnstile's siteverify, with its documented test secrets."""
    content_type = (request.headers.get("Content-Type") or "").lower()
    fields: dict[str, Any]
    if "json" in content_type:
        try:
            parsed = json.loads(request.body or b"{}")
        except (ValueError, UnicodeDecodeError):
            parsed = None
        fields = parsed if isinstance(parsed, dict) else {}
    else:
        form = parse_qs(request.body.decode("utf-8", "replace"), keep_blank_values=True)
        fields = {k: v[-1] for k, v in form.items()}
    secret, token = str(fields.get("secret") or ""), str(fields.get("response") or "")
    codes: list[str] = []
    if not secret:
        codes.append("missing-input-secret")
    elif secret not in (TURNSTILE_PASS, TURNSTILE_FAIL, TURNSTILE_SPENT):
        codes.append("invalid-input-secret")
    if not token:
        codes.append("missing-input-response")
    if not codes:
        if secret == TURNSTILE_FAIL or token == "fail":  # noqa: S105
            codes.append("invalid-input-response")
        elif secret == TURNSTILE_SPENT:
            codes.append("timeout-or-duplicate")
    payload: dict[str, Any] = {"success": not codes, "error-codes": codes}
    if not codes:
        payload["challenge_ts"] = datetime.now(UTC).isoformat(timespec="seconds")
        payload["hostname"] = "localhost"
        payload["action"] = ""
        payload["cdata"] = ""
    return Response(200, payload)
