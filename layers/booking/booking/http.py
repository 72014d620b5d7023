"""HTTP concerns of the API, kept out of the entry point: reading bodies of the three content
types, content negotiation, the Origin check, safe redirects and the error body."""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, urlencode

from booking.errors import (
    BodyTooLarge,
    BookingError,
    FieldError,
    MalformedBody,
    OriginNotAllowed,
    UnsupportedMediaType,
    ValidationFailed,
    clamp_retry_after,
)

MAX_BODY_BYTES = 64 * 1024
MAX_KEY_LENGTH = 255
JSON_TYPES = ("application/json",)
#: Deeper JSON is refused before it is parsed (Python's parser would recurse until it fails).
MAX_JSON_DEPTH = 32


def _json_depth_exceeds(text: str, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether brackets outside strings nest deeper than ``limit``."""
    if text.count("[") + text.count("{") <= limit:
        return False
    depth, in_string, escaped = 0, False, False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            if depth > limit:
                return True
        elif ch in "]}":
            depth -= 1
    return False


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _finite(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise ValueError("number out of range")
    return value


def read_json(data: bytes) -> Any:
    """A JSON document of at most ``MAX_JSON_DEPTH`` levels, without NaN or Infinity."""
    try:
        text = data.decode("utf-8")
        if _json_depth_exceeds(text):
            raise MalformedBody("The request body is nested too deeply.")
        return json.loads(text, parse_constant=_no_constants, parse_float=_finite)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise MalformedBody("The request body is not valid JSON.") from None


def raw_body(event: Mapping[str, Any]) -> bytes:
    """The request body as bytes, size-checked before anything parses it."""
    body = event.get("body") or ""
    if event.get("isBase64Encoded"):
        if len(body) > (MAX_BODY_BYTES * 4) // 3 + 4:
            raise BodyTooLarge()
        try:
            data = base64.b64decode(body)
        except ValueError:
            raise MalformedBody() from None
    else:
        data = body.encode("utf-8")
    if len(data) > MAX_BODY_BYTES:
        raise BodyTooLarge()
    return data


def media_type(headers: Mapping[str, str]) -> tuple[str, str]:
    """(media type, full header) of the request's Content-Type."""
    header = headers.get("content-type", "")
    return header.split(";", 1)[0].strip().lower(), header


def parse_fields(headers: Mapping[str, str], data: bytes) -> tuple[dict[str, Any], bool]:
    """The submitted fields, and whether they came from a form (extra fields allowed)."""
    kind, header = media_type(headers)
    if kind in JSON_TYPES or kind.endswith("+json"):
        value = read_json(data)
        if not isinstance(value, dict):
            raise ValidationFailed(
                "The request body must be a JSON object.",
                errors=[FieldError("body", "must be a JSON object")],
            )
        return value, False
    if kind == "application/x-www-form-urlencoded":
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise MalformedBody() from None
        return dict(parse_qsl(text, keep_blank_values=True)), True
    if kind == "multipart/form-data":
        return _multipart(header, data), True
    raise UnsupportedMediaType()


def _multipart(content_type: str, data: bytes) -> dict[str, Any]:
    # The email package parses MIME; imported here as only multipart posts need it.
    from email.parser import BytesParser
    from email.policy import HTTP

    if "boundary=" not in content_type:
        raise MalformedBody("The multipart body has no boundary.")
    message = BytesParser(policy=HTTP).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + data
    )
    if not message.is_multipart():
        raise MalformedBody()
    fields: dict[str, Any] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not name or part.get_filename():
            continue  # files are never part of a booking
        payload = part.get_payload(decode=True)
        if not isinstance(payload, bytes):
            payload = b""
        try:
            fields[str(name)] = payload.decode(part.get_content_charset() or "utf-8")
        except (UnicodeDecodeError, LookupError):
            raise MalformedBody() from None
    return fields


def explicit_key(headers: Mapping[str, str]) -> str | None:
    """The caller's ``Idempotency-Key`` (1 to 255 characters), if it sent one."""
    key = headers.get("idempotency-key")
    if key is None:
        return None
    if not 1 <= len(key) <= MAX_KEY_LENGTH:
        raise ValidationFailed(
            errors=[FieldError("Idempotency-Key", "must be 1 to 255 characters")]
        )
    return key


def prefers_html(headers: Mapping[str, str]) -> bool:
    """HTML only when text/html has a higher q than application/json (``*/*`` gets JSON)."""
    best = {"text/html": 0.0, "application/json": 0.0}
    generic = 0.0
    for item in headers.get("accept", "").split(","):
        parts = [p.strip() for p in item.split(";")]
        kind, q = parts[0].lower(), 1.0
        for param in parts[1:]:
            if param.lower().startswith("q="):
                try:
                    q = float(param[2:])
                except ValueError:
                    q = 0.0
        if kind in best:
            best[kind] = max(best[kind], q)
        elif kind in ("*/*", "text/*", "application/*"):
            generic = max(generic, q)
    html, as_json = best["text/html"], best["application/json"] or generic
    return html > as_json


def check_origin(headers: Mapping[str, str], allowed: tuple[str, ...]) -> None:
    """A browser post must come from an allowed origin; no Origin (server to server) passes."""
    origin = headers.get("origin")
    if origin is None:
        return
    if origin.strip().lower().rstrip("/") not in allowed or origin.strip() == "null":
        raise OriginNotAllowed()


def _under(url: str, prefix: str) -> bool:
    if not url.startswith(prefix):
        return False
    rest = url[len(prefix) :]
    return not rest or prefix.endswith(("/", "?", "#")) or rest[0] in "/?#"


def redirect_target(requested: object, allowed: tuple[str, ...]) -> str | None:
    """``requested`` when it lies under an allowed prefix, else the first prefix, else None.
    ``requested`` is the raw submitted value (any JSON type) when validation failed; it becomes
    a Location header, so nothing but printable ASCII without spaces is taken."""
    url = requested.strip() if isinstance(requested, str) else ""
    if (
        url.startswith(("http://", "https://"))
        and url.isascii()
        and url.isprintable()
        and " " not in url
    ):
        for prefix in allowed:
            if _under(url, prefix):
                return url
    return allowed[0] if allowed else None


def with_query(url: str, params: Mapping[str, str]) -> str:
    base, _, fragment = url.partition("#")
    joiner = "&" if "?" in base else "?"
    if base.endswith(("?", "&")):
        joiner = ""
    return base + joiner + urlencode(params) + (f"#{fragment}" if fragment else "")


def retry_after_header(error: BookingError) -> dict[str, str]:
    if not error.retry_after:
        return {}
    return {"Retry-After": str(clamp_retry_after(error.retry_after))}


def error_body(error: BookingError) -> dict[str, Any]:
    body: dict[str, Any] = {"success": False, "code": error.code, "message": error.message}
    if error.errors:
        body["errors"] = [{"field": e.field, "message": e.message} for e in error.errors]
    alternatives = getattr(error, "alternatives", None)
    if alternatives is not None:
        body["alternatives"] = alternatives
    return body


def html_page(title: str, message: str) -> str:
    from html import escape

    return (
        "<!doctype html><html lang=en><meta charset=utf-8>"
        '<meta name=viewport content="width=device-width,initial-scale=1">'
        f"<title>{escape(title)}</title><main><h1>{escape(title)}</h1>"
        f'<p>{escape(message)}</p><p><a href="javascript:history.back()">Back</a></p></main></html>'
    )


def visitor_ip(
    source_ip: str | None, headers: Mapping[str, str], edge_key: bytes | None
) -> str | None:
    """The visitor's address: API Gateway's source IP, or, behind the template's CloudFront
    (``edge_key`` given), ``CloudFront-Viewer-Address`` on requests that carry the origin
    secret CloudFront adds (so nobody can choose their own address by sending the header)."""
    if edge_key is not None:
        import hmac

        offered = headers.get("x-origin-verify", "").encode("utf-8", "surrogatepass")
        viewer = headers.get("cloudfront-viewer-address", "")
        if viewer and hmac.compare_digest(offered, edge_key):
            return viewer.rsplit(":", 1)[0].strip("[]")
    return source_ip
