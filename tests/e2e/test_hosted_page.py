"""The hosted booking page (/book) in headless Chromium against the real local stack: a phone
with JavaScript on and off, and a desktop.

Each visit books Jane Doe's Rex after first getting the pet's name wrong, so one visit shows
every state: first load, one day's times, an error answered, the confirmation. axe-core checks
the first three; a screenshot of each is written to test-artifacts/hosted-page/.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect

if TYPE_CHECKING:
    from local.stack import LocalStack

pytestmark = [pytest.mark.browser, pytest.mark.integration]

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "hosted-page"
TIMEOUT_MS = 10_000


@dataclass(frozen=True)
class Visitor:
    name: str
    width: int
    height: int
    javascript: bool
    #: axe-core runs in every state for the two visitors with JavaScript (one per viewport):
    #: the server renders the same markup for every visitor, and axe needs a script of its own,
    #: which a page without JavaScript must get from a copy (seconds a state). The page without
    #: JavaScript is checked in its error state by the validation test below.
    axe: bool


#: Without JavaScript the page is the server's HTML and its CSS alone, which the phone's narrow
#: viewport tries hardest; a desktop without JavaScript adds nothing the other three do not show.
VISITORS = [
    Visitor("phone-js", 390, 844, True, axe=True),
    Visitor("phone-nojs", 390, 844, False, axe=False),
    Visitor("desktop-js", 1280, 900, True, axe=True),
]


def _context(browser: Any, visitor: Visitor) -> Iterator[Any]:
    """A fresh context that may only talk to 127.0.0.1: the page loads nothing from elsewhere."""
    context = browser.new_context(
        viewport={"width": visitor.width, "height": visitor.height},
        java_script_enabled=visitor.javascript,
    )
    context.set_default_timeout(TIMEOUT_MS)
    outside: list[str] = []

    def only_local(route: Any) -> None:
        if urlsplit(route.request.url).hostname == "127.0.0.1":
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    context.route("**/*", only_local)
    yield context
    context.close()
    assert not outside, f"the page requested resources outside 127.0.0.1: {outside}"


def axe_violations(page: Any, javascript: bool, run: bool = True) -> list[str]:
    """axe-core's violations on what the page shows now. axe runs in the page, so for a page
    without JavaScript the same markup is checked in a scripted copy (with the page's own
    script left out, so the copy shows exactly what the visitor saw)."""
    from axe_playwright_python.sync_playwright import Axe

    if not run:
        return []
    target, helper = page, None
    if not javascript:
        html = re.sub(r"<script\b.*?</script>", "", page.content(), flags=re.DOTALL)
        helper = page.context.browser.new_context(viewport=page.viewport_size)
        target = helper.new_page()
        target.set_content(html)
    try:
        results = Axe().run(target)
    finally:
        if helper is not None:
            helper.close()
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
        for v in results.response["violations"]
    ]


def shoot(page: Any, visitor: Visitor, state: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{visitor.name}-{state}.png"), full_page=True)


def book(page: Any) -> None:
    page.get_by_role("button", name="Book appointment", exact=True).click()
    page.wait_for_load_state()


def sandbox_appointments(stack: LocalStack) -> list[dict[str, Any]]:
    return list(stack.sandbox_state()["appointments"])


@pytest.mark.parametrize("visitor", VISITORS, ids=[v.name for v in VISITORS])
def test_jane_books_rex_after_a_wrong_pet_name_without_retyping_anything(
    fresh_sandbox: LocalStack, browser: Any, visitor: Visitor
) -> None:
    stack = fresh_sandbox
    for context in _context(browser, visitor):
        page = context.new_page()
        page.goto(f"{stack.api_url}/book?utm_source=e2e")

        # First load: the practice, the zone named, no times before a kind of visit.
        expect(page.get_by_role("heading", name="Book an appointment")).to_be_visible()
        expect(page.locator("#step-time")).to_contain_text("Times are in Central Time")
        expect(page.locator(".practice")).to_contain_text("Sandbox Animal Hospital")
        assert page.locator("input[name=slot_id]").count() == 0
        shoot(page, visitor, "1-first-load")
        assert axe_violations(page, visitor.javascript, visitor.axe) == []

        # A kind of visit, then the week of days and one day's times only.
        page.get_by_label("Wellness exam or vaccines").check()
        if not visitor.javascript:
            page.get_by_role("button", name="Show open days").click()
        expect(page.locator(".times")).to_have_count(1)
        open_days = page.locator("button.day")
        assert open_days.count() >= 2
        assert page.locator("li .day").count() == 7  # closed days are shown, as closed
        first_legend = page.locator(".times legend").inner_text()
        open_days.nth(1).click()
        expect(page.locator(".times legend")).not_to_have_text(first_legend)
        expect(page.locator(".times")).to_have_count(1)
        expect(page.locator("button.day[aria-pressed=true]")).to_have_count(1)
        chosen_day = page.locator(".times legend").inner_text().removeprefix("Times on ")
        if visitor.width < 500:
            # Booking on a phone takes less than a screen and a half of scrolling.
            height = page.evaluate("document.documentElement.scrollHeight")
            assert height - visitor.height <= 1.5 * visitor.height, height
        shoot(page, visitor, "2-times-shown")
        assert axe_violations(page, visitor.javascript, visitor.axe) == []

        # The wrong pet: nothing booked, every value kept, the answer at the identity fields.
        page.locator(".slot").nth(2).click()
        chosen_time = page.locator(".slot").nth(2).inner_text()
        page.get_by_label("First name").fill("Jane")
        page.get_by_label("Last name").fill("Doe")
        page.get_by_label("Email").fill("jane@example.com")
        page.get_by_label("Your pet's name").fill("Rexy")
        page.get_by_label("Anything the practice should know?").fill("Limping since Tuesday")
        book(page)

        notice = page.locator("#identity-notice")
        expect(notice).to_contain_text("Nothing is booked yet")
        expect(notice).to_contain_text("+1 555-555-0199")
        assert page.get_by_text("Nothing is booked yet").count() == 1  # said once
        expect(notice).to_be_focused()
        expect(notice).to_be_in_viewport()
        assert page.locator("#step-you #identity-notice").count() == 1
        expect(page.get_by_label("First name")).to_have_value("Jane")
        expect(page.get_by_label("Last name")).to_have_value("Doe")
        expect(page.get_by_label("Email")).to_have_value("jane@example.com")
        expect(page.get_by_label("Your pet's name")).to_have_value("Rexy")
        expect(page.get_by_label("Anything the practice should know?")).to_have_value(
            "Limping since Tuesday"
        )
        expect(page.get_by_label("Wellness exam or vaccines")).to_be_checked()
        expect(page.locator(".times legend")).to_have_text(f"Times on {chosen_day}")
        expect(page.locator(".slot", has=page.locator("input:checked"))).to_have_text(chosen_time)
        assert sandbox_appointments(stack) == []
        shoot(page, visitor, "3-not-matched")
        assert axe_violations(page, visitor.javascript, visitor.axe) == []

        # Corrected: booked, and the confirmation says what, when and where.
        page.get_by_label("Your pet's name").fill("Rex")
        book(page)
        receipt = page.locator(".receipt")
        expect(page.get_by_role("heading", level=1)).to_have_text(
            re.compile(r"Appointment (requested|booked)")
        )
        expect(receipt).to_contain_text("Rex")
        expect(receipt).to_contain_text(chosen_day)
        expect(receipt).to_contain_text(f"{chosen_time} (Central Time)")
        expect(receipt).to_contain_text("Sandbox Animal Hospital")
        expect(receipt).to_contain_text("+1 555-555-0199")
        shoot(page, visitor, "4-confirmation")
        (appointment,) = sandbox_appointments(stack)
        assert appointment["patient_name"] == "Rex"
        expect(receipt).to_contain_text(str(appointment["id"]))

        calendar = page.get_by_role("link", name=re.compile("Add to calendar"))
        answer = page.request.get(stack.api_url + calendar.get_attribute("href"))
        assert answer.headers["content-type"].startswith("text/calendar")
        assert "BEGIN:VEVENT" in answer.text() and "SUMMARY:Rex at Sandbox Animal Hospital" in (
            answer.text()
        )


def test_errors_are_beside_their_fields_and_in_a_summary_linked_to_them(
    stack: LocalStack, browser: Any
) -> None:
    visitor = Visitor("phone-nojs", 390, 844, False, axe=True)
    for context in _context(browser, visitor):
        page = context.new_page()
        page.goto(f"{stack.api_url}/book?appointment_type=wellness")
        page.get_by_label("First name").fill("Jane")
        page.get_by_label("Email").fill("not-an-email")
        page.get_by_label("Your pet's name").fill("Rex")
        book(page)

        summary = page.locator("#error-summary")
        expect(summary).to_be_focused()
        assert page.title().startswith("Error: ")
        for field, message in (
            ("slot_id", "Choose a day and a time"),
            ("last_name", "Enter your last name"),
            ("email", "Enter an email address like name@example.com"),
        ):
            expect(summary.locator(f'a[href="#{field}"]')).to_have_text(message)
            expect(page.locator(f"#{field}-error")).to_contain_text(message)
        email = page.get_by_label("Email")
        expect(email).to_have_attribute("aria-invalid", "true")
        expect(email).to_have_attribute("aria-describedby", re.compile(r"\bemail-error\b"))
        expect(email).to_have_value("not-an-email")
        expect(page.get_by_label("First name")).to_have_value("Jane")
        shoot(page, visitor, "validation-errors")
        assert axe_violations(page, javascript=False) == []


def test_with_javascript_missing_fields_are_caught_before_anything_is_sent(
    stack: LocalStack, browser: Any
) -> None:
    visitor = Visitor("desktop-js", 1280, 900, True, axe=False)
    for context in _context(browser, visitor):
        page = context.new_page()
        page.goto(f"{stack.api_url}/book")
        posts: list[str] = []
        page.on("request", lambda r: posts.append(r.url) if r.method == "POST" else None)
        page.get_by_label("Email").fill("jane@")
        page.get_by_label("Email").blur()
        expect(page.locator("#email-error")).to_contain_text("name@example.com")
        book(page)
        summary = page.locator("#error-summary")
        expect(summary).to_be_focused()
        expect(summary.locator("a")).to_have_text(
            [
                "Choose the kind of visit",
                "Enter your first name",
                "Enter your last name",
                "Enter an email address like name@example.com",
                "Enter your pet's name",
            ]
        )
        summary.locator('a[href="#first_name"]').click()
        expect(page.get_by_label("First name")).to_be_focused()
        assert posts == []


def test_an_embedding_page_learns_the_height_to_give_the_frame(
    stack: LocalStack, browser: Any
) -> None:
    for context in _context(browser, VISITORS[2]):
        page = context.new_page()
        # The local stack's own origin stands for the practice's site (it is in ALLOWED_ORIGINS).
        page.goto(f"{stack.api_url}/health")
        height = page.evaluate(
            """(src) => new Promise((resolve) => {
                window.addEventListener('message', (event) => {
                    const data = event.data;
                    if (data && data.type === 'booking-page:height') resolve(data.height);
                });
                const frame = document.createElement('iframe');
                frame.src = src;
                document.body.appendChild(frame);
            })""",
            f"{stack.api_url}/book?appointment_type=wellness",
        )
        assert height > 900
