"""Adapter for Cloudflare Turnstile's ``siteverify`` (optional CAPTCHA on form posts)."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from booking import outbound
from booking.budget import Budget
from booking.errors import CaptchaFailed, UpstreamUnavailable

#: Turnstile answers in well under a second; a visitor should not wait longer than this.
VERIFY_TIMEOUT = 3.0


class CaptchaVerifier:
    def __init__(self, verify_url: str, secret: Callable[[], str]) -> None:
        self.verify_url = verify_url
        self._secret = secret
        # Its own client: Turnstile gets none of Oliver's headers, and Oliver's pool is Oliver's.
        self.http = httpx.Client(
            timeout=httpx.Timeout(VERIFY_TIMEOUT, connect=2.0),
            headers={"User-Agent": outbound.USER_AGENT},
            follow_redirects=False,
            transport=httpx.HTTPTransport(retries=1, verify=outbound.verify_for(verify_url)),
        )

    def verify(self, token: str | None, remote_ip: str | None, budget: Budget) -> None:
        if not token:
            raise CaptchaFailed()
        form = {"secret": self._secret(), "response": token}
        if remote_ip:
            form["remoteip"] = remote_ip
        try:
            response = self.http.post(
                self.verify_url, data=form, timeout=budget.timeout(VERIFY_TIMEOUT)
            )
            answer = response.json()
        except (httpx.TransportError, ValueError):
            raise UpstreamUnavailable(retry_after=5) from None
        codes = answer.get("error-codes") if isinstance(answer, dict) else None
        if response.status_code >= 500 or (isinstance(codes, list) and "internal-error" in codes):
            # The verifier's own failure, not the visitor's: retry later.
            raise UpstreamUnavailable(retry_after=5)
        if not isinstance(answer, dict) or answer.get("success") is not True:
            raise CaptchaFailed()
