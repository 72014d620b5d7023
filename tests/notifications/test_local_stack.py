"""The notification consumers in the real local stack (`python -m local.dev`, a short grace
period): a booking writes exactly one email with its invitation to the outbox; a booking that
could not be matched becomes one staff task after the grace period, and none when the visitor
books correctly within it."""

from __future__ import annotations

import email
import email.policy
import json
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from icalendar import Calendar

from local.stack import LocalStack

pytestmark = pytest.mark.integration

CAPTCHA_TOKEN = "XXXX.DUMMY.TOKEN.XXXX"  # Cloudflare's documented dummy token
# Long enough for three bookings on a loaded CI machine before the first follow-up is due.
GRACE_SECONDS = 8
SETTLE_STEPS = "1,1,1,1,1,1"
JANE_BOOKS_REX = {
    "first_name": "Jane",
    "last_name": "Doe",
    "email": "jane@example.com",
    "patient_name": "Rex",
}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    local_stack = LocalStack(
        workdir=tmp_path_factory.mktemp("notifications-stack"),
        extra_args=(
            "--env",
            f"FOLLOW_UP_DELAY_SECONDS={GRACE_SECONDS}",
            "--env",
            "THROTTLE_MISSES_PER_CONTACT=100000/60",
            # Background checks of unknown outcomes a second apart (deployed: 30 s to 30 min).
            "--env",
            f"SETTLE_BACKOFF_SECONDS={SETTLE_STEPS}",
        ),
    )
    local_stack.start()
    yield local_stack
    local_stack.stop()


def slot(stack: LocalStack, days_ahead: int, index: int) -> dict[str, Any]:
    start = (datetime.now(UTC) + timedelta(days=days_ahead)).strftime("%Y-%m-%dT00:00:00Z")
    answer = httpx.get(
        f"{stack.api_url}/open-times",
        params={"search_from_date": start, "appointment_type": "wellness"},
    )
    times = [t for day in answer.json()["data"] for t in day["times"]]
    return times[index]  # type: ignore[no-any-return]


def book(stack: LocalStack, slot_id: str, **visitor: str) -> httpx.Response:
    body = {"slot_id": slot_id, "cf-turnstile-response": CAPTCHA_TOKEN, **visitor}
    return httpx.post(f"{stack.api_url}/bookings", json=body, timeout=15)


def wait_for(check: Callable[[], Any], seconds: float = 30.0) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.2)
    return check()


def test_booking_rex_for_jane_writes_exactly_one_email_with_the_right_invitation(
    stack: LocalStack,
) -> None:
    before = set(stack.sent_emails())
    answer = book(stack, slot(stack, days_ahead=2, index=0)["uuid"], **JANE_BOOKS_REX)
    assert answer.status_code == 201, answer.text
    receipt = answer.json()["data"]
    new = wait_for(lambda: set(stack.sent_emails()) - before)
    time.sleep(1.5)  # nothing else arrives
    assert len(set(stack.sent_emails()) - before) == 1
    (path,) = new
    message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    assert message["To"] == "jane@example.com"
    (attachment,) = list(message.iter_attachments())  # type: ignore[attr-defined]
    calendar = Calendar.from_ical(attachment.get_payload(decode=True))
    (event,) = calendar.walk("VEVENT")
    assert event.start == datetime.fromisoformat(receipt["start"])
    assert event.end == datetime.fromisoformat(receipt["end"])
    assert str(event["STATUS"]) == "TENTATIVE"  # the sandbox's practice confirms by hand
    log = stack.log_text()
    assert "jane@example.com" not in log and "j***@example.com" in log


def test_an_unmatched_booking_is_one_staff_task_unless_the_visitor_books_within_the_grace(
    stack: LocalStack,
) -> None:
    tasks_before = len(stack.sandbox_staff_tasks())
    stranger = book(
        stack,
        slot(stack, days_ahead=3, index=2)["uuid"],
        first_name="Zed",
        last_name="Quill",
        email="zed@example.org",
        patient_name="Fido",
    )
    assert stranger.json()["code"] == "not_matched"
    # Jane mistypes her dog's name, then books correctly at once.
    jane = {"first_name": "Jane", "last_name": "Doe", "email": "jane@example.com"}
    typo = book(stack, slot(stack, days_ahead=3, index=4)["uuid"], patient_name="Rexx", **jane)
    assert typo.json()["code"] == "not_matched"
    fixed = book(stack, slot(stack, days_ahead=3, index=4)["uuid"], patient_name="Rex", **jane)
    assert fixed.status_code == 201, fixed.text
    assert len(stack.sandbox_staff_tasks()) == tasks_before  # nothing before the grace period
    dropped = wait_for(lambda: '"outcome":"dropped_rebooked"' in stack.log_text())
    created = wait_for(lambda: stack.sandbox_staff_tasks()[tasks_before:])
    assert dropped
    (task,) = created
    assert "Zed Quill" in task["title"] and "Fido" in task["title"]
    assert "zed@example.org" in task["description"]
    time.sleep(1)
    assert len(stack.sandbox_staff_tasks()) == tasks_before + 1
    lines = [json.loads(line) for line in stack.log_text().splitlines() if line.startswith("{")]
    assert not any("zed@example.org" in json.dumps(line) for line in lines)


def test_a_create_whose_answer_is_lost_ends_as_one_booking_and_one_email(
    stack: LocalStack,
) -> None:
    # The list shows a booking late and the create's answer never comes back
    stack.sandbox_settings(list_delay_seconds=3)
    try:
        stack.sandbox_faults([{"method": "POST", "path": "/appointments", "action": "reset_after"}])
        emails_before = set(stack.sent_emails())
        created_before = stack.sandbox_state()["appointments_created"]
        answer = book(stack, slot(stack, days_ahead=4, index=1)["uuid"], **JANE_BOOKS_REX)
        assert answer.status_code == 503, answer.text
        assert answer.json()["code"] == "outcome_unknown"

        # Then the settle function finds it once the list shows it, and announces it once
        settled = wait_for(lambda: '"outcome":"booked"' in stack.log_text())
        assert settled, stack.log_tail(40)
        new = wait_for(lambda: set(stack.sent_emails()) - emails_before)
        time.sleep(2)  # later checks (none should be left) and nothing else arrives
        assert len(new) == len(set(stack.sent_emails()) - emails_before) == 1
        assert stack.sandbox_state()["appointments_created"] == created_before + 1
        log = stack.log_text()
        assert log.count('"outcome":"booked"') == 1
        assert '"outcome":"failed"' not in log
    finally:
        stack.sandbox_settings(list_delay_seconds=0)
