"""What the entry point hands to the booking logic and gets back (plain dataclasses, so the
entry point can build them without loading the validation models at cold start)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from booking.budget import Budget

if TYPE_CHECKING:
    from booking.models import BookingRequest


@dataclass(frozen=True)
class Channel:
    """Where a submission came from; keys and events are namespaced by it."""

    name: Literal["form", "page", "webhook"]
    webhook_source: str | None = None

    @property
    def public(self) -> bool:
        """Anonymous callers (forms, the booking page), as opposed to signed partners."""
        return self.name != "webhook"


@dataclass(frozen=True)
class Request:
    """What the entry point knows of the request that carries a submission (no HTTP types)."""

    request_id: str
    submitted_at: datetime
    budget: Budget
    visitor_ip: str | None = None
    explicit_key: str | None = None


@dataclass(frozen=True)
class Submission:
    booking: BookingRequest
    channel: Channel
    explicit_key: str | None
    request_id: str
    submitted_at: datetime
    budget: Budget


@dataclass(frozen=True)
class BookingResult:
    status: int
    body: dict[str, Any]
    replayed: bool
