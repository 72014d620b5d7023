"""SnapStart (template parameter ``SnapStart``): the API function registers its hooks with the
runtime's hook module when there is one, the before-snapshot hook primes, and a restored
container reads its secrets again, opens new connections and has a random state of its own.

The runtime's ``snapshot_restore_py`` is replaced by a module that records what is registered
(it exists only on Lambda); the function's module is imported afresh with it in place."""

from __future__ import annotations

import random
import sys
import types
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from conftest import JANE_BOOKS_REX, booking_event, created, function_module


class HookModule(types.ModuleType):
    """Stands in for the Lambda runtime's ``snapshot_restore_py``."""

    def __init__(self) -> None:
        super().__init__("snapshot_restore_py")
        self.before: list[Callable[[], None]] = []
        self.after: list[Callable[[], None]] = []

    def register_before_snapshot(self, hook: Callable[[], None]) -> None:
        self.before.append(hook)

    def register_after_restore(self, hook: Callable[[], None]) -> None:
        self.after.append(hook)


@pytest.fixture
def runtime_hooks(monkeypatch: pytest.MonkeyPatch) -> HookModule:
    hooks = HookModule()
    monkeypatch.setitem(sys.modules, "snapshot_restore_py", hooks)
    return hooks


@pytest.fixture
def api_function(env: dict[str, str], runtime_hooks: HookModule) -> Any:
    """The API function's module, imported as Lambda's init would (with the hook module there)."""
    return function_module("api", "snapstart_api_app")


@pytest.fixture
def secret_reads() -> Iterator[list[str]]:
    """The secret ids the function reads from Secrets Manager, in order."""
    from booking import container

    reads: list[str] = []

    def record(params: dict[str, Any], **_: Any) -> None:
        reads.append(str(params["SecretId"]))

    events = container.aws_client("secretsmanager").meta.events
    events.register("provide-client-params.secretsmanager.GetSecretValue", record)
    yield reads
    events.unregister("provide-client-params.secretsmanager.GetSecretValue", record)


def book(api_function: Any, slot: str) -> int:
    from conftest import Context

    result = api_function.lambda_handler(
        booking_event({**JANE_BOOKS_REX, "slot_id": slot}), Context()
    )
    return int(result["statusCode"])


def test_the_api_function_registers_one_hook_of_each_kind(
    api_function: Any, runtime_hooks: HookModule
) -> None:
    from booking import container

    assert runtime_hooks.before == [container.prime]
    assert runtime_hooks.after == [container.after_restore]


def test_a_restored_container_reads_its_secrets_again_and_opens_new_connections(
    api_function: Any, runtime_hooks: HookModule, oliver: Any, aws: Any, secret_reads: list[str]
) -> None:
    from booking import container

    oliver.post(url__regex=r".*/appointments$").respond(201, json=created())
    (before_snapshot,) = runtime_hooks.before
    (after_restore,) = runtime_hooks.after
    before_snapshot()
    assert secret_reads == []  # a snapshot keeps no secret
    assert book(api_function, "slot-1") == 201
    snapshot_client = container.http_client()
    reads_before_snapshot = len(secret_reads)
    assert book(api_function, "slot-2") == 201
    assert len(secret_reads) == reads_before_snapshot  # warm: cached

    after_restore()

    assert snapshot_client.is_closed
    assert container.http_client() is not snapshot_client
    # The secrets are read again, ahead of the first request (never the snapshot's copies)
    container.await_read_ahead()
    assert aws.secret_arn in secret_reads[reads_before_snapshot:]
    restored_reads = len(secret_reads)
    assert book(api_function, "slot-3") == 201
    assert len(secret_reads) == restored_reads


def test_two_containers_restored_from_one_snapshot_draw_different_random_numbers(
    api_function: Any, runtime_hooks: HookModule
) -> None:
    (after_restore,) = runtime_hooks.after
    drawn = []
    for _ in range(2):
        random.seed(1234)  # the state the snapshot holds
        after_restore()
        drawn.append(random.random())
    assert drawn[0] != drawn[1]


def test_without_the_runtime_hook_module_nothing_is_registered(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from booking import snapstart

    monkeypatch.setitem(sys.modules, "snapshot_restore_py", None)  # import fails
    assert snapstart.install(lambda: None, lambda: None) is False
