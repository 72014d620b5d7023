"""What every outbound HTTP client of this process shares: one verified TLS context.

Building a context parses the whole CA bundle (tens of milliseconds, the largest single cost of
building an httpx client). Oliver's client, the CAPTCHA check and the consumers' clients each
need one; a Lambda container builds it once, and only when one of them talks HTTPS (the local
stand-ins are plain HTTP). ``SSL_CERT_FILE`` / ``SSL_CERT_DIR`` are honoured, as httpx honours
them for a client that builds its own.
"""

from __future__ import annotations

import ssl
from functools import cache

import httpx

from booking.version import VERSION

USER_AGENT = f"booking-webhook/{VERSION}"


@cache
def tls_context() -> ssl.SSLContext:
    return httpx.create_ssl_context(trust_env=True)


def verify_for(url: str) -> ssl.SSLContext | bool:
    """What a client that only talks to ``url``'s origin (redirects are never followed) verifies
    with: the shared context for HTTPS; nothing for plain HTTP, which has no certificate."""
    return tls_context() if url.lower().startswith("https://") else False
