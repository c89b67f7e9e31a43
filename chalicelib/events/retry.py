"""The ingest retry queue: a batch whose storage failed after it was accepted waits here, never lost.

The message carries the parsed batch (JSON); one too large for SQS (256 KB) is put on S3 under
`ingest-retry/` and the message carries its key. The queue consumer stores it again; after five failed
receives SQS moves it to the dead-letter queue, where an alarm fires.
"""

from __future__ import annotations

import gzip
import json
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.core.errors import DependencyError

INLINE_LIMIT = 200_000


class RetryQueue:
    def __init__(self, sqs: Any, queue_name: str, s3: Any, bucket: str) -> None:
        self._sqs = sqs
        self._queue_name = queue_name
        self._s3 = s3
        self._bucket = bucket
        self._url: str | None = None

    def enqueue(self, payload: dict[str, Any]) -> None:
        body = json.dumps(payload, separators=(",", ":"))
        try:
            if len(body) > INLINE_LIMIT:
                key = f"ingest-retry/{payload['sensor']}/{payload['batch_id']}.json.gz"
                self._s3.put_object(Bucket=self._bucket, Key=key, Body=gzip.compress(body.encode()))
                body = json.dumps({"s3_key": key})
            if self._url is None:
                self._url = self._sqs.get_queue_url(QueueName=self._queue_name)["QueueUrl"]
            self._sqs.send_message(QueueUrl=self._url, MessageBody=body)
        except (ClientError, BotoCoreError) as exc:
            raise DependencyError(f"the retry queue refused batch {payload.get('batch_id')}") from exc

    def load(self, message_body: str) -> dict[str, Any]:
        """The batch a message carries (reading it back from S3 when it did not fit)."""
        payload = json.loads(message_body)
        if "s3_key" in payload:
            got = self._s3.get_object(Bucket=self._bucket, Key=payload["s3_key"])
            payload = json.loads(gzip.decompress(got["Body"].read()))
        return payload
