"""The feed catalogue: which feeds exist, what each selects, how API paths resolve, the S3 bucket policy."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from chalicelib.core.errors import InvalidInputError, NotFoundError
from chalicelib.decisions.model import Decision
from chalicelib.distribution.feeds import catalog as c

NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)


def ban(value: str, *tags: str, scope: str = "global", origin: str = "api", until=None, scenario=None) -> Decision:
    return Decision(
        id=f"id-{value}", value=value, scope=scope, origin=origin, tags=tags, until=until, scenario=scenario
    )


DECISIONS = [
    ban("192.0.2.1/32", "BPE", "Malware"),
    ban("2001:db8::5/128", "bpe"),
    ban("198.51.100.0/30", "Multi cliente", until=NOW + timedelta(hours=1), scenario="ssh-bf"),
    ban("203.0.113.9/32", scope="sensor:vm-1", origin="scenario"),
]


def test_catalogue_has_all_a_feed_per_tag_and_keeps_published_tags() -> None:
    specs = c.catalogue(c.tags_in(DECISIONS), known=["all", "tag-old", "group-x"])
    assert [s.name for s in specs] == ["all", "tag-bpe", "tag-malware", "tag-multi-cliente", "tag-old"]
    assert all(s.formats == c.FORMATS and s.access == "api" for s in specs)
    assert specs[1].limit("paloalto") == 50_000 and specs[1].limit("plain") is None


def test_settings_defaults_and_group_feeds() -> None:
    defaults = c.FeedDefaults(
        formats=("plain", "mikrotik"), max_entries={"plain": 10, "mikrotik": 0}, access="presigned"
    )
    group = c.FeedSpec("group-edge", ("sophos",), c.Selector(origins=frozenset({"scenario"})), access="bucket-policy")
    specs = {s.name: s for s in c.catalogue([], [group], defaults=defaults)}
    assert specs["all"].formats == ("plain", "mikrotik") and specs["all"].access == "presigned"
    assert specs["all"].limit("plain") == 10 and specs["all"].limit("mikrotik") is None, "0 means no limit"
    assert specs["group-edge"] is group
    with pytest.raises(InvalidInputError, match="reserved"):
        c.catalogue([], [c.FeedSpec("tag-x")])
    with pytest.raises(InvalidInputError):
        c.FeedSpec("Bad Name")
    with pytest.raises(InvalidInputError, match="unknown formats"):
        c.FeedSpec("group-y", ("cisco",))
    with pytest.raises(InvalidInputError, match="access"):
        c.FeedSpec("group-y", access="public")


def test_select_gives_each_feed_its_rows_in_feed_order() -> None:
    table = c.table_of(DECISIONS)
    group = c.FeedSpec("group-sensors", selector=c.Selector(scopes=frozenset({"sensor:vm-1"})))
    predicate = c.FeedSpec("group-fn", selector=lambda d: d.value.startswith("198."))
    specs = c.catalogue(c.tags_in(DECISIONS), [group, predicate])
    tables = c.select(table, specs)
    assert tables["all"].texts == ["192.0.2.1", "198.51.100.0/30", "2001:db8::5"], "global bans only"
    assert tables["tag-bpe"].texts == ["192.0.2.1", "2001:db8::5"], "tags compared without case"
    assert tables["tag-multi-cliente"].comments == ["ssh-bf"]
    assert tables["group-sensors"].texts == ["203.0.113.9"]
    assert tables["group-fn"].texts == ["198.51.100.0/30"]
    assert tables["tag-bpe"].v4_count == 1


def test_all_is_the_table_itself_when_every_ban_is_global() -> None:
    table = c.table_of(DECISIONS[:3])
    assert c.select(table, [c.FeedSpec("all")])["all"] is table


@pytest.mark.parametrize(
    ("path", "fmt", "name", "variant"),
    [
        ("all", None, "all", "plain"),
        ("all", "sophos", "all", "sophos"),
        ("tag-bpe", "plain-v6", "tag-bpe", "plain-v6"),
        ("all.rsc", None, "all", "mikrotik"),
        ("all.csv", None, "all", "checkpoint"),
        ("all.json", None, "all", "json"),
        ("all.txt", None, "all", "plain"),
        ("all.txt", "fortigate", "all", "fortigate"),
        ("ioc-feed-bpe.txt", None, "tag-bpe", "plain"),
        ("ioc-feed-Multi cliente.txt", None, "tag-multi-cliente", "plain"),
        ("ALL", None, "all", "plain"),
    ],
)
def test_resolve_paths(path: str, fmt: str | None, name: str, variant: str) -> None:
    ref = c.resolve(path, fmt)
    assert (ref.name, ref.variant) == (name, variant)
    assert ref.key.startswith(f"feeds/{name}/{variant}.")


@pytest.mark.parametrize(
    ("path", "fmt", "error"),
    [
        ("all", "cisco", InvalidInputError),
        ("all.rsc", "plain", InvalidInputError),
        ("all.exe", None, NotFoundError),
        ("../secrets", None, NotFoundError),
        ("", None, NotFoundError),
    ],
)
def test_resolve_refuses(path: str, fmt: str | None, error: type[Exception]) -> None:
    with pytest.raises(error):
        c.resolve(path, fmt)


def test_object_keys() -> None:
    assert c.object_key("all", "mikrotik") == "feeds/all/mikrotik.rsc"
    assert c.object_key("tag-bpe", "plain-v4") == "feeds/tag-bpe/plain-v4.txt"
    assert c.object_key("all", "json") == "feeds/all/json.json"
    assert c.format_of("plain-v6") == "plain"


def test_bucket_policy_opens_each_feed_to_its_firewalls_only() -> None:
    policy = c.bucket_policy(
        {"tag-bpe": ["198.51.100.7", "203.0.113.0/24"], "all": [], "group-x": ["2001:db8::/48"]}, "vigil-data"
    )
    assert policy["Version"] == "2012-10-17"
    assert [s["Resource"] for s in policy["Statement"]] == [
        "arn:aws:s3:::vigil-data/feeds/group-x/*",
        "arn:aws:s3:::vigil-data/feeds/tag-bpe/*",
    ], "a feed without addresses gets no statement"
    statement = policy["Statement"][1]
    assert statement == {
        "Sid": c.policy_sid("tag-bpe"),
        "Effect": "Allow",
        "Principal": "*",
        "Action": "s3:GetObject",
        "Resource": "arn:aws:s3:::vigil-data/feeds/tag-bpe/*",
        "Condition": {"IpAddress": {"aws:SourceIp": ["198.51.100.7/32", "203.0.113.0/24"]}},
    }
    assert statement["Sid"].isalnum() and c.policy_sid("a") != c.policy_sid("b")


@pytest.mark.parametrize("cidr", ["0.0.0.0/0", "10.0.0.0/7", "2001::/16", "not-an-ip"])
def test_bucket_policy_refuses_wide_or_bad_sources(cidr: str) -> None:
    with pytest.raises(InvalidInputError):
        c.bucket_policy({"all": [cidr]}, "vigil-data")
