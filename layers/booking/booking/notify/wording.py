"""Plain words the consumers write for people: times in the practice's zone, why a booking was
not made, where it came from."""

from __future__ import annotations

from datetime import datetime, tzinfo

from booking.text import parse_time

#: The error codes of Booking Failed, as a member of staff would say them.
REASONS = {
    "not_matched": (
        "the name, contact or pet did not match the practice's records (no such client, no pet "
        "of that name on the client's record, or more than one possible match)"
    ),
    "held_for_review": (
        "this contact had several bookings that did not match the practice's records, so later "
        "ones were held for staff without being looked up"
    ),
    "slot_unavailable": "the requested time was no longer available",
    "booking_rejected": "the practice system refused the booking",
    "client_not_found": "no client in the practice system has these details",
    "patient_not_found": "the client's record has no pet matching these details",
    "ambiguous_match": "these details match more than one client or pet",
    "upstream_unavailable": "the practice system could not be reached at the time",
    "rate_limited": "the practice system was too busy at the time",
    "upstream_error": "the practice system gave an unusable answer",
    "upstream_auth_failed": "the practice system refused the booking service's credentials",
    "outcome_unknown": (
        "the practice system did not confirm whether the appointment was made: check the "
        "schedule before calling back"
    ),
}

CHANNELS = {
    "form": "the website's booking form",
    "page": "the online booking page",
    "webhook": "a partner's booking tool",
}


def reason_words(code: str) -> str:
    return REASONS.get(code, f"it could not be booked (code {code})")


def channel_words(channel: str | None, source: str | None) -> str:
    words = CHANNELS.get(channel or "", "online booking")
    return f"{words} ({source})" if source else words


def in_zone(value: object, zone: tzinfo) -> datetime | None:
    """An ISO 8601 time from an event, in the practice's zone (None when absent or unreadable)."""
    moment = parse_time(value)
    return moment.astimezone(zone) if moment else None


def day_text(moment: datetime) -> str:
    """ "Tuesday, January 7, 2030"."""
    return f"{moment:%A}, {moment:%B} {moment.day}, {moment.year}"


def time_text(moment: datetime) -> str:
    """ "9:00 AM"."""
    hour = moment.hour % 12 or 12
    return f"{hour}:{moment:%M} {'AM' if moment.hour < 12 else 'PM'}"


def zone_text(moment: datetime) -> str:
    """The zone's abbreviation at that moment ("CST"), or its UTC offset when it has none."""
    name = moment.tzname() or ""
    return name if name and name[0].isalpha() else f"UTC{moment:%z}"


def when_text(moment: datetime) -> str:
    """ "Tuesday, January 7, 2030 at 9:00 AM CST"."""
    return f"{day_text(moment)} at {time_text(moment)} {zone_text(moment)}"


def one_line(value: object, limit: int = 200) -> str:
    """A value fit for a subject line or a title: one line, spaces collapsed, bounded."""
    return " ".join(str(value or "").split())[:limit]
