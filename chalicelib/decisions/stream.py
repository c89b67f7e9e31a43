"""The change stream: every change to a decision, as messages on the SQS `decisions` queue.

The push function and the feed publisher consume it (docs/CHANGES.md documents the schema). One request's
changes travel together, split into messages of at most `CHANGES_PER_MESSAGE` changes so each stays far
below SQS's 256 KB limit, and sent ten messages per `SendMessageBatch` call.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.core.clock import iso
from chalicelib.core.errors import DependencyError
from chalicelib.decisions.model import Change

SCHEMA = "vigil.decisions.changes/1"
CHANGES_PER_MESSAGE = 200


def messages(changes: list[Change], now: datetime, request_id: str | None = None) -> list[dict[str, Any]]:
    """The message bodies for a list of changes (pure: tests and the local driver read them back)."""
    bodies = []
    total = (len(changes) + CHANGES_PER_MESSAGE - 1) // CHANGES_PER_MESSAGE
    batch = str(uuid.uuid4())
    for part, start in enumerate(range(0, len(changes), CHANGES_PER_MESSAGE), start=1):
        bodies.append(
            {
                "schema": SCHEMA,
                "id": str(uuid.uuid4()),
                "batch": batch,
                "part": part,
                "parts": total,
                "at": iso(now),
                "request_id": request_id,
                "changes": [c.as_message() for c in changes[start : start + CHANGES_PER_MESSAGE]],
            }
        )
    return bodies


class ChangePublisher:
    """Sends change messages to the queue; the only SQS caller of the decisions package."""

    def __init__(self, sqs: Any, queue_name: str) -> None:
        self._sqs = sqs
        self._queue_name = queue_name
        self._url: str | None = None

    def _queue_url(self) -> str:
        if self._url is None:
            self._url = self._sqs.get_queue_url(QueueName=self._queue_name)["QueueUrl"]
        return self._url

    def publish(self, changes: list[Change], now: datetime, request_id: str | None = None) -> int:
        """Send the changes; returns the number of SQS requests made."""
        bodies = messages(changes, now, request_id)
        calls = 0
        for start in range(0, len(bodies), 10):
            entries = [{"Id": str(i), "MessageBody": json.dumps(b)} for i, b in enumerate(bodies[start : start + 10])]
            try:
                answer = self._sqs.send_message_batch(QueueUrl=self._queue_url(), Entries=entries)
            except (ClientError, BotoCoreError) as exc:
                raise DependencyError(f"the decisions queue refused the change stream: {type(exc).__name__}") from exc
            calls += 1
            if answer.get("Failed"):
                raise DependencyError(f"the decisions queue refused {len(answer['Failed'])} message(s)")
        return calls
