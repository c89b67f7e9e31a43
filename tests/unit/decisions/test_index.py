"""The in-memory IP index: lookups against a brute-force `ipaddress` check, updates, and the benchmark script."""

from __future__ import annotations

import ipaddress
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bench import index_bench
from chalicelib.core.errors import InvalidInputError
from chalicelib.decisions import index as index_module
from chalicelib.decisions.addresses import parse_network
from chalicelib.decisions.index import IpIndex, Match


def ids_of(matches: list[Match]) -> list[str]:
    return [m.entry_id for m in matches]


# --- examples ----------------------------------------------------------------------------------------------


def test_an_empty_index_finds_nothing() -> None:
    index = IpIndex()
    assert len(index) == 0
    assert index.lookup("192.0.2.1") == []
    assert index.lookup_kind("2001:db8::1", "ban") is None


def test_lookup_lists_every_containing_entry_most_specific_first() -> None:
    index = IpIndex.build(
        [
            ("wide", "198.51.0.0/16", "ban"),
            ("host", "198.51.100.7", "ban"),
            ("net", "198.51.100.0/24", "ban"),
            ("elsewhere", "203.0.113.0/24", "ban"),
        ]
    )
    assert ids_of(index.lookup("198.51.100.7")) == ["host", "net", "wide"]
    assert ids_of(index.lookup("198.51.100.8")) == ["net", "wide"]
    assert ids_of(index.lookup("198.51.7.1")) == ["wide"]
    assert index.lookup("192.0.2.1") == []


def test_lookup_kind_returns_the_most_specific_entry_of_that_kind() -> None:
    index = IpIndex()
    index.add("ban-net", "198.51.100.0/24", "ban")
    index.add("allow-host", "198.51.100.7", "allow")
    index.add("ban-wide", "198.51.0.0/16", "ban")
    ban = index.lookup_kind("198.51.100.7", "ban")
    assert ban is not None
    assert (ban.entry_id, ban.kind, ban.network) == ("ban-net", "ban", IPv4Network("198.51.100.0/24"))
    allow = index.lookup_kind("198.51.100.7", "allow")
    assert allow is not None
    assert allow.entry_id == "allow-host"
    assert index.lookup_kind("198.51.100.8", "allow") is None
    assert index.lookup_kind("198.51.100.7", "captcha") is None


def test_match_describes_the_entry_and_its_network() -> None:
    index = IpIndex.build([("d1", "2001:db8:1::/48", "ban")])
    (match,) = index.lookup("2001:db8:1:2::3")
    assert match == Match("d1", "ban", 6, int(IPv6Address("2001:db8:1::")), 48)
    assert match.network == IPv6Network("2001:db8:1::/48")


def test_several_entries_can_share_one_network() -> None:
    index = IpIndex()
    index.add("ban-1", "192.0.2.0/24", "ban")
    index.add("allow-1", "192.0.2.0/24", "allow")
    index.add("ban-2", "192.0.2.0/24", "ban")
    index.add("ban-3", "192.0.2.0/24", "ban")
    assert ids_of(index.lookup("192.0.2.9")) == ["allow-1", "ban-1", "ban-2", "ban-3"]  # kind order, then added
    assert index.lookup_kind("192.0.2.9", "ban").entry_id == "ban-1"  # type: ignore[union-attr]
    assert index.remove("ban-1")
    assert index.lookup_kind("192.0.2.9", "ban").entry_id == "ban-2"  # type: ignore[union-attr]
    assert index.remove("ban-3")
    assert ids_of(index.lookup("192.0.2.9")) == ["allow-1", "ban-2"]
    assert index.remove("ban-2")
    assert index.lookup_kind("192.0.2.9", "ban") is None
    assert ids_of(index.lookup("192.0.2.9")) == ["allow-1"]


def test_ipv4_and_ipv6_live_side_by_side() -> None:
    index = IpIndex.build([("v4", "0.0.0.0/0", "allow"), ("v6", "2001:db8::/32", "ban")])
    assert ids_of(index.lookup("2001:db8::1")) == ["v6"]
    assert ids_of(index.lookup("192.0.2.1")) == ["v4"]
    assert index.lookup("2001:db9::1") == []


def test_ipv4_mapped_ipv6_is_the_ipv4_address_in_entries_and_lookups() -> None:
    index = IpIndex.build([("mapped", "::ffff:198.51.100.0/120", "ban"), ("plain", "203.0.113.5", "ban")])
    assert ids_of(index.lookup("198.51.100.7")) == ["mapped"]
    assert ids_of(index.lookup("::ffff:203.0.113.5")) == ["plain"]
    match = index.lookup_kind("::ffff:198.51.100.7", "ban")
    assert match is not None
    assert match.network == IPv4Network("198.51.100.0/24")


def test_entries_take_text_in_any_form_parse_network_accepts_or_ipaddress_networks() -> None:
    index = IpIndex.build(
        [
            ("host-bits", "192.0.2.77/24", "ban"),
            ("padded", "  198.51.100.1 ", "ban"),
            ("range", "203.0.113.0 - 203.0.113.255", "ban"),
            ("object", IPv6Network("2001:db8::/64"), "ban"),
            ("netmask", "10.1.0.0/255.255.0.0", "ban"),
        ]
    )
    assert ids_of(index.lookup("192.0.2.1")) == ["host-bits"]
    assert ids_of(index.lookup("198.51.100.1")) == ["padded"]
    assert ids_of(index.lookup("203.0.113.200")) == ["range"]
    assert ids_of(index.lookup("2001:db8::5")) == ["object"]
    assert ids_of(index.lookup("10.1.2.3")) == ["netmask"]


def test_add_replaces_an_entry_with_the_same_id() -> None:
    index = IpIndex()
    index.add("d1", "192.0.2.1", "ban")
    index.add("d1", "198.51.100.1", "allow")
    assert len(index) == 1
    assert index.lookup("192.0.2.1") == []
    assert ids_of(index.lookup("198.51.100.1")) == ["d1"]


def test_build_keeps_the_last_network_of_a_repeated_id() -> None:
    index = IpIndex.build([("d1", "192.0.2.1", "ban"), ("d2", "192.0.2.1", "ban"), ("d1", "192.0.2.2", "ban")])
    assert len(index) == 2
    assert ids_of(index.lookup("192.0.2.1")) == ["d2"]
    assert ids_of(index.lookup("192.0.2.2")) == ["d1"]


def test_remove_reports_whether_the_entry_was_there() -> None:
    index = IpIndex.build([("d1", "192.0.2.1", "ban")])
    assert "d1" in index
    assert index.remove("d1") is True
    assert "d1" not in index
    assert index.remove("d1") is False  # replaying a deletion is harmless
    assert index.remove("never-added") is False
    assert index.lookup("192.0.2.1") == []


def test_remove_finds_the_right_entry_when_keys_collide_across_tables() -> None:
    # All four networks have table key 1 (the address shifted past its host bits), in four different tables.
    index = IpIndex.build(
        [("a", "0.0.0.1/32", "ban"), ("b", "0.0.0.2/31", "ban"), ("c", "::1/128", "allow"), ("d", "::2/127", "ban")]
    )
    assert index.remove("b")
    assert ids_of(index.lookup("0.0.0.1")) == ["a"]
    assert index.lookup("0.0.0.2") == []
    assert ids_of(index.lookup("::1")) == ["c"]
    assert index.remove("c")
    assert ids_of(index.lookup("::2")) == ["d"]


@pytest.mark.parametrize(
    ("network", "reach"),
    [
        ("10.0.0.0/8", ["10.0.0.1", "10.255.255.254", "10.17.0.3"]),  # marked in 4096 cells
        ("16.0.0.0/4", ["16.0.0.1", "31.255.255.255", "20.1.2.3"]),  # too wide to mark: probed everywhere
        ("0.0.0.0/0", ["0.0.0.0", "255.255.255.255"]),
        ("2001:db8::/20", ["2001:db8::1", "2001:fff::1", "2001:0::1"]),  # marked
        ("2000::/16", ["2000::1", "2000:ffff::1"]),  # probed everywhere
        ("::/0", ["::1", "ffff::1"]),
    ],
)
def test_wide_entries_cover_their_whole_range(network: str, reach: list[str]) -> None:
    index = IpIndex.build([("wide", network, "ban"), ("other", "192.0.2.1", "ban")])
    for ip in reach:
        assert index.lookup_kind(ip, "ban").entry_id == "wide", ip  # type: ignore[union-attr]
    index.add("late", network, "allow")  # the incremental path marks the same cells
    for ip in reach:
        assert ids_of(index.lookup(ip)) == ["late", "wide"], ip
    outside = "40.0.0.1" if ":" not in network else "3000::1"
    if not network.endswith("/0"):
        assert index.lookup(outside) == []


def test_many_removals_redraw_the_grid_and_keep_answers_right() -> None:
    index = IpIndex()
    index.add("keep", "198.51.100.0/24", "ban")
    for n in range(6000):  # more removals than the redraw threshold
        address = f"10.{n // 256 % 256}.{n % 256}.1"
        index.add(f"t{n}", address, "ban")
        assert index.remove(f"t{n}")
    assert len(index) == 1
    assert index.lookup("10.0.5.1") == []
    assert ids_of(index.lookup("198.51.100.9")) == ["keep"]


@pytest.mark.parametrize(
    "ip", ["1.2.3.999", "", "192.0.2.1/32", " 192.0.2.1", "fe80::1%eth0", "host.example", "1.2.3.4\x00"]
)
def test_lookups_refuse_what_is_not_an_address(ip: str) -> None:
    index = IpIndex.build([("d1", "192.0.2.0/24", "ban")])
    with pytest.raises(InvalidInputError, match="is not an IP address"):
        index.lookup(ip)
    with pytest.raises(InvalidInputError, match="is not an IP address"):
        index.lookup_kind(ip, "ban")


@pytest.mark.parametrize("ip", [None, 3232235521, b"192.0.2.1"])
def test_lookups_refuse_non_text(ip: object) -> None:
    index = IpIndex()
    with pytest.raises(InvalidInputError, match="is not an IP address"):
        index.lookup(ip)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="is not an IP address"):
        index.lookup_kind(ip, "ban")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (("d1", "192.0.2.999", "ban"), "'192.0.2.999' is not an IP address, CIDR or range"),
        (("d1", "192.0.2.1-192.0.2.4", "ban"), "covers 3 CIDR blocks"),
        (("d1", "192.0.2.0/33", "ban"), "is not an IP address, CIDR or range"),
        (("d1", "fe80::1%eth0", "ban"), "zone id"),
        (("d1", 3232235521, "ban"), "3232235521 is not an IP network"),
        (("", "192.0.2.1", "ban"), "entry id must be a non-empty string"),
        ((7, "192.0.2.1", "ban"), "entry id must be a non-empty string, got 7"),
        (("d1", "192.0.2.1", ""), "kind must be a non-empty string"),
        (("d1", "192.0.2.1", None), "kind must be a non-empty string, got None"),
    ],
)
def test_bad_entries_are_refused_and_leave_the_index_unchanged(entry: tuple, message: str) -> None:
    index = IpIndex.build([("keep", "192.0.2.0/24", "ban")])
    with pytest.raises(InvalidInputError) as caught:
        index.add(*entry)
    assert message in caught.value.message
    with pytest.raises(InvalidInputError):
        IpIndex.build([entry])
    assert len(index) == 1
    assert ids_of(index.lookup("192.0.2.1")) == ["keep"]


# --- properties against a brute-force ipaddress check ------------------------------------------------------

KINDS = ("ban", "allow")
# Addresses crowd into a few blocks so that random entries nest, share networks and catch random lookups.
V4_BLOCKS = (0xC6336400, 0x0A000000, 0xFFFFF000)  # 198.51.100.0, 10.0.0.0, 255.255.240.0
V6_BLOCKS = (0x20010DB8 << 96, 0xFFFF << 32, 0)  # 2001:db8::, ::ffff:0:0 (mapped), ::


@st.composite
def addresses(draw: st.DrawFn) -> str:
    if draw(st.booleans()):
        offset = draw(st.integers(0, 2**13)) << draw(st.sampled_from([0, 8]))
        return str(IPv4Address((draw(st.sampled_from(V4_BLOCKS)) + offset) % 2**32))
    value = draw(st.sampled_from(V6_BLOCKS)) + draw(st.integers(0, 2**40)) * draw(st.sampled_from([1, 2**60]))
    return str(IPv6Address(value % 2**128))


@st.composite
def networks(draw: st.DrawFn) -> str:
    address = draw(addresses())
    bits = 128 if ":" in address else 32
    prefixlen = draw(st.one_of(st.integers(bits - 16, bits), st.integers(0, bits)))
    return f"{address}/{prefixlen}"


entries_strategy = st.lists(st.tuples(networks(), st.sampled_from(KINDS)), max_size=40).map(
    lambda rows: [(f"e{n}", network, kind) for n, (network, kind) in enumerate(rows)]
)


def brute_force(entries: list[tuple[str, str, str]], ip: str) -> list[str]:
    """Every entry containing `ip`, by plain `ipaddress` membership, ordered as `lookup` promises."""
    address = ipaddress.ip_address(ip)
    if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    found = []
    for order, (entry_id, text, kind) in enumerate(entries):
        network = parse_network(text)
        if network.version == address.version and address in network:
            found.append((-network.prefixlen, kind, order, entry_id))
    return [entry_id for *_, entry_id in sorted(found)]


@settings(max_examples=150, deadline=None)
@given(entries=entries_strategy, probes=st.lists(addresses(), min_size=1, max_size=20))
def test_lookup_agrees_with_brute_force(entries: list[tuple[str, str, str]], probes: list[str]) -> None:
    index = IpIndex.build(entries)
    kind_of = {entry_id: kind for entry_id, _, kind in entries}
    network_of = {entry_id: parse_network(text) for entry_id, text, _ in entries}
    # Probe the entries' own first and last addresses too: the edges are where off-by-one errors live.
    edges = [str(n.network_address) for n in network_of.values()] + [
        str(n.broadcast_address) for n in network_of.values()
    ]
    for ip in probes + edges:
        expected = brute_force(entries, ip)
        assert ids_of(index.lookup(ip)) == expected, ip
        for kind in KINDS:
            match = index.lookup_kind(ip, kind)
            of_kind = [entry_id for entry_id in expected if kind_of[entry_id] == kind]
            assert (match.entry_id if match else None) == (of_kind[0] if of_kind else None), (ip, kind)
            if match:
                assert match.network == network_of[match.entry_id]


@settings(max_examples=100, deadline=None)
@given(entries=entries_strategy, probes=st.lists(addresses(), min_size=1, max_size=20))
def test_build_and_repeated_add_give_the_same_answers(entries: list[tuple[str, str, str]], probes: list[str]) -> None:
    built = IpIndex.build(entries)
    added = IpIndex()
    for entry in entries:
        added.add(*entry)
    assert len(built) == len(added) == len(entries)
    for ip in probes + [text.split("/")[0] for _, text, _ in entries]:
        assert built.lookup(ip) == added.lookup(ip)


@settings(max_examples=100, deadline=None)
@given(base=entries_strategy, extra=entries_strategy, probes=st.lists(addresses(), min_size=1, max_size=20))
def test_add_then_remove_leaves_no_trace(
    base: list[tuple[str, str, str]], extra: list[tuple[str, str, str]], probes: list[str]
) -> None:
    index = IpIndex.build(base)
    before = {ip: index.lookup(ip) for ip in probes}
    tables_before = {v: dict(f.tables) for v, f in ((4, index._v4), (6, index._v6))}
    extra = [(f"x{entry_id}", network, kind) for entry_id, network, kind in extra]
    for entry in extra:
        index.add(*entry)
    for entry_id, _, _ in reversed(extra):
        assert index.remove(entry_id)
    assert len(index) == len(base)
    assert {ip: index.lookup(ip) for ip in probes} == before
    assert {v: dict(f.tables) for v, f in ((4, index._v4), (6, index._v6))} == tables_before  # no empty tables


# --- the benchmark script, run small -----------------------------------------------------------------------


def test_benchmark_data_is_seeded_and_half_hits() -> None:
    rows, queries = index_bench.generate(400, 400, seed=3)
    assert index_bench.generate(400, 400, seed=3) == (rows, queries)
    assert len(rows) == 400
    assert len(queries) == 400
    index = IpIndex.build(rows)
    hits = sum(bool(index.lookup(ip)) for ip in queries)
    assert hits == 200  # the first half sits inside an entry, the rest outside every entry
    assert any(":" in network for _, network, _ in rows)
    assert {kind for *_, kind in rows} == {"ban", "allow"}


def test_benchmark_runs_small_and_reports_agreement(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "index.md"
    code = index_bench.main(
        ["--entries", "300", "--queries", "300", "--repeat", "1", "--sample", "300", "--out", str(out)]
    )
    assert code == 0
    report = out.read_text()
    assert report == capsys.readouterr().out
    assert "| Vigil `IpIndex` |" in report
    assert "| pytricia 1.3.0 |" in report
    assert "Agreement: 300 of 300 sampled lookups" in report
    assert "python -m bench.index_bench --entries 300" in report


def test_the_grid_widens_when_cell_codes_outgrow_16_bits(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(index_module, "_SHORT_CODES", 2)  # widen after three signatures, not 65,536
    index = IpIndex()
    index.add("a", "192.0.2.1", "ban")
    index.add("b", "198.51.100.0/24", "ban")
    index.add("c", "198.51.100.1", "allow")
    index.add("d", "203.0.113.0/28", "ban")  # a fourth signature: needs code 3
    assert index._v4.grid.typecode == "I"
    assert ids_of(index.lookup("198.51.100.1")) == ["c", "b"]
    assert ids_of(index.lookup("203.0.113.3")) == ["d"]
    assert ids_of(index.lookup("192.0.2.1")) == ["a"]
    rebuilt = IpIndex.build(
        [("a", "192.0.2.1", "ban"), ("b", "198.51.100.0/24", "ban"), ("d", "203.0.113.0/28", "ban")]
    )
    assert rebuilt._v4.grid.typecode == "I"
    assert ids_of(rebuilt.lookup("203.0.113.3")) == ["d"]
