"""Phone numbers to E.164, the form Oliver's client lookup matches best."""

from __future__ import annotations


def to_e164(phone: str, default_region: str) -> str | None:
    # phonenumbers is imported here, not at module import: only booking by pet name needs it,
    # and its metadata costs cold-start time on every other path.
    import phonenumbers

    try:
        number = phonenumbers.parse(phone, default_region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
