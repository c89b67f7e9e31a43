"""IP addresses, CIDRs and ranges: parsed once at the boundary, checked before a ban ships.

Every decision targets one network. Callers hand us what people type (`1.2.3.4`, `10.0.0.0/8`,
`192.0.2.10 - 192.0.2.20`, `::ffff:198.51.100.7`) and get back normalised `ipaddress` networks, so the rest
of Vigil never re-parses or compares text. `check_bannable` is the safety net that keeps a typo such as
`0.0.0.0/0` or `127.0.0.1` from reaching a firewall: it refuses loopback, link-local, multicast, unspecified
and reserved space outright, and asks for `force` before anything broader than the policy allows.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network

from chalicelib.core.errors import ConfigurationError, InvalidInputError

Network = IPv4Network | IPv6Network
Address = IPv4Address | IPv6Address

_MAPPED_PREFIX = 0xFFFF  # ::ffff:0:0/96, the IPv4-mapped block, shifted right by 32 bits

# Space no firewall should ever be told to block: force cannot override these. Private ranges (RFC 1918,
# RFC 4193 ULA) and the documentation ranges are absent on purpose: internal attackers exist, and tests use
# the documentation ranges.
_SPECIAL_V4: tuple[tuple[IPv4Network, str], ...] = (
    (IPv4Network("0.0.0.0/8"), "unspecified"),  # "this network", RFC 1122 3.2.1.3
    (IPv4Network("127.0.0.0/8"), "loopback"),
    (IPv4Network("169.254.0.0/16"), "link-local"),
    (IPv4Network("224.0.0.0/4"), "multicast"),
    (IPv4Network("240.0.0.0/4"), "reserved"),  # class E, and 255.255.255.255 limited broadcast
)
_SPECIAL_V6: tuple[tuple[IPv6Network, str], ...] = (
    (IPv6Network("::/128"), "unspecified"),
    (IPv6Network("::1/128"), "loopback"),
    (IPv6Network("fe80::/10"), "link-local"),
    (IPv6Network("ff00::/8"), "multicast"),
)
# Outside these two blocks IPv6 is IETF-reserved, deprecated (site-local fec0::/10) or special: ::/8 holds
# the mapped form (which parse_target turns into IPv4), the deprecated compatible form and NAT64's
# 64:ff9b::/96, where the IPv4 address inside is what should be banned.
_UNICAST_V6: tuple[IPv6Network, ...] = (IPv6Network("2000::/3"), IPv6Network("fc00::/7"))


def parse_target(text: str) -> list[Network]:
    """Parse an address, a CIDR or an `a-b` range into the fewest networks that cover exactly that space."""
    cleaned = _clean(text)
    if "-" in cleaned:
        return _parse_range(cleaned)
    if "/" in cleaned:
        return [_parse_cidr(cleaned)]
    return [_single(_parse_address(cleaned, cleaned))]


def parse_network(text: str) -> Network:
    """Parse text that must describe exactly one network (an address, a CIDR, or a range that is one CIDR)."""
    networks = parse_target(text)
    if len(networks) != 1:
        shown = ", ".join(str(n) for n in networks[:3]) + (", ..." if len(networks) > 3 else "")
        raise InvalidInputError(
            f"'{text.strip()}' covers {len(networks)} CIDR blocks ({shown}); give one address or CIDR"
        )
    return networks[0]


def normalise(text: str) -> str:
    """The compressed CIDR text of a single network: `1.2.3.4/32`, `2001:db8::/32`."""
    return str(parse_network(text))


def display(network: Network) -> str:
    """A bare address for a single host (/32, /128), the CIDR otherwise."""
    if network.prefixlen == network.max_prefixlen:
        return str(network.network_address)
    return str(network)


@dataclass(frozen=True)
class SafetyPolicy:
    """How broad a ban may be without `force`: the smallest prefix length accepted per family."""

    max_prefix_v4: int = 8
    max_prefix_v6: int = 32

    def __post_init__(self) -> None:
        if not 1 <= self.max_prefix_v4 <= 32:
            raise ConfigurationError(f"max_prefix_v4 must be between 1 and 32, got {self.max_prefix_v4}")
        if not 1 <= self.max_prefix_v6 <= 128:
            raise ConfigurationError(f"max_prefix_v6 must be between 1 and 128, got {self.max_prefix_v6}")


DEFAULT_POLICY = SafetyPolicy()


def check_bannable(network: Network, policy: SafetyPolicy = DEFAULT_POLICY, force: bool = False) -> None:
    """Refuse a network that must not be banned; `force` lifts only the breadth limit of the policy."""
    family = f"IPv{network.version}"
    if network.prefixlen == 0:
        raise InvalidInputError(
            f"'{network}' is every {family} address and can never be banned, even with force "
            "(rule: whole_address_space)",
            code="RANGE_TOO_BROAD",
            details={"rule": "whole_address_space", "network": str(network)},
        )
    special = _special_overlap(network)
    if special is not None:
        rule, block = special
        raise InvalidInputError(
            f"'{network}' overlaps {block}, which is {rule} address space; force does not override this (rule: {rule})",
            code="RESERVED_ADDRESS",
            details={"rule": rule, "network": str(network), "reserved": block},
        )
    limit = policy.max_prefix_v4 if network.version == 4 else policy.max_prefix_v6
    if network.prefixlen < limit and not force:
        rule = f"max_prefix_v{network.version}"
        raise InvalidInputError(
            f"'{network}' is broader than /{limit}, the widest {family} ban the policy allows; "
            f"pass force to ban it anyway (rule: {rule})",
            code="RANGE_TOO_BROAD",
            details={"rule": rule, "network": str(network), "limit": limit},
        )


def ip_to_int(text: str) -> tuple[int, int]:
    """(version, integer) of one address, for hot paths; IPv4-mapped IPv6 comes back as IPv4."""
    try:
        if ":" in text:
            value = int.from_bytes(socket.inet_pton(socket.AF_INET6, text), "big")
            if value >> 32 == _MAPPED_PREFIX:
                return 4, value & 0xFFFFFFFF
            return 6, value
        return 4, int.from_bytes(socket.inet_pton(socket.AF_INET, text), "big")
    except (OSError, TypeError, ValueError) as exc:
        # inet_pton raises OSError for a malformed address, ValueError for an embedded NUL, TypeError for
        # anything that is not a string.
        raise InvalidInputError(f"{text!r} is not an IP address") from exc


def _clean(text: str) -> str:
    if not isinstance(text, str):
        raise InvalidInputError(f"{text!r} is not an IP address, CIDR or range")
    cleaned = text.strip()
    if not cleaned:
        raise InvalidInputError("an IP address, CIDR or range is required, got an empty value")
    if "%" in cleaned:
        # A zone id (fe80::1%eth0) only means something on one host's interface; no firewall can use it.
        raise InvalidInputError(f"'{cleaned}' has a zone id (%...); zone ids cannot be banned")
    return cleaned


def _parse_address(part: str, whole: str) -> Address:
    try:
        address = ipaddress.ip_address(part)
    except ValueError:
        raise InvalidInputError(f"'{whole}' is not an IP address, CIDR or range") from None
    if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _single(address: Address) -> Network:
    if isinstance(address, IPv4Address):
        return IPv4Network(address)
    return IPv6Network(address)


def _parse_cidr(cleaned: str) -> Network:
    try:
        network = ipaddress.ip_network(cleaned, strict=False)
    except ValueError:
        raise InvalidInputError(f"'{cleaned}' is not an IP address, CIDR or range") from None
    if isinstance(network, IPv6Network) and network.prefixlen >= 96:
        value = int(network.network_address)
        # Only a block inside ::ffff:0:0/96 is an IPv4 network in disguise; a wider one stays IPv6.
        if value >> 32 == _MAPPED_PREFIX:
            return IPv4Network((value & 0xFFFFFFFF, network.prefixlen - 96))
    return network


def _parse_range(cleaned: str) -> list[Network]:
    parts = cleaned.split("-")
    if len(parts) != 2 or not parts[0].strip() or not parts[1].strip():
        raise InvalidInputError(f"'{cleaned}' is not an IP address, CIDR or range")
    start = _parse_address(parts[0].strip(), cleaned)
    end = _parse_address(parts[1].strip(), cleaned)
    if start.version != end.version:
        raise InvalidInputError(f"'{cleaned}' is not a range: it mixes IPv4 and IPv6")
    if start > end:  # same version, checked above
        raise InvalidInputError(f"'{cleaned}' is not a range: {start} comes after {end}")
    return list(ipaddress.summarize_address_range(start, end))


def _special_overlap(network: Network) -> tuple[str, str] | None:
    """(rule, where) when the network touches space that must never be banned."""
    if isinstance(network, IPv4Network):
        for block4, rule in _SPECIAL_V4:
            if network.overlaps(block4):
                return rule, str(block4)
        return None
    for block6, rule in _SPECIAL_V6:
        if network.overlaps(block6):
            return rule, str(block6)
    if not any(network.subnet_of(unicast) for unicast in _UNICAST_V6):
        return "reserved", "IPv6 space outside 2000::/3 and fc00::/7"
    return None
