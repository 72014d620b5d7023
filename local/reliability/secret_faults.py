"""Scenario 4, secret faults: the Oliver secret missing, malformed or unreadable (its value in
Secrets Manager, or a stub around the client), and rotated in the middle of traffic.

The bookings are public ones (POST /bookings by name, email, phone and pet name, as the practice's
website sends them): traffic goes on while an operator rotates the secret. The rotation's 30
bookings come from the scenario's own address, which the target exempts from the per-IP
throttle (``targets``).
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from local import aws
from local.reliability.figures import (
    BOOKED,
    FAILED,
    Result,
    _answer_text,
    _of_type,
    _statuses,
    check,
    found_in,
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


def _secret_fault_row(
    target: InProcess,
    injected: str,
    status: int,
    code: str,
    failed_events: int,
    prepare: Callable[[], None],
    undo: Callable[[], None],
) -> Result:
    started = time.monotonic()
    fresh(target)
    prepare()
    target.cold_start()
    try:
        times = target.open_times()
        answer = target.book(booking_fields("a-slot-never-reached"))
    finally:
        undo()
        target.cold_start()
    state = target.sandbox.state()
    events = target.aws.take_events(expected=failed_events, timeout=2)
    body = json.dumps(answer.body)
    result = Result("Secret faults", target.name, injected, seconds=time.monotonic() - started)
    result.figures = {"POST /bookings": answer.status, "GET /open-times": times.status}
    result.checks = [
        check("POST /bookings status", status, answer.status),
        check("POST /bookings code", code, answer.code),
        check("GET /open-times status", status, times.status),
        check("GET /open-times code", code, times.code),
        check("upstream requests", 0, len(target.sandbox.requests())),
        check("appointments upstream", 0, state["appointments_created"]),
        check(f"'{BOOKED}' events", 0, len(_of_type(events, BOOKED))),
        check(f"'{FAILED}' events", failed_events, len(_of_type(events, FAILED))),
        check("secret value or password in the answer", False,
              aws.oliver_secret_value()["password"] in body or "sandbox-partner" in body),
        check("client details in the answer", [], found_in(answer.body, CLIENT_DETAILS)),
    ]  # fmt: skip
    result.expected = {
        "POST /bookings": _answer_text(status, code),
        "GET /open-times": _answer_text(status, code),
        "upstream requests": 0,
        "Failed events": failed_events,
    }
    result.observed = {
        "POST /bookings": _answer_text(answer.status, answer.code),
        "GET /open-times": _answer_text(times.status, times.code),
        "upstream requests": len(target.sandbox.requests()),
        "Failed events": len(_of_type(events, FAILED)),
    }
    return result


def secret_missing(target: InProcess) -> Result:
    def prepare() -> None:
        os.environ["OLIVER_SECRET_ID"] = "booking-webhook/no-such-secret"  # noqa: S105

    def undo() -> None:
        os.environ["OLIVER_SECRET_ID"] = target.aws.secret_id

    return _secret_fault_row(
        target, "OLIVER_SECRET_ID names a secret that does not exist (cold container)",
        503, "configuration_error", 0, prepare, undo,
    )  # fmt: skip


def secret_malformed(target: InProcess) -> Result:
    original = target.aws.secret_value()
    return _secret_fault_row(
        target,
        "the secret's value is truncated JSON (cold container)",
        503, "configuration_error", 0,
        lambda: target.aws.put_secret('{"username": "sandbox-partner", "password": "sandbox-pa'),
        lambda: target.aws.put_secret(original),
    )  # fmt: skip


def secret_throttled(target: InProcess, every_secret: bool = False) -> Result:
    """A passing Secrets Manager fault (throttling) is not a configuration error: 503
    ``upstream_unavailable``, and the visitor's valid booking is followed up (one ``Booking
    Failed``). ``every_secret``: every read is throttled, as an account-wide throttle would,
    the throttle key's (``THROTTLE_KEY_SECRET_ID``) included; otherwise only the Oliver
    secret's."""
    from botocore.exceptions import ClientError

    oliver_secret = target.aws.secret_id

    class Throttled:
        def __init__(self, real: Any) -> None:
            self.real = real

        def __getattr__(self, name: str) -> Any:
            return getattr(self.real, name)

        def get_secret_value(self, **params: Any) -> Any:
            if every_secret or params.get("SecretId") == oliver_secret:
                raise ClientError(
                    {"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}},
                    "GetSecretValue",
                )
            return self.real.get_secret_value(**params)

    injected = (
        "Secrets Manager throttles every read, the throttle key's included (stub; cold container)"
        if every_secret
        else "Secrets Manager throttles reads of the Oliver secret (stub; cold container)"
    )
    return _secret_fault_row(
        target, injected, 503, "upstream_unavailable", 1,
        lambda: target.wrap_aws_clients(
            lambda s, c: Throttled(c) if s == "secretsmanager" else c),
        target.restore_aws_clients,
    )  # fmt: skip


def secret_rotation(target: Target, bookings: int = 30, threads: int = 1) -> Result:
    """Traffic while the secret rotates twice: after a third of the bookings, the secret
    becomes the static token and every issued JWT is expired; after two thirds, it becomes the
    partner credentials again and the static token is revoked. Each rotation costs one 401,
    after which the function reads the secret afresh and retries: every booking is 201."""
    from local.oliver_sandbox import seed

    started = time.monotonic()
    fresh(target)
    original = target.aws.secret_value()
    slots = open_slots(target, bookings)  # also warms the container: secret and JWT cached
    reads: list[int] = []
    if isinstance(target, InProcess):
        # Reads of the Oliver secret only (the throttle key is a secret too, cached alike).
        client = target.aws_client("secretsmanager")

        def read(params: dict[str, Any], **_: Any) -> None:
            if params.get("SecretId") == target.aws.secret_id:
                reads.append(1)

        client.meta.events.register("before-parameter-build.secrets-manager.GetSecretValue", read)

    def to_static_token() -> None:
        target.aws.put_secret({"token": seed.STATIC_TOKEN, "location_id": seed.LOCATION_ID})
        target.sandbox.expire_tokens()

    def to_credentials() -> None:
        target.aws.put_secret(original)
        target.sandbox.expire_tokens(static=True)

    rotations = {bookings // 3: to_static_token, 2 * bookings // 3: to_credentials}
    handlers = target.handler_copies(threads) if isinstance(target, InProcess) else []
    lock = threading.Lock()
    queue = list(enumerate(slots))
    answers: dict[int, Answer | BaseException] = {}
    done = 0

    def worker(number: int) -> None:
        nonlocal done
        while True:
            with lock:
                if not queue:
                    return
                index, slot = queue.pop(0)
            try:
                if handlers:
                    assert isinstance(target, InProcess)
                    answers[index] = target.book(booking_fields(slot), handler=handlers[number])
                else:
                    answers[index] = target.book(booking_fields(slot))
            except BaseException as exc:
                answers[index] = exc
            with lock:
                done += 1
                rotate = rotations.pop(done, None)
                if rotate is not None:
                    rotate()

    try:
        workers = [threading.Thread(target=worker, args=(n,)) for n in range(threads)]
        for thread in workers:
            thread.start()
        for thread in workers:
            thread.join(300)
    finally:
        target.aws.put_secret(original)
    results = [answers.get(i) for i in range(bookings)]
    statuses = Counter(a.status if isinstance(a, Answer) else repr(a) for a in results)
    state = target.sandbox.state()
    log = target.sandbox.requests()
    creates = [r for r in log if r["method"] == "POST" and r["path"].endswith("/appointments")]
    sign_ins = [r for r in log if r["path"].endswith("/auth/sign-in")]
    events = target.aws.take_events(expected=bookings, timeout=5)
    result = Result(
        "Secret faults",
        target.name,
        f"rotation in the middle of {bookings} public bookings ({threads} at a time): static token "
        f"+ JWTs expired after {bookings // 3}, credentials + static token revoked after "
        f"{2 * bookings // 3}",
        seconds=time.monotonic() - started,
    )
    result.figures = {
        "statuses": dict(statuses),
        "401 answers upstream": sum(1 for r in log if r["status"] == 401),
        "sign-ins": len(sign_ins),
        "Oliver secret reads while the traffic ran": (
            len(reads) if isinstance(target, InProcess) else "n/a"
        ),
    }
    result.checks = [
        check("bookings answered 201", bookings, statuses.get(201, 0)),
        check("appointments upstream", bookings, state["appointments_created"]),
        check("upstream 401s (at least one per rotation)", ">= 2",
              result.figures["401 answers upstream"],
              ok=result.figures["401 answers upstream"] >= 2),
        check("create requests that were not 401", bookings,
              sum(1 for r in creates if r["status"] != 401)),
        check(f"'{BOOKED}' events", bookings, len(_of_type(events, BOOKED))),
        check(f"'{FAILED}' events", 0, len(_of_type(events, FAILED))),
    ]  # fmt: skip
    result.expected = {
        "bookings": f"201 x{bookings}",
        "appointments": bookings,
        "upstream 401s": "2 or more",
        "events": f"Booked {bookings}, Failed 0",
    }
    result.observed = {
        "bookings": _statuses(statuses),
        "appointments": state["appointments_created"],
        "upstream 401s": result.figures["401 answers upstream"],
        "events": f"Booked {len(_of_type(events, BOOKED))}, Failed {len(_of_type(events, FAILED))}",
    }
    if isinstance(target, InProcess) and threads == 1:
        result.checks.append(check("fresh Oliver secret reads (one per rotation)", 2, len(reads)))
        result.expected["fresh Oliver secret reads"] = 2
        result.observed["fresh Oliver secret reads"] = len(reads)
    return result
