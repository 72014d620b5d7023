"""The token refresher (README: The Oliver secret): on a schedule, signs in to Oliver once for
the whole deployment and writes the JWT into the Oliver secret that every function reads. The
logic lives in ``booking.token_refresher``; invoke with ``{"force": true}`` to sign in now (after
changing the password, say)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from booking.telemetry import logger, metrics
from booking.token_refresher import run


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return run(event, context)
