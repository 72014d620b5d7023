"""Browser fixtures for the demo booking page: Debian's Chromium driven by Playwright.

Playwright never downloads a browser here: it launches /usr/bin/chromium. Without it the browser
tests are skipped with the reason, unless REQUIRE_BROWSER=1 (CI), where that is a failure.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
MISSING_CHROMIUM = (
    "Chromium not found at /usr/bin/chromium: install Debian's chromium "
    "(apt-get install chromium) to run the browser tests"
)
TIMEOUT_MS = 10_000
ACTIVE_ELEMENT = "() => document.activeElement.name || document.activeElement.id"


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not os.access(CHROMIUM, os.X_OK):
        if os.environ.get("REQUIRE_BROWSER") == "1":
            pytest.fail(f"{MISSING_CHROMIUM} (REQUIRE_BROWSER=1 makes this a failure)")
        pytest.skip(MISSING_CHROMIUM)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def _open_page(browser: Any, *, javascript: bool) -> Iterator[Any]:
    """A fresh context whose page may only talk to 127.0.0.1: the page must load nothing from
    elsewhere (no CDN, no fonts), and a test must never leave the machine."""
    context = browser.new_context(java_script_enabled=javascript)
    context.set_default_timeout(TIMEOUT_MS)
    outside: list[str] = []

    def only_local(route: Any) -> None:
        if urlsplit(route.request.url).hostname == "127.0.0.1":
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    context.route("**/*", only_local)
    page = context.new_page()
    yield page
    context.close()
    assert not outside, f"the page requested resources outside 127.0.0.1: {outside}"


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A page with JavaScript on."""
    yield from _open_page(browser, javascript=True)


@pytest.fixture
def no_js_page(browser: Any) -> Iterator[Any]:
    """A page with JavaScript off: the plain HTML form must do the whole job."""
    yield from _open_page(browser, javascript=False)


def _check_accessibility_basics(page: Any) -> None:
    """Every visible control has a label, and the honeypot is hidden and out of the tab order."""
    unlabelled = page.evaluate(
        """() => Array.from(document.querySelectorAll('input, select, textarea'))
            .filter((el) => el.type !== 'hidden')
            .filter((el) => !(el.labels && el.labels.length && el.labels[0].textContent.trim())
                && !el.getAttribute('aria-label') && !el.getAttribute('aria-labelledby'))
            .map((el) => el.name || el.id)"""
    )
    assert unlabelled == []

    honeypot = page.locator("input[name=website]")
    assert honeypot.get_attribute("tabindex") == "-1"
    assert honeypot.get_attribute("autocomplete") == "off"
    assert page.get_by_label("Leave this empty").get_attribute("name") == "website"
    box = honeypot.bounding_box()
    viewport = page.viewport_size
    off_screen = box is None or box["x"] + box["width"] <= 0 or box["x"] >= viewport["width"]
    assert off_screen or box["width"] * box["height"] <= 1, f"honeypot is on screen at {box}"

    # Tab through the whole page: the honeypot never receives focus, the real fields do.
    page.locator("body").focus()
    reached: list[str] = []
    for _ in range(40):
        page.keyboard.press("Tab")
        reached.append(page.evaluate(ACTIVE_ELEMENT))
    assert "website" not in reached
    assert {"appointment_type", "first_name", "email", "patient_name"} <= set(reached)


@pytest.fixture
def check_accessibility_basics() -> Callable[[Any], None]:
    return _check_accessibility_basics
