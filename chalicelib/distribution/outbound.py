"""Where Vigil may send a request on a tenant's behalf: the outbound-URL check for webhook targets.

A webhook URL is typed in by a tenant administrator and called from inside Vigil's Lambda, which reaches things the
internet cannot: the instance metadata service (169.254.169.254, fd00:ec2::254), the Lambda runtime API on
loopback, services in the VPC. `check_url` refuses URLs that could reach them (server-side request forgery), and
`resolve_url` returns the addresses it checked so that the caller connects to exactly those: a second DNS lookup at
connect time would let a hostile DNS server answer differently (DNS rebinding).

The rules:

1. Scheme `https`. Plain `http` only when the target allows private addresses (a receiver inside the network).
2. No user-info (`https://user:secret@host/`, credentials belong in the signature secret), no fragment, a host.
3. Port: the scheme's default, 443, 80 for `http`, or any port from 1024 up. The other privileged ports are system
   services (SSH 22, SMTP 25, DNS 53, ...), never webhook receivers, and talking HTTP to them is an attack.
4. Every address the host resolves to must pass, not only the first (the connection could use any of them):
   - always refused: unspecified, multicast, link-local (169.254.0.0/16, where the metadata service lives, and
     fe80::/10), reserved, site-local, the limited broadcast, and the IPv6 metadata address fd00:ec2::254;
   - refused unless the target allows private addresses: RFC 1918, unique-local fc00::/7, shared 100.64.0.0/10 and
     anything else `ipaddress` does not call global (documentation and benchmarking ranges);
   - loopback only with `allow_loopback`, a deployment flag for tests and the local stack, never a target setting:
     on Lambda, loopback is the runtime API.
   IPv4-mapped (::ffff:a.b.c.d), 6to4 (2002::/16), Teredo and NAT64 (64:ff9b::/96) addresses are judged by the IPv4
   address they carry, so wrapping 127.0.0.1 in IPv6 does not get past rule 4.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from chalicelib.distribution.connectors.base import TargetConfigurationError, TargetError

Resolver = Callable[[str, int], Sequence[str]]
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_METADATA_V6 = ipaddress.IPv6Address("fd00:ec2::254")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_SHARED = ipaddress.IPv4Network("100.64.0.0/10")
_BROADCAST = ipaddress.IPv4Address("255.255.255.255")
_DEFAULT_PORTS = {"https": 443, "http": 80}


@dataclass(frozen=True)
class CheckedUrl:
    """A URL that passed the rules, with the addresses it was checked against."""

    scheme: str
    host: str  # as written, without brackets; the Host header and the TLS server name
    port: int
    path: str  # path and query, at least "/"
    addresses: tuple[str, ...]

    def pinned(self, address: str) -> str:
        """The URL with the host replaced by one checked address, so no new DNS lookup happens."""
        literal = f"[{address}]" if ":" in address else address
        return urlunsplit((self.scheme, f"{literal}:{self.port}", self.path, "", ""))

    @property
    def host_header(self) -> str:
        literal = f"[{self.host}]" if ":" in self.host else self.host
        return literal if self.port == _DEFAULT_PORTS[self.scheme] else f"{literal}:{self.port}"


def system_resolver(host: str, port: int) -> list[str]:
    """Every address `host` resolves to for a TCP connection, in the resolver's order, without duplicates."""
    answers = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    seen: dict[str, None] = {}
    for _family, _type, _proto, _name, sockaddr in answers:
        seen.setdefault(str(sockaddr[0]).split("%", 1)[0], None)
    return list(seen)


def check_url(
    url: str, *, allow_private: bool, allow_loopback: bool = False, resolver: Resolver = system_resolver
) -> None:
    """Raise `TargetConfigurationError` unless `url` is a place Vigil may send a request to (module rules)."""
    resolve_url(url, allow_private=allow_private, allow_loopback=allow_loopback, resolver=resolver)


def resolve_url(
    url: str, *, allow_private: bool, allow_loopback: bool = False, resolver: Resolver = system_resolver
) -> CheckedUrl:
    """Check `url` and return it with the addresses that passed; a failed lookup is a `TargetError` (retry)."""
    parts = _parse(url, allow_private=allow_private)
    try:
        literal = ipaddress.ip_address(parts.host)
        addresses = [str(literal)]
    except ValueError:
        try:
            addresses = list(resolver(parts.host, parts.port))
        except (OSError, UnicodeError) as exc:
            raise TargetError(f"could not resolve {parts.host}", details={"reason": "dns"}) from exc
    if not addresses:
        raise TargetError(f"{parts.host} has no address", details={"reason": "dns"})
    for text in addresses:
        address = ipaddress.ip_address(text)
        refusal = address_refusal(address, allow_private=allow_private, allow_loopback=allow_loopback)
        if refusal:
            raise TargetConfigurationError(
                f"refusing {parts.host}: it resolves to {address}, {refusal}", details={"reason": "address"}
            )
    return CheckedUrl(parts.scheme, parts.host, parts.port, parts.path, tuple(addresses))


def address_refusal(address: IPAddress, *, allow_private: bool, allow_loopback: bool = False) -> str | None:
    """Why Vigil must not connect to `address` (a short phrase), or None when it may."""
    embedded = _embedded_ipv4(address)
    if embedded is not None:
        return address_refusal(embedded, allow_private=allow_private, allow_loopback=allow_loopback)
    if address.is_unspecified:
        return "an unspecified address"
    if address.is_multicast or address == _BROADCAST:
        return "a multicast or broadcast address"
    if address.is_link_local or address == _METADATA_V6:
        return "a link-local address (where the instance metadata service lives)"
    if address.is_loopback:  # before "reserved": ::1 lies in the reserved ::/8
        return None if allow_loopback else "a loopback address"
    if address.is_reserved or (isinstance(address, ipaddress.IPv6Address) and address.is_site_local):
        return "a reserved address"
    if address.is_global:
        return None
    if allow_private:
        return None
    if isinstance(address, ipaddress.IPv4Address) and address in _SHARED:
        return "a shared (carrier-grade NAT) address; allow private addresses on the target to use it"
    return "a private or non-routable address; allow private addresses on the target to use it"


def _embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    if not isinstance(address, ipaddress.IPv6Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


@dataclass(frozen=True)
class _Parts:
    scheme: str
    host: str
    port: int
    path: str


def _ascii_host(hostname: str) -> str:
    """The host as DNS, TLS and the Host header see it (IDNA for international names); "" when invalid."""
    host = hostname.rstrip(".")
    if host.isascii():
        return host
    try:
        return host.encode("idna").decode("ascii")
    except UnicodeError:
        return ""


def _parse(url: str, *, allow_private: bool) -> _Parts:
    def refuse(why: str) -> TargetConfigurationError:
        return TargetConfigurationError(f"refusing the URL: {why}", details={"reason": "url"})

    if any(ch.isspace() or ord(ch) < 0x20 for ch in url):
        raise refuse("it contains spaces or control characters")
    split = urlsplit(url)
    scheme = split.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        raise refuse("only https URLs are allowed")
    if scheme == "http" and not allow_private:
        raise refuse("plain http is only allowed for targets that allow private addresses")
    if "@" in split.netloc:
        # Why: user-info could hide the real host from a reader (https://good.example@evil.example/) and must
        # never carry credentials; the signature secret is the credential.
        raise refuse("user-info (user:password@) is not allowed")
    if split.fragment:
        raise refuse("fragments are not allowed")
    host = _ascii_host(split.hostname or "")
    if not host:
        raise refuse("it has no host, or no valid one")
    try:
        explicit = split.port
    except ValueError:
        raise refuse("the port is not a number from 1 to 65535") from None
    port = explicit if explicit is not None else _DEFAULT_PORTS[scheme]
    if port < 1024 and port != _DEFAULT_PORTS[scheme] and port != 443:
        raise refuse(f"port {port} is a system service port; use 443, 80 for http, or a port from 1024 up")
    path = split.path or "/"
    if split.query:
        path = f"{path}?{split.query}"
    return _Parts(scheme, host, port, path)
