"""The in-memory IP index: "is this address banned or whitelisted, and by which decisions?"

Every request guard and every event ingest asks this question, so each Lambda container keeps the active
decisions in an `IpIndex` and answers without a DynamoDB round trip. The index is built once from the store
(`IpIndex.build`) and then follows the `{new, deleted}` deltas with `add` and `remove`.

Layout, chosen for CPython speed and memory (bench/index_bench.py measures it against pytricia):

- Tables: one dict per (IP version, kind, prefix length) present, keyed by the network address shifted
  right past its host bits, so testing one prefix length is one shift and one dict probe. The value is the
  entry id itself, or a tuple of ids when several decisions of one kind share a network: no per-entry
  object beyond the key integer.
- Grid: at 1M entries every table probe is a cache miss, so probing all lengths present is what costs. A
  grid of 2**20 cells (an address's /20 for IPv4, the low 20 bits of its /32 for IPv6) records which
  (kind, length) pairs have an entry in each cell, as a small integer code. A lookup reads its cell's code
  and probes only those tables, most specific first; most misses probe nothing. An entry wider than a
  cell is marked in every cell it covers, or, past 4096 cells, probed for every address.
- Removal: `entry id -> key` (the key object shared with its table); `remove` probes the few tables for the
  key. A removal leaves its grid mark behind, which costs a probe and never a wrong answer; after as many
  removals as half the entries the grid is redrawn from the tables (amortised O(1) per removal).

Addresses are read with `socket.inet_pton`, like `addresses.ip_to_int`: IPv4-mapped IPv6 (`::ffff:1.2.3.4`)
is the IPv4 address, in entries and in lookups (so an IPv6 entry wider than ::ffff:0:0/96 never matches one).
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable
from ipaddress import IPv4Network, IPv6Network
from socket import AF_INET, AF_INET6, inet_pton
from typing import NamedTuple

from chalicelib.core.errors import InvalidInputError
from chalicelib.decisions.addresses import Network, parse_network

_Table = dict[int, str | tuple[str, ...]]
_Slot = tuple[str, int]  # (kind, prefix length)
_KindProbe = tuple[int, int, _Table]  # (shift, prefix length, table)
_AnyProbe = tuple[int, int, str, _Table]  # (shift, prefix length, kind, table)

_from_bytes = int.from_bytes
_MAPPED = 0xFFFF  # ::ffff:0:0/96 shifted right by 32 bits
_CELL_BITS = 20
_CELL_MASK = (1 << _CELL_BITS) - 1
_V4_CELL_SHIFT = 32 - 20  # an IPv4 cell is the address's /20
_V6_CELL_SHIFT = 128 - 32  # an IPv6 cell is the low 20 bits of the address's /32
_MAX_SPREAD = 12  # an entry covering more than 2**12 cells is probed everywhere instead of marked
_MIN_STALE = 4096  # removals tolerated before a redraw, however small the index
_SHORT_CODES = 0xFFFF  # the largest code a 16-bit grid cell holds; past it the grid widens to 32 bits


class Match(NamedTuple):
    """One entry whose network contains the address looked up."""

    entry_id: str
    kind: str
    version: int
    address: int  # first address of the network, as an integer
    prefixlen: int

    @property
    def network(self) -> Network:
        """The entry's network as an `ipaddress` object (built on demand: lookups stay cheap)."""
        if self.version == 4:
            return IPv4Network((self.address, self.prefixlen))
        return IPv6Network((self.address, self.prefixlen))


_new_match = tuple.__new__  # Match((...)) without the Python-level __new__: one C call per match


class _Family:
    """Tables and grid of one IP version."""

    __slots__ = (
        "bits",
        "by_kind",
        "cell_length",
        "cell_shift",
        "codes",
        "every",
        "grid",
        "signatures",
        "tables",
        "version",
    )

    def __init__(self, version: int, bits: int, cell_length: int) -> None:
        self.version = version
        self.bits = bits
        self.cell_length = cell_length  # prefix length that names a cell (before the low-20-bit fold)
        self.cell_shift = bits - cell_length
        self.tables: dict[_Slot, _Table] = {}
        self.grid = array("H", bytes(2 << _CELL_BITS))  # code 0 everywhere: the empty signature
        self.signatures: list[frozenset[_Slot]] = [frozenset()]
        self.codes: dict[frozenset[_Slot], int] = {frozenset(): 0}
        self.by_kind: dict[str, list[tuple[_KindProbe, ...]]] = {}  # kind -> probes, by cell code
        self.every: list[tuple[_AnyProbe, ...]] = [()]  # probes across kinds, by cell code

    def load(self, slot: _Slot, keys: list[int], ids: list[str], live: bool) -> None:
        """Put entries of one (kind, length) in their table, in order, and mark their cells.

        `live=False` (bulk loads) leaves the probe lists stale until `refresh`.
        """
        table = self.tables.get(slot)
        new = table is None
        if table is None:
            table = self.tables[slot] = {}
        put = table.setdefault
        for key, entry_id in zip(keys, ids, strict=True):
            found = put(key, entry_id)
            if found is not entry_id:  # several decisions on one network: keep them all, in order
                table[key] = (found, entry_id) if type(found) is str else (*found, entry_id)
        # A new table changes every signature's probes, so it gets a full refresh instead of a live mark.
        self.mark(slot, keys, live and not new)
        if live and new:
            self.refresh()

    def discard(self, key: int, entry_id: str) -> bool:
        """Take an entry out of whichever table holds it under `key`; False if none does."""
        for slot, table in self.tables.items():
            found = table.get(key)
            # The same key can sit in several tables (other length or kind): find the one holding this id.
            if found is None or (found != entry_id if type(found) is str else entry_id not in found):
                continue
            if type(found) is str:
                del table[key]
                if not table:
                    del self.tables[slot]
                    self.refresh()
            else:
                rest = tuple(e for e in found if e != entry_id)
                table[key] = rest[0] if len(rest) == 1 else rest
            return True
        return False

    def mark(self, slot: _Slot, keys: Iterable[int], live: bool) -> None:
        """Add `slot` to the signature of every cell that the networks with these table keys touch."""
        spread = self.cell_length - slot[1]
        if spread > _MAX_SPREAD:
            return  # probed in every cell: `refresh` puts it in every signature's probes
        grid, signatures = self.grid, self.signatures
        steps: dict[int, int] = {}  # old cell code -> code with `slot` added, computed once per code
        for key in keys:
            # The network's cell prefix(es): its key moved to the cell's prefix length.
            first = key << spread if spread > 0 else key >> -spread
            for cell in range(first, first + (1 << spread)) if spread > 0 else (first,):
                code = grid[cell & _CELL_MASK]
                step = steps.get(code)
                if step is None:
                    step = steps[code] = self.code(signatures[code] | {slot}, live)
                    grid = self.grid  # `code` widens the grid past 65,535 signatures
                grid[cell & _CELL_MASK] = step

    def code(self, signature: frozenset[_Slot], live: bool) -> int:
        """The grid code of a signature, registering it (and, when live, its probe lists) if new."""
        code = self.codes.get(signature)
        if code is None:
            code = self.codes[signature] = len(self.signatures)
            self.signatures.append(signature)
            if code > _SHORT_CODES and self.grid.typecode == "H":
                self.grid = array("I", self.grid)
            if live:
                self._append_probes(signature, self._wide())
        return code

    def refresh(self) -> None:
        """Rebuild every cell code's probe lists (after a table appears or empties, or a bulk load)."""
        self.by_kind = {kind: [] for kind, _ in self.tables}
        self.every = []
        wide = self._wide()
        for signature in self.signatures:
            self._append_probes(signature, wide)

    def redraw(self) -> None:
        """Clear the grid and mark every entry again, dropping the marks that removals left behind."""
        self.grid = array("H", bytes(2 << _CELL_BITS))
        self.signatures = [frozenset()]
        self.codes = {frozenset(): 0}
        for slot, table in self.tables.items():
            self.mark(slot, table, live=False)
        self.refresh()

    def _wide(self) -> set[_Slot]:
        """Slots too wide to mark: they belong to every cell."""
        return {slot for slot in self.tables if self.cell_length - slot[1] > _MAX_SPREAD}

    def _append_probes(self, signature: frozenset[_Slot], wide: set[_Slot]) -> None:
        """The probe lists of the next cell code, most specific first; a stale mark without a table is dropped."""
        present = sorted({slot for slot in signature if slot in self.tables} | wide, key=lambda s: (-s[1], s[0]))
        tables, bits = self.tables, self.bits
        self.every.append(tuple((bits - p, p, k, tables[k, p]) for k, p in present))
        for kind, probes in self.by_kind.items():
            probes.append(tuple((bits - p, p, tables[k, p]) for k, p in present if k == kind))


class IpIndex:
    """Active decisions by network, answering longest-prefix and all-matches lookups for one address."""

    __slots__ = ("_stale", "_v4", "_v6", "_where")

    def __init__(self) -> None:
        self._v4 = _Family(4, 32, 32 - _V4_CELL_SHIFT)
        self._v6 = _Family(6, 128, 128 - _V6_CELL_SHIFT)
        self._where: dict[str, int] = {}  # entry id -> table key
        self._stale = 0  # removals since the grids were last drawn

    @classmethod
    def build(cls, entries: Iterable[tuple[str, str | Network, str]]) -> IpIndex:
        """An index of `(entry_id, network, kind)` entries, loaded in bulk (faster than repeated `add`).

        An id given twice keeps its last network, as with `add`.
        """
        index = cls()
        where = index._where
        groups: dict[tuple[int, str, int], tuple[list[int], list[str]]] = {}
        repeated: list[tuple[str, str | Network, str]] = []
        for entry in entries:
            entry_id, network, kind = entry
            _check_names(entry_id, kind)
            version, prefixlen, key = _network_of(network)
            if entry_id in where:
                repeated.append(entry)  # replaces the earlier entry once the bulk is in
                continue
            where[entry_id] = key
            group = groups.get((version, kind, prefixlen))
            if group is None:
                group = groups[version, kind, prefixlen] = ([], [])
            group[0].append(key)
            group[1].append(entry_id)
        for (version, kind, prefixlen), (keys, ids) in groups.items():
            index._family(version).load((kind, prefixlen), keys, ids, live=False)
        index._v4.refresh()
        index._v6.refresh()
        for entry_id, network, kind in repeated:
            index.add(entry_id, network, kind)
        return index

    def add(self, entry_id: str, network: str | Network, kind: str) -> None:
        """Index one entry; an entry already indexed under this id is replaced (replaying a delta is safe)."""
        _check_names(entry_id, kind)
        version, prefixlen, key = _network_of(network)
        if entry_id in self._where:
            self.remove(entry_id)
        self._family(version).load((kind, prefixlen), [key], [entry_id], live=True)
        self._where[entry_id] = key

    def remove(self, entry_id: str) -> bool:
        """Forget one entry; False when the id is unknown (replaying a deletion is safe)."""
        key = self._where.pop(entry_id, None)
        if key is None:
            return False
        if not (self._v4.discard(key, entry_id) or self._v6.discard(key, entry_id)):
            raise AssertionError(f"index lost entry {entry_id!r}")  # pragma: no cover - broken invariant
        self._stale += 1
        if self._stale > max(len(self._where) // 2, _MIN_STALE):
            self._v4.redraw()
            self._v6.redraw()
            self._stale = 0
        return True

    def lookup(self, ip: str) -> list[Match]:
        """Every entry whose network contains `ip`, most specific first (then by kind, then insertion)."""
        family, value = self._address_of(ip)
        matches: list[Match] = []
        version = family.version
        probes = family.every[family.grid[value >> family.cell_shift & _CELL_MASK]]
        for shift, prefixlen, kind, table in probes:
            key = value >> shift
            found = table.get(key)
            if found is not None:
                address = key << shift
                if type(found) is str:
                    matches.append(_new_match(Match, (found, kind, version, address, prefixlen)))
                else:
                    matches.extend(_new_match(Match, (e, kind, version, address, prefixlen)) for e in found)
        return matches

    def lookup_kind(self, ip: str, kind: str) -> Match | None:
        """The most specific entry of `kind` whose network contains `ip` (the first indexed on a tie)."""
        # _address_of, inlined with the cell arithmetic: this is the hot path of every request guard.
        try:
            if ":" in ip:
                value = _from_bytes(inet_pton(AF_INET6, ip), "big")
                if value >> 32 == _MAPPED:
                    value &= 0xFFFFFFFF
                    family, cell = self._v4, value >> _V4_CELL_SHIFT
                else:
                    family, cell = self._v6, value >> _V6_CELL_SHIFT & _CELL_MASK
            else:
                value = _from_bytes(inet_pton(AF_INET, ip), "big")
                family, cell = self._v4, value >> _V4_CELL_SHIFT
        except (OSError, TypeError, ValueError) as exc:
            raise InvalidInputError(f"{ip!r} is not an IP address") from exc
        by_code = family.by_kind.get(kind)
        if by_code is None:
            return None
        for shift, prefixlen, table in by_code[family.grid[cell]]:
            key = value >> shift
            found = table.get(key)
            if found is not None:
                entry_id = found if type(found) is str else found[0]
                return _new_match(Match, (entry_id, kind, family.version, key << shift, prefixlen))
        return None

    def __len__(self) -> int:
        return len(self._where)

    def __contains__(self, entry_id: object) -> bool:
        return entry_id in self._where

    def _family(self, version: int) -> _Family:
        return self._v4 if version == 4 else self._v6

    def _address_of(self, ip: str) -> tuple[_Family, int]:
        try:
            if ":" in ip:
                value = _from_bytes(inet_pton(AF_INET6, ip), "big")
                if value >> 32 == _MAPPED:
                    return self._v4, value & 0xFFFFFFFF
                return self._v6, value
            return self._v4, _from_bytes(inet_pton(AF_INET, ip), "big")
        except (OSError, TypeError, ValueError) as exc:
            raise InvalidInputError(f"{ip!r} is not an IP address") from exc


def _check_names(entry_id: object, kind: object) -> None:
    if not isinstance(entry_id, str) or not entry_id:
        raise InvalidInputError(f"entry id must be a non-empty string, got {entry_id!r}")
    if not isinstance(kind, str) or not kind:
        raise InvalidInputError(f"kind must be a non-empty string, got {kind!r}")


def _network_of(network: str | Network) -> tuple[int, int, int]:
    """(version, prefix length, table key), by `parse_network`'s rules with a fast path for clean text."""
    if isinstance(network, str):
        address_text, slash, length_text = network.partition("/")
        try:
            if ":" in address_text:
                version, bits = 6, 128
                value = _from_bytes(inet_pton(AF_INET6, address_text), "big")
            else:
                version, bits = 4, 32
                value = _from_bytes(inet_pton(AF_INET, address_text), "big")
        except (OSError, ValueError):
            return _network_of(parse_network(network))  # raises with the full explanation, or copes
        if not slash:
            prefixlen = bits
        elif length_text.isascii() and length_text.isdigit() and int(length_text) <= bits:
            prefixlen = int(length_text)
        else:
            return _network_of(parse_network(network))
        if version == 6 and prefixlen >= 96 and value >> 32 == _MAPPED:
            version, bits, value, prefixlen = 4, 32, value & 0xFFFFFFFF, prefixlen - 96
        return version, prefixlen, value >> (bits - prefixlen)
    if isinstance(network, IPv4Network | IPv6Network):
        return _network_of(str(network))
    raise InvalidInputError(f"{network!r} is not an IP network")
