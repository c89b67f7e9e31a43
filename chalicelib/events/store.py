"""The events table: every accepted event, by source IP and by time, kept for the retention period (TTL).

    IP#<ip>               <event-ms>#<rand>     one event (its time orders an IP's events)
    gsi1: T#<hour>#<n>    <ingest-ms>#<rand>    by arrival time: four shards per hour, so a busy hour does not
                                                make one hot partition; the server-sent-events feed resumes from
                                                the arrival id, so events that arrive late are not skipped
    gsi2: E#<hour>#<n>    <event-ms>#<rand>     by the event's own time, four shards per hour likewise: time
                                                windows, however late their events were shipped (an agent that
                                                spooled through an outage sends hours-old lines)
    ALERT#<day>           <ms>#<rand>           an alert (scenario action `alert`, monitored whitelist, watch rule)

Writes go 25 per `BatchWriteItem`.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.core.clock import epoch, iso
from chalicelib.core.dynamo import DynamoTable
from chalicelib.core.errors import DependencyError
from chalicelib.core.ids import time_ordered_id

SHARDS = 4
RAW_LIMIT = 2048


def _hour(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H")


@dataclass(frozen=True)
class StoredEvent:
    """An event as stored and served: its id, the event's fields, and what ingest added."""

    id: str
    arrival: str
    data: dict[str, Any]


def event_id(sk: str, ip: str) -> str:
    return f"{sk}~{ip}"


class EventStore:
    def __init__(self, table: DynamoTable, retention_days: int = 30) -> None:
        self._t = table
        self._retention = timedelta(days=retention_days)

    def put_batch(self, records: Sequence[dict[str, Any]], arrived: datetime) -> tuple[list[StoredEvent], int]:
        """Store enriched event dicts (each with `time` as datetime and `source_ip`); returns them with their
        ids, and the number of requests made."""
        items, stored = [], []
        for record in records:
            when: datetime = record["time"]
            seq = record.get("seq")
            sk = f"{int(when.timestamp() * 1000):013d}-{seq}" if seq else time_ordered_id(when)
            arrival = f"{int(arrived.timestamp() * 1000):013d}-{seq}" if seq else time_ordered_id(arrived)
            ip = record["source_ip"]
            data = {**record, "time": iso(when), "raw": (record.get("raw") or "")[:RAW_LIMIT]}
            data = {k: v for k, v in data.items() if v not in (None, "", [], {})}
            items.append(
                {
                    "pk": f"IP#{ip}",
                    "sk": sk,
                    "gsi1pk": f"T#{_hour(arrived)}#{zlib.crc32(ip.encode()) % SHARDS}",
                    "gsi1sk": arrival,
                    "gsi2pk": f"E#{_hour(when)}#{zlib.crc32(ip.encode()) % SHARDS}",
                    "gsi2sk": sk,
                    "ttl": epoch(when + self._retention),
                    **data,
                }
            )
            stored.append(StoredEvent(event_id(sk, ip), arrival, {**data, "id": event_id(sk, ip)}))
        try:
            requests = self._t.batch_write(puts=items) if items else 0
        except (ClientError, BotoCoreError) as exc:
            # A dependency failure (table missing, throttled, unreachable), so ingest queues the batch for retry.
            raise DependencyError(f"the events table refused a batch: {type(exc).__name__}") from exc
        return stored, requests

    def get(self, event_id_text: str) -> dict[str, Any] | None:
        sk, _, ip = event_id_text.partition("~")
        if not sk or not ip:
            return None
        item = self._t.get({"pk": f"IP#{ip}", "sk": sk})
        return _view(item) if item else None

    def by_ip(self, ip: str, start: datetime, end: datetime, limit: int = 1000) -> list[dict[str, Any]]:
        """An address's events between two times, newest first."""
        items, _ = self._t.query(
            "pk = :pk AND sk BETWEEN :lo AND :hi",
            {
                ":pk": f"IP#{ip}",
                ":lo": f"{int(start.timestamp() * 1000):013d}",
                ":hi": f"{int(end.timestamp() * 1000):013d}~",
            },
            forward=False,
            limit=limit,
        )
        return [_view(i) for i in items]

    def arrived(self, start: datetime, end: datetime, after: str | None = None) -> Iterator[dict[str, Any]]:
        """Events that arrived between two times (after an arrival id, for the live feed), in arrival order."""
        for item in self._hourly("gsi1", "T", start, end, floor=after):
            if after is None or item["gsi1sk"] > after:
                yield _view(item)

    def in_range(self, start: datetime, end: datetime) -> Iterator[dict[str, Any]]:
        """Events whose own time falls in the range, oldest first, read from the event-time index."""
        for item in self._hourly("gsi2", "E", start, end):
            yield _view(item)

    def _hourly(
        self, index: str, prefix: str, start: datetime, end: datetime, floor: str | None = None
    ) -> Iterator[dict[str, Any]]:
        """The items of an hour-sharded index (`<prefix>#<hour>#<shard>`) between two times, in sort-key order:
        per hour, its shards read and merged."""
        hour = start.replace(minute=0, second=0, microsecond=0)
        low = floor or f"{int(start.timestamp() * 1000):013d}"
        high = f"{int(end.timestamp() * 1000):013d}~"
        sort_key = f"{index}sk"
        while hour <= end:
            found: list[dict[str, Any]] = []
            for shard in range(SHARDS):
                found += self._t.query_all(
                    f"{index}pk = :k AND {sort_key} BETWEEN :lo AND :hi",
                    {":k": f"{prefix}#{_hour(hour)}#{shard}", ":lo": low, ":hi": high},
                    index=index,
                )
            yield from sorted(found, key=lambda item: item[sort_key])
            hour += timedelta(hours=1)

    # alerts
    def put_alerts(self, alerts: Sequence[dict[str, Any]], now: datetime) -> None:
        items = [
            {
                "pk": f"ALERT#{now.date().isoformat()}",
                "sk": time_ordered_id(now),
                "ttl": epoch(now + self._retention),
                **a,
            }
            for a in alerts
        ]
        if items:
            self._t.batch_write(puts=items)

    def alerts(self, start: datetime, end: datetime, limit: int = 500) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        day = end.date()
        while day >= start.date() and len(found) < limit:
            items, _ = self._t.query("pk = :pk", {":pk": f"ALERT#{day.isoformat()}"}, forward=False, limit=limit)
            found += [{k: v for k, v in i.items() if k not in ("pk", "sk", "ttl")} | {"id": i["sk"]} for i in items]
            day -= timedelta(days=1)
        return found[:limit]


def _view(item: dict[str, Any]) -> dict[str, Any]:
    view = {k: v for k, v in item.items() if k not in ("pk", "sk", "gsi1pk", "gsi1sk", "gsi2pk", "gsi2sk", "ttl")}
    view["id"] = event_id(item["sk"], item["pk"].removeprefix("IP#"))
    view["arrival_id"] = item.get("gsi1sk")
    return view
