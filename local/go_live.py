"""``make go-live-check``: read-only questions to a practice's Oliver before switching it on.

Oliver's documentation leaves much unknown (error statuses, id types, the open-times horizon,
zone and slot length, how soon a booking shows in the appointment list). This asks the configured
API with the practice's own credentials, prints what it learned, and says whether each
assumption the function makes holds. Nothing is written upstream unless ``--test-booking`` is
given (one appointment, which the practice must then cancel).

    make go-live-check ARGS="--secret-file oliver.json --email jane@example.com"
    .venv/bin/python -m local.go_live \\
        --api-url https://partner-api.getoliver.com/services/core/open_api/v1 \\
        --secret-id booking-webhook/oliver --timezone America/Chicago --email client@example.com

Without ``--api-url`` it asks the local sandbox (``make dev`` running), with its credentials.
The secret comes from ``--secret-file`` (a JSON or bare-token file), ``--secret-id`` (Secrets
Manager, with your AWS credentials) or, for the sandbox, the seeded one. Exit status 0 when
every check held, 1 otherwise. The token and client details are never printed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "layers" / "booking"))

from booking.credentials import parse_secret  # noqa: E402
from booking.oliver import SIGN_IN_PATH  # noqa: E402

TYPES = ("wellness", "sick", "technician", "recheck")
#: The statuses the function reads as a wrong location id (booking.oliver).
LOCATION_STATUSES = (400, 403, 404)
#: How often the appointment list is asked for a test booking: often at first, then gently.
LIST_POLLS = (0.5,) * 20 + (2.0,) * 50


def _as_sent(value: str) -> int | str:
    """An id as the function sends it in the create: the documented integer when numeric,
    otherwise as Oliver's lookups give it."""
    return int(value) if value.isascii() and value.isdigit() else value


@dataclass
class Report:
    out: TextIO
    failed: int = 0
    lines: list[str] = field(default_factory=list)

    def learned(self, text: str) -> None:
        self._say(f"  - {text}")

    def check(self, ok: bool, text: str) -> None:
        self._say(f"  [{'ok' if ok else 'FAIL'}] {text}")
        if not ok:
            self.failed += 1

    def section(self, title: str) -> None:
        self._say(f"\n{title}")

    def _say(self, text: str) -> None:
        self.lines.append(text)
        self.out.write(text + "\n")
        self.out.flush()


class Oliver:
    """Raw calls (statuses are what we want to learn), with the practice's headers."""

    def __init__(self, api_url: str, token: str, location: str) -> None:
        self.api_url = api_url.rstrip("/")
        self.http = httpx.Client(timeout=15.0)
        self.token = token
        self.location = location

    def call(
        self, method: str, path: str, *, location: str | None = None, **kwargs: Any
    ) -> httpx.Response:
        headers = {
            "Authorization": f"Bearer {self.token}",
            "X-Client-Id": self.location if location is None else location,
            "Accept": "application/json",
        }
        return self.http.request(method, self.api_url + path, headers=headers, **kwargs)


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _data(response: httpx.Response) -> Any:
    body = _json(response)
    return body.get("data") if isinstance(body, dict) else None


def sign_in(api_url: str, secret: Any, location: str, report: Report) -> str:
    if secret.token is not None:
        report.learned("the secret holds a token (no sign-in)")
        return str(secret.token)
    parts = urlsplit(api_url)
    url = f"{parts.scheme}://{parts.netloc}{SIGN_IN_PATH}"
    body = {"username": secret.username, "password": secret.password, "role": "ROLE_API"}
    answer = httpx.post(url, json=body, timeout=15.0)
    token = (_data(answer) or {}).get("token") if answer.status_code == 200 else None
    report.check(
        isinstance(token, str) and bool(token),
        f"sign-in answers 200 with a token ({answer.status_code})",
    )
    if not isinstance(token, str):
        raise SystemExit(1)
    again = httpx.post(url, json=body, timeout=15.0)
    second = (_data(again) or {}).get("token") if again.status_code == 200 else None
    if isinstance(second, str):
        # Does a new sign-in revoke the token before it? The function shares one token across
        # containers (one sign-in per refresh), but it must know.
        probe = Oliver(api_url, token, location).call(
            "GET", "/clients", params={"email": "x@example.invalid"}
        )
        revoked = probe.status_code == 401
        report.learned(
            "a new sign-in revokes the earlier token" if revoked else "earlier tokens stay valid"
        )
        token = second
    return token


def check_open_times(oliver: Oliver, zone: ZoneInfo, report: Report) -> list[dict[str, Any]]:
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=5)
    found: list[dict[str, Any]] = []
    horizon = 0  # days in an answer (the first and last may have no times at all)
    for kind in TYPES:
        body = {
            "search_from_date": start.isoformat().replace("+00:00", "Z"),
            "appointment_type": kind,
        }
        answer = oliver.call("POST", "/open_times", json=body)
        days = _data(answer)
        ok = answer.status_code == 200 and isinstance(days, list)
        report.check(ok, f"open times for {kind}: {answer.status_code}, {len(days or [])} days")
        if not ok or not days:
            continue
        horizon = max(horizon, len(days))
        slots = [s for d in days for s in d.get("times") or [] if isinstance(s, dict)]
        found.extend(slots)
        closed = sum(1 for d in days if not d.get("times"))
        report.learned(f"{kind}: {len(slots)} times over {len(days)} days ({closed} without times)")
    if not found:
        return found
    first = found[0]
    report.learned(f"horizon: {horizon} days from one search")
    starts = [datetime.fromisoformat(str(s["start"])) for s in found if s.get("start")]
    if starts:
        offsets = {s.strftime("%z") for s in starts}
        expected = {s.astimezone(zone).strftime("%z") for s in starts}
        report.check(
            offsets <= expected,
            f"times carry the practice's offset ({', '.join(sorted(offsets))}, {zone.key})",
        )
    if first.get("start") and first.get("end"):
        length = datetime.fromisoformat(first["end"]) - datetime.fromisoformat(first["start"])
        report.learned(f"slot length: {int(length.total_seconds() // 60)} minutes")
    report.check(all(isinstance(s.get("uuid"), str) for s in found), "every time has a uuid")
    return found


def check_location(oliver: Oliver, report: Report) -> None:
    wrong = str(uuid.uuid4())
    body = {"search_from_date": datetime.now(UTC).isoformat(), "appointment_type": "wellness"}
    statuses = {
        "open times": oliver.call("POST", "/open_times", location=wrong, json=body).status_code,
        "client search": oliver.call(
            "GET", "/clients", location=wrong, params={"email": "x@example.invalid"}
        ).status_code,
    }
    missing = oliver.call("GET", "/clients", location="", params={"email": "x@example.invalid"})
    statuses["no X-Client-Id"] = missing.status_code
    report.learned(
        "a wrong location id answers " + ", ".join(f"{k} {v}" for k, v in statuses.items())
    )
    # The function reads a refused read as a wrong location only for these statuses; a 401 it
    # takes for its token (one fresh sign-in, then 502 upstream_auth_failed).
    report.check(
        all(status in LOCATION_STATUSES for status in statuses.values()),
        "a wrong location id is refused with 400, 403 or 404 (the function then answers "
        "configuration_error)",
    )


def check_clients(oliver: Oliver, email: str | None, report: Report) -> None:
    if not email:
        report.learned("no --email given: client search skipped")
        return
    answer = oliver.call("GET", "/clients", params={"email": email})
    clients = _data(answer)
    report.check(
        answer.status_code == 200 and isinstance(clients, list),
        f"client search: {answer.status_code}",
    )
    if not clients:
        report.learned("no client has that email")
        return
    client = clients[0]
    client_id = client.get("id")
    numeric = str(client_id).isdigit()
    report.learned(
        f"client ids are {type(client_id).__name__}s ({'' if numeric else 'not '}numeric)"
    )
    patients = client.get("patients")
    report.check(isinstance(patients, list), "a client record embeds its patients")
    report.check(isinstance(client.get("name"), str), "a client record has a full name")


def check_appointments(oliver: Oliver, report: Report) -> None:
    now = datetime.now(UTC)
    params = {
        "updated_at_start": (now - timedelta(days=7)).isoformat().replace("+00:00", "Z"),
        "updated_at_end": now.isoformat().replace("+00:00", "Z"),
        "page": "0",
        "per_page": "100",
    }
    answer = oliver.call("GET", "/appointments", params=params)
    data = _data(answer)
    ok = answer.status_code == 200 and isinstance(data, dict)
    report.check(ok, f"appointment list: {answer.status_code}")
    if not ok:
        return
    content = data.get("content") or []
    report.check("total_pages" in data, f"the list is paged ({data.get('total_pages')} pages)")
    if content:
        first = content[0]
        report.learned(f"appointment ids in the list are {type(first.get('id')).__name__}")
        statuses = sorted({str(a.get("status")) for a in content})
        report.learned(f"statuses seen this week: {', '.join(statuses)}")


def test_booking(
    oliver: Oliver, slot: dict[str, Any], client_id: str, patient_id: str, report: Report
) -> None:
    body = {
        "slot_id": slot["uuid"],
        "client_id": _as_sent(client_id),
        "patient_id": _as_sent(patient_id),
    }
    body["note"] = "go-live check: please cancel"
    created_at = datetime.now(UTC)
    answer = oliver.call("POST", "/appointments", json=body)
    data = _data(answer)
    report.learned(f"the create answers {answer.status_code}")
    if not isinstance(data, dict) or data.get("id") is None:
        report.check(False, "the create returned an appointment")
        return
    report.learned(f"created appointment {data['id']} (id {type(data['id']).__name__}); cancel it")
    params = {
        "updated_at_start": (created_at - timedelta(minutes=2)).isoformat().replace("+00:00", "Z")
    }
    for pause in (0.0, *LIST_POLLS):
        time.sleep(pause)
        listed = _data(oliver.call("GET", "/appointments", params=params)) or {}
        if any(str(a.get("id")) == str(data["id"]) for a in listed.get("content") or []):
            delay = (datetime.now(UTC) - created_at).total_seconds()
            report.learned(f"it shows in the appointment list after {delay:.1f} s")
            return
    report.check(False, "the booking showed in the appointment list within 2 minutes")


def _secret_value(args: argparse.Namespace) -> Any:
    if args.secret_file:
        return Path(args.secret_file).read_text(encoding="utf-8")
    if args.secret_id:
        import boto3

        return boto3.client("secretsmanager").get_secret_value(SecretId=args.secret_id)[
            "SecretString"
        ]
    from local.oliver_sandbox import seed

    return json.dumps(
        {"username": seed.USERNAME, "password": seed.PASSWORD, "location_id": seed.LOCATION_ID}
    )


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    port = os.environ.get("OLIVER_SANDBOX_PORT", "3001")
    parser = argparse.ArgumentParser(prog="make go-live-check", description=__doc__)
    parser.add_argument("--api-url", default=f"http://127.0.0.1:{port}/services/core/open_api/v1")
    parser.add_argument("--secret-file", help="a file holding the Oliver secret's value")
    parser.add_argument("--secret-id", help="Secrets Manager id of the Oliver secret")
    parser.add_argument("--location-id", help="OLIVER_LOCATION_ID, when not in the secret")
    parser.add_argument("--timezone", default="America/Chicago", help="PRACTICE_TIMEZONE")
    parser.add_argument("--email", help="a client's email to search for (read-only)")
    parser.add_argument(
        "--test-booking",
        nargs=2,
        metavar=("CLIENT_ID", "PATIENT_ID"),
        help="book one appointment for this client and pet to measure the list delay",
    )
    return parser.parse_args(argv)


def run(argv: Sequence[str] | None = None, out: TextIO = sys.stdout) -> Report:
    args = parse_args(argv)
    report = Report(out)
    report.section(f"Oliver at {args.api_url}")
    secret = parse_secret(_secret_value(args))
    location = args.location_id or secret.location_id
    report.check(bool(location), "a location id is configured (OLIVER_LOCATION_ID or the secret)")
    token = sign_in(args.api_url, secret, location or "", report)
    oliver = Oliver(args.api_url, token, location or "")
    report.section("Open times")
    slots = check_open_times(oliver, ZoneInfo(args.timezone), report)
    report.section("Location id")
    check_location(oliver, report)
    report.section("Clients")
    check_clients(oliver, args.email, report)
    report.section("Appointments")
    check_appointments(oliver, report)
    if args.test_booking and slots:
        report.section("One test booking")
        client_id, patient_id = args.test_booking
        test_booking(oliver, slots[0], client_id, patient_id, report)
    report.section("All checks held." if not report.failed else f"{report.failed} check(s) failed.")
    return report


def main(argv: Sequence[str] | None = None) -> int:
    return 0 if run(argv).failed == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
