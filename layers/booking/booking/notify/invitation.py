"""The RFC 5545 calendar invitation attached to a confirmation email (built with icalendar).

Only the email function imports this module: icalendar ships with that function
(functions/notify_email/requirements.txt), never in the shared layer the API loads.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta


@dataclass(frozen=True)
class Invitation:
    appointment_id: str
    start: datetime
    end: datetime
    summary: str
    description: str
    organizer_name: str
    organizer_address: str
    #: A request the practice has yet to confirm: the calendar shows it as tentative.
    tentative: bool

    @property
    def uid(self) -> str:
        """Stable per appointment (and practice): a resent invitation updates the same event."""
        domain = self.organizer_address.rpartition("@")[2] or "localhost"
        return f"appointment-{self.appointment_id}@{domain}"

    def to_ics(self, stamp: datetime | None = None) -> bytes:
        from icalendar import Calendar, Event, vCalAddress, vText

        calendar = Calendar()
        calendar.add("prodid", "-//booking-webhook//appointment confirmation//EN")
        calendar.add("version", "2.0")
        calendar.add("calscale", "GREGORIAN")
        # PUBLISH: an event to add to a calendar, with no reply expected by the sender.
        calendar.add("method", "PUBLISH")
        event = Event()
        event.add("uid", self.uid)
        event.add("dtstamp", (stamp or datetime.now(UTC)).astimezone(UTC))
        event.add("dtstart", self.start)
        event.add("dtend", self.end)
        event.add("summary", self.summary)
        event.add("description", self.description)
        if self.organizer_name:
            event.add("location", self.organizer_name)
        event.add("status", "TENTATIVE" if self.tentative else "CONFIRMED")
        event.add("transp", "OPAQUE")
        event.add("sequence", 0)
        organizer = vCalAddress(f"mailto:{self.organizer_address}")
        if self.organizer_name:
            organizer.params["cn"] = vText(self.organizer_name)
        event.add("organizer", organizer)
        calendar.add_component(event)
        # The VTIMEZONE of the practice's zone, so clients show the time the practice meant.
        # Only the transitions around the appointment: a calendar reads no others.
        calendar.add_missing_timezones(
            first_date=(self.start - timedelta(days=366)).date(),
            last_date=(self.end + timedelta(days=366)).date(),
        )
        return bytes(calendar.to_ical())
