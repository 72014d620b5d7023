"""Confirmation email on Appointment Booked: an SQS batch of EventBridge events in, partial
batch failures out (README: Notifications). The words are the files in ``templates/``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from booking.notify.confirmation import ConfirmationEmail
from booking.notify.consumer import handle_batch
from booking.telemetry import logger, metrics

send_confirmation = ConfirmationEmail(Path(__file__).parent / "templates")


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> Any:
    return handle_batch(event, context, consumer="confirmation-email", work=send_confirmation)
