"""The hosted booking page (API Gateway HTTP API, payload 2.0): ``GET /book``, ``POST /book``
and ``GET /book/calendar``. Routes read the request and hand it to ``booking.page``; what the
page shows and how it books (through the booking service) lives in the layer.

A function of its own, so that the API function never loads the page's code or templates.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from booking import container
from booking.errors import BookingError, NotFound
from booking.http import html_page, parse_fields, raw_body, retry_after_header, visitor_ip
from booking.page.views import Answer
from booking.page.wiring import booking_page
from booking.submission import Request
from booking.telemetry import log_refusal, logger, metrics

app = APIGatewayHttpResolver()
#: On every answer: pages carry what visitors typed, and no answer is anything but what it says.
SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}
HTML = "text/html; charset=utf-8"


def _visitor_ip() -> str | None:
    edge_key = container.throttle_key() if container.settings().trusted_edge else None
    return visitor_ip(
        app.current_event.request_context.http.source_ip, app.current_event.headers, edge_key
    )


def _request(ip: str | None) -> Request:
    context = app.current_event.request_context
    epoch_ms = context.time_epoch
    submitted_at = datetime.fromtimestamp(epoch_ms / 1000, UTC) if epoch_ms else datetime.now(UTC)
    return Request(
        request_id=context.request_id or app.lambda_context.aws_request_id,
        submitted_at=submitted_at,
        budget=container.budget(app.lambda_context),
        visitor_ip=ip,
    )


def _origin_ok(headers: dict[str, str]) -> bool:
    """The page's own origin may always post; so may the origins the practice embeds it on.
    Behind CloudFront the page's own origin is not the host API Gateway sees: the form token
    alone protects the post there."""
    origin = headers.get("origin")
    if origin is None:
        return True
    origin = origin.strip().lower().rstrip("/")
    settings = container.settings()
    host = (headers.get("x-forwarded-host") or headers.get("host") or "").lower()
    scheme = (headers.get("x-forwarded-proto") or "https").split(",")[0].strip().lower()
    if origin == "null":
        return False
    return (
        origin in settings.allowed_origins
        or origin == f"{scheme}://{host}"
        or bool(settings.trusted_edge)
    )


def _send(answer: Answer) -> Response:
    return Response(answer.status, answer.content_type, answer.body, answer.headers)


@app.get("/book")
def show() -> Response:
    query = app.current_event.query_string_parameters or {}
    return _send(booking_page().show(query, _request(_visitor_ip())))


@app.post("/book")
def book() -> Response:
    headers = app.current_event.headers
    fields, _ = parse_fields(headers, raw_body(app.current_event.raw_event))
    page = booking_page()
    # Before any idempotent call: in-progress records must expire with this invocation.
    container.guard().register_context(app.lambda_context)
    return _send(page.post(fields, _request(_visitor_ip()), _origin_ok(headers)))


@app.get("/book/calendar")
def calendar() -> Response:
    return _send(booking_page().calendar(app.current_event.query_string_parameters or {}))


@app.not_found
def not_found(_: NotFoundError) -> Response:
    return page_error(NotFound())


@app.exception_handler(BookingError)
def page_error(error: BookingError) -> Response:
    """What the page itself cannot show (a body it cannot read, a misconfiguration)."""
    log_refusal(error)
    page = html_page("We could not show the booking page", error.message)
    return Response(error.status, HTML, page, retry_after_header(error))


@app.exception_handler(Exception)
def unexpected_error(error: Exception) -> Response:
    logger.exception("unexpected error")
    return Response(500, HTML, html_page("Something went wrong", BookingError.message))


@logger.inject_lambda_context(
    correlation_id_path=correlation_paths.API_GATEWAY_HTTP, clear_state=True
)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    answer = app.resolve(event, context)
    answer["headers"] = {**(answer.get("headers") or {}), **SECURITY_HEADERS}
    return answer
