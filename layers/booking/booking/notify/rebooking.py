"""Did the visitor book by themselves after a failed attempt? Then nobody needs to call back.

Decided on Oliver's own appointments (``GET /appointments`` updated since the failure), so it
sees bookings made any way, not only through this stack. An appointment counts when it was
created after the failure (a minute of clock skew allowed), is not deleted or declined, belongs
to the same visitor (the same email, the same phone number, the same first and last name, or
the same PIMS client id), and is for the same pet (folded name, or PIMS patient id) or at the
same time. Another pet's booking at another time does not count.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from booking.notify.events import Visitor
from booking.oliver import OliverGateway
from booking.text import digits, fold, fold_name, iso, parse_time

SKEW = timedelta(minutes=1)
NOT_BOOKED = {"DELETED", "DECLINED"}


def _phone(value: object) -> str:
    number = digits(value if isinstance(value, str) else None)
    return number[-10:] if len(number) >= 7 else ""


def same_visitor(visitor: Visitor, row: dict[str, object]) -> bool:
    email = fold(visitor.email or "")
    if email and email == fold(str(row.get("client_email") or "")):
        return True
    phone = _phone(visitor.phone)
    if phone and phone == _phone(row.get("client_phone")):
        return True
    if visitor.client_remote_id and visitor.client_remote_id == row.get("remote_client_id"):
        return True
    name = fold_name(visitor.full_name())
    theirs = fold_name(f"{row.get('client_first_name') or ''} {row.get('client_last_name') or ''}")
    return len(name) >= 2 and name[:1] + name[-1:] == theirs[:1] + theirs[-1:]


def same_pet_or_time(visitor: Visitor, row: dict[str, object]) -> bool:
    pet = fold_name(visitor.patient_name or "")
    if pet and pet == fold_name(str(row.get("patient_name") or "")):
        return True
    if visitor.patient_remote_id and visitor.patient_remote_id == row.get("remote_patient_id"):
        return True
    wanted, booked = parse_time(visitor.start), parse_time(row.get("booking_date"))
    return wanted is not None and booked is not None and wanted == booked


def booked_since(
    visitor: Visitor, since: datetime, oliver: OliverGateway, now: datetime | None = None
) -> bool:
    start = since - SKEW
    rows = oliver.list_appointments(iso(start), iso(now or datetime.now(UTC)))
    for row in rows:
        created = parse_time(row.get("created_at"))
        if created is not None and created < start:
            continue
        if str(row.get("status") or "").upper() in NOT_BOOKED:
            continue
        if same_visitor(visitor, row) and same_pet_or_time(visitor, row):
            return True
    return False
