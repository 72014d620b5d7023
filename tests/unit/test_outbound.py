"""What every outbound client verifies: Oliver's and the CAPTCHA check's HTTPS certificates
against the CA bundle, parsed once a process; plain HTTP (the local stand-ins) has none."""

from __future__ import annotations

import ssl

import pytest


def test_an_https_origin_is_verified_with_the_one_shared_context() -> None:
    from booking import outbound

    context = outbound.verify_for("https://api.oliver.example/services/core/open_api/v1")

    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname
    assert context.cert_store_stats()["x509_ca"] > 0  # the CA bundle is loaded
    assert outbound.verify_for("HTTPS://challenges.cloudflare.com/turnstile") is context


@pytest.mark.parametrize("url", ["http://127.0.0.1:8000/services", "http://localhost/api"])
def test_a_plain_http_origin_builds_no_tls_context(url: str) -> None:
    from booking import outbound

    assert outbound.verify_for(url) is False
