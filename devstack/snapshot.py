"""Local data that survives a restart: a snapshot of the emulator's tables, objects and queued messages.

moto keeps everything in memory. On shutdown (and every minute while running) the local platform writes the
content of every Vigil table, every object in the bucket and every message still queued to one gzip JSON file,
and restores it into a fresh moto server on the next start. Writes are atomic (temp file, then rename), so a
crash mid-write leaves the previous snapshot intact.
"""

from __future__ import annotations

import base64
import gzip
import json
import os
from pathlib import Path
from typing import Any

from chalicelib.core.aws import AwsClients
from chalicelib.core.dynamo import DynamoTable, serialize
from chalicelib.core.settings import Settings

FORMAT = 1


def take(aws: AwsClients, settings: Settings, *, with_queues: bool) -> dict[str, Any]:
    """Read everything Vigil stores on the endpoint into one JSON-able dict.

    Queued messages are taken only when nothing consumes the queues any more (at shutdown): reading them
    hides them from the consumer, and a periodic snapshot must not steal work from the running platform.
    """
    dynamodb = aws.client("dynamodb")
    tables = {}
    for name in settings.tables.values():
        tables[name] = [serialize(item) for item in DynamoTable(dynamodb, name).scan_all()]
    s3 = aws.client("s3")
    objects = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=settings.bucket):
        for entry in page.get("Contents", []):
            got = s3.get_object(Bucket=settings.bucket, Key=entry["Key"])
            objects.append(
                {
                    "key": entry["Key"],
                    "body": base64.b64encode(got["Body"].read()).decode("ascii"),
                    "content_type": got.get("ContentType", "binary/octet-stream"),
                    "metadata": got.get("Metadata", {}),
                }
            )
    queues = _drain(aws, settings) if with_queues else {}
    return {"format": FORMAT, "tables": tables, "objects": objects, "queues": queues}


def _drain(aws: AwsClients, settings: Settings) -> dict[str, list[str]]:
    """Every message still queued, read so that the next start can send it again."""
    sqs = aws.client("sqs")
    queued: dict[str, list[str]] = {}
    for name in (settings.decisions_queue, settings.ingest_retry_queue):
        url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
        bodies: list[str] = []
        while True:
            got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=30, WaitTimeSeconds=0)
            messages = got.get("Messages", [])
            if not messages:
                break
            bodies += [m["Body"] for m in messages]
        queued[name] = bodies
    return queued


def save(snapshot: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_suffix(".tmp")
    with gzip.open(temp, "wt", encoding="utf-8") as out:
        json.dump(snapshot, out)
    os.replace(temp, path)


def load(path: Path) -> dict[str, Any] | None:
    if not path.exists():
        return None
    with gzip.open(path, "rt", encoding="utf-8") as src:
        snapshot = json.load(src)
    if snapshot.get("format") != FORMAT:
        raise RuntimeError(f"{path} was written by another version of Vigil; move it away to start empty")
    return snapshot


def restore(snapshot: dict[str, Any], aws: AwsClients, settings: Settings) -> dict[str, int]:
    """Put a snapshot's content back (into resources that already exist). Returns counts."""
    dynamodb = aws.client("dynamodb")
    counts = {"items": 0, "objects": 0, "messages": 0}
    for name, items in snapshot["tables"].items():
        for start in range(0, len(items), 25):
            chunk = [{"PutRequest": {"Item": item}} for item in items[start : start + 25]]
            dynamodb.batch_write_item(RequestItems={name: chunk})
        counts["items"] += len(items)
    s3 = aws.client("s3")
    for entry in snapshot["objects"]:
        s3.put_object(
            Bucket=settings.bucket,
            Key=entry["key"],
            Body=base64.b64decode(entry["body"]),
            ContentType=entry["content_type"],
            Metadata=entry["metadata"],
        )
        counts["objects"] += 1
    sqs = aws.client("sqs")
    for name, bodies in snapshot.get("queues", {}).items():
        url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
        for body in bodies:
            sqs.send_message(QueueUrl=url, MessageBody=body)
        counts["messages"] += len(bodies)
    return counts
