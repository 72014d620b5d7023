"""Settling an unknown create outcome (the create may have reached Oliver without its answer
reaching us), through the real handler: which listed appointments are taken as the booking, the
window they are looked for in, the marker that makes a retry look first, and what happens when
that marker cannot be written.

Every create here times out after sending (``httpx.ReadTimeout``): the outcome is unknown, so the
function lists the appointments created around the submission and takes exactly one match."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from booking.text import iso
from conftest import API, JANE, JANE_BOOKS_REX, assert_error, booking_event, created, listed
from test_webhooks import standard, standard_delivery, webhooks  # noqa: F401 - fixtures

MINUTE = timedelta(minutes=1)


def row(appointment_id: str, created_at: datetime | None = None, **extra: Any) -> dict[str, Any]:
    """Jane's appointment for Rex in a list answer (created ``created_at``, by default now)."""
    return {
        "id": appointment_id,
        "status": "REQUESTED",
        "created_at": iso(created_at or datetime.now(UTC)),
        "updated_at": iso(created_at or datetime.now(UTC)),
        "booking_date": "2030-01-07T09:00:00-06:00",
        "end_date": "2030-01-07T09:20:00-06:00",
        "client_first_name": "Jane",
        "client_last_name": "Doe",
        "client_email": "jane@example.com",
        "client_phone": "+15555550100",
        "patient_name": "Rex",
        **extra,
    }


def page(number: int, total_pages: int, *appointments: dict[str, Any]) -> dict[str, Any]:
    """One page of a GET /appointments answer."""
    return {
        "success": True,
        "data": {
            "page": number,
            "per_page": 100,
            "total_pages": total_pages,
            "total_count": total_pages * 100,
            "content": list(appointments),
        },
    }


def submitted_at(moment: datetime, event: dict[str, Any]) -> dict[str, Any]:
    """The event as API Gateway would send it had the request arrived at ``moment``."""
    event["requestContext"]["timeEpoch"] = int(moment.timestamp() * 1000)
    return event


def markers(aws: Any) -> list[dict[str, Any]]:
    """The idempotency records that carry an unknown-outcome marker."""
    from booking import container

    items = container.aws_client("dynamodb").scan(TableName=aws.table)["Items"]
    return [item for item in items if "since" in item]


def refuse_marking(monkeypatch: Any, code: str = "InternalServerError") -> list[str]:
    """DynamoDB refuses the writes of unknown-outcome markers, and only those; their keys."""
    from booking import container
    from botocore.exceptions import ClientError

    dynamodb = container.aws_client("dynamodb")
    real_update_item = dynamodb.update_item
    refused: list[str] = []

    def update_item(**kwargs: Any) -> Any:
        if "since = :since" in kwargs["UpdateExpression"]:
            refused.append(kwargs["Key"]["id"]["S"])
            raise ClientError({"Error": {"Code": code, "Message": "x"}}, "UpdateItem")
        return real_update_item(**kwargs)

    monkeypatch.setattr(dynamodb, "update_item", update_item)
    return refused


def metrics_emitted(out: str) -> dict[str, list[float]]:
    """The EMF metrics printed by the invocation (name -> values)."""
    found: dict[str, list[float]] = {}
    for line in out.splitlines():
        if '"_aws"' not in line:
            continue
        document = json.loads(line)
        for directive in document["_aws"]["CloudWatchMetrics"]:
            for metric in directive["Metrics"]:
                found[metric["Name"]] = document[metric["Name"]]
    return found


@pytest.fixture
def create(oliver) -> Any:
    """A create that times out after sending: the outcome is unknown."""
    return oliver.post(f"{API}/appointments").mock(side_effect=httpx.ReadTimeout("no answer"))


def appointments_listed(oliver: Any, *answers: dict[str, Any]) -> Any:
    """GET /appointments answers these, in turn (the last one from then on)."""
    remaining = list(answers)

    def answer(_request: httpx.Request) -> httpx.Response:
        current = remaining.pop(0) if len(remaining) > 1 else remaining[0]
        return httpx.Response(200, json=current)

    return oliver.get(f"{API}/appointments").mock(side_effect=answer)


# -- rows that are never the booking --------------------------------------------------------------


@pytest.mark.parametrize("status", ["DELETED", "DECLINED", "deleted", "Declined"])
def test_a_deleted_or_declined_appointment_is_never_taken_as_the_booking(
    invoke, oliver, create, aws, status
):
    # Given the only appointment that fits Jane's booking is closed
    appointments_listed(oliver, listed(row("701", status=status)))

    # When her create times out
    answer = invoke(booking_event())

    # Then the outcome stays unknown: nothing is announced as booked
    assert_error(answer, 503, "outcome_unknown")
    assert create.call_count == 1
    assert [e["detail-type"] for e in aws.events()] == ["Booking Failed"]


@pytest.mark.parametrize("status", ["DELETED", "DECLINED"])
def test_a_closed_appointment_beside_the_live_one_leaves_the_live_one_the_only_match(
    invoke, oliver, create, status
):
    # Given Jane's earlier request for the same slot was closed, and a live one was created
    appointments_listed(oliver, listed(row("701", status=status), row("702")))

    answer = invoke(booking_event())

    # Then the live one is the booking (the closed one is not a second match)
    assert answer.status == 201, answer.body
    assert answer.json()["data"]["id"] == 702
    assert create.call_count == 1


def test_an_appointment_created_before_the_window_is_not_taken(invoke, oliver, create):
    # Given the only appointment that fits was created ten minutes before the submission
    now = datetime.now(UTC)
    appointments_listed(oliver, listed(row("703", created_at=now - 10 * MINUTE)))

    answer = invoke(submitted_at(now, booking_event()))

    assert_error(answer, 503, "outcome_unknown")


def test_an_appointment_created_just_before_the_submission_is_taken_for_clock_skew(
    invoke, oliver, create
):
    # Given the appointment's creation time is 30 s before our submission time (two clocks)
    now = datetime.now(UTC)
    appointments_listed(oliver, listed(row("704", created_at=now - timedelta(seconds=30))))

    answer = invoke(submitted_at(now, booking_event()))

    assert answer.status == 201, answer.body
    assert answer.json()["data"]["id"] == 704


def test_the_lookup_searches_from_two_minutes_before_the_submission(invoke, oliver, create):
    # Given a submission that arrived at a known moment
    arrived = datetime.now(UTC).replace(microsecond=0) - 5 * MINUTE
    lookup = appointments_listed(oliver, listed())

    invoke(submitted_at(arrived, booking_event()))

    # Then the list asked for starts exactly two minutes earlier, on its first page of 100
    params = lookup.calls.last.request.url.params
    assert params["updated_at_start"] == iso(arrived - 2 * MINUTE)
    assert params["updated_at_end"] > params["updated_at_start"]
    assert (params["page"], params["per_page"]) == ("0", "100")


# -- what identifies the booking ------------------------------------------------------------------


def test_a_pet_name_written_another_way_is_the_same_pet(invoke, oliver, create):
    # Given Jane's appointments for Max and for " RÉX " (Oliver's spelling of Rex)
    appointments_listed(
        oliver, listed(row("705", patient_name="Max"), row("706", patient_name=" RÉX "))
    )

    answer = invoke(booking_event())

    assert answer.status == 201, answer.body
    assert answer.json()["data"]["id"] == 706


def test_an_appointment_for_another_of_the_clients_pets_is_not_taken(invoke, oliver, create):
    appointments_listed(oliver, listed(row("707", patient_name="Max")))

    assert_error(invoke(booking_event()), 503, "outcome_unknown")


@pytest.mark.parametrize(
    "other",
    [
        pytest.param({"client_last_name": "Dover"}, id="last-name"),
        pytest.param({"client_email": "someone.else@example.com"}, id="email"),
    ],
)
def test_an_appointment_of_another_client_is_not_taken(invoke, oliver, create, other):
    appointments_listed(oliver, listed(row("708", **other)))

    assert_error(invoke(booking_event()), 503, "outcome_unknown")


def test_a_phone_booking_matches_on_the_last_ten_digits(invoke, oliver, create):
    # Given Jane books by phone, written her way; Oliver lists it in E.164
    by_phone = {k: v for k, v in JANE_BOOKS_REX.items() if k != "email"} | {
        "phone": "(555) 555-0100"
    }
    appointments_listed(
        oliver,
        listed(
            row("709", client_email=None, client_phone="+1 555 555 0199"),
            row("710", client_email=None, client_phone="+15555550100"),
        ),
    )

    answer = invoke(booking_event(by_phone))

    assert answer.status == 201, answer.body
    assert answer.json()["data"]["id"] == 710


@pytest.mark.usefixtures("standard")
def test_a_partner_booking_by_remote_ids_is_matched_by_those_ids_not_by_names(
    oliver, create, invoke
):
    # Given a partner books by PIMS ids; Oliver lists three candidate appointments
    appointments_listed(
        oliver,
        listed(
            # the same client by PIMS id, under the name Oliver has for her: this is it
            row(
                "711",
                client_first_name="Janet",
                remote_client_id="PIMS-C-77",
                remote_patient_id="PIMS-P-7",
            ),
            # a client with Jane's very name but another PIMS id
            row("712", remote_client_id="PIMS-C-99", remote_patient_id="PIMS-P-7"),
            # the same client, another pet
            row("713", remote_client_id="PIMS-C-77", remote_patient_id="PIMS-P-8"),
        ),
    )
    booking = {
        "slot_id": "slot-1",
        "client_remote_id": "PIMS-C-77",
        "patient_remote_id": "PIMS-P-7",
    }

    # When the partner's delivery times out at the create
    answer = invoke(standard_delivery(booking))

    # Then the appointment with both PIMS ids is the booking
    assert answer.status == 201, answer.body
    assert answer.json()["data"]["id"] == 711
    assert create.call_count == 1


@pytest.mark.usefixtures("standard")
def test_a_partner_booking_by_remote_ids_takes_no_appointment_without_them(oliver, create, invoke):
    # Given the only listed appointment carries no PIMS ids (names alone cannot tell)
    appointments_listed(oliver, listed(row("714")))
    booking = {
        "slot_id": "slot-1",
        "client_remote_id": "PIMS-C-77",
        "patient_remote_id": "PIMS-P-7",
    }

    answer = invoke(standard_delivery(booking))

    assert_error(answer, 503, "outcome_unknown")


# -- more than one -------------------------------------------------------------------------------


def test_two_matches_stay_outcome_unknown_and_nothing_is_announced_as_booked(
    invoke, oliver, create, aws
):
    # Given two live appointments both fit Jane's booking
    appointments_listed(oliver, listed(row("715"), row("716")))

    # When her create times out
    answer = invoke(booking_event())

    # Then the function does not guess: outcome unknown, one create, staff told to follow up
    assert_error(answer, 503, "outcome_unknown")
    assert answer.headers["retry-after"] == "60"
    assert create.call_count == 1
    events = aws.events()
    assert [e["detail-type"] for e in events] == ["Booking Failed"]
    assert events[0]["detail"]["reason"] == "outcome_unknown"


def test_the_same_appointment_listed_on_two_pages_is_one_match(invoke, oliver, create):
    # Given Oliver's pages shifted while being read: appointment 717 appears on both
    lookup = appointments_listed(oliver, page(0, 2, row("717")), page(1, 2, row("717")))

    answer = invoke(booking_event())

    assert answer.status == 201, answer.body
    assert answer.json()["data"]["id"] == 717
    assert lookup.call_count == 2


# -- several pages --------------------------------------------------------------------------------


def test_the_lookup_reads_the_second_page_and_finds_the_booking_there(invoke, oliver, create):
    # Given a busy practice: 2 pages of appointments, Jane's on the second
    someone_else = row("718", client_first_name="John", client_email="john@example.com")
    lookup = appointments_listed(oliver, page(0, 2, someone_else), page(1, 2, row("719")))

    answer = invoke(booking_event())

    assert answer.status == 201, answer.body
    assert answer.json()["data"]["id"] == 719
    assert [call.request.url.params["page"] for call in lookup.calls] == ["0", "1"]


def test_the_lookup_reads_at_most_five_pages(invoke, oliver, create):
    # Given Oliver claims nine pages, none holding Jane's booking
    nobody = row("720", client_first_name="John", client_email="john@example.com")
    lookup = appointments_listed(oliver, page(0, 9, nobody))

    answer = invoke(booking_event())

    assert_error(answer, 503, "outcome_unknown")
    assert [call.request.url.params["page"] for call in lookup.calls] == ["0", "1", "2", "3", "4"]


# -- the unknown-outcome marker -------------------------------------------------------------------


def test_a_retry_searches_from_the_first_attempt_and_books_nothing_new_when_found(
    invoke, oliver, create, aws
):
    # Given Jane's first attempt, ten minutes ago, timed out and its lookup saw nothing yet
    first_at = datetime.now(UTC).replace(microsecond=0) - 10 * MINUTE
    made = row("721", created_at=first_at + timedelta(seconds=20))
    lookup = appointments_listed(oliver, listed(), listed(made))
    first = invoke(submitted_at(first_at, booking_event()))
    assert_error(first, 503, "outcome_unknown")

    # When she retries now (her own window alone would start eight minutes after the create)
    retried = invoke(booking_event())

    # Then the retry looked from the first attempt's time, found the appointment, created none
    assert retried.status == 201, retried.body
    assert retried.json()["data"]["id"] == 721
    assert create.call_count == 1
    assert lookup.call_count == 2
    assert lookup.calls.last.request.url.params["updated_at_start"] == iso(first_at - 2 * MINUTE)
    booked = [e for e in aws.events() if e["detail-type"] == "Appointment Booked"]
    assert [e["detail"]["appointment"]["id"] for e in booked] == [721]


def test_a_marker_is_written_for_an_unknown_outcome_and_settled_once_the_booking_is_found(
    invoke, oliver, create, aws
):
    # Given a first attempt whose create timed out and whose lookup saw nothing yet
    appointments_listed(oliver, listed(), listed(row("722")))
    assert_error(invoke(booking_event()), 503, "outcome_unknown")
    marked = markers(aws)

    # When the retry finds the appointment
    retried = invoke(booking_event())
    assert retried.status == 201

    # Then one marker (with the first attempt's time) was kept in between, and it now holds the
    # visitor's receipt: settled, so the background check of that attempt announces nothing
    assert len(marked) == 1
    assert "settled" not in marked[0]
    (settled,) = markers(aws)
    assert settled["since"] == marked[0]["since"]
    assert json.loads(settled["settled"]["S"]) == retried.json()


def test_a_marker_that_cannot_be_written_still_answers_503_outcome_unknown_and_is_counted(
    invoke, oliver, create, aws, monkeypatch, capsys
):
    # Given DynamoDB refuses the unknown-outcome marker, and only that write
    refused = refuse_marking(monkeypatch, "ProvisionedThroughputExceededException")
    appointments_listed(oliver, listed())
    capsys.readouterr()

    # When Jane's create times out and the lookup finds nothing
    answer = invoke(booking_event())

    # Then the answer is the same as with a marker, and the failed write is counted once
    assert_error(answer, 503, "outcome_unknown")
    assert answer.headers["retry-after"] == "60"
    assert len(refused) == 1
    assert markers(aws) == []
    metrics = metrics_emitted(capsys.readouterr().out)
    assert metrics["UnknownOutcomeMarkerFailed"] == [1.0]
    assert metrics["CreateOutcomeUnknown"] == [1.0]


def test_without_a_marker_a_retry_creates_without_looking_first(invoke, oliver, monkeypatch):
    # Given the first attempt's marker could not be written
    refuse_marking(monkeypatch)
    order: list[str] = []

    def create_answer(request: httpx.Request) -> httpx.Response:
        order.append("create")
        if order.count("create") == 1:
            raise httpx.ReadTimeout("no answer", request=request)
        return httpx.Response(200, json=created(724))

    def lookup_answer(_request: httpx.Request) -> httpx.Response:
        order.append("lookup")
        return httpx.Response(200, json=listed())

    oliver.post(f"{API}/appointments").mock(side_effect=create_answer)
    oliver.get(f"{API}/appointments").mock(side_effect=lookup_answer)
    assert invoke(booking_event()).status == 503

    # When the booking is retried
    retried = invoke(booking_event())

    # Then (nothing remembered) it is created straight away: the documented risk of this fault
    assert retried.status == 201, retried.body
    assert order == ["create", "lookup", "create"]


def test_a_lookup_that_fails_leaves_the_outcome_unknown_and_the_marker_written(
    invoke, oliver, create, monkeypatch
):
    # Given the lookup itself is refused by Oliver (a 5xx on every read), sleeps recorded
    from booking import oliver as oliver_module

    slept: list[float] = []
    monkeypatch.setattr(oliver_module.time, "sleep", slept.append)
    lookup = oliver.get(f"{API}/appointments").respond(503, text="busy")
    first = invoke(booking_event())
    lookup.respond(200, json=listed(row("725")))

    # When the booking is retried
    retried = invoke(booking_event())

    # Then the first answer was outcome_unknown after three reads, and the retry looked first
    assert_error(first, 503, "outcome_unknown")
    assert slept == pytest.approx([0.2, 0.6])
    assert retried.status == 201, retried.body
    assert retried.json()["data"]["id"] == 725
    assert create.call_count == 1


# -- the client's record --------------------------------------------------------------------------


@pytest.mark.usefixtures("standard")
def test_a_booking_by_client_id_is_matched_by_the_pims_id_of_the_clients_record(
    oliver, create, invoke
):
    # Given a partner books by Oliver ids; the client's record carries her PIMS id
    oliver.get(f"{API}/clients/1001").respond(200, json={"success": True, "data": JANE})
    appointments_listed(
        oliver,
        listed(
            row("726", remote_client_id="PIMS-C-12"),
            row("727", client_first_name="J.", remote_client_id="PIMS-C-77"),
        ),
    )

    answer = invoke(standard_delivery({"slot_id": "slot-1", "client_id": 1001, "patient_id": 2001}))

    assert answer.status == 201, answer.body
    assert answer.json()["data"]["id"] == 727


@pytest.mark.usefixtures("standard")
def test_a_client_record_that_cannot_be_read_leaves_the_outcome_unknown(oliver, create, invoke):
    # Given the client's record is not found: the booking has no name to match on
    oliver.get(f"{API}/clients/1001").respond(404, json={"success": False, "message": "no"})
    appointments_listed(oliver, listed(row("728")))

    answer = invoke(standard_delivery({"slot_id": "slot-1", "client_id": 1001, "patient_id": 2001}))

    assert_error(answer, 503, "outcome_unknown")
