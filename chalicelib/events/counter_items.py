"""Counter items: counters and string sets ADDed to what is logically one item, stored as one DynamoDB item
until that nears DynamoDB's 400 KB limit, and spilled by hash only then.

Why: statistics (a day's attacking addresses) and detection windows (a bucket's keys) count into items that
may outgrow 400 KB. A fixed number of hash shards bounds their size but costs one `UpdateItem` per shard for
every batch, however few keys the batch has, and most batches fit one item. Here a logical item costs one
update (per chunk of clauses) until it is nearly full, and more only in proportion to its size.

Layout: a logical item `(pk, sk)` is a tree of *parts*. The root is `(pk, sk)` itself; the part of level L >= 1
and index i is `(pk, "<sk>~<L>.<i>")`. An attribute's part at level L is the one whose index is its name's
crc32 modulo FANOUT**L, and its value is the sum (numbers) or union (sets) of its parts from the root down to
the first open one.

Size: DynamoDB cannot say how big an item is, so each part keeps `~size`, an upper bound of its size. An update
adds what it could add (each attribute as if new, numbers at their longest) on condition that the bound stays
under CAPACITY; the values it gets back (`UPDATED_NEW`) tell which counters existed, and this container's next
update of that part takes the excess off (a correction lost with its container only leaves the bound looser).

Spill: an update the condition refuses *closes* its part (`~closed`, written in the room kept under 400 KB) and
goes to the part's children. A closed part takes no more writes, so its values are final, and every write to a
part was made before any write to its children (DynamoDB orders the writes of one item): an update's new value
plus the final values of the closed parts above it is the attribute's total at that moment, as one item's
`UPDATED_NEW` would have been.
"""

from __future__ import annotations

import time
import zlib
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from chalicelib.core.dynamo import DynamoTable, deserialize, serialize
from chalicelib.core.errors import ConflictError, DependencyError, ItemTooLargeError
from chalicelib.core.observability import get_logger

FANOUT = 2  # children per closed part: the parts a batch touches grow with the item's size, not in steps of 8
MAX_LEVEL = 8  # 2**8 parts at the deepest level, about 100 MB per logical item; past it counts are dropped
CAPACITY = 380_000  # bytes of `~size`; the rest of 400 KB is room for the keys, `ttl`, `~size` and `~closed`
NUMBER = 22  # the most bytes a counter's value can take (DynamoDB: 38 digits in 20 bytes; moto: one per digit)
SIZE = "~size"
CLOSED = "~closed"
INTERNAL = frozenset({"pk", "sk", "ttl", SIZE, CLOSED})
MAX_CLAUSES = 250  # ADD clauses per UpdateItem (DynamoDB caps an expression at 4 KB and 300 operators)
MAX_EXPRESSION = 3800  # characters of an UpdateExpression or ProjectionExpression
MAX_GET = 100  # items per BatchGetItem
MAX_NAMES = 600  # attribute names per ProjectionExpression ("#p599," is six characters: 3.6 KB)
MAX_EXCESS = 4096  # parts whose over-count this container remembers (forgetting only loosens the bound)

ItemKey = tuple[str, str]  # (pk, sk) of a logical item
Value = int | set[str]


@dataclass(frozen=True, slots=True)
class Part:
    """One DynamoDB item of a logical item."""

    item: ItemKey
    level: int = 0
    index: int = 0

    @property
    def key(self) -> dict[str, str]:
        pk, sk = self.item
        return {"pk": pk, "sk": sk if self.level == 0 else f"{sk}~{self.level}.{self.index}"}

    def child(self, name: str) -> Part:
        """The part below this one that holds `name`."""
        return Part(self.item, self.level + 1, _hash(name) % FANOUT ** (self.level + 1))

    def children(self) -> list[Part]:
        return [Part(self.item, self.level + 1, self.index + n * FANOUT**self.level) for n in range(FANOUT)]

    def above(self, name: str) -> list[Part]:
        """The parts above this one on `name`'s path (all closed when this one was written)."""
        return [Part(self.item, level, _hash(name) % FANOUT**level) for level in range(self.level)]


class CounterItems:
    """ADD and read logical counter items in one table (the only caller of DynamoDB for them)."""

    def __init__(self, table: DynamoTable, *, max_clauses: int = MAX_CLAUSES, capacity: int = CAPACITY) -> None:
        """`max_clauses`: ADD clauses per UpdateItem (detection's setting lowers it for the local emulator)."""
        self._t = table
        self._max_clauses = min(max_clauses, MAX_CLAUSES)
        self._capacity = capacity
        self._closed: set[Part] = set()  # parts this container found closed (a part never reopens)
        self._excess: dict[Part, int] = {}  # bytes this container's last update of a part counted too many

    # Writing

    def add(
        self, adds: Mapping[ItemKey, Mapping[str, Value]], ttls: Mapping[ItemKey, int]
    ) -> tuple[dict[ItemKey, dict[str, Value]], int]:
        """Add to logical items: each added attribute's total afterwards, and the number of requests made. An
        attribute missing from the answer was dropped (its item is full to the last level, the log says so)."""
        written: dict[Part, dict[str, Value]] = {}
        requests = 0
        for item, values in adds.items():
            if values:
                requests += self._write(Part(item), list(values.items()), ttls[item], written)
        above: dict[Part, set[str]] = defaultdict(set)
        for part, values in written.items():
            for name in values:
                for closed in part.above(name):
                    above[closed].add(name)
        totals: dict[ItemKey, dict[str, Value]] = defaultdict(dict)
        if above:
            found, reads = self._project(above)
            requests += reads
            for part, names in above.items():
                for name in names & found.get(part, {}).keys():
                    _merge(totals[part.item], name, found[part][name])
        for part, values in written.items():
            for name, value in values.items():
                _merge(totals[part.item], name, value)
        return dict(totals), requests

    def _write(self, part: Part, pending: list[tuple[str, Value]], ttl: int, written: dict[Part, dict]) -> int:
        """Write `pending` to `part` in chunks while it is open, the rest to its children; requests made."""
        requests = 0
        while pending and part not in self._closed:
            chunk = _chunk(pending, self._max_clauses, self._capacity)
            requests += 1
            try:
                written.setdefault(part, {}).update(self._update(part, chunk, ttl))
            except ConflictError:
                requests += self._close(part)
                break
            except ItemTooLargeError:
                # The bound said there was room and DynamoDB disagrees (an item from before `~size` was kept):
                # close it if that still fits; if not, nothing can be added to it, and the log says so.
                try:
                    requests += self._close(part)
                except ItemTooLargeError:
                    self._drop(part, pending)
                    return requests
                break
            pending = pending[len(chunk) :]
        if not pending:
            return requests
        if part.level >= MAX_LEVEL:
            self._drop(part, pending)
            return requests
        below: dict[Part, list[tuple[str, Value]]] = defaultdict(list)
        for name, value in pending:
            below[part.child(name)].append((name, value))
        for child, values in below.items():
            requests += self._write(child, values, ttl, written)
        return requests

    def _update(self, part: Part, chunk: list[tuple[str, Value]], ttl: int) -> dict[str, Value]:
        """One conditional UpdateItem; the chunk's new values on this part. ConflictError: the part is full."""
        estimate = sum(_bound(name, value) for name, value in chunk)
        excess = self._excess.pop(part, 0)
        names = {"#t": "ttl", "#s": SIZE, "#c": CLOSED}
        values: dict[str, Any] = {":t": ttl, ":grow": estimate - excess, ":room": self._capacity - estimate + excess}
        clauses = ["#s :grow"]
        for number, (name, value) in enumerate(chunk):
            names[f"#a{number}"] = name
            values[f":v{number}"] = value
            clauses.append(f"#a{number} :v{number}")
        # Why the condition: a closed part's values are final (readers and writers below rely on it), and an
        # open one takes an update only if its size bound stays under CAPACITY with everything this one adds.
        new = self._t.update(
            part.key,
            "SET #t = :t ADD " + ", ".join(clauses),
            condition="attribute_not_exists(#c) AND (attribute_not_exists(#s) OR #s <= :room)",
            names=names,
            values=values,
            returns="UPDATED_NEW",
        )
        if len(self._excess) >= MAX_EXCESS:
            self._excess.clear()
        self._excess[part] = estimate - sum(_added(name, value, new.get(name)) for name, value in chunk)
        return {name: new[name] for name, _ in chunk if name in new}

    def _close(self, part: Part) -> int:
        """Mark a full part closed (again, if another container did it first: the flag is the same)."""
        self._t.update(part.key, "SET #c = :one", names={"#c": CLOSED}, values={":one": 1}, returns="UPDATED_NEW")
        self._closed.add(part)
        self._excess.pop(part, None)
        return 1

    @staticmethod
    def _drop(part: Part, pending: list[tuple[str, Value]]) -> None:
        # The events are stored and detected all the same; only these counters stop growing, and the log says so.
        get_logger().warning(
            "counter item full: counts dropped", pk=part.key["pk"], sk=part.key["sk"], dropped=len(pending)
        )

    # Reading

    def items(self, keys: Iterable[ItemKey], *, consistent: bool = False) -> dict[ItemKey, dict[str, Value]]:
        """Whole logical items, their parts merged (what statistics' reads want; detection's windows read their
        pages consistently, so that another container's add of a moment ago counts)."""
        totals: dict[ItemKey, dict[str, Value]] = {}
        parts = [Part(item) for item in keys]
        while parts:
            found = {(i["pk"], i["sk"]): i for i in self._t.batch_get([p.key for p in parts], consistent=consistent)}
            below = []
            for part in parts:
                item = found.get((part.key["pk"], part.key["sk"]))
                if item is None:
                    continue
                merged = totals.setdefault(part.item, {})
                for name, value in item.items():
                    if name not in INTERNAL:
                        _merge(merged, name, value)
                if item.get(CLOSED) and part.level < MAX_LEVEL:
                    below.extend(part.children())
            parts = below
        return totals

    def _project(self, wanted: Mapping[Part, set[str]]) -> tuple[dict[Part, dict[str, Any]], int]:
        """BatchGetItem of parts with a projection of the names wanted (and `~closed`); the requests made."""
        found: dict[Part, dict[str, Any]] = defaultdict(dict)
        requests = 0
        for parts, names in _requests(wanted):
            by_key = {(p.key["pk"], p.key["sk"]): p for p in parts}
            placeholders = {f"#p{number}": name for number, name in enumerate(sorted(names))}
            pending: dict[str, Any] = {
                self._t.name: {
                    "Keys": [serialize(p.key) for p in parts],
                    "ProjectionExpression": ",".join(["#k", "#r", "#c", *placeholders]),
                    "ExpressionAttributeNames": {"#k": "pk", "#r": "sk", "#c": CLOSED, **placeholders},
                    "ConsistentRead": True,  # another container's add of a moment ago must count
                }
            }
            for attempt in range(8):
                answer = self._t.client.batch_get_item(RequestItems=pending)
                requests += 1
                for raw in answer.get("Responses", {}).get(self._t.name, []):
                    item = deserialize(raw)
                    found[by_key[(item.pop("pk"), item.pop("sk"))]].update(item)
                pending = answer.get("UnprocessedKeys") or {}
                if not pending:
                    break
                time.sleep(min(0.05 * 2**attempt, 1.0))  # DynamoDB throttled: back off as it asks
            else:
                raise DependencyError(f"DynamoDB left counter items unread in {self._t.name}")
        return found, requests


def _hash(name: str) -> int:
    return zlib.crc32(name.encode("utf-8"))


def _merge(into: dict[str, Value], name: str, value: Any) -> None:
    """Add a part's value to a total: numbers add up, sets unite."""
    old = into.get(name)
    if isinstance(value, set):
        into[name] = value | old if isinstance(old, set) else set(value)
    else:
        into[name] = int(value) + (old if isinstance(old, int) else 0)


def _number(value: int) -> int:
    """Bytes a number takes, at most (DynamoDB: one per two digits plus one; moto: one per digit)."""
    return len(str(abs(value))) + 1


def _bound(name: str, value: Value) -> int:
    """The most bytes an ADD of `value` to `name` can add to an item."""
    if isinstance(value, set):
        return len(name.encode()) + 3 + sum(len(v.encode()) + 1 for v in value)
    return len(name.encode()) + NUMBER


def _added(name: str, value: Value, new: Any) -> int:
    """The most bytes the ADD did add, now that its new value is known (a counter equal to what was added was
    new; a set holding more than what was added existed)."""
    if isinstance(value, set):
        return _bound(name, value) - (len(name.encode()) + 3 if isinstance(new, set) and new - value else 0)
    if new is None:
        return _bound(name, value)
    new = int(new)
    if new == value:
        return len(name.encode()) + _number(new)
    return max(0, _number(new) - _number(new - value))


def _chunk(pending: list[tuple[str, Value]], most: int, capacity: int) -> list[tuple[str, Value]]:
    """The first clauses of `pending` that fit one UpdateExpression, and a new part (at least one clause)."""
    size = len("SET #t = :t ADD #s :grow")
    grows = 0
    for count, (name, value) in enumerate(pending[:most]):
        size += 2 * len(str(count)) + 8  # ", #aN :vN"
        grows += _bound(name, value)
        if count and (size > MAX_EXPRESSION or grows > capacity):
            return pending[:count]
    return pending[:most]


def _requests(wanted: Mapping[Part, set[str]]) -> Iterator[tuple[list[Part], set[str]]]:
    """BatchGetItem requests: the names wanted by the same parts (a window's keys, wanted in each of its
    buckets) read together, in pieces of at most MAX_NAMES names and MAX_GET parts; small pieces merged while
    both limits allow (a part may then return a name it did not ask for: callers keep what they asked)."""
    readers: dict[str, set[Part]] = defaultdict(set)
    for part, names in wanted.items():
        for name in names:
            readers[name].add(part)
    groups: dict[frozenset[Part], list[str]] = defaultdict(list)
    for name, parts in readers.items():
        groups[frozenset(parts)].append(name)
    pieces = []
    for group, names in groups.items():
        parts = sorted(group, key=_order)
        names.sort()
        for first in range(0, len(names), MAX_NAMES):
            for start in range(0, len(parts), MAX_GET):
                pieces.append((parts[start : start + MAX_GET], names[first : first + MAX_NAMES]))
    merged_parts: set[Part] = set()
    merged_names: set[str] = set()
    for parts, names in sorted(pieces, key=lambda piece: (len(piece[1]), len(piece[0]), piece[1][0])):
        more_parts, more_names = merged_parts | set(parts), merged_names | set(names)
        if merged_parts and (len(more_parts) > MAX_GET or len(more_names) > MAX_NAMES):
            yield sorted(merged_parts, key=_order), merged_names
            more_parts, more_names = set(parts), set(names)
        merged_parts, merged_names = more_parts, more_names
    if merged_parts:
        yield sorted(merged_parts, key=_order), merged_names


def _order(part: Part) -> tuple[ItemKey, int, int]:
    return part.item, part.level, part.index
