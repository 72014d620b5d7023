"""HTTP entry point (API Gateway HTTP API, payload 2.0): routes, and domain errors mapped to
HTTP in one place. Each route reads the request, calls the service, renders the answer; the
logic lives in the ``booking`` package of the layer."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from booking import container, snapstart
from booking.deliveries import receive
from booking.errors import (
    BookingError,
    ConfigurationError,
    MethodNotAllowed,
    NotFound,
    SignatureRejected,
    UnknownSource,
)
from booking.http import (
    check_origin,
    error_body,
    explicit_key,
    html_page,
    parse_fields,
    prefers_html,
    raw_body,
    redirect_target,
    retry_after_header,
    visitor_ip,
    with_query,
)
from booking.submission import BookingResult, Request
from booking.telemetry import log_refusal, logger, metrics
from booking.version import VERSION
from booking.webhooks import (
    delivery_id,
    secrets_for,
    verify_signature,
)

if TYPE_CHECKING:
    from booking.service import BookingService

app = APIGatewayHttpResolver()
container.prime(read_ahead=container.reads_ahead())
snapstart.install(before_snapshot=container.prime, after_restore=container.after_restore)
#: On every answer: bookings carry personal data, and no answer is anything but what it says.
SECURITY_HEADERS = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}


def _json(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
    return Response(
        status_code=status,
        content_type="application/json",
        body=json.dumps(body, separators=(",", ":"), sort_keys=True),
        headers=headers or {},
    )


def _visitor_ip() -> str | None:
    edge_key = container.throttle_key() if container.settings().trusted_edge else None
    return visitor_ip(
        app.current_event.request_context.http.source_ip, app.current_event.headers, edge_key
    )


def _request(explicit_key: str | None = None, ip: str | None = None) -> Request:
    context = app.current_event.request_context
    epoch_ms = context.time_epoch
    return Request(
        request_id=context.request_id or app.lambda_context.aws_request_id,
        submitted_at=datetime.fromtimestamp(epoch_ms / 1000, UTC)
        if epoch_ms
        else datetime.now(UTC),
        budget=container.budget(app.lambda_context),
        visitor_ip=ip,
        explicit_key=explicit_key,
    )


def _service() -> BookingService:
    service = container.booking_service()
    # Before any idempotent call: in-progress records must expire with this invocation.
    container.guard().register_context(app.lambda_context)
    return service


# -- routes ------------------------------------------------------------------------------------


@app.get("/health")
def health() -> Response:
    return _json(200, {"status": "ok", "version": VERSION})


@app.get("/open-times")
def open_times() -> Response:
    limit = container.settings().open_times_per_ip
    container.throttle().check_ip(_visitor_ip(), "open-times", limit)
    params = app.current_event.query_string_parameters or {}
    return _json(200, {"success": True, "data": _service().search_open_times(params, _request())})


@app.post("/bookings")
def bookings() -> Response:
    settings = container.settings()
    headers = app.current_event.headers
    check_origin(headers, settings.allowed_origins)
    ip = _visitor_ip()
    container.throttle().check_ip(ip, "bookings", settings.bookings_per_ip)  # every post counts
    fields, from_form = parse_fields(headers, raw_body(app.current_event.raw_event))
    app.append_context(success_url=fields.get("success_url"), failure_url=fields.get("failure_url"))
    result = _service().book_from_form(fields, from_form, _request(explicit_key(headers), ip))
    return _success(result)


@app.post("/webhooks/<source>")
def webhooks(source: str) -> Response:
    config = container.settings().webhook_sources.get(source)
    if config is None:
        raise UnknownSource()
    headers = app.current_event.headers
    data = raw_body(app.current_event.raw_event)
    verify_signature(
        config, secrets_for(source, container.webhook_secret_document()), headers, data
    )
    payload, _ = parse_fields(headers, data)
    key = delivery_id(config, headers, payload) or explicit_key(headers)
    request = _request(key)
    answer = receive(
        source,
        config,
        payload,
        request,
        lambda fields, mapped: _service().book_from_partner(fields, mapped, source, request),
    )
    return _json(answer.status, answer.body, answer.headers)


# -- answers -----------------------------------------------------------------------------------


def _success(result: BookingResult) -> Response:
    extra = {"Idempotent-Replayed": "true"} if result.replayed else {}
    if not prefers_html(app.current_event.headers):
        return _json(result.status, result.body, extra)
    target = redirect_target(app.context.get("success_url"), container.settings().allowed_redirects)
    appointment_id = (result.body.get("data") or {}).get("id")
    if target is None:
        page = html_page("Appointment requested", result.body.get("message", ""))
        return Response(result.status, "text/html; charset=utf-8", page, extra)
    params = {"appointment_id": str(appointment_id)} if appointment_id is not None else {}
    return Response(
        303, "text/html; charset=utf-8", "", {"Location": with_query(target, params), **extra}
    )


@app.not_found
def not_found(_: NotFoundError) -> Response:
    path = app.current_event.path
    routes = app._static_routes + app._dynamic_routes
    if any(route.rule.match(path) for route in routes):
        return booking_error(MethodNotAllowed())
    return booking_error(NotFound())


@app.exception_handler(BookingError)
def booking_error(error: BookingError) -> Response:
    if isinstance(error, SignatureRejected):
        logger.warning("webhook signature rejected", extra={"reason": error.reason})
    else:
        log_refusal(error)
    headers = retry_after_header(error)
    if not prefers_html(app.current_event.headers):
        return _json(error.status, error_body(error), headers)
    try:
        allowed = container.settings().allowed_redirects
    except ConfigurationError:
        allowed = ()
    target = redirect_target(app.context.get("failure_url"), allowed)
    if target is None:
        page = html_page("We could not book this appointment", error.message)
        return Response(error.status, "text/html; charset=utf-8", page, headers)
    params = {"error": error.code}
    if error.errors:
        params["fields"] = ",".join(dict.fromkeys(e.field for e in error.errors))
    return Response(303, "text/html; charset=utf-8", "", {"Location": with_query(target, params)})


@app.exception_handler(Exception)
def unexpected_error(error: Exception) -> Response:
    logger.exception("unexpected error")
    return _json(500, {"success": False, "code": "internal_error", "message": BookingError.message})


@logger.inject_lambda_context(
    correlation_id_path=correlation_paths.API_GATEWAY_HTTP, clear_state=True
)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    container.await_read_ahead()
    answer = app.resolve(event, context)
    answer["headers"] = {**(answer.get("headers") or {}), **SECURITY_HEADERS}
    return answer
