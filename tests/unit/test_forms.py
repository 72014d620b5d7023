"""Browser forms on POST /bookings: the Origin check, the honeypot, plain HTML forms answered with
redirects, and matching the visitor and the pet (CONTRACT §3)."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from conftest import (
    API,
    JANE,
    JANE_BOOKS_REX,
    booking_event,
    clients_found,
    created,
    http_event,
    load_event,
    sent,
)

#: What Oliver's create receives for JANE_BOOKS_REX: the ids the lookup found, as integers.
JANE_REX_UPSTREAM = {"slot_id": "slot-1", "client_id": 1001, "patient_id": 2001}
BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
ORIGIN = "https://vet.example"
SUCCESS = "https://vet.example/booking/thanks"
FAILURE = "https://vet.example/booking/sorry"
PRACTICE_PHONE = "+1 555 0100"  # conftest's PRACTICE_PHONE


def html_form(fields: dict, **headers: str):
    return booking_event(
        fields, form=True, headers={"accept": BROWSER_ACCEPT, "origin": ORIGIN, **headers}
    )


def location(answer) -> tuple[str, dict[str, list[str]]]:
    assert answer.status == 303, answer.body
    url = urlsplit(answer.headers["location"])
    return f"{url.scheme}://{url.netloc}{url.path}", parse_qs(url.query)


@pytest.fixture
def create(oliver):
    return oliver.post(f"{API}/appointments").respond(200, json=created(501))


# -- Origin ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "origin", ["https://evil.example", "null", "https://vet.example.evil.test"]
)
def test_a_post_from_an_origin_not_allowed_is_403_and_books_nothing(
    invoke, oliver, create, aws, origin
):
    answer = invoke(booking_event(headers={"origin": origin}))

    assert answer.status == 403
    assert answer.json()["code"] == "origin_not_allowed"
    assert oliver.calls.call_count == 0  # neither looked up nor booked
    assert aws.events() == []


def test_a_post_without_origin_passes(invoke, create):
    assert invoke(booking_event()).status == 201
    assert create.called


def test_a_post_from_an_allowed_origin_passes(invoke, create):
    assert invoke(booking_event(headers={"origin": "https://VET.example/"})).status == 201


def test_no_allowed_origins_means_no_browser_may_post(invoke, create, reconfigure):
    reconfigure(ALLOWED_ORIGINS=None)

    assert invoke(booking_event(headers={"origin": ORIGIN})).status == 403
    assert not create.called


# -- honeypot -------------------------------------------------------------------------------------


def test_a_filled_honeypot_is_answered_exactly_like_a_booking_and_books_nothing(
    invoke, oliver, create, aws
):
    # Given a real booking's answer to compare with
    booked = invoke(booking_event(JANE_BOOKS_REX, form=True))
    calls_so_far = oliver.calls.call_count
    aws.events()

    # When a bot posts the same form with the honeypot filled, and a pet name of its own
    bot = {**JANE_BOOKS_REX, "slot_id": "slot-2", "patient_name": " Rexie ", "website": "x"}
    answer = invoke(booking_event(bot, form=True))

    # Then it gets a receipt of the same status, headers and shape, for the pet it typed
    assert answer.status == booked.status == 201
    assert answer.headers == booked.headers
    body, real = answer.json(), booked.json()
    assert body.keys() == real.keys() and body["data"].keys() == real["data"].keys()
    assert (body["success"], body["message"]) == (real["success"], real["message"])
    assert body["data"]["status"] == "REQUESTED"
    assert body["data"]["patient_name"] == "Rexie"
    assert isinstance(body["data"]["id"], int) and body["data"]["id"] != real["data"]["id"]
    # and nothing was looked up, booked or announced
    assert oliver.calls.call_count == calls_so_far
    assert aws.events() == []


def test_a_filled_honeypot_receipt_has_the_times_of_the_slot_it_was_offered(invoke, oliver):
    # Given the page showed the bot a slot from open times
    slot = {"start": "2030-01-07T09:00:00-06:00", "end": "2030-01-07T09:20:00-06:00"}
    day = {"date": "01/07/2030", "available": True, "times": [{**slot, "uuid": "slot-7"}]}
    oliver.post(f"{API}/open_times").respond(200, json={"success": True, "data": [day]})
    query = {"search_from_date": "2030-01-07T08:00:00Z", "appointment_type": "wellness"}
    assert invoke(http_event("GET", "/open-times", query=query)).status == 200

    # When the bot books it with the honeypot filled
    answer = invoke(booking_event({**JANE_BOOKS_REX, "slot_id": "slot-7", "website": "x"}))

    # Then the decoy receipt carries that slot's times, as a real receipt would
    data = answer.json()["data"]
    assert (data["start"], data["end"]) == (slot["start"], slot["end"])


def test_an_empty_honeypot_books(invoke, create):
    assert invoke(booking_event({**JANE_BOOKS_REX, "website": ""}, form=True)).status == 201
    assert sent(create) == JANE_REX_UPSTREAM


def test_a_filled_honeypot_is_answered_as_booked_even_when_the_rest_is_invalid(invoke, oliver):
    # Given a bot that fills every field, the honeypot included, with nonsense
    fields = {
        "slot_id": "",
        "email": "not-an-email",
        "client_id": "1",
        "website": "http://spam.example",
    }

    # When it posts the form
    answer = invoke(booking_event(fields, form=True))

    # Then it is told it booked (a receipt, no field errors to learn from), and nothing happened
    assert answer.status == 201
    body = answer.json()
    assert "errors" not in body
    assert body["data"].keys() == {"id", "status", "start", "end", "patient_name"}
    assert oliver.calls.call_count == 0


# -- plain HTML forms -----------------------------------------------------------------------------


def test_a_booked_html_form_is_sent_to_its_success_url_with_the_appointment_id(invoke, create):
    answer = invoke(html_form({**JANE_BOOKS_REX, "success_url": SUCCESS, "failure_url": FAILURE}))

    target, query = location(answer)
    assert target == SUCCESS
    assert query == {"appointment_id": ["501"]}
    assert sent(create) == JANE_REX_UPSTREAM


def test_the_html_form_event_file_books_the_pet_and_redirects_to_its_thanks_page(
    invoke, oliver, create, reconfigure
):
    # Given the demo page's origin and pages are allowed, and Jane and Rex are known to Oliver
    reconfigure(ALLOWED_ORIGINS="http://localhost:3000", ALLOWED_REDIRECTS="http://localhost:3000")

    # When the browser posts the form of events/bookings-html-form.json
    answer = invoke(load_event("bookings-html-form.json"))

    # Then the visitor is sent to the thanks page, and Oliver got only its own fields
    target, query = location(answer)
    assert target == "http://localhost:3000/thanks"
    assert query == {"appointment_id": ["501"]}
    assert sent(create) == {
        "slot_id": "slot-abc",
        "client_id": 1001,
        "patient_id": 2001,
        "note": "First visit with us.",
    }


def test_a_success_url_with_its_own_query_keeps_it(invoke, create):
    answer = invoke(html_form({**JANE_BOOKS_REX, "success_url": f"{SUCCESS}?lang=fr"}))

    _, query = location(answer)
    assert query == {"lang": ["fr"], "appointment_id": ["501"]}


def test_a_failed_html_form_is_sent_to_its_failure_url_with_the_code_and_field_names_only(
    invoke, create
):
    fields = {
        **JANE_BOOKS_REX,
        "email": "jane@@example",
        "note": "n" * 2001,
        "failure_url": FAILURE,
    }

    answer = invoke(html_form(fields))

    target, query = location(answer)
    assert target == FAILURE
    assert query["error"] == ["validation_error"]
    assert set(query["fields"][0].split(",")) == {"email", "note"}
    assert "jane" not in answer.headers["location"] and "nnnn" not in answer.headers["location"]
    assert not create.called


def test_an_upstream_failure_of_an_html_form_goes_to_the_failure_url(invoke, oliver):
    oliver.post(f"{API}/appointments").respond(409, json={"success": False, "message": "taken"})

    answer = invoke(html_form({**JANE_BOOKS_REX, "success_url": SUCCESS, "failure_url": FAILURE}))

    target, query = location(answer)
    assert target == FAILURE
    assert query == {"error": ["slot_unavailable"]}


def test_a_visitor_not_matched_by_an_html_form_goes_to_the_failure_url_with_the_code_only(
    invoke, create
):
    fields = {**JANE_BOOKS_REX, "first_name": "Mallory", "failure_url": FAILURE}

    answer = invoke(html_form(fields))

    target, query = location(answer)
    assert target == FAILURE
    assert query == {"error": ["not_matched"]}
    assert not create.called


def test_an_html_form_refused_for_its_origin_is_sent_back_to_an_allowed_page(invoke, create):
    answer = invoke(
        html_form(
            {**JANE_BOOKS_REX, "failure_url": "https://evil.example/x"},
            origin="https://evil.example",
        )
    )

    target, query = location(answer)
    assert target == "https://vet.example/booking"
    assert query["error"] == ["origin_not_allowed"]


@pytest.mark.parametrize(
    "requested",
    [
        "https://evil.example/thanks",
        "https://vet.example/booking-evil",
        "https://vet.example.evil.test/booking/thanks",
        "javascript:alert(1)//https://vet.example/booking",
        "//evil.example/booking",
    ],
)
def test_a_success_url_off_the_allowlist_is_replaced_by_the_first_prefix(
    invoke, create, reconfigure, requested
):
    reconfigure(ALLOWED_REDIRECTS="https://vet.example/booking,https://vet.example/other")

    answer = invoke(html_form({**JANE_BOOKS_REX, "success_url": requested}))

    target, query = location(answer)
    assert target == "https://vet.example/booking"
    assert query == {"appointment_id": ["501"]}


@pytest.mark.parametrize(
    "requested",
    ["https://vet.example/booking/a b", "https://vet.example/booking/caf\u00e9"],
)
def test_a_success_url_that_cannot_be_a_location_header_is_never_used(invoke, create, requested):
    answer = invoke(html_form({**JANE_BOOKS_REX, "success_url": requested}))

    assert answer.headers["location"] == "https://vet.example/booking?appointment_id=501"


def test_a_success_url_with_a_line_break_is_refused_and_never_becomes_a_header(invoke, create):
    # Given a success_url that would inject a header if it became the Location
    requested = "https://vet.example/booking/x\r\nSet-Cookie: a=b"

    # When the form is posted
    answer = invoke(html_form({**JANE_BOOKS_REX, "success_url": requested}))

    # Then the control characters are refused, and the visitor goes back to an allowed page
    assert answer.headers["location"] == (
        "https://vet.example/booking?error=validation_error&fields=success_url"
    )
    assert "set-cookie" not in answer.headers
    assert not create.called


@pytest.mark.parametrize("failure_url", [5, ["https://vet.example/booking/sorry"], {"a": 1}])
def test_a_failure_url_of_the_wrong_type_still_redirects_to_the_first_prefix(
    invoke, create, failure_url
):
    event = booking_event(
        {**JANE_BOOKS_REX, "failure_url": failure_url},
        headers={"accept": BROWSER_ACCEPT, "origin": ORIGIN},
    )

    answer = invoke(event)

    target, query = location(answer)
    assert target == "https://vet.example/booking"
    assert query["error"] == ["validation_error"]
    assert not create.called


@pytest.mark.parametrize(
    "requested",
    [
        "https://vet.example/booking",
        "https://vet.example/booking/done",
        "https://vet.example/booking?x=1",
    ],
)
def test_a_success_url_under_a_prefix_at_a_boundary_is_used(invoke, create, requested):
    answer = invoke(html_form({**JANE_BOOKS_REX, "success_url": requested}))

    assert answer.headers["location"].startswith(requested)


def test_without_allowed_redirects_an_html_form_gets_a_small_page(invoke, create, reconfigure):
    reconfigure(ALLOWED_REDIRECTS=None)

    answer = invoke(html_form({**JANE_BOOKS_REX, "success_url": SUCCESS}))

    assert answer.status == 201
    assert answer.headers["content-type"].startswith("text/html")
    assert "location" not in answer.headers
    assert "<html" in answer.body.lower()


def test_without_allowed_redirects_a_failed_html_form_gets_a_page_with_the_error_status(
    invoke, create, reconfigure
):
    reconfigure(ALLOWED_REDIRECTS=None)

    answer = invoke(
        html_form({**JANE_BOOKS_REX, "email": "<script>x</script>@x", "failure_url": FAILURE})
    )

    assert answer.status == 422
    assert answer.headers["content-type"].startswith("text/html")
    assert "<script>" not in answer.body


@pytest.mark.parametrize(
    "accept",
    ["*/*", "application/json", "text/html;q=0.5,application/json", "", "text/html;q=0.8,*/*"],
)
def test_callers_not_preferring_html_get_json(invoke, create, accept):
    answer = invoke(
        booking_event(
            {**JANE_BOOKS_REX, "success_url": SUCCESS}, form=True, headers={"accept": accept}
        )
    )

    assert answer.status == 201
    assert answer.headers["content-type"].startswith("application/json")
    assert answer.json()["data"]["id"] == 501


# -- text from a textarea -------------------------------------------------------------------------


@pytest.mark.parametrize("form", [True, False], ids=["form", "json"])
def test_crlf_and_cr_in_a_note_reach_upstream_as_newlines(invoke, create, form):
    # Given a note typed in a textarea, whose line breaks browsers send as CRLF (or old CR)
    note = "Limping since Monday.\r\nWorse after walks.\rEats well.\n\tNo fever."

    # When the form is posted
    answer = invoke(booking_event({**JANE_BOOKS_REX, "note": note}, form=form))

    # Then Oliver gets plain newlines, and the tab kept
    assert answer.status == 201
    assert (
        sent(create)["note"] == "Limping since Monday.\nWorse after walks.\nEats well.\n\tNo fever."
    )


# -- matching the visitor and the pet -------------------------------------------------------------

BY_PET = {
    "slot_id": "slot-1",
    "first_name": "Jane",
    "last_name": "Doe",
    "email": "jane@example.com",
    "phone": "(555) 555-0100",
    "patient_name": "chloe",
    "note": "Limping",
}
#: Jane as another practice's Oliver knows her: her cat Chloé and her dog Max.
CHLOE_OWNER = {
    "id": "3001",
    "name": "Jane Doe",
    "email": "jane@example.com",
    "phone": "+15555550100",
    "patients": [
        {"id": "4001", "name": "Chloé", "client_id": "3001"},
        {"id": "4002", "name": "Max", "client_id": "3001"},
    ],
}


def answer_clients(oliver, *found: dict[str, Any]):
    """GET /clients answers ``found`` to every lookup."""
    return oliver.get(f"{API}/clients").respond(200, json=clients_found(*found))


def assert_not_matched(answer) -> None:
    assert answer.status == 422, answer.body
    body = answer.json()
    assert body["code"] == "not_matched"
    assert "errors" not in body
    assert PRACTICE_PHONE in body["message"]


def test_a_pet_booking_looks_the_client_up_by_email_and_phone_and_sends_integer_ids(
    invoke, oliver, create
):
    lookup = answer_clients(oliver, CHLOE_OWNER)

    answer = invoke(booking_event(BY_PET))

    assert answer.status == 201
    assert [dict(call.request.url.params) for call in lookup.calls] == [
        {"email": "jane@example.com"},
        {"phone": "+15555550100"},
    ]
    assert sent(create) == {
        "slot_id": "slot-1",
        "client_id": 3001,
        "patient_id": 4001,
        "note": "Limping",
    }


def test_a_pet_booking_falls_back_to_the_phone_in_e164_checked_against_the_name(
    invoke, oliver, create
):
    namesake = {
        "id": "3002",
        "name": "Janet Smith",
        "phone": "+15555550100",
        "patients": [{"id": "4009", "name": "Chloe"}],
    }

    def by_contact(request: httpx.Request) -> httpx.Response:
        if "email" in request.url.params:
            return httpx.Response(200, json=clients_found())
        return httpx.Response(200, json=clients_found(namesake, CHLOE_OWNER))

    lookup = oliver.get(f"{API}/clients").mock(side_effect=by_contact)

    answer = invoke(booking_event(BY_PET))

    assert answer.status == 201
    assert lookup.calls[1].request.url.params["phone"] == "+15555550100"
    assert sent(create)["client_id"] == 3001 and sent(create)["patient_id"] == 4001


def test_an_unknown_email_with_the_clients_phone_books_and_tells_nothing_of_the_email(
    invoke, create
):
    # Given a visitor who gives a new email address but the phone Jane's record has
    fields = {**JANE_BOOKS_REX, "email": "jane.new@example.org", "phone": "555-555-0100"}

    # When she books
    answer = invoke(booking_event(fields))

    # Then she is matched by phone, and the receipt does not show the email on record
    assert answer.status == 201
    assert sent(create) == JANE_REX_UPSTREAM
    assert JANE["email"] not in answer.body


def test_a_pet_is_matched_ignoring_case_and_accents(invoke, oliver, create):
    answer_clients(oliver, CHLOE_OWNER)

    answer = invoke(booking_event({**BY_PET, "patient_name": "  CHLOÉ "}))

    assert answer.status == 201
    assert sent(create)["patient_id"] == 4001


def test_pets_are_listed_when_the_client_record_carries_none(invoke, oliver, create):
    # Given Oliver's client record comes without its patients
    answer_clients(oliver, {k: v for k, v in CHLOE_OWNER.items() if k != "patients"})
    pets = oliver.get(f"{API}/patients").respond(
        200, json={"success": True, "data": [{"id": "4001", "name": "Chloe", "client_id": "3001"}]}
    )

    # When Jane books for Chloe
    assert invoke(booking_event(BY_PET)).status == 201

    # Then the client's pets were listed, and the pet found among them
    assert pets.calls.last.request.url.params["client_id"] == "3001"
    assert sent(create)["patient_id"] == 4001


@pytest.mark.parametrize(
    "visitor",
    [
        pytest.param({"name": "Jane Doe"}, id="full-name"),
        pytest.param({"name": "Doe, Jane"}, id="last-comma-first"),
        pytest.param({"name": "  jane   DOE "}, id="full-name-spacing-and-case"),
        pytest.param({"name": "Jane Quincy Doe"}, id="middle-name-ignored"),
        pytest.param({"first_name": "J.", "last_name": "Doe"}, id="initial-with-dot"),
        pytest.param({"first_name": "J", "last_name": "Doe"}, id="initial"),
        pytest.param({"first_name": "Ja", "last_name": "Doe"}, id="prefix"),
        pytest.param({"first_name": "Jane-Marie", "last_name": "Doe"}, id="double-first-name"),
        pytest.param({"first_name": "Jäne", "last_name": "DÖE"}, id="accents-and-case"),
    ],
)
def test_the_visitor_is_matched_by_a_name_written_the_ways_people_write_it(invoke, create, visitor):
    fields = {"slot_id": "slot-1", **visitor, "email": "jane@example.com", "patient_name": "Rex"}

    answer = invoke(booking_event(fields))

    assert answer.status == 201, answer.body
    assert sent(create) == JANE_REX_UPSTREAM


@pytest.mark.parametrize(
    ("on_record", "visitor"),
    [
        pytest.param(
            "Maria de la Cruz", {"first_name": "Maria", "last_name": "De La Cruz"}, id="multi-word"
        ),
        pytest.param("Maria de la Cruz", {"name": "de la Cruz, Maria"}, id="multi-word-comma"),
        pytest.param(
            "Seán O'Brien-Smith",
            {"first_name": "Sean", "last_name": "O\u2019Brien Smith"},
            id="accent-apostrophe-and-hyphen",
        ),
        pytest.param(
            "Cruz, Maria", {"first_name": "Maria", "last_name": "Cruz"}, id="record-comma"
        ),
        pytest.param("Al Cruz", {"first_name": "Alfonso", "last_name": "Cruz"}, id="record-short"),
    ],
)
def test_multi_word_last_names_and_records_in_other_orders_are_matched(
    invoke, oliver, create, on_record, visitor
):
    # Given Oliver's record of the client is written as a practice would write it
    client = {**JANE, "name": on_record}
    answer_clients(oliver, client)

    # When the visitor writes the name their own way
    fields = {"slot_id": "slot-1", **visitor, "email": "jane@example.com", "patient_name": "Rex"}
    answer = invoke(booking_event(fields))

    # Then it is the same person
    assert answer.status == 201, answer.body
    assert sent(create) == JANE_REX_UPSTREAM


@pytest.mark.parametrize(
    "visitor",
    [
        pytest.param({"first_name": "Mallory", "last_name": "Doe"}, id="another-first-name"),
        pytest.param({"first_name": "Joan", "last_name": "Doe"}, id="same-initial"),
        pytest.param({"first_name": "Jane", "last_name": "Dow"}, id="another-last-name"),
        pytest.param({"first_name": "Doe", "last_name": "Jane"}, id="swapped"),
        pytest.param({"name": "Jane Doe-Smith"}, id="longer-last-name"),
    ],
)
def test_a_visitor_whose_name_differs_from_the_record_is_not_matched(invoke, create, visitor):
    # Given Jane Doe's email (which the lookup answers with her record) and her pet's name
    fields = {"slot_id": "slot-1", **visitor, "email": "jane@example.com", "patient_name": "Rex"}

    # When someone else's name is given with them
    answer = invoke(booking_event(fields))

    # Then nothing is booked
    assert_not_matched(answer)
    assert not create.called


def test_a_record_whose_email_differs_from_the_visitors_is_not_matched(invoke, oliver, create):
    # Given a lookup that answers with a record of another email (a loose upstream search)
    answer_clients(oliver, {**JANE, "email": "jane.doe@example.net", "phone": None})

    answer = invoke(booking_event(JANE_BOOKS_REX))

    assert_not_matched(answer)
    assert not create.called


def test_every_kind_of_miss_is_one_byte_identical_answer_after_the_same_upstream_calls(
    invoke, oliver, create
):
    # Given five ways for a visitor (Jane's email and phone, her pet Chloe) not to be matched
    twins = [{"id": "4001", "name": "Chloe"}, {"id": "4005", "name": "chloé"}]
    misses = {
        "no client": ([], BY_PET),
        "another first name": ([CHLOE_OWNER], {**BY_PET, "first_name": "Mallory"}),
        "no such pet": ([CHLOE_OWNER], {**BY_PET, "patient_name": "Rex"}),
        "two clients": ([CHLOE_OWNER, {**CHLOE_OWNER, "id": "3003"}], BY_PET),
        "two pets": ([{**CHLOE_OWNER, "patients": twins}], BY_PET),
    }
    answers, calls = {}, {}
    for miss, (found, fields) in misses.items():
        answer_clients(oliver, *found)
        before = oliver.calls.call_count

        # When each is posted
        answers[miss] = invoke(booking_event(fields))
        calls[miss] = [
            (call.request.method, call.request.url.path) for call in oliver.calls[before:]
        ]

    # Then each is the one not_matched answer, byte for byte, after the same lookups
    for answer in answers.values():
        assert_not_matched(answer)
    assert (
        len({(a.status, a.body, tuple(sorted(a.headers.items()))) for a in answers.values()}) == 1
    )
    assert len({tuple(c) for c in calls.values()}) == 1
    assert calls["no client"] == [
        ("GET", "/services/core/open_api/v1/clients"),
        ("GET", "/services/core/open_api/v1/clients"),
    ]
    assert not create.called


def test_a_pet_name_without_the_clients_contact_is_422_naming_it(invoke, create):
    fields = {"slot_id": "slot-1", "first_name": "Jane", "last_name": "Doe", "patient_name": "Rex"}

    answer = invoke(booking_event(fields))

    assert answer.status == 422
    # The public is told what it may send: a contact (never an id it may not send)
    assert {e["field"] for e in answer.json()["errors"]} == {"email"}
    assert not create.called
