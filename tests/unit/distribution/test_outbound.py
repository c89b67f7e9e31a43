"""The outbound-URL rules: which webhook URLs Vigil may call, checked with a fake resolver (no network)."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.distribution.connectors.base import TargetConfigurationError, TargetError
from chalicelib.distribution.outbound import address_refusal, check_url, resolve_url


def resolver_for(*addresses: str):
    def resolve(host: str, port: int) -> list[str]:
        return list(addresses)

    return resolve


PUBLIC = resolver_for("93.184.215.14")


@pytest.mark.parametrize(
    "url",
    [
        "https://hooks.example.com/vigil",
        "https://hooks.example.com:8443/vigil?tenant=a",
        "https://hooks.example.com:443/",
        "https://93.184.215.14/hook",
        "https://[2606:2800:21f:cb07:6820:80da:af6b:8b2c]/hook",
    ],
)
def test_public_https_urls_pass(url: str) -> None:
    check_url(url, allow_private=False, resolver=PUBLIC)


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://hooks.example.com/", "plain http"),
        ("ftp://hooks.example.com/", "only https"),
        ("https://user:secret@hooks.example.com/", "user-info"),
        ("https://hooks.example.com@evil.example.com/", "user-info"),
        ("https://hooks.example.com:22/", "port 22"),
        ("https://hooks.example.com:25/", "port 25"),
        ("https://hooks.example.com:99999/", "port"),
        ("https:///path-only", "no host"),
        ("https://hooks.example.com/#frag", "fragments"),
        ("https://hooks.example.com/a b", "spaces"),
        ("https://hooks.example.com/\r\nX-Injected: 1", "control"),
    ],
)
def test_malformed_or_dangerous_urls_are_refused(url: str, why: str) -> None:
    with pytest.raises(TargetConfigurationError, match=why):
        check_url(url, allow_private=False, resolver=PUBLIC)


@pytest.mark.parametrize(
    ("address", "allow_private", "why"),
    [
        ("169.254.169.254", True, "link-local"),  # the instance metadata service, even for private targets
        ("fd00:ec2::254", True, "link-local"),  # its IPv6 address
        ("fe80::1", True, "link-local"),
        ("0.0.0.0", True, "unspecified"),
        ("::", True, "unspecified"),
        ("224.0.0.1", True, "multicast"),
        ("255.255.255.255", True, "broadcast"),
        ("240.0.0.1", True, "reserved"),
        ("127.0.0.1", True, "loopback"),  # loopback needs the deployment flag, not the target setting
        ("::1", True, "loopback"),
        ("::ffff:127.0.0.1", True, "loopback"),  # IPv4-mapped
        ("2002:7f00:1::", True, "loopback"),  # 6to4 around 127.0.0.1
        ("64:ff9b::a9fe:a9fe", True, "link-local"),  # NAT64 around 169.254.169.254
        ("10.1.2.3", False, "private"),
        ("192.168.1.10", False, "private"),
        ("172.16.0.1", False, "private"),
        ("fc00::1", False, "private"),
        ("100.64.0.1", False, "shared"),
        ("192.0.2.1", False, "private or non-routable"),  # documentation range
    ],
)
def test_addresses_that_are_refused(address: str, allow_private: bool, why: str) -> None:
    with pytest.raises(TargetConfigurationError, match=why):
        check_url("https://hooks.example.com/", allow_private=allow_private, resolver=resolver_for(address))


@pytest.mark.parametrize("address", ["10.1.2.3", "192.168.1.10", "fd12:3456::1", "100.64.0.1"])
def test_private_addresses_pass_when_the_target_allows_them(address: str) -> None:
    check_url("http://receiver.internal:8080/hook", allow_private=True, resolver=resolver_for(address))


def test_loopback_passes_only_with_the_deployment_flag() -> None:
    loopback = resolver_for("127.0.0.1")
    with pytest.raises(TargetConfigurationError):
        check_url("http://localhost:8080/", allow_private=True, resolver=loopback)
    check_url("http://localhost:8080/", allow_private=True, allow_loopback=True, resolver=loopback)


def test_every_resolved_address_must_pass_not_only_the_first() -> None:
    with pytest.raises(TargetConfigurationError, match=r"169\.254\.169\.254"):
        check_url(
            "https://hooks.example.com/", allow_private=False, resolver=resolver_for("93.184.215.14", "169.254.169.254")
        )


def test_literal_addresses_are_not_resolved() -> None:
    def fail(host: str, port: int) -> list[str]:
        raise AssertionError("a literal must not be looked up")

    with pytest.raises(TargetConfigurationError, match="link-local"):
        check_url("https://169.254.169.254/latest/meta-data/", allow_private=True, resolver=fail)


def test_a_failed_lookup_is_retryable() -> None:
    def fail(host: str, port: int) -> list[str]:
        raise OSError("temporary failure in name resolution")

    with pytest.raises(TargetError, match="resolve"):
        check_url("https://hooks.example.com/", allow_private=False, resolver=fail)


def test_the_checked_url_pins_the_address_and_keeps_the_name() -> None:
    checked = resolve_url(
        "https://hooks.example.com:8443/v1/hook?x=1", allow_private=False, resolver=resolver_for("2606:2800::1")
    )

    assert checked.pinned("2606:2800::1") == "https://[2606:2800::1]:8443/v1/hook?x=1"
    assert checked.host_header == "hooks.example.com:8443"
    assert checked.addresses == ("2606:2800::1",)


@given(st.ip_addresses(v=4, network="10.0.0.0/8") | st.ip_addresses(v=4, network="192.168.0.0/16"))
def test_no_rfc1918_address_passes_without_allow_private(address: ipaddress.IPv4Address) -> None:
    assert address_refusal(address, allow_private=False) is not None


@given(st.ip_addresses(v=4, network="127.0.0.0/8"))
def test_no_loopback_address_passes_mapped_into_ipv6(address: ipaddress.IPv4Address) -> None:
    mapped = ipaddress.IPv6Address(f"::ffff:{address}")
    assert address_refusal(mapped, allow_private=True) is not None


def test_international_names_are_checked_and_sent_in_their_ascii_form() -> None:
    looked_up: list[str] = []

    def resolve(host: str, port: int) -> list[str]:
        looked_up.append(host)
        return ["93.184.215.14"]

    checked = resolve_url("https://bücher.example/hook", allow_private=False, resolver=resolve)

    assert looked_up == ["xn--bcher-kva.example"]
    assert checked.host_header == "xn--bcher-kva.example"
