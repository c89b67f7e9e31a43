"""Ingest: one service behind several doors (seed 002 `POST /events`, `POST /api/v1/ingest`, the retry queue).

A batch is parsed (raw lines through the format's parser, or structured events), each bad event reported by
its index while the good ones go ahead; then enriched (GeoIP, whitelist and ban status), stored (events table,
raw archive on S3, statistics counters, the sensor's last-seen), checked against the geoblocking rules, and
handed to detection, whose triggers become decisions. A `batch_id` makes a retried batch a no-op that answers
like the first time. If storing fails after the batch was accepted, it goes to the retry queue instead of
being lost, and the answer says `queued`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Protocol

from chalicelib.core.clock import Clock, iso
from chalicelib.core.errors import DependencyError, InvalidInputError, VigilError
from chalicelib.core.observability import get_logger
from chalicelib.events.archive import Archive
from chalicelib.events.batches import Batch, BatchLedger
from chalicelib.events.model import Event
from chalicelib.events.parsers import ParseContext, zone
from chalicelib.events.parsers.registry import get_parser
from chalicelib.events.retry import RetryQueue
from chalicelib.events.sensors import Sensors
from chalicelib.events.stats import StatsStore, is_attack, is_failed_login
from chalicelib.events.store import EventStore

FUTURE_TOLERANCE = timedelta(minutes=5)


class GeoLookup(Protocol):
    def lookup(self, ip: str) -> Any: ...


class Responder(Protocol):
    def respond(
        self, events: Sequence[Event], enriched: dict[str, dict[str, Any]], request_id: str | None
    ) -> dict[str, Any]: ...


@dataclass
class IngestResult:
    batch_id: str
    accepted: int = 0
    ignored: int = 0
    rejected: list[dict[str, Any]] = field(default_factory=list)
    duplicate: bool = False
    queued: bool = False
    decisions: list[dict[str, Any]] = field(default_factory=list)
    alerts: int = 0
    requests: int = 0

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


class Ingest:
    def __init__(
        self,
        events: EventStore,
        stats: StatsStore,
        archive: Archive,
        sensors: Sensors,
        ledger: BatchLedger,
        retry: RetryQueue,
        geo: GeoLookup,
        responder: Responder,
        clock: Clock,
        *,
        auto_register: bool = True,
        max_events: int = 5000,
    ) -> None:
        self._events = events
        self._stats = stats
        self._archive = archive
        self._sensors = sensors
        self._ledger = ledger
        self._retry = retry
        self._geo = geo
        self._responder = responder
        self._clock = clock
        self._auto_register = auto_register
        self._max_events = max_events
        # Sensors this container found registered: their next batches skip the read. A sensor deleted since is
        # noticed when its batch's last-seen stamp finds no record (`_stamp`), and checked again from then on.
        self._known: set[str] = set()

    # entry points
    def ingest(self, batch: Batch, request_id: str | None = None) -> IngestResult:
        size = len(batch.lines) + len(batch.records) + len(batch.windows)
        if size == 0:
            raise InvalidInputError("The batch holds no events or lines")
        if size > self._max_events:
            raise InvalidInputError(f"A batch holds at most {self._max_events} events or lines; this one has {size}")
        self._ensure_sensor(batch)
        now = self._clock.now()
        batch_id = batch.batch_id or str(uuid.uuid4())
        result = IngestResult(batch_id)
        # Parsed before the batch id is claimed: a batch refused as a whole (no or unknown format) must leave
        # no claim behind, or the agent's corrected retry would be refused as "being processed" for a week.
        events = self._parse(batch, result)
        if batch.batch_id:
            previous = self._ledger.claim(batch.sensor, batch_id, now)
            if previous is not None:
                return IngestResult(**{**previous, "duplicate": True})
        progress: dict[str, Any] = {}
        try:
            try:
                self._store_and_detect(events, batch.sensor, batch.hostname, batch_id, result, request_id, progress)
            except DependencyError as exc:
                get_logger().warning(
                    "batch queued for retry", batch_id=batch_id, sensor=batch.sensor, error=exc.message
                )
                self._retry.enqueue(
                    {
                        "sensor": batch.sensor,
                        "hostname": batch.hostname,
                        "batch_id": batch_id,
                        "events": [e.to_dict() for e in events],
                        **progress,
                    }
                )
                result.queued = True
        except Exception:
            if batch.batch_id:
                self._ledger.release(batch.sensor, batch_id)  # let the agent's retry run it again
            raise
        if batch.batch_id:
            self._ledger.finish(batch.sensor, batch_id, result.as_dict(), now)
        return result

    def retry(self, payload: dict[str, Any]) -> IngestResult:
        """Store a batch the retry queue carried back (its events were parsed and counted when accepted)."""
        events = [Event.from_dict(e) for e in payload["events"]]
        result = IngestResult(payload["batch_id"], accepted=len(events))
        progress = {"attempts": payload["attempts"]} if "attempts" in payload else {}
        self._store_and_detect(
            events, payload["sensor"], payload.get("hostname"), payload["batch_id"], result, None, progress
        )
        return result

    # steps
    def _ensure_sensor(self, batch: Batch) -> None:
        if batch.sensor in self._known:
            return
        if self._sensors.get(batch.sensor) is None:
            if not self._auto_register:
                raise InvalidInputError(
                    f"Unknown sensor {batch.sensor!r}; register it first (POST /api/v1/vms)", code="UNKNOWN_SENSOR"
                )
            with contextlib.suppress(VigilError):  # registered by a concurrent batch: fine
                self._sensors.register(batch.sensor, batch.hostname, None, "agent", auto=True)
        self._known.add(batch.sensor)

    def _stamp(self, sensor: str, events: int, hostname: str | None) -> None:
        """The sensor's last-seen stamp. A sensor deleted while this container knew it: this batch was taken
        (its events are stored), and the next one is checked as a stranger's would be."""
        if not self._sensors.seen(sensor, events, hostname):
            self._known.discard(sensor)
            get_logger().warning("batch from a sensor deleted meanwhile", sensor=sensor, events=events)

    def _parse(self, batch: Batch, result: IngestResult) -> list[Event]:
        now = self._clock.now()
        context = ParseContext.at(now, zone(batch.timezone), batch.hostname)
        events: list[Event] = []

        def keep(index: int, event: Event) -> None:
            if event.time > now + FUTURE_TOLERANCE:
                result.rejected.append({"index": index, "error": f"event time {iso(event.time)} is in the future"})
                return
            events.append(dataclasses.replace(event, sensor=batch.sensor, hostname=event.hostname or batch.hostname))

        if batch.lines:
            if not batch.format:
                raise InvalidInputError("Raw lines need a `format` (e.g. sshd, windows-4625, sophos-xgs)")
            parser = get_parser(batch.format)
            for index, line in enumerate(batch.lines):
                if not isinstance(line, str):
                    result.rejected.append({"index": index, "error": "a line must be a string"})
                    continue
                event = parser(line, context)
                if event is None:
                    result.ignored += 1
                else:
                    keep(index, event)
        windows = get_parser("windows-4625") if batch.windows else None
        for index, record in enumerate(batch.windows):
            event = windows(record, context) if isinstance(record, dict) else None  # type: ignore[misc]
            if event is None:
                result.rejected.append({"index": index, "error": "not a failed-logon record with a valid IP address"})
            else:
                keep(index, event)
        for index, record in enumerate(batch.records):
            try:
                keep(index, Event.from_dict(record))
            except (InvalidInputError, TypeError, AttributeError) as exc:
                message = exc.message if isinstance(exc, InvalidInputError) else "not an event object"
                result.rejected.append({"index": index, "error": message})
        result.accepted = len(events)
        return events

    def _enrich(self, events: Sequence[Event]) -> dict[str, dict[str, Any]]:
        """Per distinct source address: geography (from the GeoIP database)."""
        found: dict[str, dict[str, Any]] = {}
        for ip in {e.source_ip for e in events}:
            geo = self._geo.lookup(ip)
            found[ip] = {**_geo_fields(geo), "_geo": geo}  # `_geo`: the lookup itself, for policies; not stored
        return found

    def _store_and_detect(
        self,
        events: list[Event],
        sensor: str,
        hostname: str | None,
        batch_id: str,
        result: IngestResult,
        request_id: str | None,
        progress: dict[str, Any],
    ) -> None:
        """Store, count and detect. `progress` records the steps done (the statistics, with the attempt numbers
        they gave) so that a batch retried from the queue is not counted twice."""
        if not events:
            self._stamp(sensor, 0, hostname)
            return
        enriched = self._enrich(events)
        records = [_record(e, enriched[e.source_ip], batch_id, i) for i, e in enumerate(events)]
        stat_requests = 0
        if "attempts" in progress:
            for record, attempt in zip(records, progress["attempts"], strict=True):
                if attempt is not None:
                    record["attempt"] = attempt
        else:
            day_counts, stat_requests = self._stats.record(records, sensor)
            _number_attempts(records, day_counts)
            progress["attempts"] = [r.get("attempt") for r in records]
        # Stamped just before the write: the live feed serves arrivals once they are a few seconds old, so an
        # arrival id must not predate its write by more than that.
        _, event_requests = self._events.put_batch(records, self._clock.now())
        archive_requests = self._archive.put([{**r, "time": iso(r["time"])} for r in records], sensor, batch_id)
        self._stamp(sensor, len(events), hostname)
        outcome = self._responder.respond(events, enriched, request_id)
        result.decisions = outcome.get("decisions", [])
        result.alerts = outcome.get("alerts", 0)
        result.requests = stat_requests + event_requests + archive_requests + 1 + outcome.get("requests", 0)


def _geo_fields(geo: Any) -> dict[str, Any]:
    if geo is None:
        return {}
    return {
        "country": getattr(geo, "country_code", None),
        "country_name": getattr(geo, "country_name", None),
        "city": getattr(geo, "city", None),
        "lat": getattr(geo, "latitude", None),
        "lng": getattr(geo, "longitude", None),
        "asn": getattr(geo, "asn", None),
        "as_org": getattr(geo, "as_org", None),
    }


def _number_attempts(records: list[dict[str, Any]], day_counts: dict[str, int]) -> None:
    """Give each failed login its place among its address's attacks of the day (`attempt`, the feed's
    `attempt_number`): the batch's attacks, in time order, end at the day's count after this batch."""
    remaining = Counter(r["source_ip"] for r in records if is_attack(r))
    for record in sorted(records, key=lambda r: r["time"]):
        ip = record["source_ip"]
        if not is_attack(record) or ip not in day_counts:
            continue
        if is_failed_login(record):
            record["attempt"] = day_counts[ip] - remaining[ip] + 1
        remaining[ip] -= 1


def _record(event: Event, geo: dict[str, Any], batch_id: str, index: int) -> dict[str, Any]:
    data = event.to_dict()
    data["time"] = event.time
    data.update({k: v for k, v in geo.items() if v is not None and not k.startswith("_")})
    data["batch"] = batch_id
    # A deterministic suffix: storing the same batch again (a retry) overwrites instead of duplicating. The
    # batch's hash then the index, so the events of one batch keep their order in the arrival index (the feed).
    data["seq"] = f"{hashlib.sha256(batch_id.encode()).hexdigest()[:7]}{index:05d}"
    return data
