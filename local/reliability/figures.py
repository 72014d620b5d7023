"""Figures: what each scenario returns and the doc's tables show.

A ``Check`` is one figure compared with what the contract expects; a ``Result`` is one
scenario's run on one target (what was injected, its checks, its raw figures, and the few that
the doc's table shows). The small helpers here count answers and events for every scenario.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

BOOKED, FAILED = "Appointment Booked", "Booking Failed"
#: What a 201 carries (CONTRACT section 3): a receipt, never the client's record.
RECEIPT_FIELDS = ("end", "id", "patient_name", "start", "status")


@dataclass(frozen=True)
class Check:
    """One figure: what the contract (or the code's documented guarantee) expects, and what
    was observed. ``ok`` is equality unless the expectation is a bound."""

    what: str
    expected: Any
    observed: Any
    ok: bool


def check(what: str, expected: Any, observed: Any, ok: bool | None = None) -> Check:
    return Check(what, expected, observed, expected == observed if ok is None else ok)


@dataclass
class Result:
    """A scenario's run on one target: what was injected, its figures and checks."""

    scenario: str
    target: str
    injected: str
    checks: list[Check] = field(default_factory=list)
    figures: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    #: The figures that matter, as the doc's table shows them (every check is still asserted).
    expected: dict[str, Any] = field(default_factory=dict)
    observed: dict[str, Any] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return all(c.ok for c in self.checks)

    def failures(self) -> list[Check]:
        return [c for c in self.checks if not c.ok]

    def explain(self) -> str:
        """For assertion messages: every failed check, then the raw figures."""
        lines = [f"{self.scenario} [{self.target}] injected: {self.injected}"]
        lines += [
            f"  FAILED {c.what}: expected {c.expected!r}, observed {c.observed!r}"
            for c in self.failures()
        ]
        lines.append(f"  figures: {json.dumps(self.figures, default=str, sort_keys=True)}")
        return "\n".join(lines)


def _statuses(statuses: Mapping[Any, int]) -> str:
    return ", ".join(f"{status} x{n}" for status, n in sorted(statuses.items(), key=str))


def _answer_text(status: int, code: str | None, retry_after: str | None = None) -> str:
    text = f"{status} {code}" if code else str(status)
    return f"{text}, Retry-After {retry_after}" if retry_after else text


def _of_type(events: Sequence[Mapping[str, Any]], detail_type: str) -> list[Mapping[str, Any]]:
    return [e for e in events if e.get("detail-type") == detail_type]


def _text_of(body: Any) -> str:
    return body if isinstance(body, str) else json.dumps(body, ensure_ascii=False)


def found_in(body: Any, words: Sequence[str]) -> list[str]:
    """Which of ``words`` an answer's body contains, case-insensitively: a name as a whole
    word ("Doe", not "Does"), anything else (an email, digits, an id) anywhere."""
    text = _text_of(body)

    def contains(word: str) -> bool:
        if word.isalpha():
            return re.search(rf"\b{re.escape(word)}\b", text, re.IGNORECASE) is not None
        return word.lower() in text.lower()

    return [w for w in words if contains(w)]


def receipt_shape(body: Any) -> bool:
    """Whether a 201's body is the receipt: ``success``, ``data`` with exactly the receipt's
    fields, and our ``message``; nothing else."""
    if not isinstance(body, dict) or set(body) != {"success", "data", "message"}:
        return False
    data = body["data"]
    return (
        body["success"] is True and isinstance(data, dict) and sorted(data) == list(RECEIPT_FIELDS)
    )
