"""The demo page's own behaviour, fast, against canned answers of the two API routes it uses.

A small server on 127.0.0.1 serves the page through `local.web.pages.handle` (the same entry
point the local stack uses) and answers `GET /open-times` and `POST /bookings` in the contract's
shapes. What the real handler does is tested in test_booking_page.py against the real stack.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, parse_qsl, urlencode, urlsplit

import pytest
from playwright.sync_api import expect

from local.web import pages

pytestmark = pytest.mark.browser

Response = tuple[int, dict[str, str], bytes]

OPEN_TIMES = [
    {
        "date": "03/02/2026",
        "available": True,
        "times": [
            {
                "start": "2026-03-02T09:00:00-06:00",
                "end": "2026-03-02T09:20:00-06:00",
                "provider_id": "p1",
                "value": "09:00",
                "label": "9:00 am",
                "uuid": "slot-a",
            },
            {
                # The same time with another provider: offered once (the first slot wins).
                "start": "2026-03-02T09:00:00-06:00",
                "end": "2026-03-02T09:20:00-06:00",
                "provider_id": "p2",
                "value": "09:00",
                "label": "9:00 am",
                "uuid": "slot-a-other-provider",
            },
            {
                "start": "2026-03-02T09:20:00-06:00",
                "end": "2026-03-02T09:40:00-06:00",
                "provider_id": "p1",
                "value": "09:20",
                "label": "9:20 am",
                "uuid": "slot-b",
            },
        ],
    },
    {"date": "03/03/2026", "available": False, "times": []},
    {
        "date": "03/04/2026",
        "available": True,
        "times": [
            {
                "start": "2026-03-04T16:00:00-06:00",
                "end": "2026-03-04T16:20:00-06:00",
                "provider_id": "p2",
                "value": "16:00",
                "label": "<b>4:00 pm</b>",
                "uuid": "slot-c",
            },
        ],
    },
]
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


def _json(status: int, body: dict[str, Any], **headers: str) -> Response:
    return status, {"Content-Type": "application/json", **headers}, json.dumps(body).encode()


@dataclass
class CannedApi:
    """The two routes, with the contract's status codes and bodies; records what it received."""

    open_times_queries: list[dict[str, list[str]]] = field(default_factory=list)
    bookings: list[tuple[dict[str, str], dict[str, str]]] = field(default_factory=list)
    next_failure: tuple[int, dict[str, Any]] | None = None
    delay: float = 0.0
    _answers: dict[str, Response] = field(default_factory=dict)

    def __call__(
        self, method: str, path: str, query: str, headers: dict[str, str], body: bytes
    ) -> Response | None:
        if (method, path) == ("GET", "/open-times"):
            self.open_times_queries.append(parse_qs(query))
            return _json(200, {"success": True, "data": OPEN_TIMES})
        if (method, path) == ("POST", "/bookings"):
            return self._book({k.lower(): v for k, v in headers.items()}, body)
        return None

    def _book(self, headers: dict[str, str], raw: bytes) -> Response:
        time.sleep(self.delay)
        if headers.get("content-type", "").startswith("application/json"):
            fields = json.loads(raw)
        else:
            fields = dict(parse_qsl(raw.decode(), keep_blank_values=True))
        self.bookings.append((headers, fields))
        key = headers.get("idempotency-key")
        if key in self._answers:
            return self._answers[key]
        status, body = self._outcome(fields)
        if "text/html" in headers.get("accept", "") and "success_url" in fields:
            answer = self._redirect(status, body, fields)
        else:
            answer = _json(status, body)
        if key and status == 201:
            self._answers[key] = answer
        return answer

    def _outcome(self, fields: dict[str, str]) -> tuple[int, dict[str, Any]]:
        if self.next_failure is not None:
            failure, self.next_failure = self.next_failure, None
            return failure
        if "email" in fields and not EMAIL.match(fields["email"]):
            return 422, {
                "success": False,
                "code": "validation_error",
                "message": "Some fields are not valid.",
                "errors": [{"field": "email", "message": "Enter a valid email address."}],
            }
        if fields.get("patient_name") == "Nobody":
            # One answer for every kind of miss: no field is named.
            return 422, {
                "success": False,
                "code": "not_matched",
                "message": "Nothing is booked yet: these details did not match.",
            }
        receipt = {
            "id": 4242,
            "status": "CONFIRMED",
            "start": "2026-03-02T09:00:00-06:00",
            "end": "2026-03-02T09:20:00-06:00",
            "patient_name": fields.get("patient_name"),
        }
        return 201, {"success": True, "data": receipt, "message": "Your appointment is booked."}

    @staticmethod
    def _redirect(status: int, body: dict[str, Any], fields: dict[str, str]) -> Response:
        if status == 201:
            target = f"{fields['success_url']}?appointment_id={body['data']['id']}"
        else:
            names = ",".join(e["field"] for e in body.get("errors", []))
            query = {"error": body["code"], **({"fields": names} if names else {})}
            target = fields["failure_url"] + urlencode(query)
        return 303, {"Location": target}, b""


@dataclass
class Site:
    url: str
    api: CannedApi


@pytest.fixture
def site() -> Iterator[Site]:
    api = CannedApi()
    origin: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            parts = urlsplit(self.path)
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            headers = dict(self.headers.items())
            answer = pages.handle(self.command, parts.path, parts.query, api, origin=origin[0])
            if answer is None:
                answer = api(self.command, parts.path, parts.query, headers, body)
            status, response_headers, payload = answer or (404, {}, b"not found")
            self.send_response(status)
            for name, value in response_headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = do_HEAD = _serve

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    origin.append(f"http://127.0.0.1:{server.server_address[1]}")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield Site(origin[0], api)
    server.shutdown()
    server.server_close()


def fill_client(page: Any, *, email: str = "jane@example.com", pet: str = "Rex") -> None:
    page.get_by_label("First name").fill("Jane")
    page.get_by_label("Last name").fill("Doe")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Phone").fill("+1 555 555 0100")
    page.get_by_label("Pet's name").fill(pet)


def choose_first_slot(page: Any) -> None:
    page.get_by_label("Kind of visit").select_option("wellness")
    page.locator("input[name=slot_id]").first.check()


# --- JavaScript on ------------------------------------------------------------------------------


def test_choosing_a_kind_of_visit_shows_open_times_grouped_by_day(site: Site, page: Any) -> None:
    page.goto(site.url)
    page.get_by_label("Kind of visit").select_option("sick")

    days = page.locator("#slot-days fieldset.slot-day")
    expect(days.locator("legend")).to_have_text(["Monday, March 2", "Wednesday, March 4"])
    assert page.locator("input[name=slot_id]").evaluate_all("els => els.map(e => e.value)") == [
        "slot-a",
        "slot-b",
        "slot-c",
    ]
    assert page.get_by_label("<b>4:00 pm</b>").get_attribute("value") == "slot-c"  # text, not HTML
    expect(page.locator("#slots-status")).to_have_text("3 open times. Choose one.")
    query = site.api.open_times_queries[-1]
    assert query["appointment_type"] == ["sick"]
    assert query["search_from_date"][0].endswith("Z")
    assert query["days"] == ["7"]


def test_open_times_can_be_picked_with_the_keyboard(site: Site, page: Any) -> None:
    page.goto(site.url)
    page.get_by_label("Kind of visit").select_option("wellness")
    page.get_by_label("9:00 am").focus()
    page.keyboard.press("Space")
    page.keyboard.press("ArrowRight")

    assert page.get_by_label("9:20 am").is_checked()
    assert page.evaluate("document.activeElement.value") == "slot-b"


def test_a_booking_shows_its_confirmation(site: Site, page: Any) -> None:
    page.goto(f"{site.url}/?utm_source=newsletter&utm_medium=email&utm_campaign=spring")
    choose_first_slot(page)
    fill_client(page)
    page.get_by_role("button", name="Book appointment").click()

    confirmation = page.locator("#confirmation")
    confirmation.wait_for()
    assert page.locator("#confirmation-id").inner_text() == "4242"
    assert "Rex, Monday, March 2 at 9:00 am" in confirmation.inner_text()
    assert page.evaluate("document.activeElement.id") == "confirmation"
    assert page.locator("#booking-form").is_hidden()
    headers, sent = site.api.bookings[-1]
    assert headers["content-type"] == "application/json"
    assert UUID.match(headers["idempotency-key"])
    assert sent == {
        "slot_id": "slot-a",
        "first_name": "Jane",
        "last_name": "Doe",
        "email": "jane@example.com",
        "phone": "+1 555 555 0100",
        "patient_name": "Rex",
        "utm_source": "newsletter",
        "utm_medium": "email",
        "utm_campaign": "spring",
        "cf-turnstile-response": "XXXX.DUMMY.TOKEN.XXXX",
    }


def test_the_button_is_disabled_while_posting_so_a_double_click_books_once(
    site: Site, page: Any
) -> None:
    site.api.delay = 0.5
    page.goto(site.url)
    choose_first_slot(page)
    fill_client(page)
    button = page.locator("#book-button")
    button.dblclick()

    assert button.is_disabled()
    page.locator("#confirmation").wait_for()
    assert len(site.api.bookings) == 1


def test_a_retry_of_the_same_booking_reuses_its_idempotency_key(site: Site, page: Any) -> None:
    site.api.next_failure = (
        503,
        {"success": False, "code": "upstream_unavailable", "message": "Try again later."},
    )
    page.goto(site.url)
    choose_first_slot(page)
    fill_client(page)
    page.get_by_role("button", name="Book appointment").click()
    page.get_by_role("alert").filter(has_text="not reachable").wait_for()
    # A CAPTCHA widget hands out a fresh token for the retry: still the same booking.
    page.locator("input[name=cf-turnstile-response]").evaluate("el => { el.value = 'fresh' }")
    page.get_by_role("button", name="Book appointment").click()
    page.locator("#confirmation").wait_for()

    first, retry = site.api.bookings
    assert first[0]["idempotency-key"] == retry[0]["idempotency-key"]
    assert retry[1]["cf-turnstile-response"] == "fresh"


def test_changed_data_gets_a_new_idempotency_key(site: Site, page: Any) -> None:
    page.goto(site.url)
    choose_first_slot(page)
    fill_client(page, email="jane@example")
    page.get_by_role("button", name="Book appointment").click()
    page.locator("#email-error").filter(has_text="valid").wait_for()
    page.get_by_label("Email").fill("jane@example.com")
    page.get_by_role("button", name="Book appointment").click()
    page.locator("#confirmation").wait_for()

    first, second = (headers["idempotency-key"] for headers, _ in site.api.bookings)
    assert first != second


def test_a_field_error_is_shown_at_its_field_which_gets_focus(site: Site, page: Any) -> None:
    page.goto(site.url)
    choose_first_slot(page)
    fill_client(page, email="not-an-email")
    page.get_by_role("button", name="Book appointment").click()

    error = page.locator("#email-error")
    # The page's own wording (from its messages block) wins over the API's.
    error.filter(has_text="Enter a valid email address, like name@example.com.").wait_for()
    email = page.get_by_label("Email")
    assert email.get_attribute("aria-invalid") == "true"
    assert "email-error" in email.get_attribute("aria-describedby").split()
    assert page.evaluate("document.activeElement.id") == "email"
    assert page.get_by_role("alert").inner_text() == "Please check the highlighted fields."
    assert page.get_by_role("button", name="Book appointment").is_enabled()

    email.fill("jane@example.com")  # editing the field clears its error
    assert email.get_attribute("aria-invalid") is None
    assert error.inner_text() == ""


@pytest.mark.parametrize(
    ("code", "text"),
    [
        ("not_matched", "did not match the practice's records"),
        ("held_for_review", "will contact you to find a time"),
        ("rate_limited", "Too many attempts"),
        ("slot_unavailable", "that time was just taken"),
        ("booking_rejected", "could not accept this booking"),
        ("upstream_unavailable", "not reachable right now"),
    ],
)
def test_a_booking_error_is_announced_in_the_alert_region(
    site: Site, page: Any, code: str, text: str
) -> None:
    site.api.next_failure = (422, {"success": False, "code": code, "message": "Upstream said no."})
    page.goto(site.url)
    choose_first_slot(page)
    fill_client(page)
    page.get_by_role("button", name="Book appointment").click()

    page.get_by_role("alert").filter(has_text=text).wait_for()
    assert page.locator("#confirmation").is_hidden()


def test_an_unknown_error_code_shows_the_apis_own_sentence(site: Site, page: Any) -> None:
    site.api.next_failure = (418, {"success": False, "code": "teapot", "message": "I am a teapot."})
    page.goto(site.url)
    choose_first_slot(page)
    fill_client(page)
    page.get_by_role("button", name="Book appointment").click()

    page.get_by_role("alert").filter(has_text="I am a teapot.").wait_for()


def test_a_failure_redirect_is_shown_on_the_page_with_javascript_on(site: Site, page: Any) -> None:
    page.goto(f"{site.url}/?error=validation_error&fields=patient_name")

    assert "check the highlighted fields" in page.get_by_role("alert").inner_text()
    pet = page.get_by_label("Pet's name")
    assert pet.get_attribute("aria-invalid") == "true"
    assert pet.get_attribute("aria-describedby").split().count("patient_name-error") == 1
    assert page.evaluate("document.activeElement.id") == "patient_name"


def test_the_page_meets_accessibility_basics(
    site: Site, page: Any, check_accessibility_basics: Any
) -> None:
    page.goto(site.url)
    page.get_by_label("Kind of visit").select_option("wellness")
    page.locator("input[name=slot_id]").first.wait_for()

    check_accessibility_basics(page)


# --- JavaScript off -------------------------------------------------------------------------------


def test_without_javascript_the_booking_follows_the_redirect_to_the_thanks_page(
    site: Site, no_js_page: Any
) -> None:
    page = no_js_page
    page.goto(f"{site.url}/?utm_source=flyer")
    page.get_by_label("Kind of visit").select_option("wellness")
    page.get_by_role("button", name="Show open times").click()
    page.get_by_label("9:20 am").check()
    fill_client(page)
    page.get_by_role("button", name="Book appointment").click()

    page.wait_for_url(re.compile(r"/thanks\.html\?appointment_id=4242$"))
    assert page.locator("#appointment-id").inner_text() == "4242"
    headers, sent = site.api.bookings[-1]
    assert headers["content-type"] == "application/x-www-form-urlencoded"
    assert sent["slot_id"] == "slot-b"
    assert sent["success_url"] == f"{site.url}/thanks.html"
    assert sent["failure_url"] == f"{site.url}/?"
    assert sent["utm_source"] == "flyer"
    assert sent["website"] == ""


def test_without_javascript_a_failure_redirect_shows_the_error(site: Site, no_js_page: Any) -> None:
    page = no_js_page
    page.goto(f"{site.url}/?appointment_type=wellness")
    page.get_by_label("9:00 am").check()
    fill_client(page, pet="Nobody")
    page.get_by_role("button", name="Book appointment").click()

    page.wait_for_url(re.compile(r"error=not_matched$"))
    assert "did not match the practice's records" in page.get_by_role("alert").inner_text()
    # A miss names no field: which part missed is not the visitor's to learn.
    assert page.locator("[aria-invalid=true]").count() == 0
