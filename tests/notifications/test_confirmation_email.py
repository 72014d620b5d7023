"""The confirmation email on Appointment Booked: one email with text, HTML and an RFC 5545
invitation, worded by the appointment's status, sent once per event whatever is redelivered or
replayed; SES throttling is retried and never sends twice."""

from __future__ import annotations

import email
import email.policy
import json
from collections.abc import Callable
from datetime import datetime
from email.message import EmailMessage
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from botocore.exceptions import ClientError
from icalendar import Calendar

from local.notifications import QueueFeeder

from .conftest import (
    JANE_APPOINTMENT,
    SENDER,
    Aws,
    Invoke,
    assert_no_personal_data,
    booked,
    bus_event,
)

CHICAGO = ZoneInfo("America/Chicago")


def parsed(raw: str) -> EmailMessage:
    return email.message_from_string(raw, policy=email.policy.default)  # type: ignore[return-value]


def calendar_of(message: EmailMessage) -> Calendar:
    (attachment,) = list(message.iter_attachments())
    assert attachment.get_content_type() == "text/calendar"
    assert attachment.get_filename() == "appointment.ics"
    return Calendar.from_ical(attachment.get_payload(decode=True))


def only_event(calendar: Calendar) -> Any:
    (event,) = calendar.walk("VEVENT")
    return event


def test_a_requested_appointment_gets_one_email_worded_as_a_request_with_a_tentative_invitation(
    aws: Aws, send_email: Invoke
) -> None:
    assert send_email(booked()) == {"batchItemFailures": []}
    (sent,) = aws.sent()
    message = parsed(sent.raw_data)
    assert message["To"] == "jane@example.com"
    assert message["From"] == f"Sandbox Animal Hospital <{SENDER}>"
    assert "request" in message["Subject"] and "Rex" in message["Subject"]
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    for body in (text, html):
        assert "Monday, January 7, 2030" in body and "9:00 AM" in body
        assert "Sandbox Animal Hospital" in body and "+1 555-555-0199" in body
        assert "not confirmed yet" in body
    calendar = calendar_of(message)
    assert str(calendar["METHOD"]) == "PUBLISH"
    event = only_event(calendar)
    assert event.start == datetime(2030, 1, 7, 9, 0, tzinfo=CHICAGO)
    assert event.end == datetime(2030, 1, 7, 9, 20, tzinfo=CHICAGO)
    assert str(event["STATUS"]) == "TENTATIVE"
    assert str(event["UID"]) == "appointment-501@vet.example"
    assert calendar.walk("VTIMEZONE"), "the practice's zone travels with the invitation"


def test_an_accepted_appointment_is_worded_as_confirmed(aws: Aws, send_email: Invoke) -> None:
    send_email(booked({**JANE_APPOINTMENT, "status": "ACCEPTED"}))
    (sent,) = aws.sent()
    message = parsed(sent.raw_data)
    assert "request" not in message["Subject"]
    assert "is confirmed" in message.get_body(("plain",)).get_content()
    assert str(only_event(calendar_of(message))["STATUS"]) == "CONFIRMED"


def test_the_html_escapes_what_comes_from_the_practice_system(aws: Aws, send_email: Invoke) -> None:
    send_email(booked({**JANE_APPOINTMENT, "patient_name": "<script>Rex</script>"}))
    (sent,) = aws.sent()
    html = parsed(sent.raw_data).get_body(("html",)).get_content()
    assert "<script>" not in html and "&lt;script&gt;Rex&lt;/script&gt;" in html


def test_the_invitation_keeps_the_same_uid_for_the_same_appointment(
    aws: Aws, send_email: Invoke
) -> None:
    send_email(booked(event_id="evt-a"))
    send_email(booked({**JANE_APPOINTMENT, "status": "CONFIRMED"}, event_id="evt-b"))
    uids = {str(only_event(calendar_of(parsed(m.raw_data)))["UID"]) for m in aws.sent()}
    assert uids == {"appointment-501@vet.example"}


@pytest.mark.parametrize(
    "change",
    [
        {"client_email": None},
        {"client_email": ""},
        {"client_email": "not an address"},
        {"status": "DECLINED"},
        {"booking_date": "2001-01-01T09:00:00-06:00", "end_date": None},
    ],
    ids=["no email", "empty email", "bad email", "declined", "in the past"],
)
def test_no_email_when_there_is_nobody_or_nothing_to_confirm(
    aws: Aws, send_email: Invoke, change: dict[str, Any]
) -> None:
    assert send_email(booked({**JANE_APPOINTMENT, **change})) == {"batchItemFailures": []}
    assert aws.sent() == []


def test_no_email_when_the_sender_is_not_set(
    aws: Aws, send_email: Invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NOTIFY_SENDER", "")
    assert send_email(booked()) == {"batchItemFailures": []}
    assert aws.sent() == []


def test_a_redelivered_or_replayed_event_sends_nothing_twice(aws: Aws, send_email: Invoke) -> None:
    event = booked()
    send_email(event)
    send_email(event, receive_count=2)  # SQS delivered the same message again
    replayed = bus_event("Appointment Booked", event["detail"], replay_name="window-1")
    send_email(replayed)  # the archive replayed it: a new envelope, the same event id
    send_email(booked(), booked())  # the same event twice in one batch
    assert len(aws.sent()) == 1


def test_events_of_a_batch_succeed_or_fail_on_their_own(aws: Aws, send_email: Invoke) -> None:
    broken = {"detail-type": "Appointment Booked", "detail": {"event_id": "x"}}  # no id, no data
    result = send_email(booked(), broken)
    assert len(result["batchItemFailures"]) == 1
    assert len(aws.sent()) == 1


def _throttled(times: int) -> Callable[..., Any]:
    from booking.notify.mailer import Mailer

    original = Mailer.send
    calls = {"n": 0}

    def send(self: Mailer, message: EmailMessage, recipient: str) -> str:
        calls["n"] += 1
        if calls["n"] <= times:
            raise ClientError(
                {"Error": {"Code": "TooManyRequestsException", "Message": "Maximum sending rate"}},
                "SendEmail",
            )
        return original(self, message, recipient)

    return send


def test_ses_throttling_fails_the_record_and_a_later_delivery_sends_once(
    aws: Aws, send_email: Invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    from booking.notify.mailer import Mailer

    monkeypatch.setattr(Mailer, "send", _throttled(times=1))
    event = booked()
    assert len(send_email(event)["batchItemFailures"]) == 1
    assert aws.sent() == []
    assert send_email(event, receive_count=2) == {"batchItemFailures": []}
    assert send_email(event, receive_count=3) == {"batchItemFailures": []}
    assert len(aws.sent()) == 1


def test_ses_throttling_that_lasts_parks_the_event_in_the_dead_letter_queue(
    aws: Aws, send_email: Invoke, monkeypatch: pytest.MonkeyPatch, printed: Callable[[], str]
) -> None:
    from booking.notify.mailer import Mailer

    monkeypatch.setattr(Mailer, "send", _throttled(times=100))
    queue, dlq = aws.queue("email", max_receive_count=3)
    aws.sqs.send_message(QueueUrl=queue, MessageBody=json.dumps(booked()))
    feeder = QueueFeeder(aws.sqs, queue, send_email.raw, retry_seconds=0)  # type: ignore[attr-defined]
    for _ in range(6):
        feeder.poll_once()
    assert aws.count(queue) == 0 and aws.count(dlq) == 1
    assert aws.sent() == []
    output = printed()
    assert '"error":"ClientError"' in output.replace(" ", "")
    assert_no_personal_data(output)


def test_the_log_names_outcomes_and_ids_but_no_client(
    aws: Aws, send_email: Invoke, printed: Callable[[], str]
) -> None:
    send_email(booked())
    send_email(booked())
    output = printed()
    assert '"outcome":"sent"' in output.replace(" ", "")
    assert "evt-booked-501" in output
    assert_no_personal_data(output)
