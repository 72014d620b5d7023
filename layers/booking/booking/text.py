"""The normalisers every matcher shares: folded names, digits, times, names read from one field,
and the checks that keep control characters out of what reaches the practice system."""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, datetime, tzinfo

#: C0 controls, DEL, C1 controls, and the bidirectional overrides and isolates.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
#: The same, with tab and newline allowed (a note is multi-line text).
_CONTROL_IN_TEXT = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_PUNCTUATION = re.compile(r"[^\w\s]|_")


def fold(text: str) -> str:
    """Case-, accent- and spacing-insensitive form of a name or address."""
    decomposed = unicodedata.normalize("NFKD", text)
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(bare.casefold().split())


def fold_name(text: str) -> list[str]:
    """A person's or pet's name as folded words, punctuation dropped ("O'Brien" -> "obrien",
    "Smith-Jones" -> "smith", "jones")."""
    folded = fold(text).replace("'", "").replace("\u2019", "")
    return _PUNCTUATION.sub(" ", folded).split()


def split_full_name(name: str) -> tuple[list[str], list[str]]:
    """(first-name words, last-name words) of a full name: "Last, First" or "First ... Last"
    (middle names are ignored)."""
    if "," in name:
        last, _, first = name.partition(",")
        return fold_name(first)[:1], fold_name(last)
    words = fold_name(name)
    if len(words) < 2:
        return words[:1], words[1:]
    return words[:1], words[-1:]


def digits(text: str | None) -> str:
    return "".join(ch for ch in text or "" if ch.isdigit())


def has_control_characters(text: str, multiline: bool = False) -> bool:
    return bool((_CONTROL_IN_TEXT if multiline else _CONTROL).search(text))


def parse_time(value: object, zone: tzinfo = UTC) -> datetime | None:
    """An ISO 8601 time (``Z`` allowed); one without an offset is read in ``zone``."""
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=zone)


def iso(moment: datetime) -> str:
    """``moment`` as ISO 8601 in UTC, to the second (``...Z``)."""
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


_EMAIL_LIKE = re.compile(r"[^\s@]+@[^\s@]+")
_DIGIT_RUN = re.compile(r"\+?\(?\d[\d\s().-]{5,}\d")
#: A capitalised word after the first: most likely a name (upstream may print a client's).
_PROPER_NOUN = re.compile(r"(?<=\s)[^\W\d_][\w'\u2019-]*", re.UNICODE)
_LONG_TOKEN = re.compile(r"[A-Za-z0-9_\-.=+/]{24,}")


def scrub(text: object, limit: int = 200) -> str:
    """Upstream's words made fit for our log: one line, no emails, phone-like numbers, long
    tokens or capitalised words after the first (names), at most ``limit`` characters."""
    line = " ".join(str(text).split()) if isinstance(text, str) else ""
    line = _EMAIL_LIKE.sub("<email>", line)
    line = _DIGIT_RUN.sub("<number>", line)
    line = _LONG_TOKEN.sub("<token>", line)
    line = _PROPER_NOUN.sub(lambda m: "<name>" if m.group(0)[0].isupper() else m.group(0), line)
    return _CONTROL.sub("", line)[:limit]
