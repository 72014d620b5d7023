"""Text-back on Booking Failed (slot_unavailable): an SQS batch of EventBridge events in,
partial batch failures out (README: Notifications)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from booking.notify.consumer import handle_batch
from booking.notify.text_back import TextBack
from booking.telemetry import logger, metrics

text_back = TextBack()


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> Any:
    return handle_batch(event, context, consumer="text-back", work=text_back)
