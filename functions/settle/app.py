"""The background check of unknown create outcomes (``booking.settle``): an SQS batch of
pending outcomes in, each checked once, partial batch failures out.

A check that finds the appointment announces it as ``Appointment Booked``; one that does not
queues the next check (a new message, delayed by the next backoff step) or, after the last,
announces ``Booking Failed`` (``outcome_unknown``). A check that cannot finish (DynamoDB or SQS
did not answer, or too little time is left) is reported failed, so SQS delivers the message
again (a batch whose every record failed is raised whole, as Powertools does); a message that
is not a pending outcome is dropped with a log line (retrying it could never help)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext
from booking import container
from booking.settle import PendingOutcome
from booking.telemetry import count, logger, metrics

processor = BatchProcessor(event_type=EventType.SQS)
#: Each check lists Oliver's recent appointments; a check is not started with less time left
#: (its message comes back instead).
SECONDS_PER_CHECK = 8.0


def check(record: SQSRecord, lambda_context: LambdaContext) -> str:
    try:
        pending = PendingOutcome.from_json(record.body)
    except (ValueError, KeyError, TypeError):
        logger.error("a settle message that is not a pending outcome was dropped")
        count("SettleMessageDropped")
        return "dropped"
    budget = container.budget(lambda_context)
    if not budget.allows(SECONDS_PER_CHECK):
        raise TimeoutError("too little time left for another check")
    outcome = container.booking_service().settle(pending, record.message_id, budget)
    logger.info("unknown outcome checked", extra={"outcome": outcome, "checks": pending.checks})
    return outcome


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> Any:
    return process_partial_response(
        event=event, record_handler=check, processor=processor, context=context
    )
