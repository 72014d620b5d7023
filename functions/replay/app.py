"""Replays events parked in the dead-letter queue onto the bus (invoked by hand:
``sam remote invoke ReplayFunction --stack-name <stack>``). A message is deleted only once
EventBridge accepted its event; whatever is refused stays parked for the next run."""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from booking.container import aws_client
from booking.publisher import replay_parked
from booking.telemetry import logger, metrics


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, int]:
    limit = int((event or {}).get("max_messages", 1000))
    result = replay_parked(
        aws_client("events"), aws_client("sqs"), os.environ["EVENT_DLQ_URL"], limit
    )
    logger.info("replayed parked events", extra=result.__dict__)
    metrics.add_metric(name="EventsReplayed", unit="Count", value=result.replayed)
    if result.set_aside:
        # The message ids are in no log: a parked body may hold a client's details.
        logger.warning(
            "parked messages that are not events were set aside for 12 hours; inspect the "
            "dead-letter queue",
            extra={"set_aside": result.set_aside},
        )
        metrics.add_metric(name="ParkedMessagesSetAside", unit="Count", value=result.set_aside)
    return result.__dict__
