"""Event storage, statistics counters and sensors on moto: what ingest writes and how it reads back."""

from __future__ import annotations

from datetime import timedelta

import pytest

from chalicelib.core.errors import ConflictError, NotFoundError, ValidationFailedError
from chalicelib.events.sensors import Sensors
from chalicelib.events.stats import IP_SHARDS, StatsStore, _shard
from chalicelib.events.store import EventStore
from tests.support.aws import count_requests


def record(clock, ip="203.0.113.5", kind="auth_failure", user="root", sensor="vm-001", minutes=0, **extra) -> dict:
    return {
        "time": clock.now() + timedelta(minutes=minutes),
        "source_ip": ip,
        "kind": kind,
        "service": "sshd",
        "log_type": "AUTH",
        "severity": "medium",
        "username": user,
        "sensor": sensor,
        "raw": "line",
        **extra,
    }


@pytest.fixture
def events(container) -> EventStore:
    return container.events


@pytest.fixture
def stats(container) -> StatsStore:
    return container.stats


def test_events_by_ip_by_time_and_by_id(events, clock) -> None:
    stored, requests = events.put_batch(
        [record(clock, minutes=-i) for i in range(30)] + [record(clock, ip="198.51.100.9")], clock.now()
    )
    assert requests == 2, "31 items: two BatchWriteItem calls of at most 25"
    assert len(events.by_ip("203.0.113.5", clock.now() - timedelta(hours=1), clock.now() + timedelta(hours=1))) == 30
    found = events.get(stored[-1].id)
    assert found["source_ip"] == "198.51.100.9" and found["id"] == stored[-1].id
    in_range = list(events.in_range(clock.now() - timedelta(minutes=9), clock.now() - timedelta(minutes=5)))
    assert len(in_range) == 5
    assert events.get("nonsense") is None


def test_storing_a_batch_again_overwrites_instead_of_duplicating(events, clock) -> None:
    batch = [record(clock, seq=f"{i:012x}") for i in range(3)]
    events.put_batch(batch, clock.now())
    events.put_batch(batch, clock.now())
    assert len(events.by_ip("203.0.113.5", clock.now() - timedelta(hours=1), clock.now() + timedelta(hours=1))) == 3


def test_the_live_feed_reads_arrivals_after_an_id(events, clock) -> None:
    first, _ = events.put_batch([record(clock)], clock.now())
    clock.advance(5)
    events.put_batch([record(clock, ip="198.51.100.20")], clock.now())
    after = list(events.arrived(clock.now() - timedelta(minutes=1), clock.now(), after=first[0].arrival))
    assert [e["source_ip"] for e in after] == ["198.51.100.20"]


def test_statistics_counters(stats, clock, aws) -> None:
    batch = [record(clock, ip=f"203.0.113.{i % 7}", user=f"user{i % 3}") for i in range(100)]
    batch += [record(clock, kind="auth_success", ip="198.51.100.1"), record(clock, kind="waf_block", user=None)]
    with count_requests(aws.client("dynamodb")) as counts:
        day_counts, requests = stats.record(batch, "vm-001")
    assert requests == sum(counts.values()) <= 2 + 8 + 4 + 1
    assert day_counts["203.0.113.0"] == 15
    totals = stats.totals(clock.now(), clock.now(), hourly=True)
    hour = next(iter(totals.values()))
    assert hour.counts["n"] == 102 and hour.counts["failed_logins"] == 100 and hour.counts["attacks"] == 101
    assert hour.by("k:") == {"auth_failure": 100, "auth_success": 1, "waf_block": 1}
    assert stats.attackers(clock.now(), clock.now())["203.0.113.0"] == 16 - 1
    assert stats.usernames(clock.now(), clock.now()) == {"user0": 34, "user1": 33, "user2": 33}
    ips, users = stats.sensor("vm-001", clock.now(), clock.now())
    assert len(ips) == 7 and users["user0"] == 34
    stats.record(batch[:10], "vm-001")
    assert stats.attackers(clock.now(), clock.now())["203.0.113.0"] == 17


def test_pam_duplicates_are_not_counted_as_failed_logins(stats, clock) -> None:
    stats.record([record(clock), record(clock, fields={"source": "pam"})], None)
    hour = next(iter(stats.totals(clock.now(), clock.now(), hourly=True).values()))
    assert hour.counts["failed_logins"] == 1


def test_sensors(container, clock) -> None:
    sensors: Sensors = container.sensors
    sensors.register("vm-001", "WIN-VM01", "192.168.1.10", "agent")
    with pytest.raises(ConflictError):
        sensors.register("vm-001", "x", None)
    with pytest.raises(ValidationFailedError):
        sensors.register("bad id!", "x", None)
    assert sensors.get("vm-001")["status"] == "inactive"
    sensors.seen("vm-001", 5, "WIN-VM01")
    assert sensors.get("vm-001")["status"] == "active" and sensors.get("vm-001")["events_received"] == 5
    assert sensors.active_count() == 1
    clock.advance(minutes=16)
    assert sensors.active_count() == 0
    sensors.delete("vm-001")
    with pytest.raises(NotFoundError):
        sensors.delete("vm-001")


def test_a_full_statistics_item_drops_its_counts_and_keeps_the_rest(stats, container, clock, aws) -> None:
    """A day with more attacking addresses than the shards hold (DynamoDB items stop at 400 KB): the update of
    the full item is refused, the batch's other counters still count, and nothing raises into ingest."""
    full_ip = "203.0.113.5"
    other_ip = next(
        ip for ip in (f"198.51.100.{i}" for i in range(1, 255)) if _shard(ip, IP_SHARDS) != _shard(full_ip, IP_SHARDS)
    )
    day = clock.now().strftime("%Y-%m-%d")
    key = {"pk": f"ST#D#{day}", "sk": f"ip#{_shard(full_ip, IP_SHARDS)}"}
    aws.client("dynamodb").put_item(TableName=container.settings.counters_table, Item=_counters_at_the_limit(key))

    day_counts, _ = stats.record(
        [record(clock, ip=full_ip), record(clock, ip=other_ip), record(clock, ip=other_ip)], None
    )

    assert full_ip not in day_counts and day_counts[other_ip] == 2
    hour = next(iter(stats.totals(clock.now(), clock.now(), hourly=True).values()))
    assert hour.counts["failed_logins"] == 3
    attackers = stats.attackers(clock.now(), clock.now())
    assert attackers[other_ip] == 2 and full_ip not in attackers


def _counters_at_the_limit(key: dict[str, str], limit: int = 405_000) -> dict[str, dict[str, str]]:
    """A counters item a few bytes under the emulator's item size limit (moto counts attribute names plus values
    and refuses past 405,000 bytes, as DynamoDB does past 400 KB): numeric attributes, as real counters are."""
    item = {name: {"S": value} for name, value in key.items()}
    room = limit - 10 - sum(len(name) + len(value) for name, value in key.items())
    number = 0
    while room > 0:
        name = f"pad{number:05d}" + "x" * min(990, max(0, room - 9))
        item[name] = {"N": "1"}
        room -= len(name) + 1
        number += 1
    return item
