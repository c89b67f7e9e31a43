"""Batches as agents post them, and their ids: an agent that retries a batch (it never heard our answer) must
not have it counted twice.

`Batch` lives here rather than with the ingest pipeline so that the API edge can build one without importing
the pipeline (parsers, stores) at cold start: the container loads it on the first ingest.

The first arrival of `(sensor, batch_id)` claims a marker with a conditional put; a retry finds the marker and
gets the first answer back. A marker whose batch failed before finishing is removed, so the retry runs.
Markers expire after a week (TTL).

Each claim writes a token of its own: the SDK resends a put whose answer it lost (a 500, a reset connection)
although the first attempt may have been written, and that resend then finds the marker. The token tells our
own marker from another arrival's, so a batch is not refused as "being processed" by itself.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from chalicelib.core.clock import epoch
from chalicelib.core.dynamo import DynamoTable
from chalicelib.core.errors import ConflictError

KEEP = timedelta(days=7)


@dataclass
class Batch:
    """One post: raw `lines` of a `format`, structured `records`, or seed 002 `windows` records."""

    sensor: str
    hostname: str | None = None
    format: str | None = None
    batch_id: str | None = None
    lines: list[str] = field(default_factory=list)
    records: list[dict[str, Any]] = field(default_factory=list)  # structured events (Event.to_dict form)
    windows: list[dict[str, Any]] = field(default_factory=list)  # seed 002 records (Windows 4625 style)
    timezone: str | None = None  # of the lines' classic stamps (`parsers.zone`); None: UTC


class BatchLedger:
    def __init__(self, table: DynamoTable) -> None:
        self._t = table

    def _key(self, sensor: str, batch_id: str) -> dict[str, str]:
        return {"pk": f"BATCH#{sensor}#{batch_id}", "sk": "B"}

    def claim(self, sensor: str, batch_id: str, now: datetime) -> dict[str, Any] | None:
        """Claim the batch; None when it is new (or the marker is this claim's own, see the module), else the
        recorded answer of the first arrival; `ConflictError` while another arrival is still running it."""
        token = secrets.token_hex(8)
        try:
            self._t.put(
                {**self._key(sensor, batch_id), "state": "running", "token": token, "ttl": epoch(now + KEEP)},
                condition="attribute_not_exists(pk)",
            )
            return None
        except ConflictError:
            found = self._t.get(self._key(sensor, batch_id), consistent=True) or {}
            if found.get("state") == "done":
                return dict(found.get("result") or {})
            if found.get("token") == token:
                return None  # our own put, written by an attempt whose answer was lost
            raise ConflictError(f"Batch {batch_id} is being processed; retry in a moment") from None

    def finish(self, sensor: str, batch_id: str, result: dict[str, Any], now: datetime) -> None:
        self._t.put({**self._key(sensor, batch_id), "state": "done", "result": result, "ttl": epoch(now + KEEP)})

    def release(self, sensor: str, batch_id: str) -> None:
        self._t.delete(self._key(sensor, batch_id))
