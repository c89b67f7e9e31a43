"""The raw archive: every accepted batch as gzip JSON lines on S3, partitioned for Athena.

Key: `archive/events/dt=<YYYY-MM-DD>/sensor=<id>/<batch>.jsonl.gz` (Hive-style partitions, so an Athena table
with `PARTITIONED BY (dt string, sensor string)` finds them with partition projection). One object per batch
and day, one `PutObject` each; the bucket's lifecycle rule moves `archive/` to colder storage and expires it.
"""

from __future__ import annotations

import gzip
import json
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.core.errors import DependencyError

PREFIX = "archive/events"


def archive_key(day: str, sensor: str, batch_id: str) -> str:
    return f"{PREFIX}/dt={day}/sensor={sensor}/{batch_id}.jsonl.gz"


class Archive:
    def __init__(self, s3: Any, bucket: str) -> None:
        self._s3 = s3
        self._bucket = bucket

    def put(self, records: Sequence[dict[str, Any]], sensor: str, batch_id: str) -> int:
        """Write the batch's records (JSON-ready dicts with an ISO `time`); returns the number of requests."""
        by_day: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for record in records:
            by_day[record["time"][:10]].append(record)
        for day, rows in by_day.items():
            body = gzip.compress("".join(json.dumps(r, sort_keys=True) + "\n" for r in rows).encode(), mtime=0)
            try:
                self._s3.put_object(
                    Bucket=self._bucket,
                    Key=archive_key(day, sensor, batch_id),
                    Body=body,
                    ContentType="application/x-ndjson",
                    ContentEncoding="gzip",
                )
            except (ClientError, BotoCoreError) as exc:
                raise DependencyError(f"the archive refused batch {batch_id}: {type(exc).__name__}") from exc
        return len(by_day)
