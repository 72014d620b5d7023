"""The DynamoDB adapter for what the function remembers besides idempotency records (which
Powertools keeps, see ``booking.idempotency``): unknown-outcome markers and visitor counters.

Every item carries ``expiration`` (epoch seconds), the table's TTL attribute. Best effort: a
DynamoDB fault here must never turn a booking's answer into an error, so failures are reported
by return values (and counted by the caller), never raised.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from booking.errors import CountersUnavailable

MARKER_TTL_SECONDS = 24 * 60 * 60
UNKNOWN_OUTCOME_PREFIX = "outcome-unknown#"
#: The ``settled`` value of a marker whose booking was never found.
FAILED = "failed"


@dataclass(frozen=True)
class Marker:
    """A booking whose create may have reached Oliver without an answer."""

    #: When the first attempt began: the lookup for the appointment starts there.
    since: str
    #: Once settled as booked, the receipt the visitor was never given (None while unsettled).
    receipt: dict[str, Any] | None = None
    #: Settled as failed: staff were asked to check; a new attempt may book afresh.
    failed: bool = False


class UnknownOutcomeMarkers:
    """Remembers bookings whose create may have reached Oliver without an answer, so that a
    retry of the same booking looks for the appointment before creating it again, and so that
    exactly one party announces how it ended (``settle``): the visitor's retry or the background
    check (``booking.settle``), never both."""

    def __init__(self, dynamodb_client: Any, table_name: str) -> None:
        self._client = dynamodb_client
        self._table = table_name

    def _id(self, key: str) -> dict[str, dict[str, str]]:
        digest = hashlib.sha256(key.encode()).hexdigest()
        return {"id": {"S": UNKNOWN_OUTCOME_PREFIX + digest}}

    def mark(self, key: str, since: str) -> bool:
        item = {
            **self._id(key),
            "since": {"S": since},
            "expiration": {"N": str(int(time.time()) + MARKER_TTL_SECONDS)},
        }
        try:
            self._client.put_item(TableName=self._table, Item=item)
        except Exception:
            return False
        return True

    def read(self, key: str) -> Marker | None:
        """The live marker of ``key``, or None (none, expired, or DynamoDB unreachable)."""
        try:
            answer = self._client.get_item(
                TableName=self._table, Key=self._id(key), ConsistentRead=True
            )
        except Exception:
            return None
        item = answer.get("Item")
        if not item or int(item.get("expiration", {}).get("N", "0")) < time.time():
            return None
        settled = item.get("settled", {}).get("S")
        receipt = json.loads(settled) if settled and settled != FAILED else None
        return Marker(str(item["since"]["S"]), receipt, settled == FAILED)

    def since(self, key: str) -> str | None:
        marker = self.read(key)
        return marker.since if marker is not None and marker.receipt is None else None

    def settle(self, key: str, receipt: dict[str, Any] | None) -> bool | None:
        """Record how the booking ended (its receipt, or None: failed). True when this call
        settled it (so it announces the outcome), False when it was settled or gone already,
        None when DynamoDB could not be asked."""
        value = FAILED if receipt is None else json.dumps(receipt, separators=(",", ":"))
        try:
            self._client.update_item(
                TableName=self._table,
                Key=self._id(key),
                UpdateExpression="SET settled = :value",
                ConditionExpression="attribute_exists(id) AND attribute_not_exists(settled)",
                ExpressionAttributeValues={":value": {"S": value}},
            )
        except self._client.exceptions.ConditionalCheckFailedException:
            return False
        except Exception:
            return None
        return True

    def clear(self, key: str) -> bool:
        try:
            self._client.delete_item(TableName=self._table, Key=self._id(key))
        except Exception:
            return False
        return True


class Counters:
    """Atomic counters over a window that starts with the first hit (and ends with the item's
    expiration), plus one-time claims. Keys are opaque (HMACs); nothing personal is stored."""

    def __init__(
        self, dynamodb_client: Any, table_name: str, clock: Callable[[], float] = time.time
    ) -> None:
        self._client = dynamodb_client
        self._table = table_name
        self._clock = clock

    def hit(self, key: str, window: int) -> tuple[int, int]:
        """Count one hit; (hits in the current window, seconds until it ends)."""
        now = int(self._clock())
        errors = self._client.exceptions
        try:
            answer = self._client.update_item(
                TableName=self._table,
                Key={"id": {"S": key}},
                UpdateExpression="ADD hits :one SET expiration = if_not_exists(expiration, :end)",
                ConditionExpression="attribute_not_exists(id) OR expiration > :now",
                ExpressionAttributeValues={
                    ":one": {"N": "1"},
                    ":end": {"N": str(now + window)},
                    ":now": {"N": str(now)},
                },
                ReturnValues="ALL_NEW",
            )
        except errors.ConditionalCheckFailedException:
            # The last window ended but TTL has not deleted the item yet: start a new one.
            return self._restart(key, now, window)
        except Exception as exc:
            raise CountersUnavailable() from exc
        item = answer.get("Attributes") or {}
        return int(item["hits"]["N"]), max(1, int(item["expiration"]["N"]) - now)

    def _restart(self, key: str, now: int, window: int) -> tuple[int, int]:
        item = {"id": {"S": key}, "hits": {"N": "1"}, "expiration": {"N": str(now + window)}}
        try:
            self._client.put_item(TableName=self._table, Item=item)
        except Exception as exc:
            raise CountersUnavailable() from exc
        return 1, window

    def peek(self, keys: list[str]) -> int:
        """The highest live count among ``keys`` (0 when none is counting)."""
        if not keys:
            return 0
        now = self._clock()
        try:
            answer = self._client.batch_get_item(
                RequestItems={
                    self._table: {
                        "Keys": [{"id": {"S": key}} for key in dict.fromkeys(keys)],
                        "ConsistentRead": True,
                    }
                }
            )
        except Exception as exc:
            raise CountersUnavailable() from exc
        counts = [
            int(item.get("hits", {}).get("N", "0"))
            for item in (answer.get("Responses") or {}).get(self._table, [])
            if int(item.get("expiration", {}).get("N", "0")) > now
        ]
        return max(counts, default=0)

    def claim(self, key: str, ttl: int) -> bool:
        """True for the first claim of ``key`` while it lives; False afterwards (or on a fault:
        a duplicate is better than a lost follow-up, consumers drop it by its event id)."""
        now = int(self._clock())
        try:
            self._client.put_item(
                TableName=self._table,
                Item={"id": {"S": key}, "expiration": {"N": str(now + ttl)}},
                ConditionExpression="attribute_not_exists(id) OR expiration <= :now",
                ExpressionAttributeValues={":now": {"N": str(now)}},
            )
        except self._client.exceptions.ConditionalCheckFailedException:
            return False
        except Exception:
            return True
        return True


class Generation:
    """A counter every container shares: bumped by each booking, read by the open-times cache
    so that no cached answer outlives a booking by more than a few seconds."""

    KEY = "open-times#generation"

    def __init__(self, dynamodb_client: Any, table_name: str) -> None:
        self._client = dynamodb_client
        self._table = table_name

    def current(self) -> int | None:
        try:
            answer = self._client.get_item(TableName=self._table, Key={"id": {"S": self.KEY}})
        except Exception:
            return None  # the cache then lives by its TTL alone
        return int(answer.get("Item", {}).get("value", {}).get("N", "0"))

    def bump(self) -> None:
        try:
            self._client.update_item(
                TableName=self._table,
                Key={"id": {"S": self.KEY}},
                UpdateExpression="ADD #v :one",
                ExpressionAttributeNames={"#v": "value"},
                ExpressionAttributeValues={":one": {"N": "1"}},
            )
        except Exception:
            return
