"""Scenario 3, EventBridge faults: bookings while ``PutEvents`` fails by plan.

EventBridge has no local stand-in that fails, so ``FaultyEvents`` wraps the function's
EventBridge client and raises or reports a partial ``FailedEntryCount`` according to
``EVENTBRIDGE_PLANS``. Every event must end up delivered or parked; the replay then delivers
every parked one exactly once.

The bookings come from a signed partner (the demo source's webhook, by Oliver's client and
patient ids, one delivery id each): a hundred bookings in a row is what a partner's system
sends, not what a visitor's browser does, and a partner is not subject to the per-visitor
throttle.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from local.reliability.figures import BOOKED, Result, _of_type, _statuses, check, receipt_shape
from local.reliability.targets import (
    InProcess,
    fresh,
    new_delivery_id,
    open_slots,
    partner_fields,
)
from local.template import REPO_ROOT

#: What the stub does to the n-th distinct event it sees (cycling): "raise" and "partial" are
#: one failed attempt each (an exception, or ``FailedEntryCount: 1``); "ok" passes through.
EVENTBRIDGE_PLANS: tuple[tuple[str, ...], ...] = (
    ("raise",) * 5,                      # fails every attempt: parked
    ("partial",) * 5,                    # fails every attempt: parked
    ("raise", "partial", "raise", "partial", "raise"),  # mixed, every attempt: parked
    ("raise", "ok"),                     # delivered on the retry
    ("partial", "ok"),                   # delivered on the retry
    ("raise", "partial", "ok"),          # delivered on the third attempt
    ("ok",),
    ("ok",),
)  # fmt: skip


class FaultyEvents:
    """Stands in for the EventBridge client (EventBridge has no local stand-in that fails):
    ``put_events`` raises or reports a partial failure according to the plan of the entry's
    event, and otherwise passes the call to the real client."""

    def __init__(self, real: Any, plans: Sequence[Sequence[str]] = EVENTBRIDGE_PLANS) -> None:
        self.real = real
        self.plans = plans
        self.order: dict[str, int] = {}
        self.attempts: Counter[str] = Counter()
        self.injected: Counter[str] = Counter()
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)

    def put_events(self, **kwargs: Any) -> Any:
        from botocore.exceptions import ClientError

        entries = kwargs["Entries"]
        event_id = str(json.loads(entries[0]["Detail"]).get("event_id"))
        with self._lock:
            index = self.order.setdefault(event_id, len(self.order))
            attempt = self.attempts[event_id]
            self.attempts[event_id] += 1
        plan = self.plans[index % len(self.plans)]
        step = plan[min(attempt, len(plan) - 1)]
        if step == "raise":
            self.injected["exception"] += 1
            raise ClientError(
                {"Error": {"Code": "InternalException", "Message": "injected fault"}}, "PutEvents"
            )
        if step == "partial":
            self.injected["FailedEntryCount"] += 1
            return {
                "FailedEntryCount": len(entries),
                "Entries": [
                    {"ErrorCode": "InternalFailure", "ErrorMessage": "injected fault"}
                    for _ in entries
                ],
            }
        return self.real.put_events(**kwargs)


def _appointment_of(detail: Mapping[str, Any]) -> str:
    return str((detail.get("appointment") or {}).get("id"))


def eventbridge_faults(
    target: InProcess,
    bookings: int = 100,
    replay_command_port: int | None = None,
    function_replay_batch: int = 10,
) -> Result:
    """``bookings`` partner bookings while EventBridge fails (exceptions and partial
    ``FailedEntryCount``, by plan). Every event must end up delivered or parked, none lost;
    then the replay delivers every parked one exactly once: first ``replay_parked`` in this
    process (one batch of ``function_replay_batch``), then, when ``replay_command_port`` (the
    local stack's AWS emulation) is given, ``python -m local.replay`` for the rest."""
    from booking.publisher import PUT_ATTEMPTS, replay_parked

    started = time.monotonic()
    fresh(target)
    stubs: list[FaultyEvents] = []

    def wrap(service: str, client: Any) -> Any:
        if service != "events":
            return client
        stubs.append(FaultyEvents(client))
        return stubs[-1]

    target.wrap_aws_clients(wrap)
    target.counts.clear()
    try:
        slots = open_slots(target, bookings)
        answers = [target.deliver(partner_fields(slot), new_delivery_id()) for slot in slots]
    finally:
        target.restore_aws_clients()
    stub = stubs[0]
    statuses = Counter(a.status for a in answers)
    booked_ids = {str(a.appointment_id) for a in answers if a.status == 201}
    delivered = [_appointment_of(e["detail"]) for e in _of_type(target.aws.take_events(), BOOKED)]
    parked_entries = target.aws.parked()
    parked = [_appointment_of(json.loads(e["Detail"])) for e in parked_entries]
    accounted = set(delivered) | set(parked)
    expected_parked = sum(
        1 for i in range(bookings)
        if "ok" not in EVENTBRIDGE_PLANS[i % len(EVENTBRIDGE_PLANS)][:PUT_ATTEMPTS]
    )  # fmt: skip
    state = target.sandbox.state()

    # Replay: the function, then the documented command against the stack's AWS emulation.
    first = replay_parked(
        target.aws.events, target.aws.sqs, target.aws.dlq_url, max_messages=function_replay_batch
    )
    command: dict[str, Any] = {}
    if replay_command_port is not None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update(AWS_EMULATION_PORT=str(replay_command_port), EVENT_DLQ_URL=target.aws.dlq_url)
        ran = subprocess.run(  # noqa: S603 - our own module, no shell
            [sys.executable, "-m", "local.replay"],
            cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        command = {"exit code": ran.returncode, "output": ran.stdout.strip() or ran.stderr[-500:]}
    else:
        rest = replay_parked(target.aws.events, target.aws.sqs, target.aws.dlq_url)
        command = {
            "exit code": 0 if rest.failed == 0 else 1,
            "output": f"replay_parked: {rest.replayed} replayed, {rest.failed} failed",
        }
    arrived = [
        _appointment_of(e["detail"])
        for e in _of_type(target.aws.take_events(expected=len(parked), timeout=10), BOOKED)
    ]
    left = target.aws.parked()
    per_event = Counter(arrived)

    result = Result(
        "EventBridge faults",
        target.name,
        f"{bookings} signed partner webhook bookings (by ids); PutEvents stubbed to fail by "
        f"plan (cycle of {len(EVENTBRIDGE_PLANS)}): {stub.injected['exception']} exceptions and "
        f"{stub.injected['FailedEntryCount']} partial FailedEntryCount answers injected",
        seconds=time.monotonic() - started,
    )
    result.figures = {
        "statuses": dict(statuses),
        "PutEvents attempts": sum(stub.attempts.values()),
        "injected exceptions": stub.injected["exception"],
        "injected partial failures": stub.injected["FailedEntryCount"],
        "delivered at once (after retries)": len(delivered),
        "parked": len(parked),
        "EventParked metric": target.counts["EventParked"],
        "EventLost metric": target.counts["EventLost"],
        "replayed by replay_parked()": first.replayed,
        "replay command": command,
        "parked events arrived after replay": len(arrived),
    }
    result.checks = [
        check("bookings answered 201", bookings, statuses.get(201, 0)),
        check("every 201 is the receipt", True,
              all(receipt_shape(a.body) for a in answers if a.status == 201)),
        check("appointments upstream", bookings, state["appointments_created"]),
        check(f"'{BOOKED}' events delivered + parked", bookings, len(delivered) + len(parked)),
        check("events both delivered and parked", 0, len(set(delivered) & set(parked))),
        check("events lost", 0, len(booked_ids - accounted)),
        check("events parked (by plan)", expected_parked, len(parked)),
        check("EventLost metric", 0, target.counts["EventLost"]),
        check("replay_parked() replayed", min(function_replay_batch, len(parked)) if parked else 0,
              first.replayed, ok=first.failed == 0 and 0 < first.replayed <= len(parked)),
        check("replay command exit code", 0, command.get("exit code")),
        check("parked events that arrived exactly once", len(parked),
              sum(1 for a in set(parked) if per_event[a] == 1)),
        check("replayed events that were not parked", 0, len(set(arrived) - set(parked))),
        check("left in the dead-letter queue", 0, len(left)),
    ]  # fmt: skip
    once = sum(1 for a in set(parked) if per_event[a] == 1)
    result.expected = {
        "bookings": f"201 x{bookings}",
        "delivered + parked": bookings,
        "lost": 0,
        "parked (by plan)": expected_parked,
        "after the replay": "every parked event arrived once, dead-letter queue empty",
    }
    result.observed = {
        "bookings": _statuses(statuses),
        "delivered + parked": f"{len(delivered)} + {len(parked)} = {len(delivered) + len(parked)}",
        "lost": len(booked_ids - accounted),
        "parked (by plan)": len(parked),
        "after the replay": f"{once} of {len(parked)} arrived once ({first.replayed} by "
        f"replay_parked(), the rest by the command), {len(left)} left parked",
    }
    return result
