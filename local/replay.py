"""``make replay``: move events parked in the dead-letter queue back onto their bus.

Against the local stack by default (AWS emulation on 127.0.0.1:$AWS_EMULATION_PORT). Against a
deployed stack: ``EVENT_DLQ_URL=<queue url> AWS_ENDPOINT_URL= make replay`` with your AWS
credentials (or ``sam remote invoke ReplayFunction --stack-name <stack>``).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import boto3

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "layers" / "booking"))

from booking.publisher import replay_parked

LOCAL_DLQ = "booking-webhook-event-dlq-local"


def main() -> int:
    local = "AWS_ENDPOINT_URL" not in os.environ
    if local:
        port = os.environ.get("AWS_EMULATION_PORT", "4566")
        os.environ["AWS_ENDPOINT_URL"] = f"http://127.0.0.1:{port}"
        for name, value in (
            ("AWS_ACCESS_KEY_ID", "testing"),
            ("AWS_SECRET_ACCESS_KEY", "testing"),
            ("AWS_DEFAULT_REGION", "us-east-1"),
        ):
            os.environ.setdefault(name, value)
    elif not os.environ["AWS_ENDPOINT_URL"]:
        del os.environ["AWS_ENDPOINT_URL"]
    sqs, events = boto3.client("sqs"), boto3.client("events")
    queue_url = (
        os.environ.get("EVENT_DLQ_URL") or sqs.get_queue_url(QueueName=LOCAL_DLQ)["QueueUrl"]
    )
    result = replay_parked(events, sqs, queue_url)
    print(
        f"parked events: {result.received} read, {result.replayed} replayed onto the bus, "
        f"{result.failed} still parked"
        + (
            f", {result.set_aside} not events (set aside for 12 hours: inspect the queue)"
            if result.set_aside
            else ""
        )
    )
    return 0 if result.failed == 0 and result.set_aside == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
