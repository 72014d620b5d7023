"""Scenario 1, duplicate storm: 50 identical submissions at once, exactly one create upstream.

The submissions are public bookings (POST /bookings by name, email, phone and pet name, as a
website's form sends them: double clicks, a browser's retries, an impatient visitor), so the
idempotency key is the one derived from the normalised booking. They all come from the
scenario's own address, which the target exempts from the per-IP throttle (``targets``): the
storm is about duplicates, not about the throttle.
"""

from __future__ import annotations

import os
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

from local import aws
from local.reliability.figures import (
    BOOKED,
    FAILED,
    Result,
    _of_type,
    _statuses,
    check,
    found_in,
    receipt_shape,
)
from local.reliability.targets import (
    CLIENT_DETAILS,
    Answer,
    InProcess,
    Target,
    booking_fields,
    fresh,
    open_slots,
)


def duplicate_storm(
    target: Target,
    submissions: int = 50,
    create_delay: float = 0.5,
    handlers: Sequence[Callable[..., Any]] | None = None,
) -> Result:
    """``submissions`` identical public bookings at once (a barrier releases every thread
    together). The create is slowed by ``create_delay`` so that the duplicates arrive while it
    runs."""
    fresh(target)
    slot = open_slots(target, 1)[0]
    target.sandbox.faults(
        {"method": "POST", "path": "/appointments", "times": -1,
         "action": "delay", "seconds": create_delay}
    )  # fmt: skip
    fields = booking_fields(slot)
    barrier = threading.Barrier(submissions)
    answers: list[Answer | BaseException] = [RuntimeError("not run")] * submissions

    def submit(index: int) -> None:
        handler = handlers[index % len(handlers)] if handlers else None
        barrier.wait()
        try:
            if handler is not None:
                assert isinstance(target, InProcess)
                answers[index] = target.book(fields, handler=handler)
            else:
                answers[index] = target.book(fields)
        except BaseException as exc:
            answers[index] = exc

    started = time.monotonic()
    threads = [threading.Thread(target=submit, args=(i,)) for i in range(submissions)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    seconds = time.monotonic() - started
    target.sandbox.clear_faults()

    crashed = [repr(a) for a in answers if isinstance(a, BaseException)]
    ok = [a for a in answers if isinstance(a, Answer)]
    statuses = Counter(a.status for a in ok)
    codes = Counter(a.code for a in ok if a.status != 201)
    created_ids = {a.appointment_id for a in ok if a.status == 201}
    replayed = sum(1 for a in ok if a.status == 201 and a.headers.get("idempotent-replayed"))
    retry_after = all("retry-after" in a.headers for a in ok if a.status == 409)
    receipts = all(receipt_shape(a.body) for a in ok if a.status == 201)
    leaked = sorted({word for a in ok for word in found_in(a.body, CLIENT_DETAILS)})
    state = target.sandbox.state()
    events = target.aws.take_events(expected=1)
    result = Result(
        "Duplicate storm",
        target.name,
        f"{submissions} identical public JSON bookings (by name, email, phone and pet name; the "
        f"scenario's address exempt from the per-IP throttle) released together; create "
        f"slowed by {create_delay}s",
        seconds=seconds,
    )
    result.figures = {
        "statuses": dict(sorted(statuses.items())),
        "codes": dict(codes),
        "replayed 201": replayed,
        "exceptions": crashed,
    }
    result.checks = [
        check("answers", submissions, len(ok)),
        check("upstream create requests", 1, state["create_requests"]),
        check("appointments created", 1, state["appointments_created"]),
        check("answers other than 201 / 409", 0, sum(n for s, n in statuses.items()
                                                       if s not in (201, 409))),
        check("5xx answers", 0, sum(n for s, n in statuses.items() if s >= 500)),
        check("every 409 is duplicate_in_progress", True,
              set(codes) <= {"duplicate_in_progress"}),
        check("every 409 has Retry-After", True, retry_after),
        check("distinct appointments in the 201s", 1, len(created_ids)),
        check("201 answers that are replays", statuses.get(201, 0) - 1, replayed),
        check("every 201 is the receipt", True, receipts),
        check("client details in the answers", [], leaked),
        check(f"'{BOOKED}' events", 1, len(_of_type(events, BOOKED))),
        check(f"'{FAILED}' events", 0, len(_of_type(events, FAILED))),
    ]  # fmt: skip
    result.expected = {
        "answers": "201 or 409 only",
        "creates upstream": 1,
        "distinct appointments in the 201s": 1,
        "Booked events": 1,
    }
    result.observed = {
        "answers": _statuses(statuses) + (f", {len(crashed)} errors" if crashed else ""),
        "creates upstream": state["create_requests"],
        "distinct appointments in the 201s": len(created_ids),
        "Booked events": len(_of_type(events, BOOKED)),
    }
    return result


def moto_conditional_write_probe(threads: int = 50, rounds: int = 5) -> dict[str, Any]:
    """Whether moto in-process applies a conditional put atomically under threads (without the
    harness's lock): ``threads`` conditional creates of one key per round, successes counted."""
    import boto3
    from moto import mock_aws

    saved = dict(os.environ)
    os.environ.pop("AWS_ENDPOINT_URL", None)
    os.environ.update(
        AWS_ACCESS_KEY_ID=aws.ACCESS_KEY,
        AWS_SECRET_ACCESS_KEY=aws.SECRET_KEY,
        AWS_DEFAULT_REGION=aws.REGION,
    )
    successes: list[int] = []
    try:
        with mock_aws():
            dynamodb = boto3.client("dynamodb", region_name="us-east-1")
            # Looked up once, here: botocore builds a client's exception classes lazily, and
            # threads racing to build them can raise one class and catch another.
            refused = dynamodb.exceptions.ConditionalCheckFailedException
            dynamodb.create_table(
                TableName="probe",
                KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                BillingMode="PAY_PER_REQUEST",
            )
            for round_ in range(rounds):
                won: list[int] = []
                barrier = threading.Barrier(threads)

                def put(
                    key: str = f"k{round_}",
                    won: list[int] = won,
                    barrier: threading.Barrier = barrier,
                ) -> None:
                    barrier.wait()
                    try:
                        dynamodb.put_item(
                            TableName="probe",
                            Item={"id": {"S": key}},
                            ConditionExpression="attribute_not_exists(id)",
                        )
                        won.append(1)
                    except refused:
                        pass

                workers = [threading.Thread(target=put) for _ in range(threads)]
                for worker in workers:
                    worker.start()
                for worker in workers:
                    worker.join()
                successes.append(len(won))
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return {"threads": threads, "rounds": rounds, "successes per round": successes}
