"""Counters in DynamoDB with TTL: rate limits, lockouts and detection windows that hold across containers.

Each increment is one atomic `UpdateItem ... ADD`, so concurrent Lambda containers never lose a count, and
every item carries a TTL so finished windows clean themselves up.

Rate limits use the sliding-window counter: a fixed-window count for the current window and the previous one,
the previous weighted by how much of it still overlaps the sliding window. Unlike a plain fixed window it
never lets a caller burst to twice the limit across a window boundary, and it costs one write per hit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from chalicelib.core.clock import epoch
from chalicelib.core.dynamo import DynamoTable
from chalicelib.core.errors import LimitState


@dataclass(frozen=True)
class Limit:
    """`max_hits` within `window_seconds`."""

    name: str
    max_hits: int
    window_seconds: int


@dataclass(frozen=True)
class LimitCheck:
    allowed: bool
    state: LimitState
    retry_after: int


class CounterStore:
    """Counter items keyed `pk` (what is counted) and `sk` (which window)."""

    def __init__(self, table: DynamoTable) -> None:
        self._table = table

    def add(self, pk: str, sk: str, *, by: int = 1, expires: int, extra: dict[str, Any] | None = None) -> int:
        """Atomically add `by` and return the new total; the item expires at epoch `expires`."""
        expression = "ADD #n :by SET #ttl = if_not_exists(#ttl, :ttl)"
        names = {"#n": "n", "#ttl": "ttl"}
        values: dict[str, Any] = {":by": by, ":ttl": expires}
        for i, (key, value) in enumerate((extra or {}).items()):
            expression += f", #e{i} = :e{i}"
            names[f"#e{i}"] = key
            values[f":e{i}"] = value
        item = self._table.update({"pk": pk, "sk": sk}, expression, names=names, values=values)
        return int(item.get("n", 0))

    def get(self, pk: str, sk: str) -> dict[str, Any] | None:
        return self._table.get({"pk": pk, "sk": sk}, consistent=True)

    def get_many(self, keys: list[tuple[str, str]]) -> dict[tuple[str, str], dict[str, Any]]:
        found = self._table.batch_get([{"pk": pk, "sk": sk} for pk, sk in keys])
        return {(item["pk"], item["sk"]): item for item in found}

    def count(self, pk: str, sk: str) -> int:
        item = self.get(pk, sk)
        return int(item.get("n", 0)) if item else 0

    def put(self, pk: str, sk: str, values: dict[str, Any], *, expires: int) -> None:
        self._table.put({"pk": pk, "sk": sk, "ttl": expires, **values})

    def delete(self, pk: str, sk: str) -> None:
        self._table.delete({"pk": pk, "sk": sk})

    def take(self, pk: str, sk: str) -> dict[str, Any] | None:
        """Delete an item and return it; of concurrent takers only one gets it (single-use codes)."""
        return self._table.delete({"pk": pk, "sk": sk})

    def hit(self, limit: Limit, subject: str, now: datetime, *, sliding: bool = True) -> LimitCheck:
        """Count one hit against `limit` for `subject` and say whether it is allowed.

        `sliding=False` uses the current fixed window alone: one request instead of two, for limits checked
        on every API call where a burst across a window boundary is acceptable.
        """
        window = limit.window_seconds
        now_s = now.timestamp()
        current = int(now_s // window)
        pk = f"RL#{limit.name}#{subject}"
        expires = (current + 2) * window + 60
        total = self.add(pk, str(current), expires=expires)
        previous = 0
        if sliding:
            previous_item = self.get(pk, str(current - 1))
            previous = int(previous_item.get("n", 0)) if previous_item else 0
        return _decide(limit, now_s, current, total, previous)

    def peek(self, limit: Limit, subject: str, now: datetime) -> LimitCheck:
        """Where `subject` stands against `limit`, without counting a hit."""
        window = limit.window_seconds
        now_s = now.timestamp()
        current = int(now_s // window)
        pk = f"RL#{limit.name}#{subject}"
        found = self.get_many([(pk, str(current)), (pk, str(current - 1))])
        total = int(found.get((pk, str(current)), {}).get("n", 0))
        previous = int(found.get((pk, str(current - 1)), {}).get("n", 0))
        return _decide(limit, now_s, current, total, previous, counting=False)


def _decide(limit: Limit, now_s: float, current: int, total: int, previous: int, counting: bool = True) -> LimitCheck:
    window = limit.window_seconds
    elapsed = now_s - current * window
    weight = 1.0 - elapsed / window
    estimate = previous * weight + total
    allowed = estimate <= limit.max_hits if counting else estimate < limit.max_hits
    remaining = max(0, math.floor(limit.max_hits - estimate))
    reset = (current + 1) * window
    retry_after = 0
    if not allowed:
        # Wait until the weighted estimate falls back under the limit (or the window rolls over).
        retry_after = _seconds_until_allowed(limit, elapsed, total, previous)
    return LimitCheck(allowed, LimitState(limit.max_hits, remaining, int(reset)), retry_after)


def _seconds_until_allowed(limit: Limit, elapsed: float, total: int, previous: int) -> int:
    window = limit.window_seconds
    if total >= limit.max_hits:
        # The current window alone is full: allowed again once it is the previous one and has decayed enough.
        needed = window - elapsed + window * (1 - (limit.max_hits - 1) / max(total, 1))
        return max(1, math.ceil(needed))
    if previous == 0:
        return max(1, math.ceil(window - elapsed))
    # previous * (1 - (elapsed + t) / window) + total < max  →  t > window * (1 - (max - total) / previous) - elapsed
    needed = window * (1 - (limit.max_hits - total) / previous) - elapsed
    return max(1, math.ceil(needed))


def expiry(now: datetime, seconds: int) -> int:
    """The TTL epoch `seconds` after `now`."""
    return epoch(now) + seconds
