"""Adapter for Amazon SES (v2): one raw MIME message to one recipient.

Errors are left to the caller: a throttle or a passing fault fails the record and SQS delivers
it again (nothing was sent); the consumer's idempotency makes a sent email final.
"""

from __future__ import annotations

from email.message import EmailMessage
from typing import Any


class Mailer:
    def __init__(self, sesv2_client: Any, sender: str) -> None:
        self._ses = sesv2_client
        self.sender = sender

    def send(self, message: EmailMessage, recipient: str) -> str:
        """Send ``message`` (headers included) to ``recipient``; SES's message id."""
        answer = self._ses.send_email(
            FromEmailAddress=self.sender,
            Destination={"ToAddresses": [recipient]},
            Content={"Raw": {"Data": message.as_bytes()}},
        )
        return str(answer.get("MessageId", ""))
