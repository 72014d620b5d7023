"""HTTP entry point (API Gateway HTTP API, payload 2.0): routes, and domain errors mapped to
HTTP in one place. The logic lives in the ``booking`` package of the layer."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from types import ModuleType
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from booking import container
from booking.errors import BookingError, ConfigurationError, UnknownSource
from booking.http import (
    check_origin,
    error_body,
    html_page,
    parse_fields,
    prefers_html,
    raw_body,
    redirect_target,
    with_query,
)
from booking.open_times import upstream_query
from booking.submission import BookingResult, Channel, Submission
from booking.telemetry import complete_context, count, logger, metrics
from booking.webhooks import (
    SignatureRejected,
    delivery_id,
    mapped_fields,
    secrets_for,
    verify_signature,
)

app = APIGatewayHttpResolver()


def _intake() -> ModuleType:
    """The validation models (pydantic), imported by the first request that validates input:
    a cold start, and GET /health, do not pay for them."""
    from booking import intake

    return intake


def _headers() -> dict[str, str]:
    return {k.lower(): v for k, v in (app.current_event.raw_event.get("headers") or {}).items()}


def _json(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
    return Response(
        status_code=status,
        content_type="application/json",
        body=json.dumps(body, separators=(",", ":"), sort_keys=True),
        headers=headers or {},
    )


def _request_context() -> dict[str, Any]:
    return app.current_event.raw_event.get("requestContext") or {}


def _submission(booking: Any, channel: Channel, key: str | None) -> Submission:
    context = _request_context()
    epoch_ms = context.get("timeEpoch")
    submitted = (
        datetime.fromtimestamp(epoch_ms / 1000, UTC)
        if isinstance(epoch_ms, int | float)
        else datetime.now(UTC)
    )
    return Submission(
        booking=booking,
        channel=channel,
        explicit_key=key,
        request_id=str(context.get("requestId") or app.lambda_context.aws_request_id),
        submitted_at=submitted,
        budget=container.budget(app.lambda_context),
    )


def _book(submission: Submission) -> BookingResult:
    service = container.booking_service()
    # Before the idempotent call: in-progress records must expire with this invocation.
    container.guard().register_context(app.lambda_context)
    return service.submit(submission)


# -- routes ------------------------------------------------------------------------------------


@app.get("/health")
def health() -> Response:
    return _json(200, {"status": "ok"})


@app.get("/open-times")
def open_times() -> Response:
    query = _intake().read_open_times_query(app.current_event.query_string_parameters or {})
    service = container.booking_service()
    budget = container.budget(app.lambda_context)
    request_id = str(_request_context().get("requestId") or app.lambda_context.aws_request_id)
    body = upstream_query(query)

    def fetch() -> list[dict[str, Any]]:
        days = service.call_oliver(
            service.oliver.open_times, body, request_id=request_id, budget=budget
        )
        service.slot_times.remember(days)  # slot starts, to match an unknown booking later
        return days

    days = container.open_times_cache().get_or_fetch(body, fetch)
    return _json(200, {"success": True, "data": days[: query.days] if query.days else days})


@app.post("/bookings")
def bookings() -> Response:
    settings = container.settings()
    headers = _headers()
    check_origin(headers, settings.allowed_origins)
    fields, from_form = parse_fields(headers, raw_body(app.current_event.raw_event))
    app.append_context(success_url=fields.get("success_url"), failure_url=fields.get("failure_url"))
    intake = _intake()
    spam = intake.take_spam_fields(fields, settings.honeypot_field)
    if spam.honeypot_filled:
        # Before validation: a bot learns nothing, whatever else it filled in.
        count("SpamBlocked")
        logger.info("honeypot filled: answered as booked, nothing booked")
        return _success(201, {"success": True, "data": {}, "message": "Appointment requested"})
    booking = intake.read_booking(fields, from_form)
    key = intake.explicit_key(headers)
    secret = container.captcha_secret()
    if secret is not None:
        source_ip = _request_context().get("http", {}).get("sourceIp")
        container.captcha().verify(
            secret, spam.captcha_token, source_ip, container.budget(app.lambda_context)
        )
    result = _book(_submission(booking, Channel(name="form"), key))
    return _success(result.status, result.body, replayed=result.replayed)


@app.post("/webhooks/<source>")
def webhooks(source: str) -> Response:
    settings = container.settings()
    config = settings.webhook_sources.get(source)
    if config is None:
        raise UnknownSource()
    headers = _headers()
    data = raw_body(app.current_event.raw_event)
    verify_signature(
        config, secrets_for(source, container.webhook_secret_document()), headers, data
    )
    payload, _ = parse_fields(headers, data)
    intake = _intake()
    booking = intake.read_booking(mapped_fields(config, payload), from_form=bool(config.map))
    key = delivery_id(config, headers, payload) or intake.explicit_key(headers)
    result = _book(_submission(booking, Channel(name="webhook", webhook_source=source), key))
    return _json(
        result.status, result.body, {"Idempotent-Replayed": "true"} if result.replayed else {}
    )


# -- answers -----------------------------------------------------------------------------------


def _success(status: int, body: dict[str, Any], replayed: bool = False) -> Response:
    extra = {"Idempotent-Replayed": "true"} if replayed else {}
    if not prefers_html(_headers()):
        return _json(status, body, extra)
    target = redirect_target(app.context.get("success_url"), container.settings().allowed_redirects)
    appointment_id = (body.get("data") or {}).get("id")
    if target is None:
        page = html_page("Appointment requested", "Thank you: the practice has your request.")
        return Response(status, "text/html; charset=utf-8", page, extra)
    params = {"appointment_id": str(appointment_id)} if appointment_id is not None else {}
    return Response(
        303, "text/html; charset=utf-8", "", {"Location": with_query(target, params), **extra}
    )


@app.exception_handler(BookingError)
def booking_error(error: BookingError) -> Response:
    if isinstance(error, ConfigurationError):
        count("ConfigurationError")  # the ConfigurationErrorAlarm watches this
        logger.error("configuration error", extra={"detail": error.detail})
    elif isinstance(error, SignatureRejected):
        logger.warning("webhook signature rejected", extra={"reason": error.reason})
    else:
        logger.info("request refused", extra={"code": error.code, "status": error.status})
    headers = {"Retry-After": str(error.retry_after)} if error.retry_after else {}
    if not prefers_html(_headers()):
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
def _handle(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    container.refresh()
    return app.resolve(event, context)


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return _handle(event, complete_context(context))
