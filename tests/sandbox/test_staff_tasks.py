"""Staff tasks (reference §4.9): 201 on create, paged lists with a status filter, partial update,
delete as a soft cancel, kept in the state file."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from local.oliver_sandbox import SandboxServer

from .conftest import API, auth_headers, sign_in

TASK = {
    "title": "Call back Jane Doe",
    "description": "Online booking for Rex not made",
    "client_id": "1001",
    "patient_id": "2001",
    "reference_time_at": "2030-01-07T15:00:00Z",
}


def create(http: httpx.Client, headers: dict[str, str], **fields: object) -> httpx.Response:
    return http.post(f"{API}/staff_tasks", headers=headers, json={**TASK, **fields})


def test_a_created_task_is_201_pending_with_every_documented_field(
    http: httpx.Client, headers: dict[str, str]
) -> None:
    answer = create(http, headers)
    assert answer.status_code == 201
    body = answer.json()
    assert body["success"] is True
    task = body["data"]
    assert {
        "id",
        "task_type",
        "status",
        "title",
        "description",
        "client_id",
        "patient_id",
        "cancellation_allowed",
        "override_completion_action_text",
        "reference_time_at",
        "finalized_at",
        "created_at",
        "updated_at",
    } == set(task)
    assert (task["status"], task["task_type"], task["finalized_at"]) == ("pending", "task", None)
    assert task["reference_time_at"].startswith("2030-01-07T15:00:00")
    shown = http.get(f"{API}/staff_tasks/{task['id']}", headers=headers)
    assert shown.status_code == 200 and shown.json()["data"] == task


@pytest.mark.parametrize(
    "fields",
    [
        {"title": ""},
        {"title": None},
        {"task_type": "chore"},
        {"client_id": 1001},
        {"reference_time_at": "tomorrow"},
        {"status": "completed"},
        {"priority": "high"},
    ],
)
def test_a_task_without_a_title_or_with_a_wrong_field_is_400(
    http: httpx.Client, headers: dict[str, str], fields: dict[str, object]
) -> None:
    answer = create(http, headers, **fields)
    assert answer.status_code == 400
    assert answer.json()["success"] is False


def test_tasks_need_a_token_and_the_practice(http: httpx.Client) -> None:
    assert http.post(f"{API}/staff_tasks", json=TASK).status_code == 401
    token = sign_in(http)
    no_location = {"Authorization": f"Bearer {token}"}
    assert http.get(f"{API}/staff_tasks", headers=no_location).status_code == 400


def test_lists_are_paged_newest_first_and_filter_on_status(
    http: httpx.Client, headers: dict[str, str]
) -> None:
    ids = [create(http, headers, title=f"task {n}").json()["data"]["id"] for n in range(3)]
    http.put(f"{API}/staff_tasks/{ids[0]}", headers=headers, json={"status": "completed"})
    page = http.get(f"{API}/staff_tasks", headers=headers, params={"per_page": 2}).json()["data"]
    assert (page["page"], page["per_page"], page["total_pages"], page["total_count"]) == (
        0,
        2,
        2,
        3,
    )
    assert [t["id"] for t in page["content"]] == [ids[2], ids[1]]
    pending = http.get(f"{API}/staff_tasks", headers=headers, params={"status": "pending"})
    assert [t["id"] for t in pending.json()["data"]["content"]] == [ids[2], ids[1]]
    wrong = http.get(f"{API}/staff_tasks", headers=headers, params={"status": "open"})
    assert wrong.status_code == 400


def test_an_update_changes_only_what_it_sends_and_stamps_finalized_at(
    http: httpx.Client, headers: dict[str, str]
) -> None:
    task = create(http, headers).json()["data"]
    done = http.put(
        f"{API}/staff_tasks/{task['id']}", headers=headers, json={"status": "completed"}
    ).json()["data"]
    assert done["status"] == "completed" and done["finalized_at"]
    assert done["title"] == task["title"] and done["client_id"] == "1001"
    reopened = http.put(
        f"{API}/staff_tasks/{task['id']}", headers=headers, json={"status": "pending"}
    ).json()["data"]
    assert reopened["finalized_at"] is None


def test_delete_cancels_the_task_and_keeps_it(http: httpx.Client, headers: dict[str, str]) -> None:
    task = create(http, headers).json()["data"]
    deleted = http.delete(f"{API}/staff_tasks/{task['id']}", headers=headers)
    assert deleted.status_code == 200 and deleted.json()["data"] is None
    kept = http.get(f"{API}/staff_tasks/{task['id']}", headers=headers).json()["data"]
    assert kept["status"] == "canceled" and kept["finalized_at"]


def test_an_unknown_task_is_404(http: httpx.Client, headers: dict[str, str]) -> None:
    for method in ("GET", "PUT", "DELETE"):
        answer = http.request(method, f"{API}/staff_tasks/nope", headers=headers, json={})
        assert answer.status_code == 404, method


def test_tasks_survive_a_restart_with_a_state_file_and_go_on_reset(
    sandbox_factory: Callable[..., SandboxServer], tmp_path: Path
) -> None:
    state_file = tmp_path / "sandbox.json"
    first = sandbox_factory(state_file=state_file)
    with httpx.Client(base_url=first.url) as http:
        create(http, auth_headers(sign_in(http)))
    first.stop()
    second = sandbox_factory(state_file=state_file)
    with httpx.Client(base_url=second.url) as http:
        assert len(http.get("/__sandbox/staff_tasks").json()) == 1
        http.post("/__sandbox/reset", json={})
        assert http.get("/__sandbox/staff_tasks").json() == []
