"""Sophos Firewall (SFOS on XGS appliances) through its XML API: Vigil's bans as IP hosts in one IP host group.

Each ban becomes an IP host object named `vigil-<ip>` (`vigil-<network>-<len>` for a network), and every such host
is a member of one IP host group (`settings["group"]`, default `VIGIL-BLOCK`) that the firewall's rules drop. The
firewall administrator writes that rule once; Vigil only keeps the group's membership right.

One delta costs: one `Get` of the group, one `Set add` per `batch_size` new hosts (many `IPHost` entries in one
request), one group update (the API replaces the whole `HostList`, so membership changes are read, modified and
written back once per delta; the firewall recompiles its policy on every write to a referenced object, so fewer
writes matter), then one `Remove` per `batch_size` removed hosts, after they left the group.

Idempotent: `Set add` answering 502 (name exists) or 503 (same address exists) means "already there"; with 503
the existing host keeps its name (an administrator's object) and joins the group under that name, and Vigil never
deletes a host whose name it did not give. Removing what is not in the group changes nothing.

Only IPv4: the API help documents `IPFamily` IPv6 for IP hosts but gives `IPAddress` and `Subnet` at most 15
characters (IPv4 text), and a group holds one family, so IPv6 entries are reported as `skipped`.

TLS is verified by default; `settings["ca_pem"]` pins the trust to that certificate alone (the appliance's own CA
or its self-signed certificate), `settings["verify_tls"] = False` turns verification off (not recommended).
Credentials travel in the request body on every call (the API has no sessions) and never appear in errors or logs.
"""

from __future__ import annotations

import ipaddress
import ssl
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import httpx

from chalicelib.distribution.connectors.base import (
    ApplyResult,
    Delta,
    Entry,
    Target,
    TargetConfigurationError,
    TargetError,
    TestResult,
)

KIND = "sophos-xgs"
DEFAULT_PORT = 4444
DEFAULT_GROUP = "VIGIL-BLOCK"
NAME_PREFIX = "vigil-"
DEFAULT_BATCH = 500
DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=5.0)
API_PATH = "/webconsole/APIController"
_ACCEPTED = {"200", "202"}
_NO_RECORDS = ("Number of records Zero", "No. of records Zero")

ClientFactory = Callable[[ssl.SSLContext], httpx.Client]


def host_name(network: ipaddress.IPv4Network) -> str:
    """The IP host name Vigil gives a network: `vigil-203.0.113.7`, `vigil-198.51.100.0-24` (≤ 25 chars, no comma)."""
    if network.prefixlen == 32:
        return f"{NAME_PREFIX}{network.network_address}"
    return f"{NAME_PREFIX}{network.network_address}-{network.prefixlen}"


def network_of_name(name: str) -> ipaddress.IPv4Network | None:
    """The network a Vigil host name stands for, or None for a name Vigil did not give."""
    if not name.startswith(NAME_PREFIX):
        return None
    address, _, length = name[len(NAME_PREFIX) :].partition("-")
    try:
        return ipaddress.IPv4Network(f"{address}/{length or 32}")
    except ValueError:
        return None


def ssl_context(settings: dict | None) -> ssl.SSLContext:
    """The TLS context for one firewall: system trust, a pinned certificate (`ca_pem`), or no verification."""
    settings = settings or {}
    if settings.get("verify_tls", True) is False:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    pem = settings.get("ca_pem")
    if not pem:
        return ssl.create_default_context()
    try:
        context = ssl.create_default_context(cadata=pem)
    except (ssl.SSLError, ValueError) as exc:
        raise TargetConfigurationError("settings.ca_pem is not a PEM certificate") from exc
    # Why: a pinned appliance certificate is usually self-signed and not a CA; partial-chain lets OpenSSL accept
    # the pinned certificate itself as the trust anchor.
    context.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN
    return context


def request_xml(username: str, password: str, *operations: ET.Element) -> str:
    """One API request: the login and the operations, every value escaped by ElementTree."""
    root = ET.Element("Request")
    login = ET.SubElement(root, "Login")
    ET.SubElement(login, "Username").text = username
    ET.SubElement(login, "Password").text = password
    root.extend(operations)
    return ET.tostring(root, encoding="unicode")


def iphost_element(network: ipaddress.IPv4Network, description: str) -> ET.Element:
    """The `<IPHost>` definition of one network."""
    host = ET.Element("IPHost", transactionid=host_name(network))
    ET.SubElement(host, "Name").text = host_name(network)
    ET.SubElement(host, "IPFamily").text = "IPv4"
    if network.prefixlen == 32:
        ET.SubElement(host, "HostType").text = "IP"
        ET.SubElement(host, "IPAddress").text = str(network.network_address)
    else:
        ET.SubElement(host, "HostType").text = "Network"
        ET.SubElement(host, "IPAddress").text = str(network.network_address)
        ET.SubElement(host, "Subnet").text = str(network.netmask)
    if description:
        ET.SubElement(host, "Description").text = description
    return host


def group_element(name: str, hosts: Iterable[str], description: str) -> ET.Element:
    """The `<IPHostGroup>` with its whole host list (the API replaces the list on update)."""
    group = ET.Element("IPHostGroup", transactionid=name)
    ET.SubElement(group, "Name").text = name
    ET.SubElement(group, "Description").text = description
    host_list = ET.SubElement(group, "HostList")
    for host in hosts:
        ET.SubElement(host_list, "Host").text = host
    ET.SubElement(group, "IPFamily").text = "IPv4"
    return group


def describe(entry: Entry) -> str:
    """A safe IP host description: printable text, at most 255 characters."""
    text = "".join(ch for ch in f"vigil {entry.comment}".strip() if ch.isprintable())
    return text[:255]


def parse_host(element: ET.Element) -> tuple[str, ipaddress.IPv4Network | None]:
    """An `<IPHost>` from a Get answer: its name and the IPv4 network it stands for (None for ranges, lists, v6)."""
    name = element.findtext("Name") or ""
    host_type = element.findtext("HostType") or ""
    address = element.findtext("IPAddress") or ""
    try:
        if host_type == "IP":
            return name, ipaddress.IPv4Network(f"{address}/32")
        if host_type == "Network":
            return name, ipaddress.IPv4Network(f"{address}/{element.findtext('Subnet') or ''}")
    except ValueError:
        return name, None
    return name, None


@dataclass
class _Group:
    name: str
    exists: bool
    description: str = "Vigil bans (managed by Vigil)"
    hosts: list[str] = field(default_factory=list)


class _Session:
    """One target's requests over one HTTP client; counts requests and turns answers into exceptions."""

    def __init__(self, target: Target, client: httpx.Client) -> None:
        self.client = client
        self.url = _url(target.address)
        self.username = target.credentials.get("username", "")
        self.password = target.credentials.get("password", "")
        if not self.username or not self.password:
            raise TargetConfigurationError("the target has no API username or password")
        self.requests = 0

    def call(self, *operations: ET.Element) -> ET.Element:
        body = request_xml(self.username, self.password, *operations)
        self.requests += 1
        try:
            answer = self.client.post(self.url, data={"reqxml": body}, headers={"Accept": "application/xml"})
        except httpx.TransportError as exc:
            if _certificate_problem(exc):
                raise TargetConfigurationError("the firewall's TLS certificate is not trusted") from None
            raise TargetError(f"firewall unreachable: {type(exc).__name__}") from None
        if answer.status_code >= 500:
            raise TargetError(f"firewall answered HTTP {answer.status_code}")
        if answer.status_code != 200:
            raise TargetConfigurationError(f"firewall answered HTTP {answer.status_code}; check address and port")
        try:
            # Why no defusedxml: ElementTree never fetches external entities, and expat >= 2.4.1 (Python ships
            # 2.5+) refuses entity amplification, which covers what a hostile answer could try.
            root = ET.fromstring(answer.content)  # noqa: S314
        except ET.ParseError:
            raise TargetError("firewall answer is not XML") from None
        _raise_for_login(root)
        return root

    def get_group(self, name: str) -> _Group:
        query = ET.Element("Get")
        group = ET.SubElement(query, "IPHostGroup")
        ET.SubElement(ET.SubElement(group, "Filter"), "key", name="Name", criteria="=").text = name
        for found in self.call(query).iter("IPHostGroup"):
            if found.findtext("Name") == name:
                hosts = [host.text or "" for host in found.iterfind("HostList/Host")]
                return _Group(name, True, found.findtext("Description") or "", hosts)
            _read_status(found)
        return _Group(name, False)

    def get_hosts(self) -> dict[str, ipaddress.IPv4Network | None]:
        query = ET.Element("Get")
        ET.SubElement(query, "IPHost")
        hosts: dict[str, ipaddress.IPv4Network | None] = {}
        for element in self.call(query).iter("IPHost"):
            if element.find("Name") is None:
                _read_status(element)
                continue
            name, network = parse_host(element)
            hosts[name] = network
        return hosts


class XgsConnector:
    """Pushes bans to a Sophos Firewall; `client_factory(ssl_context)` returns the `httpx.Client` to use."""

    kind = KIND
    reconcilable = True

    def __init__(
        self,
        *,
        client_factory: ClientFactory | None = None,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        batch_size: int = DEFAULT_BATCH,
    ) -> None:
        self._factory = client_factory or (lambda context: httpx.Client(verify=context, timeout=timeout))
        self._batch = batch_size

    def apply(self, target: Target, delta: Delta) -> ApplyResult:
        """Create hosts, rewrite the group's membership once, then delete the hosts that left it."""
        adds, skipped_adds = _ipv4_only(delta.add)
        removes, skipped_removes = _ipv4_only(delta.remove)
        with self._session(target) as session:
            group = session.get_group(_group_name(target))
            joining = self._create_hosts(session, group, adds)
            leaving = self._leaving(session, group, set(removes))
            gone = {name for names in leaving.values() for name in names}
            members_before = set(group.hosts)
            new_names = sorted({name for name in joining.values() if name not in members_before})
            if new_names or gone or not group.exists:
                members = [m for m in group.hosts if m not in gone] + new_names
                operation = "update" if group.exists else "add"
                answer = session.call(_set(operation, group_element(group.name, members, group.description)))
                for _, code in _statuses(answer, "IPHostGroup"):
                    if code not in _ACCEPTED:
                        raise TargetError(f"firewall refused the group update (status {code})")
            own = sorted(name for name in gone if network_of_name(name) is not None)
            for batch in _chunks(own, self._batch):
                # Why the answer is not checked: the hosts already left the group, so nothing is blocked any
                # more; a host that could not be deleted is an unused object, and adding that address again
                # reuses it (502).
                session.call(_remove_hosts(batch))
            added = sum(1 for name in joining.values() if name not in members_before)
            return ApplyResult(
                added=added,
                removed=len(leaving),
                unchanged=len(adds) - added + len(removes) - len(leaving),
                requests=session.requests,
                skipped=skipped_adds + skipped_removes,
            )

    def current(self, target: Target) -> set[str]:
        """The CIDRs of the group's members (names Vigil gave are read as written; others are looked up)."""
        with self._session(target) as session:
            group = session.get_group(_group_name(target))
            found: set[str] = set()
            unknown = []
            for name in group.hosts:
                network = network_of_name(name)
                if network is None:
                    unknown.append(name)
                else:
                    found.add(str(network))
            if unknown:
                hosts = session.get_hosts()
                found |= {str(hosts[name]) for name in unknown if hosts.get(name) is not None}
            return found

    def test(self, target: Target) -> TestResult:
        """Log in and read the group: proves reachability, TLS trust, credentials and read rights."""
        try:
            with self._session(target) as session:
                group = session.get_group(_group_name(target))
        except (TargetError, TargetConfigurationError) as exc:
            return TestResult(False, exc.message, {"retryable": isinstance(exc, TargetError)})
        if group.exists:
            message = f"connected; group {group.name} has {len(group.hosts)} hosts"
            return TestResult(True, message, {"group": group.name, "hosts": len(group.hosts)})
        return TestResult(True, f"connected; group {group.name} will be created on the first push", {})

    @contextmanager
    def _session(self, target: Target) -> Iterator[_Session]:
        with self._factory(ssl_context(dict(target.settings))) as client:
            yield _Session(target, client)

    def _create_hosts(
        self, session: _Session, group: _Group, adds: dict[ipaddress.IPv4Network, Entry]
    ) -> dict[ipaddress.IPv4Network, str]:
        """Make sure a host exists for each added network; returns the member name per network."""
        members = set(group.hosts)
        joining = {network: host_name(network) for network in adds if host_name(network) in members}
        missing = {host_name(network): network for network in adds if network not in joining}
        by_network: dict[ipaddress.IPv4Network, str] | None = None
        for batch in _chunks(list(missing), self._batch):
            hosts = (iphost_element(missing[name], describe(adds[missing[name]])) for name in batch)
            answer = session.call(_set("add", *hosts))
            for name, code in _by_name(_statuses(answer, "IPHost"), batch).items():
                network = missing[name]
                if code in _ACCEPTED or code == "502":
                    joining[network] = name
                elif code == "503":
                    # Why: an administrator's host already holds this address under another name; that object
                    # joins the group, and Vigil will never delete it (only `vigil-` names are removed).
                    if by_network is None:
                        by_network = _networks_to_names(session.get_hosts())
                    if network not in by_network:
                        raise TargetError("firewall reported a duplicate host that it then did not list")
                    joining[network] = by_network[network]
                else:
                    raise TargetError(f"firewall refused host {name} (status {code})")
        return joining

    def _leaving(
        self, session: _Session, group: _Group, removes: set[ipaddress.IPv4Network]
    ) -> dict[ipaddress.IPv4Network, set[str]]:
        """Per removed network, the members that stand for it: Vigil's own host and any other host holding it."""
        leaving: dict[ipaddress.IPv4Network, set[str]] = {}
        if not removes:
            return leaving
        for name in group.hosts:
            network = network_of_name(name)
            if network in removes:
                leaving.setdefault(network, set()).add(name)
        others = [name for name in group.hosts if network_of_name(name) is None]
        if others:
            hosts = session.get_hosts()
            for name in others:
                network = hosts.get(name)
                if network in removes:
                    leaving.setdefault(network, set()).add(name)
        return leaving


def _url(address: str) -> str:
    """`host`, `host:port`, `[v6]:port` (port 4444 by default) → the API URL; anything else is refused."""
    if address.startswith("["):
        host, _, rest = address[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else str(DEFAULT_PORT)
        literal = f"[{host}]"
    elif address.count(":") <= 1:
        host, _, port = address.partition(":")
        port, literal = port or str(DEFAULT_PORT), host
    else:
        host, port, literal = "", "", ""
    if not host or not (port.isascii() and port.isdigit()) or not 0 < int(port) < 65536 or "/" in host:
        raise TargetConfigurationError("the target address must be host, host:port or [ipv6]:port")
    return f"https://{literal}:{port}{API_PATH}"


def _group_name(target: Target) -> str:
    name = str(target.settings.get("group") or DEFAULT_GROUP)
    if len(name) > 60 or "," in name or name.startswith("#") or not name.isprintable():
        raise TargetConfigurationError("settings.group must be at most 60 printable characters, without commas")
    return name


def _ipv4_only(entries: Iterable[Entry]) -> tuple[dict[ipaddress.IPv4Network, Entry], tuple[str, ...]]:
    kept: dict[ipaddress.IPv4Network, Entry] = {}
    skipped: list[str] = []
    for entry in entries:
        try:
            network = ipaddress.ip_network(entry.value)
        except ValueError:
            skipped.append(entry.value)
            continue
        if isinstance(network, ipaddress.IPv4Network):
            kept.setdefault(network, entry)
        else:
            skipped.append(entry.value)
    return kept, tuple(skipped)


def _networks_to_names(hosts: dict[str, ipaddress.IPv4Network | None]) -> dict[ipaddress.IPv4Network, str]:
    return {network: name for name, network in sorted(hosts.items()) if network is not None}


def _set(operation: str, *entities: ET.Element) -> ET.Element:
    element = ET.Element("Set", operation=operation)
    element.extend(entities)
    return element


def _remove_hosts(names: Iterable[str]) -> ET.Element:
    element = ET.Element("Remove")
    for name in names:
        ET.SubElement(ET.SubElement(element, "IPHost", transactionid=name), "Name").text = name
    return element


def _statuses(root: ET.Element, tag: str) -> list[tuple[str, str]]:
    """(transaction id, status code) of every `tag` entity in an answer to a Set or Remove."""
    found = []
    for element in root.iter(tag):
        status = element.find("Status")
        code = status.get("code", "") if status is not None else ""
        found.append((element.get("transactionid", ""), code))
    return found


def _by_name(statuses: list[tuple[str, str]], names: list[str]) -> dict[str, str]:
    """Each name's status code: by the echoed transaction id, or by position when the firewall echoes none."""
    found = {tid: code for tid, code in statuses if tid}
    if all(name in found for name in names):
        return {name: found[name] for name in names}
    if len(statuses) != len(names):
        raise TargetError(f"firewall answered {len(statuses)} statuses for {len(names)} hosts")
    return {name: code for name, (_, code) in zip(names, statuses, strict=True)}


def _read_status(element: ET.Element) -> None:
    """Accept an entity that says "no records" or success; anything else in a Get answer is a refusal."""
    status = element.find("Status")
    if status is None:
        return
    code = status.get("code", "")
    text = (status.text or "").strip()
    if any(marker in text for marker in _NO_RECORDS) or code in _ACCEPTED:
        return
    raise TargetError(f"firewall refused the read (status {code or 'without a code'})")


def _raise_for_login(root: ET.Element) -> None:
    status = root.find("Status")
    if status is not None:
        code = status.get("code", "")
        if code == "534":
            raise TargetConfigurationError("the firewall does not allow API calls from Vigil's address (534)")
        if code == "532":
            raise TargetConfigurationError("API access is turned off on the firewall (532)")
        raise TargetError(f"firewall refused the request (status {code or 'without a code'})")
    login = root.findtext("Login/status") or ""
    if "Authentication Failure" in login:
        raise TargetConfigurationError("the firewall refused the API username or password")


def _certificate_problem(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLCertVerificationError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _chunks(items: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
