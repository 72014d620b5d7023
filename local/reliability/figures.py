"""Figures: what each scenario returns and the doc's tables show.

A ``Check`` is one figure compared with what the contract expects; a ``Result`` is one
scenario's run on one target (what was injected, its checks, its raw figures, and the few that
the doc's table shows). The small helpers here count answers and events for every scenario.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

BOOKED, FAILED = "Appointment Booked", "Booking Failed"


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
