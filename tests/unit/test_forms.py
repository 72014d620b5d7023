"""Browser forms on POST /bookings: the Origin check, the honeypot, plain HTML forms answered with
redirects, and booking by pet name (CONTRACT §3)."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from conftest import API, booking_event, created, load_event, sent

BY_IDS = {"slot_id": "slot-1", "client_id": 1001, "patient_id": 2001}
BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
ORIGIN = "https://vet.example"
SUCCESS = "https://vet.example/booking/thanks"
FAILURE = "https://vet.example/booking/sorry"


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
def test_a_post_from_an_origin_not_allowed_is_403_and_books_nothing(invoke, create, aws, origin):
    answer = invoke(booking_event(BY_IDS, headers={"origin": origin}))

    assert answer.status == 403
    assert answer.json()["code"] == "origin_not_allowed"
    assert not create.called
    assert aws.events() == []


def test_a_post_without_origin_passes(invoke, create):
    assert invoke(booking_event(BY_IDS)).status == 201
    assert create.called


def test_a_post_from_an_allowed_origin_passes(invoke, create):
    assert invoke(booking_event(BY_IDS, headers={"origin": "https://VET.example/"})).status == 201


def test_no_allowed_origins_means_no_browser_may_post(invoke, create, reconfigure):
    reconfigure(ALLOWED_ORIGINS=None)

    assert invoke(booking_event(BY_IDS, headers={"origin": ORIGIN})).status == 403
    assert not create.called


# -- honeypot -------------------------------------------------------------------------------------


def test_a_filled_honeypot_answers_as_booked_and_books_nothing(invoke, oliver, create, aws):
    answer = invoke(booking_event({**BY_IDS, "website": "http://spam.example"}, form=True))

    assert answer.status == 201
    assert answer.json()["success"] is True
    assert oliver.calls.call_count == 0
    assert aws.events() == []


def test_an_empty_honeypot_books(invoke, create):
    assert invoke(booking_event({**BY_IDS, "website": ""}, form=True)).status == 201
    assert sent(create) == BY_IDS


# -- plain HTML forms -----------------------------------------------------------------------------


def test_a_booked_html_form_is_sent_to_its_success_url_with_the_appointment_id(invoke, create):
    answer = invoke(html_form({**BY_IDS, "success_url": SUCCESS, "failure_url": FAILURE}))

    target, query = location(answer)
    assert target == SUCCESS
    assert query == {"appointment_id": ["501"]}
    assert sent(create) == BY_IDS


def test_the_html_form_event_file_books_the_pet_and_redirects_to_its_thanks_page(
    invoke, oliver, create, reconfigure
):
    # Given the demo page's origin and pages are allowed, and Jane and Rex are known to Oliver
    reconfigure(ALLOWED_ORIGINS="http://localhost:3000", ALLOWED_REDIRECTS="http://localhost:3000")
    jane = {"id": "3001", "name": "Jane Doe", "patients": [{"id": "4001", "name": "Rex"}]}
    oliver.get(f"{API}/clients").respond(200, json={"success": True, "data": [jane]})

    # When the browser posts the form of events/bookings-html-form.json
    answer = invoke(load_event("bookings-html-form.json"))

    # Then the visitor is sent to the thanks page, and Oliver got only its own fields
    target, query = location(answer)
    assert target == "http://localhost:3000/thanks"
    assert query == {"appointment_id": ["501"]}
    assert sent(create) == {
        "slot_id": "slot-abc",
        "client_id": 3001,
        "patient_id": 4001,
        "note": "First visit with us.",
    }


def test_a_success_url_with_its_own_query_keeps_it(invoke, create):
    answer = invoke(html_form({**BY_IDS, "success_url": f"{SUCCESS}?lang=fr"}))

    _, query = location(answer)
    assert query == {"lang": ["fr"], "appointment_id": ["501"]}


def test_a_failed_html_form_is_sent_to_its_failure_url_with_the_code_and_field_names_only(
    invoke, create
):
    fields = {**BY_IDS, "email": "jane@@example", "note": "n" * 2001, "failure_url": FAILURE}

    answer = invoke(html_form(fields))

    target, query = location(answer)
    assert target == FAILURE
    assert query["error"] == ["validation_error"]
    assert set(query["fields"][0].split(",")) == {"email", "note"}
    assert "jane" not in answer.headers["location"] and "nnnn" not in answer.headers["location"]
    assert not create.called


def test_an_upstream_failure_of_an_html_form_goes_to_the_failure_url(invoke, oliver):
    oliver.post(f"{API}/appointments").respond(409, json={"success": False, "message": "taken"})

    answer = invoke(html_form({**BY_IDS, "success_url": SUCCESS, "failure_url": FAILURE}))

    target, query = location(answer)
    assert target == FAILURE
    assert query == {"error": ["slot_unavailable"]}


def test_an_html_form_refused_for_its_origin_is_sent_back_to_an_allowed_page(invoke, create):
    answer = invoke(
        html_form(
            {**BY_IDS, "failure_url": "https://evil.example/x"}, origin="https://evil.example"
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

    answer = invoke(html_form({**BY_IDS, "success_url": requested}))

    target, query = location(answer)
    assert target == "https://vet.example/booking"
    assert query == {"appointment_id": ["501"]}


@pytest.mark.parametrize(
    "requested",
    [
        "https://vet.example/booking/x\r\nSet-Cookie: a=b",
        "https://vet.example/booking/a b",
        "https://vet.example/booking/caf\u00e9",
    ],
)
def test_a_success_url_that_cannot_be_a_location_header_is_never_used(invoke, create, requested):
    answer = invoke(html_form({**BY_IDS, "success_url": requested}))

    assert answer.headers["location"] == "https://vet.example/booking?appointment_id=501"


@pytest.mark.parametrize("failure_url", [5, ["https://vet.example/booking/sorry"], {"a": 1}])
def test_a_failure_url_of_the_wrong_type_still_redirects_to_the_first_prefix(
    invoke, create, failure_url
):
    event = booking_event(
        {**BY_IDS, "failure_url": failure_url}, headers={"accept": BROWSER_ACCEPT, "origin": ORIGIN}
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
    answer = invoke(html_form({**BY_IDS, "success_url": requested}))

    assert answer.headers["location"].startswith(requested)


def test_without_allowed_redirects_an_html_form_gets_a_small_page(invoke, create, reconfigure):
    reconfigure(ALLOWED_REDIRECTS=None)

    answer = invoke(html_form({**BY_IDS, "success_url": SUCCESS}))

    assert answer.status == 201
    assert answer.headers["content-type"].startswith("text/html")
    assert "location" not in answer.headers
    assert "<html" in answer.body.lower()


def test_without_allowed_redirects_a_failed_html_form_gets_a_page_with_the_error_status(
    invoke, create, reconfigure
):
    reconfigure(ALLOWED_REDIRECTS=None)

    answer = invoke(html_form({**BY_IDS, "email": "<script>x</script>@x", "failure_url": FAILURE}))

    assert answer.status == 422
    assert answer.headers["content-type"].startswith("text/html")
    assert "<script>" not in answer.body


@pytest.mark.parametrize(
    "accept",
    ["*/*", "application/json", "text/html;q=0.5,application/json", "", "text/html;q=0.8,*/*"],
)
def test_callers_not_preferring_html_get_json(invoke, create, accept):
    answer = invoke(
        booking_event({**BY_IDS, "success_url": SUCCESS}, form=True, headers={"accept": accept})
    )

    assert answer.status == 201
    assert answer.headers["content-type"].startswith("application/json")
    assert answer.json()["data"]["id"] == 501


# -- booking by pet name --------------------------------------------------------------------------

BY_PET = {
    "slot_id": "slot-1",
    "first_name": "Jane",
    "last_name": "Doe",
    "email": "jane@example.com",
    "phone": "(555) 555-0100",
    "patient_name": "chloe",
    "note": "Limping",
}


def clients(*found: dict) -> dict:
    return {"success": True, "data": list(found)}


JANE = {
    "id": "3001",
    "name": "Jane Doe",
    "email": "jane@example.com",
    "phone": "+15555550100",
    "patients": [
        {"id": "4001", "name": "Chloé", "client_id": "3001"},
        {"id": "4002", "name": "Max"},
    ],
}


def test_a_pet_booking_finds_the_client_by_email_and_sends_integer_ids(invoke, oliver, create):
    lookup = oliver.get(f"{API}/clients").respond(200, json=clients(JANE))

    answer = invoke(booking_event(BY_PET))

    assert answer.status == 201
    assert lookup.calls[0].request.url.params["email"] == "jane@example.com"
    assert sent(create) == {
        "slot_id": "slot-1",
        "client_id": 3001,
        "patient_id": 4001,
        "note": "Limping",
    }


def test_a_pet_booking_falls_back_to_the_phone_in_e164_checked_against_the_last_name(
    invoke, oliver, create
):
    namesake = {"id": "3002", "name": "Janet Smith", "patients": [{"id": "4009", "name": "Chloe"}]}

    def by_contact(request: httpx.Request) -> httpx.Response:
        if "email" in request.url.params:
            return httpx.Response(200, json=clients())
        return httpx.Response(200, json=clients(namesake, JANE))

    lookup = oliver.get(f"{API}/clients").mock(side_effect=by_contact)

    answer = invoke(booking_event(BY_PET))

    assert answer.status == 201
    assert lookup.calls[1].request.url.params["phone"] == "+15555550100"
    assert sent(create)["client_id"] == 3001 and sent(create)["patient_id"] == 4001


def test_a_pet_is_matched_ignoring_case_and_accents(invoke, oliver, create):
    oliver.get(f"{API}/clients").respond(200, json=clients(JANE))

    answer = invoke(booking_event({**BY_PET, "patient_name": "  CHLOÉ "}))

    assert answer.status == 201
    assert sent(create)["patient_id"] == 4001


def test_pets_are_listed_when_the_client_record_has_none(invoke, oliver, create):
    oliver.get(f"{API}/clients").respond(200, json=clients({**JANE, "patients": []}))
    pets = oliver.get(f"{API}/patients").respond(
        200, json={"success": True, "data": [{"id": "4001", "name": "Chloe", "client_id": "3001"}]}
    )

    assert invoke(booking_event(BY_PET)).status == 201
    assert pets.calls.last.request.url.params["client_id"] == "3001"
    assert sent(create)["patient_id"] == 4001


def test_no_client_found_is_422_client_not_found(invoke, oliver, create):
    oliver.get(f"{API}/clients").respond(200, json=clients())

    answer = invoke(booking_event(BY_PET))

    assert (answer.status, answer.json()["code"]) == (422, "client_not_found")
    assert not create.called


def test_a_client_whose_last_name_differs_is_not_found(invoke, oliver, create):
    oliver.get(f"{API}/clients").respond(200, json=clients({**JANE, "name": "Jane Smith"}))

    answer = invoke(booking_event(BY_PET))

    assert answer.json()["code"] == "client_not_found"
    assert not create.called


def test_an_unknown_pet_is_422_patient_not_found(invoke, oliver, create):
    oliver.get(f"{API}/clients").respond(200, json=clients(JANE))

    answer = invoke(booking_event({**BY_PET, "patient_name": "Rex"}))

    assert (answer.status, answer.json()["code"]) == (422, "patient_not_found")
    assert not create.called


def test_two_matching_clients_are_422_ambiguous_match(invoke, oliver, create):
    oliver.get(f"{API}/clients").respond(200, json=clients(JANE, {**JANE, "id": "3003"}))

    answer = invoke(booking_event(BY_PET))

    assert (answer.status, answer.json()["code"]) == (422, "ambiguous_match")
    assert not create.called


def test_two_pets_of_the_same_name_are_422_ambiguous_match(invoke, oliver, create):
    twins = {**JANE, "patients": [{"id": "4001", "name": "Chloe"}, {"id": "4005", "name": "chloé"}]}
    oliver.get(f"{API}/clients").respond(200, json=clients(twins))

    answer = invoke(booking_event(BY_PET))

    assert answer.json()["code"] == "ambiguous_match"
    assert not create.called


def test_a_pet_name_without_the_clients_contact_is_422_naming_patient_name(invoke, create):
    answer = invoke(booking_event({"slot_id": "slot-1", "client_id": 1001, "patient_name": "Rex"}))

    assert answer.status == 422
    assert "patient_name" in {e["field"] for e in answer.json()["errors"]}
    assert not create.called


def test_a_filled_honeypot_is_answered_as_booked_even_when_the_rest_is_invalid(invoke, oliver):
    # Given a bot that fills every field, the honeypot included, with nonsense
    create = oliver.post(f"{API}/appointments")
    fields = {"slot_id": "", "email": "not-an-email", "website": "http://spam.example"}

    # When it posts the form
    answer = invoke(booking_event(fields, form=True))

    # Then it is told it booked (no field errors to learn from), and nothing was booked
    assert answer.status == 201
    assert "errors" not in answer.json()
    assert not create.called
