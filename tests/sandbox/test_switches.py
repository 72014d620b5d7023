"""The switches: every interpretation of what Oliver's docs leave unknown (reference §6), set at
start (``SandboxServer(...)``, ``python -m local.oliver_sandbox`` flags) and at run time
(``POST /__sandbox/settings``); ``POST /__sandbox/reset`` goes back to the start values."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from local.oliver_sandbox import SandboxServer, seed, slots
from local.oliver_sandbox.__main__ import build
from local.oliver_sandbox.api import Config

from .conftest import AUTH_PATH

CREDENTIALS = {"username": seed.USERNAME, "password": seed.PASSWORD, "role": "ROLE_API"}
#: The defaults every other test (and the local stack) relies on.
DEFAULTS = {
    "token_ttl_seconds": 3600,
    "create_status": 200,
    "slot_taken_status": 400,
    "require_client_id_on_create": True,
    "client_id_error_status": 400,
    "not_found_status": 404,
    "ai_outbound_per_minute": 120,
    "id_style": "numeric",
    "revoke_on_sign_in": False,
    "list_delay_seconds": 0,
    "rate_limit_per_minute": 0,
    "rate_limit_retry_after": True,
    "horizon_days": 14,
    "time_zone": "America/Chicago",
    "slot_minutes": 20,
    "new_clients_by_name": False,
    "taken_before_booking": 0,
}


@pytest.fixture(scope="module")
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10, verify=False) as http:
        yield http


class Oliver:
    """One sandbox, as a partner and as its operator (the control endpoints) talk to it."""

    def __init__(self, server: SandboxServer, http: httpx.Client) -> None:
        self.server = server
        self.http = http
        self.token = self.sign_in()

    def sign_in(self) -> str:
        answer = self.http.post(self.server.url + AUTH_PATH, json=CREDENTIALS)
        assert answer.status_code == 200, answer.text
        token: str = answer.json()["data"]["token"]
        return token

    def headers(self, token: str | None = None, location: str | None = seed.LOCATION_ID) -> dict:
        headers = {"Authorization": f"Bearer {token or self.token}"}
        if location is not None:
            headers["X-Client-Id"] = location
        return headers

    def call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        kwargs.setdefault("headers", self.headers())
        return self.http.request(method, self.server.api_base + path, **kwargs)

    def control(self, method: str, name: str, body: dict[str, Any] | None = None) -> Any:
        answer = self.http.request(method, f"{self.server.url}/__sandbox/{name}", json=body)
        return answer

    def settings(self, **values: Any) -> dict[str, Any]:
        answer = self.control("POST", "settings", values)
        assert answer.status_code == 200, answer.text
        return answer.json()  # type: ignore[no-any-return]

    def days(self, kind: str = "wellness", start: str | None = None) -> list[dict[str, Any]]:
        answer = self.call(
            "POST",
            "/open_times",
            json={"search_from_date": start or _tomorrow(), "appointment_type": kind},
        )
        assert answer.status_code == 200, answer.text
        return answer.json()["data"]  # type: ignore[no-any-return]

    def slots(self, count: int = 1) -> list[dict[str, Any]]:
        found = [t for day in self.days() for t in day["times"]]
        assert len(found) >= count
        return found[:count]

    def book(self, slot_id: str | None = None, **body: Any) -> httpx.Response:
        payload = body or {"client_id": 1001, "patient_id": 2001}
        payload["slot_id"] = slot_id or self.slots()[0]["uuid"]
        return self.call("POST", "/appointments", json=payload)

    def listed(self) -> list[dict[str, Any]]:
        since = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
        answer = self.call("GET", "/appointments", params={"updated_at_start": since})
        assert answer.status_code == 200, answer.text
        return answer.json()["data"]["content"]  # type: ignore[no-any-return]


def _tomorrow() -> str:
    zone = ZoneInfo(seed.TIME_ZONE)
    day = datetime.now(zone).date() + timedelta(days=1)
    return datetime(day.year, day.month, day.day, tzinfo=zone).isoformat()


@pytest.fixture
def oliver_factory(
    sandbox_factory: Callable[..., SandboxServer], client: httpx.Client
) -> Callable[..., Oliver]:
    def make(**switches: Any) -> Oliver:
        return Oliver(sandbox_factory(**switches), client)

    return make


@pytest.fixture
def oliver(oliver_factory: Callable[..., Oliver]) -> Oliver:
    return oliver_factory()


# -- setting switches ------------------------------------------------------------------------------


def test_the_defaults_are_the_historical_behaviour(oliver: Oliver) -> None:
    settings = oliver.control("GET", "settings").json()
    assert {name: settings[name] for name in DEFAULTS} == DEFAULTS
    assert settings["auto_accept"] is False
    assert vars(Config()) == DEFAULTS


def test_every_switch_has_a_flag() -> None:
    server, quiet = build(
        [
            "--create-status", "201", "--slot-taken-status", "422",
            "--optional-client-id-on-create", "--client-id-error-status", "403",
            "--not-found-status", "400", "--id-style", "uuid", "--revoke-on-sign-in",
            "--list-delay", "2.5", "--rate-limit", "30", "--no-retry-after",
            "--horizon-days", "30", "--time-zone", "Europe/Berlin", "--slot-minutes", "15",
            "--new-clients-by-name", "--taken-before-booking", "2", "--token-ttl", "60",
        ]
    )  # fmt: skip
    assert vars(server.config) == {
        **DEFAULTS,
        "token_ttl_seconds": 60,
        "create_status": 201,
        "slot_taken_status": 422,
        "require_client_id_on_create": False,
        "client_id_error_status": 403,
        "not_found_status": 400,
        "id_style": "uuid",
        "revoke_on_sign_in": True,
        "list_delay_seconds": 2.5,
        "rate_limit_per_minute": 30,
        "rate_limit_retry_after": False,
        "horizon_days": 30,
        "time_zone": "Europe/Berlin",
        "slot_minutes": 15,
        "new_clients_by_name": True,
        "taken_before_booking": 2,
    }
    assert quiet is False
    assert vars(build([])[0].config) == DEFAULTS


@pytest.mark.parametrize(
    "flags",
    [
        ["--slot-taken-status", "500"],
        ["--client-id-error-status", "500"],
        ["--id-style", "hex"],
        ["--time-zone", "Mars/Olympus"],
        ["--slot-minutes", "1"],
        ["--horizon-days", "0"],
        ["--list-delay", "-1"],
    ],
)
def test_a_flag_out_of_range_is_refused(flags: list[str]) -> None:
    with pytest.raises(SystemExit):
        build(flags)


def test_a_switch_out_of_range_is_refused_at_start() -> None:
    with pytest.raises(ValueError, match="slot_taken_status must be 400, 409 or 422"):
        SandboxServer(port=0, slot_taken_status=500)


def test_settings_change_all_or_nothing(oliver: Oliver) -> None:
    # A wrong value (or an unknown name) changes nothing, not even the good values beside it
    for body in (
        {"create_status": 201, "id_style": "hex"},
        {"create_status": 201, "horizon": 3},
        {"create_status": 201, "revoke_on_sign_in": "yes"},
        {"create_status": 201, "rate_limit_per_minute": True},
    ):
        answer = oliver.control("POST", "settings", body)
        assert answer.status_code == 400, body
        assert answer.json()["ok"] is False
    assert oliver.control("GET", "settings").json()["create_status"] == 200


def test_reset_restores_the_switches_given_at_start(oliver_factory: Callable[..., Oliver]) -> None:
    oliver = oliver_factory(id_style="string", list_delay_seconds=1)
    oliver.settings(id_style="uuid", list_delay_seconds=0, revoke_on_sign_in=True)
    assert oliver.control("POST", "reset").status_code == 200
    settings = oliver.control("GET", "settings").json()
    assert (settings["id_style"], settings["list_delay_seconds"]) == ("string", 1)
    assert settings["revoke_on_sign_in"] is False


# -- the create's status ---------------------------------------------------------------------------


def test_create_status_201_at_run_time(oliver: Oliver) -> None:
    oliver.settings(create_status=201)
    assert oliver.book().status_code == 201
    oliver.settings(create_status=200)
    assert oliver.book().status_code == 200


# -- a taken slot ----------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [400, 409, 422])
def test_a_taken_slot_answers_the_switched_status(
    oliver_factory: Callable[..., Oliver], status: int
) -> None:
    at_start = oliver_factory(slot_taken_status=status)
    at_run_time = oliver_factory()
    at_run_time.settings(slot_taken_status=status)
    for oliver in (at_start, at_run_time):
        slot_id = oliver.slots()[0]["uuid"]
        assert oliver.book(slot_id).status_code == 200
        again = oliver.book(slot_id)
        assert again.status_code == status
        assert again.json() == {
            "success": False,
            "data": None,
            "message": "Slot is no longer available",
        }


# -- X-Client-Id -----------------------------------------------------------------------------------


def test_x_client_id_optional_on_the_create(oliver: Oliver) -> None:
    slot_id = oliver.slots()[0]["uuid"]
    body = {"slot_id": slot_id, "client_id": 1001, "patient_id": 2001}
    without = oliver.headers(location=None)
    assert oliver.call("POST", "/appointments", json=body, headers=without).status_code == 400
    oliver.settings(require_client_id_on_create=False)
    assert oliver.call("POST", "/appointments", json=body, headers=without).status_code == 200
    # Only on the create: every other route still wants it
    assert oliver.call("GET", "/clients", params={"name": "Doe"}, headers=without).status_code == (
        400
    )


@pytest.mark.parametrize("status", [400, 401, 403, 404])
def test_a_missing_or_unknown_x_client_id_answers_the_switched_status(
    oliver_factory: Callable[..., Oliver], status: int
) -> None:
    oliver = oliver_factory(client_id_error_status=status)
    body = {"search_from_date": _tomorrow(), "appointment_type": "wellness"}
    wrong = oliver.headers(location=str(uuid.uuid4()))
    for headers in (wrong, oliver.headers(location=None)):
        answer = oliver.call("POST", "/open_times", json=body, headers=headers)
        assert answer.status_code == status
        assert answer.json()["success"] is False
        create = {"slot_id": oliver.slots()[0]["uuid"], "client_id": 1001, "patient_id": 2001}
        assert oliver.call("POST", "/appointments", json=create, headers=headers).status_code == (
            status
        )
    oliver.settings(client_id_error_status=400 if status != 400 else 403)
    answer = oliver.call("POST", "/open_times", json=body, headers=wrong)
    assert answer.status_code == (400 if status != 400 else 403)


# -- not found by id -------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [400, 404])
def test_an_unknown_id_answers_the_switched_status(
    oliver_factory: Callable[..., Oliver], status: int
) -> None:
    oliver = oliver_factory(not_found_status=status)
    for path in ("/clients/999999", "/patients/999999", "/providers/999"):
        assert oliver.call("GET", path).status_code == status, path
    assert oliver.call("GET", "/clients/1001").status_code == 200
    oliver.settings(not_found_status=404 if status == 400 else 400)
    assert oliver.call("GET", "/clients/999999").status_code == (404 if status == 400 else 400)


# -- id styles -------------------------------------------------------------------------------------


def _jane(oliver: Oliver) -> dict[str, Any]:
    answer = oliver.call("GET", "/clients", params={"email": "jane@example.com"})
    assert answer.status_code == 200, answer.text
    found: list[dict[str, Any]] = answer.json()["data"]
    assert len(found) == 1
    return found[0]


def test_numeric_ids_are_the_default(oliver: Oliver) -> None:
    jane = _jane(oliver)
    assert (jane["id"], jane["patients"][0]["id"]) == ("1001", "2001")
    created = oliver.book().json()["data"]
    assert created["id"] == 50001
    assert [a["id"] for a in oliver.listed()] == ["50001"]


@pytest.mark.parametrize("style", ["string", "uuid"])
def test_ids_of_another_style_are_mapped_consistently(
    oliver_factory: Callable[..., Oliver], style: str
) -> None:
    # Given a sandbox whose ids are not numbers
    oliver = oliver_factory(id_style=style)
    jane = _jane(oliver)
    client_id, rex_id = jane["id"], jane["patients"][0]["id"]
    # Then they are strings that are not numbers, of the switched style
    for value in (client_id, rex_id):
        assert isinstance(value, str) and not value.isdigit()
        if style == "uuid":
            uuid.UUID(value)
    assert client_id != rex_id
    assert jane["patients"][0]["client_id"] == client_id
    # and every route takes them back
    assert oliver.call("GET", f"/clients/{client_id}").json()["data"] == jane
    patients = oliver.call("GET", "/patients", params={"client_id": client_id}).json()["data"]
    assert [p["id"] for p in patients] == [p["id"] for p in jane["patients"]]
    assert oliver.call("GET", f"/patients/{rex_id}").json()["data"]["name"] == "Rex"
    # a create by these ids books Jane and Rex; the numbers of the seed are unknown here
    created = oliver.book(client_id=client_id, patient_id=rex_id)
    assert created.status_code == 200, created.text
    data = created.json()["data"]
    assert (data["client_first_name"], data["patient_name"]) == ("Jane", "Rex")
    assert isinstance(data["id"], str) and not data["id"].isdigit()
    assert oliver.book(client_id=1001, patient_id=2001).status_code == 400
    assert oliver.call("GET", "/clients/1001").status_code == 404
    # the appointment has the same id in the create's answer, the list and the state
    assert [a["id"] for a in oliver.listed()] == [data["id"]]
    assert [a["id"] for a in oliver.control("GET", "state").json()["appointments"]] == [data["id"]]
    # AI outbound resolves the client by these ids too
    outbound = oliver.call(
        "POST",
        "/ai_outbound/requests",
        json={"purpose": "general", "contact_number": "+15555550100", "client_id": client_id},
    )
    assert outbound.status_code == 201, outbound.text
    assert outbound.json()["data"]["client_id"] == client_id


def test_id_styles_are_stable_across_sandboxes(oliver_factory: Callable[..., Oliver]) -> None:
    first, second = oliver_factory(id_style="uuid"), oliver_factory()
    second.settings(id_style="uuid")
    assert _jane(first)["id"] == _jane(second)["id"]
    # and switching back gives the numbers again
    second.settings(id_style="numeric")
    assert _jane(second)["id"] == "1001"


# -- tokens revoked on sign-in ---------------------------------------------------------------------


def test_earlier_tokens_stay_valid_by_default(oliver: Oliver) -> None:
    earlier = oliver.token
    oliver.sign_in()
    assert oliver.call("GET", "/clients/1001", headers=oliver.headers(earlier)).status_code == 200


@pytest.mark.parametrize("when", ["at start", "at run time"])
def test_a_sign_in_can_revoke_every_earlier_token(
    oliver_factory: Callable[..., Oliver], when: str
) -> None:
    oliver = oliver_factory(revoke_on_sign_in=when == "at start")
    if when == "at run time":
        oliver.settings(revoke_on_sign_in=True)
    earlier = oliver.sign_in()
    later = oliver.sign_in()
    refused = oliver.call("GET", "/clients/1001", headers=oliver.headers(earlier))
    assert refused.status_code == 401
    assert refused.json()["success"] is False
    assert oliver.call("GET", "/clients/1001", headers=oliver.headers(later)).status_code == 200
    # The static token is a different credential: never revoked by a sign-in
    static = oliver.headers(seed.STATIC_TOKEN)
    assert oliver.call("GET", "/clients/1001", headers=static).status_code == 200


# -- the list's delay ------------------------------------------------------------------------------


def test_new_appointments_show_in_the_list_after_the_delay(
    oliver_factory: Callable[..., Oliver],
) -> None:
    oliver = oliver_factory(list_delay_seconds=0.4)
    created = oliver.book()
    assert created.status_code == 200
    assert oliver.listed() == []
    # the create itself and the operator's state know it at once
    assert oliver.control("GET", "state").json()["appointments_created"] == 1
    time.sleep(0.45)
    assert [a["id"] for a in oliver.listed()] == [str(created.json()["data"]["id"])]
    # switched off at run time: everything shows at once
    oliver.settings(list_delay_seconds=0)
    oliver.book()
    assert len(oliver.listed()) == 2


# -- the per-practice limiter ----------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize("retry_after", [True, False])
def test_a_practice_over_its_limit_gets_429(
    oliver_factory: Callable[..., Oliver], retry_after: bool
) -> None:
    oliver = oliver_factory(rate_limit_per_minute=3, rate_limit_retry_after=retry_after)
    clock = Clock()
    oliver.server.api.clock = clock
    # Three calls of any kind pass (sign-in is not counted: it names no practice)
    slot_id = oliver.slots()[0]["uuid"]
    oliver.sign_in()
    clock.now += 10
    assert oliver.call("GET", "/clients/1001").status_code == 200
    clock.now += 10
    assert oliver.listed() == []
    # the fourth within the minute is refused, with the documented error envelope
    refused = oliver.book(slot_id)
    assert refused.status_code == 429
    assert refused.json()["success"] is False
    if retry_after:
        assert refused.headers["Retry-After"] == "40"  # when the first call leaves the window
    else:
        assert "Retry-After" not in refused.headers
    assert oliver.control("GET", "state").json()["appointments_created"] == 0
    # a minute after the first call there is room for one more
    clock.now += 40
    assert oliver.call("GET", "/clients/1001").status_code == 200
    assert oliver.call("GET", "/clients/1001").status_code == 429


def test_the_limiter_is_per_practice_and_forgets_on_reset(oliver: Oliver) -> None:
    oliver.settings(rate_limit_per_minute=1)
    assert oliver.call("GET", "/clients/1001").status_code == 200
    assert oliver.call("GET", "/clients/1001").status_code == 429
    # Another practice's calls (here refused as unknown) are not this one's
    other = oliver.headers(location=str(uuid.uuid4()))
    assert oliver.call("GET", "/clients/1001", headers=other).status_code == 400
    oliver.control("POST", "reset")
    oliver.settings(rate_limit_per_minute=1)
    assert oliver.call("GET", "/clients/1001").status_code == 200


# -- horizon, zone, slot length --------------------------------------------------------------------


def test_horizon_zone_and_slot_length_at_start(oliver_factory: Callable[..., Oliver]) -> None:
    oliver = oliver_factory(horizon_days=3, time_zone="Europe/Berlin", slot_minutes=30)
    _check_schedule(oliver, 3, ZoneInfo("Europe/Berlin"), 30)


def test_horizon_zone_and_slot_length_at_run_time(oliver: Oliver) -> None:
    oliver.settings(horizon_days=30, time_zone="Asia/Tokyo", slot_minutes=15)
    _check_schedule(oliver, 30, ZoneInfo("Asia/Tokyo"), 15)


def _check_schedule(oliver: Oliver, horizon: int, zone: ZoneInfo, minutes: int) -> None:
    first = datetime.now(zone).date() + timedelta(days=2)
    start = datetime(first.year, first.month, first.day, tzinfo=zone)
    days = oliver.days(start=start.isoformat())
    # the horizon, as local dates of the practice's zone
    assert [d["date"] for d in days] == [
        (first + timedelta(days=n)).strftime("%m/%d/%Y") for n in range(horizon)
    ]
    times = [t for d in days for t in d["times"]]
    for slot in times:
        begin, end = datetime.fromisoformat(slot["start"]), datetime.fromisoformat(slot["end"])
        assert begin.utcoffset() == begin.astimezone(zone).utcoffset()
        assert end - begin == timedelta(minutes=minutes)
        assert 8 <= begin.astimezone(zone).hour < 17
    first_day = next(d for d in days if d["times"])
    values = sorted({t["value"] for t in first_day["times"]})
    step = datetime.strptime(values[1], "%H:%M") - datetime.strptime(values[0], "%H:%M")
    assert (values[0], step) == ("08:00", timedelta(minutes=minutes))
    # such a slot books, at its own start
    created = oliver.book(times[0]["uuid"])
    assert created.status_code == 200, created.text
    assert created.json()["data"]["booking_date"] == times[0]["start"]
    assert created.json()["data"]["end_date"] == times[0]["end"]


def test_a_slot_of_another_length_is_not_on_the_schedule(oliver: Oliver) -> None:
    slot_id = oliver.slots()[0]["uuid"]  # a 20-minute slot
    oliver.settings(slot_minutes=30)
    assert oliver.book(slot_id).status_code == 400


# -- clients created by name -----------------------------------------------------------------------

NEWCOMER = {"first_name": "Nora", "last_name": "Quist", "email": "nora.quist@example.com"}


def test_by_default_a_create_by_name_needs_a_known_client(oliver: Oliver) -> None:
    answer = oliver.book(**NEWCOMER)
    assert answer.status_code == 400
    assert answer.json()["message"] == "Client not found"


def test_a_create_by_name_can_create_the_client(oliver_factory: Callable[..., Oliver]) -> None:
    oliver = oliver_factory(new_clients_by_name=True)
    # A stranger's create by name, with no pet (a new client has none yet)
    first = oliver.book(**NEWCOMER)
    assert first.status_code == 200, first.text
    data = first.json()["data"]
    assert data["client_type"] == "NEW"
    assert (data["client_first_name"], data["client_last_name"]) == ("Nora", "Quist")
    assert (data["patient_name"], data["remote_patient_id"], data["remote_client_id"]) == (
        None,
        None,
        None,
    )
    # the client exists from then on, with an id of its own
    found = oliver.call("GET", "/clients", params={"email": NEWCOMER["email"]}).json()["data"]
    assert [(c["id"], c["name"], c["patients"]) for c in found] == [("1008", "Nora Quist", [])]
    # and a second create by the same name is a returning client's
    again = oliver.book(**NEWCOMER)
    assert again.json()["data"]["client_type"] == "RETURNING"
    # Known clients stay RETURNING; their pet is still required
    by_name = {"first_name": "Jane", "last_name": "Doe", "email": "jane@example.com"}
    assert oliver.book(**by_name).status_code == 400
    jane = oliver.book(**by_name, patient_id=2001)
    assert jane.json()["data"]["client_type"] == "RETURNING"


def test_a_refused_create_by_name_creates_no_client(oliver_factory: Callable[..., Oliver]) -> None:
    oliver = oliver_factory(new_clients_by_name=True)
    # Rex is Jane's: not the newcomer's
    assert oliver.book(**NEWCOMER, patient_id=2001).status_code == 400
    taken = oliver.slots()[0]["uuid"]
    assert oliver.book(taken).status_code == 200
    assert oliver.book(taken, **NEWCOMER).status_code == 400
    assert oliver.call("GET", "/clients", params={"email": NEWCOMER["email"]}).json()["data"] == []


def test_created_clients_survive_a_restart(
    sandbox_factory: Callable[..., SandboxServer], client: httpx.Client, tmp_path: Any
) -> None:
    state_file = tmp_path / "oliver.json"
    first = Oliver(sandbox_factory(state_file=state_file, new_clients_by_name=True), client)
    assert first.book(**NEWCOMER).status_code == 200
    first.server.stop()
    second = Oliver(sandbox_factory(state_file=state_file), client)
    found = second.call("GET", "/clients", params={"email": NEWCOMER["email"]}).json()["data"]
    assert [c["id"] for c in found] == ["1008"]
    # a newcomer's id is never given twice
    assert second.settings(new_clients_by_name=True)
    other = {**NEWCOMER, "first_name": "Olga", "email": "olga@example.com"}
    assert second.book(**other).status_code == 200
    found = second.call("GET", "/clients", params={"name": "Quist"}).json()["data"]
    assert sorted(c["id"] for c in found) == ["1008", "1009"]


# -- a slot taken between search and booking -------------------------------------------------------


@pytest.mark.parametrize("status", [400, 409])
def test_an_offered_slot_can_be_taken_before_the_booking(
    oliver_factory: Callable[..., Oliver], status: int
) -> None:
    oliver = oliver_factory(taken_before_booking=1, slot_taken_status=status)
    offered = oliver.slots(2)
    # The first create of an offered slot finds it taken, as if another visitor got it
    lost = oliver.book(offered[0]["uuid"])
    assert lost.status_code == status
    assert lost.json()["message"] == "Slot is no longer available"
    # it is gone from later searches, and stays taken
    uuids = [t["uuid"] for d in oliver.days() for t in d["times"]]
    assert offered[0]["uuid"] not in uuids
    assert oliver.book(offered[0]["uuid"]).status_code == status
    # once: the next booking goes through
    assert oliver.book(offered[1]["uuid"]).status_code == 200
    state = oliver.control("GET", "state").json()
    assert (state["appointments_created"], state["create_requests"]) == (1, 3)
    assert oliver.control("GET", "settings").json()["taken_before_booking"] == 0


def test_taken_before_booking_at_run_time_only_races_offered_slots(oliver: Oliver) -> None:
    # A slot nobody was shown (its id made from the schedule) is not raced for
    day = date.today() + timedelta(days=3)
    while not slots.day_slots(day, "wellness"):
        day += timedelta(days=1)
    unseen = slots.day_slots(day, "wellness")[-1].uuid
    oliver.settings(taken_before_booking=2)
    assert oliver.book(unseen).status_code == 200
    # offered ones are, twice
    offered = oliver.slots(3)
    assert [oliver.book(s["uuid"]).status_code for s in offered] == [400, 400, 200]
    # a reset forgets the taken slots
    oliver.control("POST", "reset")
    assert offered[0]["uuid"] in [t["uuid"] for d in oliver.days() for t in d["times"]]


def test_every_switch_is_documented() -> None:
    readme = (Path(__file__).resolve().parents[2] / "local/oliver_sandbox/README.md").read_text()
    for name in vars(Config()):
        assert f"| `{name}` |" in readme, name
