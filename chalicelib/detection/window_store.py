"""Detection windows in DynamoDB: bucketed counters shared by every Lambda container, a few requests per batch.

Layout, in the counters table (every item has a `ttl`):

- `DW#<bucket seconds>#<page>` / `P`: one logical item per page of `PAGE` consecutive buckets of a *family*
  (the scenarios whose windows have the same bucket length: every 10-minute window shares 60-second buckets),
  kept by `events/counter_items.CounterItems`: one DynamoDB item until it nears 400 KB, then spilled by hash to
  `P~<level>.<index>` parts. Each (scenario, key, bucket) is one top-level attribute: `n|<scenario>|<key>@<n>`
  a Number (events), `d|<scenario>|<key>@<n>` a String Set (distinct values), `<n>` the bucket's place in its
  page. DynamoDB's `ADD` works on top-level Numbers and Sets only, hence the flat names.
- `DT#<minute>#<writer>` / `T`: the keys of scheduled scenarios counted during that minute (one String Set per
  scenario), written by each container to its own `writer` shard (one of `shards`); `sweep` reads them.
- `DC#<scenario>#<key>` / `C`: a claim: the key triggered and is quiet until `until` (conditional put).

Earlier layouts kept one item per bucket (`DW#<bucket seconds>#<bucket index>` / `W`, before that four hash
shards of it); those items are not read any more and expire with their TTL (at most a day of
`auth-low-and-slow` counts is forgotten at the switch).

Requests per batch: one `UpdateItem` per (family, page) the batch touches while its item is not full (more for
a big page: one per part and chunk), each carrying up to 250 `ADD` clauses (an UpdateExpression stays under 4 KB
and DynamoDB's 300-operator cap) and returning the new values (`UPDATED_NEW`); then, for ingest scenarios, one
`BatchGetItem` per 100 parts of the windows' other pages, read whole (see `_read`); one `UpdateItem` of this
container's touched item when scheduled scenarios counted; the batch's claims in one request (a conditional
`PutItem` for one trigger, a `TransactWriteItems` of conditional puts for several, resent without the refused
ones). For 1,000 failures from 500 addresses and the shipped scenarios that is about twelve requests (see
`tests/service/detection/test_window_store.py`), whatever the number of addresses; a batch that spans ten minutes
of log touches two pages of the one-minute family, not ten items.

Approximations (see `windows.py` for the bucket bound): a batch's events are evaluated at the last event of
each bucket they fall in; `first_seen` is the start of the oldest bucket with a count; for distinct
scenarios `count` is the key's events in the batch (the set holds values, not events); at most `threshold`
new distinct values per key and batch are written (enough to reach it), which bounds a set's growth.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from chalicelib.core.clock import Clock, epoch
from chalicelib.core.dynamo import DynamoTable, Put, serialize
from chalicelib.detection.windows import (
    BUCKETS,
    SAMPLE_SIZE,
    Claim,
    Counted,
    Key,
    Reached,
    WindowSpec,
    bucket_index,
    key_text,
    parse_key_text,
    window_buckets,
)
from chalicelib.events.counter_items import MAX_CLAUSES, CounterItems, ItemKey
from chalicelib.events.model import Event

TTL_MARGIN = 3600
# Buckets per stored item. A batch that spans minutes of log (an agent catching up) touches one item per page
# instead of one per bucket; a page is five times a bucket's size, so a busy bucket spills sooner (see the layout).
PAGE = 5
TOUCHED_TTL = 3600
DEFAULT_SHARDS = 4

ItemId = tuple[int, int]  # (bucket seconds, bucket index)


@dataclass
class _Eval:
    """One ingest key to evaluate after the updates: where, and what the batch brought."""

    spec: WindowSpec
    key: Key
    name: str  # its attribute name
    points: list[tuple[int, float]]  # (bucket index, the key's last event time in it), in time order
    events: Sequence[Event]


@dataclass
class _Plan:
    """A batch turned into DynamoDB work."""

    updates: dict[ItemId, dict[str, Any]] = field(default_factory=lambda: defaultdict(dict))
    evaluations: list[_Eval] = field(default_factory=list)
    touched: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))


class DynamoWindows:
    """Bucketed windows in the counters table, shared by containers; `shards` (the touched-keys items a sweep
    reads) must be the same everywhere."""

    def __init__(
        self,
        table: DynamoTable,
        clock: Clock,
        *,
        shards: int = DEFAULT_SHARDS,
        writer: int | None = None,
        lookback_minutes: int = 3,
        max_clauses: int = MAX_CLAUSES,
    ) -> None:
        """`writer`: this container's touched-keys shard (random by default); `lookback_minutes`: how far a sweep
        looks back for touched keys (more than the schedule's period, so a late or missed tick loses nothing);
        `max_clauses`: ADD clauses per UpdateItem (settings `detection_*`)."""
        self._table = table
        self._counters = CounterItems(table, max_clauses=max_clauses)
        self._clock = clock
        self._shards = shards
        self._writer = random.randrange(shards) if writer is None else writer  # noqa: S311 - spreading, not secrecy
        self._lookback = lookback_minutes
        self._held: dict[tuple[str, Key], datetime] = {}  # claims this container made or was refused

    # Counting

    def record(self, batch: Sequence[Counted]) -> list[Reached]:
        plan = self._plan(batch)
        known = self._apply(plan.updates)
        if plan.touched:
            self._touch(plan.touched)
        if not plan.evaluations:
            return []
        values = self._read(plan.evaluations, known)
        reached = []
        for item in plan.evaluations:
            hit = self._evaluate(item, values)
            if hit is not None:
                reached.append(hit)
        return reached

    def _plan(self, batch: Sequence[Counted]) -> _Plan:
        plan = _Plan()
        for counted in batch:
            spec = counted.spec
            family = spec.bucket_seconds
            for key, events in counted.events.items():
                text = key_text(key)
                name = ("n|" if spec.distinct is None else "d|") + spec.name + "|" + text
                buckets: dict[int, list[Event]] = {}
                for event in events:
                    buckets.setdefault(bucket_index(event.time.timestamp(), family), []).append(event)
                points = []
                for index, found in sorted(buckets.items()):
                    value = self._value(spec, found)
                    if value is None:
                        continue
                    plan.updates[(family, index)][name] = value
                    points.append((index, max(e.time for e in found).timestamp()))
                if not points:
                    continue
                if spec.scheduled:
                    plan.touched[spec.name].add(text)
                elif not self._is_held(spec.name, key, points[-1][1]):
                    plan.evaluations.append(_Eval(spec, key, name, points, events))
        return plan

    @staticmethod
    def _value(spec: WindowSpec, events: list[Event]) -> int | set[str] | None:
        if spec.distinct is None:
            return len(events)
        values: set[str] = set()
        for event in events:
            value = spec.distinct(event)
            if value is not None:
                values.add(value)
                if len(values) >= spec.threshold:  # enough to reach it: the set's growth stays bounded
                    break
        return values or None

    def _apply(self, updates: dict[ItemId, dict[str, Any]]) -> dict[ItemId, dict[str, Any]]:
        """Add the batch to its buckets; the new totals of what was added."""
        stored: dict[ItemKey, dict[str, Any]] = defaultdict(dict)
        ttls: dict[ItemKey, int] = {}
        for (family, index), values in updates.items():
            page = _page_key(family, index)
            for name, value in values.items():
                stored[page][_stored_name(name, index)] = value
            # Kept until the longest window after the page's last bucket has passed it.
            ttls[page] = ((index // PAGE + 1) * PAGE + BUCKETS) * family + TTL_MARGIN
        totals, _ = self._counters.add(stored, ttls)
        return _logical(totals)

    def _touch(self, touched: dict[str, set[str]]) -> None:
        """Record the scheduled scenarios' keys counted this minute, in this container's touched item."""
        minute = epoch(self._clock.now()) // 60
        names = {"#t": "ttl"}
        values: dict[str, Any] = {":t": (minute + 1) * 60 + TOUCHED_TTL}
        clauses = []
        for number, (scenario, keys) in enumerate(sorted(touched.items())):
            names[f"#s{number}"] = scenario
            values[f":s{number}"] = keys
            clauses.append(f"#s{number} :s{number}")
        self._table.client.update_item(
            TableName=self._table.name,
            Key=serialize({"pk": f"DT#{minute}#{self._writer}", "sk": "T"}),
            UpdateExpression="SET #t = :t ADD " + ", ".join(clauses),
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=serialize(values),
        )

    # Reading and evaluating

    def _read(self, evaluations: Iterable[_Eval], known: dict[ItemId, dict[str, Any]]) -> dict[ItemId, dict[str, Any]]:
        """The window buckets' values for every key to evaluate: from the updates when they hold it, else from
        the pages that hold them, read whole. A projection would not cost less: DynamoDB charges a read by the
        item's size, whatever it returns, and a page's names differ per bucket, so projecting them takes a
        request per 600 names where whole pages take one per 100 parts."""
        pages: set[ItemKey] = set()
        for item in evaluations:
            family = item.spec.bucket_seconds
            for index in _indexes(item.points, item.spec.window_seconds):
                if item.name not in known.get((family, index), {}):
                    pages.add(_page_key(family, index))
        values = _logical(self._counters.items(sorted(pages), consistent=True)) if pages else {}
        for item_id, found in known.items():
            values.setdefault(item_id, {}).update(found)
        return values

    def _evaluate(self, item: _Eval, values: dict[ItemId, dict[str, Any]]) -> Reached | None:
        spec = item.spec
        family = spec.bucket_seconds
        for index, at in item.points:
            count, distinct, oldest = 0, set[str](), None
            for bucket in window_buckets(at, spec.window_seconds):
                value = values.get((family, bucket), {}).get(item.name)
                if not value:
                    continue
                oldest = bucket if oldest is None else oldest
                if isinstance(value, set):
                    distinct |= value
                else:
                    count += int(value)
            size = count if spec.distinct is None else len(distinct)
            if size >= spec.threshold:
                when = datetime.fromtimestamp(at, UTC)
                first = min(item.events[0].time, datetime.fromtimestamp((oldest or index) * family, UTC))
                return Reached(
                    scenario=spec.name,
                    key=item.key,
                    count=count if spec.distinct is None else len(item.events),
                    distinct=None if spec.distinct is None else size,
                    first_seen=first,
                    last_seen=when,
                    at=when,
                    sample=tuple(item.events[:SAMPLE_SIZE]),
                )
        return None

    # Scheduled evaluation

    def sweep(self, specs: Sequence[WindowSpec], now: datetime) -> list[Reached]:
        if not specs:
            return []
        minute = epoch(now) // 60
        touched_ids = [
            f"DT#{m}#{writer}" for m in range(minute - self._lookback + 1, minute + 1) for writer in range(self._shards)
        ]
        touched = self._table.batch_get([{"pk": pk, "sk": "T"} for pk in touched_ids])
        at = now.timestamp()
        evaluations = []
        for spec in specs:
            keys = set().union(*(item.get(spec.name, set()) for item in touched))
            for text in sorted(keys):
                key = parse_key_text(text)
                if self._is_held(spec.name, key, at):
                    continue
                name = ("n|" if spec.distinct is None else "d|") + spec.name + "|" + text
                index = bucket_index(at, spec.bucket_seconds)
                evaluations.append(_Eval(spec, key, name, [(index, at)], ()))
        if not evaluations:
            return []
        values = self._read(evaluations, {})
        reached = []
        for item in evaluations:
            hit = self._evaluate_swept(item, values, now)
            if hit is not None:
                reached.append(hit)
        return reached

    def _evaluate_swept(self, item: _Eval, values: dict[ItemId, dict[str, Any]], now: datetime) -> Reached | None:
        spec = item.spec
        count, distinct, oldest = 0, set[str](), None
        for bucket in window_buckets(now.timestamp(), spec.window_seconds):
            value = values.get((spec.bucket_seconds, bucket), {}).get(item.name)
            if not value:
                continue
            oldest = bucket if oldest is None else oldest
            if isinstance(value, set):
                distinct |= value
            else:
                count += int(value)
        size = count if spec.distinct is None else len(distinct)
        if oldest is None or size < spec.threshold:
            return None
        return Reached(
            scenario=spec.name,
            key=item.key,
            count=count if spec.distinct is None else size,
            distinct=None if spec.distinct is None else size,
            first_seen=datetime.fromtimestamp(oldest * spec.bucket_seconds, UTC),
            last_seen=now,
            at=now,
        )

    # Claims

    def claim(self, scenario: str, key: Key, at: datetime, until: datetime) -> bool:
        return self.claim_all([Claim(scenario, key, at, until)])[0]

    def claim_all(self, claims: Sequence[Claim]) -> list[bool]:
        """One batch's claims in one request (`DynamoTable.put_each`: a transaction, resent without the refused).

        Why the condition: two containers reaching the same threshold in the same second both try; the first put
        wins, the second finds a claim whose `until` is still ahead and is refused. A refused claim is held by
        another container, made moments ago with this scenario's cooldown, so it holds until about `until` too:
        remembered, instead of asking again for every batch. A key claimed twice in one list (its cooldown over
        within the batch) is claimed again after the first round."""
        granted = [False] * len(claims)
        first: dict[tuple[str, Key], int] = {}
        again = []
        for n, claim in enumerate(claims):
            if (claim.scenario, claim.key) in first:
                again.append(n)
            elif not self._is_held(claim.scenario, claim.key, claim.at.timestamp()):
                first[(claim.scenario, claim.key)] = n
        order = list(first.values())
        written = self._table.put_each([_claim_put(claims[n]) for n in order]) if order else []
        for n, ok in zip(order, written, strict=True):
            self._held[(claims[n].scenario, claims[n].key)] = claims[n].until
            granted[n] = ok
        for n in again:
            granted[n] = self.claim(*claims[n])
        return granted

    def _is_held(self, scenario: str, key: Key, at: float) -> bool:
        held = self._held.get((scenario, key))
        if held is None:
            return False
        if held.timestamp() > at:
            return True
        del self._held[(scenario, key)]
        return False


def _claim_put(claim: Claim) -> Put:
    until = epoch(claim.until)
    return Put(
        {"pk": f"DC#{claim.scenario}#{key_text(claim.key)}", "sk": "C", "until": until, "ttl": until + 86400},
        condition="attribute_not_exists(pk) OR #u <= :at",
        names={"#u": "until"},
        values={":at": epoch(claim.at)},
    )


def _page_key(family: int, index: int) -> ItemKey:
    """The stored item of a bucket: its family's page of `PAGE` buckets."""
    return f"DW#{family}#{index // PAGE}", "P"


def _stored_name(name: str, index: int) -> str:
    """A key's attribute for one bucket of its page: the bucket's place in the page after the last `@`."""
    return f"{name}@{index % PAGE}"


def _logical(stored: dict[ItemKey, dict[str, Any]]) -> dict[ItemId, dict[str, Any]]:
    """Stored pages' values by bucket and key attribute, as `_plan` and `_evaluate` name them."""
    found: dict[ItemId, dict[str, Any]] = defaultdict(dict)
    for (pk, _), values in stored.items():
        _, family, page = pk.split("#")
        for attribute, value in values.items():
            name, offset = attribute.rsplit("@", 1)
            found[(int(family), int(page) * PAGE + int(offset))][name] = value
    return found


def _indexes(points: list[tuple[int, float]], window_seconds: int) -> set[int]:
    """Every bucket any of the evaluation points' windows covers."""
    found: set[int] = set()
    for _, at in points:
        found.update(window_buckets(at, window_seconds))
    return found
