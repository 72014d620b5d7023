"""The booking page's parts without a browser or AWS: the signed form token and calendar links,
colours that keep their contrast, the week of days, the HTML (escaped, every problem where it
belongs, small) and the calendar file."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import icalendar
import pytest
from booking.errors import ConfigurationError
from booking.page import render
from booking.page.calendar import invitation
from booking.page.colours import PANEL, WHITE, Palette, contrast
from booking.page.schedule import build_week, parse_day, window_start, zone_name
from booking.page.settings import load_page_settings
from booking.page.signing import FORM_TOKEN_SECONDS, Signer
from hypothesis import given, settings
from hypothesis import strategies as st

CHICAGO = ZoneInfo("America/Chicago")
MONDAY = date(2030, 1, 7)
PRACTICE = render.Practice(
    name="Sandbox Animal Hospital",
    phone="+1 555-555-0199",
    address="1 Main St, Springfield",
    logo_url="https://cdn.example-vet.com/logo.png",
    zone=CHICAGO,
)
PALETTE = Palette.for_accent("#0b5cad")


def signer(now: float = 1_900_000_000.0) -> Signer:
    return Signer(lambda: b"k" * 32, clock=lambda: now)


def upstream_day(day: date, *hours: int) -> dict[str, object]:
    times = [
        {
            "start": f"{day.isoformat()}T{hour:02d}:00:00-06:00",
            "end": f"{day.isoformat()}T{hour:02d}:20:00-06:00",
            "uuid": f"slot-{day.isoformat()}-{hour}-{provider}",
            "provider_id": provider,
        }
        for hour in hours
        for provider in ("301", "302")
    ]
    return {"date": f"{day:%m/%d/%Y}", "available": bool(times), "times": times}


def week_from_monday(wanted: date | None = None):
    days = [upstream_day(MONDAY + timedelta(days=i), 9, 10) for i in range(6)]
    days.append(upstream_day(MONDAY + timedelta(days=6)))  # Sunday: closed
    return build_week(days, CHICAGO, MONDAY, MONDAY, wanted)


# -- signing ------------------------------------------------------------------------------------


def test_a_fresh_form_token_is_accepted_and_an_altered_one_is_not() -> None:
    token = signer().form_token()
    assert signer().form_token_valid(token)
    issued, nonce, mac = token.split(".")
    altered_mac = mac[:-1] + ("B" if mac[-1] == "A" else "A")  # the nonce is random: never the same
    for forged in (
        f"{int(issued) + 1}.{nonce}.{mac}",
        f"{issued}.{nonce}x.{mac}",
        f"{issued}.{nonce}.{altered_mac}",
        "",
        "a.b.c",
        None,
        "1" * 500,
    ):
        assert not signer().form_token_valid(forged), forged
    other_key = Signer(lambda: b"o" * 32, clock=lambda: 1_900_000_000.0)
    assert not other_key.form_token_valid(token)


def test_a_form_token_lasts_hours_not_forever() -> None:
    token = signer(1_900_000_000.0).form_token()
    assert signer(1_900_000_000.0 + FORM_TOKEN_SECONDS - 1).form_token_valid(token)
    assert not signer(1_900_000_000.0 + FORM_TOKEN_SECONDS + 1).form_token_valid(token)
    assert not signer(1_900_000_000.0 - 3600).form_token_valid(token)


def test_a_calendar_link_gives_back_its_receipt_and_nothing_forged() -> None:
    receipt = {"id": 501, "status": "REQUESTED", "start": "2030-01-07T09:00:00-06:00", "pet": "Rex"}
    link = signer().calendar_link(receipt)
    assert signer().calendar_receipt(link) == receipt
    payload, mac = link.split(".")
    assert signer().calendar_receipt(f"{payload}x.{mac}") is None
    assert signer().calendar_receipt(link.replace(".", ".A", 1)) is None
    # A form token's signature never stands for a calendar link's.
    token = signer().form_token()
    assert signer().calendar_receipt(token) is None


# -- colours ------------------------------------------------------------------------------------


@settings(deadline=None)  # pure arithmetic; a loaded machine must not fail it on time
@given(st.from_regex(r"#[0-9a-f]{6}", fullmatch=True))
def test_text_keeps_4_5_to_1_on_and_around_any_accent(accent: str) -> None:
    palette = Palette.for_accent(accent)
    assert contrast(palette.ink, accent) >= 4.5
    assert contrast(palette.text, WHITE) >= 4.5
    assert contrast(palette.text, PANEL) >= 4.5


@pytest.mark.parametrize("accent", ["#ffff00", "#00ff00", "#0b5cad", "#000000", "#ffffff"])
def test_yellow_gets_black_text_and_navy_gets_white(accent: str) -> None:
    palette = Palette.for_accent(accent)
    expected = "#ffffff" if accent in ("#0b5cad", "#000000") else "#000000"
    assert palette.ink == expected


# -- settings -----------------------------------------------------------------------------------


def test_page_settings_read_their_variables_and_name_a_bad_one() -> None:
    settings = load_page_settings(
        {"PRACTICE_ACCENT": "#ABC", "PRACTICE_ADDRESS": " 1  Main St ", "PRACTICE_LOGO_URL": ""}
    )
    assert settings.practice_accent == "#aabbcc"
    assert settings.practice_address == "1 Main St"
    with pytest.raises(ConfigurationError) as raised:
        load_page_settings({"PRACTICE_ACCENT": "blue", "PRACTICE_LOGO_URL": "javascript:x"})
    assert raised.value.detail == "missing or malformed: PRACTICE_ACCENT, PRACTICE_LOGO_URL"


# -- the week -----------------------------------------------------------------------------------


def test_a_week_has_seven_days_closed_ones_included_and_one_choice_per_start_time() -> None:
    week = week_from_monday()
    assert [d.date for d in week.days] == [MONDAY + timedelta(days=i) for i in range(7)]
    assert [d.open for d in week.days] == [True] * 6 + [False]
    assert week.chosen is not None and week.chosen.date == MONDAY
    # Two providers at 9:00 are one time for the visitor.
    assert [slot.label for slot in week.chosen.slots] == ["9:00 am", "10:00 am"]
    assert week.previous is None and week.next == MONDAY + timedelta(days=7)


def test_a_linked_day_is_chosen_when_it_has_times_and_said_when_it_has_none() -> None:
    assert week_from_monday(MONDAY + timedelta(days=2)).chosen.date == MONDAY + timedelta(days=2)
    closed = week_from_monday(MONDAY + timedelta(days=6))
    assert closed.chosen.date == MONDAY and closed.unavailable == MONDAY + timedelta(days=6)


def test_a_week_without_openings_moves_to_the_first_week_with_some() -> None:
    later = MONDAY + timedelta(days=9)
    week = build_week([upstream_day(later, 9)], CHICAGO, MONDAY, MONDAY, None)
    assert week.start == MONDAY + timedelta(days=7)
    assert week.chosen.date == later


def test_weeks_start_today_and_every_seven_days_after() -> None:
    assert window_start(MONDAY, None) == MONDAY
    assert window_start(MONDAY, MONDAY + timedelta(days=6)) == MONDAY
    assert window_start(MONDAY, MONDAY + timedelta(days=8)) == MONDAY + timedelta(days=7)
    assert window_start(MONDAY, MONDAY - timedelta(days=3)) == MONDAY
    assert parse_day("2030-01-07") == parse_day("01/07/2030") == MONDAY
    assert parse_day("next tuesday") is None


def test_zones_are_named_in_plain_words() -> None:
    assert zone_name(CHICAGO) == "Central Time"
    assert zone_name(ZoneInfo("America/New_York")) == "Eastern Time"
    assert zone_name(ZoneInfo("America/Argentina/Buenos_Aires")) == "Buenos Aires time"


# -- the HTML -----------------------------------------------------------------------------------


def form(**view: object) -> render.Page:
    values = {"appointment_type": "wellness", "week": week_from_monday(), "token": "t.o.k"}
    values.update(view)
    return render.form_page(
        PRACTICE, PALETTE, render.FormView(**values), ("https://www.example-vet.com",)
    )


def test_the_form_shows_one_days_times_in_the_practices_zone_and_is_small() -> None:
    page = form()
    assert '<html lang="en">' in page.html
    assert page.html.count('class="times"') == 1
    assert "Times on Monday, January 7" in page.html
    assert "Times are in Central Time." in page.html
    assert page.html.count('name="slot_id"') == 2
    assert page.html.count('class="day closed"') == 1
    # HTML, CSS and script together, uncompressed.
    assert len(page.html.encode()) < 50 * 1024


def test_everything_typed_is_kept_and_escaped() -> None:
    typed = {
        "first_name": 'Jane"><script>alert(1)</script>',
        "note": "</textarea><b>hi</b>",
        "utm_source": '"><img src=x>',
        "slot_id": "slot-2030-01-07-10-301",
    }
    page = form(values=typed)
    assert "<script>alert(1)" not in page.html and "<b>hi</b>" not in page.html
    assert "<img src=x>" not in page.html
    assert 'value="Jane&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;"' in page.html
    assert "&lt;/textarea&gt;&lt;b&gt;hi&lt;/b&gt;</textarea>" in page.html
    assert re.search(r'value="slot-2030-01-07-10-301" checked', page.html)


def test_each_error_is_beside_its_field_and_in_a_summary_linked_to_it() -> None:
    page = form(errors={"email": "Enter an email address", "slot_id": "Choose a day and a time"})
    summary = page.html[page.html.index('id="error-summary"') :]
    assert summary.index('href="#slot_id"') < summary.index('href="#email"')  # page order
    assert 'id="email-error"' in page.html
    described = r'<input [^>]*id="email"[^>]*aria-describedby="contact-hint email-error"'
    assert re.search(described, page.html)
    assert re.search(r'<input [^>]*id="email"[^>]*aria-invalid="true"', page.html)
    assert page.html.count("autofocus") == 1
    assert "<title>Error: Book an appointment" in page.html


def test_not_matched_is_said_once_at_the_name_contact_and_pet() -> None:
    message = "Nothing is booked yet: these details did not match the practice's records."
    page = form(identity_notice=message)
    assert page.html.count("Nothing is booked yet") == 1
    you = page.html[page.html.index('id="step-you"') :]
    assert you.index('id="identity-notice"') < you.index('id="first_name"')
    assert 'id="error-summary"' not in page.html
    assert re.search(r'id="identity-notice" tabindex="-1" autofocus', page.html)


def test_the_page_may_be_framed_only_by_itself_and_the_allowed_origins() -> None:
    csp = form().csp
    assert "frame-ancestors 'self' https://www.example-vet.com" in csp
    assert "default-src 'none'" in csp and "form-action 'self'" in csp
    assert "img-src 'self' data: https://cdn.example-vet.com" in csp
    assert "challenges.cloudflare.com" not in csp
    assert "unsafe-inline" not in csp


def test_with_turnstile_visitors_without_javascript_get_the_phone_instead_of_the_form() -> None:
    page = form(turnstile_site_key="0x4AAAAAAA")
    assert "<noscript>" in page.html and "+1 555-555-0199" in page.html
    assert 'class="booking needs-js"' in page.html
    assert 'class="cf-turnstile" data-sitekey="0x4AAAAAAA"' in page.html
    assert "script-src 'sha256-" in page.csp and "https://challenges.cloudflare.com" in page.csp
    assert "frame-src https://challenges.cloudflare.com" in page.csp


def test_the_confirmation_says_what_when_and_where() -> None:
    confirmation = render.Confirmation(
        appointment_id="501",
        status="REQUESTED",
        start=datetime(2030, 1, 7, 15, 0, tzinfo=UTC),
        end=datetime(2030, 1, 7, 15, 20, tzinfo=UTC),
        pet="Rex",
        message="The practice has your request and will confirm the appointment.",
    )
    page = render.confirmation_page(PRACTICE, PALETTE, confirmation, "/book/calendar?a=x.y", ())
    for text in (
        "Appointment requested",
        "Rex",
        "Monday, January 7, 2030",
        "9:00 am (Central Time)",
        "1 Main St, Springfield",
        'href="tel:+15555550199"',
        "501",
        'href="/book/calendar?a=x.y"',
    ):
        assert text in page.html, text


# -- the calendar file --------------------------------------------------------------------------


def test_the_calendar_file_is_one_event_any_calendar_reads() -> None:
    text = invitation(
        uid="appointment-501@booking-webhook",
        start=datetime(2030, 1, 7, 9, 0, tzinfo=CHICAGO),
        end=None,
        summary="Rex at Sandbox Animal Hospital, the one on Main Street with the big sign outside",
        location="Sandbox Animal Hospital, 1 Main St; Springfield",
        description="Appointment number 501.",
        tentative=True,
        now=datetime(2030, 1, 1, tzinfo=UTC),
    )
    assert all(len(line.encode()) <= 75 for line in text.split("\r\n"))
    calendar = icalendar.Calendar.from_ical(text)
    (event,) = calendar.walk("VEVENT")
    assert event.decoded("DTSTART") == datetime(2030, 1, 7, 15, 0, tzinfo=UTC)
    assert event.decoded("DTEND") == datetime(2030, 1, 7, 15, 20, tzinfo=UTC)
    assert str(event["LOCATION"]) == "Sandbox Animal Hospital, 1 Main St; Springfield"
    assert str(event["STATUS"]) == "TENTATIVE"
    assert str(event["SUMMARY"]).startswith("Rex at Sandbox Animal Hospital")
