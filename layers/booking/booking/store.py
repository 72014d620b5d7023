"""The DynamoDB adapter for what the function remembers besides idempotency records (which
Powertools keeps, see ``booking.idempotency``): unknown-outcome markers (in those records' items)
and visitor counters.

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
    check (``booking.settle``), never both.

    A marker rides in the booking's idempotency record (``record_id(key)`` names its item, see
    ``booking.records``): written while the attempt that lost its answer still holds the record,
    it survives that attempt's failure, and the next attempt's claim of the record returns it,
    so a booking with no marker costs no read."""

    def __init__(
        self, dynamodb_client: Any, table_name: str, record_id: Callable[[str], str]
    ) -> None:
        self._client = dynamodb_client
        self._table = table_name
        self._record_id = record_id

    def _key(self, key: str) -> dict[str, dict[str, str]]:
        return {"id": {"S": self._record_id(key)}}

    def mark(self, key: str, since: str) -> bool:
        """Mark the booking whose attempt holds ``key``'s record now (its claim made the item)."""
        try:
            self._client.update_item(
                TableName=self._table,
                Key=self._key(key),
                # A marker settled as failed starts over: this attempt is checked again.
                UpdateExpression="SET since = :since REMOVE settled",
                ConditionExpression="attribute_exists(id)",
                ExpressionAttributeValues={":since": {"S": since}},
            )
        except Exception:
            return False
        return True

    def read(self, key: str) -> Marker | None:
        """The live marker of ``key``, or None (none, expired, or DynamoDB unreachable)."""
        try:
            answer = self._client.get_item(
                TableName=self._table, Key=self._key(key), ConsistentRead=True
            )
        except Exception:
            return None
        return marker_of(answer.get("Item"))

    def settle(self, key: str, receipt: dict[str, Any] | None) -> bool | None:
        """Record how the booking ended (its receipt, or None: failed). True when this call
        settled it (so it announces the outcome), False when it was settled or gone already,
        None when DynamoDB could not be asked."""
        value = FAILED if receipt is None else json.dumps(receipt, separators=(",", ":"))
        try:
            self._client.update_item(
                TableName=self._table,
                Key=self._key(key),
                UpdateExpression="SET settled = :value",
                ConditionExpression="attribute_exists(since) AND attribute_not_exists(settled)",
                ExpressionAttributeValues={":value": {"S": value}},
            )
        except self._client.exceptions.ConditionalCheckFailedException:
            return False
        except Exception:
            return None
        return True


def marker_of(item: dict[str, Any] | None, now: float | None = None) -> Marker | None:
    """The marker an idempotency record's item carries, if it carries a live one."""
    if not item or "since" not in item:
        return None
    if int(item.get("expiration", {}).get("N", "0")) < (time.time() if now is None else now):
        return None
    settled = item.get("settled", {}).get("S")
    receipt = json.loads(settled) if settled and settled != FAILED else None
    return Marker(str(item["since"]["S"]), receipt, settled == FAILED)


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


class RecentBookings:
    """Which slots were taken lately, as every container sees it: the open-times cache asks it
    before it reuses an answer (``booking.open_times``).

    A booking says so at no cost: the completion of its idempotency record stamps the item
    (``stamp()``, see ``booking.records``), and the table's index ``booked-at`` (keys only)
    orders stamped items by that time. A slot taken in another way (Oliver refused it, or the
    background check found it booked) gets an item of its own (``taken``). Best effort: when
    DynamoDB cannot be asked, a cached answer lives by its TTL alone."""

    INDEX = "booked-at"
    PARTITION = "open-times"
    #: Stamps come from other hosts' clocks: a booking stamped this much before an answer was
    #: fetched still counts as after it.
    SKEW_SECONDS = 2.0
    TAKEN_TTL_SECONDS = 60 * 60

    def __init__(
        self, dynamodb_client: Any, table_name: str, clock: Callable[[], float] = time.time
    ) -> None:
        self._client = dynamodb_client
        self._table = table_name
        self._clock = clock

    @classmethod
    def stamp(cls, now: float) -> dict[str, dict[str, str]]:
        """The attributes that put an item in the index, as taken at ``now`` (epoch seconds)."""
        return {"booked": {"S": cls.PARTITION}, "booked_at": {"N": f"{now:.3f}"}}

    def since(self, moment: float) -> bool | None:
        """Whether a slot was taken after ``moment`` (epoch seconds); None: cannot tell."""
        try:
            answer = self._client.query(
                TableName=self._table,
                IndexName=self.INDEX,
                KeyConditionExpression="booked = :partition AND booked_at > :moment",
                ExpressionAttributeValues={
                    ":partition": {"S": self.PARTITION},
                    ":moment": {"N": f"{moment - self.SKEW_SECONDS:.3f}"},
                },
                Select="COUNT",
                Limit=1,
            )
        except Exception:
            return None
        return int(answer.get("Count", 0)) > 0

    def taken(self, slot_id: str) -> None:
        now = self._clock()
        digest = hashlib.sha256(slot_id.encode()).hexdigest()
        item = {
            "id": {"S": f"{self.PARTITION}#taken#{digest}"},
            **self.stamp(now),
            "expiration": {"N": str(int(now) + self.TAKEN_TTL_SECONDS)},
        }
        try:
            self._client.put_item(TableName=self._table, Item=item)
        except Exception:
            return
