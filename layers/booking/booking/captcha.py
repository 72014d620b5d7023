"""Adapter for Cloudflare Turnstile's ``siteverify`` (optional CAPTCHA on form posts)."""

from __future__ import annotations

import httpx

from booking.budget import Budget
from booking.errors import CaptchaFailed, UpstreamUnavailable

#: Turnstile answers in well under a second; a visitor should not wait longer than this.
VERIFY_TIMEOUT = 3.0


class CaptchaVerifier:
    def __init__(self, verify_url: str, http: httpx.Client) -> None:
        self.verify_url = verify_url
        self.http = http

    def verify(self, secret: str, token: str | None, remote_ip: str | None, budget: Budget) -> None:
        if not token:
            raise CaptchaFailed()
        form = {"secret": secret, "response": token}
        if remote_ip:
            form["remoteip"] = remote_ip
        try:
            response = self.http.post(
                self.verify_url, data=form, timeout=budget.timeout(VERIFY_TIMEOUT)
            )
            answer = response.json()
        except (httpx.TransportError, ValueError):
            raise UpstreamUnavailable(retry_after=5) from None
        if not isinstance(answer, dict) or answer.get("success") is not True:
            raise CaptchaFailed()
