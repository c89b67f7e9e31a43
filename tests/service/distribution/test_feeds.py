"""Feed publishing with moto S3 and DynamoDB: objects and index, writes only on change, debounce, lease, access."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from chalicelib.core.deps import Container
from chalicelib.decisions.service import BanRequest
from chalicelib.distribution.feeds.catalog import FeedSpec, Selector, policy_sid
from chalicelib.distribution.feeds.publisher import FeedPublisher, FeedReader
from tests.support.aws import count_requests


@pytest.fixture
def s3(aws):
    return aws.client("s3")


@pytest.fixture
def publisher(container: Container) -> FeedPublisher:
    return container.feed_publisher


def ban(container: Container, target: str, *tags: str, seconds=3600, scenario: str | None = None) -> None:
    container.decisions.ban(BanRequest(target, seconds=seconds, tags=tags, scenario=scenario), actor="test")


def body(s3, settings, key: str) -> str:
    return s3.get_object(Bucket=settings.bucket, Key=key)["Body"].read().decode()


def versions(s3, settings, key: str) -> int:
    answer = s3.list_object_versions(Bucket=settings.bucket, Prefix=key)
    return len([v for v in answer.get("Versions", []) if v["Key"] == key])


def index(s3, settings) -> dict:
    return json.loads(body(s3, settings, "feeds/index.json"))


def test_publish_writes_every_format_of_every_feed_and_the_index(container, publisher, s3, settings) -> None:
    ban(container, "192.0.2.1", "BPE", scenario="ssh-bf")
    ban(container, "2001:db8::/48", seconds=None)
    summary = publisher.publish("test")
    assert summary["status"] == "published" and summary["feeds"] == 2 and summary["written"] == summary["objects"] == 18
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket=settings.bucket, Prefix="feeds/")["Contents"]}
    assert "feeds/all/mikrotik.rsc" in keys and "feeds/tag-bpe/checkpoint.csv" in keys and "feeds/index.json" in keys
    assert body(s3, settings, "feeds/all/plain.txt") == "192.0.2.1\n2001:db8::/48\n"
    assert body(s3, settings, "feeds/all/plain-v6.txt") == "2001:db8::/48\n"
    assert body(s3, settings, "feeds/tag-bpe/sophos.txt") == "192.0.2.1\n"
    head = s3.head_object(Bucket=settings.bucket, Key="feeds/all/checkpoint.csv")
    assert head["ContentType"] == "text/csv; charset=utf-8" and head["CacheControl"] == "no-cache"
    assert head["Metadata"] == {"entries": "1", "skipped": "1", "dropped": "0", "sha256": head["Metadata"]["sha256"]}
    assert "ContentEncoding" not in head, "firewalls get the plain body"
    feeds = {f["name"]: f for f in index(s3, settings)["feeds"]}
    plain = next(o for o in feeds["all"]["objects"] if o["variant"] == "plain")
    assert plain == {
        "format": "plain",
        "variant": "plain",
        "key": "feeds/all/plain.txt",
        "content_type": "text/plain; charset=utf-8",
        "entries": 2,
        "skipped": 0,
        "dropped": 0,
        "max_entries": None,
        "bytes": 24,
        "sha256": plain["sha256"],
        "etag": s3.head_object(Bucket=settings.bucket, Key="feeds/all/plain.txt")["ETag"],
        "updated_at": "2026-11-24T10:00:00Z",
    }


def test_unchanged_decisions_write_nothing_and_keep_etags(container, publisher, s3, settings, clock) -> None:
    ban(container, "192.0.2.1", "BPE", seconds=None)
    publisher.publish("first")
    etag = s3.head_object(Bucket=settings.bucket, Key="feeds/all/plain.txt")["ETag"]
    clock.advance(60)
    with count_requests(s3) as calls:
        summary = publisher.publish("again")
    assert summary["written"] == 0 and summary["unchanged"] == 18
    assert dict(calls) == {"s3.GetObject": 1}, "one read of the index, no write, not even the index"
    assert versions(s3, settings, "feeds/all/plain.txt") == 1 and versions(s3, settings, "feeds/index.json") == 1
    assert s3.head_object(Bucket=settings.bucket, Key="feeds/all/plain.txt")["ETag"] == etag


def test_a_new_ban_rewrites_only_the_feeds_it_changes(container, publisher, s3, settings, clock) -> None:
    ban(container, "192.0.2.1", "BPE", seconds=None)
    publisher.publish("first")
    before = s3.head_object(Bucket=settings.bucket, Key="feeds/all/plain.txt")["ETag"]
    clock.advance(60)
    ban(container, "198.51.100.7", seconds=None)
    summary = publisher.publish("change")
    assert summary["written"] == 8, "the objects of `all` but its empty IPv6 list; not the tag feed"
    assert body(s3, settings, "feeds/all/plain.txt") == "192.0.2.1\n198.51.100.7\n"
    assert s3.head_object(Bucket=settings.bucket, Key="feeds/all/plain.txt")["ETag"] != before
    assert versions(s3, settings, "feeds/all/plain.txt") == 2 and versions(s3, settings, "feeds/tag-bpe/plain.txt") == 1
    updated = {
        o["variant"]: o["updated_at"]
        for f in index(s3, settings)["feeds"]
        for o in f["objects"]
        if f["name"] == "tag-bpe"
    }
    assert set(updated.values()) == {"2026-11-24T10:00:00Z"}


def test_an_emptied_tag_feed_stays_published_empty(container, publisher, s3, settings) -> None:
    ban(container, "192.0.2.1", "BPE")
    publisher.publish("first")
    container.decisions.lift("192.0.2.1", actor="test", reason="false positive")
    publisher.publish("lifted")
    assert body(s3, settings, "feeds/tag-bpe/plain.txt") == "", "an empty feed, never a 404"
    assert "tag-bpe" in {f["name"] for f in index(s3, settings)["feeds"]}


def test_verifying_publish_repairs_a_deleted_object(container, publisher, s3, settings, clock) -> None:
    ban(container, "192.0.2.1")
    publisher.publish("first")
    s3.delete_object(Bucket=settings.bucket, Key="feeds/all/sophos.txt")
    assert publisher.publish("trusting the index")["written"] == 0
    with count_requests(s3) as calls:
        summary = publisher.publish("verify", verify=True)
    assert summary["written"] == 1 and calls["s3.HeadObject"] == 9
    assert body(s3, settings, "feeds/all/sophos.txt") == "192.0.2.1\n"


def test_limits_are_reported_in_metadata_index_and_status(container, settings, s3) -> None:
    container.__dict__["feed_options"] = replace(container.feed_options, max_entries={"paloalto": 1})
    ban(container, "192.0.2.1", seconds=3600)
    ban(container, "192.0.2.2", seconds=None)
    summary = container.feed_publisher.publish("test")
    assert body(s3, settings, "feeds/all/paloalto.txt") == "192.0.2.2\n", "the permanent ban is kept"
    assert summary["dropped"] == 1 and summary["truncated"] == [
        {"feed": "all", "variant": "paloalto", "dropped": 1, "max_entries": 1}
    ]
    assert s3.head_object(Bucket=settings.bucket, Key="feeds/all/paloalto.txt")["Metadata"]["dropped"] == "1"
    assert container.feed_publisher.status()["last"]["truncated"][0]["variant"] == "paloalto"


# --- triggers: debounce, schedule, lease --------------------------------------------------------------------


def test_changes_are_debounced_and_the_schedule_catches_up(container, publisher, s3, settings, clock) -> None:
    ban(container, "192.0.2.1")
    assert publisher.request_publish()["status"] == "published", "nothing published yet: at once"
    clock.advance(10)
    ban(container, "192.0.2.2")
    assert publisher.request_publish() == {"status": "deferred", "retry_in_seconds": 20.0}
    assert publisher.run_scheduled() == {"status": "clean"}, "still within the debounce"
    assert "192.0.2.2" not in body(s3, settings, "feeds/all/plain.txt")
    assert publisher.status()["dirty"] is True
    clock.advance(21)
    assert publisher.run_scheduled()["reason"] == "change"
    assert body(s3, settings, "feeds/all/plain.txt") == "192.0.2.1\n192.0.2.2\n"
    assert publisher.status()["dirty"] is False
    clock.advance(60)
    assert publisher.run_scheduled() == {"status": "clean"}


def test_a_change_just_before_a_publish_is_published_again(container, publisher, clock) -> None:
    # The publish counts its snapshot two seconds early (index reads are eventually consistent): a change
    # marked within that margin stays dirty and is published once more, here with nothing to write.
    ban(container, "192.0.2.1")
    publisher.request_publish()
    assert publisher.status()["dirty"] is True
    clock.advance(30)
    assert publisher.run_scheduled()["written"] == 0
    assert publisher.status()["dirty"] is False


def test_the_schedule_verifies_every_refresh_period(container, publisher, clock, settings) -> None:
    ban(container, "192.0.2.1")
    assert publisher.run_scheduled()["reason"] == "schedule", "never published: a full publish"
    clock.advance(settings.feed_refresh_seconds - 1)
    assert publisher.run_scheduled()["status"] == "clean"
    clock.advance(1)
    assert publisher.run_scheduled()["reason"] == "schedule"
    assert publisher.status()["verified_at"] == "2026-11-24T11:00:00Z"


def test_one_publish_at_a_time(container, publisher, clock) -> None:
    ban(container, "192.0.2.1")
    owner = container.feed_state.acquire(clock.now(), 900)
    assert owner is not None
    assert publisher.publish("test") == {"status": "busy"}
    assert publisher.status()["dirty"] is True, "the waiting change stays dirty"
    container.feed_state.release(owner)
    assert publisher.publish("test")["status"] == "published"
    clock.advance(60)
    stale = container.feed_state.acquire(clock.now(), 10)
    clock.advance(11)
    assert stale is not None and publisher.publish("test")["status"] == "published", "a dead lease expires"


def test_an_older_change_mark_never_hides_a_newer_one(container, clock) -> None:
    state = container.feed_state
    state.mark_dirty(2_000, clock.now())
    assert state.mark_dirty(1_000, clock.now())["dirty_at"] == 2_000


# --- access -------------------------------------------------------------------------------------------------


def test_group_feeds_with_a_bucket_policy_keep_other_statements(container, s3, settings, clock) -> None:
    reports = {
        "Sid": "ReportsReader",
        "Effect": "Allow",
        "Principal": {"AWS": "arn:aws:iam::123456789012:root"},
        "Action": "s3:GetObject",
        "Resource": f"arn:aws:s3:::{settings.bucket}/reports/*",
    }
    s3.put_bucket_policy(Bucket=settings.bucket, Policy=json.dumps({"Version": "2012-10-17", "Statement": [reports]}))
    group = FeedSpec(
        "group-edge",
        ("plain",),
        Selector(tags=frozenset({"edge"})),
        access="bucket-policy",
        source_cidrs=("198.51.100.7",),
    )
    publisher = FeedPublisher(
        container.feed_store,
        container.feed_state,
        container.decision_queries,
        clock,
        container.feed_options,
        lambda: [group],
    )
    ban(container, "192.0.2.1", "edge")
    publisher.publish("test")
    assert body(s3, settings, "feeds/group-edge/plain.txt") == "192.0.2.1\n"
    policy = json.loads(s3.get_bucket_policy(Bucket=settings.bucket)["Policy"])
    assert [s["Sid"] for s in policy["Statement"]] == ["ReportsReader", policy_sid("group-edge")]
    assert policy["Statement"][1]["Condition"] == {"IpAddress": {"aws:SourceIp": ["198.51.100.7/32"]}}
    # A deployment that rewrites the policy loses the statement: the verifying publish puts it back.
    s3.put_bucket_policy(Bucket=settings.bucket, Policy=json.dumps({"Version": "2012-10-17", "Statement": [reports]}))
    publisher.publish("verify", verify=True)
    assert len(json.loads(s3.get_bucket_policy(Bucket=settings.bucket)["Policy"])["Statement"]) == 2
    listing, _ = FeedReader(container.feed_store, container.feed_state, container.feed_options).listing()
    edge = next(f for f in listing if f["name"] == "group-edge")
    assert edge["formats"][0]["s3_url"].endswith(
        f"{settings.bucket}.s3.us-east-1.amazonaws.com/feeds/group-edge/plain.txt"
    )
    # The group goes away: its objects and its statement go too.
    plain = FeedPublisher(
        container.feed_store, container.feed_state, container.decision_queries, clock, container.feed_options
    )
    assert plain.publish("group removed")["deleted"] == 3
    assert [s["Sid"] for s in json.loads(s3.get_bucket_policy(Bucket=settings.bucket)["Policy"])["Statement"]] == [
        "ReportsReader"
    ]


def test_presigned_access_lists_signed_urls(container, settings) -> None:
    container.__dict__["feed_options"] = replace(container.feed_options, access="presigned", presign_seconds=600)
    ban(container, "192.0.2.1")
    container.feed_publisher.publish("test")
    listing, status = container.feed_reader.listing()
    url = listing[0]["formats"][0]["s3_url"]
    assert "X-Amz-Expires=600" in url and "feeds/all/plain.txt" in url
    assert status["published_at"] == "2026-11-24T10:00:00Z"


def test_large_feeds_are_redirected_to_s3(container, settings) -> None:
    container.__dict__["feed_options"] = replace(container.feed_options, api_max_bytes=10)
    ban(container, "192.0.2.1")
    ban(container, "192.0.2.2")
    container.feed_publisher.publish("test")
    answer = container.feed_reader.download("all", None)
    assert answer.status == 307 and "X-Amz-Expires=300" in answer.headers["Location"] and answer.body == ""
    small = container.feed_reader.download("all", "plain-v6")
    assert small.status == 200 and small.body == ""


def test_catalogue_feeds_can_be_opened_to_the_firewalls_addresses(container, s3, settings) -> None:
    options = replace(container.feed_options, access="bucket-policy", source_cidrs=("203.0.113.0/28",))
    container.__dict__["feed_options"] = options
    ban(container, "192.0.2.1", "BPE")
    container.feed_publisher.publish("test")
    policy = json.loads(s3.get_bucket_policy(Bucket=settings.bucket)["Policy"])
    assert sorted(s["Resource"].rsplit("/", 2)[1] for s in policy["Statement"]) == ["all", "tag-bpe"]
    assert {tuple(s["Condition"]["IpAddress"]["aws:SourceIp"]) for s in policy["Statement"]} == {("203.0.113.0/28",)}
