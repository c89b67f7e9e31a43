"""Addresses, CIDRs and ranges: parsing, normalising, display, the ban safety rules and the hot-path parser."""

from __future__ import annotations

import dataclasses
import ipaddress
import itertools
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from chalicelib.core.errors import ConfigurationError, InvalidInputError
from chalicelib.decisions.addresses import (
    SafetyPolicy,
    check_bannable,
    display,
    ip_to_int,
    normalise,
    parse_network,
    parse_target,
)

# --- parse_target ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("192.0.2.7", ["192.0.2.7/32"]),
        ("  192.0.2.7\n", ["192.0.2.7/32"]),
        ("2001:db8::1", ["2001:db8::1/128"]),
        ("2001:0DB8:0000::0001", ["2001:db8::1/128"]),
        ("198.51.100.0/24", ["198.51.100.0/24"]),
        ("198.51.100.77/24", ["198.51.100.0/24"]),  # host bits cleared
        ("198.51.100.77/255.255.255.0", ["198.51.100.0/24"]),  # netmask form
        ("2001:db8:1:2::9/48", ["2001:db8:1::/48"]),
        ("192.0.2.0-192.0.2.255", ["192.0.2.0/24"]),
        ("192.0.2.10 - 192.0.2.20", ["192.0.2.10/31", "192.0.2.12/30", "192.0.2.16/30", "192.0.2.20/32"]),
        ("192.0.2.5-192.0.2.5", ["192.0.2.5/32"]),
        ("2001:db8::-2001:db8::ffff", ["2001:db8::/112"]),
        ("::ffff:203.0.113.9", ["203.0.113.9/32"]),  # IPv4-mapped IPv6 is the IPv4 address
        ("::ffff:203.0.113.0/120", ["203.0.113.0/24"]),
        ("::ffff:203.0.113.1-203.0.113.2", ["203.0.113.1/32", "203.0.113.2/32"]),
        ("::ffff:0:0/95", ["::fffe:0:0/95"]),  # wider than the mapped block: stays IPv6
    ],
)
def test_parse_target_accepts_addresses_cidrs_and_ranges(text: str, expected: list[str]) -> None:
    assert [str(n) for n in parse_target(text)] == expected


def test_parse_target_returns_ipaddress_networks_of_the_right_family() -> None:
    assert parse_target("192.0.2.1") == [IPv4Network("192.0.2.1/32")]
    assert parse_target("2001:db8::1") == [IPv6Network("2001:db8::1/128")]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("1.2.3.999", "'1.2.3.999' is not an IP address, CIDR or range"),
        ("1.2.3", "'1.2.3' is not an IP address, CIDR or range"),
        ("01.2.3.4", "'01.2.3.4' is not an IP address, CIDR or range"),
        ("example.com", "'example.com' is not an IP address, CIDR or range"),
        ("192.0.2.0/33", "'192.0.2.0/33' is not an IP address, CIDR or range"),
        ("192.0.2.0/", "'192.0.2.0/' is not an IP address, CIDR or range"),
        ("192.0.2.0 / 24", "'192.0.2.0 / 24' is not an IP address, CIDR or range"),
        ("2001:db8::/129", "'2001:db8::/129' is not an IP address, CIDR or range"),
        ("192.0.2.1-192.0.2.2-192.0.2.3", "is not an IP address, CIDR or range"),
        ("-192.0.2.1", "'-192.0.2.1' is not an IP address, CIDR or range"),
        ("192.0.2.1-", "'192.0.2.1-' is not an IP address, CIDR or range"),
        ("192.0.2.0/24-192.0.2.255", "'192.0.2.0/24-192.0.2.255' is not an IP address, CIDR or range"),
        ("192.0.2.9-192.0.2.1", "'192.0.2.9-192.0.2.1' is not a range: 192.0.2.9 comes after 192.0.2.1"),
        ("192.0.2.1-2001:db8::1", "'192.0.2.1-2001:db8::1' is not a range: it mixes IPv4 and IPv6"),
        ("fe80::1%eth0", "'fe80::1%eth0' has a zone id"),
        ("fe80::1%eth0/64", "zone ids cannot be banned"),
        ("", "an IP address, CIDR or range is required"),
        ("   ", "an IP address, CIDR or range is required"),
    ],
)
def test_parse_target_refuses_bad_input_naming_it(text: str, message: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        parse_target(text)
    assert message in caught.value.message
    assert caught.value.code == "VALIDATION_ERROR"


@pytest.mark.parametrize("value", [None, 3232235521, b"192.0.2.1", ["192.0.2.1"]])
def test_parse_target_refuses_non_text(value: object) -> None:
    with pytest.raises(InvalidInputError, match="is not an IP address, CIDR or range"):
        parse_target(value)  # type: ignore[arg-type]


@given(st.data())
def test_range_becomes_cidrs_that_cover_exactly_the_range(data: st.DataObject) -> None:
    bits = data.draw(st.sampled_from([32, 128]))
    make = IPv4Address if bits == 32 else IPv6Address
    first = data.draw(st.integers(0, 2**bits - 1))
    span = data.draw(st.sampled_from([0, 1, 300, 2**40, 2**bits]))
    last = data.draw(st.integers(first, min(first + span, 2**bits - 1)))
    assume(bits == 32 or (first >> 32 != 0xFFFF and last >> 32 != 0xFFFF))  # a mapped end reads as IPv4
    networks = parse_target(f"{make(first)} - {make(last)}")
    assert int(networks[0].network_address) == first
    assert int(networks[-1].broadcast_address) == last
    for before, after in itertools.pairwise(networks):
        assert int(before.broadcast_address) + 1 == int(after.network_address)  # no gap, no overlap
    assert len(networks) == len(list(ipaddress.summarize_address_range(make(first), make(last))))


# --- parse_network, normalise, display ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("192.0.2.7", "192.0.2.7/32"),
        ("198.51.100.77/24", "198.51.100.0/24"),
        ("2001:DB8:0:0:0:0:0:1/32", "2001:db8::/32"),
        ("2001:db8::1", "2001:db8::1/128"),
        ("10.0.0.0-10.0.0.255", "10.0.0.0/24"),  # a range that is one CIDR
        ("::ffff:192.0.2.1", "192.0.2.1/32"),
    ],
)
def test_normalise_gives_compressed_cidr_text(text: str, expected: str) -> None:
    assert normalise(text) == expected


def test_normalise_refuses_a_range_that_needs_several_cidrs() -> None:
    with pytest.raises(InvalidInputError, match=r"covers 3 CIDR blocks \(192.0.2.1/32, 192.0.2.2/31, 192.0.2.4/32\)"):
        normalise("192.0.2.1-192.0.2.4")


def test_parse_network_lists_only_the_first_blocks_of_a_long_range() -> None:
    with pytest.raises(
        InvalidInputError,
        match=r"covers 30 CIDR blocks \(10\.0\.0\.1/32, 10\.0\.0\.2/31, 10\.0\.0\.4/30, \.\.\.\); give one",
    ):
        parse_network("10.0.0.1-10.0.255.254")


@st.composite
def network_texts(draw: st.DrawFn) -> str:
    bits = draw(st.sampled_from([32, 128]))
    value = draw(st.integers(0, 2**bits - 1))
    address = IPv4Address(value) if bits == 32 else IPv6Address(value)
    style = draw(st.sampled_from(["bare", "cidr", "padded"]))
    if style == "bare":
        return str(address)
    text = f"{address}/{draw(st.integers(0, bits))}"  # host bits usually set
    return f"  {text} " if style == "padded" else text


@given(network_texts())
def test_normalise_is_idempotent(text: str) -> None:
    once = normalise(text)
    assert normalise(once) == once
    assert ipaddress.ip_network(once) == parse_network(text)


@pytest.mark.parametrize(
    ("network", "expected"),
    [
        (IPv4Network("192.0.2.7/32"), "192.0.2.7"),
        (IPv6Network("2001:db8::7/128"), "2001:db8::7"),
        (IPv4Network("192.0.2.0/24"), "192.0.2.0/24"),
        (IPv6Network("2001:db8::/48"), "2001:db8::/48"),
    ],
)
def test_display_shows_hosts_bare_and_networks_as_cidr(network: IPv4Network | IPv6Network, expected: str) -> None:
    assert display(network) == expected


# --- check_bannable ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        ("127.0.0.1", "loopback"),
        ("127.255.0.0/16", "loopback"),
        ("0.0.0.0", "unspecified"),
        ("0.1.2.3", "unspecified"),
        ("169.254.169.254", "link-local"),
        ("224.0.0.251", "multicast"),
        ("239.0.0.0/8", "multicast"),
        ("240.0.0.1", "reserved"),
        ("255.255.255.255", "reserved"),
        ("96.0.0.0/3", "loopback"),  # a forced broad range that swallows 127.0.0.0/8
        ("::1", "loopback"),
        ("::", "unspecified"),
        ("fe80::1", "link-local"),
        ("ff02::1", "multicast"),
        ("4000::1", "reserved"),
        ("fec0::1", "reserved"),
        ("100::1", "reserved"),
        ("::ffff:0:0/96", "reserved"),  # as text this block is all of IPv4, but as a network it is reserved
    ],
)
@pytest.mark.parametrize("force", [False, True])
def test_special_space_is_refused_even_with_force(text: str, rule: str, force: bool) -> None:
    network = ipaddress.ip_network(text)
    with pytest.raises(InvalidInputError) as caught:
        check_bannable(network, SafetyPolicy(), force=force)
    assert caught.value.code == "RESERVED_ADDRESS"
    assert caught.value.details["rule"] == rule
    assert f"(rule: {rule})" in caught.value.message
    assert "force does not override" in caught.value.message


@pytest.mark.parametrize("text", ["0.0.0.0/0", "::/0"])
@pytest.mark.parametrize("force", [False, True])
def test_the_whole_address_space_is_never_bannable(text: str, force: bool) -> None:
    with pytest.raises(InvalidInputError, match="can never be banned, even with force") as caught:
        check_bannable(ipaddress.ip_network(text), SafetyPolicy(), force=force)
    assert caught.value.code == "RANGE_TOO_BROAD"
    assert caught.value.details["rule"] == "whole_address_space"


@pytest.mark.parametrize(
    ("text", "rule", "limit"),
    [("8.0.0.0/7", "max_prefix_v4", 8), ("2001:db8::/31", "max_prefix_v6", 32), ("fc00::/7", "max_prefix_v6", 32)],
)
def test_ranges_broader_than_the_policy_need_force(text: str, rule: str, limit: int) -> None:
    network = ipaddress.ip_network(text)
    with pytest.raises(InvalidInputError, match=f"broader than /{limit}.*pass force") as caught:
        check_bannable(network, SafetyPolicy())
    assert caught.value.code == "RANGE_TOO_BROAD"
    assert caught.value.details == {"rule": rule, "network": text, "limit": limit}
    check_bannable(network, SafetyPolicy(), force=True)  # force lifts this rule


@pytest.mark.parametrize(
    "text",
    [
        "198.51.100.7",
        "8.0.0.0/8",  # exactly the policy limit
        "10.0.0.0/8",  # private space is allowed: internal attackers exist
        "192.168.1.20",
        "172.16.0.0/12",
        "100.64.0.0/10",
        "2001:db8::/32",
        "2001:db8::1",
        "fd12:3456::1",  # unique local
        "::ffff:198.51.100.7",  # mapped, parsed as IPv4
    ],
)
def test_ordinary_targets_are_bannable(text: str) -> None:
    (network,) = parse_target(text)
    check_bannable(network)


def test_a_stricter_policy_refuses_what_the_default_allows() -> None:
    policy = SafetyPolicy(max_prefix_v4=16, max_prefix_v6=48)
    with pytest.raises(InvalidInputError, match="broader than /16"):
        check_bannable(IPv4Network("10.0.0.0/12"), policy)
    with pytest.raises(InvalidInputError, match="broader than /48"):
        check_bannable(IPv6Network("2001:db8::/40"), policy)
    check_bannable(IPv4Network("10.0.0.0/16"), policy)


@pytest.mark.parametrize(("field", "value"), [("max_prefix_v4", 0), ("max_prefix_v4", 33), ("max_prefix_v6", 129)])
def test_safety_policy_refuses_impossible_limits(field: str, value: int) -> None:
    with pytest.raises(ConfigurationError, match=field):
        SafetyPolicy(**{field: value})


def test_safety_policy_is_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        SafetyPolicy().max_prefix_v4 = 1  # type: ignore[misc]


# --- ip_to_int ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("192.0.2.1", (4, 0xC0000201)),
        ("0.0.0.0", (4, 0)),
        ("255.255.255.255", (4, 2**32 - 1)),
        ("2001:db8::1", (6, 0x20010DB8 << 96 | 1)),
        ("::", (6, 0)),
        ("::ffff:192.0.2.1", (4, 0xC0000201)),
    ],
)
def test_ip_to_int(text: str, expected: tuple[int, int]) -> None:
    assert ip_to_int(text) == expected


@pytest.mark.parametrize("text", ["", "1.2.3", "01.2.3.4", " 192.0.2.1", "192.0.2.1/32", "fe80::1%eth0", "1.2.3.4\x00"])
def test_ip_to_int_refuses_what_is_not_one_address(text: str) -> None:
    with pytest.raises(InvalidInputError, match="is not an IP address"):
        ip_to_int(text)


def test_ip_to_int_refuses_non_text() -> None:
    with pytest.raises(InvalidInputError, match="None is not an IP address"):
        ip_to_int(None)  # type: ignore[arg-type]


@given(st.one_of(st.integers(0, 2**32 - 1).map(IPv4Address), st.integers(0, 2**128 - 1).map(IPv6Address)))
def test_ip_to_int_agrees_with_ipaddress(address: IPv4Address | IPv6Address) -> None:
    mapped = address.ipv4_mapped if isinstance(address, IPv6Address) else None
    expected = address if mapped is None else mapped
    assert ip_to_int(str(address)) == (expected.version, int(expected))
