"""Detection windows in DynamoDB (moto): counts across batches and containers, the request budget of a batch,
one trigger for two containers, scheduled sweeps, distinct sets, and a TTL on every item."""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest

from chalicelib.core.clock import FixedClock
from chalicelib.core.dynamo import DynamoTable
from chalicelib.detection.engine import Detector
from chalicelib.detection.scenarios import Scenario, load_defaults
from chalicelib.detection.window_store import PAGE, DynamoWindows
from chalicelib.detection.windows import Claim, InMemoryWindows
from chalicelib.events.counter_items import CAPACITY
from chalicelib.events.model import AUTH_FAILURE, INVALID_USER, LOG_AUTH, MEDIUM, Event
from tests.support.aws import count_requests

IP = "203.0.113.7"


@pytest.fixture(autouse=True)
def _deep_expressions() -> Iterator[None]:
    """moto parses an UpdateExpression recursively: 250 ADD clauses need a deeper stack than Python's default
    (DynamoDB itself only caps the expression at 4 KB)."""
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 10_000))
    yield
    sys.setrecursionlimit(limit)


@pytest.fixture
def table(aws, settings) -> DynamoTable:
    return DynamoTable(aws.client("dynamodb"), settings.counters_table)


def defaults(*names: str) -> list[Scenario]:
    return [s for s in load_defaults() if not names or s.name in names]


def failure(at: datetime, ip: str = IP, **values: Any) -> Event:
    base: dict[str, Any] = {"username": "root", "sensor": "web01", "raw": f"failure from {ip}"}
    base.update(values)
    kind = base.pop("kind", AUTH_FAILURE)
    return Event(at, ip, kind, "sshd", LOG_AUTH, MEDIUM, **base)


def detector(table: DynamoTable, clock: FixedClock, scenarios: list[Scenario], writer: int = 0) -> Detector:
    return Detector(scenarios, DynamoWindows(table, clock, writer=writer), clock)


def test_counts_add_up_across_batches_and_trigger_at_the_threshold(table, clock) -> None:
    ssh = detector(table, clock, defaults("ssh-bruteforce"))
    now = clock.now()
    assert ssh.observe([failure(now), failure(now + timedelta(seconds=1))]) == []
    assert ssh.observe([failure(now + timedelta(seconds=70)), failure(now + timedelta(seconds=80))]) == []
    (trigger,) = ssh.observe([failure(now + timedelta(seconds=130))])
    assert (trigger.scenario, trigger.count, trigger.at) == ("ssh-bruteforce", 5, now + timedelta(seconds=130))
    assert trigger.first_seen == now and trigger.reason == f"5 failed logins in 10m from {IP} (sshd)"
    assert ssh.observe([failure(now + timedelta(seconds=140))]) == []  # held: its ban outlasts the window


def test_a_batch_spanning_buckets_is_evaluated_at_each(table, clock) -> None:
    ssh = detector(table, clock, defaults("ssh-bruteforce"))
    now = clock.now()
    burst = [failure(now + timedelta(seconds=s)) for s in range(5)]
    (trigger,) = ssh.observe([*burst, failure(now + timedelta(minutes=30))])
    assert trigger.at == now + timedelta(seconds=4)  # the burst's bucket, not the late event's window


def test_a_batch_spanning_minutes_writes_a_page_of_buckets_at_once(table, clock, aws) -> None:
    """An agent catching up sends minutes of log in one batch: ten one-minute buckets of the 10-minute window are
    two pages (`PAGE` buckets each), two updates, not ten; the counts still add up across the pages."""
    ssh = detector(table, clock, defaults("ssh-bruteforce"))
    start = clock.now()  # 10:00:00, the start of a page
    spread = [failure(start + timedelta(seconds=59 * n), ip=f"198.51.100.{n + 1}") for n in range(10)]
    with count_requests(aws.client("dynamodb")) as counts:
        assert ssh.observe(spread) == []
    assert counts["dynamodb.UpdateItem"] == 10 // PAGE, counts
    slow = [failure(start + timedelta(seconds=110 * n + 1)) for n in range(5)]  # nine minutes: five buckets
    (trigger,) = ssh.observe(slow)
    assert (trigger.count, trigger.at) == (5, slow[-1].time)
    other = "192.0.2.99"  # three failures in the first page, then two in the next page, a batch later
    assert ssh.observe([failure(start + timedelta(seconds=s), ip=other) for s in (240, 250, 260)]) == []
    (trigger,) = ssh.observe([failure(start + timedelta(seconds=s), ip=other) for s in (310, 320)])
    assert trigger.count == 5 and trigger.first_seen == start + timedelta(seconds=240)


def test_the_bucketed_window_may_count_one_bucket_more_than_the_exact_one(table, clock) -> None:
    """The documented bound: events up to one bucket (a minute for 10 minutes) older than the window count."""
    now = clock.now()  # 10:00:00, a bucket boundary
    events = [failure(now + timedelta(seconds=s)) for s in (10, 20, 30, 40)]
    late = failure(now + timedelta(seconds=625))  # (25, 625]: the exact window holds 30, 40 and 625 only
    exact = Detector(defaults("ssh-bruteforce"), InMemoryWindows(), clock)
    assert exact.observe(events) == [] and exact.observe([late]) == []
    bucketed = detector(table, clock, defaults("ssh-bruteforce"))
    assert bucketed.observe(events) == []
    (trigger,) = bucketed.observe([late])
    assert trigger.count == 5 and trigger.first_seen == now


def test_two_containers_sharing_the_table_trigger_once(table, clock) -> None:
    first = detector(table, clock, defaults("ssh-bruteforce"), writer=0)
    second = detector(table, clock, defaults("ssh-bruteforce"), writer=1)
    now = clock.now()
    assert first.observe([failure(now + timedelta(seconds=s)) for s in range(3)]) == []
    (trigger,) = second.observe([failure(now + timedelta(seconds=s)) for s in (3, 4)])  # 5 in the shared window
    assert trigger.count == 5
    assert first.observe([failure(now + timedelta(seconds=5))]) == []  # 6: the claim of the other holds
    assert first.observe([failure(now + timedelta(seconds=6))]) == []  # and is remembered: no request again


def test_two_containers_reaching_the_threshold_together_trigger_once(table, clock) -> None:
    now = clock.now()
    containers = [detector(table, clock, defaults("ssh-bruteforce"), writer=n) for n in range(2)]
    triggers = [c.observe([failure(now + timedelta(seconds=s)) for s in range(5)]) for c in containers]
    assert [len(found) for found in triggers] == [1, 0]


def test_a_batch_of_triggers_claims_in_one_request(table, clock, aws) -> None:
    ssh = detector(table, clock, defaults("ssh-bruteforce"))
    now = clock.now()
    batch = [failure(now + timedelta(seconds=s), ip=f"198.51.100.{n}") for n in range(1, 31) for s in range(5)]
    with count_requests(aws.client("dynamodb")) as counts:
        triggers = ssh.observe(batch)
    assert sorted(t.source_ip for t in triggers) == sorted(f"198.51.100.{n}" for n in range(1, 31))
    # 30 claims: two transactions (25 operations each at most), no PutItem per trigger.
    assert counts["dynamodb.TransactWriteItems"] == 2 and counts["dynamodb.PutItem"] == 0


def test_claims_refused_by_another_container_are_dropped_and_the_rest_granted(table, clock, aws) -> None:
    now = clock.now()
    until = now + timedelta(minutes=10)
    first, second = (DynamoWindows(table, clock, writer=n) for n in range(2))
    assert first.claim_all([Claim("ssh", "192.0.2.2", now, until), Claim("ssh", "192.0.2.4", now, until)]) == [
        True,
        True,
    ]
    wanted = [Claim("ssh", f"192.0.2.{n}", now, until) for n in range(1, 6)]
    with count_requests(aws.client("dynamodb")) as counts:
        granted = second.claim_all(wanted)
    assert granted == [True, False, True, False, True]
    assert counts["dynamodb.TransactWriteItems"] == 2  # cancelled by the two held keys, then resent without them
    with count_requests(aws.client("dynamodb")) as again:
        assert second.claim_all(wanted) == [False] * 5  # held: remembered, not asked again
    assert sum(again.values()) == 0
    later = now + timedelta(minutes=11)
    assert first.claim_all([Claim("ssh", "192.0.2.2", later, later + timedelta(minutes=10))]) == [True]


def test_a_key_claimed_twice_in_one_batch_is_granted_again_once_its_hold_is_over(table, clock) -> None:
    now = clock.now()
    windows = DynamoWindows(table, clock)
    claims = [
        Claim("ssh", "192.0.2.9", now, now + timedelta(minutes=1)),
        Claim("ssh", "192.0.2.9", now + timedelta(seconds=30), now + timedelta(minutes=2)),  # still held
        Claim("ssh", "192.0.2.9", now + timedelta(minutes=1), now + timedelta(minutes=3)),  # the hold is over
    ]
    assert windows.claim_all(claims) == [True, False, True]
    assert InMemoryWindows().claim_all(claims) == [True, False, True]  # the exact windows agree


def test_distinct_user_names_add_up_as_sets(table, clock) -> None:
    enum = detector(table, clock, defaults("user-enumeration"))
    now = clock.now()
    names = ["root", "admin", "test", "oracle", "pi", "git", "guest", "ubuntu"]
    batch = [failure(now + timedelta(seconds=n), username=name, kind=INVALID_USER) for n, name in enumerate(names)]
    assert enum.observe(batch) == []
    assert enum.observe([failure(now + timedelta(seconds=20), username="root")]) == []  # a repeat adds nothing
    (trigger,) = enum.observe([failure(now + timedelta(seconds=30 + n), username=u) for n, u in enumerate("xy")])
    assert (trigger.action, trigger.distinct) == ("pending", 10)


def test_scheduled_scenarios_are_decided_by_the_sweep(table, clock) -> None:
    slow = detector(table, clock, defaults("auth-low-and-slow"))
    now = clock.now()
    assert slow.observe([failure(now - timedelta(hours=5) + timedelta(minutes=15 * n)) for n in range(19)]) == []
    assert slow.sweep(now) == []  # nineteen
    assert slow.observe([failure(now)]) == []  # counted, not evaluated at ingest
    (trigger,) = slow.sweep(now + timedelta(seconds=30))
    assert (trigger.scenario, trigger.count, trigger.at) == ("auth-low-and-slow", 20, now + timedelta(seconds=30))
    other = detector(table, clock, defaults("auth-low-and-slow"), writer=3)
    assert other.sweep(now + timedelta(seconds=60)) == []  # another container's sweep: the claim holds
    assert slow.sweep(now + timedelta(minutes=10)) == []  # the touched keys are older than the look-back


def test_cross_sensor_correlation_by_the_sweep(table, clock) -> None:
    correlation = detector(table, clock, defaults("distributed-bruteforce"))
    now = clock.now()
    correlation.observe([failure(now, sensor="web01"), failure(now, sensor="web02")])
    assert correlation.sweep(now) == []
    other = detector(table, clock, defaults("distributed-bruteforce"), writer=2)  # another container's batch
    other.observe([failure(now + timedelta(seconds=5), sensor="db01")])
    (trigger,) = correlation.sweep(now + timedelta(seconds=10))
    assert trigger.distinct == 3


def test_the_request_budget_of_a_batch(table, clock, aws) -> None:
    """1,000 failures from 500 addresses through every shipped scenario: about 15 requests, within the ~30 the
    detection share of the ingest budget allows (100 per 1,000 events, half of it for events and stats)."""
    ingest = detector(table, clock, defaults())
    now = clock.now()
    addresses = [f"198.51.{n // 250}.{n % 250 + 1}" for n in range(500)]

    def batch(start: datetime) -> list[Event]:
        return [
            failure(start + timedelta(milliseconds=50 * n), ip=addresses[n % 500], username=f"user{n % 7}")
            for n in range(1000)
        ]

    with count_requests(aws.client("dynamodb")) as cold:
        triggers = ingest.observe(batch(now))
    with count_requests(aws.client("dynamodb")) as warm:
        ingest.observe(batch(now + timedelta(seconds=50)))
    print("cold batch:", dict(cold), "warm batch:", dict(warm))
    assert triggers == []  # two failures per address: nothing reached yet
    for counts in (cold, warm):
        assert sum(counts.values()) <= 30, counts
        assert counts["dynamodb.PutItem"] == 0
    # One item per page of buckets while it fits: 500 keys in chunks of 250 clauses for the 60 s and 8640 s
    # families, three scenarios' worth in the 360 s family, and the touched keys.
    assert cold["dynamodb.UpdateItem"] == 2 + 6 + 2 + 1
    assert cold["dynamodb.BatchGetItem"] == 1  # the windows' other pages, read whole: up to 100 in a request


def test_a_flood_from_one_address_is_one_update_per_family(table, clock, aws) -> None:
    ingest = detector(table, clock, defaults())
    now = clock.now()
    with count_requests(aws.client("dynamodb")) as counts:
        (trigger, *others) = ingest.observe([failure(now + timedelta(milliseconds=10 * n)) for n in range(1000)])
    assert trigger.scenario == "ssh-bruteforce" and trigger.count == 1000  # the whole batch, in one add
    assert {t.scenario for t in others} == {"login-failures-threshold"}
    assert counts["dynamodb.UpdateItem"] == 4  # 60 s, 360 s and 8640 s families, and the touched keys
    assert counts["dynamodb.TransactWriteItems"] == 1 and counts["dynamodb.PutItem"] == 0  # both claims at once


def test_every_item_expires(table, clock) -> None:
    ingest = detector(table, clock, defaults())
    now = clock.now()
    (trigger, *_) = ingest.observe([failure(now + timedelta(seconds=n), username=f"u{n}") for n in range(12)])
    ingest.sweep(now + timedelta(seconds=30))
    items = list(table.scan_all())
    kinds = Counter(item["pk"].split("#")[0] for item in items)
    assert kinds["DW"] >= 3 and kinds["DT"] == 1 and kinds["DC"] >= 1
    assert all(int(item["ttl"]) > now.timestamp() for item in items)
    claim = next(item for item in items if item["pk"] == f"DC#ssh-bruteforce#{IP}")
    assert int(claim["until"]) == int((trigger.at + timedelta(hours=1)).timestamp())


def test_a_full_bucket_spills_and_still_counts(table, clock, aws) -> None:
    """A bucket whose item nears 400 KB (its size bound at capacity): the batch's counts go to the parts below,
    the window adds them to what the full item holds, and the threshold is reached as before."""
    ssh = detector(table, clock, defaults("ssh-bruteforce"))
    now = clock.now()
    assert ssh.observe([failure(now + timedelta(seconds=s)) for s in range(3)]) == []
    bucket = {"pk": f"DW#60#{int(now.timestamp()) // 60 // PAGE}", "sk": "P"}
    aws.client("dynamodb").update_item(
        TableName=table.name,
        Key={name: {"S": value} for name, value in bucket.items()},
        UpdateExpression="SET #s = :full",
        ExpressionAttributeNames={"#s": "~size"},
        ExpressionAttributeValues={":full": {"N": str(CAPACITY)}},
    )
    (trigger,) = ssh.observe([failure(now + timedelta(seconds=s)) for s in (3, 4)])
    assert trigger.count == 5
    parts = sorted(item["sk"] for item in table.scan_all() if item["pk"] == bucket["pk"])
    assert parts[0] == "P" and len(parts) == 2 and parts[1].startswith("P~1.")
