"""Booking by pet name: a request that gives the owner's name, contact and the pet's name but
no ids is turned into the Oliver client and patient the appointment is created for.

The client is found by email, then by phone in E.164 (the form Oliver's lookup matches best),
and kept only when its last name agrees; the pet is then picked among that client's patients by
folded name. Anything but exactly one client and one pet is an error, never a guess.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from booking.errors import AmbiguousMatch, ClientNotFound, FieldError, PatientNotFound
from booking.idempotency import fold
from booking.phone import to_e164

if TYPE_CHECKING:
    from booking.oliver import OliverClient
    from booking.submission import Submission


def upstream_id(value: object) -> int | None:
    """Oliver's ids come back as strings from lookups but must be integers in the create."""
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None


def find_client_and_pet(
    sub: Submission, ask: Callable[..., Any], oliver: OliverClient, phone_region: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Booking by pet name: the client by email, then by phone (E.164), checked against the
    last name; then the pet among the client's patients by folded name.

    ``ask(operation, *args)`` calls an Oliver operation with the current credentials."""
    booking = sub.booking

    def clients(params: dict[str, str]) -> list[dict[str, Any]]:
        found = ask(oliver.find_clients, params)
        last = fold(booking.last_name or "").split()
        unique = {
            str(client.get("id")): client
            for client in found
            if last and fold(str(client.get("name", ""))).split()[-len(last) :] == last
        }
        return list(unique.values())

    matches: list[dict[str, Any]] = clients({"email": booking.email}) if booking.email else []
    if not matches and booking.phone:
        e164 = to_e164(booking.phone, phone_region)
        if e164:
            matches = clients({"phone": e164})
    if not matches:
        contact = "email" if booking.email else "phone"
        raise ClientNotFound(errors=[FieldError(contact, "matches no client of the practice")])
    if len(matches) > 1:
        raise AmbiguousMatch()
    client = matches[0]
    patients = client.get("patients")
    if not isinstance(patients, list) or not patients:
        patients = ask(oliver.list_patients, str(client["id"]))
    wanted = fold(booking.patient_name or "")
    pets = [p for p in patients if isinstance(p, dict) and fold(str(p.get("name", ""))) == wanted]
    if not pets:
        raise PatientNotFound(
            errors=[FieldError("patient_name", "matches no pet on the client's record")]
        )
    if len(pets) > 1:
        raise AmbiguousMatch()
    return client, pets[0]
