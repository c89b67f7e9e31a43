"""Event storage, statistics counters and sensors on moto: what ingest writes and how it reads back."""

from __future__ import annotations

from datetime import timedelta

import pytest

from chalicelib.core.errors import ConflictError, NotFoundError, ValidationFailedError
from chalicelib.events.counter_items import CAPACITY
from chalicelib.events.sensors import Sensors
from chalicelib.events.stats import StatsStore
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
    assert requests == sum(counts.values()) == 4  # the hour's, the day's, its addresses' and the sensor's item
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


def test_a_full_statistics_item_spills_and_keeps_every_count(stats, container, clock, aws) -> None:
    """A day with more attacking addresses than one item holds (DynamoDB items stop at 400 KB): the full item
    is closed, the batch's counts go to the parts below it, and the day's counts read back whole."""
    ip, other = "203.0.113.5", "198.51.100.7"
    stats.record([record(clock, ip=ip)], None)
    day = clock.now().strftime("%Y-%m-%d")
    _fill(aws, container, {"pk": f"ST#D#{day}", "sk": "who"})

    day_counts, requests = stats.record([record(clock, ip=ip), record(clock, ip=other), record(clock, ip=other)], None)

    assert day_counts == {ip: 2, other: 2}  # the full item's count of the address, plus the batch's
    assert requests == 2 + 1 + 1 + 2 + 1  # totals; refused and closed; the parts below; the full item read
    assert stats.attackers(clock.now(), clock.now()) == {ip: 2, other: 2}
    assert stats.attackers(clock.now(), clock.now(), failed_logins=True) == {ip: 2, other: 2}
    assert stats.usernames(clock.now(), clock.now()) == {"root": 4}
    hour = next(iter(stats.totals(clock.now(), clock.now(), hourly=True).values()))
    assert hour.counts["failed_logins"] == 4
    stats.record([record(clock, ip=ip)], None)
    assert stats.attackers(clock.now(), clock.now())[ip] == 3


def test_an_item_past_its_bound_drops_its_counts_and_keeps_the_rest(stats, container, clock, aws) -> None:
    """An item that is full without the size bound saying so (one written before the bound was kept): DynamoDB
    refuses the update and the close, that item's counts are dropped with a warning, and nothing raises."""
    day = clock.now().strftime("%Y-%m-%d")
    key = {"pk": f"ST#D#{day}", "sk": "who"}
    aws.client("dynamodb").put_item(TableName=container.settings.counters_table, Item=_counters_at_the_limit(key))

    day_counts, _ = stats.record([record(clock), record(clock)], "vm-001")

    assert day_counts == {}
    hour = next(iter(stats.totals(clock.now(), clock.now(), hourly=True).values()))
    assert hour.counts["failed_logins"] == 2
    assert stats.sensor("vm-001", clock.now(), clock.now())[0] == {"203.0.113.5": 2}


def _fill(aws, container, key: dict[str, str]) -> None:
    """Set an item's size bound to its capacity: the next update that adds anything is refused."""
    aws.client("dynamodb").update_item(
        TableName=container.settings.counters_table,
        Key={name: {"S": value} for name, value in key.items()},
        UpdateExpression="SET #s = :full",
        ExpressionAttributeNames={"#s": "~size"},
        ExpressionAttributeValues={":full": {"N": str(CAPACITY)}},
    )


def _counters_at_the_limit(key: dict[str, str], limit: int = 405_000) -> dict[str, dict[str, str]]:
    """A counters item two bytes under the emulator's item size limit (moto counts attribute names plus values
    and refuses past 405,000 bytes, as DynamoDB does past 400 KB): numeric attributes, as real counters are."""
    item = {name: {"S": value} for name, value in key.items()}
    room = limit - 2 - sum(len(name) + len(value) for name, value in key.items())
    number = 0
    while room > 0:
        name = f"pad{number:05d}" + "x" * min(990, max(0, room - 9))
        item[name] = {"N": "1"}
        room -= len(name) + 1
        number += 1
    return item
