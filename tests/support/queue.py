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


def deliver(aws: Any, queue_name: str, handler_name: str, *, rounds: int = 20) -> int:
    """Hand every message on a queue to an app's `@app.on_sqs_message` handler, as Lambda's poller would
    (failed messages stay on the queue); returns the number of messages handed over."""
    import app  # noqa: PLC0415
    from devstack.driver import Driver  # noqa: PLC0415

    driver = Driver(app.app, aws, retry_backoff_seconds=None, wait_seconds=0)
    source = next(s for s in driver.queues() if s.name == handler_name)
    sqs = aws.client("sqs")
    url = sqs.get_queue_url(QueueName=queue_name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    handled = 0
    for _ in range(rounds):
        count = driver.deliver(sqs, url, arn, getattr(app, handler_name), source)
        if count == 0:
            break
        handled += count
    return handled
