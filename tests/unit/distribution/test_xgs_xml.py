"""The XGS connector's pure parts: host names, netmasks, XML requests and the reading of answers."""

from __future__ import annotations

import ipaddress
import ssl
import xml.etree.ElementTree as ET

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.distribution.connectors.base import Entry, TargetConfigurationError
from chalicelib.distribution.connectors.xgs import (
    _raise_for_login,
    _url,
    describe,
    group_element,
    host_name,
    iphost_element,
    network_of_name,
    parse_host,
    request_xml,
    ssl_context,
)

networks = st.builds(
    lambda address, length: ipaddress.IPv4Network((address, length), strict=False),
    st.ip_addresses(v=4),
    st.integers(min_value=1, max_value=32),
)


@pytest.mark.parametrize(
    ("network", "name"),
    [("203.0.113.7/32", "vigil-203.0.113.7"), ("198.51.100.0/24", "vigil-198.51.100.0-24")],
)
def test_host_names(network: str, name: str) -> None:
    assert host_name(ipaddress.IPv4Network(network)) == name
    assert network_of_name(name) == ipaddress.IPv4Network(network)


@given(networks)
def test_every_network_has_a_valid_name_that_reads_back(network: ipaddress.IPv4Network) -> None:
    name = host_name(network)
    assert len(name) <= 60 and "," not in name and name[0] not in "#,"
    assert network_of_name(name) == network


@pytest.mark.parametrize("name", ["office", "vigil-", "vigil-not-an-ip", "vigil-10.0.0.1-33", "VIGIL-10.0.0.1"])
def test_names_vigil_did_not_give_are_not_read_as_networks(name: str) -> None:
    assert network_of_name(name) is None


def test_a_network_host_carries_a_dotted_netmask() -> None:
    element = iphost_element(ipaddress.IPv4Network("198.51.100.0/22"), "vigil ssh")

    assert element.findtext("HostType") == "Network"
    assert element.findtext("IPAddress") == "198.51.100.0"
    assert element.findtext("Subnet") == "255.255.252.0"
    assert parse_host(element) == ("vigil-198.51.100.0-22", ipaddress.IPv4Network("198.51.100.0/22"))


def test_a_single_address_is_an_ip_host_without_subnet() -> None:
    element = iphost_element(ipaddress.IPv4Network("203.0.113.7/32"), "")

    assert (element.findtext("HostType"), element.find("Subnet"), element.find("Description")) == ("IP", None, None)


@given(st.text(), st.text())
def test_every_value_is_escaped(username: str, password: str) -> None:
    clean = "".join(ch for ch in username + password if ch.isprintable() and ch not in "\r")
    user, secret = clean[: len(clean) // 2], clean[len(clean) // 2 :]
    xml = request_xml(user, secret, group_element("G&<>\"'", ["a<b"], "d&d"))

    parsed = ET.fromstring(xml)  # noqa: S314 - our own output
    assert parsed.findtext("Login/Username") == user
    assert parsed.findtext("Login/Password") == secret
    assert parsed.findtext("IPHostGroup/Name") == "G&<>\"'"
    assert [h.text for h in parsed.iterfind("IPHostGroup/HostList/Host")] == ["a<b"]


def test_descriptions_are_printable_and_short() -> None:
    assert (
        describe(Entry("192.0.2.1/32", comment="ssh\x00\nbrute " + "x" * 400)) == ("vigil sshbrute " + "x" * 400)[:255]
    )


@pytest.mark.parametrize(
    ("answer", "match"),
    [
        ('<Response><Status code="534">not allowed</Status></Response>', "534"),
        ('<Response><Status code="532">disabled</Status></Response>', "532"),
        ("<Response><Login><status>Authentication Failure</status></Login></Response>", "password"),
    ],
)
def test_refusals_are_configuration_errors(answer: str, match: str) -> None:
    with pytest.raises(TargetConfigurationError, match=match):
        _raise_for_login(ET.fromstring(answer))  # noqa: S314


@pytest.mark.parametrize(
    ("address", "url"),
    [
        ("fw.example.net", "https://fw.example.net:4444/webconsole/APIController"),
        ("192.0.2.1:8443", "https://192.0.2.1:8443/webconsole/APIController"),
        ("[2001:db8::1]:4444", "https://[2001:db8::1]:4444/webconsole/APIController"),
    ],
)
def test_api_urls(address: str, url: str) -> None:
    assert _url(address) == url


@pytest.mark.parametrize("address", ["", "fw:abc", "[::1]:x", "fw:99999", "a:b:c", "fw/evil:4444"])
def test_bad_addresses_are_configuration_errors(address: str) -> None:
    with pytest.raises(TargetConfigurationError):
        _url(address)


def test_tls_is_verified_by_default_and_can_be_pinned_or_turned_off() -> None:
    assert ssl_context({}).verify_mode == ssl.CERT_REQUIRED
    assert ssl_context({"verify_tls": False}).verify_mode == ssl.CERT_NONE
    with pytest.raises(TargetConfigurationError, match="ca_pem"):
        ssl_context({"ca_pem": "not a certificate"})
