"""The SSH connectors' pure parts: scripts, names, timeouts, keys, and the parsing of what the host prints.

The nft and ipset samples below are written from outputs observed with nft 1.0.6 and ipset 7.17.
"""

from __future__ import annotations

import ipaddress
from datetime import timedelta

import paramiko
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from chalicelib.core.clock import FixedClock
from chalicelib.distribution.connectors.base import Entry, TargetConfigurationError
from chalicelib.distribution.connectors.ssh import (
    Holdings,
    IpsetNames,
    NftNames,
    allowed,
    host_and_port,
    ipset_names,
    ipset_restore_script,
    load_host_key,
    load_private_key,
    nft_apply_script,
    nft_names,
    nft_setup_script,
    parse_ipset_save,
    parse_nft_set,
    seconds_left,
    split_entries,
)

N = ipaddress.ip_network

NFT_SAMPLE = """{"nftables": [{"metainfo": {"version": "1.0.6", "release_name": "Lester Gooch #5",
"json_schema_version": 1}}, {"set": {"family": "inet", "name": "vigil4", "table": "vigil", "type": "ipv4_addr",
"handle": 1, "flags": ["interval", "timeout"], "elem": ["192.0.2.1", {"prefix": {"addr": "198.51.100.0",
"len": 24}}, {"elem": {"val": "203.0.113.7", "timeout": 3600, "expires": 3599}}, {"range": ["10.5.0.1",
"10.5.0.2"]}, {"elem": {"val": {"prefix": {"addr": "10.1.0.0", "len": 24}}, "timeout": 60, "expires": 59}}]}}]}"""
IPSET_SAMPLE = (
    "create vigil4 hash:net family inet hashsize 1024 maxelem 65536 timeout 0 bucketsize 12 initval 0x8239635a\n"
    """add vigil4 198.51.100.0/24 timeout 0
add vigil4 203.0.113.7 timeout 3600
add other 192.0.2.9 timeout 0
"""
)


def test_nft_script_is_one_transaction_with_deletions_before_additions() -> None:
    script = nft_apply_script(
        NftNames(),
        {N("203.0.113.7/32"): 3600, N("198.51.100.0/24"): None, N("2001:db8::/48"): 60},
        [N("192.0.2.1/32"), N("2001:db8:1::1/128")],
    )

    assert script == (
        "add table inet vigil\n"
        "add set inet vigil vigil4 { type ipv4_addr; flags interval, timeout; auto-merge; }\n"
        "add set inet vigil vigil6 { type ipv6_addr; flags interval, timeout; auto-merge; }\n"
        "delete element inet vigil vigil4 { 192.0.2.1/32 }\n"
        "delete element inet vigil vigil6 { 2001:db8:1::1/128 }\n"
        "add element inet vigil vigil4 { 198.51.100.0/24, 203.0.113.7/32 timeout 3600s }\n"
        "add element inet vigil vigil6 { 2001:db8::/48 timeout 60s }\n"
    )


def test_nft_script_splits_long_element_lists_into_lines_of_one_transaction() -> None:
    adds = {N(f"10.0.{i // 256}.{i % 256}/32"): None for i in range(2500)}

    lines = nft_apply_script(NftNames(), adds, []).splitlines()

    assert [len(line.split(", ")) for line in lines[3:]] == [1000, 1000, 500]


def test_nft_setup_declares_chains_that_drop_both_sets() -> None:
    script = nft_setup_script(NftNames("fw", "bad4", "bad6"), ["input"])

    assert script.splitlines()[3:] == [
        "add chain inet fw input { type filter hook input priority -10; policy accept; }",
        "flush chain inet fw input",
        "add rule inet fw input ip saddr @bad4 drop",
        "add rule inet fw input ip6 saddr @bad6 drop",
    ]


def test_ipset_script_creates_then_deletes_then_adds() -> None:
    script = ipset_restore_script(
        IpsetNames(maxelem=1000), {N("203.0.113.7/32"): 3600, N("198.51.100.0/24"): None}, [N("2001:db8::/48")]
    )

    assert script == (
        "create vigil4 hash:net family inet timeout 0 maxelem 1000\n"
        "create vigil6 hash:net family inet6 timeout 0 maxelem 1000\n"
        "del vigil6 2001:db8::/48\n"
        "add vigil4 198.51.100.0/24 timeout 0\n"
        "add vigil4 203.0.113.7/32 timeout 3600\n"
    )


@pytest.mark.parametrize(
    "value",
    ["vigil; nft flush ruleset", "vigil$(reboot)", "1vigil", "a" * 33, "vig il", "vigil\n", "víg"],
)
def test_names_that_could_change_a_command_are_refused(value: str) -> None:
    with pytest.raises(TargetConfigurationError):
        nft_names({"table": value})
    with pytest.raises(TargetConfigurationError):
        ipset_names({"set4": value})


def test_only_the_four_commands_are_allowed() -> None:
    assert allowed("nft -f -")
    assert allowed("nft -j list set inet vigil vigil4")
    assert allowed("ipset restore -exist")
    assert allowed("ipset save vigil6")
    for command in [
        "nft flush ruleset",
        "nft -f /etc/passwd",
        "ipset destroy vigil4",
        "sh -c 'nft -f -'",
        "nft -j list set inet vigil vigil4; reboot",
        "ipset save vigil4 && reboot",
    ]:
        assert not allowed(command)


def test_seconds_left_rounds_up_caps_and_knows_permanent_and_past() -> None:
    now = FixedClock("2026-11-24T10:00:00Z").now()

    assert seconds_left(Entry("192.0.2.1/32"), now, 100) is None
    assert seconds_left(Entry("192.0.2.1/32", now + timedelta(seconds=10.2)), now, 100) == 11
    assert seconds_left(Entry("192.0.2.1/32", now + timedelta(days=400)), now, 100) == 100
    assert seconds_left(Entry("192.0.2.1/32", now - timedelta(seconds=1)), now, 100) == 0


def test_entries_are_parsed_once_and_zero_prefixes_refused() -> None:
    kept, refused = split_entries([Entry("192.0.2.1/32"), Entry("0.0.0.0/0"), Entry("nonsense"), Entry("::/0")])

    assert list(kept) == [N("192.0.2.1/32")]
    assert refused == ["0.0.0.0/0", "nonsense", "::/0"]


def test_nft_listing_is_read_with_prefixes_ranges_and_timeouts() -> None:
    held = Holdings(parse_nft_set(NFT_SAMPLE))

    assert held.cidrs() == {
        "192.0.2.1/32",
        "198.51.100.0/24",
        "203.0.113.7/32",
        "10.5.0.1/32",
        "10.5.0.2/32",
        "10.1.0.0/24",
    }
    assert held.exact(N("198.51.100.0/24")) and not held.exact(N("198.51.100.7/32"))
    assert held.covers(N("198.51.100.7/32")) and not held.covers(N("198.51.101.0/32"))
    assert not held.exact(N("10.5.0.1/32")) and held.covers(N("10.5.0.1/32"))  # part of a merged range
    assert {e.timeout for e in held.elements} == {None, 3600, 60}


def test_an_empty_nft_set_has_no_elements() -> None:
    empty = '{"nftables": [{"metainfo": {}}, {"set": {"name": "vigil6", "type": "ipv6_addr"}}]}'
    assert parse_nft_set(empty) == []


def test_ipset_save_is_read_for_the_named_set_only() -> None:
    held = Holdings(parse_ipset_save(IPSET_SAMPLE, "vigil4"))

    assert held.cidrs() == {"198.51.100.0/24", "203.0.113.7/32"}
    assert sorted((e.timeout or 0) for e in held.elements) == [0, 3600]


def _private_texts() -> list[tuple[str, str]]:
    ed = ed25519.Ed25519PrivateKey.generate()
    ecdsa = ec.generate_private_key(ec.SECP256R1())
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    enc, fmt, none = serialization.Encoding.PEM, serialization.PrivateFormat, serialization.NoEncryption()
    return [
        ("ssh-ed25519", ed.private_bytes(enc, fmt.OpenSSH, none).decode()),
        ("ssh-ed25519", ed.private_bytes(enc, fmt.PKCS8, none).decode()),
        ("ecdsa-sha2-nistp256", ecdsa.private_bytes(enc, fmt.OpenSSH, none).decode()),
        ("ecdsa-sha2-nistp256", ecdsa.private_bytes(enc, fmt.TraditionalOpenSSL, none).decode()),
        ("ssh-rsa", rsa_key.private_bytes(enc, fmt.PKCS8, none).decode()),
        ("ssh-rsa", rsa_key.private_bytes(enc, fmt.TraditionalOpenSSL, none).decode()),
    ]


@pytest.mark.parametrize(("kind", "text"), _private_texts())
def test_private_keys_load_in_every_usual_format(kind: str, text: str) -> None:
    assert load_private_key(text).get_name() == kind


def test_encrypted_or_broken_private_keys_are_refused_without_echoing_them() -> None:
    encrypted = (
        ed25519.Ed25519PrivateKey.generate()
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.OpenSSH,
            serialization.BestAvailableEncryption(b"passphrase"),
        )
        .decode()
    )
    for text in (encrypted, "-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----", ""):
        with pytest.raises(TargetConfigurationError) as raised:
            load_private_key(text)
        assert "AAAA" not in str(raised.value) and raised.value.__cause__ is None


def test_host_keys_load_from_an_openssh_line_or_a_known_hosts_line() -> None:
    key = paramiko.ECDSAKey.generate()
    line = f"{key.get_name()} {key.get_base64()}"

    assert load_host_key(line) == key
    assert load_host_key(f"[192.0.2.1]:2222 {line} root@fw") == key
    for bad in ("", "ssh-ed25519", f"ssh-ed25519 {key.get_base64()}", "ssh-ed25519 !!!"):
        with pytest.raises(TargetConfigurationError):
            load_host_key(bad)


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("fw.example", ("fw.example", 22)),
        ("192.0.2.1:2222", ("192.0.2.1", 2222)),
        ("[2001:db8::1]:22", ("2001:db8::1", 22)),
    ],
)
def test_host_and_port(address: str, expected: tuple[str, int]) -> None:
    assert host_and_port(address) == expected


@pytest.mark.parametrize("address", ["", "fw:ssh", "fw:0", "[2001:db8::1]:70000"])
def test_bad_addresses_are_refused(address: str) -> None:
    with pytest.raises(TargetConfigurationError):
        host_and_port(address)
