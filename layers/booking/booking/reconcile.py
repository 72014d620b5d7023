"""Settling an unknown create outcome: the create may have reached Oliver without its answer
reaching us, and a blind retry could book the same slot twice.

Instead, the appointments created around the submission are listed and matched on the slot and
on what is known of the client and pet (``Party``); exactly one match is taken as the booking,
anything else leaves the outcome unknown.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from booking.errors import BookingError
from booking.matching import upstream_id
from booking.text import digits, fold, iso, parse_time

if TYPE_CHECKING:
    from booking.models import BookingRequest
    from booking.oliver import OliverGateway
    from booking.open_times import SlotTimes

#: How far back (and forward, for clock skew) the lookup for an unknown outcome searches.
LOOKUP_WINDOW = timedelta(minutes=2)
CLOSED_STATUSES = {"DELETED", "DECLINED"}


@dataclass(frozen=True)
class Party:
    """What is known of the client and pet, to find an appointment Oliver may have created."""

    first_name: str | None = None
    last_name: str | None = None
    email: str | None = None
    phone: str | None = None
    client_remote_id: str | None = None
    patient_name: str | None = None
    patient_remote_id: str | None = None


def as_created(appointment: dict[str, Any]) -> dict[str, Any]:
    """An appointment from a list answer (string id) in the create answer's shape (integer)."""
    number = upstream_id(appointment.get("id"))
    return {**appointment, "id": number} if number is not None else dict(appointment)


def find_created(
    booking: BookingRequest,
    party: Party,
    since: datetime,
    oliver: OliverGateway,
    slot_times: SlotTimes,
) -> dict[str, Any] | None:
    """The appointment this booking created, when exactly one matches; else None."""
    if not oliver.budget.allows(0.3):
        return None
    if booking.client_id is not None and party.first_name is None:
        party = _party_of_client(booking.client_id, party, oliver)
    start, end = since - LOOKUP_WINDOW, datetime.now(UTC) + LOOKUP_WINDOW
    try:
        listed = oliver.list_appointments(iso(start), iso(end))
    except BookingError:
        return None
    slot_start = slot_times.start_of(booking.slot_id) or parse_time(booking.start)
    matches = [a for a in listed if _matches(a, party, slot_start, start)]
    unique = {str(a.get("id")): a for a in matches}
    return next(iter(unique.values())) if len(unique) == 1 else None


def _party_of_client(client_id: int | str, party: Party, oliver: OliverGateway) -> Party:
    try:
        client = oliver.get_client(str(client_id))
    except BookingError:
        return party
    if not client:
        return party
    names = str(client.get("name") or "").split()
    return Party(
        first_name=names[0] if names else None,
        last_name=" ".join(names[1:]) or None,
        email=client.get("email"),
        phone=client.get("phone"),
        client_remote_id=client.get("remote_id"),
        patient_name=party.patient_name,
        patient_remote_id=party.patient_remote_id,
    )


def _matches(
    appointment: dict[str, Any], party: Party, slot_start: datetime | None, since: datetime
) -> bool:
    if str(appointment.get("status", "")).upper() in CLOSED_STATUSES:
        return False
    created = parse_time(appointment.get("created_at"))
    if created is not None and created < since:
        return False
    if slot_start is not None and parse_time(appointment.get("booking_date")) != slot_start:
        return False
    if party.client_remote_id and appointment.get("remote_client_id"):
        client_ok = appointment["remote_client_id"] == party.client_remote_id
    elif party.first_name and party.last_name:
        client_ok = fold(party.first_name) == fold(
            str(appointment.get("client_first_name") or "")
        ) and fold(party.last_name) == fold(str(appointment.get("client_last_name") or ""))
        if client_ok and party.email and appointment.get("client_email"):
            client_ok = fold(party.email) == fold(str(appointment["client_email"]))
        elif client_ok and party.phone and appointment.get("client_phone"):
            client_ok = digits(party.phone)[-10:] == digits(appointment["client_phone"])[-10:]
    else:
        return False
    if not client_ok:
        return False
    if party.patient_remote_id and appointment.get("remote_patient_id"):
        return bool(appointment["remote_patient_id"] == party.patient_remote_id)
    if party.patient_name and appointment.get("patient_name"):
        return fold(party.patient_name) == fold(str(appointment["patient_name"]))
    return True
