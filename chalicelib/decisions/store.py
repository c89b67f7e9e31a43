"""The decisions table: decision records, their history, the change log and daily counters.

    D#<value>        <type>#<scope>       the decision record (one per value, type and scope)
    D#<value>        H#<time>#<id>        a history entry of that value (ended, extended, tags changed...)
    CHG#<hour>       <ms>#<random>        a chunk of the change log, read by every container's index (TTL 2 days)
    STATS#daily      <date>               a daily snapshot of the IOC counters (seed 003)

Indexes: gsi1 lists records by `<type>#<status>#<shard>` (ten shards, so a million active bans do not share
one partition) sorted by creation time; gsi2 finds active records by the hour they expire in, which is what
the expiry sweep reads. Every write of a record is conditional on the version it was read at, so concurrent
writers never overwrite each other's changes (the loser gets a `ConflictError`).
"""

from __future__ import annotations

import secrets
import zlib
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta
from typing import Any

from chalicelib.core.clock import epoch, iso, parse_time
from chalicelib.core.dynamo import TRANSACTION_MAX, DynamoTable, Put
from chalicelib.core.errors import ConflictError
from chalicelib.decisions.model import ACTIVE, Decision

SHARDS = 10
CHANGES_PER_LOG_ITEM = 2000  # ~150 bytes each, well under DynamoDB's 400 KB item limit
CHANGE_LOG_TTL = timedelta(days=2)


def _shard(value: str) -> int:
    return zlib.crc32(value.encode()) % SHARDS


def _hour(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H")


class DecisionStore:
    def __init__(self, table: DynamoTable, memory: timedelta = timedelta(days=90)) -> None:
        self._t = table
        # How long an ended record outlives its end: the recidivism memory (fail2ban's dbpurgeage).
        self._memory = memory

    # records
    def item(self, decision: Decision) -> dict[str, Any]:
        record = decision.as_record()
        item: dict[str, Any] = {
            "pk": f"D#{decision.value}",
            "sk": decision.sk,
            "gsi1pk": f"{decision.type}#{decision.status}#{_shard(decision.value)}",
            "gsi1sk": f"{iso(decision.created_at)}#{decision.value}",
            **record,
        }
        if decision.status == ACTIVE and decision.until is not None:
            item["gsi2pk"] = f"EXP#{_hour(decision.until)}"
            item["gsi2sk"] = f"{iso(decision.until)}#{decision.value}#{decision.sk}"
            item["ttl"] = epoch(decision.until + self._memory)
        elif decision.status != ACTIVE and decision.ended_at is not None:
            item["ttl"] = epoch(decision.ended_at + self._memory)
        return item

    def get(self, value: str, sk: str) -> Decision | None:
        item = self._t.get({"pk": f"D#{value}", "sk": sk}, consistent=True)
        return Decision.from_record(item) if item else None

    def get_many(self, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], Decision]:
        unique = list(dict.fromkeys(keys))
        found = self._t.batch_get([{"pk": f"D#{value}", "sk": sk} for value, sk in unique])
        decisions = (Decision.from_record(item) for item in found)
        return {(d.value, d.sk): d for d in decisions}

    def for_value(self, value: str) -> list[Decision]:
        """Every record (not history) held for one value."""
        # Record sort keys start with a lower-case type (`ban#`, `allow#`), history ones with `H#`, and
        # upper case sorts first: `sk >= "a"` is every record and no history.
        items = self._t.query_all("pk = :pk AND sk >= :a", {":pk": f"D#{value}", ":a": "a"})
        return [Decision.from_record(i) for i in items]

    def _condition(self, expected_version: int | None) -> tuple[str, dict[str, str] | None, dict[str, Any] | None]:
        if expected_version is None:
            return "attribute_not_exists(pk)", None, None
        return "#v = :v", {"#v": "version"}, {":v": expected_version}

    def save(self, decision: Decision, expected_version: int | None) -> Decision:
        """Write a record: new if `expected_version` is None, else only over that version."""
        saved = decision.changed(version=(expected_version or 0) + 1)
        condition, names, values = self._condition(expected_version)
        try:
            self._t.put(self.item(saved), condition=condition, names=names, values=values)
        except ConflictError as exc:
            raise ConflictError(f"Decision on {decision.value} was changed concurrently; retry") from exc
        return saved

    def save_many(self, writes: list[tuple[Decision, int | None]]) -> tuple[list[Decision], list[tuple[Decision, str]]]:
        """Write many records in transactions; a transaction that fails is retried item by item, so each
        record ends up either written or reported with the reason."""
        saved: list[Decision] = []
        failed: list[tuple[Decision, str]] = []
        for start in range(0, len(writes), TRANSACTION_MAX):
            chunk = writes[start : start + TRANSACTION_MAX]
            versioned = [(d.changed(version=(v or 0) + 1), v) for d, v in chunk]
            operations = []
            for decision, expected in versioned:
                condition, names, values = self._condition(expected)
                operations.append(Put(self.item(decision), condition=condition, names=names, values=values))
            try:
                self._t.transact(operations, "a decision in the batch changed concurrently")
                saved += [d for d, _ in versioned]
            except ConflictError:
                for decision, expected in chunk:
                    try:
                        saved.append(self.save(decision, expected))
                    except ConflictError as exc:
                        failed.append((decision, exc.message))
        return saved, failed

    def list(self, type_: str, status: str = ACTIVE) -> Iterator[Decision]:
        """Every record of a type in a status, shard by shard (unordered across shards)."""
        for shard in range(SHARDS):
            for item in self._t.query_all("gsi1pk = :k", {":k": f"{type_}#{status}#{shard}"}, index="gsi1"):
                yield Decision.from_record(item)

    def due(self, now: datetime, since: datetime) -> Iterator[Decision]:
        """Active records whose `until` falls between `since` and `now` (the expiry sweep's work)."""
        hour = since.replace(minute=0, second=0, microsecond=0)
        while hour <= now:
            for item in self._t.query_all(
                "gsi2pk = :k AND gsi2sk <= :now", {":k": f"EXP#{_hour(hour)}", ":now": f"{iso(now)}#~"}, index="gsi2"
            ):
                yield Decision.from_record(item)
            hour += timedelta(hours=1)

    # history
    def add_history(self, entries: list[dict[str, Any]]) -> None:
        items = [
            # Within one timestamp, the record's version orders the entries of one decision.
            {
                "pk": f"D#{e['value']}",
                "sk": f"H#{e['at']}#{e['decision'].get('version', 0):08d}#{secrets.token_hex(3)}",
                **e,
            }
            for e in entries
        ]
        if items:
            self._t.batch_write(puts=items)

    def history(self, value: str) -> list[dict[str, Any]]:
        items = self._t.query_all("pk = :pk AND begins_with(sk, :h)", {":pk": f"D#{value}", ":h": "H#"})
        return [{k: v for k, v in i.items() if k not in ("pk", "sk")} for i in items]

    # change log
    def append_changes(self, changes: list[dict[str, Any]], now: datetime) -> None:
        """Record changes for the other containers' indexes, in chunks under the item size limit."""
        items = []
        base = int(now.timestamp() * 1000)
        for start in range(0, len(changes), CHANGES_PER_LOG_ITEM):
            items.append(
                {
                    "pk": f"CHG#{_hour(now)}",
                    "sk": f"{base:013d}#{secrets.token_hex(4)}",
                    "changes": changes[start : start + CHANGES_PER_LOG_ITEM],
                    "ttl": epoch(now + CHANGE_LOG_TTL),
                }
            )
        if items:
            self._t.batch_write(puts=items)

    def changes_since(self, since: datetime, now: datetime) -> list[dict[str, Any]]:
        """Changes logged from `since` to `now`, oldest first.

        The log is partitioned by hour: an index refreshing every few seconds reads one partition (two when an
        hour turns), one `Query` from its last position on, however many minutes passed since.
        """
        found: list[dict[str, Any]] = []
        hour = since.replace(minute=0, second=0, microsecond=0)
        floor = f"{int(since.timestamp() * 1000):013d}"
        while hour <= now:
            for item in self._t.query_all("pk = :pk AND sk >= :from", {":pk": f"CHG#{_hour(hour)}", ":from": floor}):
                found += item.get("changes", [])
            hour += timedelta(hours=1)
        return found

    # the expiry sweep's cursor
    def sweep_cursor(self) -> datetime | None:
        item = self._t.get({"pk": "SWEEP", "sk": "cursor"}, consistent=True)
        return parse_time(item["at"]) if item else None

    def set_sweep_cursor(self, when: datetime) -> None:
        self._t.put({"pk": "SWEEP", "sk": "cursor", "at": iso(when)})

    # daily counters (seed 003 /counters/history)
    def put_daily(self, day: str, counters: dict[str, Any]) -> None:
        self._t.put({"pk": "STATS#daily", "sk": day, **counters})

    def daily(self, limit: int) -> list[dict[str, Any]]:
        items, _ = self._t.query("pk = :pk", {":pk": "STATS#daily"}, forward=False, limit=limit)
        return [{k: v for k, v in i.items() if k not in ("pk", "sk")} for i in items]
