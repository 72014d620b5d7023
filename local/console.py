"""Console: prints every event that reaches the inspection queue, as it arrives.

The client's personal data never reaches the terminal: nested objects (the upstream appointment,
the validated booking) keep only their ids, statuses and dates, not names, e-mail addresses,
phone numbers or notes.
"""

from __future__ import annotations

import json
import re
import sys
import threading
from typing import Any, TextIO

from local import aws

# Keys whose values are personal data (client_email, first_name, patient_name, note, ...).
_PERSONAL = re.compile(r"e[-_]?mail|phone|name|note|address|birth|comment", re.IGNORECASE)


def summarize(value: Any, *, depth: int = 0) -> Any:
    """A compact view of an event detail: no personal data, no nulls."""
    if isinstance(value, dict):
        summary: dict[str, Any] = {}
        for key, item in value.items():
            if item is None or _PERSONAL.search(str(key)):
                continue
            if isinstance(item, dict | list):
                if depth < 2:
                    nested = summarize(item, depth=depth + 1)
                    if nested:
                        summary[key] = nested
                continue
            summary[key] = item
        return summary
    if isinstance(value, list):
        return [summarize(item, depth=depth + 1) for item in value if isinstance(item, dict)]
    return value


def format_event(body: str) -> str:
    """One line per event: detail-type, source, id, then the detail without personal data."""
    try:
        event = json.loads(body)
    except ValueError:
        return f"event (not JSON, {len(body)} characters)"
    if not isinstance(event, dict):
        return "event (not a JSON object)"
    detail = summarize(event.get("detail") or {})
    return (
        f"event {event.get('detail-type')!r} source={event.get('source')} id={event.get('id')} "
        f"{json.dumps(detail, separators=(',', ':'), ensure_ascii=False, default=str)}"
    )


class EventConsole:
    """Long-polls the inspection queue in a thread, prints each event, then deletes it."""

    def __init__(self, aws_url: str, queue_url: str, *, out: TextIO | None = None) -> None:
        self.aws_url = aws_url
        self.queue_url = queue_url
        self.out = out or sys.stdout
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._sqs = aws.client("sqs", self.aws_url)
        self._thread = threading.Thread(target=self._run, name="event-console", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=3)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                messages = self._sqs.receive_message(
                    QueueUrl=self.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1
                ).get("Messages", [])
            except Exception as exc:  # the emulation is going away, or a passing hiccup
                if self._stop.wait(1):
                    return
                self._print(f"console: cannot read the inspection queue ({type(exc).__name__})")
                continue
            for message in messages:
                self._print(format_event(message.get("Body", "")))
                try:
                    self._sqs.delete_message(
                        QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"]
                    )
                except Exception:  # noqa: S112 - it reappears after the visibility timeout
                    continue

    def _print(self, line: str) -> None:
        self.out.write(line + "\n")
        self.out.flush()
