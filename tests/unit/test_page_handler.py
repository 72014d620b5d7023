"""The booking page's function (functions/page/app.py) fed API Gateway events: AWS under moto,
Oliver under respx. What the browser tests cannot easily show: the form token, the Origin, the
honeypot, Turnstile, the per-visitor limit, calendar links and the headers of every answer."""

from __future__ import annotations

import importlib.util
import re
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from conftest import API, ROOT, Answer, Context, created, http_event, load_event

DAYS = [
    {
        "date": "01/07/2030",
        "available": True,
        "times": [
            {
                "start": f"2030-01-07T{hour}:00:00-06:00",
                "end": f"2030-01-07T{hour}:20:00-06:00",
                "provider_id": "301",
                "value": f"{hour}:00",
                "label": f"{hour}:00",
                "uuid": f"slot-{hour}",
            }
            for hour in ("09", "10")
        ],
    }
]
NOW = datetime(2030, 1, 6, 15, 0, tzinfo=UTC)
OWN_ORIGIN = "https://api.vet.example"
FORM_KEY_SECRET = "booking/page-form-key"


def _load_page_app() -> Any:
    path = ROOT / "functions" / "page" / "app.py"
    spec = importlib.util.spec_from_file_location("page_app", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


PAGE_APP = _load_page_app()


@pytest.fixture
def page_env(env: dict[str, str], aws: Any, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    aws.secrets.create_secret(Name=FORM_KEY_SECRET, SecretString="f" * 64)
    for name, value in {
        "PAGE_FORM_KEY_SECRET_ID": FORM_KEY_SECRET,
        "PRACTICE_NAME": "Sandbox Animal Hospital",
        "PRACTICE_ADDRESS": "1 Main St, Springfield",
        "PRACTICE_ACCENT": "#ffcc00",
    }.items():
        monkeypatch.setenv(name, value)
    for name in ("PAGE_TURNSTILE_SITE_KEY", "PRACTICE_LOGO_URL"):
        monkeypatch.delenv(name, raising=False)
    return env


@pytest.fixture
def upstream(oliver: Any) -> Any:
    oliver.post(f"{API}/open_times").respond(200, json={"success": True, "data": DAYS})
    return oliver.post(f"{API}/appointments", name="create").respond(200, json=created())


def call(event: dict[str, Any]) -> Answer:
    from booking.page import wiring

    wiring.booking_page().now = lambda: NOW
    result = PAGE_APP.lambda_handler(event, Context(function_name="booking-webhook-PageFunction"))
    headers = {k.lower(): v for k, v in (result.get("headers") or {}).items()}
    return Answer(result["statusCode"], headers, result.get("body") or "")


def show(**query: str) -> Answer:
    return call(http_event("GET", "/book", query={"appointment_type": "wellness", **query}))


def token_of(page: Answer) -> str:
    found = re.search(r'name="form_token" value="([^"]+)"', page.body)
    assert found
    return found.group(1)


def post(fields: dict[str, str], origin: str | None = OWN_ORIGIN) -> Answer:
    headers = {"content-type": "application/x-www-form-urlencoded"}
    if origin is not None:
        headers["origin"] = origin
    return call(
        http_event("POST", "/book", body=urlencode(fields), headers=headers, route="POST /book")
    )


def jane_books_rex(token: str, **extra: str) -> dict[str, str]:
    return {
        "form_token": token,
        "appointment_type": "wellness",
        "day": "2030-01-07",
        "slot_id": "slot-09",
        "first_name": "Jane",
        "last_name": "Doe",
        "email": "jane@example.com",
        "patient_name": "Rex",
        "website": "",
        "step": "book",
        **extra,
    }


def test_a_linked_day_is_shown_with_its_times_and_the_pages_headers(page_env, upstream) -> None:
    answer = call(load_event("book-page.json"))

    assert answer.status == 200
    assert answer.headers["content-type"] == "text/html; charset=utf-8"
    assert answer.headers["cache-control"] == "no-store"
    assert answer.headers["x-content-type-options"] == "nosniff"
    csp = answer.headers["content-security-policy"]
    assert "frame-ancestors 'self' https://vet.example" in csp
    assert "Times on Monday, January 7" in answer.body
    assert answer.body.count('name="slot_id"') == 2
    assert 'name="utm_source" value="newsletter"' in answer.body
    # Text on a yellow accent is black.
    assert "--accent:#ffcc00;--accent-ink:#000000" in answer.body


def test_the_script_gets_the_day_and_time_step_alone(page_env, upstream) -> None:
    answer = show(part="picker", day="2030-01-07")

    assert answer.status == 200
    assert answer.body.startswith('<fieldset class="step" id="step-time">')
    assert "<html" not in answer.body


def test_jane_books_rex_from_the_page_and_gets_a_receipt_with_a_calendar_link(
    page_env, upstream, aws
) -> None:
    token = token_of(show(day="2030-01-07"))

    answer = post(jane_books_rex(token, utm_source="newsletter"))

    assert answer.status == 200
    assert "Appointment requested" in answer.body
    assert "9:00 am (Central Time)" in answer.body and "Monday, January 7, 2030" in answer.body
    assert "1 Main St, Springfield" in answer.body
    assert "jane@example.com" not in answer.body and "Doe" not in answer.body
    (booked,) = [e for e in aws.events(wait=1.0) if e["detail-type"] == "Appointment Booked"]
    assert booked["detail"]["channel"] == "page"
    assert booked["detail"]["referral_source"] == "newsletter"

    link = re.search(r'href="/book/calendar\?a=([^"]+)"', answer.body)
    assert link
    calendar = call(http_event("GET", "/book/calendar", query={"a": link.group(1)}))
    assert calendar.status == 200
    assert calendar.headers["content-type"] == "text/calendar; charset=utf-8"
    assert calendar.headers["content-disposition"] == 'attachment; filename="appointment-501.ics"'
    assert "DTSTART:20300107T150000Z" in calendar.body
    assert "SUMMARY:Rex at Sandbox Animal Hospital" in calendar.body


def test_a_post_without_a_token_of_ours_books_nothing_and_keeps_every_value(
    page_env, upstream
) -> None:
    answer = call(load_event("book-post.json"))

    assert answer.status == 400
    assert "open for a long time, so nothing was sent" in answer.body
    assert 'value="jane@example.com"' in answer.body and 'value="Rex"' in answer.body
    assert token_of(answer) != "replace-with-the-token-of-a-rendered-page"
    assert not upstream.called


def test_a_post_from_another_site_books_nothing(page_env, upstream) -> None:
    token = token_of(show())

    answer = post(jane_books_rex(token), origin="https://evil.example")

    assert answer.status == 403
    assert "can only be sent from the practice" in answer.body
    assert not upstream.called


def test_a_filled_honeypot_looks_booked_and_books_nothing(page_env, upstream) -> None:
    token = token_of(show())

    answer = post(jane_books_rex(token, website="https://spam.example"))

    assert answer.status == 200 and "Appointment requested" in answer.body
    assert not upstream.called


def test_choosing_another_day_without_javascript_keeps_what_was_typed(page_env, upstream) -> None:
    token = token_of(show())

    answer = post(jane_books_rex(token, step="day:2030-01-07", patient_name="Rexy"))

    assert answer.status == 200
    assert 'value="Rexy"' in answer.body and 'value="Jane"' in answer.body
    assert "Times on Monday, January 7" in answer.body
    assert not upstream.called


def test_without_turnstile_on_the_page_its_posts_need_no_captcha(
    page_env, upstream, aws, monkeypatch
) -> None:
    # The practice checks CAPTCHAs on its own forms but gave the page no site key.
    aws.secrets.create_secret(Name="booking/turnstile", SecretString="secret")
    monkeypatch.setenv("CAPTCHA_SECRET_ID", "booking/turnstile")
    from booking import container

    container.reset()
    token = token_of(show())

    answer = post(jane_books_rex(token))

    assert answer.status == 200 and upstream.called


def test_with_turnstile_on_the_page_a_post_without_its_token_is_refused(
    page_env, upstream, aws, monkeypatch
) -> None:
    aws.secrets.create_secret(Name="booking/turnstile", SecretString="secret")
    monkeypatch.setenv("CAPTCHA_SECRET_ID", "booking/turnstile")
    monkeypatch.setenv("PAGE_TURNSTILE_SITE_KEY", "0x4AAAAAAA")
    from booking import container

    container.reset()
    page = show()
    assert 'data-sitekey="0x4AAAAAAA"' in page.body and "<noscript>" in page.body

    answer = post(jane_books_rex(token_of(page)))

    assert answer.status == 400
    assert "not a robot" in answer.body and 'value="jane@example.com"' in answer.body
    assert not upstream.called


def test_over_the_booking_limit_the_visitor_is_told_to_wait_and_nothing_is_booked(
    page_env, upstream, monkeypatch
) -> None:
    monkeypatch.setenv("THROTTLE_BOOKINGS_PER_IP", "1/600")
    from booking import container

    container.reset()
    token = token_of(show())
    post(jane_books_rex(token, first_name="Janet"))

    answer = post(jane_books_rex(token))

    assert answer.status == 429
    assert 1 <= int(answer.headers["retry-after"]) <= 300
    assert "Too many attempts" in answer.body and 'value="Rex"' in answer.body
    assert upstream.call_count == 1


def test_a_calendar_link_the_page_did_not_sign_is_not_found(page_env) -> None:
    answer = call(load_event("book-calendar.json"))

    assert answer.status == 404
    assert answer.headers["content-type"] == "text/html; charset=utf-8"


def test_when_oliver_cannot_be_reached_the_page_says_so_and_gives_the_phone(
    page_env, oliver
) -> None:
    oliver.post(f"{API}/open_times").mock(side_effect=httpx.ConnectError("down"))

    answer = show()

    assert answer.status == 503
    assert "We could not load the open times right now" in answer.body
    assert "+1 555 0100" in answer.body
    assert 'name="first_name"' in answer.body


def test_the_api_function_never_loads_the_page() -> None:
    # The page is a function of its own so that the booking API's cold start does not grow.
    import subprocess
    import sys

    script = (
        "import sys; sys.path[:0] = [sys.argv[1], sys.argv[2]]; import app; "
        "loaded = [m for m in sys.modules if m.startswith('booking.page')]; "
        "assert not loaded, loaded"
    )
    layer, api = ROOT / "layers" / "booking", ROOT / "functions" / "api"
    result = subprocess.run(
        [sys.executable, "-c", script, str(layer), str(api)],
        capture_output=True,
        text=True,
        check=False,
        env={"PATH": "", "AWS_DEFAULT_REGION": "us-east-1"},
    )
    assert result.returncode == 0, result.stderr
