"""A Sophos Firewall XML API on 127.0.0.1, over real HTTPS, for the XGS connector's tests and the push benchmark.

It implements the subset Vigil uses, with the documented answers: `Login` (`Authentication Successful` /
`Authentication Failure`, HTTP status 200 either way), top-level `Status` 534 when the caller is not in the API's
allowed list and 532 when the API is off, `Set add` of `IPHost` (200, 502 when the name exists, 503 when a host
with the same details exists), `Set add|update` of `IPHostGroup` (the `HostList` is replaced whole), `Get` with a
`Filter` (`=`, `!=`, `like`) or without, and `Remove` of `IPHost`. Each entity's answer echoes its `transactionid`.

Where Sophos documents nothing the peer takes the cautious reading and says so: removing a host that a group still
lists, or a host that does not exist, answers 500 (the connector never relies on either).

State lives in memory; every request is recorded (its XML and the operations in it), so tests count the group
updates a delta cost. `stop()` closes the listening socket (connection refused), `start()` opens it again on the
same port; `delay` makes every answer wait (slower than the client's timeout).
"""

from __future__ import annotations

import ipaddress
import threading
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.peers.loopback import QuietServer, serve, shut
from tests.peers.tls import Certificates

OK = ("200", "Configuration applied successfully.")


@dataclass
class Recorded:
    xml: str
    operations: list[tuple[str, str, str]]  # (verb, entity, name): ("set-add", "IPHost", "vigil-192.0.2.1")


@dataclass
class Host:
    name: str
    family: str
    host_type: str
    address: str
    subnet: str = ""
    description: str = ""

    def details(self) -> tuple[str, str, str, str]:
        return self.family, self.host_type, self.address, self.subnet


@dataclass
class Group:
    name: str
    family: str = "IPv4"
    description: str = ""
    hosts: list[str] = field(default_factory=list)


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        form = parse_qs(self.rfile.read(length).decode())
        self._answer(form.get("reqxml", [""])[0])

    def do_GET(self) -> None:
        self._answer(parse_qs(urlsplit(self.path).query).get("reqxml", [""])[0])

    def _answer(self, xml: str) -> None:
        peer = self.server.peer
        if urlsplit(self.path).path != "/webconsole/APIController":
            self.send_error(404)
            return
        if peer.delay:
            time.sleep(peer.delay)
        body = peer.handle(xml).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        return


class _Server(QuietServer):
    allow_reuse_address = True
    peer: SophosXgsPeer


class SophosXgsPeer:
    """The fake firewall. Use as a context manager or call `start()` / `stop()`."""

    def __init__(self, certificates: Certificates, *, username: str = "vigil-api", password: str = "s3cret") -> None:
        self.certificates = certificates
        self.username = username
        self.password = password
        self.api_enabled = True
        self.caller_allowed = True
        self.echo_transaction_ids = True
        self.delay = 0.0
        self.hosts: dict[str, Host] = {}
        self.groups: dict[str, Group] = {}
        self.requests: list[Recorded] = []
        self._details: dict[tuple[str, str, str, str], str] = {}
        self._grouped: set[str] = set()
        self.port = 0
        self._server: _Server | None = None
        self._lock = threading.Lock()

    # --- lifecycle -----------------------------------------------------------------------------------------

    def start(self) -> SophosXgsPeer:
        server = serve(
            _Server, _Handler, name="sophos-xgs-peer", port=self.port, certificates=self.certificates, peer=self
        )
        self.port = server.server_address[1]
        self._server = server
        return self

    def stop(self) -> None:
        shut(self._server)
        self._server = None

    def __enter__(self) -> SophosXgsPeer:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    # --- what tests look at ----------------------------------------------------------------------------------

    def operations(self, verb: str | None = None, entity: str | None = None) -> list[tuple[str, str, str]]:
        return [
            op
            for rec in self.requests
            for op in rec.operations
            if (verb is None or op[0] == verb) and (entity is None or op[1] == entity)
        ]

    def group_writes(self) -> int:
        return sum(1 for verb, entity, _ in self.operations() if entity == "IPHostGroup" and verb.startswith("set"))

    def members(self, group: str) -> list[str]:
        return list(self.groups[group].hosts) if group in self.groups else []

    # --- the API ---------------------------------------------------------------------------------------------

    def handle(self, xml: str) -> str:
        with self._lock:
            recorded = Recorded(xml, [])
            self.requests.append(recorded)
            if not self.api_enabled:
                return '<Response APIVersion="2000.1"><Status code="532">API access is disabled.</Status></Response>'
            if not self.caller_allowed:
                return (
                    '<Response APIVersion="2000.1"><Status code="534">'
                    "API operations are not allowed from the requester IP address.</Status></Response>"
                )
            try:
                request = ET.fromstring(xml)  # noqa: S314 - the peer parses what the test's connector sent
            except ET.ParseError:
                return '<Response APIVersion="2000.1"><Status code="529">Invalid XML.</Status></Response>'
            if request.findtext("Login/Username") != self.username or (
                request.findtext("Login/Password") != self.password
            ):
                return '<Response APIVersion="2000.1"><Login><status>Authentication Failure</status></Login></Response>'
            # Why an index per request: tests may edit `hosts` directly between requests.
            self._details = {host.details(): host.name for host in self.hosts.values()}
            self._grouped = {name for group in self.groups.values() for name in group.hosts}
            answer = ET.Element("Response", APIVersion="2000.1")
            ET.SubElement(ET.SubElement(answer, "Login"), "status").text = "Authentication Successful"
            for operation in request:
                if operation.tag == "Login":
                    continue
                verb = operation.tag.lower()
                if verb == "set":
                    verb = f"set-{operation.get('operation', 'add')}"
                for entity in operation:
                    recorded.operations.append((verb, entity.tag, entity.findtext("Name") or ""))
                    answer.extend(self._one(verb, entity))
            return ET.tostring(answer, encoding="unicode")

    def _one(self, verb: str, entity: ET.Element) -> list[ET.Element]:
        if verb == "get":
            return self._get(entity)
        handler = {
            ("set-add", "IPHost"): self._add_host,
            ("set-update", "IPHost"): self._update_host,
            ("set-add", "IPHostGroup"): self._add_group,
            ("set-update", "IPHostGroup"): self._update_group,
            ("remove", "IPHost"): self._remove_host,
        }.get((verb, entity.tag))
        code, text = handler(entity) if handler else ("500", "Operation not supported by the peer.")
        reply = ET.Element(
            entity.tag, transactionid=entity.get("transactionid", "") if self.echo_transaction_ids else ""
        )
        ET.SubElement(reply, "Status", code=code).text = text
        return [reply]

    def _host_from(self, entity: ET.Element) -> Host | tuple[str, str]:
        name = entity.findtext("Name") or ""
        if not name or len(name) > 60 or "," in name or name[0] in "#,":
            return "501", "Configuration parameters validation failed."
        family = entity.findtext("IPFamily") or "IPv4"
        host_type = entity.findtext("HostType") or ""
        address = entity.findtext("IPAddress") or ""
        subnet = entity.findtext("Subnet") or ""
        try:
            if family != "IPv4" or len(address) > 15 or host_type not in ("IP", "Network"):
                raise ValueError(address)
            ipaddress.IPv4Network(f"{address}/{subnet or 32}")
        except ValueError:
            return "501", "Configuration parameters validation failed."
        return Host(
            name,
            family,
            host_type,
            address,
            subnet if host_type == "Network" else "",
            entity.findtext("Description") or "",
        )

    def _add_host(self, entity: ET.Element) -> tuple[str, str]:
        host = self._host_from(entity)
        if isinstance(host, tuple):
            return host
        if host.name in self.hosts:
            return "502", "An IP host with the same name already exists."
        if host.details() in self._details:
            return "503", "An IP host with the same details already exists."
        groups = [g.text or "" for g in entity.iterfind("HostGroupList/HostGroup")]
        if any(g not in self.groups for g in groups):
            return "500", "IP host could not be added."
        self.hosts[host.name] = host
        self._details[host.details()] = host.name
        for group in groups:
            self.groups[group].hosts.append(host.name)
        return OK

    def _update_host(self, entity: ET.Element) -> tuple[str, str]:
        host = self._host_from(entity)
        if isinstance(host, tuple):
            return host
        if host.name not in self.hosts:
            return "500", "IP host could not be updated."
        self.hosts[host.name] = host
        return OK

    def _group_from(self, entity: ET.Element) -> Group | tuple[str, str]:
        name = entity.findtext("Name") or ""
        hosts = [h.text or "" for h in entity.iterfind("HostList/Host")]
        if not name or len(name) > 60 or "," in name:
            return "501", "Configuration parameters validation failed."
        if any(h not in self.hosts for h in hosts):
            return "500", "IP host group could not be saved: a host does not exist."
        return Group(name, entity.findtext("IPFamily") or "IPv4", entity.findtext("Description") or "", hosts)

    def _add_group(self, entity: ET.Element) -> tuple[str, str]:
        group = self._group_from(entity)
        if isinstance(group, tuple):
            return group
        if group.name in self.groups:
            return "502", "An IP host group with the same name already exists."
        self.groups[group.name] = group
        self._grouped |= set(group.hosts)
        return OK

    def _update_group(self, entity: ET.Element) -> tuple[str, str]:
        group = self._group_from(entity)
        if isinstance(group, tuple):
            return group
        if group.name not in self.groups:
            return "500", "IP host group could not be updated."
        self.groups[group.name] = group
        self._grouped = {name for g in self.groups.values() for name in g.hosts}
        return OK

    def _remove_host(self, entity: ET.Element) -> tuple[str, str]:
        name = entity.findtext("Name") or ""
        if name not in self.hosts:
            return "500", "IP host could not be deleted."
        if name in self._grouped:
            return "500", "IP host is in use and could not be deleted."
        del self.hosts[name]
        return "200", "IP host has been deleted."

    def _get(self, entity: ET.Element) -> list[ET.Element]:
        key = entity.find("Filter/key")
        records: list[Any] = list(self.hosts.values() if entity.tag == "IPHost" else self.groups.values())
        if entity.tag not in ("IPHost", "IPHostGroup"):
            records = []
        if key is not None:
            field_name, criteria, value = key.get("name", "Name"), key.get("criteria", "="), key.text or ""
            attribute = {"Name": "name", "IPAddress": "address"}.get(field_name, "name")
            test = {
                "=": lambda v: v == value,
                "!=": lambda v: v != value,
                "like": lambda v: value.lower() in v.lower(),
            }.get(criteria, lambda v: False)
            records = [r for r in records if test(getattr(r, attribute, ""))]
        if not records:
            empty = ET.Element(entity.tag, transactionid="")
            ET.SubElement(empty, "Status").text = "Number of records Zero."
            return [empty]
        return [self._render(record) for record in records]

    @staticmethod
    def _render(record: Host | Group) -> ET.Element:
        if isinstance(record, Host):
            element = ET.Element("IPHost", transactionid="")
            ET.SubElement(element, "Name").text = record.name
            ET.SubElement(element, "IPFamily").text = record.family
            ET.SubElement(element, "HostType").text = record.host_type
            ET.SubElement(element, "IPAddress").text = record.address
            if record.subnet:
                ET.SubElement(element, "Subnet").text = record.subnet
            ET.SubElement(element, "Description").text = record.description
            return element
        element = ET.Element("IPHostGroup", transactionid="")
        ET.SubElement(element, "Name").text = record.name
        ET.SubElement(element, "Description").text = record.description
        host_list = ET.SubElement(element, "HostList")
        for name in record.hosts:
            ET.SubElement(host_list, "Host").text = name
        ET.SubElement(element, "IPFamily").text = record.family
        return element
