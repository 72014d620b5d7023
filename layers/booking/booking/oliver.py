"""Adapter for Oliver's partner API (httpx). One client per container, reused (keep-alive).

Upstream has no idempotency of its own, so the create is sent again only when the request
provably never reached it (the connection was never made); every other doubt is reported as
``CreateOutcomeUnknown`` for the caller to resolve with a lookup.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import httpx

from booking import outbound
from booking.budget import Budget
from booking.credentials import CredentialProvider
from booking.errors import (
    BookingRejected,
    ConfigurationError,
    CreateOutcomeUnknown,
    RateLimited,
    ReadRefused,
    SlotUnavailable,
    Unauthorized,
    UpstreamAuthFailed,
    UpstreamError,
    UpstreamUnavailable,
    clamp_retry_after,
)
from booking.text import scrub

SIGN_IN_PATH = "/services/user/v1/auth/sign-in"
#: Per-call caps; the invocation's remaining time lowers them further.
READ_TIMEOUT = 4.0
CREATE_TIMEOUT = 6.0
#: Time kept back after a create for the lookup that settles an unknown outcome.
LOOKUP_RESERVE = 2.0
READ_ATTEMPTS = 3
DEFAULT_RETRY_AFTER = 30


def retry_after_seconds(response: httpx.Response, default: int = DEFAULT_RETRY_AFTER) -> int:
    """Upstream's ``Retry-After`` (seconds or an HTTP date), kept within our own bounds."""
    value = response.headers.get("retry-after", "").strip()
    if value.isascii() and value.isdigit():
        return clamp_retry_after(int(value[:6]))
    if value:
        try:
            return clamp_retry_after(parsedate_to_datetime(value).timestamp() - time.time())
        except (TypeError, ValueError, OverflowError):
            pass
    return default


def _log_refusal(response: httpx.Response, envelope: dict[str, Any] | None) -> None:
    """Upstream's own words go to our log only, scrubbed of anything personal."""
    from booking.telemetry import logger

    message = envelope.get("message") if envelope else None
    logger.info(
        "upstream refused the create",
        extra={"upstream_status": response.status_code, "upstream_message": scrub(message)},
    )


def _envelope(response: httpx.Response) -> dict[str, Any] | None:
    """The ``{success, data, message}`` envelope, or None when the body is not one."""
    try:
        body = response.json()
    except ValueError:
        return None
    if not isinstance(body, dict) or not isinstance(body.get("success"), bool):
        return None
    return body


class OliverClient:
    def __init__(self, api_url: str, http: httpx.Client) -> None:
        self.api_url = api_url.rstrip("/")
        parts = urlsplit(self.api_url)
        self.sign_in_url = f"{parts.scheme}://{parts.netloc}{SIGN_IN_PATH}"
        self.http = http

    @staticmethod
    def build_http_client(api_url: str) -> httpx.Client:
        """The connection pool for Oliver at ``api_url`` (sign-in is on the same origin)."""
        return httpx.Client(
            timeout=httpx.Timeout(READ_TIMEOUT, connect=2.0),
            limits=httpx.Limits(max_keepalive_connections=4, keepalive_expiry=55),
            headers={"Accept": "application/json", "User-Agent": outbound.USER_AGENT},
            follow_redirects=False,
            verify=outbound.verify_for(api_url),
        )

    def _headers(self, token: str, location_id: str, request_id: str) -> dict[str, str]:
        return {
            "Authorization": f"Bearer {token}",
            "X-Client-Id": location_id,
            "Content-Type": "application/json",
            "Accept": "application/json",
            "X-Request-Id": request_id,
        }

    # -- sign-in -----------------------------------------------------------------------------

    def sign_in(self, username: str, password: str, budget: Budget) -> str:
        body = {"username": username, "password": password, "role": "ROLE_API"}
        response = self._send_read("POST", self.sign_in_url, budget, json=body)
        envelope = _envelope(response)
        if response.status_code in (400, 401, 403):
            raise UpstreamAuthFailed()
        if response.status_code != 200 or envelope is None or not envelope["success"]:
            raise UpstreamError()
        token = (envelope.get("data") or {}).get("token")
        if not isinstance(token, str) or not token:
            raise UpstreamError()
        return token

    # -- reads: retried with backoff on connect errors, 429 and 5xx, within the budget --------

    def _send_read(self, method: str, url: str, budget: Budget, **kwargs: Any) -> httpx.Response:
        last_retry_after = DEFAULT_RETRY_AFTER
        for attempt in range(READ_ATTEMPTS):
            try:
                response = self.http.request(
                    method, url, timeout=budget.timeout(READ_TIMEOUT), **kwargs
                )
            except httpx.TransportError:
                response = None
            if response is not None and response.status_code < 500 and response.status_code != 429:
                return response
            wait = 0.2 * (3**attempt)
            if response is not None and response.status_code == 429:
                last_retry_after = retry_after_seconds(response)
                wait = max(wait, float(last_retry_after))
            if attempt + 1 == READ_ATTEMPTS or not budget.allows(wait + 0.5):
                if response is not None and response.status_code == 429:
                    raise RateLimited(retry_after=last_retry_after)
                raise UpstreamUnavailable(retry_after=10)
            time.sleep(wait)
        raise UpstreamUnavailable(retry_after=10)  # pragma: no cover - loop always returns/raises

    def _read(
        self,
        method: str,
        path: str,
        token: str,
        location_id: str,
        request_id: str,
        budget: Budget,
        by_id: bool = False,
        **kwargs: Any,
    ) -> Any:
        response = self._send_read(
            method,
            f"{self.api_url}{path}",
            budget,
            headers=self._headers(token, location_id, request_id),
            **kwargs,
        )
        status = response.status_code
        if status == 401:
            raise Unauthorized()
        if by_id and status in (400, 404):
            return None  # an unknown id: Oliver documents neither status for it
        if status in (400, 403, 404):
            # Our searches are well-formed by construction (types checked, dates not in the
            # past), so a refusal is Oliver not knowing the practice we name: a wrong location.
            raise ConfigurationError(
                f"Oliver refused {method} {path.split('?')[0]} with {status}: check "
                "OLIVER_LOCATION_ID or the secret's location_id (X-Client-Id)"
            )
        envelope = _envelope(response)
        if envelope is None:
            raise UpstreamError()
        if status >= 400 or not envelope["success"]:
            # Upstream's words stay out of the answer.
            raise UpstreamError()
        return envelope.get("data")

    def open_times(
        self, query: dict[str, str], token: str, location_id: str, request_id: str, budget: Budget
    ) -> list[dict[str, Any]]:
        data = self._read("POST", "/open_times", token, location_id, request_id, budget, json=query)
        if not isinstance(data, list):
            raise UpstreamError()
        return data

    def find_clients(
        self, params: dict[str, str], token: str, location_id: str, request_id: str, budget: Budget
    ) -> list[dict[str, Any]]:
        data = self._read("GET", "/clients", token, location_id, request_id, budget, params=params)
        return data if isinstance(data, list) else []

    def get_client(
        self, client_id: str, token: str, location_id: str, request_id: str, budget: Budget
    ) -> dict[str, Any] | None:
        data = self._read(
            "GET", f"/clients/{client_id}", token, location_id, request_id, budget, by_id=True
        )
        return data if isinstance(data, dict) else None

    def list_patients(
        self, client_id: str, token: str, location_id: str, request_id: str, budget: Budget
    ) -> list[dict[str, Any]]:
        params = {"client_id": client_id}
        data = self._read("GET", "/patients", token, location_id, request_id, budget, params=params)
        return data if isinstance(data, list) else []

    def list_appointments(
        self,
        updated_from: str,
        updated_to: str,
        token: str,
        location_id: str,
        request_id: str,
        budget: Budget,
        max_pages: int = 5,
    ) -> list[dict[str, Any]]:
        params = {"updated_at_start": updated_from, "updated_at_end": updated_to}
        return self._paged(
            "/appointments", params, token, location_id, request_id, budget, max_pages
        )

    def _paged(
        self,
        path: str,
        params: dict[str, str],
        token: str,
        location_id: str,
        request_id: str,
        budget: Budget,
        max_pages: int,
    ) -> list[dict[str, Any]]:
        """Every row of a paged list (``{content, total_pages}``), up to ``max_pages`` of 100."""
        found: list[dict[str, Any]] = []
        for page in range(max_pages):
            query = {**params, "page": str(page), "per_page": "100"}
            data = self._read("GET", path, token, location_id, request_id, budget, params=query)
            if not isinstance(data, dict):
                raise UpstreamError()
            content = data.get("content") or []
            found.extend(item for item in content if isinstance(item, dict))
            if page + 1 >= int(data.get("total_pages") or 0):
                break
        return found

    # -- the create: never blindly retried -----------------------------------------------------

    def create_appointment(
        self,
        body: dict[str, Any],
        token: str,
        location_id: str,
        request_id: str,
        budget: Budget,
    ) -> dict[str, Any]:
        response = self._post_unrepeatable(
            "/appointments",
            body,
            self._headers(token, location_id, request_id),
            lambda: budget.timeout(CREATE_TIMEOUT, keep=LOOKUP_RESERVE),
            lambda: budget.allows(LOOKUP_RESERVE + 0.5),
        )
        return self._created(response)

    def _post_unrepeatable(
        self,
        path: str,
        body: dict[str, Any],
        headers: dict[str, str],
        timeout: Callable[[], float],
        may_wait: Callable[[], bool],
    ) -> httpx.Response:
        """A POST Oliver has no idempotency for: sent again only when no connection was made
        (upstream cannot have seen it); any other doubt is ``CreateOutcomeUnknown``, for the
        caller to settle with a lookup."""
        attempts = 3
        for attempt in range(attempts):
            try:
                return self.http.post(
                    f"{self.api_url}{path}", json=body, headers=headers, timeout=timeout()
                )
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout):
                if attempt + 1 == attempts or not may_wait():
                    raise UpstreamUnavailable(retry_after=10) from None
                time.sleep(0.2 * (attempt + 1))
            except httpx.TransportError as exc:
                raise CreateOutcomeUnknown() from exc
        raise AssertionError("unreachable")  # pragma: no cover

    @staticmethod
    def _answer_to_post(response: httpx.Response) -> dict[str, Any] | None:
        """What every answer to a POST Oliver cannot deduplicate means first: a 401 is a
        credential to refresh, a 429 a wait, a 5xx an outcome unknown; else its envelope."""
        status = response.status_code
        if status == 401:
            raise Unauthorized()
        if status == 429:
            raise RateLimited(retry_after=retry_after_seconds(response))
        if status >= 500:
            raise CreateOutcomeUnknown()
        return _envelope(response)

    def _created(self, response: httpx.Response) -> dict[str, Any]:
        status = response.status_code
        envelope = self._answer_to_post(response)
        if 200 <= status < 300:
            if envelope is None:
                raise CreateOutcomeUnknown()
            if not envelope["success"]:
                _log_refusal(response, envelope)
                raise BookingRejected()
            data = envelope.get("data")
            if not isinstance(data, dict) or data.get("id") in (None, ""):
                raise CreateOutcomeUnknown()
            return envelope
        _log_refusal(response, envelope)
        if status == 403:
            raise ConfigurationError(
                "Oliver refused POST /appointments with 403: check OLIVER_LOCATION_ID or the "
                "secret's location_id (X-Client-Id)"
            )
        if status == 409:
            raise SlotUnavailable()
        if status in (400, 404, 422):
            raise BookingRejected()
        raise UpstreamError()

    # -- staff tasks and AI outbound (the notification consumers) ------------------------------

    def create_staff_task(
        self,
        body: dict[str, Any],
        token: str,
        location_id: str,
        request_id: str,
        budget: Budget,
    ) -> dict[str, Any]:
        """``POST /staff_tasks``. Oliver has no idempotency for it, so, like the create of an
        appointment, it is sent again only when no connection was made; a doubt after sending
        (timeout, 5xx, an unreadable 2xx) is ``CreateOutcomeUnknown``: the caller looks for the
        task before trying again. A 400 is ``ReadRefused``."""
        response = self._post_unrepeatable(
            "/staff_tasks",
            body,
            self._headers(token, location_id, request_id),
            lambda: budget.timeout(READ_TIMEOUT),
            lambda: budget.allows(1.0),
        )
        status = response.status_code
        envelope = self._answer_to_post(response)
        if 200 <= status < 300:
            data = envelope.get("data") if envelope and envelope["success"] else None
            if not isinstance(data, dict):
                raise CreateOutcomeUnknown()
            return data
        if status == 400:
            raise ReadRefused()
        raise UpstreamError()

    def list_staff_tasks(
        self,
        params: dict[str, str],
        token: str,
        location_id: str,
        request_id: str,
        budget: Budget,
        max_pages: int = 3,
    ) -> list[dict[str, Any]]:
        """``GET /staff_tasks`` (``status`` filter), up to ``max_pages`` pages of 100."""
        return self._paged(
            "/staff_tasks", params, token, location_id, request_id, budget, max_pages
        )

    def request_ai_outbound(
        self,
        body: dict[str, Any],
        token: str,
        location_id: str,
        request_id: str,
        budget: Budget,
    ) -> dict[str, Any]:
        """``POST /ai_outbound/requests``. Safe to send again: a repeated
        ``partner_request_id`` returns the existing request, so it is retried like a read
        (429 and 5xx with backoff, within the budget). A 400 (nobody to text, or a client Oliver
        cannot resolve) is ``ReadRefused``: the request's own fault, not the configuration's."""
        response = self._send_read(
            "POST",
            f"{self.api_url}/ai_outbound/requests",
            budget,
            headers=self._headers(token, location_id, request_id),
            json=body,
        )
        status = response.status_code
        if status == 401:
            raise Unauthorized()
        if status == 400:
            raise ReadRefused()
        envelope = _envelope(response)
        data = envelope.get("data") if envelope and envelope["success"] else None
        if status >= 300 or not isinstance(data, dict):
            raise UpstreamError()
        return data


class OliverGateway:
    """Oliver for one request: callers say what they want, the gateway brings the credentials.
    After a 401 it reads the secret afresh (or signs in again) and retries once; a second 401
    is ``UpstreamAuthFailed``."""

    def __init__(
        self,
        client: OliverClient,
        credentials: CredentialProvider,
        request_id: str,
        budget: Budget,
    ) -> None:
        self.client = client
        self.api_url = client.api_url
        self._credentials = credentials
        self._request_id = request_id
        self.budget = budget

    def _call(self, operation: Callable[..., Any], *args: Any) -> Any:
        try:
            credentials = self._credentials.get(self.budget)
            return operation(
                *args, credentials.token, credentials.location_id, self._request_id, self.budget
            )
        except Unauthorized:
            pass
        try:
            credentials = self._credentials.refresh(self.budget)
            return operation(
                *args, credentials.token, credentials.location_id, self._request_id, self.budget
            )
        except Unauthorized:
            raise UpstreamAuthFailed() from None

    def open_times(self, query: dict[str, str]) -> list[dict[str, Any]]:
        return self._call(self.client.open_times, query)  # type: ignore[no-any-return]

    def find_clients(self, params: dict[str, str]) -> list[dict[str, Any]]:
        return self._call(self.client.find_clients, params)  # type: ignore[no-any-return]

    def get_client(self, client_id: str) -> dict[str, Any] | None:
        return self._call(self.client.get_client, client_id)  # type: ignore[no-any-return]

    def list_patients(self, client_id: str) -> list[dict[str, Any]]:
        return self._call(self.client.list_patients, client_id)  # type: ignore[no-any-return]

    def list_appointments(self, updated_from: str, updated_to: str) -> list[dict[str, Any]]:
        return self._call(  # type: ignore[no-any-return]
            self.client.list_appointments, updated_from, updated_to
        )

    def create_appointment(self, body: dict[str, Any]) -> dict[str, Any]:
        return self._call(self.client.create_appointment, body)  # type: ignore[no-any-return]

    def create_staff_task(self, body: dict[str, Any]) -> dict[str, Any]:
        return self._call(self.client.create_staff_task, body)  # type: ignore[no-any-return]

    def list_staff_tasks(self, params: dict[str, str]) -> list[dict[str, Any]]:
        return self._call(self.client.list_staff_tasks, params)  # type: ignore[no-any-return]

    def request_ai_outbound(self, body: dict[str, Any]) -> dict[str, Any]:
        return self._call(self.client.request_ai_outbound, body)  # type: ignore[no-any-return]
