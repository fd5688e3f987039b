"""SES (email, as raw MIME through SES v2) and SQS (work queues)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from hitl.observability import logger

if TYPE_CHECKING:
    from email.message import EmailMessage  # built by the notifier; the other functions never load it


class SesMailer:
    def __init__(self, client: Any, sender: str, configuration_set: str | None = None) -> None:
        self.client = client
        self.sender = sender
        self.configuration_set = configuration_set

    def send(self, to: str, message: EmailMessage) -> str:
        request: dict[str, Any] = {
            "FromEmailAddress": self.sender,
            "Destination": {"ToAddresses": [to]},
            "Content": {"Raw": {"Data": message.as_bytes()}},
        }
        if self.configuration_set:
            request["ConfigurationSetName"] = self.configuration_set
        answer = self.client.send_email(**request)
        return str(answer.get("MessageId", ""))


class SqsWorkQueue:
    def __init__(self, client: Any, queue_url: str) -> None:
        self.client = client
        self.url = queue_url

    def send(self, messages: list[dict[str, Any]]) -> None:
        for start in range(0, len(messages), 10):
            chunk = messages[start : start + 10]
            answer = self.client.send_message_batch(
                QueueUrl=self.url,
                Entries=[{"Id": str(n), "MessageBody": json.dumps(m)} for n, m in enumerate(chunk)],
            )
            if answer.get("Failed"):
                logger.warning("work items not queued", extra={"failed": answer["Failed"]})
                raise RuntimeError(f"{len(answer['Failed'])} work items could not be queued")

    def holds(self, source_arn: str) -> bool:
        """Whether an SQS record whose ``eventSourceARN`` is ``source_arn`` came from this queue
        (an ARN and a URL both end with the queue's name)."""
        return source_arn.rsplit(":", 1)[-1] == self.url.rstrip("/").rsplit("/", 1)[-1]

    def delay(self, receipt_handle: str, seconds: int) -> None:
        """Retry later: the message comes back after ``seconds`` (growing retry delays)."""
        self.client.change_message_visibility(
            QueueUrl=self.url, ReceiptHandle=receipt_handle, VisibilityTimeout=max(0, min(seconds, 43_200))
        )
