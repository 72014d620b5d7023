"""Staff follow-up on Booking Failed and Booking Cancelled: an SQS batch of EventBridge events
in (held for the grace period by the queue), partial batch failures out (README:
Notifications)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from booking.notify.consumer import handle_batch
from booking.notify.follow_up import StaffFollowUp
from booking.telemetry import logger, metrics

follow_up = StaffFollowUp()


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> Any:
    return handle_batch(event, context, consumer="staff-follow-up", work=follow_up)
