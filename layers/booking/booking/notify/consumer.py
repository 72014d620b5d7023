"""Delivery plumbing every notification consumer shares.

EventBridge rule -> SQS queue -> ``handle_batch``: Powertools batch processing with partial
failures; each event's work runs once per ``detail.event_id`` (Powertools idempotency on the
idempotency table, key prefix ``notify-<consumer>``), so a redelivered message or an archive
replay does nothing the second time. A record whose work raises is reported failed: SQS delivers
it again after the queue's visibility timeout and, after ``maxReceiveCount`` receives, parks it
in the consumer's dead-letter queue, whose depth raises an alarm. Only a finished side effect is
remembered: Powertools deletes the record when the work raises.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from booking.budget import Budget
from booking.notify import wiring
from booking.notify.events import BusEvent, read_event
from booking.telemetry import count, logger

#: A record is not started with less time than this left: it is delivered again rather than cut
#: off half-way (a side effect whose outcome the next delivery could not know).
SECONDS_PER_RECORD = 8.0


@dataclass(frozen=True)
class Delivery:
    """What a consumer's work knows about how its event arrived."""

    message_id: str
    #: 1 on the first delivery; more when an earlier one failed (perhaps half-way).
    receive_count: int
    budget: Budget
    #: Set when the event comes from an archive replay.
    replay_name: str | None = None


Work = Callable[[BusEvent, Delivery], str]


class OutOfTime(Exception):
    """Too little of the invocation is left to start this record."""


def _metric(text: str) -> str:
    return "".join(part.capitalize() for part in text.replace("-", "_").split("_"))


def _work(event: dict[str, str], work: Callable[[], str]) -> dict[str, str]:
    return {"outcome": work()}


def _duplicate(response: Any, _data: Any) -> Any:  # Powertools' IdempotentHookFunction
    """Powertools hook: called only when a stored result is returned instead of running."""
    return {**response, "duplicate": True}


class RunOnce:
    """One consumer's work, at most once per event id (while the record lives)."""

    def __init__(self, consumer: str) -> None:
        from aws_lambda_powertools.utilities.idempotency import (
            DynamoDBPersistenceLayer,
            IdempotencyConfig,
            idempotent_function,
        )

        config = wiring.settings()
        self.config = IdempotencyConfig(
            event_key_jmespath="event_id",
            raise_on_no_idempotency_key=True,
            expires_after_seconds=config.dedup_days * 24 * 60 * 60,
            response_hook=_duplicate,  # type: ignore[arg-type]
        )
        store = DynamoDBPersistenceLayer(
            table_name=config.idempotency_table_name, boto3_client=wiring.aws_client("dynamodb")
        )
        self._run = idempotent_function(
            _work,
            data_keyword_argument="event",
            persistence_store=store,
            config=self.config,
            key_prefix=f"notify-{consumer}",
        )

    def run(self, event_id: str, work: Callable[[], str]) -> tuple[str, bool]:
        """(outcome, duplicate): ``duplicate`` when an earlier delivery already did the work."""
        from aws_lambda_powertools.utilities.idempotency.exceptions import (
            IdempotencyPersistenceLayerError,
        )

        done: list[str] = []

        def work_and_keep() -> str:
            done.append(work())
            return done[-1]

        try:
            result = self._run(event={"event_id": event_id}, work=work_and_keep)
        except IdempotencyPersistenceLayerError:
            if done:
                # The side effect happened; only remembering it failed. Doing it again on a
                # redelivery would be worse than a replay that might repeat it much later.
                count("NotifyRecordNotRemembered")
                return done[0], False
            raise
        return str(result["outcome"]), bool(result.get("duplicate"))


@wiring.on_reset
@lru_cache(maxsize=8)
def run_once(consumer: str) -> RunOnce:
    return RunOnce(consumer)


def handle_batch(event: dict[str, Any], context: Any, *, consumer: str, work: Work) -> Any:
    """The Lambda answer for an SQS batch: ``{"batchItemFailures": [...]}``."""
    from aws_lambda_powertools.utilities.batch import (
        BatchProcessor,
        EventType,
        process_partial_response,
    )
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

    wiring.refresh()
    once = run_once(consumer)
    # In-progress records expire with the invocation, so a crash does not block a retry.
    once.config.register_lambda_context(context)
    budget = Budget.from_context(context)
    prefix = _metric(consumer)

    def handle(record: SQSRecord) -> str:
        return _handle_record(record, once, work, budget, prefix)

    processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
    return process_partial_response(
        event=event, record_handler=handle, processor=processor, context=context
    )


def _handle_record(record: Any, once: RunOnce, work: Work, budget: Budget, prefix: str) -> str:
    receive_count = _receive_count(record)
    logger.append_keys(message_id=record.message_id, receive_count=receive_count)
    try:
        if not budget.allows(SECONDS_PER_RECORD):
            raise OutOfTime()
        bus_event = read_event(record.body)
        logger.append_keys(event_id=bus_event.event_id, detail_type=bus_event.detail_type)
        delivery = Delivery(record.message_id, receive_count, budget, bus_event.replay_name)
        outcome, duplicate = once.run(bus_event.event_id, lambda: work(bus_event, delivery))
    except Exception as exc:
        count(f"{prefix}Failed")
        # The exception's name only: messages may quote what upstream or SES said.
        logger.warning(
            "notification not done; the queue delivers it again",
            extra={"error": type(exc).__name__},
        )
        raise
    finally:
        logger.remove_keys(["message_id", "receive_count", "event_id", "detail_type"])
    if duplicate:
        count(f"{prefix}Duplicate")
        logger.info(
            "notification already done for this event",
            extra={"outcome": outcome, "event_id": bus_event.event_id},
        )
    else:
        count(f"{prefix}{_metric(outcome)}")
        logger.info("notification done", extra={"outcome": outcome, "event_id": bus_event.event_id})
    return outcome


def _receive_count(record: Any) -> int:
    try:
        return int(record.attributes.approximate_receive_count)
    except (TypeError, ValueError, KeyError):
        return 1
