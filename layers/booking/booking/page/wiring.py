"""Builds the booking page once per container from the booking settings, the page's own
settings and the container's shared adapters (the booking service, the throttle, the secrets)."""

from __future__ import annotations

import os
import re
from functools import lru_cache
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from booking import container
from booking.page.colours import Palette
from booking.page.render import Practice
from booking.page.settings import load_page_settings
from booking.page.signing import Signer
from booking.page.views import BookingPage, page_service

if TYPE_CHECKING:
    from booking.service import BookingService

#: Only well-formed origins reach the Content-Security-Policy (a stray ``;`` would add a directive).
_ORIGIN = re.compile(r"https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?")

#: (the shared service it was built on, the page): a new container's service means a new page.
_built: list[tuple[BookingService, BookingPage]] = []


@lru_cache(maxsize=1)
def _process_form_key() -> bytes:
    from booking.telemetry import logger

    logger.warning("PAGE_FORM_KEY_SECRET_ID is not set: form tokens use a per-container key")
    return os.urandom(32)


def booking_page() -> BookingPage:
    """The page of this container (built again when the container starts afresh: tests and the
    local stack start new containers in one process)."""
    shared = container.booking_service()
    if _built and _built[0][0] is shared:
        return _built[0][1]
    page = _build(shared)
    _built[:] = [(shared, page)]
    return page


def _build(shared: BookingService) -> BookingPage:
    settings = container.settings()
    own = load_page_settings(os.environ)
    turnstile = bool(own.turnstile_site_key and settings.captcha_secret_id)
    secret_id = own.form_key_secret_id

    def form_key() -> bytes:
        if not secret_id:
            return _process_form_key()
        value = container.read_secret(secret_id, "PAGE_FORM_KEY_SECRET_ID")
        return str(value).strip().encode()

    return BookingPage(
        service=page_service(shared, turnstile),
        signer=Signer(form_key),
        practice=Practice(
            name=settings.practice_name,
            phone=settings.practice_phone,
            address=own.practice_address,
            logo_url=own.practice_logo_url,
            zone=ZoneInfo(settings.practice_timezone),
        ),
        palette=Palette.for_accent(own.practice_accent),
        frame_ancestors=tuple(o for o in settings.allowed_origins if _ORIGIN.fullmatch(o)),
        throttle=container.throttle().check_ip,
        page_limit=settings.open_times_per_ip,
        booking_limit=settings.bookings_per_ip,
        honeypot_field=settings.honeypot_field,
        turnstile_site_key=own.turnstile_site_key if turnstile else "",
    )
