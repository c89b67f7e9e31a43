"""Counter items on moto: one item while it fits, spilled by hash when full, totals exact across parts and
across containers, and the size bound above what DynamoDB counts."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from chalicelib.core.dynamo import DynamoTable
from chalicelib.events.counter_items import CLOSED, SIZE, CounterItems
from tests.support.aws import count_requests

ITEM = ("ST#D#2026-03-02", "who")
TTL = 2_000_000_000


@pytest.fixture
def table(aws, settings) -> DynamoTable:
    return DynamoTable(aws.client("dynamodb"), settings.counters_table)


def test_an_item_that_fits_costs_one_update_per_batch(table, aws) -> None:
    counters = CounterItems(table)
    with count_requests(aws.client("dynamodb")) as counts:
        totals, requests = counters.add({ITEM: {f"10.0.0.{n}": 1 for n in range(80)}}, {ITEM: TTL})
        again, _ = counters.add({ITEM: {"10.0.0.1": 2, "u:root": {"a", "b"}}}, {ITEM: TTL})
    assert requests == 1 and sum(counts.values()) == 2
    assert totals[ITEM]["10.0.0.7"] == 1 and again[ITEM] == {"10.0.0.1": 3, "u:root": {"a", "b"}}
    read = counters.items([ITEM], consistent=True)[ITEM]
    assert (read["10.0.0.1"], read["10.0.0.2"], "nothing" in read) == (3, 1, False)
    (stored,) = table.scan_all()
    assert stored["sk"] == "who" and int(stored["ttl"]) == TTL


@pytest.mark.parametrize("seed", [1, 2])
def test_spilled_items_keep_exact_totals_across_containers(table, seed) -> None:
    """Small capacities make the items spill several levels deep; two containers (each its own view of what is
    closed and its own corrections) add at random, and every answer and every read is the exact total."""
    rng = random.Random(seed)
    containers = [CounterItems(table, capacity=1500), CounterItems(table, capacity=1500)]
    expected: Counter[str] = Counter()
    names = [f"198.51.100.{n}" for n in range(120)]
    for _ in range(40):
        batch = {name: rng.randint(1, 30) for name in rng.sample(names, rng.randint(1, 40))}
        expected.update(batch)
        totals, _ = rng.choice(containers).add({ITEM: batch}, {ITEM: TTL})
        assert totals[ITEM] == {name: expected[name] for name in batch}
    assert containers[0].items([ITEM]) == {ITEM: dict(expected)}
    assert containers[1].items([ITEM], consistent=True) == {ITEM: dict(expected)}
    parts = list(table.scan_all())
    assert len(parts) >= 1 + 2 + 4 and all(int(p["ttl"]) == TTL for p in parts)
    assert all(int(p[SIZE]) <= 1500 and _size(p) <= int(p[SIZE]) + 30 for p in parts)  # keys, ttl and flags aside


def test_a_full_item_spills_to_parts_a_batch_touches_in_proportion(table, aws) -> None:
    counters = CounterItems(table, capacity=3000)
    batch = {f"203.0.113.{n}": 1 for n in range(200)}
    with count_requests(aws.client("dynamodb")) as counts:
        totals, _ = counters.add({ITEM: batch}, {ITEM: TTL})
    closed = [p for p in table.scan_all() if p.get(CLOSED)]
    assert totals[ITEM] == batch and closed and closed[0]["sk"] == "who"
    assert counts["dynamodb.UpdateItem"] <= 2 + 2 * len(closed) + 8  # chunks, refusals and closes, open parts


def _size(item: dict) -> int:
    """What moto counts for an item: names plus values, a number by its digits."""
    size = 0
    for name, value in item.items():
        if isinstance(value, set):
            size += len(name) + sum(len(v) for v in value)
        else:
            size += len(name) + len(str(value))
    return size
