"""Scenario 2, upstream fault matrix: one booking against each fault of the Oliver sandbox
on ``POST /appointments`` (``UPSTREAM_FAULTS``), then, for most, the same booking again once the
fault is gone.

The booking is a public one (POST /bookings by name, email, phone and pet name, as the practice's
website sends it; the function looks the client up before creating), and "the same booking
again" is the visitor submitting the same form again. Every upstream error message carries a
sentinel (``SENTINEL``): upstream's words must never reach the caller (our own sentences only,
CONTRACT section 3), nor may any answer carry the client's details.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from local.reliability.figures import (
    BOOKED,
    FAILED,
    Result,
    _answer_text,
    _of_type,
    check,
    found_in,
    receipt_shape,
)
from local.reliability.targets import CLIENT_DETAILS, Target, booking_fields, fresh, open_slots

#: In every message the faulted upstream answers with: it must appear in no answer of ours.
SENTINEL = "OLIVER-INTERNAL-7F3A"


def _says(text: str) -> str:
    """An upstream message, as Oliver might word it (its internals included)."""
    return f"{text} (ref {SENTINEL})"


@dataclass(frozen=True)
class UpstreamFault:
    name: str
    rules: tuple[Mapping[str, Any], ...]
    status: int
    code: str | None
    #: appointments upstream after the faulted request
    appointments: int
    #: ``Booking Failed`` reason expected (None: no such event)
    failed_reason: str | None
    retry_after: str | None = None
    #: then submit the same booking again without the fault (expected: 201, one appointment)
    retry: bool = True
    #: before the retry, wait for upstream to finish what it was still doing
    settle: int | None = None
    create_requests: int = 1

    def upstream_words(self) -> list[str]:
        """What upstream says in this fault: the sentinel and each message as a whole."""
        said = [str(r["body"]["message"]) for r in self.rules if "message" in r.get("body", {})]
        said += [str(r["text"]) for r in self.rules if "text" in r]
        return [SENTINEL, *said]


def _create_rule(**action: Any) -> dict[str, Any]:
    return {"method": "POST", "path": "/appointments", "times": 1, **action}


SLOW = 8  # seconds: past the create's 6 s cap (Lambda timeout 10 s, less the lookup's reserve)

UPSTREAM_FAULTS: tuple[UpstreamFault, ...] = (
    UpstreamFault("500 on the create (not processed)",
                  (_create_rule(action="status", status=500),),
                  503, "outcome_unknown", 0, None, retry_after="60"),
    UpstreamFault("502 on the create (not processed)",
                  (_create_rule(action="status", status=502,
                                body={"success": False, "message": _says("Bad gateway")}),),
                  503, "outcome_unknown", 0, None, retry_after="60"),
    UpstreamFault("503 on the create (not processed)",
                  (_create_rule(action="status", status=503,
                                body={"success": False,
                                      "message": _says("Service unavailable")}),),
                  503, "outcome_unknown", 0, None, retry_after="60"),
    UpstreamFault("429 with Retry-After: 7",
                  (_create_rule(action="status", status=429, headers={"Retry-After": "7"},
                                body={"success": False,
                                      "message": _says("Too many requests")}),),
                  429, "rate_limited", 0, "rate_limited", retry_after="7"),
    UpstreamFault(f"answer {SLOW}s late, after creating (timeout_after)",
                  (_create_rule(action="timeout_after", seconds=SLOW),),
                  201, None, 1, None),
    UpstreamFault(f"{SLOW}s late before creating (delay): created after we gave up",
                  (_create_rule(action="delay", seconds=SLOW),),
                  503, "outcome_unknown", 0, None, retry_after="60", settle=1),
    UpstreamFault("connection reset before processing (reset_before)",
                  (_create_rule(action="reset_before"),),
                  503, "outcome_unknown", 0, None, retry_after="60"),
    UpstreamFault("connection reset after creating (reset_after)",
                  (_create_rule(action="reset_after"),),
                  201, None, 1, None),
    UpstreamFault("200 with a non-JSON body (not processed)",
                  (_create_rule(action="raw", status=200,
                                text=f"<html>upstream proxy {SENTINEL}</html>"),),
                  503, "outcome_unknown", 0, None, retry_after="60"),
    UpstreamFault("200 with success: false",
                  (_create_rule(action="status", status=200,
                                body={"success": False, "data": None,
                                      "message": _says("Provider is not\n available at this "
                                                       "time")}),),
                  422, "booking_rejected", 0, "booking_rejected", retry=False),
    UpstreamFault("401 once, then success",
                  (_create_rule(action="status", status=401,
                                body={"success": False, "message": _says("Token expired")}),),
                  201, None, 1, None, create_requests=2),
)  # fmt: skip


def upstream_fault(target: Target, fault: UpstreamFault) -> Result:
    """One row of the matrix: a booking against the fault, then (for most) the same booking
    again once the fault is gone, counting appointments, create requests and events."""
    started = time.monotonic()
    fresh(target)
    slot = open_slots(target, 1)[0]
    target.sandbox.faults(*fault.rules)
    fields = booking_fields(slot)
    first = target.book(fields)
    after_first = target.sandbox.state()
    events = target.aws.take_events(expected=1 if fault.status == 201 else 0, timeout=2)
    if fault.failed_reason:
        events += target.aws.take_events(expected=1 - len(_of_type(events, FAILED)), timeout=2)
    booked_first = _of_type(events, BOOKED)
    failed_first = _of_type(events, FAILED)
    result = Result("Upstream fault matrix", target.name, fault.name)
    result.figures = {"first answer": {"status": first.status, "code": first.code}}
    checks = [
        check("status", fault.status, first.status),
        check("code", fault.code, first.code),
        check("upstream create requests", fault.create_requests, after_first["create_requests"]),
        check("appointments upstream", fault.appointments, after_first["appointments_created"]),
        check(f"'{BOOKED}' events", fault.appointments, len(booked_first)),
        check(f"'{FAILED}' events", 1 if fault.failed_reason else 0, len(failed_first)),
    ]
    if fault.failed_reason:
        reasons = [e["detail"].get("reason") for e in failed_first]
        checks.append(check(f"'{FAILED}' reason", [fault.failed_reason], reasons))
    if fault.retry_after is not None:
        checks.append(check("Retry-After", fault.retry_after, first.headers.get("retry-after")))
    message = first.body.get("message") if isinstance(first.body, dict) else None
    passed_on = found_in(first.body, fault.upstream_words())
    checks += [
        check("upstream's words in the answer", [], passed_on),
        check("the answer has a message of ours", True, isinstance(message, str) and bool(message)),
        check("client details in the answer", [], found_in(first.body, CLIENT_DETAILS)),
    ]
    if fault.status == 201:
        upstream_ids = [str(a["id"]) for a in after_first["appointments"]]
        checks += [
            check("201 is the receipt of the upstream appointment", upstream_ids,
                  [str(first.appointment_id)]),
            check("201 is the receipt (no client record)", True, receipt_shape(first.body)),
        ]  # fmt: skip
    if fault.retry:
        if fault.settle is not None:
            result.figures["upstream created it late"] = target.sandbox.wait_created(
                fault.settle, timeout=SLOW + 2
            )
        second = target.book(fields)
        after = target.sandbox.state()
        late = target.aws.take_events(expected=0 if booked_first else 1, timeout=2)
        result.figures["retry answer"] = {
            "status": second.status,
            "replayed": bool(second.headers.get("idempotent-replayed")),
        }
        ids = {str(a["id"]) for a in after["appointments"]}
        checks += [
            check("retry: status", 201, second.status),
            check("retry: appointments upstream", 1, after["appointments_created"]),
            check("retry: answers the appointment upstream holds", ids,
                  {str(second.appointment_id)}),
            check("retry: the receipt (no client record)", True, receipt_shape(second.body)),
            check("retry: client details in the answer", [],
                  found_in(second.body, CLIENT_DETAILS)),
            check(f"'{BOOKED}' events in all", 1, len(booked_first) + len(_of_type(late, BOOKED))),
            check(f"'{FAILED}' events after the retry", 0, len(_of_type(late, FAILED))),
        ]  # fmt: skip
    parked = target.aws.parked()
    checks.append(check("events parked", 0, len(parked)))
    result.checks = checks
    failed_text = f"Failed 1 ({fault.failed_reason})" if fault.failed_reason else "Failed 0"
    result.expected = {
        "answer": _answer_text(fault.status, fault.code, fault.retry_after),
        "upstream's words passed on": "none",
        "appointments": fault.appointments,
        "events": f"Booked {fault.appointments}, {failed_text}",
    }
    reasons_seen = ", ".join(e["detail"].get("reason", "?") for e in failed_first)
    result.observed = {
        "answer": _answer_text(first.status, first.code, first.headers.get("retry-after")),
        "upstream's words passed on": ", ".join(passed_on) or "none",
        "appointments": after_first["appointments_created"],
        "events": f"Booked {len(booked_first)}, Failed {len(failed_first)}"
        + (f" ({reasons_seen})" if reasons_seen else ""),
    }
    if fault.retry:
        result.expected["same booking again"] = "201, 1 appointment, 1 Booked event in all"
        result.observed["same booking again"] = (
            f"{second.status}{' (replayed)' if second.headers.get('idempotent-replayed') else ''}"
            f", {after['appointments_created']} appointment, "
            f"{len(booked_first) + len(_of_type(late, BOOKED))} Booked event in all"
        )
    result.seconds = time.monotonic() - started
    target.sandbox.clear_faults()
    return result


def upstream_fault_matrix(
    target: Target, faults: Sequence[UpstreamFault] = UPSTREAM_FAULTS
) -> list[Result]:
    return [upstream_fault(target, fault) for fault in faults]
