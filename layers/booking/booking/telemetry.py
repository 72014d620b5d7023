"""Powertools logger and metrics shared by every entry point.

Never log a token, a secret or a client's email, phone or name: log codes, ids and hashes.
"""

from __future__ import annotations

import logging
import os
import warnings
from typing import TYPE_CHECKING

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from booking.version import VERSION

if TYPE_CHECKING:
    from booking.errors import BookingError

# Requests such as GET /health add no metric; Powertools would warn about that on every one.
warnings.filterwarnings("ignore", message="No application metrics to publish")
# Libraries that log requests: httpx logs every full URL at INFO (a client lookup's URL carries
# an email or phone), httpcore, botocore and urllib3 log headers and bodies at DEBUG (a secret's
# value, a bearer token). Whatever level the function's own logger is set to, they stay quiet.
for _library in ("httpx", "httpcore", "botocore", "boto3", "urllib3"):
    logging.getLogger(_library).setLevel(logging.WARNING)

SERVICE = os.environ.get("POWERTOOLS_SERVICE_NAME") or "booking-webhook"

#: Every log line carries the release (a persistent key, kept by ``clear_state``).
logger = Logger(service=SERVICE, version=VERSION)
metrics = Metrics(
    namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE") or "BookingWebhook", service=SERVICE
)


def count(name: str) -> None:
    """One metric per outcome (EMF, flushed at the end of the invocation)."""
    metrics.add_metric(name=name, unit=MetricUnit.Count, value=1)


def log_refusal(error: BookingError) -> None:
    """One line per refused request: a misconfiguration is an error and counted (the
    ConfigurationErrorAlarm watches the count, a handled 503 never reaches Lambda's Errors);
    anything else is the refusal's code and status, never what the caller sent."""
    from booking.errors import ConfigurationError

    if isinstance(error, ConfigurationError):
        count("ConfigurationError")
        logger.error("configuration error", extra={"detail": error.detail})
        return
    cause = getattr(error, "cause", None)
    logger.info(
        "request refused", extra={"code": error.code, "status": error.status, "cause": cause}
    )
