"""An in-memory nftables and ipset, for the SSH peer when the machine cannot run the real ones.

Real `nft` and `ipset` need CAP_NET_ADMIN (the SSH peer uses them in a private network namespace when it can, see
`ssh_firewall.KernelBackend`); CI runners often cannot. This model reproduces what Vigil relies on, each behaviour
as observed with nft 1.0.6 / ipset 7.17 on kernel 6.18 (`test_netfilter_parity.py` replays the same scripts on both
and compares when the kernel is available):

nftables, interval sets with `timeout` and `auto-merge`:
- a script is one transaction: any failing line leaves everything as it was (exit 1, "Error: ...");
- `add` of an existing table/set is a no-op, of a set with another definition "File exists";
- `add element` of an existing element replaces its timeout (permanent when none is given); of an element inside
  a wider one, nothing; overlapping or adjacent elements merge into one interval that keeps the attributes
  (timeout) of the element that starts lowest (the existing one on a tie);
- `delete element` needs the exact element: a part of a merged interval is "element does not exist";
- adding an element that exists and deleting it in the same transaction fails ("No such file or directory"),
  which is why "add then delete" is no idempotent removal on these sets;
- listing shows elements by address, a lone address as a string, a CIDR as `prefix`, other intervals as `range`,
  timed ones wrapped in `elem` with `timeout` and `expires`; expired elements are gone.

ipset, `hash:net`: `restore -exist` runs line by line and stops at the first error (earlier lines stay), `create`
of an existing set with the same options is a no-op, `add` refreshes the timeout (0: permanent), `del` of a missing
entry is fine, /0 and timeouts over 2147483 are refused, `maxelem` is enforced ("Hash is full"), `save` prints a
`create` line then one `add` line per entry with its remaining timeout (a host without /32).
"""

from __future__ import annotations

import bisect
import copy
import ipaddress
import json
import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field

Result = tuple[int, str, str]
_ELEMENT = re.compile(r"^(?P<addr>[0-9A-Fa-f:.]+(?:/\d+)?)(?: timeout (?P<timeout>\d+)s)?$")


class PeerClock:
    """Seconds on a monotonic clock that tests can move forward."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.monotonic() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds


class ScriptError(Exception):
    pass


@dataclass
class Interval:
    first: int
    last: int
    timeout: int | None = None
    expires_at: float | None = None


@dataclass
class NftSet:
    version: int
    definition: str
    elements: list[Interval] = field(default_factory=list)
    handle: int = 1


@dataclass
class NftTable:
    sets: dict[str, NftSet] = field(default_factory=dict)
    chains: dict[str, list[str]] = field(default_factory=dict)


class NftModel:
    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self.tables: dict[str, NftTable] = {}
        self._readded: set[tuple[int, int, int]] = set()

    def run_script(self, text: str) -> Result:
        saved = copy.deepcopy(self.tables)
        self._readded: set[tuple[int, int, int]] = set()
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            try:
                self._line(line.strip())
            except ScriptError as exc:
                self.tables = saved
                return 1, "", f"/dev/stdin:{number}:1-1: Error: {exc}\n{line}\n"
        return 0, "", ""

    def list_set(self, table: str, name: str) -> Result:
        found = self.tables.get(table)
        if found is None or name not in found.sets:
            return 1, "", f"Error: No such file or directory\nlist set inet {table} {name}\n"
        nft_set = found.sets[name]
        self._expire(nft_set)
        described: dict = {
            "family": "inet",
            "name": name,
            "table": table,
            "type": "ipv4_addr" if nft_set.version == 4 else "ipv6_addr",
            "handle": nft_set.handle,
            "flags": ["interval", "timeout"],
        }
        if nft_set.elements:
            described["elem"] = [self._render(nft_set.version, e) for e in nft_set.elements]
        document = {
            "nftables": [
                {"metainfo": {"version": "1.0.6", "release_name": "Lester Gooch #5", "json_schema_version": 1}},
                {"set": described},
            ]
        }
        return 0, json.dumps(document) + "\n", ""

    # --- one line ---------------------------------------------------------------------------------------------

    def _line(self, line: str) -> None:
        words = line.split()
        if words[:3] == ["add", "table", "inet"]:
            self.tables.setdefault(words[3], NftTable())
        elif words[:3] == ["add", "set", "inet"]:
            table = self._table(words[3])
            definition = line.split("{", 1)[1].strip()
            existing = table.sets.get(words[4])
            if existing is None:
                version = 6 if "ipv6_addr" in definition else 4
                table.sets[words[4]] = NftSet(version, definition, handle=len(table.sets) + 1)
            elif existing.definition != definition:
                raise ScriptError("Could not process rule: File exists")
        elif words[:3] == ["add", "chain", "inet"]:
            self._table(words[3]).chains.setdefault(words[4], [])
        elif words[:3] == ["flush", "chain", "inet"]:
            self._chain(words[3], words[4]).clear()
        elif words[:3] == ["add", "rule", "inet"]:
            referenced = line.split("@", 1)[1].split(maxsplit=1)[0]
            if referenced not in self._table(words[3]).sets:
                raise ScriptError(f"Could not process rule: No such file or directory: set {referenced}")
            self._chain(words[3], words[4]).append(" ".join(words[5:]))
        elif words[:3] in (["add", "element", "inet"], ["delete", "element", "inet"]):
            nft_set = self._set(words[3], words[4])
            self._expire(nft_set)
            for item in line.split("{", 1)[1].rsplit("}", 1)[0].split(","):
                self._element(nft_set, words[0], item.strip())
        else:
            raise ScriptError("syntax error")

    def _element(self, nft_set: NftSet, verb: str, text: str) -> None:
        match = _ELEMENT.match(text)
        if not match:
            raise ScriptError(f"syntax error, unexpected {text!r}")
        network = ipaddress.ip_network(match["addr"])
        if network.version != nft_set.version:
            raise ScriptError("datatype mismatch")
        first, last = int(network.network_address), int(network.broadcast_address)
        timeout = int(match["timeout"]) if match["timeout"] else None
        if timeout is not None and timeout >= 100_000_000:
            raise ScriptError("value too large")
        elements = nft_set.elements  # sorted by first address and disjoint, so neighbours are found by bisection
        index = bisect.bisect_right(elements, first, key=lambda e: e.first)
        before = elements[index - 1] if index else None
        exact = before if before is not None and (before.first, before.last) == (first, last) else None
        if verb == "delete":
            if exact is None:
                raise ScriptError("element does not exist")
            if (id(nft_set), first, last) in self._readded:
                raise ScriptError("Could not process rule: No such file or directory")
            elements.remove(exact)
            return
        expires = self.clock() + timeout if timeout is not None else None
        if exact is not None:
            self._readded.add((id(nft_set), first, last))
            exact.timeout, exact.expires_at = timeout, expires
            return
        if before is not None and before.last >= last:
            return  # inside a wider element: absorbed
        low = index - 1 if before is not None and before.last >= first - 1 else index
        high = index
        while high < len(elements) and elements[high].first <= last + 1:
            high += 1
        touching = elements[low:high]
        new = Interval(first, last, timeout, expires)
        # Why the lowest start wins: nft 1.0.6 kept the attributes of the element that starts first.
        keeper = min([*touching, new], key=lambda e: (e.first, -e.last, e is new))
        merged = Interval(
            min(first, *(e.first for e in touching)) if touching else first,
            max(last, *(e.last for e in touching)) if touching else last,
            keeper.timeout,
            keeper.expires_at,
        )
        elements[low:high] = [merged]

    def _table(self, name: str) -> NftTable:
        if name not in self.tables:
            raise ScriptError("Could not process rule: No such file or directory")
        return self.tables[name]

    def _set(self, table: str, name: str) -> NftSet:
        found = self._table(table).sets.get(name)
        if found is None:
            raise ScriptError("Could not process rule: No such file or directory")
        return found

    def _chain(self, table: str, name: str) -> list[str]:
        chains = self._table(table).chains
        if name not in chains:
            raise ScriptError("Could not process rule: No such file or directory")
        return chains[name]

    def _expire(self, nft_set: NftSet) -> None:
        now = self.clock()
        nft_set.elements = [e for e in nft_set.elements if e.expires_at is None or e.expires_at > now]

    def _render(self, version: int, element: Interval) -> object:
        make = ipaddress.IPv4Address if version == 4 else ipaddress.IPv6Address
        first, last = make(element.first), make(element.last)
        networks = list(ipaddress.summarize_address_range(first, last))
        if first == last:
            value: object = str(first)
        elif len(networks) == 1:
            value = {"prefix": {"addr": str(first), "len": networks[0].prefixlen}}
        else:
            value = {"range": [str(first), str(last)]}
        if element.timeout is None or element.expires_at is None:
            return value
        left = max(0, math.floor(element.expires_at - self.clock()))
        return {"elem": {"val": value, "timeout": element.timeout, "expires": left}}


@dataclass
class Ipset:
    family: str
    maxelem: int
    entries: dict[ipaddress.IPv4Network | ipaddress.IPv6Network, float | None] = field(default_factory=dict)


class IpsetModel:
    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self.sets: dict[str, Ipset] = {}

    def restore(self, text: str) -> Result:
        for found in self.sets.values():
            self._expire(found)
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            problem = self._line(line.split())
            if problem:
                return 1, "", f"ipset v7.17: Error in line {number}: {problem}\n"
        return 0, "", ""

    def save(self, name: str) -> Result:
        found = self.sets.get(name)
        if found is None:
            return 1, "", "ipset v7.17: The set with the given name does not exist\n"
        self._expire(found)
        lines = [
            f"create {name} hash:net family {found.family} hashsize 1024 maxelem {found.maxelem} timeout 0 "
            "bucketsize 12 initval 0x5a7e1c0d"
        ]
        for network, expires in sorted(found.entries.items(), key=lambda item: int(item[0].network_address)):
            text = str(network.network_address) if network.prefixlen == network.max_prefixlen else str(network)
            left = 0 if expires is None else max(0, math.floor(expires - self.clock()))
            lines.append(f"add {name} {text} timeout {left}")
        return 0, "\n".join(lines) + "\n", ""

    def _line(self, words: list[str]) -> str | None:
        options = dict(zip(words[3::2], words[4::2], strict=False))
        if words[0] == "create":
            family = options.get("family", "inet")
            maxelem = int(options.get("maxelem", 65536))
            existing = self.sets.get(words[1])
            if existing is None:
                self.sets[words[1]] = Ipset(family, maxelem)
            elif (existing.family, existing.maxelem) != (family, maxelem):
                return "Set cannot be created: set with the same name already exists"
            return None
        found = self.sets.get(words[1])
        if found is None:
            return "The set with the given name does not exist"
        network = ipaddress.ip_network(words[2])
        if network.prefixlen == 0:
            return "The value of the CIDR parameter of the IP address is invalid"
        if (network.version == 6) != (found.family == "inet6"):
            return "Syntax error: cannot parse the address as the set's family"
        if words[0] == "del":
            found.entries.pop(network, None)
            return None
        timeout = int(words[words.index("timeout") + 1]) if "timeout" in words else 0
        if timeout > 2_147_483:
            return f"Syntax error: '{timeout}' is out of range 0-2147483"
        if network not in found.entries and len(found.entries) >= found.maxelem:
            return "Hash is full, cannot add more elements"
        found.entries[network] = self.clock() + timeout if timeout else None
        return None

    def _expire(self, found: Ipset) -> None:
        now = self.clock()
        found.entries = {n: e for n, e in found.entries.items() if e is None or e > now}
