"""The demo booking page in a real browser against the real local stack (handler + sandbox).

The page is served by the local API at `/`, so its origin is the API's own, which the local
stack puts in ALLOWED_ORIGINS and ALLOWED_REDIRECTS.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import expect

if TYPE_CHECKING:
    from local.stack import LocalStack

pytestmark = [pytest.mark.browser, pytest.mark.integration]


def sandbox_appointment(stack: LocalStack, appointment_id: str) -> dict[str, Any] | None:
    appointments = stack.sandbox_state()["appointments"]
    return next((a for a in appointments if str(a["id"]) == appointment_id), None)


def fill_jane(page: Any, *, email: str = "jane@example.com", pet: str = "Rex") -> None:
    page.get_by_label("First name").fill("Jane")
    page.get_by_label("Last name").fill("Doe")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Phone").fill("+1 555 555 0100")
    page.get_by_label("Pet's name").fill(pet)


def test_a_visitor_books_a_slot_and_sees_the_confirmation(
    fresh_sandbox: LocalStack, page: Any
) -> None:
    page.goto(fresh_sandbox.api_url)
    page.get_by_label("Kind of visit").select_option("wellness")
    page.locator("input[name=slot_id]").first.check()
    fill_jane(page)
    page.get_by_role("button", name="Book appointment").click()

    appointment_id = page.locator("#confirmation-id")
    expect(appointment_id).to_have_text(re.compile(r"^\S+$"))
    expect(page.locator("#confirmation")).to_contain_text("Rex")
    booked = sandbox_appointment(fresh_sandbox, appointment_id.inner_text())
    assert booked is not None
    assert booked["patient_name"] == "Rex"


def test_a_bad_email_is_shown_at_the_email_field_which_gets_focus(
    fresh_sandbox: LocalStack, page: Any
) -> None:
    page.goto(fresh_sandbox.api_url)
    page.get_by_label("Kind of visit").select_option("wellness")
    page.locator("input[name=slot_id]").first.check()
    fill_jane(page, email="not-an-email")
    page.get_by_role("button", name="Book appointment").click()

    expect(page.locator("#email-error")).not_to_be_empty()
    email = page.get_by_label("Email")
    expect(email).to_have_attribute("aria-invalid", "true")
    expect(email).to_have_attribute("aria-describedby", re.compile(r"\bemail-error\b"))
    expect(email).to_be_focused()
    assert fresh_sandbox.sandbox_state()["appointments"] == []


def test_without_javascript_a_booking_ends_on_the_thanks_page(
    fresh_sandbox: LocalStack, no_js_page: Any
) -> None:
    page = no_js_page
    page.goto(f"{fresh_sandbox.api_url}/?appointment_type=wellness")
    page.locator("input[name=slot_id]").last.check()
    fill_jane(page)
    page.get_by_role("button", name="Book appointment").click()

    page.wait_for_url(re.compile(r"/thanks\.html\?appointment_id="))
    appointment_id = parse_qs(urlsplit(page.url).query)["appointment_id"][0]
    expect(page.locator("#appointment-id")).to_have_text(appointment_id)
    assert sandbox_appointment(fresh_sandbox, appointment_id) is not None


def test_without_javascript_an_unknown_pet_is_shown_after_the_failure_redirect(
    fresh_sandbox: LocalStack, no_js_page: Any
) -> None:
    page = no_js_page
    page.goto(f"{fresh_sandbox.api_url}/?appointment_type=wellness")
    page.locator("input[name=slot_id]").first.check()
    fill_jane(page, pet="Unicorn")
    page.get_by_role("button", name="Book appointment").click()

    page.wait_for_url(re.compile(r"[?&]error=not_matched"))
    expect(page.get_by_role("alert")).to_contain_text("did not match the practice's records")
    assert "Unicorn" not in page.url  # the redirect names fields, never their values
    assert fresh_sandbox.sandbox_state()["appointments"] == []


def test_the_page_meets_accessibility_basics(
    stack: LocalStack, page: Any, check_accessibility_basics: Any
) -> None:
    page.goto(stack.api_url)
    page.get_by_label("Kind of visit").select_option("wellness")
    page.locator("input[name=slot_id]").first.wait_for()

    check_accessibility_basics(page)
