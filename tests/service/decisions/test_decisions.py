"""The decisions core with moto: change stream, expiry sweep, recidivism, concurrency, batches, freshness."""

from __future__ import annotations

import pytest

from chalicelib.core.deps import Container
from chalicelib.core.errors import ConflictError, InvalidInputError, WhitelistedError
from chalicelib.decisions import addresses
from chalicelib.decisions.model import Decision, sensor_scope
from chalicelib.decisions.service import BanRequest
from chalicelib.decisions.stream import SCHEMA
from tests.support.aws import count_requests
from tests.support.queue import changes, drain


@pytest.fixture
def decisions(container: Container):
    return container.decisions


def test_every_kind_of_change_reaches_the_queue(container, decisions, settings, clock, aws) -> None:
    decisions.ban(BanRequest("203.0.113.7", reason="r", seconds=3600, tags=("a",)), actor="user:1")
    decisions.extend("203.0.113.7", 600, actor="user:1")
    decisions.make_permanent("203.0.113.7", actor="user:1")
    decisions.issue([BanRequest("203.0.113.7", tags=("b",), on_existing="merge")], actor="user:1")
    decisions.remove_tags("203.0.113.7", ["a"], actor="user:1")
    decisions.lift("203.0.113.7", actor="user:1", reason="false positive")
    decisions.ban(BanRequest("203.0.113.8", seconds=60), actor="user:1")
    clock.advance(61)
    decisions.sweep_expired()
    container.whitelist.add(addresses.parse_network("198.51.100.0/24"), type_="hard", reason="p", actor="user:1")
    bodies = drain(aws, settings.decisions_queue)
    assert all(b["schema"] == SCHEMA and b["parts"] == 1 for b in bodies)
    seen = [(c["op"], c["action"], c["decision"]["value"]) for b in bodies for c in b["changes"]]
    assert seen == [
        ("add", "issued", "203.0.113.7/32"),
        ("add", "extended", "203.0.113.7/32"),
        ("add", "made_permanent", "203.0.113.7/32"),
        ("add", "updated", "203.0.113.7/32"),
        ("add", "tags_removed", "203.0.113.7/32"),
        ("delete", "unbanned", "203.0.113.7/32"),
        ("add", "issued", "203.0.113.8/32"),
        ("delete", "expired", "203.0.113.8/32"),
        ("add", "whitelisted", "198.51.100.0/24"),
    ]
    last_ban = bodies[4]["changes"][0]["decision"]
    assert last_ban["tags"] == ["b"] and last_ban["until"] is None


def test_reads_treat_a_passed_expiry_as_inactive_before_the_sweep(container, decisions, clock) -> None:
    decisions.ban(BanRequest("203.0.113.9", seconds=120), actor="t")
    assert decisions.is_banned("203.0.113.9")
    clock.advance(120)
    assert not decisions.is_banned("203.0.113.9")
    assert container.decision_queries.check("203.0.113.9")["banned"] is False
    assert [d.value for d in container.decision_queries.in_force()] == []


def test_the_sweep_ends_expired_decisions_once_with_history(container, decisions, clock, aws, settings) -> None:
    decisions.ban(BanRequest("203.0.113.10", seconds=300), actor="t")
    decisions.ban(BanRequest("203.0.113.11", seconds=7200), actor="t")
    decisions.ban(BanRequest("203.0.113.12", seconds=None), actor="t")
    drain(aws, settings.decisions_queue)
    clock.advance(minutes=6)
    ended = decisions.sweep_expired()
    assert [d.value for d in ended] == ["203.0.113.10/32"]
    assert decisions.sweep_expired() == [], "a second sweep finds nothing more"
    assert [c["action"] for c in changes(aws, settings.decisions_queue)] == ["expired"]
    history = container.decision_queries.history("203.0.113.10")
    assert [h["action"] for h in history] == ["issued", "expired"]
    clock.advance(hours=2)
    assert [d.value for d in decisions.sweep_expired()] == ["203.0.113.11/32"]


def test_repeat_offenders_get_longer_bans(container, decisions, clock) -> None:
    base = container.settings.default_ban_seconds
    lengths = []
    for _ in range(4):
        decision = decisions.ban(BanRequest("192.0.2.77"), actor="t")
        lengths.append((decision.until - clock.now()).total_seconds())
        assert decision.bans == len(lengths)
        decisions.lift("192.0.2.77", actor="t", reason="test")
    assert lengths == [base, base * 2, base * 4, base * 8]
    explicit = decisions.ban(BanRequest("192.0.2.77", seconds=60), actor="t")
    assert (explicit.until - clock.now()).total_seconds() == 60, "a given duration is used as is"


def test_recidivism_is_capped(container, decisions) -> None:
    cap = container.settings.recidivism_max_seconds
    for _ in range(12):
        decision = decisions.ban(BanRequest("192.0.2.78"), actor="t")
        decisions.lift("192.0.2.78", actor="t", reason="x")
    assert (decision.until - decision.created_at).total_seconds() == cap


def test_concurrent_writers_never_lose_an_update(container, settings, aws, clock) -> None:
    """Two containers read the same decision; the second write must not overwrite the first."""
    first = container.decisions
    other = Container(settings, clock=clock, aws=aws).decisions
    first.ban(BanRequest("203.0.113.20", seconds=3600), actor="a")
    stale = other.find("203.0.113.20")
    first.extend("203.0.113.20", 600, actor="a")
    with pytest.raises(ConflictError):
        other.update(stale, actor="b", action="made_permanent", until=None)
    fresh = other.find("203.0.113.20")
    assert fresh.until is not None and (fresh.until - clock.now()).total_seconds() == 4200


def test_two_writers_creating_one_record_cannot_both_succeed(container, clock) -> None:
    """Both read "nothing there" and write: the conditional put lets exactly one through."""
    store = container.decisions.store
    first = Decision(id="a", value="203.0.113.21/32", created_at=clock.now(), reason="first")
    second = Decision(id="b", value="203.0.113.21/32", created_at=clock.now(), reason="second")
    store.save(first, None)
    with pytest.raises(ConflictError):
        store.save(second, None)
    assert store.get("203.0.113.21/32", "ban#global").reason == "first"


def test_a_batch_that_loses_a_race_reports_that_item_and_keeps_the_rest(container, settings, aws, clock) -> None:
    other = Container(settings, clock=clock, aws=aws).decisions
    requests = [BanRequest(f"192.0.2.{i}", seconds=60) for i in range(30, 40)]
    # Another container creates one of them between this batch's read and its write: simulated by writing it
    # now and asking this batch to create it as new (its read of "nothing there" is stale).
    original_get_many = container.decisions.store.get_many
    container.decisions.store.get_many = lambda keys: {}  # type: ignore[method-assign]
    other.ban(BanRequest("192.0.2.35", seconds=60), actor="b")
    try:
        result = container.decisions.issue(requests, actor="a")
    finally:
        container.decisions.store.get_many = original_get_many  # type: ignore[method-assign]
    failed = [r.value for _, r in result.errors]
    assert failed == ["192.0.2.35/32"]
    assert len(result.decisions) == 9


def test_a_batch_reports_each_item(container, decisions) -> None:
    container.whitelist.add(addresses.parse_network("198.51.100.10"), type_="hard", reason="p", actor="t")
    result = decisions.issue(
        [
            BanRequest("192.0.2.1", seconds=60),
            BanRequest("not-an-ip"),
            BanRequest("198.51.100.10"),
            BanRequest("10.0.0.0/7"),
            BanRequest("192.0.2.16-192.0.2.23", seconds=60),
        ],
        actor="t",
    )
    statuses = [[(r.value, r.status) for r in request] for request in result.items]
    assert statuses[0] == [("192.0.2.1/32", "issued")]
    assert statuses[4] == [("192.0.2.16/29", "issued")]
    errors = {i: type(r.error) for i, r in result.errors}
    assert errors == {1: InvalidInputError, 2: WhitelistedError, 3: InvalidInputError}
    assert result.items[3][0].error.code == "RANGE_TOO_BROAD"
    assert decisions.issue([BanRequest("10.0.0.0/7", seconds=60, force=True)], actor="t").items[0][0].status == "issued"


def test_hard_whitelist_refuses_bans_that_touch_it_in_either_direction(container, decisions) -> None:
    container.whitelist.add(addresses.parse_network("198.51.100.64/26"), type_="hard", reason="p", actor="t")
    for target in ("198.51.100.70", "198.51.100.0/24", "198.51.100.64/26"):
        with pytest.raises(WhitelistedError):
            decisions.ban(BanRequest(target, seconds=60), actor="t")
    decisions.ban(BanRequest("198.51.100.1", seconds=60), actor="t")  # outside the entry
    container.whitelist.add(addresses.parse_network("203.0.113.5"), type_="soft", reason="s", actor="t")
    decisions.ban(BanRequest("203.0.113.5", seconds=60), actor="t")  # soft entries only score


def test_a_hard_whitelist_lifts_bans_inside_it_and_reports_wider_ones(container, decisions) -> None:
    decisions.ban(BanRequest("198.51.100.7", seconds=600), actor="t")
    decisions.ban(BanRequest("198.51.100.0/23", seconds=600, force=True), actor="t")
    _, lifted, kept = container.whitelist.add(
        addresses.parse_network("198.51.100.0/24"), type_="hard", reason="partner", actor="t"
    )
    assert [d.value for d in lifted] == ["198.51.100.7/32"]
    assert [d.value for d in kept] == ["198.51.100.0/23"]
    assert not decisions.live.is_banned("198.51.100.7"), "the whitelist wins at the edge"


def test_per_sensor_bans_do_not_ban_globally(container, decisions) -> None:
    decisions.ban(BanRequest("192.0.2.50", seconds=60, scope=sensor_scope("vm-001")), actor="t")
    assert not decisions.is_banned("192.0.2.50")
    assert container.decision_queries.check("192.0.2.50")["bans"][0]["kind"] == "ban:sensor"
    decisions.ban(BanRequest("192.0.2.50", seconds=60), actor="t")
    assert decisions.is_banned("192.0.2.50")


def test_other_containers_see_changes_within_the_staleness_bound(container, settings, aws, clock) -> None:
    other = Container(settings, clock=clock, aws=aws).decisions
    assert not other.is_banned("192.0.2.60")  # builds its index now
    container.decisions.ban(BanRequest("192.0.2.60", seconds=600), actor="t")
    assert not other.is_banned("192.0.2.60"), "still within the staleness bound"
    clock.advance(settings.index_staleness_seconds + 0.5)
    assert other.is_banned("192.0.2.60")
    container.decisions.lift("192.0.2.60", actor="t", reason="x")
    clock.advance(settings.index_staleness_seconds + 0.5)
    assert not other.is_banned("192.0.2.60")


def test_a_refresh_reads_the_change_log_in_one_query_per_hour(container, settings, aws, clock) -> None:
    """An index that refreshes after 50 quiet minutes, across an hour's turn, reads two partitions, not 50, and
    misses none of the changes made on either side of the turn."""
    other = Container(settings, clock=clock, aws=aws).decisions
    clock.set("2026-11-24T10:10:00+00:00")
    assert not other.is_banned("192.0.2.70")  # builds its index at 10:10
    clock.set("2026-11-24T10:59:58+00:00")
    container.decisions.ban(BanRequest("192.0.2.70", seconds=3600), actor="t")
    clock.set("2026-11-24T11:00:03+00:00")
    container.decisions.ban(BanRequest("192.0.2.71", seconds=3600), actor="t")
    clock.set("2026-11-24T11:00:10+00:00")
    with count_requests(aws.client("dynamodb")) as counts:
        assert other.is_banned("192.0.2.70") and other.is_banned("192.0.2.71")
    assert counts == {"dynamodb.Query": 2}, counts
    clock.advance(settings.index_staleness_seconds + 1)
    with count_requests(aws.client("dynamodb")) as counts:
        assert other.is_banned("192.0.2.71")
    assert counts == {"dynamodb.Query": 1}, "within the hour: one partition"


def test_ioc_import_is_batched(container, aws) -> None:
    """Writes go 25 to a transaction, reads 100 to a batch, changes 200 to a message, 10 messages to a call."""
    items = [
        BanRequest(f"10.{i // 250}.{i % 250}.1", seconds=None, tags=("bulk",), on_existing="merge") for i in range(500)
    ]
    container.decisions.is_banned("192.0.2.1")  # the container's index is built once, before the import
    container.decisions._publisher._queue_url()
    with count_requests(aws.client("dynamodb"), aws.client("sqs")) as counts:
        result = container.decisions.issue(items, actor="t")
    assert not result.errors and len(result.decisions) == 500
    assert counts["dynamodb.TransactWriteItems"] == 20
    assert counts["dynamodb.BatchGetItem"] == 5
    assert counts["sqs.SendMessageBatch"] == 1
    assert counts["dynamodb.BatchWriteItem"] == 1, "the change log: one item per 2,000 changes"
    assert sum(counts.values()) == 27, counts


def test_changes_split_into_messages_of_200(container, aws, settings) -> None:
    container.decisions.issue([BanRequest(f"10.1.{i // 250}.{i % 250}", seconds=60) for i in range(450)], actor="t")
    bodies = drain(aws, settings.decisions_queue)
    assert sorted(len(b["changes"]) for b in bodies) == [50, 200, 200]
    assert {b["batch"] for b in bodies} == {bodies[0]["batch"]} and {b["parts"] for b in bodies} == {3}


def test_history_covers_every_ban_an_address_had(container, decisions, clock) -> None:
    decisions.ban(BanRequest("192.0.2.90", seconds=600, reason="first"), actor="alice")
    decisions.lift("192.0.2.90", actor="bob", reason="mistake")
    clock.advance(hours=1)
    decisions.ban(BanRequest("192.0.2.90", seconds=600, reason="second"), actor="carol")
    history = container.decision_queries.history("192.0.2.90")
    assert [(h["action"], h["actor"], h["reason"]) for h in history] == [
        ("issued", "alice", "first"),
        ("unbanned", "bob", "mistake"),
        ("issued", "carol", "second"),
    ]
    assert history[2]["at"] == (clock.now()).isoformat().replace("+00:00", "Z")


def test_stats(container, decisions, clock) -> None:
    decisions.ban(BanRequest("192.0.2.100", seconds=3600, tags=("x",)), actor="t")
    decisions.ban(BanRequest("192.0.2.101", seconds=None, origin="scenario"), actor="t")
    decisions.ban(BanRequest("2001:db8::1", seconds=86400 * 3), actor="t")
    stats = container.decision_queries.ban_stats()
    assert stats["active"] == 3 and stats["permanent"] == 1 and stats["expiring_24h"] == 1
    assert stats["by_source"] == {"manual": 2, "scenario": 1} and stats["by_tag"] == {"x": 1}
    assert stats["ipv6"] == 1 and stats["per_day"] == [{"date": "2026-11-24", "count": 3}]
    clock.advance(hours=2)
    assert container.decision_queries.ban_stats()["active"] == 2
