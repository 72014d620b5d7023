"""The demo page's server side (local.web.pages), without a browser."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs

from local.web import pages

ORIGIN = "http://127.0.0.1:3999"


class RecordingApi:
    def __init__(self, status: int = 200, body: Any = None) -> None:
        self.status = status
        self.body = body if body is not None else {"success": True, "data": []}
        self.calls: list[tuple[str, str, str]] = []

    def __call__(
        self, method: str, path: str, query: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        self.calls.append((method, path, query))
        raw = self.body if isinstance(self.body, bytes) else json.dumps(self.body).encode()
        return self.status, {"content-type": "application/json"}, raw


def get(path: str, query: str = "", api: RecordingApi | None = None) -> tuple[int, dict, str]:
    answer = pages.handle("GET", path, query, api or RecordingApi(), origin=ORIGIN)
    assert answer is not None
    status, headers, body = answer
    return status, headers, body.decode()


def test_the_page_is_served_with_absolute_return_urls_for_the_plain_form() -> None:
    status, headers, body = get("/")

    assert status == 200
    assert headers["Content-Type"] == "text/html; charset=utf-8"
    assert f'name="success_url" value="{ORIGIN}/thanks.html"' in body
    assert f'name="failure_url" value="{ORIGIN}/?"' in body
    assert 'method="post" action="/bookings"' in body


def test_the_script_and_stylesheet_are_served_with_their_content_types() -> None:
    assert get("/booking-form.js")[1]["Content-Type"] == "text/javascript; charset=utf-8"
    assert get("/booking-form.css")[1]["Content-Type"] == "text/css; charset=utf-8"


def test_other_paths_and_methods_are_not_the_pages_business() -> None:
    api = RecordingApi()
    assert pages.handle("GET", "/bookings", "", api) is None
    assert pages.handle("GET", "/nope.html", "", api) is None
    assert pages.handle("POST", "/", "", api) is None
    assert api.calls == []


def test_head_answers_without_a_body() -> None:
    assert pages.handle("HEAD", "/", "", RecordingApi(), origin=ORIGIN)[2] == b""


def test_open_times_are_rendered_as_radio_buttons_grouped_by_day_and_escaped() -> None:
    api = RecordingApi(
        body={
            "success": True,
            "data": [
                {
                    "date": "03/02/2026",
                    "available": True,
                    "times": [
                        {"label": "<script>alert(1)</script>", "uuid": 'a"b', "value": "09:00"}
                    ],
                },
                {"date": "03/03/2026", "available": False, "times": [{"label": "x", "uuid": "no"}]},
            ],
        }
    )
    _, _, body = get("/", "appointment_type=wellness", api)

    method, path, query = api.calls[0]
    assert (method, path) == ("GET", "/open-times")
    params = parse_qs(query)
    assert params["appointment_type"] == ["wellness"]
    assert datetime.fromisoformat(params["search_from_date"][0]).tzinfo is not None
    assert '<option value="wellness" selected>' in body
    assert "<legend>Monday, March 2</legend>" in body
    assert 'value="a&quot;b"' in body
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body
    assert "<script>alert(1)" not in body
    assert 'value="no"' not in body
    assert "1 open time. Choose one." in body


def test_an_unknown_appointment_type_calls_nothing() -> None:
    api = RecordingApi()
    _, _, body = get("/", "appointment_type=%3Cx%3E", api)

    assert api.calls == []
    assert "Choose a kind of visit to see open times." in body
    assert "<x>" not in body


def test_open_times_that_cannot_be_loaded_say_so() -> None:
    api = RecordingApi(status=503, body={"success": False, "code": "upstream_unavailable"})
    _, _, body = get("/", "appointment_type=sick", api)

    assert "We could not load open times right now." in body


def test_a_failure_redirect_marks_the_named_fields_and_focuses_the_first() -> None:
    _, _, body = get("/", "error=validation_error&fields=email,patient_name,%3Cimg%3E")

    assert "Please check the highlighted fields." in body
    assert (
        '<input type="email" id="email" name="email" autocomplete="email" required maxlength="254"'
        ' aria-describedby="email-error" aria-invalid="true" autofocus>' in body
    )
    assert 'aria-describedby="patient_name-error patient_name-hint" aria-invalid="true">' in body
    assert '<p class="field-error" id="email-error">Enter a valid email address' in body
    assert body.count("autofocus") == 1
    assert "<img>" not in body


def test_an_unknown_error_code_shows_a_general_message_not_the_code() -> None:
    _, _, body = get("/", "error=%3Cb%3Ehacked")

    assert "Something went wrong and nothing was booked." in body
    assert "hacked" not in body


def test_utm_parameters_are_carried_in_both_forms() -> None:
    _, _, body = get("/", "utm_source=news%22letter&utm_campaign=spring")

    assert body.count('name="utm_source" value="news&quot;letter"') == 2
    assert body.count('name="utm_campaign" value="spring"') == 2


def test_the_thanks_page_shows_the_appointment_id_escaped() -> None:
    _, _, body = get("/thanks.html", "appointment_id=%3Ci%3E42")

    assert '<strong id="appointment-id">&lt;i&gt;42</strong>' in body
    assert '<p class="appointment-ref" id="appointment-ref">' in body


def test_the_thanks_page_without_an_id_keeps_the_number_hidden() -> None:
    _, _, body = get("/thanks.html")

    assert 'id="appointment-ref" hidden' in body


def test_a_time_offered_by_two_providers_is_one_choice_and_a_week_is_asked_for() -> None:
    same_time = {"start": "2026-03-02T09:00:00-06:00", "label": "9:00 am", "value": "09:00"}
    api = RecordingApi(
        body={
            "success": True,
            "data": [
                {
                    "date": "03/02/2026",
                    "available": True,
                    "times": [{**same_time, "uuid": "first"}, {**same_time, "uuid": "second"}],
                }
            ],
        }
    )

    _, _, body = get("/", "appointment_type=wellness", api)

    assert 'value="first"' in body
    assert 'value="second"' not in body
    assert "1 open time. Choose one." in body
    assert parse_qs(api.calls[-1][2])["days"] == ["7"]


def test_no_placeholder_of_the_source_reaches_a_browser() -> None:
    _, _, first_load = get("/", "")
    assert "<!--slots" not in first_load
    assert "<!--alert-->" not in first_load
