"""Powertools logger and metrics shared by every entry point.

Never log a token, a secret or a client's email, phone or name: log codes, ids and hashes.
"""

from __future__ import annotations

import logging
import os
import warnings

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

# Requests such as GET /health add no metric; Powertools would warn about that on every one.
warnings.filterwarnings("ignore", message="No application metrics to publish")
# httpx logs every request's full URL at INFO, and a client lookup's URL carries an email or phone.
logging.getLogger("httpx").setLevel(logging.WARNING)

SERVICE = os.environ.get("POWERTOOLS_SERVICE_NAME") or "booking-webhook"

logger = Logger(service=SERVICE)
metrics = Metrics(
    namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE") or "BookingWebhook", service=SERVICE
)


def count(name: str) -> None:
    """One metric per outcome (EMF, flushed at the end of the invocation)."""
    metrics.add_metric(name=name, unit=MetricUnit.Count, value=1)
