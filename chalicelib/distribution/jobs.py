"""Sync jobs (seed 000's `POST /bans/sync`): a full resync of some targets, run by the push function, polled.

The route records a job (entities table, `JOB#<id>`, kept a week) and sends a `vigil.sync/1` message on the
decisions queue, so the resync runs where pushes run, with their timeouts and retries, not inside an API
request. The push function runs the reconciler for the job's targets and records the outcome on the job.
"""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from typing import Any

from chalicelib.core.clock import Clock, epoch, iso
from chalicelib.core.dynamo import DynamoTable
from chalicelib.core.errors import NotFoundError
from chalicelib.distribution.push import SYNC_SCHEMA

KEEP = timedelta(days=7)


class SyncJobs:
    def __init__(self, table: DynamoTable, sqs: Any, queue_name: str, clock: Clock) -> None:
        self._t = table
        self._sqs = sqs
        self._queue_name = queue_name
        self._clock = clock

    def start(self, target_ids: list[str], requested_by: str | None) -> dict[str, Any]:
        now = self._clock.now()
        job = {
            "id": uuid.uuid4().hex,
            "kind": "sync",
            "targets": target_ids,
            "status": "queued",
            "requested_by": requested_by,
            "created_at": iso(now),
        }
        self._t.put({"pk": f"JOB#{job['id']}", "sk": "JOB", "ttl": epoch(now + KEEP), **job})
        url = self._sqs.get_queue_url(QueueName=self._queue_name)["QueueUrl"]
        self._sqs.send_message(
            QueueUrl=url, MessageBody=json.dumps({"schema": SYNC_SCHEMA, "job": job["id"], "targets": target_ids})
        )
        return job

    def get(self, job_id: str) -> dict[str, Any]:
        item = self._t.get({"pk": f"JOB#{job_id}", "sk": "JOB"}, consistent=True)
        if item is None:
            raise NotFoundError(f"Sync job {job_id} not found")
        return {k: v for k, v in item.items() if k not in ("pk", "sk", "ttl")}

    def finish(self, job_id: str, results: dict[str, Any]) -> None:
        failed = any("error" in r for r in results.values())
        self._t.update(
            {"pk": f"JOB#{job_id}", "sk": "JOB"},
            "SET #s = :s, results = :r, finished_at = :at",
            names={"#s": "status"},
            values={":s": "failed" if failed else "done", ":r": results, ":at": iso(self._clock.now())},
        )
