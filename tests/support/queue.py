"""Read what the decisions change stream carried."""

from __future__ import annotations

import json
from typing import Any


def drain(aws: Any, queue_name: str) -> list[dict[str, Any]]:
    """Every message body on the queue (consumed), oldest first as far as SQS tells."""
    sqs = aws.client("sqs")
    url = sqs.get_queue_url(QueueName=queue_name)["QueueUrl"]
    bodies: list[dict[str, Any]] = []
    while True:
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
        messages = got.get("Messages", [])
        if not messages:
            return bodies
        for message in messages:
            bodies.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


def changes(aws: Any, queue_name: str) -> list[dict[str, Any]]:
    """The changes of every message, flattened."""
    return [change for body in drain(aws, queue_name) for change in body["changes"]]
