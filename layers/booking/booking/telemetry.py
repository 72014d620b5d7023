"""Powertools logger and metrics shared by every entry point.

Never log a token, a secret or a client's email, phone or name: log codes, ids and hashes.
"""

from __future__ import annotations

import logging
import os
import uuid
import warnings
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from booking.version import VERSION

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


class _CompletedContext:
    """A caller's Lambda context with what Powertools reads filled in where it is missing
    (test harnesses and local runners often pass a partial one, or none)."""

    def __init__(self, context: Any) -> None:
        self._context = context
        self._defaults = {
            "function_name": os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "booking-webhook"),
            "function_version": "$LATEST",
            "memory_limit_in_mb": 512,
            "invoked_function_arn": "",
            "aws_request_id": str(uuid.uuid4()),
            "log_group_name": "",
            "log_stream_name": "",
        }

    def __getattr__(self, name: str) -> Any:
        try:
            return getattr(self._context, name)
        except AttributeError:
            if name in self._defaults:
                return self._defaults[name]
            raise

    def get_remaining_time_in_millis(self) -> int:
        remaining = getattr(self._context, "get_remaining_time_in_millis", None)
        return int(remaining()) if callable(remaining) else 10_000


_CONTEXT_ATTRIBUTES = (
    "function_name",
    "memory_limit_in_mb",
    "invoked_function_arn",
    "aws_request_id",
    "get_remaining_time_in_millis",
)


def complete_context(context: Any) -> Any:
    """The context itself when it is complete (always, on Lambda), else a completed copy."""
    if all(hasattr(context, name) for name in _CONTEXT_ATTRIBUTES):
        return context
    return _CompletedContext(context)
