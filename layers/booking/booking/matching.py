"""Booking by pet name: the visitor is matched to exactly one Oliver client, then the pet to
exactly one of that client's patients. Anything else is a miss, never a guess.

A client matches only when the last name agrees with the client's name in Oliver, the first
name agrees or one is a prefix of the other ("Al"/"Alice", "A."/"Ada"), and the email agrees
(or, when no client matches by email, the phone in E.164). The upstream calls made are the same
whether the contact belongs to a client or not: one lookup by email and one by phone whenever
each was given, so neither the answer nor its timing tells a stranger who is a client.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from booking.errors import AmbiguousMatch, ClientNotFound, FieldError, PatientNotFound
from booking.phone import to_e164
from booking.text import fold, fold_name

if TYPE_CHECKING:
    from booking.models import BookingRequest
    from booking.oliver import OliverGateway


def upstream_id(value: object) -> int | str | None:
    """An id as the create takes it: Oliver's lookups give strings; a numeric one is the integer
    the create documents, any other is forwarded as given."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip():
        text = value.strip()
        return int(text) if text.isascii() and text.isdigit() else text
    return None


@dataclass(frozen=True)
class Match:
    client: dict[str, Any]
    patient: dict[str, Any]

    def identity(self) -> dict[str, Any] | None:
        """The create body's client and patient identifiers, or None when Oliver gave neither
        an id nor a PIMS id for one of them."""
        body: dict[str, Any] = {}
        for record, (by_id, by_remote) in (
            (self.client, ("client_id", "client_remote_id")),
            (self.patient, ("patient_id", "patient_remote_id")),
        ):
            number = upstream_id(record.get("id"))
            if number is not None:
                body[by_id] = number
            elif record.get("remote_id"):
                body[by_remote] = str(record["remote_id"])
            else:
                return None
        return body


def _first_name_agrees(given: str, known: str) -> bool:
    return bool(given and known) and (known.startswith(given) or given.startswith(known))


def _known_words(client_name: str) -> list[str]:
    """Oliver's client name as folded words in "First ... Last" order."""
    if "," in client_name:
        last, _, first = client_name.partition(",")
        return fold_name(first) + fold_name(last)
    return fold_name(client_name)


def _name_agrees(booking: BookingRequest, client_name: str) -> bool:
    first, last = booking.name_words()
    words = _known_words(client_name)
    if not first or not last or len(words) <= len(last):
        return False
    return words[-len(last) :] == last and _first_name_agrees(first[0], words[0])


def find_client_and_pet(booking: BookingRequest, oliver: OliverGateway, phone_region: str) -> Match:
    """The client and pet this booking names; ``ClientNotFound``, ``PatientNotFound`` or
    ``AmbiguousMatch`` (the precise reasons, for partners and for the log) otherwise."""
    e164 = to_e164(booking.phone, phone_region) if booking.phone else None
    by_email = oliver.find_clients({"email": booking.email}) if booking.email else []
    by_phone = oliver.find_clients({"phone": e164}) if e164 else []

    def agreeing(clients: list[dict[str, Any]], contact_agrees: Any) -> dict[str, dict[str, Any]]:
        return {
            str(client.get("id")): client
            for client in clients
            if isinstance(client, dict)
            and _name_agrees(booking, str(client.get("name") or ""))
            and contact_agrees(client)
        }

    email = fold(booking.email or "")
    matches = agreeing(by_email, lambda c: fold(str(c.get("email") or "")) == email)
    if not matches and e164:
        matches = agreeing(
            by_phone,
            lambda c: to_e164(str(c.get("phone") or ""), phone_region) == e164,
        )
    if not matches:
        contact = "email" if booking.email else "phone"
        raise ClientNotFound(errors=[FieldError(contact, "matches no client of the practice")])
    if len(matches) > 1:
        raise AmbiguousMatch()
    client = next(iter(matches.values()))
    patients = client.get("patients")
    if not isinstance(patients, list):
        patients = oliver.list_patients(str(client.get("id")))
    wanted = fold_name(booking.patient_name or "")
    pets = [p for p in patients if isinstance(p, dict) and fold_name(str(p.get("name"))) == wanted]
    if not pets:
        raise PatientNotFound(
            errors=[FieldError("patient_name", "matches no pet on the client's record")]
        )
    if len(pets) > 1:
        raise AmbiguousMatch()
    return Match(client, pets[0])
