"""The sandbox's mutable state (appointments, counters, settings), optionally kept in a file."""

from __future__ import annotations

import copy
import json
import os
import tempfile
import threading
from pathlib import Path
from typing import Any

from . import seed

STATE_VERSION = 1


class State:
    """All mutable data, guarded by one lock (`with state.lock:`)."""

    def __init__(self, state_file: str | os.PathLike[str] | None = None) -> None:
        self.lock = threading.RLock()
        self.state_file = Path(state_file) if state_file else None
        self.clients: list[dict[str, Any]] = []
        self.appointments: list[dict[str, Any]] = []  # {"data": {...}, "sandbox": {...}}
        self.staff_tasks: list[dict[str, Any]] = []
        self.ai_outbound: list[dict[str, Any]] = []
        self.next_appointment_id = 1
        self.next_client_id = 1
        #: Keys of slots booked by someone outside the simulation (``taken_before_booking``).
        self.taken_slots: list[str] = []
        self.create_requests = 0
        self.auto_accept = seed.AUTO_ACCEPT
        self.reset()
        if self.state_file and self.state_file.exists():
            self._load()

    # -- seed / persistence -------------------------------------------------------------------

    def reset(self) -> None:
        with self.lock:
            self.clients = copy.deepcopy(seed.CLIENTS)
            self.appointments = []
            self.staff_tasks = []
            self.ai_outbound = []
            self.next_appointment_id = 50001
            self.next_client_id = max(int(c["id"]) for c in seed.CLIENTS) + 1
            self.taken_slots = []
            self.create_requests = 0
            self.auto_accept = seed.AUTO_ACCEPT

    def _load(self) -> None:
        assert self.state_file is not None
        raw = json.loads(self.state_file.read_text(encoding="utf-8"))
        if not isinstance(raw, dict) or raw.get("version") != STATE_VERSION:
            raise ValueError(f"{self.state_file} is not a sandbox state file")
        self.appointments = list(raw.get("appointments", []))
        self.staff_tasks = list(raw.get("staff_tasks", []))
        self.ai_outbound = list(raw.get("ai_outbound", []))
        self.next_appointment_id = int(raw.get("next_appointment_id", self.next_appointment_id))
        self.clients.extend(raw.get("created_clients", []))
        self.next_client_id = int(raw.get("next_client_id", self.next_client_id))
        self.taken_slots = list(raw.get("taken_slots", []))
        self.create_requests = int(raw.get("create_requests", 0))
        self.auto_accept = bool(raw.get("auto_accept", self.auto_accept))

    def save(self) -> None:
        """Write the state file atomically (temp file + rename); a no-op without one."""
        if self.state_file is None:
            return
        with self.lock:
            payload = {
                "version": STATE_VERSION,
                "appointments": self.appointments,
                "staff_tasks": self.staff_tasks,
                "ai_outbound": self.ai_outbound,
                "next_appointment_id": self.next_appointment_id,
                "created_clients": self.clients[len(seed.CLIENTS) :],
                "next_client_id": self.next_client_id,
                "taken_slots": self.taken_slots,
                "create_requests": self.create_requests,
                "auto_accept": self.auto_accept,
            }
            directory = self.state_file.parent
            directory.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".oliver-sandbox-", dir=directory)
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as handle:
                    json.dump(payload, handle, ensure_ascii=False, indent=1)
                    handle.flush()
                    os.fsync(handle.fileno())
                os.replace(tmp, self.state_file)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise

    # -- queries ------------------------------------------------------------------------------

    def booked_slot_keys(self) -> set[str]:
        """Every slot taken: by an appointment here, or by someone outside the simulation."""
        with self.lock:
            booked = {
                a["sandbox"]["slot_key"]
                for a in self.appointments
                if a["data"]["status"] not in ("DELETED", "DECLINED")
            }
            return booked | set(self.taken_slots)

    def client(self, client_id: str) -> dict[str, Any] | None:
        return next((c for c in self.clients if c["id"] == client_id), None)

    def patient(self, patient_id: str) -> tuple[dict[str, Any], dict[str, Any]] | None:
        """(client, patient) for a patient id."""
        for client in self.clients:
            for patient in client["patients"]:
                if patient["id"] == patient_id:
                    return client, patient
        return None
