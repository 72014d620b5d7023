"""The booking page's own configuration, read from the environment once per container.

The booking settings (``booking.config``: the practice's name, phone and zone, allowed origins,
limits) are the API's and are read from there; these are the variables only the page reads. A
malformed value is ``ConfigurationError`` naming the variable, never its value.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from booking.config import read_environment

DEFAULT_ACCENT = "#0b5cad"
_HEX = re.compile(r"#?([0-9a-fA-F]{3}|[0-9a-fA-F]{6})")
# No quotes, spaces or angle brackets: the URL goes into an attribute and the CSP.
_LOGO = re.compile(r"https://[^\s\"'<>;,]+|http://(127\.0\.0\.1|localhost)(:\d+)?/[^\s\"'<>;,]*")
_SITE_KEY = re.compile(r"[0-9A-Za-z_-]{1,100}")


class _Invalid(ValueError):
    pass


@dataclass(frozen=True)
class PageSettings:
    practice_address: str = ""
    practice_logo_url: str = ""
    #: The practice's colour (``#rrggbb``): buttons and the chosen day and time.
    practice_accent: str = DEFAULT_ACCENT
    #: Secrets Manager secret holding the key of form tokens and calendar links.
    form_key_secret_id: str | None = None
    #: Cloudflare Turnstile's site key: with ``CAPTCHA_SECRET_ID`` set too, the page shows the
    #: widget (and visitors without JavaScript the practice's phone instead of the form).
    turnstile_site_key: str = ""


def _text(value: str) -> str:
    return " ".join(value.split())


def _accent(value: str) -> str:
    match = _HEX.fullmatch(value.strip())
    if not match:
        raise _Invalid()
    digits = match.group(1).lower()
    if len(digits) == 3:
        digits = "".join(c * 2 for c in digits)
    return f"#{digits}"


def _logo(value: str) -> str:
    if not _LOGO.fullmatch(value.strip()):
        raise _Invalid()
    return value.strip()


def _site_key(value: str) -> str:
    if not _SITE_KEY.fullmatch(value.strip()):
        raise _Invalid()
    return value.strip()


VARIABLES: dict[str, tuple[str, Callable[[str], Any]]] = {
    "PRACTICE_ADDRESS": ("practice_address", _text),
    "PRACTICE_LOGO_URL": ("practice_logo_url", _logo),
    "PRACTICE_ACCENT": ("practice_accent", _accent),
    "PAGE_FORM_KEY_SECRET_ID": ("form_key_secret_id", str.strip),
    "PAGE_TURNSTILE_SITE_KEY": ("turnstile_site_key", _site_key),
}


def load_page_settings(environ: Mapping[str, str]) -> PageSettings:
    """Settings from an environment; empty values count as unset."""
    return PageSettings(**read_environment(environ, VARIABLES))


@lru_cache(maxsize=1)
def page_settings() -> PageSettings:
    return load_page_settings(os.environ)
