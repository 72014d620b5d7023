"""The notification consumers in the local stack, and the outbox of the emails they send.

Each consumer of template.yaml (a function with an event source mapping on a queue) runs in this
process with its real handler, fed from its queue as Lambda's event source mapping would feed it:
batches of up to ``BatchSize`` messages as an SQS event; the messages of the records it reports
done are deleted, the others come back after ``retry_seconds`` (a local shortcut for the queue's
visibility timeout, so a retry takes seconds, not minutes) until ``maxReceiveCount`` receives
move them to the dead-letter queue. The queues hold follow-ups for the grace period as deployed.

The function's code is the code deployed: the outbox reads what the emulation's SES (moto, in
this process) accepted, prints each email with its recipient masked, and writes it under
``.local-state/outbox/`` as an RFC 5322 ``.eml`` file, attachments included.
"""

from __future__ import annotations

import email
import email.policy
import os
import re
import sys
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from local import aws

Invoke = Callable[[dict[str, Any]], Any]
RETRY_SECONDS = 1
#: Each receive waits this long for a message (SQS returns as soon as one arrives): an idle stack
#: then asks each queue a few times a minute, not every second.
POLL_SECONDS = 10


def sqs_event(messages: Sequence[dict[str, Any]], queue_arn: str) -> dict[str, Any]:
    """The event Lambda gives a function for a batch of SQS messages."""
    records = []
    for message in messages:
        attributes = message.get("Attributes") or {}
        records.append(
            {
                "messageId": message["MessageId"],
                "receiptHandle": message["ReceiptHandle"],
                "body": message["Body"],
                "attributes": {
                    "ApproximateReceiveCount": attributes.get("ApproximateReceiveCount", "1"),
                    "SentTimestamp": attributes.get("SentTimestamp", str(int(time.time() * 1000))),
                    "SenderId": attributes.get("SenderId", aws.ACCOUNT_ID),
                    "ApproximateFirstReceiveTimestamp": attributes.get(
                        "ApproximateFirstReceiveTimestamp", str(int(time.time() * 1000))
                    ),
                },
                "messageAttributes": {},
                "md5OfBody": message.get("MD5OfBody", ""),
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": aws.REGION,
            }
        )
    return {"Records": records}


def failed_ids(result: Any, messages: Sequence[dict[str, Any]]) -> set[str]:
    """The message ids to deliver again: those the function reported, or all of them when it
    raised or answered something that is not a partial batch response."""
    every = {m["MessageId"] for m in messages}
    if not isinstance(result, dict) or not isinstance(result.get("batchItemFailures"), list):
        return every
    failures = {str(item.get("itemIdentifier")) for item in result["batchItemFailures"]}
    return every if failures - every else failures


class QueueFeeder:
    """Long-polls one queue and hands each batch to a function (``invoke(event) -> result``)."""

    def __init__(
        self,
        sqs: Any,
        queue_url: str,
        invoke: Invoke,
        *,
        batch_size: int = 10,
        retry_seconds: int = RETRY_SECONDS,
        name: str = "consumer",
    ) -> None:
        self.sqs = sqs
        self.queue_url = queue_url
        self.invoke = invoke
        self.batch_size = max(1, min(10, batch_size))
        self.retry_seconds = retry_seconds
        self.name = name
        self.queue_arn = str(
            sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
                "QueueArn"
            ]
        )
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def poll_once(self, wait_seconds: int = 0) -> int:
        """One receive and one invocation; how many messages it handled."""
        messages = self.sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=self.batch_size,
            WaitTimeSeconds=wait_seconds,
            AttributeNames=["All"],
        ).get("Messages", [])
        if not messages:
            return 0
        try:
            result = self.invoke(sqs_event(messages, self.queue_arn))
        except Exception:
            result = None
        failed = failed_ids(result, messages)
        done = [m for m in messages if m["MessageId"] not in failed]
        for start in range(0, len(done), 10):
            self.sqs.delete_message_batch(
                QueueUrl=self.queue_url,
                Entries=[
                    {"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]}
                    for n, m in enumerate(done[start : start + 10])
                ],
            )
        for message in messages:
            if message["MessageId"] in failed:
                self.sqs.change_message_visibility(
                    QueueUrl=self.queue_url,
                    ReceiptHandle=message["ReceiptHandle"],
                    VisibilityTimeout=self.retry_seconds,
                )
        return len(messages)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=f"feed-{self.name}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        # Not joined through a long poll: the thread is a daemon, and the emulation it polls is
        # stopped next (which ends the poll).
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.poll_once(wait_seconds=POLL_SECONDS)
            except Exception:  # the emulation is going away, or a passing hiccup
                if self._stop.wait(1):
                    return


def mask_address(address: str) -> str:
    """``jane@example.com`` -> ``j***@example.com``."""
    local, _, domain = address.strip().partition("@")
    return f"{local[:1]}***@{domain}" if domain else "***"


class Outbox:
    """Writes each email SES accepted as ``<time>-<id>.eml`` and prints it (recipient masked)."""

    def __init__(self, directory: Path, out: TextIO | None = None) -> None:
        self.directory = directory
        self.out = out or sys.stdout
        self._seen = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def write(self, raw: str | bytes, recipients: Sequence[str]) -> Path:
        data = raw.encode("utf-8") if isinstance(raw, str) else raw
        self.directory.mkdir(parents=True, exist_ok=True)
        name = f"{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}.eml"
        path = self.directory / name
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)
        message = email.message_from_bytes(data, policy=email.policy.default)
        attachments = [part.get_filename() or "?" for part in message.iter_attachments()]  # type: ignore[attr-defined]
        addresses = dict.fromkeys(_address(r).lower() for r in recipients)  # moto adds To again
        to = ", ".join(mask_address(a) for a in addresses) or "nobody"
        extra = f", attached: {', '.join(attachments)}" if attachments else ""
        self.out.write(f"email to {to}{extra} -> {_shown(path)}\n")
        self.out.flush()
        return path

    def drain(self, sent_messages: Sequence[Any]) -> int:
        """Write the messages not written yet (moto's SES keeps them all, in order)."""
        fresh = list(sent_messages[self._seen :])
        for message in fresh:
            raw = getattr(message, "raw_data", None)
            if raw is None:  # a simple (not raw) message: rebuild a minimal one
                raw = (
                    f"Subject: {getattr(message, 'subject', '')}\n\n{getattr(message, 'body', '')}"
                )
            self.write(raw, list(getattr(message, "destinations", []) or []))
        self._seen += len(fresh)
        return len(fresh)

    def watch(self, sent_messages: Callable[[], Sequence[Any]]) -> None:
        def run() -> None:
            while not self._stop.wait(0.3):
                try:
                    self.drain(sent_messages())
                except Exception as exc:  # never let the console thread die
                    self.out.write(f"outbox: cannot write an email ({type(exc).__name__})\n")

        self._thread = threading.Thread(target=run, name="outbox", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=3)


def _address(value: str) -> str:
    found = re.search(r"<([^>]+)>", value)
    return found.group(1) if found else value


def _shown(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def moto_sent_messages() -> Sequence[Any]:
    """What the in-process moto server's SES (v1 and v2 share it) has accepted so far."""
    from moto.ses.models import ses_backends

    return ses_backends[aws.ACCOUNT_ID][aws.REGION].sent_messages  # type: ignore[no-any-return]


@dataclass
class LocalNotifications:
    """The consumers of a template, running in this process, and the outbox."""

    feeders: list[QueueFeeder]
    outbox: Outbox
    consumers: list[Any]

    @classmethod
    def start(
        cls,
        template: Any,
        settings: Any,
        emulation: aws.AwsEmulation,
        outbox_dir: Path,
        out: TextIO | None = None,
    ) -> LocalNotifications:
        from local.api_gateway import FunctionRuntime

        consumers = template.consumers(settings)
        sender = ""
        for consumer in consumers:
            env = template.environment(consumer.function_id, settings)
            sender = sender or env.get("NOTIFY_SENDER", "")
            for name, value in env.items():
                os.environ[name] = value
        urls = emulation.seed_consumers(consumers, sender)
        sqs = aws.client("sqs", emulation.url)
        feeders = []
        for consumer in consumers:
            runtime = FunctionRuntime(template.function(consumer.function_id))

            def invoke(event: dict[str, Any], runtime: Any = runtime) -> Any:
                invocation = runtime.invoke(event)
                return invocation.result if invocation.outcome == "ok" else None

            feeder = QueueFeeder(
                sqs,
                urls[consumer.queue_id],
                invoke,
                batch_size=consumer.batch_size,
                name=consumer.function_id,
            )
            feeder.start()
            feeders.append(feeder)
        outbox = Outbox(outbox_dir, out)
        outbox.watch(moto_sent_messages)
        return cls(feeders, outbox, consumers)

    def stop(self) -> None:
        for feeder in self.feeders:
            feeder.stop()
        self.outbox.stop()
