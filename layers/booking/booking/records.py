"""Powertools' DynamoDB idempotency records, with an unknown-outcome marker riding in them.

A booking's record is claimed before Oliver is asked and completed with the answer (Powertools'
``DynamoDBPersistenceLayer``). Two changes, so that a booking costs three AWS calls (claim,
completion, PutEvents) and no read:

- **The claim returns what it replaced.** Powertools claims with a conditional ``PutItem``; here
  it is the same condition on an ``UpdateItem`` that returns the old item. An earlier attempt
  whose create lost its answer left its marker (``since``, and ``settled`` once the background
  check or a retry knows how it ended, see ``booking.store.UnknownOutcomeMarkers``) in this very
  item: it comes back with the claim (``previous()``), and stays in the item while this attempt
  runs, so the background check and this attempt still agree on who settles it.
- **The completion says a slot was taken.** It also stamps the item for the table's ``booked-at``
  index, which the open-times cache of every container reads (``booking.store.RecentBookings``),
  so telling them costs no call either.
- **A failed attempt keeps a marker.** Powertools deletes the record of an attempt that raised;
  a record that carries a marker is released instead (its in-progress lock expired), so the
  marker outlives the failure and the next attempt can claim the record at once.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from typing import Any

from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyItemAlreadyExistsError,
)
from aws_lambda_powertools.utilities.idempotency.persistence.datarecord import (
    STATUS_CONSTANTS,
    DataRecord,
)
from botocore.exceptions import ClientError

from booking.store import Marker, RecentBookings, marker_of


class BookingRecords(DynamoDBPersistenceLayer):
    def __init__(self, table_name: str, dynamodb_client: Any) -> None:
        super().__init__(table_name=table_name, boto3_client=dynamodb_client)
        self._attempt = threading.local()

    def record_id(self, key: str) -> str:
        """The item id of ``key``'s record (Powertools' hash of it, with the configured prefix)."""
        record_id = self._get_hashed_idempotency_key(data={"key": key})
        assert record_id is not None  # every booking has a key
        return record_id

    def previous(self) -> Marker | None:
        """The marker this thread's last claim found in the record (None: none, or no claim)."""
        return getattr(self._attempt, "previous", None)

    def _put_record(self, data_record: DataRecord) -> None:
        self._attempt.previous = None
        now = dt.datetime.now()
        names = {
            "#id": self.key_attr,
            "#expiry": self.expiry_attr,
            "#in_progress_expiry": self.in_progress_expiry_attr,
            "#status": self.status_attr,
        }
        values: dict[str, Any] = {
            ":now": {"N": str(int(now.timestamp()))},
            ":now_in_millis": {"N": str(int(now.timestamp() * 1000))},
            ":inprogress": {"S": STATUS_CONSTANTS["INPROGRESS"]},
            ":expiry": {"N": str(data_record.expiry_timestamp)},
        }
        sets = ["#expiry = :expiry", "#status = :inprogress"]
        if data_record.in_progress_expiry_timestamp is not None:
            sets.append("#in_progress_expiry = :in_progress_expiry")
            values[":in_progress_expiry"] = {"N": str(data_record.in_progress_expiry_timestamp)}
        if self.payload_validation_enabled and data_record.payload_hash:
            sets.append("#validation = :validation")
            names["#validation"] = self.validation_key_attr
            values[":validation"] = {"S": data_record.payload_hash}
        try:
            answer = self.client.update_item(
                TableName=self.table_name,
                Key=self._get_key(data_record.idempotency_key),
                UpdateExpression="SET " + ", ".join(sets),
                # Powertools' own condition: no record, an expired one, or an abandoned attempt.
                ConditionExpression=(
                    "attribute_not_exists(#id) OR #expiry < :now OR (#status = :inprogress"
                    " AND attribute_exists(#in_progress_expiry)"
                    " AND #in_progress_expiry < :now_in_millis)"
                ),
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
                ReturnValues="ALL_OLD",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise
            item = exc.response.get("Item")  # type: ignore[typeddict-item]
            if item is None:
                raise IdempotencyItemAlreadyExistsError() from exc
            # As Powertools answers it: a replay, 409 in progress, or 422 for another booking.
            old = self._item_to_data_record(item)
            self._validate_payload(data_payload=data_record, stored_data_record=old)
            self._save_to_cache(data_record=old)
            raise IdempotencyItemAlreadyExistsError(old_data_record=old) from exc
        self._attempt.previous = marker_of(answer.get("Attributes"), now.timestamp())

    def _update_record(self, data_record: DataRecord) -> None:
        # Powertools' completion, plus the stamp of a slot taken (only successes complete).
        names = {
            "#response_data": self.data_attr,
            "#expiry": self.expiry_attr,
            "#status": self.status_attr,
        }
        values: dict[str, Any] = {
            ":response_data": {"S": data_record.response_data},
            ":expiry": {"N": str(data_record.expiry_timestamp)},
            ":status": {"S": data_record.status},
        }
        sets = ["#response_data = :response_data", "#expiry = :expiry", "#status = :status"]
        if self.payload_validation_enabled:
            sets.append("#validation = :validation")
            names["#validation"] = self.validation_key_attr
            values[":validation"] = {"S": data_record.payload_hash}
        for name, value in RecentBookings.stamp(time.time()).items():
            sets.append(f"{name} = :{name}")
            values[f":{name}"] = value
        self.client.update_item(
            TableName=self.table_name,
            Key=self._get_key(data_record.idempotency_key),
            UpdateExpression="SET " + ", ".join(sets),
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
        )

    def _delete_record(self, data_record: DataRecord) -> None:
        key = self._get_key(data_record.idempotency_key)
        try:
            self.client.delete_item(
                TableName=self.table_name,
                Key=key,
                ConditionExpression="attribute_not_exists(since)",
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise
            # The record carries a marker: keep it, and let the next attempt claim it now.
            self.client.update_item(
                TableName=self.table_name,
                Key=key,
                UpdateExpression="SET #in_progress_expiry = :released",
                ExpressionAttributeNames={"#in_progress_expiry": self.in_progress_expiry_attr},
                ExpressionAttributeValues={":released": {"N": "0"}},
            )
