"""Feed rendering: the exact bytes of every format, order, limits, skipped rows, IPv6 and comment safety.

The expected texts are written from the vendors' formats (research/integrations.md §1): one entry per line for
Sophos, FortiGate and Palo Alto EDL; RouterOS `address-list add` commands; Check Point's CSV header and
`IP`/`IP Range` rows.
"""

from __future__ import annotations

import ipaddress
import json
import random
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.distribution.feeds import render as r
from chalicelib.distribution.feeds.render import FORMATS, FeedEntry, FeedTable, render

NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)

SAMPLE = [
    FeedEntry("2001:db8::5/128", None, "d-v6host", "manual ban"),
    FeedEntry("198.51.100.0/30", NOW + 2 * HOUR, "d-range", "ssh-bf"),
    FeedEntry("192.0.2.20/32", NOW + timedelta(days=1, seconds=5), "d-host", "crowdsecurity/ssh-bf"),
    FeedEntry("198.51.100.2/32", None, "d-inside", ""),
    FeedEntry("203.0.113.0/24", None, "d-wide", "spamhaus drop"),
    FeedEntry("2001:db8:1::/48", NOW + timedelta(minutes=30), "d-v6net", ""),
]


def rendered(fmt: str, entries=SAMPLE, **kw) -> dict[str, r.Rendered]:
    kw.setdefault("now", NOW + timedelta(minutes=10))
    return {x.variant: x for x in render(FeedTable.of(entries), fmt, name="all", **kw)}


def text(fmt: str, variant: str | None = None, **kw) -> str:
    return rendered(fmt, **kw)[variant or fmt].body.decode()


# --- exact bytes per format ----------------------------------------------------------------------------------


def test_plain_lists_hosts_bare_and_cidrs_in_order_with_a_file_per_family() -> None:
    out = rendered("plain")
    assert out["plain"].body == (
        b"192.0.2.20\n198.51.100.0/30\n198.51.100.2\n203.0.113.0/24\n2001:db8::5\n2001:db8:1::/48\n"
    )
    assert out["plain-v4"].body == b"192.0.2.20\n198.51.100.0/30\n198.51.100.2\n203.0.113.0/24\n"
    assert out["plain-v6"].body == b"2001:db8::5\n2001:db8:1::/48\n"
    assert [(v.entries, v.skipped, v.dropped) for v in out.values()] == [(6, 0, 0), (4, 0, 0), (2, 0, 0)]
    assert out["plain-v4"].filename == "plain-v4.txt" and out["plain"].content_type == "text/plain; charset=utf-8"


@pytest.mark.parametrize("fmt", ["fortigate", "paloalto"])
def test_fortigate_and_palo_alto_take_one_entry_per_line_without_comments(fmt: str) -> None:
    assert text(fmt) == text("plain", "plain")
    assert "#" not in text(fmt) and " " not in text(fmt), "Palo Alto full-line comments are unverified: none"


def test_sophos_writes_bare_ipv4_hosts_and_expands_small_cidrs_only() -> None:
    out = rendered("sophos", expand_limit=4)["sophos"]
    # The /30 becomes its four addresses (198.51.100.2, banned on its own too, is written once); the /24 is
    # wider than the limit and the two IPv6 rows cannot go in a Sophos IPv4 feed: three skipped.
    assert out.body == b"192.0.2.20\n198.51.100.0\n198.51.100.1\n198.51.100.2\n198.51.100.3\n"
    assert (out.entries, out.skipped, out.dropped) == (5, 3, 0)
    wide = rendered("sophos", expand_limit=256)["sophos"]
    assert wide.entries == 5 + 256 and wide.skipped == 2
    assert wide.body.decode().splitlines()[-1] == "203.0.113.255"


def test_mikrotik_script_removes_the_list_then_adds_each_entry() -> None:
    assert text("mikrotik") == (
        '# vigil address list "vigil-all": 6 entries, 0 dropped\n'
        '/ip firewall address-list remove [find where list="vigil-all"]\n'
        "/ip firewall address-list add list=vigil-all address=192.0.2.20 timeout=1d5s"
        ' comment="crowdsecurity/ssh-bf"\n'
        '/ip firewall address-list add list=vigil-all address=198.51.100.0/30 timeout=2h comment="ssh-bf"\n'
        "/ip firewall address-list add list=vigil-all address=198.51.100.2\n"
        '/ip firewall address-list add list=vigil-all address=203.0.113.0/24 comment="spamhaus drop"\n'
        ':do { /ipv6 firewall address-list remove [find where list="vigil-all"] } on-error={}\n'
        '/ipv6 firewall address-list add list=vigil-all address=2001:db8::5 comment="manual ban"\n'
        "/ipv6 firewall address-list add list=vigil-all address=2001:db8:1::/48 timeout=30m\n"
    )
    assert rendered("mikrotik")["mikrotik"].filename == "mikrotik.rsc"


def test_mikrotik_list_name_is_settable_and_made_safe() -> None:
    assert "add list=Edge_FW-1 address=" in text("mikrotik", list_name="Edge_FW-1")
    assert 'find where list="bad-name-x"' in text("mikrotik", list_name='bad name" x')


def test_checkpoint_csv_has_the_header_ipv4_rows_and_ranges() -> None:
    out = rendered("checkpoint")["checkpoint"]
    assert out.body.decode() == (
        "# UNIQ-NAME,VALUE,TYPE,CONFIDENCE,SEVERITY,PRODUCT,COMMENT\n"
        "vigil-d-host,192.0.2.20,IP,high,high,AB,crowdsecurity/ssh-bf\n"
        "vigil-d-range,198.51.100.0-198.51.100.3,IP Range,high,high,AB,ssh-bf\n"
        "vigil-d-inside,198.51.100.2,IP,high,high,AB,\n"
        "vigil-d-wide,203.0.113.0-203.0.113.255,IP Range,high,high,AB,spamhaus drop\n"
    )
    assert (out.entries, out.skipped, out.dropped) == (4, 2, 0), "Check Point takes no IPv6"
    assert out.filename == "checkpoint.csv" and out.content_type.startswith("text/csv")
    assert all(line.count(",") == 6 for line in out.body.decode().splitlines())


def test_json_is_a_documented_object_with_counts() -> None:
    out = rendered("json", max_entries=5)["json"]
    body = json.loads(out.body)
    assert {k: v for k, v in body.items() if k != "entries"} == {
        "schema": "vigil.feed/1",
        "feed": "all",
        "count": 5,
        "dropped": 1,
        "max_entries": 5,
    }
    assert body["entries"][0] == {
        "value": "192.0.2.20/32",
        "until": "2026-11-25T10:00:05Z",
        "id": "d-host",
        "comment": "crowdsecurity/ssh-bf",
    }
    assert [e["value"] for e in body["entries"]] == [
        "192.0.2.20/32",
        "198.51.100.0/30",
        "198.51.100.2/32",
        "203.0.113.0/24",
        "2001:db8::5/128",
    ], "the /48 ending in 30 minutes is the least relevant"
    assert body["entries"][2]["until"] is None
    assert out.body.count(b"\n") == 7, "one entry per line"


def test_empty_feeds_are_empty_but_still_say_what_they_are() -> None:
    empty = FeedTable.of([])
    assert render(empty, "plain", name="x", now=NOW)[0].body == b""
    assert render(empty, "sophos", name="x", now=NOW)[0].body == b""
    assert render(empty, "checkpoint", name="x", now=NOW)[0].body == (r.CHECKPOINT_HEADER + "\n").encode()
    mikrotik = render(empty, "mikrotik", name="x", now=NOW)[0].body.decode()
    assert 'remove [find where list="vigil-x"]' in mikrotik and "add " not in mikrotik, "an empty feed empties the list"
    assert json.loads(render(empty, "json", name="x", now=NOW)[0].body)["entries"] == []


def test_unknown_format_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown feed format"):
        render(FeedTable.of(SAMPLE), "cisco", name="x", now=NOW)


# --- order and determinism -----------------------------------------------------------------------------------


def test_order_is_numeric_ipv4_first_then_prefix() -> None:
    values = ["10.0.0.1/32", "9.0.0.1/32", "2001:db8::10/128", "2001:db8::2/128", "192.0.2.0/25", "192.0.2.0/24"]
    table = FeedTable.of([FeedEntry(v) for v in values])
    assert table.texts == ["9.0.0.1", "10.0.0.1", "192.0.2.0/24", "192.0.2.0/25", "2001:db8::2", "2001:db8::10"]
    assert table.v4_count == 4


@settings(max_examples=40, deadline=None)
@given(st.randoms(use_true_random=False))
def test_any_input_order_gives_the_same_bytes(rng: random.Random) -> None:
    shuffled = SAMPLE[:]
    rng.shuffle(shuffled)
    for fmt in FORMATS:
        assert render(FeedTable.of(shuffled), fmt, name="all", now=NOW, max_entries=4) == render(
            FeedTable.of(SAMPLE), fmt, name="all", now=NOW, max_entries=4
        )


def test_a_value_given_twice_keeps_its_most_relevant_row() -> None:
    table = FeedTable.of([FeedEntry("192.0.2.1/32", NOW + HOUR, "short"), FeedEntry("192.0.2.1/32", None, "permanent")])
    assert len(table) == 1 and table.ids == ["permanent"] and table.untils == [None]


def test_take_keeps_feed_order_and_the_family_boundary() -> None:
    table = FeedTable.of(SAMPLE)
    part = table.take([1, 3, 5])
    assert part.texts == ["198.51.100.0/30", "203.0.113.0/24", "2001:db8:1::/48"]
    assert part.v4_count == 2 and part.ids == ["d-range", "d-wide", "d-v6net"]


# --- limits: dropped and skipped -----------------------------------------------------------------------------


def test_max_entries_keeps_permanent_bans_then_the_latest_ends() -> None:
    out = rendered("plain", max_entries=3)["plain"]
    # Permanent: 198.51.100.2, 203.0.113.0/24, 2001:db8::5 (the three of them, in feed order).
    assert out.body == b"198.51.100.2\n203.0.113.0/24\n2001:db8::5\n"
    assert (out.entries, out.dropped) == (3, 3)
    four = rendered("plain", max_entries=4)["plain"]
    assert four.body.splitlines()[0] == b"192.0.2.20", "then the ban that ends last (tomorrow)"


def test_equal_ranks_are_cut_in_feed_order() -> None:
    entries = [FeedEntry(f"192.0.2.{i}/32") for i in (9, 3, 7, 1)]
    out = render(FeedTable.of(entries), "plain", name="x", now=NOW, max_entries=2)[0]
    assert out.body == b"192.0.2.1\n192.0.2.3\n" and out.dropped == 2


def test_each_plain_file_is_limited_on_its_own() -> None:
    out = rendered("plain", max_entries=2)
    assert (out["plain-v4"].entries, out["plain-v4"].dropped) == (2, 2)
    assert (out["plain-v6"].entries, out["plain-v6"].dropped) == (2, 0)


def test_sophos_limit_counts_lines_and_fills_greedily_by_relevance() -> None:
    out = rendered("sophos", expand_limit=4, max_entries=3)["sophos"]
    # By relevance: 198.51.100.2 (permanent, 1 line), 192.0.2.20 (1 line), the /30 (4 lines: does not fit).
    assert out.body == b"192.0.2.20\n198.51.100.2\n"
    assert (out.entries, out.skipped, out.dropped) == (2, 3, 1)


def test_sophos_nested_cidrs_are_written_once() -> None:
    entries = [
        FeedEntry("192.0.2.0/29"),
        FeedEntry("192.0.2.4/30"),
        FeedEntry("192.0.2.6/32"),
        FeedEntry("192.0.2.9/32"),
    ]
    out = render(FeedTable.of(entries), "sophos", name="x", now=NOW, expand_limit=8)[0]
    assert out.body.decode().split() == [f"192.0.2.{i}" for i in range(8)] + ["192.0.2.9"]
    assert out.skipped == 0


# --- IPv6 per format -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "variant", "has_v6"),
    [
        ("plain", "plain", True),
        ("plain", "plain-v4", False),
        ("plain", "plain-v6", True),
        ("fortigate", "fortigate", True),
        ("paloalto", "paloalto", True),
        ("sophos", "sophos", False),
        ("checkpoint", "checkpoint", False),
        ("mikrotik", "mikrotik", True),
        ("json", "json", True),
    ],
)
def test_ipv6_goes_only_where_the_format_takes_it(fmt: str, variant: str, has_v6: bool) -> None:
    assert ("2001:db8::5" in text(fmt, variant, expand_limit=4)) is has_v6


def test_mikrotik_writes_ipv6_under_the_ipv6_menu() -> None:
    lines = text("mikrotik").splitlines()
    assert all(line.startswith("/ipv6 ") for line in lines if "2001:db8" in line)
    assert not any(line.startswith("/ipv6 ") for line in lines if "192.0.2" in line or "198.51" in line)


# --- comments ------------------------------------------------------------------------------------------------

NASTY = 'brute "force"\nnext line $x [find] \\ {a};b, c\r\u2028end'


def test_mikrotik_comments_cannot_break_out_of_their_quotes() -> None:
    body = text("mikrotik", entries=[FeedEntry("192.0.2.1/32", None, "d", NASTY)])
    line = body.splitlines()[2]
    assert line.startswith("/ip firewall address-list add ") and line.endswith('"') and line.count('"') == 2
    comment = line.split('comment="', 1)[1][:-1]
    assert comment == "brute _force_ next line _x _find_ _ _a__b, c end"
    assert len(body.splitlines()) == 4, "header, removal, one add, IPv6 removal: no injected line"


def test_checkpoint_comments_cannot_add_columns() -> None:
    body = text("checkpoint", entries=[FeedEntry("192.0.2.1/32", None, "d", NASTY)])
    row = body.splitlines()[1]
    assert row.count(",") == 6 and '"' not in row and len(body.splitlines()) == 2


def test_json_comments_are_escaped_and_single_line() -> None:
    body = rendered("json", entries=[FeedEntry("192.0.2.1/32", None, 'x"y\\z', NASTY)])["json"].body
    entry = json.loads(body)["entries"][0]
    assert entry["comment"] == 'brute "force" next line $x [find] \\ {a};b, c end' and entry["id"] == 'x"y\\z'
    assert body.count(b"\n") == 3


def test_comments_are_cut_to_their_format_length() -> None:
    long = "a" * 300
    add = text("mikrotik", entries=[FeedEntry("192.0.2.1/32", None, "d", long)]).splitlines()[2]
    assert add.endswith(' comment="' + "a" * 64 + '"')
    assert r.sanitise(long, 10) == "a" * 10
    assert r.sanitise("  tabs\tand\n\nlines  ", 50) == "tabs and lines"


# --- time ----------------------------------------------------------------------------------------------------


def test_mikrotik_timeouts_hold_still_within_a_step_and_never_undercount() -> None:
    entries = [FeedEntry("192.0.2.1/32", NOW + 5 * HOUR, "d")]

    def body_at(minutes: int) -> bytes:
        return render(FeedTable.of(entries), "mikrotik", name="x", now=NOW + timedelta(minutes=minutes))[0].body

    assert body_at(1) == body_at(59), "same bytes, same ETag within one step"
    assert b"timeout=5h" in body_at(59), "5 hours counted from the step start: at least the 4h01m left"
    assert b"timeout=4h" in body_at(61)
    step = render(FeedTable.of(entries), "mikrotik", name="x", now=NOW + timedelta(minutes=61), timeout_step=60)[0]
    assert b"timeout=3h59m" in step.body


def test_mikrotik_timeouts_stop_at_routeros_longest() -> None:
    entries = [FeedEntry("192.0.2.1/32", NOW + timedelta(days=400), "d")]
    body = render(FeedTable.of(entries), "mikrotik", name="x", now=NOW)[0].body.decode()
    assert "timeout=248d13h13m56s" in body


@pytest.mark.parametrize(("seconds", "expected"), [(1, "1s"), (60, "1m"), (86_400, "1d"), (90_061, "1d1h1m1s")])
def test_routeros_durations(seconds: int, expected: str) -> None:
    assert r.duration(seconds) == expected


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=0, max_value=4_102_444_800))
def test_json_times_are_iso_utc(epoch: int) -> None:
    when = datetime.fromtimestamp(epoch, UTC)
    assert r._iso_times([epoch, None]) == [f'"{when:%Y-%m-%dT%H:%M:%S}Z"', "null"]


@settings(max_examples=100, deadline=None)
@given(st.lists(st.one_of(st.none(), st.integers(0, 4)), max_size=40), st.integers(1, 40))
def test_truncation_keeps_what_a_full_sort_by_relevance_keeps(ends: list[int | None], limit: int) -> None:
    entries = [FeedEntry(f"192.0.2.{i}/32", None if e is None else NOW + e * HOUR) for i, e in enumerate(ends)]
    table = FeedTable.of(entries)
    by_relevance = sorted(range(len(table)), key=lambda i: (-table.ranks[i], i))
    assert r.keep_most_relevant(table, range(len(table)), limit) == sorted(by_relevance[:limit])


# --- the fast paths write what the plain reading of each format says (issue 7) ---------------------------------


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.tuples(st.just(4), st.integers(0, 2**32 - 1), st.integers(0, 32)),
            st.tuples(st.just(6), st.integers(0, 2**128 - 1), st.integers(0, 128)),
        ),
        max_size=60,
    )
)
def test_feed_order_is_family_then_address_then_prefix(networks: list[tuple[int, int, int]]) -> None:
    """IPv4 rows sort by a float packed from their key bytes: the order must be the numeric one."""
    kinds = {4: ipaddress.IPv4Network, 6: ipaddress.IPv6Network}
    nets = {kinds[v]((a, p), strict=False) for v, a, p in networks}
    table = FeedTable.of([FeedEntry(f"{n.network_address}/{n.prefixlen}") for n in nets])
    expected = sorted(nets, key=lambda n: (n.version, int(n.network_address), n.prefixlen))
    assert table.texts == [str(n.network_address) if n.prefixlen == n.max_prefixlen else str(n) for n in expected]
    assert table.v4_count == sum(n.version == 4 for n in nets)


def _entries(count: int, bad_id_at: int | None = None) -> list[FeedEntry]:
    rng = random.Random(count)
    out = []
    for i in range(count):
        value = f"198.51.{i // 256}.{i % 256}/32" if i % 5 else f"2001:db8::{i:x}/128"
        if i % 17 == 0:
            value = f"10.{i % 256}.{i // 256}.0/30"
        until = None if i % 4 == 0 else NOW + timedelta(seconds=rng.randrange(60, 9 * 86_400))
        ident = 'id,"x' if i == bad_id_at else f"d-{i}"
        out.append(FeedEntry(value, until, ident, rng.choice(["ssh-bf", "", NASTY, "é"])))
    return out


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("share", [0.3, 0.8])
def test_a_subset_renders_as_a_table_of_its_own_rows(fmt: str, share: float) -> None:
    """Most of the source: lines written in source order, then gathered; a few rows: columns gathered first.
    Either way the bytes are those of a table holding just those rows."""
    entries = _entries(300)
    table = FeedTable.of(entries)
    chosen = sorted(random.Random(fmt).sample(range(len(table)), int(share * len(table))))
    part = table.take(chosen)
    alone = FeedTable.of([entries[i] for i in part.order])
    kw = {"name": "x", "now": NOW, "expand_limit": 4}
    assert render(part, fmt, **kw) == render(alone, fmt, **kw)
    assert render(part, fmt, max_entries=20, **kw) == render(alone, fmt, max_entries=20, **kw)


@pytest.mark.parametrize("fmt", ["checkpoint", "json"])
def test_an_unsafe_id_outside_the_feed_changes_nothing_in_it(fmt: str) -> None:
    entries = _entries(100, bad_id_at=1)
    table = FeedTable.of(entries)
    part = table.take([i for i in range(len(table)) if table.ids[i] != 'id,"x'])
    alone = FeedTable.of([e for e in entries if e.decision_id != 'id,"x'])
    assert render(part, fmt, name="x", now=NOW) == render(alone, fmt, name="x", now=NOW)
    assert b'id,"x' not in render(table, fmt, name="x", now=NOW)[0].body, "escaped where it is written"


def test_sophos_writes_every_address_of_a_wide_expandable_cidr_once() -> None:
    entries = [
        FeedEntry("192.0.0.0/22"),
        FeedEntry("192.0.1.0/24"),  # inside the /22
        FeedEntry("192.0.2.77/32"),  # inside too
        FeedEntry("192.0.4.1/32"),
        FeedEntry("192.0.4.4/31"),
    ]
    out = render(FeedTable.of(entries), "sophos", name="x", now=NOW, expand_limit=1024)[0]
    expected = [str(a) for a in ipaddress.ip_network("192.0.0.0/22")] + ["192.0.4.1", "192.0.4.4", "192.0.4.5"]
    assert out.body.decode().splitlines() == expected
    assert (out.entries, out.skipped) == (len(expected), 0)


def test_rendering_twice_gives_the_same_bytes() -> None:
    """Firewalls compare ETags: nothing cached or reused between renders may change a byte."""
    entries = _entries(200)
    table = FeedTable.of(entries)
    for fmt in FORMATS:
        first = render(table, fmt, name="x", now=NOW, max_entries=50)
        assert render(table, fmt, name="x", now=NOW, max_entries=50) == first
        assert render(FeedTable.of(entries[::-1]), fmt, name="x", now=NOW, max_entries=50) == first
