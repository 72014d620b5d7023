"""The simulated Oliver partner API: routing and behaviour, independent of the HTTP plumbing."""

from __future__ import annotations

import json
import math
import re
import threading
import time
import unicodedata
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from email.message import Message
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from . import seed, slots, tokens
from .state import State

AUTH_PATH = "/services/user/v1/auth/sign-in"
API_PREFIX = "/services/core/open_api/v1"
CREATE_STATUSES = ("REQUESTED", "ACCEPTED", "CONFIRMED")
ID_STYLES = ("numeric", "string", "uuid")
#: Prefixes of the ``string`` id style, per kind of record.
ID_PREFIXES = {"client": "cli_", "patient": "pat_", "appointment": "apt_"}
#: The ``uuid`` id style: version-5 UUIDs of the numeric id in this namespace (stable).
ID_NAMESPACE = uuid.UUID("0d6f2a57-6c1e-4c1b-9f5e-2b7f4e8a9c31")
#: The limiter's window.
RATE_WINDOW_SECONDS = 60.0


@dataclass
class Config:
    """Behaviour switches: the interpretations of what the docs leave unknown (reference §6).
    Set them as ``SandboxServer(...)`` keyword arguments, ``python -m local.oliver_sandbox``
    flags, or at run time with ``POST /__sandbox/settings``; ``POST /__sandbox/reset`` restores
    the values the sandbox started with. The defaults are the sandbox's historical behaviour."""

    token_ttl_seconds: float = 3600
    #: The create's success status (documented 200; staff tasks document 201).
    create_status: int = 200
    #: A taken, stale or made-up slot on the create: 400 (most likely), 409 or 422.
    slot_taken_status: int = 400
    require_client_id_on_create: bool = True
    #: A missing or unknown ``X-Client-Id``: 400, 401, 403 or 404.
    client_id_error_status: int = 400
    #: An unknown id on the get-by-id routes: 400 or 404.
    not_found_status: int = 404
    ai_outbound_per_minute: int = 120
    #: How client, patient and appointment ids look: ``numeric`` strings (and integers in the
    #: create, as documented), non-numeric ``string``s or ``uuid``s; the seed's ids are mapped.
    id_style: str = "numeric"
    #: A sign-in revokes every token issued before it (401 for them from then on).
    revoke_on_sign_in: bool = False
    #: A new appointment shows in ``GET /appointments`` only this many seconds after its create.
    list_delay_seconds: float = 0
    #: Core API requests a practice may make per minute (0: no limit); over it 429.
    rate_limit_per_minute: int = 0
    #: Whether that 429 carries ``Retry-After`` (seconds until the window has room again).
    rate_limit_retry_after: bool = True
    #: Days an open-times search covers.
    horizon_days: int = seed.SEARCH_DAYS
    #: The practice's IANA zone: opening hours, open-times dates and offsets are local there.
    time_zone: str = seed.TIME_ZONE
    slot_minutes: int = seed.SLOT_MINUTES
    #: A create by name that matches no client creates the client (``client_type`` NEW, no
    #: patient needed); otherwise such a create is 400 "Client not found".
    new_clients_by_name: bool = False
    #: The next this-many creates of a slot that an open-times answer offered find it taken
    #: (``slot_taken_status``), as if another visitor had just booked it; it is gone afterwards.
    taken_before_booking: int = 0

    def schedule(self) -> slots.Schedule:
        return slots.Schedule(ZoneInfo(self.time_zone), self.slot_minutes)


#: What each switch may be set to (types; and the allowed values or a check).
_CHOICES: dict[str, tuple[type | tuple[type, ...], Callable[[Any], bool], str]] = {
    "token_ttl_seconds": ((int, float), lambda v: v > 0, "a positive number"),
    "create_status": (int, lambda v: v in (200, 201), "200 or 201"),
    "slot_taken_status": (int, lambda v: v in (400, 409, 422), "400, 409 or 422"),
    "require_client_id_on_create": (bool, lambda v: True, "a boolean"),
    "client_id_error_status": (int, lambda v: v in (400, 401, 403, 404), "400, 401, 403 or 404"),
    "not_found_status": (int, lambda v: v in (400, 404), "400 or 404"),
    "ai_outbound_per_minute": (int, lambda v: v >= 0, "a non-negative integer"),
    "id_style": (str, lambda v: v in ID_STYLES, "numeric, string or uuid"),
    "revoke_on_sign_in": (bool, lambda v: True, "a boolean"),
    "list_delay_seconds": ((int, float), lambda v: 0 <= v <= 3600, "0 to 3600 seconds"),
    "rate_limit_per_minute": (int, lambda v: v >= 0, "a non-negative integer (0: no limit)"),
    "rate_limit_retry_after": (bool, lambda v: True, "a boolean"),
    "horizon_days": (int, lambda v: 1 <= v <= 366, "1 to 366 days"),
    "time_zone": (str, lambda v: _is_zone(v), "an IANA time zone"),
    "slot_minutes": (int, lambda v: 5 <= v <= 240, "5 to 240 minutes"),
    "new_clients_by_name": (bool, lambda v: True, "a boolean"),
    "taken_before_booking": (int, lambda v: v >= 0, "a non-negative integer"),
}


def _is_zone(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def check_setting(name: str, value: Any) -> Any:
    """``value`` if switch ``name`` may take it; ``ValueError`` (saying what it may be) if not."""
    if name not in _CHOICES:
        raise ValueError(f"unknown setting {name}")
    types, allowed, described = _CHOICES[name]
    accepted = types if isinstance(types, tuple) else (types,)
    if isinstance(value, bool) and bool not in accepted:
        raise ValueError(f"{name} must be {described}")
    if not isinstance(value, accepted) or not allowed(value):
        raise ValueError(f"{name} must be {described}")
    return value


def check_config(config: Config) -> Config:
    for item in fields(config):
        check_setting(item.name, getattr(config, item.name))
    return config


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: Message
    body: bytes


@dataclass
class Response:
    status: int
    payload: Any = None  # JSON-able, used unless `raw` is set
    headers: dict[str, str] = field(default_factory=dict)
    raw: bytes | None = None
    content_type: str = "application/json"

    def encoded(self) -> bytes:
        if self.raw is not None:
            return self.raw
        return json.dumps(self.payload, ensure_ascii=False).encode("utf-8")


class ApiError(Exception):
    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


def envelope(data: Any, message: str | None = None, status: int = 200) -> Response:
    return Response(status, {"success": True, "data": data, "message": message})


def error(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    return Response(status, {"success": False, "data": None, "message": message}, headers or {})


# -- ids as the switched interpretation shows them ---------------------------------------------


def external_id(kind: str, internal: str | int, style: str) -> str:
    """The id a record of ``kind`` shows under ``style`` (always a string; the seed's ids and
    counters are the numeric ``internal`` ones)."""
    if style == "string":
        return f"{ID_PREFIXES[kind]}{internal}"
    if style == "uuid":
        return str(uuid.uuid5(ID_NAMESPACE, f"{kind}:{internal}"))
    return str(internal)


# -- small helpers ----------------------------------------------------------------------------


def fold(text: str) -> str:
    return unicodedata.normalize("NFC", text).strip().casefold()


def phone_digits(text: str) -> str:
    """Digits of a phone number; a leading US country code 1 on 11 digits is dropped."""
    digits = re.sub(r"\D", "", text)
    if len(digits) == 11 and digits.startswith("1"):
        digits = digits[1:]
    return digits


def parse_datetime(value: Any, naive_tz: Any = UTC) -> datetime | None:
    """An ISO 8601 date-time (a 'T' and a time required), naive ones taken in `naive_tz`."""
    if not isinstance(value, str) or "T" not in value.upper():
        return None
    text = re.sub(r" (\d\d:?\d\d)$", r"+\1", value.strip())  # '+' decoded as space in a query
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed.replace(tzinfo=naive_tz) if parsed.tzinfo is None else parsed


def utc_stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def full_name(client: dict[str, Any]) -> str:
    return f"{client['first_name']} {client['last_name']}"


def client_json(client: dict[str, Any], style: str = "numeric") -> dict[str, Any]:
    return {
        "id": external_id("client", client["id"], style),
        "name": full_name(client),
        "email": client["email"],
        "phone": client["phone"],
        "remote_id": client["remote_id"],
        "patients": [patient_json(client, p, style) for p in client["patients"]],
    }


def patient_json(
    client: dict[str, Any], patient: dict[str, Any], style: str = "numeric"
) -> dict[str, Any]:
    return {
        "id": external_id("patient", patient["id"], style),
        "name": patient["name"],
        "client_id": external_id("client", client["id"], style),
        "species": patient["species"],
        "breed": patient["breed"],
    }


def _query(request: Request, name: str) -> str | None:
    values = request.query.get(name)
    return values[-1] if values else None


def _int_query(request: Request, name: str, default: int) -> int:
    value = _query(request, name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise ApiError(400, f"{name} must be an integer") from None


def _json_object(request: Request) -> dict[str, Any]:
    try:
        body = json.loads(request.body or b"null")
    except (ValueError, UnicodeDecodeError):
        raise ApiError(400, "Malformed JSON body") from None
    if not isinstance(body, dict):
        raise ApiError(400, "The request body must be a JSON object")
    return body


def _given(body: dict[str, Any], name: str) -> bool:
    return body.get(name) is not None and body.get(name) != ""


Route = Callable[[Request, re.Match[str]], Response]


def find_client(state: State, style: str, value: object) -> dict[str, Any] | None:
    """The client an id names, as the lookups show ids under ``style``."""
    text = str(value)
    if style == "numeric":
        return state.client(text)
    return next((c for c in state.clients if external_id("client", c["id"], style) == text), None)


def find_patient(
    state: State, style: str, value: object
) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """(client, patient) for a patient id as the lookups show it under ``style``."""
    text = str(value)
    if style == "numeric":
        return state.patient(text)
    for client in state.clients:
        for patient in client["patients"]:
            if external_id("patient", patient["id"], style) == text:
                return client, patient
    return None


class RateLimiter:
    """Requests per practice over a sliding minute (those refused are not counted)."""

    def __init__(self) -> None:
        self._times: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def admit(self, practice: str, limit: int, now: float) -> float | None:
        """None when the request may pass (it is counted); else seconds until one may."""
        with self._lock:
            times = self._times.setdefault(practice, deque())
            while times and times[0] <= now - RATE_WINDOW_SECONDS:
                times.popleft()
            if len(times) >= limit:
                return times[0] + RATE_WINDOW_SECONDS - now
            times.append(now)
            return None

    def clear(self) -> None:
        with self._lock:
            self._times.clear()


class OliverApi:
    """Every upstream route. `handle` never raises for a client error; it answers an envelope."""

    #: Slot keys remembered as offered (for ``taken_before_booking``); forgotten past this.
    MAX_OFFERED = 200_000

    def __init__(self, state: State, config: Config, clock: Callable[[], float] = time.time):
        self.state = state
        self.config = config
        self.clock = clock
        self.token_generation = 0
        self.static_token_revoked = False
        self.limiter = RateLimiter()
        #: Keys of the slots open-times answers offered (what a racing visitor could see).
        self.offered: set[str] = set()
        self._lock = threading.Lock()
        core: list[tuple[str, str, Route]] = [
            ("POST", r"/open_times", self.open_times),
            ("GET", r"/appointments", self.list_appointments),
            ("POST", r"/appointments", self.create_appointment),
            ("GET", r"/clients", self.list_clients),
            ("GET", r"/clients/(?P<id>[^/]+)", self.get_client),
            ("GET", r"/patients", self.list_patients),
            ("GET", r"/patients/(?P<id>[^/]+)", self.get_patient),
            ("GET", r"/appointment_types", self.list_appointment_types),
            ("GET", r"/appointment_types/(?P<id>[^/]+)", self.get_appointment_type),
            ("GET", r"/providers", self.list_providers),
            ("GET", r"/providers/(?P<id>[^/]+)", self.get_provider),
            ("GET", r"/rooms", self.list_rooms),
            ("GET", r"/rooms/(?P<id>[^/]+)", self.get_room),
        ]
        from .tasks import NotificationRoutes

        core += NotificationRoutes(state, config, clock).routes()
        self.routes = [(m, re.compile(re.escape(API_PREFIX) + p + "/?"), f) for m, p, f in core]

    def reset(self) -> None:
        """Forget what lives outside the state: the limiter's counts, offered slots, revoked
        static token (issued JWTs stay valid)."""
        self.limiter.clear()
        with self._lock:
            self.offered.clear()
            self.static_token_revoked = False

    # -- ids ----------------------------------------------------------------------------------

    def created_id(self, internal: int) -> int | str:
        """An appointment id as the create answers it: the documented integer, or the id of the
        switched id style."""
        if self.config.id_style == "numeric":
            return internal
        return external_id("appointment", internal, self.config.id_style)

    def listed_id(self, internal: int) -> str:
        """An appointment id as the list shows it (always a string)."""
        return external_id("appointment", internal, self.config.id_style)

    # -- entry point --------------------------------------------------------------------------

    def handle(self, request: Request) -> Response:
        try:
            if request.path.rstrip("/") == AUTH_PATH:
                if request.method != "POST":
                    return error(405, "Method not allowed")
                return self.sign_in(request)
            for method, pattern, route in self.routes:
                match = pattern.fullmatch(request.path)
                if match and method == request.method:
                    self.authenticate(request)
                    self.check_location(request, create=route == self.create_appointment)
                    self.check_rate(request)
                    return route(request, match)
            return error(404, "Not found")
        except ApiError as exc:
            return error(exc.status, exc.message, exc.headers)

    # -- auth ---------------------------------------------------------------------------------

    def sign_in(self, request: Request) -> Response:
        body = _json_object(request)
        fields = ("username", "password", "role")
        if any(not isinstance(body.get(name), str) or not body.get(name) for name in fields):
            raise ApiError(400, "username, password and role are required")
        if body["role"] != seed.ROLE:
            raise ApiError(400, "Invalid role")
        if body["username"] != seed.USERNAME or body["password"] != seed.PASSWORD:
            raise ApiError(401, "Incorrect username or password")
        with self._lock:
            if self.config.revoke_on_sign_in:
                # Every token issued before this sign-in is revoked.
                self.token_generation += 1
            generation = self.token_generation
        token = tokens.issue(seed.USERNAME, self.clock(), self.config.token_ttl_seconds, generation)
        return envelope({"token": token}, "Signed in successfully")

    def expire_tokens(self, static: bool = False) -> None:
        with self._lock:
            self.token_generation += 1
            if static:
                self.static_token_revoked = True

    def authenticate(self, request: Request) -> None:
        header = request.headers.get("Authorization") or ""
        scheme, _, token = header.strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise ApiError(401, "Missing bearer token")
        if token == seed.STATIC_TOKEN:
            if self.static_token_revoked:
                raise ApiError(401, "Token expired")
            return
        claims = tokens.decode(token)
        if claims is None or claims.get("role") != seed.ROLE:
            raise ApiError(401, "Invalid token")
        exp = claims.get("exp")
        if not isinstance(exp, int | float) or self.clock() >= exp:
            raise ApiError(401, "Token expired")
        if claims.get("gen") != self.token_generation:
            raise ApiError(401, "Token expired")

    def check_location(self, request: Request, *, create: bool) -> None:
        location = (request.headers.get("X-Client-Id") or "").strip()
        if not location:
            if create and not self.config.require_client_id_on_create:
                return
            raise ApiError(self.config.client_id_error_status, "X-Client-Id header is required")
        if location.lower() != seed.LOCATION_ID:
            raise ApiError(self.config.client_id_error_status, "Unknown X-Client-Id")

    def check_rate(self, request: Request) -> None:
        """The per-practice limiter (``rate_limit_per_minute``), after auth: it counts what a
        known practice asks."""
        limit = self.config.rate_limit_per_minute
        if limit <= 0:
            return
        practice = (request.headers.get("X-Client-Id") or seed.LOCATION_ID).strip().lower()
        wait = self.limiter.admit(practice, limit, self.clock())
        if wait is None:
            return
        headers = {}
        if self.config.rate_limit_retry_after:
            headers["Retry-After"] = str(max(1, math.ceil(wait)))
        raise ApiError(429, f"Rate limit exceeded: {limit} requests per minute", headers)

    # -- open times ---------------------------------------------------------------------------

    def open_times(self, request: Request, _: re.Match[str]) -> Response:
        body = _json_object(request)
        schedule = self.config.schedule()
        if body.get("search_from_date") is None:
            raise ApiError(400, "search_from_date is required")
        start = parse_datetime(body["search_from_date"], schedule.zone)
        if start is None:
            raise ApiError(400, "search_from_date must be an ISO 8601 date-time")
        if not 1970 <= start.year <= 2100:
            raise ApiError(400, "search_from_date is out of range")
        category = body.get("appointment_type")
        if category not in seed.APPOINTMENT_CATEGORIES:
            allowed = ", ".join(seed.APPOINTMENT_CATEGORIES)
            raise ApiError(400, f"appointment_type must be one of: {allowed}")
        now = datetime.fromtimestamp(self.clock(), UTC)
        booked = self.state.booked_slot_keys()
        first_day = start.astimezone(schedule.zone).date()
        days = []
        offered: list[str] = []
        for offset in range(self.config.horizon_days):
            day = first_day.fromordinal(first_day.toordinal() + offset)
            times = [
                slot
                for slot in slots.day_slots(day, category, schedule)
                if slot.start > now and slot.start >= start and slot.key not in booked
            ]
            offered.extend(slot.key for slot in times)
            days.append(
                {
                    "date": day.strftime("%m/%d/%Y"),
                    "available": bool(times),
                    "times": [slot.as_json(schedule.zone) for slot in times],
                }
            )
        with self._lock:
            if len(self.offered) + len(offered) > self.MAX_OFFERED:
                self.offered.clear()
            self.offered.update(offered)
        return envelope(days, "Open times retrieved successfully")

    # -- appointments -------------------------------------------------------------------------

    def _resolve_client(self, body: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        """(the client, whether it is new: created by this create, not stored yet)."""
        by_id, by_remote = _given(body, "client_id"), _given(body, "client_remote_id")
        by_name = any(_given(body, f) for f in ("first_name", "last_name", "phone", "email"))
        count = sum((by_id, by_remote, by_name))
        if count == 0:
            raise ApiError(
                400,
                "A client identification is required: client_id, client_remote_id, "
                "or first_name, last_name and phone or email",
            )
        if count > 1:
            raise ApiError(400, "Provide exactly one client identification")
        if by_id:
            value = body["client_id"]
            style = self.config.id_style
            if isinstance(value, bool) or not isinstance(value, int | str):
                raise ApiError(400, "client_id must be an integer")
            if style == "numeric" and not isinstance(value, int):
                raise ApiError(400, "client_id must be an integer")
            client = find_client(self.state, style, value)
            if client is None:
                raise ApiError(400, "Client not found")
            return client, False
        if by_remote:
            value = body["client_remote_id"]
            if not isinstance(value, str):
                raise ApiError(400, "client_remote_id must be a string")
            client = next((c for c in self.state.clients if c["remote_id"] == value), None)
            if client is None:
                raise ApiError(400, "Client not found")
            return client, False
        for name in ("first_name", "last_name", "phone", "email"):
            if _given(body, name) and not isinstance(body[name], str):
                raise ApiError(400, f"{name} must be a string")
        if not (
            _given(body, "first_name")
            and _given(body, "last_name")
            and (_given(body, "phone") or _given(body, "email"))
        ):
            raise ApiError(
                400, "first_name, last_name and phone or email are required to identify a client"
            )
        first, last = fold(body["first_name"]), fold(body["last_name"])
        phone = phone_digits(body["phone"]) if _given(body, "phone") else None
        email = fold(body["email"]) if _given(body, "email") else None
        matches = [
            c
            for c in self.state.clients
            if fold(c["first_name"]) == first
            and fold(c["last_name"]) == last
            and (
                (phone is not None and phone != "" and phone_digits(c["phone"] or "") == phone)
                or (email is not None and fold(c["email"] or "") == email)
            )
        ]
        if not matches:
            if self.config.new_clients_by_name:
                return self._new_client(body), True
            raise ApiError(400, "Client not found")
        if len(matches) > 1:
            raise ApiError(400, "More than one client matches; use client_id")
        return matches[0], False

    def _new_client(self, body: dict[str, Any]) -> dict[str, Any]:
        """A client as a create by name makes it (stored only when the create succeeds)."""
        return {
            "id": str(self.state.next_client_id),
            "first_name": body["first_name"].strip(),
            "last_name": body["last_name"].strip(),
            "email": body["email"].strip() if _given(body, "email") else None,
            "phone": body["phone"].strip() if _given(body, "phone") else None,
            "remote_id": None,
            "patients": [],
        }

    def _resolve_patient(
        self, body: dict[str, Any], client: dict[str, Any], new_client: bool
    ) -> dict[str, Any] | None:
        by_id, by_remote = _given(body, "patient_id"), _given(body, "patient_remote_id")
        if not by_id and not by_remote:
            if new_client or (self.config.new_clients_by_name and not client["patients"]):
                return None  # a client created by name has no patient yet
            raise ApiError(
                400, "A patient identification is required: patient_id or patient_remote_id"
            )
        if by_id and by_remote:
            raise ApiError(400, "Provide exactly one patient identification")
        if by_id:
            value = body["patient_id"]
            style = self.config.id_style
            if isinstance(value, bool) or not isinstance(value, int | str):
                raise ApiError(400, "patient_id must be an integer")
            if style == "numeric" and not isinstance(value, int):
                raise ApiError(400, "patient_id must be an integer")
            found = find_patient(self.state, style, value)
        else:
            value = body["patient_remote_id"]
            if not isinstance(value, str):
                raise ApiError(400, "patient_remote_id must be a string")
            found = next(
                (
                    (c, p)
                    for c in self.state.clients
                    for p in c["patients"]
                    if p["remote_id"] == value
                ),
                None,
            )
        if found is None:
            raise ApiError(400, "Patient not found")
        owner, patient = found
        if owner["id"] != client["id"]:
            raise ApiError(400, "Patient does not belong to the client")
        return patient

    def create_appointment(self, request: Request, _: re.Match[str]) -> Response:
        body = _json_object(request)
        slot_id = body.get("slot_id")
        if slot_id is None or slot_id == "":
            raise ApiError(400, "slot_id is required")
        if not isinstance(slot_id, str):
            raise ApiError(400, "slot_id must be a string")
        status = body.get("status")
        if status is not None and status not in CREATE_STATUSES:
            raise ApiError(400, f"status must be one of: {', '.join(CREATE_STATUSES)}")
        note = body.get("note")
        if note is not None and not isinstance(note, str):
            raise ApiError(400, "note must be a string")
        with self.state.lock:
            client, new_client = self._resolve_client(body)
            patient = self._resolve_patient(body, client, new_client)
            now = datetime.fromtimestamp(self.clock(), UTC)
            schedule = self.config.schedule()
            slot = slots.decode(slot_id, schedule.zone)
            if (
                slot is None
                or slot.start <= now
                or not slots.is_scheduled(slot, schedule)
                or slot.key in self.state.booked_slot_keys()
            ):
                raise ApiError(self.config.slot_taken_status, "Slot is no longer available")
            with self._lock:
                race = self.config.taken_before_booking > 0 and slot.key in self.offered
                if race:
                    self.config.taken_before_booking -= 1
            if race:
                # Another visitor, who saw the same answer, booked it a moment ago.
                self.state.taken_slots.append(slot.key)
                self.state.save()
                raise ApiError(self.config.slot_taken_status, "Slot is no longer available")
            if new_client:
                self.state.clients.append(client)
                self.state.next_client_id += 1
            if status is None:
                status = "ACCEPTED" if self.state.auto_accept else "REQUESTED"
            appointment_id = self.state.next_appointment_id
            self.state.next_appointment_id += 1
            stamp = utc_stamp(now)
            data = {
                "id": appointment_id,
                "remote_id": None,
                "remote_client_id": client["remote_id"],
                "remote_patient_id": patient["remote_id"] if patient else None,
                "status": status,
                "booking_date": slot.start.isoformat(),
                "end_date": slot.end.isoformat(),
                "created_at": stamp,
                "updated_at": stamp,
                "referral_source": None,
                "referral_campaign": None,
                "referral_medium": None,
                "client_first_name": client["first_name"],
                "client_last_name": client["last_name"],
                "client_email": client["email"],
                "client_phone": client["phone"],
                "client_type": "NEW" if new_client else "RETURNING",
                "patient_name": patient["name"] if patient else None,
            }
            sandbox = {
                "slot_id": slot_id,
                "slot_key": slot.key,
                "appointment_type": slot.category,
                "provider_id": slot.provider_id,
                "room_id": slot.room_id,
                "client_id": client["id"],
                "patient_id": patient["id"] if patient else None,
                "note": note,
                "x_client_id": request.headers.get("X-Client-Id"),
                "created_epoch": now.timestamp(),
            }
            self.state.appointments.append({"data": data, "sandbox": sandbox})
            self.state.save()
        answer = {**data, "id": self.created_id(appointment_id)}
        return envelope(answer, "Appointment created successfully", self.config.create_status)

    def _listed(self, appointment: dict[str, Any], now: float) -> bool:
        """Whether the list shows an appointment yet (``list_delay_seconds`` after its create)."""
        delay = self.config.list_delay_seconds
        if delay <= 0:
            return True
        created = appointment["sandbox"].get("created_epoch")
        if not isinstance(created, int | float):
            created = datetime.fromisoformat(appointment["data"]["created_at"]).timestamp()
        return bool(created + delay <= now)

    def list_appointments(self, request: Request, _: re.Match[str]) -> Response:
        raw_start = _query(request, "updated_at_start")
        if not raw_start:
            raise ApiError(400, "updated_at_start is required")
        start = parse_datetime(raw_start)
        if start is None:
            raise ApiError(400, "updated_at_start must be an ISO 8601 date-time")
        raw_end = _query(request, "updated_at_end")
        now = self.clock()
        end = parse_datetime(raw_end) if raw_end else datetime.fromtimestamp(now, UTC)
        if end is None:
            raise ApiError(400, "updated_at_end must be an ISO 8601 date-time")
        page = _int_query(request, "page", 0)
        per_page = _int_query(request, "per_page", 50)
        if page < 0 or per_page < 1:
            raise ApiError(400, "page must be >= 0 and per_page >= 1")
        per_page = min(per_page, 100)
        with self.state.lock:
            rows = [
                a["data"]
                for a in self.state.appointments
                if start <= datetime.fromisoformat(a["data"]["updated_at"]) <= end
                and self._listed(a, now)
            ]
        rows.sort(key=lambda row: (row["updated_at"], row["id"]))
        content = [
            {**row, "id": self.listed_id(row["id"])}
            for row in rows[page * per_page : (page + 1) * per_page]
        ]
        return envelope(
            {
                "page": page,
                "per_page": per_page,
                "total_pages": math.ceil(len(rows) / per_page),
                "total_count": len(rows),
                "content": content,
            },
            "Appointments retrieved successfully",
        )

    # -- clients and patients -----------------------------------------------------------------

    def list_clients(self, request: Request, _: re.Match[str]) -> Response:
        name, email, phone = (_query(request, n) for n in ("name", "email", "phone"))
        if not (name or email or phone):
            raise ApiError(400, "At least one of name, email or phone is required")
        found = []
        with self.state.lock:
            for client in self.state.clients:
                if name and fold(name) not in fold(full_name(client)):
                    continue
                if email and fold(email) != fold(client["email"] or ""):
                    continue
                wanted = phone_digits(phone) if phone else None
                if wanted is not None and (
                    not wanted or wanted != phone_digits(client["phone"] or "")
                ):
                    continue
                found.append(client_json(client, self.config.id_style))
        return envelope(found[:100], "Clients retrieved successfully")

    def get_client(self, _: Request, match: re.Match[str]) -> Response:
        with self.state.lock:
            client = find_client(self.state, self.config.id_style, match["id"])
            if client is None:
                raise ApiError(self.config.not_found_status, "Client not found")
            return envelope(
                client_json(client, self.config.id_style), "Client retrieved successfully"
            )

    def list_patients(self, request: Request, _: re.Match[str]) -> Response:
        client_id = _query(request, "client_id")
        if not client_id:
            raise ApiError(400, "client_id is required")
        name = _query(request, "name")
        style = self.config.id_style
        with self.state.lock:
            client = find_client(self.state, style, client_id)
            patients = client["patients"] if client else []
            found = [
                patient_json(client, p, style)
                for p in patients
                if client and (not name or fold(name) in fold(p["name"]))
            ]
        return envelope(found, "Patients retrieved successfully")

    def get_patient(self, _: Request, match: re.Match[str]) -> Response:
        style = self.config.id_style
        with self.state.lock:
            found = find_patient(self.state, style, match["id"])
            if found is None:
                raise ApiError(self.config.not_found_status, "Patient not found")
            return envelope(patient_json(*found, style), "Patient retrieved successfully")

    # -- spec-only reference data (removed from the docs' navigation, still in openapi.json) ---

    def _appointment_type_json(self, item: dict[str, Any]) -> dict[str, Any]:
        providers = [p["id"] for p in seed.PROVIDERS if item["category"] in p["categories"]]
        return {
            "id": item["id"],
            "name": item["name"],
            "duration": item["duration"],
            "provider_ids": providers,
        }

    def _provider_json(self, item: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": item["id"],
            "name": item["name"],
            "appointment_type_ids": [
                t["id"] for t in seed.APPOINTMENT_TYPES if t["category"] in item["categories"]
            ],
            "room_ids": [item["room_id"]],
        }

    def _listing(
        self, request: Request, items: list[dict[str, Any]], render: Callable[..., Any]
    ) -> Response:
        name = _query(request, "name")
        rows = [render(i) for i in items if not name or fold(name) in fold(i["name"])]
        return envelope(rows)

    def _one(
        self, match: re.Match[str], items: list[dict[str, Any]], render: Callable[..., Any]
    ) -> Response:
        item = next((i for i in items if i["id"] == match["id"]), None)
        if item is None:
            raise ApiError(self.config.not_found_status, "Not found")
        return envelope(render(item))

    def list_appointment_types(self, request: Request, _: re.Match[str]) -> Response:
        return self._listing(request, seed.APPOINTMENT_TYPES, self._appointment_type_json)

    def get_appointment_type(self, _: Request, match: re.Match[str]) -> Response:
        return self._one(match, seed.APPOINTMENT_TYPES, self._appointment_type_json)

    def list_providers(self, request: Request, _: re.Match[str]) -> Response:
        return self._listing(request, seed.PROVIDERS, self._provider_json)

    def get_provider(self, _: Request, match: re.Match[str]) -> Response:
        return self._one(match, seed.PROVIDERS, self._provider_json)

    def list_rooms(self, request: Request, _: re.Match[str]) -> Response:
        return self._listing(request, seed.ROOMS, dict)

    def get_room(self, _: Request, match: re.Match[str]) -> Response:
        return self._one(match, seed.ROOMS, dict)
