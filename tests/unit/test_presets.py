"""Webhook presets for the tools practices use (CONTRACT §3 `preset`, §4 `Booking Cancelled`):
each tool's sample delivery of events/ through the real handler (mapped, validated, booked by
requested time, redelivered), the tools' other events ignored, cancellations announced,
`ack_failures`, and a source's own `map`, `defaults` and options over its preset's.

Deliveries are signed with the partner kit (`local.sign_webhook.sign`), which is written apart
from the function's verifier.
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from conftest import API, created, load_event, sent

from local import aws as local_aws
from local.sign_webhook import sign

SCHEMAS = Path(__file__).resolve().parents[2] / "docs" / "schemas"
SOURCES = local_aws.DEMO_PRESET_SOURCES
SECRETS = local_aws.DEMO_PRESET_SECRETS
#: Each tool's sample booking (events/) and the time it asks for (2030-01-07, Chicago).
SAMPLES = {
    "calcom-demo": ("webhook-calcom.json", "2030-01-07T15:00:00Z"),
    "calendly-demo": ("webhook-calendly.json", "2030-01-07T15:20:00Z"),
    "typeform-demo": ("webhook-typeform.json", "2030-01-07T15:40:00Z"),
    "tally-demo": ("webhook-tally.json", "2030-01-07T16:00:00Z"),
}
#: The open times of that Monday (09:00 to 10:20 CST), one slot id per time.
OPEN_TIMES = [
    {
        "date": "01/07/2030",
        "available": True,
        "times": [
            {
                "start": f"2030-01-07T{hour}:{minute}:00-06:00",
                "end": "",
                "provider_id": "301",
                "uuid": f"slot-{hour}{minute}",
            }
            for hour, minute in (("09", "00"), ("09", "20"), ("09", "40"), ("10", "00"))
        ],
    }
]
SLOT_AT = {
    "2030-01-07T15:00:00Z": "slot-0900",
    "2030-01-07T15:20:00Z": "slot-0920",
    "2030-01-07T15:40:00Z": "slot-0940",
    "2030-01-07T16:00:00Z": "slot-1000",
}
IGNORED = {"success": True, "ignored": True}


def body_of(name: str) -> dict[str, Any]:
    return json.loads(load_event(name)["body"])  # type: ignore[no-any-return]


def delivery(source: str, body: dict[str, Any] | None = None, **signing: Any) -> dict[str, Any]:
    """The tool's sample event (or ``body`` in its place), signed now as the tool signs."""
    event = load_event(SAMPLES[source][0])
    if body is not None:
        event["body"] = json.dumps(body)
    raw = event["body"].encode()
    event["headers"] = {
        **{k: v for k, v in event["headers"].items() if "signature" not in k},
        **{k.lower(): v for k, v in sign(tool(source), SECRETS[source], raw, **signing).items()},
        "content-length": str(len(raw)),
    }
    return event


def tool(source: str, **options: Any) -> Any:
    from booking.config import WebhookSource

    return WebhookSource.parse({**SOURCES[source], **options})


@pytest.fixture
def tools(aws, reconfigure) -> Callable[..., None]:
    """The four demo sources of the local stack, with their secrets; ``configure(source={...})``
    adds options to a source's entry."""
    arn = aws.secrets.create_secret(Name="booking/webhooks", SecretString=json.dumps(SECRETS))[
        "ARN"
    ]

    def configure(**entries: dict[str, Any]) -> None:
        sources = {name: {**options, **entries.get(name, {})} for name, options in SOURCES.items()}
        reconfigure(WEBHOOK_SOURCES=json.dumps(sources), WEBHOOK_SECRET_ID=arn)

    configure()
    return configure


@pytest.fixture
def schedule(oliver):
    return oliver.post(f"{API}/open_times").respond(200, json={"success": True, "data": OPEN_TIMES})


@pytest.fixture
def create(oliver, schedule):
    return oliver.post(f"{API}/appointments").respond(200, json=created(501))


def of_type(events: list[dict[str, Any]], detail_type: str) -> list[dict[str, Any]]:
    return [event for event in events if event["detail-type"] == detail_type]


def schema(name: str) -> dict[str, Any]:
    return json.loads((SCHEMAS / f"{name}.schema.json").read_text())  # type: ignore[no-any-return]


# -- each tool's sample books Jane Doe's Rex ------------------------------------------------------


@pytest.mark.parametrize("source", SAMPLES)
def test_each_tools_sample_books_jane_does_rex_at_the_time_it_asks_for(
    tools, invoke, oliver, create, aws, source
):
    # Given a source configured with nothing but its tool's preset
    # When the tool delivers its documented sample booking (Jane Doe, her dog Rex, a time)
    answer = invoke(delivery(source))

    # Then Jane and Rex were found, the open slot starting at that time booked, and a receipt
    # answered; the booking is announced as coming from this source
    assert answer.status == 201, answer.body
    assert answer.json()["data"]["id"] == 501
    upstream = sent(create)
    assert upstream["slot_id"] == SLOT_AT[SAMPLES[source][1]]
    assert (upstream["client_id"], upstream["patient_id"]) == (1001, 2001)
    assert upstream.get("note", "Limping on the left front leg.") == (
        "Limping on the left front leg."
    )
    booked = of_type(aws.events(), "Appointment Booked")
    assert [event["detail"]["webhook_source"] for event in booked] == [source]


@pytest.mark.parametrize("source", SAMPLES)
def test_a_redelivered_sample_is_replayed_and_books_nothing_new(tools, invoke, create, source):
    first = invoke(delivery(source))

    # When the tool delivers the same booking again (re-signed, as a retry is)
    again = invoke(delivery(source))

    assert first.status == again.status == 201, again.body
    assert again.headers.get("idempotent-replayed") == "true"
    assert again.body == first.body
    assert create.call_count == 1


def test_a_form_question_named_client_id_never_addresses_a_record(tools, invoke, oliver, create):
    # Given a Typeform whose respondent (anyone) answered questions named after record ids
    body = body_of("webhook-typeform.json")
    for ref, text in (("client_id", "1002"), ("patient_id", "2003"), ("status", "CONFIRMED")):
        body["form_response"]["answers"].append(
            {"type": "text", "text": text, "field": {"id": ref, "type": "short_text", "ref": ref}}
        )

    answer = invoke(delivery("typeform-demo", body))

    # Then Jane and Rex are still matched by name, contact and pet, and no status is sent
    assert answer.status == 201, answer.body
    assert oliver.routes["clients"].called
    assert (sent(create)["client_id"], sent(create)["patient_id"]) == (1001, 2001)
    assert "status" not in sent(create)


# -- other events: acknowledged, ignored ----------------------------------------------------------


def _replace(body: dict[str, Any], key: str, value: str) -> dict[str, Any]:
    changed = copy.deepcopy(body)
    changed[key] = value
    return changed


@pytest.mark.parametrize(
    ("source", "key", "other"),
    [
        ("calcom-demo", "triggerEvent", "PING"),
        ("calcom-demo", "triggerEvent", "BOOKING_REQUESTED"),
        ("calcom-demo", "triggerEvent", "MEETING_ENDED"),
        ("calendly-demo", "event", "invitee_no_show.created"),
        ("calendly-demo", "event", "routing_form_submission.created"),
        ("typeform-demo", "event_type", "form_response_partial"),
        ("tally-demo", "eventType", "FORM_RESPONSE_PARTIAL"),
    ],
)
def test_the_tools_other_events_are_acknowledged_and_book_nothing(
    tools, invoke, oliver, create, aws, source, key, other
):
    body = _replace(body_of(SAMPLES[source][0]), key, other)

    answer = invoke(delivery(source, body))

    assert answer.status == 200, answer.body
    assert answer.json() == IGNORED
    assert not create.called and not oliver.routes["clients"].called
    assert aws.events() == []


def test_an_ignored_event_must_still_be_signed(tools, invoke, create):
    ping = _replace(body_of("webhook-calcom.json"), "triggerEvent", "PING")
    event = delivery("calcom-demo", ping)
    event["headers"]["x-cal-signature-256"] = "0" * 64

    answer = invoke(event)

    assert answer.status == 401
    assert answer.json()["code"] == "invalid_signature"


# -- cancellations: announced for staff, nothing booked -------------------------------------------


@pytest.mark.parametrize(
    ("source", "sample", "reference", "start"),
    [
        (
            "calcom-demo",
            "webhook-calcom-cancelled.json",
            "bFJeNb2uX8ANpT3JL5EfXw",
            "2030-01-07T15:00:00Z",
        ),
        (
            "calendly-demo",
            "webhook-calendly-canceled.json",
            "https://api.calendly.com/scheduled_events/GBGBDCAADAEDCRZ2/invitees/AAAAAAAAAAAAAAAA",
            "2030-01-07T15:20:00Z",
        ),
    ],
)
def test_a_cancellation_books_nothing_and_announces_booking_cancelled(
    tools, invoke, oliver, create, aws, source, sample, reference, start
):
    # When the scheduling tool says the booking is cancelled (twice: it retries)
    first = invoke(delivery(source, body_of(sample)))
    again = invoke(delivery(source, body_of(sample)))

    # Then nothing is booked or looked up, and staff hear of it in one stable event per booking
    assert first.status == again.status == 200, first.body
    assert first.json()["success"] is True and first.json()["cancelled"] is True
    assert not create.called and not oliver.routes["clients"].called
    cancelled = of_type(aws.events(), "Booking Cancelled")
    assert len(cancelled) == 2
    assert cancelled[0]["detail"]["event_id"] == cancelled[1]["detail"]["event_id"]
    detail = cancelled[0]["detail"]
    jsonschema.validate(detail, schema("booking-cancelled"))
    assert detail["webhook_source"] == source
    assert detail["reference"] == reference
    assert detail["appointment_id"] is None
    assert detail["booking"]["name"] == "Jane Doe"
    assert detail["booking"]["email"] == "jane@example.com"
    assert detail["booking"]["patient_name"] == "Rex"
    assert detail["booking"]["start"] == start


def test_a_cancellation_nobody_could_hear_of_is_refused_so_the_tool_delivers_it_again(
    tools, invoke, monkeypatch
):
    # Given neither EventBridge nor the dead-letter queue takes the event
    from booking.publisher import EventPublisher

    monkeypatch.setattr(EventPublisher, "publish", lambda *args: "lost")

    answer = invoke(delivery("calcom-demo", body_of("webhook-calcom-cancelled.json")))

    assert answer.status == 503
    assert answer.json()["code"] == "upstream_unavailable"
    assert "retry-after" in answer.headers


def test_the_booking_cancelled_schema_and_its_example_agree():
    document = schema("booking-cancelled")
    jsonschema.Draft202012Validator.check_schema(document)
    example = json.loads((SCHEMAS / "examples" / "booking-cancelled.json").read_text())
    assert example["detail-type"] == document["title"] == "Booking Cancelled"
    jsonschema.validate(example["detail"], document)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**example["detail"], "channel": "webhook"}, document)


def test_a_calcom_reschedule_cancels_the_old_booking_and_books_the_new_time(
    tools, invoke, create, aws
):
    # Given Cal.com's reschedule of the sample booking to 09:40
    body = body_of("webhook-calcom.json")
    body["triggerEvent"] = "BOOKING_RESCHEDULED"
    body["payload"].update(
        uid="new-booking-uid",
        startTime="2030-01-07T15:40:00Z",
        endTime="2030-01-07T16:00:00Z",
        rescheduleUid="bFJeNb2uX8ANpT3JL5EfXw",
        rescheduleStartTime="2030-01-07T15:00:00Z",
    )

    answer = invoke(delivery("calcom-demo", body))

    # Then the new time is booked and the old booking announced as cancelled
    assert answer.status == 201, answer.body
    assert sent(create)["slot_id"] == "slot-0940"
    events = aws.events()
    (cancelled,) = of_type(events, "Booking Cancelled")
    assert cancelled["detail"]["reference"] == "bFJeNb2uX8ANpT3JL5EfXw"
    assert cancelled["detail"]["booking"]["start"] == "2030-01-07T15:00:00Z"
    assert len(of_type(events, "Appointment Booked")) == 1


def test_a_calendly_reschedule_is_a_cancellation_then_a_booking(tools, invoke, create, aws):
    # Given Calendly's two deliveries of a reschedule: the old invitee canceled, a new created
    canceled = body_of("webhook-calendly-canceled.json")
    canceled["payload"].update(rescheduled=True, new_invitee="https://api.calendly.com/x/new")
    created_again = body_of("webhook-calendly.json")
    created_again["payload"].update(
        uri="https://api.calendly.com/x/new", old_invitee=canceled["payload"]["uri"]
    )
    created_again["payload"]["scheduled_event"]["start_time"] = "2030-01-07T16:00:00.000000Z"

    cancel_answer = invoke(delivery("calendly-demo", canceled))
    book_answer = invoke(delivery("calendly-demo", created_again))

    assert cancel_answer.status == 200 and book_answer.status == 201, book_answer.body
    assert sent(create)["slot_id"] == "slot-1000"
    events = aws.events()
    assert [e["detail"]["reference"] for e in of_type(events, "Booking Cancelled")] == [
        canceled["payload"]["uri"]
    ]


# -- ack_failures ---------------------------------------------------------------------------------


def test_a_time_that_is_not_open_is_acknowledged_to_calcom_once_staff_have_it(
    tools, invoke, oliver, aws
):
    # Given Oliver has nothing open at the time Jane booked in Cal.com
    later = [{**OPEN_TIMES[0], "times": OPEN_TIMES[0]["times"][1:]}]
    oliver.post(f"{API}/open_times").respond(200, json={"success": True, "data": later})
    create = oliver.post(f"{API}/appointments").respond(200, json=created(501))

    answer = invoke(delivery("calcom-demo"))

    # Then Cal.com (which already confirmed it to Jane) gets 200 with the refusal, so it keeps
    # the endpoint on, and staff have a Booking Failed with the requested time to follow up
    assert answer.status == 200, answer.body
    body = answer.json()
    assert (body["success"], body["code"]) == (False, "slot_unavailable")
    assert "retry-after" not in answer.headers
    assert not create.called
    (failed,) = of_type(aws.events(), "Booking Failed")
    assert failed["detail"]["reason"] == "slot_unavailable"
    assert failed["detail"]["webhook_source"] == "calcom-demo"


def test_without_ack_failures_a_refusal_keeps_its_status(tools, invoke, oliver):
    # Typeform's preset does not acknowledge; Cal.com's can be told not to either
    tools(**{"calcom-demo": {"ack_failures": False}})
    oliver.post(f"{API}/open_times").respond(200, json={"success": True, "data": []})

    answers = [invoke(delivery(source)) for source in ("typeform-demo", "calcom-demo")]

    assert [a.status for a in answers] == [409, 409]
    assert {a.json()["code"] for a in answers} == {"slot_unavailable"}


def test_an_unreadable_booking_is_acknowledged_after_a_booking_failed_for_staff(
    tools, invoke, create, aws
):
    # Given a Cal.com event type without the pet question
    body = body_of("webhook-calcom.json")
    del body["payload"]["responses"]["patient_name"]

    answer = invoke(delivery("calcom-demo", body))

    # Then the tool is told why, with 200, and staff have what the tool said
    assert answer.status == 200, answer.body
    assert answer.json()["code"] == "validation_error"
    assert "patient_id" in {error["field"] for error in answer.json()["errors"]}
    (failed,) = of_type(aws.events(), "Booking Failed")
    detail = failed["detail"]
    assert detail["reason"] == "validation_error"
    assert detail["booking"]["name"] == "Jane Doe"
    assert detail["booking"]["start"] == "2030-01-07T15:00:00Z"
    assert detail["idempotency_key"] == "webhook:calcom-demo:key:bFJeNb2uX8ANpT3JL5EfXw"
    jsonschema.validate(detail, schema("booking-failed"))
    assert not create.called


def test_a_plain_source_may_acknowledge_refusals_too(aws, reconfigure, invoke, create):
    # Given a partner's own source (no preset) with ack_failures and a delivery id header
    arn = aws.secrets.create_secret(Name="booking/webhooks", SecretString='{"p": "s3cr3t"}')
    options = {"scheme": "hmac-sha256", "id_header": "X-Delivery", "ack_failures": True}
    reconfigure(WEBHOOK_SOURCES=json.dumps({"p": options}), WEBHOOK_SECRET_ID=arn["ARN"])
    body = b'{"start": "2030-01-07T09:00", "name": "Jane Doe", "email": "jane@example.com"}'
    event = load_event("webhook-standard.json")
    event.update(rawPath="/webhooks/p", pathParameters={"source": "p"}, body=body.decode())
    event["headers"] = {
        "content-type": "application/json",
        **{k.lower(): v for k, v in sign(tool_of(options), "s3cr3t", body, delivery="d-1").items()},
    }

    answer = invoke(event)

    # Then the refusal (no kind of visit, no pet) is answered 200 once staff have it
    assert answer.status == 200, answer.body
    assert answer.json()["code"] == "validation_error"
    (failed,) = of_type(aws.events(), "Booking Failed")
    assert failed["detail"]["idempotency_key"] == "webhook:p:key:d-1"
    # (the time without an offset read in the practice's zone, as a booking's is)
    assert failed["detail"]["booking"]["start"] == "2030-01-07T15:00:00Z"
    assert not create.called


def tool_of(options: dict[str, Any]) -> Any:
    from booking.config import WebhookSource

    return WebhookSource.parse(options)


@pytest.mark.parametrize(
    ("status", "code"),
    [(429, "rate_limited"), (503, "upstream_unavailable")],
)
def test_a_refusal_that_a_retry_can_change_is_never_acknowledged(
    tools, invoke, oliver, status, code
):
    oliver.post(f"{API}/open_times").respond(status, json={"success": False, "message": "x"})

    answer = invoke(delivery("calendly-demo"))

    assert answer.status == status, answer.body
    assert answer.json()["code"] == code
    assert "retry-after" in answer.headers


# -- a source's own options, map and defaults -----------------------------------------------------


def test_defaults_fill_what_the_form_does_not_ask(tools, invoke, create):
    # Given a Tally form that does not ask the kind of visit, and a source that says it
    tools(**{"tally-demo": {"defaults": {"appointment_type": "wellness", "note": "From Tally"}}})
    body = body_of("webhook-tally.json")
    body["data"]["fields"] = [
        f for f in body["data"]["fields"] if f["label"] not in ("Appointment type", "Note")
    ]

    answer = invoke(delivery("tally-demo", body))

    assert answer.status == 201, answer.body
    assert sent(create)["slot_id"] == "slot-1000"
    assert sent(create)["note"] == "From Tally"


def test_a_map_entry_overrides_the_presets_question_for_that_field(tools, invoke, create):
    # Given a Typeform whose pet question has the ref "pet_name_question", mapped explicitly
    tools(
        **{
            "typeform-demo": {
                "map": {"patient_name": "form_response.answers[?field.ref=='pet_q'].text | [0]"}
            }
        }
    )
    body = body_of("webhook-typeform.json")
    for answer in body["form_response"]["answers"]:
        if answer["field"]["ref"] == "patient_name":
            answer["field"]["ref"] = "pet_q"

    answer = invoke(delivery("typeform-demo", body))

    assert answer.status == 201, answer.body
    assert sent(create)["patient_id"] == 2001


def test_a_presets_option_can_be_overridden(tools, invoke, create):
    # Given Calendly's tolerance narrowed to 60 seconds
    tools(**{"calendly-demo": {"tolerance_seconds": 60}})

    answer = invoke(delivery("calendly-demo", now=time.time() - 120))

    assert answer.status == 401


@pytest.mark.parametrize(
    "entry",
    [
        {"preset": "wufoo"},
        {"preset": None},
        {"preset": "calendly", "ack_failures": "yes"},
        {"preset": "tally", "defaults": {"appointment_typ": "wellness"}},
        {"preset": "tally", "defaults": {"appointment_type": ["wellness"]}},
        {"preset": "calendly", "encoding": "base64"},
    ],
    ids=[
        "unknown-tool",
        "null",
        "ack-not-a-boolean",
        "default-of-no-field",
        "default-not-a-constant",
        "timestamped-hmac-in-base64",
    ],
)
def test_a_malformed_preset_entry_is_a_configuration_error(reconfigure, invoke, entry):
    reconfigure(WEBHOOK_SOURCES=json.dumps({"p": entry}))

    answer = invoke(delivery("calendly-demo"))

    assert answer.status == 503
    assert answer.json()["code"] == "configuration_error"


# -- reading the tools' payloads ------------------------------------------------------------------


def read(preset: str, body: Any) -> Any:
    from booking import presets

    return presets.read(preset, body)


def test_a_calcom_split_name_and_phone_question_are_read():
    body = body_of("webhook-calcom.json")
    responses = body["payload"]["responses"]
    responses["name"]["value"] = {"firstName": "Jane", "lastName": "Doe"}
    responses["attendeePhoneNumber"]["value"] = "+15555550100"

    booking = read("cal.com", body).booking

    assert (booking["name"], booking["phone"]) == ("Jane Doe", "+15555550100")


def test_calendlys_split_first_and_last_names_are_taken_as_such():
    body = body_of("webhook-calendly.json")
    body["payload"].update(first_name="Jane", last_name="Doe")

    booking = read("calendly", body).booking

    assert (booking["first_name"], booking["last_name"]) == ("Jane", "Doe")
    assert "name" not in booking


@pytest.mark.parametrize(
    ("value", "options", "expected"),
    [
        (["id-w"], [{"id": "id-w", "text": "Wellness"}], "wellness"),
        ("id-s", [{"id": "id-s", "text": "Sick visit"}], "sick"),
        ("Recheck", [], "recheck"),
        ("Grooming", [{"id": "id-g", "text": "Grooming"}], "Grooming"),
    ],
    ids=["choice-ids", "legacy-single-id", "plain-text", "not-a-kind-of-visit"],
)
def test_a_tally_choice_is_read_by_its_label(value, options, expected):
    body = {
        "eventType": "FORM_RESPONSE",
        "data": {
            "fields": [
                {"key": "q1", "label": "Appointment type", "type": "DROPDOWN", "value": value}
                | ({"options": options} if options else {})
            ]
        },
    }

    assert read("tally", body).booking["appointment_type"] == expected


@pytest.mark.parametrize(
    ("clock", "start"),
    [("9:40 AM", "2030-01-07T09:40"), ("2 pm", "2030-01-07T14:00"), ("14:20", "2030-01-07T14:20")],
)
def test_a_day_and_a_time_asked_apart_make_the_start(clock, start):
    body = body_of("webhook-typeform.json")
    for answer in body["form_response"]["answers"]:
        if answer["field"]["ref"] == "time":
            answer["choice"]["label"] = clock

    assert read("typeform", body).booking["start"] == start


def test_a_body_that_is_not_the_tools_object_is_ignored():
    assert read("calendly", ["invitee.created"]).ignored


def test_the_question_fields_are_booking_fields():
    from booking.models import BookingRequest
    from booking.presets import BOOKING_FIELDS

    assert set(BOOKING_FIELDS) <= set(BookingRequest.model_fields)
