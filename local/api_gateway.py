"""API emulation: each HTTP request becomes an API Gateway HTTP API (payload 2.0) event.

Routes, handlers, timeouts and environment come from template.yaml (see local.template). The
handler runs in this process, imported with its CodeUri and layers on sys.path, and gets a
context whose remaining time counts down from the template's timeout. What API Gateway itself
answers (unknown route, CORS preflight, a failed or timed-out function) is answered the same way.
"""

from __future__ import annotations

import base64
import importlib
import importlib.util
import inspect
import json
import os
import secrets
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from email.utils import formatdate
from fnmatch import fnmatchcase
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any, Literal, TextIO
from urllib.parse import parse_qsl, unquote

from local.template import (
    ACCOUNT_ID,
    REGION,
    CorsConfig,
    FunctionSpec,
    LocalSettings,
    Route,
    Template,
)

MAX_PAYLOAD_BYTES = 10 * 1024 * 1024  # API Gateway's request payload quota
INTEGRATION_TIMEOUT_SECONDS = 30.0  # HTTP API's maximum integration timeout
API_ID = "localapi01"

PageResponse = tuple[int, dict[str, str], bytes]
CallApi = Callable[[str, str, str, Mapping[str, str], bytes | str | None], PageResponse]
PagesHandler = Callable[[str, str, str, CallApi], PageResponse | None]

_TEXT_TYPES = ("application/json", "application/javascript", "application/xml")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


# --- Requests, responses, events ---------------------------------------------------------------


@dataclass
class Request:
    method: str
    raw_path: str
    raw_query: str = ""
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    source_ip: str = "127.0.0.1"
    protocol: str = "HTTP/1.1"

    def header(self, name: str) -> str | None:
        values = [v for k, v in self.headers if k.lower() == name.lower()]
        return ",".join(values) if values else None


@dataclass
class Response:
    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""

    @classmethod
    def message(cls, status: int, message: str) -> Response:
        """API Gateway's own answers: `{"message": "..."}`."""
        body = json.dumps({"message": message}).encode()
        return cls(status, [("content-type", "application/json")], body)


def _is_text(content_type: str | None) -> bool:
    if not content_type:
        return False
    media = content_type.split(";", 1)[0].strip().lower()
    return (
        media.startswith("text/")
        or media in _TEXT_TYPES
        or media.endswith("+json")
        or media.endswith("+xml")
    )


def request_time(epoch_ms: int) -> str:
    """`requestContext.time`, e.g. `12/Mar/2020:19:03:58 +0000` (always English, always UTC)."""
    t = time.gmtime(epoch_ms / 1000)
    clock = time.strftime("%H:%M:%S", t)
    return f"{t.tm_mday:02d}/{_MONTHS[t.tm_mon - 1]}/{t.tm_year}:{clock} +0000"


def new_request_id() -> str:
    """API Gateway request ids look like `JKJaXmPLvHcESHA=`."""
    return base64.b64encode(secrets.token_bytes(11)).decode()


def build_event(
    request: Request,
    route: Route | None,
    path_parameters: Mapping[str, str],
    *,
    request_id: str,
    epoch_ms: int,
    api_id: str = API_ID,
) -> dict[str, Any]:
    """The HTTP API payload format 2.0 event API Gateway gives a Lambda integration."""
    headers: dict[str, str] = {}
    cookies: list[str] = []
    for name, value in request.headers:
        key = name.lower()
        if key == "cookie":
            cookies.extend(part.strip() for part in value.split(";") if part.strip())
            continue
        headers[key] = f"{headers[key]},{value}" if key in headers else value
    # API Gateway adds what a load balancer would.
    forwarded = headers.get("x-forwarded-for")
    headers["x-forwarded-for"] = (
        f"{forwarded}, {request.source_ip}" if forwarded else request.source_ip
    )
    host = headers.get("host", "")
    headers.setdefault("x-forwarded-port", host.rsplit(":", 1)[1] if ":" in host else "80")
    headers.setdefault("x-forwarded-proto", "http")
    headers["x-amzn-trace-id"] = f"Root=1-{epoch_ms // 1000:08x}-{secrets.token_hex(12)}"

    query: dict[str, str] = {}
    for key, value in parse_qsl(request.raw_query, keep_blank_values=True):
        query[key] = f"{query[key]},{value}" if key in query else value

    domain = host.rsplit(":", 1)[0] if host else "localhost"
    route_key = route.route_key if route else "$default"
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": request.raw_path,
        "rawQueryString": request.raw_query,
    }
    if cookies:
        event["cookies"] = cookies
    event["headers"] = headers
    if query:
        event["queryStringParameters"] = query
    event["requestContext"] = {
        "accountId": ACCOUNT_ID,
        "apiId": api_id,
        "domainName": domain,
        "domainPrefix": domain.split(".", 1)[0],
        "http": {
            "method": request.method,
            "path": request.raw_path,
            "protocol": request.protocol,
            "sourceIp": request.source_ip,
            "userAgent": headers.get("user-agent", ""),
        },
        "requestId": request_id,
        "routeKey": route_key,
        "stage": "$default",
        "time": request_time(epoch_ms),
        "timeEpoch": epoch_ms,
    }
    if request.body:
        if _is_text(headers.get("content-type")):
            try:
                event["body"] = request.body.decode("utf-8")
                event["isBase64Encoded"] = False
            except UnicodeDecodeError:
                event["body"] = base64.b64encode(request.body).decode()
                event["isBase64Encoded"] = True
        else:
            event["body"] = base64.b64encode(request.body).decode()
            event["isBase64Encoded"] = True
    else:
        event["isBase64Encoded"] = False
    if path_parameters:
        event["pathParameters"] = dict(path_parameters)
    return event


class MalformedResponseError(Exception):
    """The function's result is not something API Gateway can turn into a response."""


def response_from_result(result: Any) -> Response:
    """How API Gateway turns a payload 2.0 function result into an HTTP response."""
    if not (isinstance(result, dict) and "statusCode" in result):
        # No statusCode: API Gateway answers 200 with the result as the JSON body.
        body = json.dumps(result).encode()
        return Response(200, [("content-type", "application/json")], body)
    status = result["statusCode"]
    if not isinstance(status, int) or isinstance(status, bool) or not 100 <= status <= 599:
        raise MalformedResponseError(f"statusCode {status!r} is not an HTTP status")
    headers: list[tuple[str, str]] = []
    for name, value in (result.get("headers") or {}).items():
        headers.append((str(name), value if isinstance(value, str) else json.dumps(value)))
    for cookie in result.get("cookies") or []:
        headers.append(("set-cookie", str(cookie)))
    raw = result.get("body")
    if raw is None:
        body = b""
    elif not isinstance(raw, str):
        raise MalformedResponseError("body must be a string")
    elif result.get("isBase64Encoded"):
        try:
            body = base64.b64decode(raw, validate=True)
        except ValueError as exc:
            raise MalformedResponseError("body is not valid base64") from exc
    else:
        body = raw.encode("utf-8")
    return Response(status, headers, body)


# --- Routes ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _CompiledRoute:
    route: Route
    segments: tuple[str, ...]

    def match(self, method: str, path: str) -> dict[str, str] | None:
        if self.route.method not in {method, "ANY"}:
            return None
        parts = path.split("/")[1:]
        params: dict[str, str] = {}
        for i, segment in enumerate(self.segments):
            if segment.startswith("{") and segment.endswith("+}"):
                rest = "/".join(parts[i:])
                if not rest:
                    return None
                params[segment[1:-2]] = unquote(rest)
                return params
            if i >= len(parts):
                return None
            if segment.startswith("{") and segment.endswith("}"):
                if not parts[i]:
                    return None
                params[segment[1:-1]] = unquote(parts[i])
            elif segment != parts[i]:
                return None
        return params if len(parts) == len(self.segments) else None

    def specificity(self) -> tuple[int, int, int]:
        """Most specific first: literal segments beat parameters beat greedy; a method beats ANY."""
        literal = sum(1 for s in self.segments if not s.startswith("{"))
        greedy = sum(1 for s in self.segments if s.endswith("+}"))
        return (-literal, greedy, 1 if self.route.method == "ANY" else 0)


class Router:
    def __init__(self, routes: Iterable[Route]) -> None:
        compiled = [
            _CompiledRoute(r, tuple(r.path.split("/")[1:])) for r in routes if r.path != "$default"
        ]
        self._routes = sorted(compiled, key=_CompiledRoute.specificity)
        self._default = next((r for r in routes if r.path == "$default"), None)

    def match(
        self, method: str, path: str, *, default: bool = True
    ) -> tuple[Route, dict[str, str]] | None:
        """The most specific route, else the ``$default`` route when ``default`` and declared."""
        for compiled in self._routes:
            params = compiled.match(method, path)
            if params is not None:
                return compiled.route, params
        if default and self._default is not None:
            return self._default, {}
        return None


# --- The function: a Lambda-like context and an in-process "container" -------------------------


class LambdaContext:
    """What the Python runtime passes as `context` (memory_limit_in_mb is a string there too)."""

    def __init__(self, spec: FunctionSpec, request_id: str | None = None) -> None:
        self.function_name = spec.function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = (
            f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{spec.function_name}"
        )
        self.memory_limit_in_mb = str(spec.memory_size)
        self.aws_request_id = request_id or str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{spec.function_name}"
        self.log_stream_name = time.strftime("%Y/%m/%d/[$LATEST]") + uuid.uuid4().hex
        self.identity: Any = None
        self.client_context: Any = None
        self.tenant_id: str | None = None
        self._deadline = time.monotonic() + spec.timeout

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def lambda_runtime_environment(spec: FunctionSpec) -> dict[str, str]:
    """Variables the Lambda runtime sets (AWS_SAM_LOCAL, as `sam local`, keeps X-Ray off)."""
    return {
        "AWS_LAMBDA_FUNCTION_NAME": spec.function_name,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_size),
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{spec.function_name}",
        "AWS_EXECUTION_ENV": f"AWS_Lambda_{spec.runtime}",
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_SAM_LOCAL": "true",
        "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
        "_HANDLER": spec.handler,
    }


@dataclass
class Invocation:
    outcome: Literal["ok", "error", "timeout", "integration_timeout"]
    result: Any = None


class FunctionRuntime:
    """One warm container of a function, in this process (imported on first use, like Lambda)."""

    def __init__(self, spec: FunctionSpec, *, log: TextIO | None = None) -> None:
        self.spec = spec
        self._handler: Callable[[dict[str, Any], Any], Any] | None = None
        self._lock = threading.Lock()
        # A Lambda container runs one invocation at a time, and the handler keeps per-invocation
        # state in module globals (Powertools resolver, logger keys, metrics): serialise.
        self._busy = threading.Lock()
        self._log = log
        self._added_paths: list[str] = []

    def _err(self, text: str) -> None:
        stream = self._log or sys.stderr
        stream.write(text if text.endswith("\n") else text + "\n")
        stream.flush()

    def load(self) -> Callable[[dict[str, Any], Any], Any]:
        with self._lock:
            if self._handler is None:
                self._handler = self._import()
            return self._handler

    def _import(self) -> Callable[[dict[str, Any], Any], Any]:
        spec = self.spec
        for directory in reversed((spec.code_dir, *spec.layer_dirs)):
            if str(directory) not in sys.path:
                sys.path.insert(0, str(directory))
                self._added_paths.append(str(directory))
        module_path, _, attribute = spec.handler.rpartition(".")
        file = spec.code_dir / (module_path.replace(".", "/") + ".py")
        name = f"_local_lambda_{spec.logical_id}_{module_path.replace('.', '_')}"
        module_spec = importlib.util.spec_from_file_location(name, file)
        if module_spec is None or module_spec.loader is None or not Path(file).is_file():
            raise ImportError(f"Unable to import module '{module_path}': no file {file}")
        module: ModuleType = importlib.util.module_from_spec(module_spec)
        sys.modules[name] = module
        try:
            module_spec.loader.exec_module(module)
        except BaseException:
            del sys.modules[name]
            raise
        handler = getattr(module, attribute, None)
        if not callable(handler):
            raise ImportError(f"Handler '{attribute}' missing on module '{module_path}'")
        return handler  # type: ignore[no-any-return]

    def unload(self) -> None:
        """Forget the container: its sys.path entries and every module imported from them (so
        that an in-process user, such as a test session, sees no trace of it)."""
        with self._lock:
            self._handler = None
            roots = tuple(path.rstrip(os.sep) + os.sep for path in self._added_paths)
            for path in self._added_paths:
                while path in sys.path:
                    sys.path.remove(path)
            self._added_paths.clear()
            prefix = f"_local_lambda_{self.spec.logical_id}_"
            for name, module in list(sys.modules.items()):
                origin = getattr(module, "__file__", None) or ""
                if name.startswith(prefix) or (roots and origin.startswith(roots)):
                    del sys.modules[name]

    def invoke(
        self, event: dict[str, Any], *, integration_timeout: float = INTEGRATION_TIMEOUT_SECONDS
    ) -> Invocation:
        with self._busy:
            return self._invoke_alone(event, integration_timeout)

    def _invoke_alone(self, event: dict[str, Any], integration_timeout: float) -> Invocation:
        context = LambdaContext(self.spec)
        box: dict[str, Any] = {}

        def run() -> None:
            try:
                handler = self.load()
            except BaseException as exc:
                box["error"] = exc
                self._err(
                    f"[ERROR] Runtime.ImportModuleError: {type(exc).__name__}: {exc}\n"
                    + traceback.format_exc()
                )
                return
            try:
                box["result"] = handler(event, context)
            except BaseException as exc:
                box["error"] = exc
                self._err(
                    f"[ERROR] {type(exc).__name__}: {exc}\n{traceback.format_exc()}"
                    f"RequestId: {context.aws_request_id}"
                )

        worker = threading.Thread(
            target=run, name=f"lambda-{context.aws_request_id[:8]}", daemon=True
        )
        worker.start()
        wait = min(float(self.spec.timeout), integration_timeout)
        worker.join(wait)
        if worker.is_alive():
            if wait < integration_timeout:
                self._err(
                    f"{context.aws_request_id} Task timed out after {self.spec.timeout:.2f} seconds"
                )
                return Invocation("timeout")
            return Invocation("integration_timeout")
        if "error" in box:
            return Invocation("error", box["error"])
        return Invocation("ok", box.get("result"))


# --- The API -----------------------------------------------------------------------------------


def _parameters(function: Callable[..., Any]) -> Mapping[str, inspect.Parameter]:
    try:
        return inspect.signature(function).parameters
    except (TypeError, ValueError):
        return {}


def _load_pages() -> PagesHandler | None:
    try:
        module = importlib.import_module("local.web.pages")
    except ModuleNotFoundError as exc:
        if exc.name in {"local.web", "local.web.pages"}:
            return None
        raise
    return module.handle  # type: ignore[no-any-return]


class LocalApi:
    """The HTTP API of template.yaml on 127.0.0.1, backed by the real handler in this process."""

    def __init__(
        self,
        template: Template,
        settings: LocalSettings | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 3000,
        access_log: TextIO | None = None,
        function_log: TextIO | None = None,
        pages: PagesHandler | None | Literal["auto"] = "auto",
        apply_environment: bool = True,
        integration_timeout: float = INTEGRATION_TIMEOUT_SECONDS,
    ) -> None:
        self.template = template
        self.settings = settings or LocalSettings(api_url=f"http://{host}:{port}")
        self.host = host
        self.port = port
        self.access_log = access_log
        self.integration_timeout = integration_timeout
        self._function_log = function_log
        functions = template.functions()
        self.routes = [route for spec in functions.values() for route in spec.routes]
        self.router = Router(self.routes)
        self.runtimes = {
            logical_id: FunctionRuntime(functions[logical_id], log=function_log)
            for logical_id in {route.function_id for route in self.routes}
        }
        self.cors: CorsConfig | None = template.cors(self.settings)
        self.environment: dict[str, str] = {}
        for logical_id, runtime in self.runtimes.items():
            self.environment.update(lambda_runtime_environment(runtime.spec))
            self.environment.update(template.environment(logical_id, self.settings))
        self._apply_environment = apply_environment
        self._saved_environment: dict[str, str | None] = {}
        self._pages: PagesHandler | None | Literal["auto"] = pages
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._log_lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    # -- lifecycle

    def start(self, *, preload: bool = False) -> None:
        """Bind, set the function's environment, and serve in a background thread.

        With `preload`, the handler is imported now (an import error is logged, not raised: the
        API then answers 500 as API Gateway does for a function that fails to initialise).
        """
        if self._pages == "auto":
            self._pages = _load_pages()
        if self._apply_environment:
            for name, value in self.environment.items():
                self._saved_environment.setdefault(name, os.environ.get(name))
                os.environ[name] = value
            # A new container: what this process built for an earlier one (an earlier stack in
            # the same test session) is forgotten, as Lambda would start from nothing.
            shared = sys.modules.get("booking.container")
            if shared is not None:
                shared.reset()
        server = _Server((self.host, self.port), _make_handler(self))
        self.port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.1}, name="api", daemon=True
        )
        self._thread.start()
        if preload:
            for runtime in self.runtimes.values():
                try:
                    runtime.load()
                except BaseException as exc:
                    self._function_error(
                        f"[ERROR] Runtime.ImportModuleError: {type(exc).__name__}: {exc}\n"
                        + traceback.format_exc()
                    )

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        for runtime in self.runtimes.values():
            runtime.unload()
        for name, value in self._saved_environment.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        self._saved_environment.clear()

    def __enter__(self) -> LocalApi:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- requests

    def call_api(
        self,
        method: str,
        path: str,
        query_string: str,
        headers: Mapping[str, str],
        body: bytes | str | None,
    ) -> tuple[int, dict[str, str], bytes]:
        """Invoke the API in-process as if over HTTP (for the demo page's server side)."""
        payload = body.encode() if isinstance(body, str) else (body or b"")
        header_list = [(k, v) for k, v in headers.items()]
        if payload and not any(k.lower() == "content-length" for k, _ in header_list):
            header_list.append(("content-length", str(len(payload))))
        request = Request(method.upper(), path, query_string, header_list, payload)
        started = time.monotonic()
        response = self.dispatch(request, pages=False)
        self.log_access(request, response, started, note="(from page)")
        merged: dict[str, str] = {}
        for name, value in response.headers:
            key = name.lower()
            merged[key] = f"{merged[key]}, {value}" if key in merged else value
        return response.status, merged, response.body

    def dispatch(self, request: Request, *, pages: bool = True) -> Response:
        request_id = new_request_id()
        response = self._dispatch(request, request_id, pages=pages)
        response.headers.append(("apigw-requestid", request_id))
        return response

    def _dispatch(self, request: Request, request_id: str, *, pages: bool) -> Response:
        origin = request.header("origin")
        if self.cors is not None and request.method == "OPTIONS":
            return self._preflight(request, origin)
        # The demo page is served locally in front of the template's `$default` route (deployed,
        # it would live on its own origin): explicit routes first, then the page, then $default.
        matched = self.router.match(request.method, request.raw_path, default=False)
        if matched is None and pages and callable(self._pages):
            try:
                page = self._serve_page(request)
            except Exception:
                self._function_error(f"[ERROR] demo page failed\n{traceback.format_exc()}")
                return Response.message(500, "Internal Server Error")
            if page is not None:
                status, headers, body = page
                return Response(status, list(headers.items()), body)
        if matched is None:
            matched = self.router.match(request.method, request.raw_path)
        if matched is None:
            return Response.message(404, "Not Found")
        route, params = matched
        response = self._invoke(request, route, params, request_id)
        if self.cors is not None:
            # With a CorsConfiguration, API Gateway ignores the function's CORS headers.
            response.headers = [
                (k, v) for k, v in response.headers if not k.lower().startswith("access-control-")
            ]
            response.headers.extend(self._cors_headers(origin))
        return response

    def _serve_page(self, request: Request) -> PageResponse | None:
        assert callable(self._pages)
        args = (request.method, request.raw_path, request.raw_query, self.call_api)
        host = request.header("host")
        origin = f"http://{host}" if host else None
        if origin in self.settings.api_origins and "origin" in _parameters(self._pages):
            # The page's own links and redirect targets then use the address the browser used.
            return self._pages(*args, origin=origin)  # type: ignore[call-arg]
        return self._pages(*args)

    def _invoke(
        self, request: Request, route: Route, params: dict[str, str], request_id: str
    ) -> Response:
        event = build_event(
            request, route, params, request_id=request_id, epoch_ms=int(time.time() * 1000)
        )
        runtime = self.runtimes[route.function_id]
        invocation = runtime.invoke(event, integration_timeout=self.integration_timeout)
        if invocation.outcome == "integration_timeout":
            return Response.message(503, "Service Unavailable")
        if invocation.outcome != "ok":
            return Response.message(500, "Internal Server Error")
        try:
            return response_from_result(invocation.result)
        except MalformedResponseError as exc:
            self._function_error(f"[ERROR] malformed Lambda proxy response: {exc}")
            return Response.message(500, "Internal Server Error")

    def _function_error(self, text: str) -> None:
        stream = self._function_log or sys.stderr
        stream.write(text + "\n")
        stream.flush()

    # -- CORS, as API Gateway applies a CorsConfiguration

    def _origin_allowed(self, origin: str | None) -> bool:
        if not origin or self.cors is None:
            return False
        return any(
            allowed == "*" or fnmatchcase(origin.lower(), allowed.lower())
            for allowed in self.cors.allow_origins
        )

    def _cors_headers(self, origin: str | None) -> list[tuple[str, str]]:
        cors = self.cors
        if cors is None or origin is None or not self._origin_allowed(origin):
            return []
        wildcard = "*" in cors.allow_origins and not cors.allow_credentials
        headers = [("access-control-allow-origin", "*" if wildcard else origin)]
        if not wildcard:
            headers.append(("vary", "origin"))
        if cors.allow_credentials:
            headers.append(("access-control-allow-credentials", "true"))
        if cors.expose_headers:
            headers.append(("access-control-expose-headers", ",".join(cors.expose_headers)))
        return headers

    def _preflight(self, request: Request, origin: str | None) -> Response:
        cors = self.cors
        assert cors is not None
        response = Response(204)
        wanted = (request.header("access-control-request-method") or "").upper()
        method_ok = "*" in cors.allow_methods or wanted in cors.allow_methods
        if not (self._origin_allowed(origin) and method_ok):
            return response
        response.headers.extend(self._cors_headers(origin))
        if cors.allow_methods:
            response.headers.append(("access-control-allow-methods", ",".join(cors.allow_methods)))
        if cors.allow_headers:
            response.headers.append(("access-control-allow-headers", ",".join(cors.allow_headers)))
        if cors.max_age is not None:
            response.headers.append(("access-control-max-age", str(cors.max_age)))
        return response

    # -- access log: one line per request, never bodies, headers or query strings

    def log_access(
        self, request: Request, response: Response, started: float, note: str = ""
    ) -> None:
        if self.access_log is None:
            return
        elapsed_ms = (time.monotonic() - started) * 1000
        line = (
            f"{request.source_ip} [{request_time(int(time.time() * 1000))}] "
            f'"{request.method} {request.raw_path} {request.protocol}" {response.status} '
            f"{len(response.body)}B {elapsed_ms:.1f}ms"
        )
        with self._log_lock:
            self.access_log.write(f"{line} {note}".rstrip() + "\n")
            self.access_log.flush()


# --- HTTP server glue --------------------------------------------------------------------------


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # socketserver's default listen backlog is 5: a burst of clients (API Gateway takes
    # thousands) overflowed it and saw their connections reset.
    request_queue_size = 128

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hangs up early is not an error worth a traceback."""
        if isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
            return
        super().handle_error(request, client_address)


def _make_handler(api: LocalApi) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "local-api-gateway"

        def log_message(self, format: str, *args: Any) -> None:
            """Silenced: LocalApi writes its own access log line."""

        def _read_body(self) -> bytes | None:
            if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
                chunks: list[bytes] = []
                total = 0
                while True:
                    size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
                    if size == 0:
                        while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                            pass
                        return b"".join(chunks)
                    total += size
                    if total > MAX_PAYLOAD_BYTES:
                        return None
                    chunks.append(self.rfile.read(size))
                    self.rfile.readline()
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_PAYLOAD_BYTES:
                return None
            return self.rfile.read(length) if length > 0 else b""

        def _handle(self) -> None:
            started = time.monotonic()
            raw_path, _, raw_query = self.path.partition("?")
            request = Request(
                method=self.command,
                raw_path=raw_path or "/",
                raw_query=raw_query,
                headers=list(self.headers.items()),
                source_ip=self.client_address[0],
                protocol=self.request_version,
            )
            try:
                body = self._read_body()
            except ValueError:
                body = None
                response = Response.message(400, "Bad Request")
            else:
                if body is None:
                    response = Response.message(413, "Request Entity Too Large")
            if body is None:
                self.close_connection = True
            else:
                request.body = body
                try:
                    response = api.dispatch(request)
                except Exception:
                    api._function_error(f"[ERROR] local API failed\n{traceback.format_exc()}")
                    response = Response.message(500, "Internal Server Error")
            self._write(response, head=self.command == "HEAD")
            api.log_access(request, response, started)

        def _write(self, response: Response, *, head: bool) -> None:
            self.send_response_only(response.status)
            names = {k.lower() for k, _ in response.headers}
            for name, value in response.headers:
                if name.lower() not in {"content-length", "transfer-encoding", "connection"}:
                    self.send_header(name, value)
            if "date" not in names:
                self.send_header("Date", formatdate(usegmt=True))
            self.send_header("Content-Length", str(len(response.body)))
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            if not head and response.body:
                self.wfile.write(response.body)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_HEAD = _handle

    return Handler
