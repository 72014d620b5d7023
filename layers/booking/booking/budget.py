"""The time an invocation has left, so that every outside call is bounded by it."""

from __future__ import annotations

import time
from typing import Protocol

#: Kept back from the Lambda timeout to write the answer (and park an event) after the last call.
RESERVE_SECONDS = 0.5


class HasRemainingTime(Protocol):
    def get_remaining_time_in_millis(self) -> int: ...


class Budget:
    def __init__(self, seconds: float) -> None:
        self._deadline = time.monotonic() + max(0.0, seconds - RESERVE_SECONDS)

    @classmethod
    def from_context(cls, context: HasRemainingTime | None, default: float = 10.0) -> Budget:
        if context is None or not hasattr(context, "get_remaining_time_in_millis"):
            return cls(default)
        return cls(context.get_remaining_time_in_millis() / 1000)

    def left(self) -> float:
        return max(0.0, self._deadline - time.monotonic())

    def timeout(self, cap: float, keep: float = 0.0) -> float:
        """A timeout for one call: at most ``cap``, leaving ``keep`` seconds for what follows."""
        return max(0.05, min(cap, self.left() - keep))

    def allows(self, seconds: float) -> bool:
        return self.left() > seconds
