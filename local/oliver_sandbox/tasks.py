"""Staff tasks and AI outbound requests of the simulated Oliver API (reference §4.9-4.10).

Staff tasks: create (201), list with a ``status`` filter (paged, newest first), show, partial
update (moving to ``completed``/``canceled`` stamps ``finalized_at``, back to ``pending`` clears
it), and delete as a soft cancel. AI outbound: create (201 queued; 200 suppressed, or the
existing request for a repeated ``partner_request_id``; 400 for a bad purpose or channel, no
target or a client that cannot be resolved; 429 over the per-practice limit, 120 a minute by
default), list (paged, newest first) and show by Oliver's id or ``partner_request_id``.
"""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from .api import (
    ApiError,
    Config,
    Request,
    Response,
    Route,
    _int_query,
    _json_object,
    _query,
    envelope,
    external_id,
    find_client,
    fold,
    parse_datetime,
    phone_digits,
    utc_stamp,
)
from .state import State

TASK_TYPES = ("task", "rx_refill")
TASK_STATUSES = ("pending", "completed", "canceled")
TASK_FIELDS = (
    "title",
    "description",
    "task_type",
    "status",
    "client_id",
    "patient_id",
    "reference_time_at",
)
PURPOSES = ("scheduling", "callback_followup", "refill", "general")
CHANNELS = ("sms",)
OUTBOUND_STATUSES = ("received", "queued", "in_progress", "completed", "suppressed", "failed")
RECENT_CONTACT = timedelta(hours=72)


def _page(request: Request, rows: list[dict[str, Any]]) -> dict[str, Any]:
    page = _int_query(request, "page", 0)
    per_page = _int_query(request, "per_page", 50)
    if page < 0 or per_page < 1:
        raise ApiError(400, "page must be >= 0 and per_page >= 1")
    per_page = min(per_page, 100)
    return {
        "page": page,
        "per_page": per_page,
        "total_pages": math.ceil(len(rows) / per_page),
        "total_count": len(rows),
        "content": rows[page * per_page : (page + 1) * per_page],
    }


def _optional_text(body: dict[str, Any], name: str) -> str | None:
    value = body.get(name)
    if value is not None and not isinstance(value, str):
        raise ApiError(400, f"{name} must be a string")
    return value


class NotificationRoutes:
    """The routes, over the sandbox's state (``state.staff_tasks``, ``state.ai_outbound``)."""

    def __init__(self, state: State, config: Config, clock: Callable[[], float]) -> None:
        self.state = state
        self.config = config
        self.clock = clock
        self._outbound_times: list[float] = []

    def routes(self) -> list[tuple[str, str, Route]]:
        return [
            ("GET", r"/staff_tasks", self.list_tasks),
            ("POST", r"/staff_tasks", self.create_task),
            ("GET", r"/staff_tasks/(?P<id>[^/]+)", self.show_task),
            ("PUT", r"/staff_tasks/(?P<id>[^/]+)", self.update_task),
            ("DELETE", r"/staff_tasks/(?P<id>[^/]+)", self.delete_task),
            ("GET", r"/ai_outbound/requests", self.list_outbound),
            ("POST", r"/ai_outbound/requests", self.create_outbound),
            ("GET", r"/ai_outbound/requests/(?P<id>[^/]+)", self.show_outbound),
        ]

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)

    # -- staff tasks --------------------------------------------------------------------------

    def _task_fields(self, body: dict[str, Any], creating: bool) -> dict[str, Any]:
        unknown = sorted(set(body) - set(TASK_FIELDS))
        if unknown:
            raise ApiError(400, f"Unknown fields: {', '.join(unknown)}")
        if creating and "status" in body:
            raise ApiError(400, "status cannot be set on create")
        fields: dict[str, Any] = {}
        if "title" in body or creating:
            title = body.get("title")
            if not isinstance(title, str) or not title.strip():
                raise ApiError(400, "title is required")
            fields["title"] = title
        for name in ("description", "client_id", "patient_id"):
            if name in body:
                fields[name] = _optional_text(body, name)
        if "task_type" in body:
            if body["task_type"] not in TASK_TYPES:
                raise ApiError(400, f"task_type must be one of: {', '.join(TASK_TYPES)}")
            fields["task_type"] = body["task_type"]
        if "status" in body:
            if body["status"] not in TASK_STATUSES:
                raise ApiError(400, f"status must be one of: {', '.join(TASK_STATUSES)}")
            fields["status"] = body["status"]
        if body.get("reference_time_at") is not None:
            moment = parse_datetime(body["reference_time_at"])
            if moment is None:
                raise ApiError(400, "reference_time_at must be an ISO 8601 date-time")
            fields["reference_time_at"] = utc_stamp(moment)
        elif "reference_time_at" in body:
            fields["reference_time_at"] = None
        return fields

    def _task(self, task_id: str) -> dict[str, Any]:
        task = next((t for t in self.state.staff_tasks if t["id"] == task_id), None)
        if task is None:
            raise ApiError(self.config.not_found_status, "Staff task not found")
        return task

    def create_task(self, request: Request, _: re.Match[str]) -> Response:
        fields = self._task_fields(_json_object(request), creating=True)
        stamp = utc_stamp(self._now())
        task = {
            "id": str(uuid.uuid4()),
            "task_type": "task",
            "status": "pending",
            "title": "",
            "description": None,
            "client_id": None,
            "patient_id": None,
            "cancellation_allowed": True,
            "override_completion_action_text": None,
            "reference_time_at": None,
            "finalized_at": None,
            "created_at": stamp,
            "updated_at": stamp,
            **fields,
        }
        with self.state.lock:
            self.state.staff_tasks.append(task)
            self.state.save()
        return envelope(dict(task), "Staff task created successfully", 201)

    def list_tasks(self, request: Request, _: re.Match[str]) -> Response:
        status = _query(request, "status")
        if status and status not in TASK_STATUSES:
            raise ApiError(400, f"status must be one of: {', '.join(TASK_STATUSES)}")
        with self.state.lock:
            rows = [dict(t) for t in self.state.staff_tasks if not status or t["status"] == status]
        rows.reverse()
        return envelope(_page(request, rows), "Staff tasks retrieved successfully")

    def show_task(self, _: Request, match: re.Match[str]) -> Response:
        with self.state.lock:
            return envelope(dict(self._task(match["id"])), "Staff task retrieved successfully")

    def update_task(self, request: Request, match: re.Match[str]) -> Response:
        fields = self._task_fields(_json_object(request), creating=False)
        with self.state.lock:
            task = self._task(match["id"])
            self._apply(task, fields)
            self.state.save()
            return envelope(dict(task), "Staff task updated successfully")

    def delete_task(self, _: Request, match: re.Match[str]) -> Response:
        with self.state.lock:
            task = self._task(match["id"])
            self._apply(task, {"status": "canceled"})
            self.state.save()
        return envelope(None, "Staff task deleted successfully")

    def _apply(self, task: dict[str, Any], fields: dict[str, Any]) -> None:
        stamp = utc_stamp(self._now())
        status = fields.get("status")
        if status in ("completed", "canceled") and task["status"] != status:
            task["finalized_at"] = stamp
        elif status == "pending":
            task["finalized_at"] = None
        task.update(fields)
        task["updated_at"] = stamp

    # -- AI outbound --------------------------------------------------------------------------

    def _over_limit(self) -> bool:
        now = self.clock()
        self._outbound_times = [t for t in self._outbound_times if t > now - 60]
        if len(self._outbound_times) >= self.config.ai_outbound_per_minute:
            return True
        self._outbound_times.append(now)
        return False

    def _resolve_client(self, body: dict[str, Any], number: str) -> dict[str, Any]:
        client_id = _optional_text(body, "client_id")
        if client_id:
            client = find_client(self.state, self.config.id_style, client_id)
            if client is None:
                raise ApiError(400, "Client could not be resolved")
            return client
        digits = phone_digits(number)
        matches = [c for c in self.state.clients if digits and phone_digits(c["phone"]) == digits]
        name = _optional_text(body, "client_name")
        if len(matches) > 1 and name:
            matches = [
                c for c in matches if fold(f"{c['first_name']} {c['last_name']}") == fold(name)
            ]
        if len(matches) != 1:
            raise ApiError(400, "Client could not be resolved")
        return matches[0]

    def _suppression(self, purpose: str, client: dict[str, Any], number: str) -> str | None:
        now = self._now()
        digits = phone_digits(number)
        for earlier in self.state.ai_outbound:
            created = parse_datetime(earlier["created_at"])
            if (
                earlier["status"] != "suppressed"
                and phone_digits(earlier["contact_number"]) == digits
                and created is not None
                and created > now - RECENT_CONTACT
            ):
                return "recent_contact"
        if purpose == "scheduling":
            for appointment in self.state.appointments:
                data = appointment["data"]
                start = parse_datetime(data["booking_date"])
                if (
                    appointment["sandbox"]["client_id"] == client["id"]
                    and data["status"] not in ("DELETED", "DECLINED")
                    and start is not None
                    and start > now
                ):
                    return "recent_or_upcoming_appointment"
        return None

    def create_outbound(self, request: Request, _: re.Match[str]) -> Response:
        body = _json_object(request)
        if self._over_limit():
            raise ApiError(429, "Rate limit exceeded: 120 AI outbound requests per minute")
        partner_id = _optional_text(body, "partner_request_id")
        with self.state.lock:
            existing = next(
                (
                    r
                    for r in self.state.ai_outbound
                    if partner_id and r["partner_request_id"] == partner_id
                ),
                None,
            )
        if existing is not None:
            return envelope(dict(existing), "AI outbound request already exists")
        purpose = body.get("purpose")
        if purpose not in PURPOSES:
            raise ApiError(400, f"purpose must be one of: {', '.join(PURPOSES)}")
        channel = body.get("channel", "sms")
        if channel not in CHANNELS:
            raise ApiError(400, "channel must be sms")
        number = _optional_text(body, "contact_number")
        if not number or len(phone_digits(number)) < 7:
            raise ApiError(400, "contact_number is required")
        callback = _optional_text(body, "callback_url")
        if callback and not callback.startswith("https://"):
            raise ApiError(400, "callback_url must be an https URL")
        for name in (
            "client_name",
            "patient_id",
            "patient_name",
            "context",
            "initial_message_script",
        ):
            _optional_text(body, name)
        with self.state.lock:
            client = self._resolve_client(body, number)
            reason = self._suppression(purpose, client, number)
            record = {
                "id": str(uuid.uuid4()),
                "partner_request_id": partner_id,
                "channel": channel,
                "purpose": purpose,
                "status": "suppressed" if reason else "queued",
                "outcome": None,
                "suppression_reason": reason,
                "error_message": None,
                "client_id": external_id("client", client["id"], self.config.id_style),
                "patient_id": body.get("patient_id"),
                "contact_number": number,
                "context": body.get("context"),
                "contacted_at": None,
                "completed_at": utc_stamp(self._now()) if reason else None,
                "created_at": utc_stamp(self._now()),
            }
            self.state.ai_outbound.append(record)
            self.state.save()
        if reason:
            return envelope(dict(record), "AI outbound request suppressed")
        return envelope(dict(record), "AI outbound request queued", 201)

    def list_outbound(self, request: Request, _: re.Match[str]) -> Response:
        status = _query(request, "status")
        if status and status not in OUTBOUND_STATUSES:
            raise ApiError(400, f"status must be one of: {', '.join(OUTBOUND_STATUSES)}")
        with self.state.lock:
            rows = [dict(r) for r in self.state.ai_outbound if not status or r["status"] == status]
        rows.reverse()
        return envelope(_page(request, rows), "AI outbound requests retrieved successfully")

    def show_outbound(self, _: Request, match: re.Match[str]) -> Response:
        wanted = match["id"]
        with self.state.lock:
            found = next(
                (r for r in self.state.ai_outbound if wanted in (r["id"], r["partner_request_id"])),
                None,
            )
        if found is None:
            raise ApiError(self.config.not_found_status, "AI outbound request not found")
        return envelope(dict(found), "AI outbound request retrieved successfully")
