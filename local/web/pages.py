"""The local stack's demo booking page, rendered so that it also works without JavaScript.

Without JavaScript a visitor still needs open times to pick from, and after a failed plain form
post the API sends the browser back with only `error=<code>&fields=<names>`: this module fills
both into index.html on the server. Everything taken from the query or the API is escaped.
"""

from __future__ import annotations

import html
import json
import os
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode

Response = tuple[int, dict[str, str], bytes]
CallApi = Callable[[str, str, str, dict[str, str], bytes], Response]

WEB_DIR = Path(__file__).resolve().parent
APPOINTMENT_TYPES = ("wellness", "sick", "technician", "recheck")
# In the order the page shows them, so the first invalid one gets the focus.
FORM_FIELDS = ("slot_id", "first_name", "last_name", "email", "phone", "patient_name", "note")
UTM_FIELDS = ("utm_source", "utm_medium", "utm_campaign")
#: How many days of open times a visitor is shown (GET /open-times?days=), as the JS does.
DAYS_SHOWN = 7

HTML_TYPE = "text/html; charset=utf-8"
STATIC_FILES = {
    "/booking-form.js": ("booking-form.js", "text/javascript; charset=utf-8"),
    "/booking-form.css": ("booking-form.css", "text/css; charset=utf-8"),
}
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "strict-origin-when-cross-origin",
}
PAGE_HEADERS = {
    **SECURITY_HEADERS,
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; base-uri 'none'; "
        "form-action 'self'; frame-ancestors 'none'"
    ),
    "Cache-Control": "no-store",
}
# The local stack checks CAPTCHAs with Turnstile's always-passing test secret, and the demo page
# loads nothing from outside: this is the token Turnstile's test widget would hand the form.
TEST_CAPTCHA_FIELD = (
    '<input type="hidden" name="cf-turnstile-response" value="XXXX.DUMMY.TOKEN.XXXX">'
)
CAPTCHA_SLOT = re.compile(r"<!--captcha:.*?-->", re.DOTALL)
MESSAGES_BLOCK = re.compile(
    r'<script type="application/json" id="booking-messages">(.*?)</script>', re.DOTALL
)


def handle(
    method: str, path: str, query: str, call_api: CallApi, *, origin: str | None = None
) -> Response | None:
    """Serve the demo page's files; None when the request is not for one of them.

    `origin` is where the browser sees this page (scheme://host:port); the no-JavaScript form
    needs it for its absolute success and failure URLs. By default it is the local API's own.
    """
    if method not in ("GET", "HEAD"):
        return None
    params = {name: values[0] for name, values in parse_qs(query).items()}
    if path in ("/", "/index.html"):
        page = render_index(params, call_api, origin or default_origin())
        response: Response = (200, {"Content-Type": HTML_TYPE, **PAGE_HEADERS}, page.encode())
    elif path == "/thanks.html":
        page = render_thanks(params.get("appointment_id", ""))
        response = (200, {"Content-Type": HTML_TYPE, **PAGE_HEADERS}, page.encode())
    elif path in STATIC_FILES:
        name, content_type = STATIC_FILES[path]
        headers = {"Content-Type": content_type, "Cache-Control": "no-cache", **SECURITY_HEADERS}
        response = (200, headers, (WEB_DIR / name).read_bytes())
    else:
        return None
    status, headers, body = response
    return (status, headers, b"" if method == "HEAD" else body)


def default_origin() -> str:
    """The local API's own origin: the local stack lists it first in the function's
    ALLOWED_ORIGINS (set in this process), else it is the API's default address."""
    allowed = [o.strip() for o in os.environ.get("ALLOWED_ORIGINS", "").split(",") if o.strip()]
    if allowed and allowed[0] != "*":
        return allowed[0].rstrip("/")
    return f"http://127.0.0.1:{os.environ.get('BOOKING_API_PORT') or 3000}"


def render_index(params: Mapping[str, str], call_api: CallApi, origin: str) -> str:
    page = _read("index.html")
    messages = _messages(page)
    page = CAPTCHA_SLOT.sub(TEST_CAPTCHA_FIELD, page, count=1)
    page = _set_hidden(page, "success_url", f"{origin}/thanks.html")
    page = _set_hidden(page, "failure_url", f"{origin}/?")
    for name in UTM_FIELDS:
        if params.get(name):
            page = _set_hidden(page, name, params[name])

    alert = ""
    appointment_type = params.get("appointment_type", "")
    if appointment_type in APPOINTMENT_TYPES:
        page = page.replace(
            f'<option value="{appointment_type}">', f'<option value="{appointment_type}" selected>'
        )
        slots, status = _open_times(appointment_type, call_api, messages)
        page = page.replace("<!--slots-->", slots)
        page = _replace_status(page, status)
    elif appointment_type:
        alert = _code_message(messages, "choose_type")

    code = params.get("error")
    if code:
        alert = _code_message(messages, code)
        fields = {f for f in params.get("fields", "").split(",") if f in FORM_FIELDS}
        page = _mark_invalid(page, [f for f in FORM_FIELDS if f in fields], messages)
    # The source's placeholders never reach a browser, filled or not.
    for placeholder in ("<!--slots-->", "<!--slots-status-->"):
        page = page.replace(placeholder, "")
    return page.replace("<!--alert-->", html.escape(alert))


def render_thanks(appointment_id: str) -> str:
    page = _read("thanks.html")
    if not appointment_id:
        return page
    page = page.replace(
        '<p class="appointment-ref" id="appointment-ref" hidden>',
        '<p class="appointment-ref" id="appointment-ref">',
    )
    return page.replace(
        '<strong id="appointment-id"></strong>',
        f'<strong id="appointment-id">{html.escape(appointment_id[:64])}</strong>',
    )


def _read(name: str) -> str:
    # Read on every request so that edits show on reload while `make dev` runs.
    return (WEB_DIR / name).read_text(encoding="utf-8")


def _messages(page: str) -> dict[str, dict[str, str]]:
    match = MESSAGES_BLOCK.search(page)
    return json.loads(match.group(1)) if match else {}


def _code_message(messages: Mapping[str, Mapping[str, str]], code: str) -> str:
    codes = messages.get("codes", {})
    return codes.get(code) or codes.get("default", "Something went wrong. Please try again.")


def _field_message(messages: Mapping[str, Mapping[str, str]], field: str) -> str:
    fields = messages.get("fields", {})
    return fields.get(field) or fields.get("default", "Check this field.")


def _set_hidden(page: str, name: str, value: str) -> str:
    pattern = re.compile(rf'(<input type="hidden" name="{re.escape(name)}" value=")[^"]*(")')
    return pattern.sub(lambda m: m.group(1) + html.escape(value) + m.group(2), page)


def _replace_status(page: str, status: str) -> str:
    pattern = re.compile(r"(<!--slots-status-->)[^<]*")
    return pattern.sub(lambda m: m.group(1) + html.escape(status), page, count=1)


def _open_times(
    appointment_type: str, call_api: CallApi, messages: Mapping[str, Mapping[str, str]]
) -> tuple[str, str]:
    """The slot radio buttons grouped by day, and the sentence that announces them."""
    query = urlencode(
        {
            "search_from_date": datetime.now(UTC).isoformat(timespec="seconds"),
            "appointment_type": appointment_type,
            "days": DAYS_SHOWN,
        }
    )
    status, _, body = call_api("GET", "/open-times", query, {"accept": "application/json"}, b"")
    try:
        answer = json.loads(body)
    except ValueError:
        answer = None
    if status != 200 or not isinstance(answer, dict) or not isinstance(answer.get("data"), list):
        return "", _code_message(messages, "open_times_failed")
    days, count = _render_days(answer["data"])
    if not count:
        return "", _code_message(messages, "no_open_times")
    return days, f"{count} open time{'' if count == 1 else 's'}. Choose one."


def _render_days(days: list[Any]) -> tuple[str, int]:
    parts: list[str] = []
    index = 0
    for day in days:
        if not isinstance(day, dict) or not day.get("available"):
            continue
        labels = []
        starts: set[str] = set()
        for time in day.get("times") or []:
            if not isinstance(time, dict) or not time.get("uuid"):
                continue
            # One choice per start time: a visitor picks a time, not a provider or a room.
            start = str(time.get("start") or time.get("value") or time["uuid"])
            if start in starts:
                continue
            starts.add(start)
            slot_id = f"slot-{index}"
            index += 1
            text = time.get("label") or time.get("value") or time.get("start") or ""
            labels.append(
                f'<label class="slot" for="{slot_id}"><input type="radio" name="slot_id" '
                f'id="{slot_id}" value="{html.escape(str(time["uuid"]))}" required> '
                f"<span>{html.escape(str(text))}</span></label>"
            )
        if labels:
            parts.append(
                f'<fieldset class="slot-day"><legend>{html.escape(_format_day(day.get("date")))}'
                f'</legend><div class="slot-times">{"".join(labels)}</div></fieldset>'
            )
    return "".join(parts), index


def _format_day(value: Any) -> str:
    try:
        day = datetime.strptime(str(value), "%m/%d/%Y")
    except ValueError:
        return str(value or "")
    return f"{day:%A}, {day:%B} {day.day}"


def _mark_invalid(page: str, fields: list[str], messages: Mapping[str, Mapping[str, str]]) -> str:
    """Show each field's message under it, tie it to the control, focus the first one."""
    for position, field in enumerate(fields):
        error_id = f"{field}-error"
        page = page.replace(
            f'<p class="field-error" id="{error_id}"></p>',
            f'<p class="field-error" id="{error_id}">'
            f"{html.escape(_field_message(messages, field))}</p>",
        )
        control = re.compile(rf'<(?:input|textarea)\b[^>]*\bid="{re.escape(field)}"[^>]*>')
        page = control.sub(partial(_invalid_tag, error_id=error_id, first=position == 0), page)
        if field == "slot_id" and position == 0:
            # No times are shown after a redirect: the way forward is choosing the kind of visit.
            page = page.replace("<select ", "<select autofocus ", 1)
    return page


def _invalid_tag(match: re.Match[str], *, error_id: str, first: bool) -> str:
    tag = match.group(0)
    if 'aria-describedby="' in tag:
        tag = tag.replace('aria-describedby="', f'aria-describedby="{error_id} ', 1)
    else:
        tag = tag[:-1] + f' aria-describedby="{error_id}">'
    extra = ' aria-invalid="true"' + (" autofocus" if first else "")
    return tag[:-1] + extra + ">"
