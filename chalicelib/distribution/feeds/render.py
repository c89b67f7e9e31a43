"""Feed rendering: the bans in force as the exact bytes each kind of firewall downloads.

Pure: no AWS, no clock of its own (the caller passes `now`). Firewalls poll a feed and compare its bytes or ETag,
so the same decisions always give the same bytes: rows are sorted once (IPv4 before IPv6, then by address bytes,
then by prefix length) and nothing time-dependent is written except MikroTik's `timeout=`, quantised to
`timeout_step` seconds so a feed whose decisions did not change is rewritten at most once per step.

Speed: a publish renders every format from up to a million decisions (issue 7: render + publish of each format
within 1.5x of a plain `"\n".join` + `gzip.compress` of the same values). So:
- a `FeedTable` is columnar (parallel lists, gathered through the sorted order only when a format reads them;
  the decisions' ends, ids and comments are not even read for `plain`);
- IPv4 rows sort by one float each (`_v4_sort_keys`: the 5 key bytes packed into a double in bulk), because
  CPython sorts floats three to four times faster than bytes; IPv6 rows sort by their key bytes;
- a table's rows are scattered over the source columns, and a scattered read costs a cache miss: a format
  with several columns writes its lines in source order and gathers the lines once (`FeedTable.lines`);
  the pieces of a line that repeat (timeouts, ISO times, sanitised comments) are looked up in tables built
  once, never formatted per row;
- Sophos writes each expanded CIDR as one `str.join` over precomputed last octets, not one string per host.
Feeds are stored and served uncompressed (store.py), so no gzip level is involved here.

What each format carries (docs/FEEDS.md has an example of each):

| variant | rows | comments | IPv6 |
|---|---|---|---|
| `plain`, `fortigate`, `paloalto` | one address or CIDR per line | none | yes |
| `plain-v4`, `plain-v6` | the same, one family per file | none | per file |
| `sophos` | bare IPv4 hosts; CIDRs expanded up to `expand_limit` addresses | none | skipped |
| `mikrotik` | an `.rsc` script: remove the list, then one `add` per row | `comment="..."` | `/ipv6 ...` |
| `checkpoint` | CSV, `IP` or `IP Range` (a-b) | last column | skipped |
| `json` | `{"entries": [...]}` with the feed's counts | `comment` | yes |

`max_entries` keeps the most relevant rows (see `keep_most_relevant`) and reports the rest as `dropped`;
rows a format cannot carry are `skipped`. Both counts travel with every rendering.
"""

from __future__ import annotations

import array
import json
import operator
import re
import socket
import sys
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from functools import cached_property, lru_cache
from itertools import compress, islice, repeat
from typing import Any, NamedTuple, TypeVar

from chalicelib.distribution.feeds.formats import EXTENSIONS, FORMATS

TEXT = "text/plain; charset=utf-8"
CONTENT_TYPES = {"checkpoint": "text/csv; charset=utf-8", "json": "application/json"}

PERMANENT = float("inf")  # the rank of a ban without an end: above every epoch
MIKROTIK_MAX_TIMEOUT = 21_474_836  # 35w3d13:13:56, RouterOS's longest timeout (2^31 ticks of 10 ms; unverified)
COMMENT_MAX = {"mikrotik": 64, "checkpoint": 64, "json": 256}
CHECKPOINT_HEADER = "# UNIQ-NAME,VALUE,TYPE,CONFIDENCE,SEVERITY,PRODUCT,COMMENT"
JSON_SCHEMA = "vigil.feed/1"

_PREFIX_BYTE = {str(p): bytes((p,)) for p in range(129)}
# An IPv4 sort key: the bytes 3f f0 00 (sign 0, exponent 1023, then 12 zero mantissa bits), the 4 address
# bytes and the prefix byte, read as a big-endian double: a float in [1, 2) that orders as the 5 bytes do, and
# exactly (1 + (address << 8 | prefix) * 2**-52).
_V4_HEAD = b"\x3f\xf0\x00"
_V4_UNIT = 2.0**-52
_OCTETS = tuple(str(i) for i in range(256))  # Sophos: the last octet of every address of a /24

T = TypeVar("T")
Column = Sequence[T] | Callable[[], Sequence[T]]  # a column, or how to read it when a format first needs it

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\s]+")
# RouterOS strings: `"` ends them, `\` escapes, `$` and `[` substitute; `{`, `}` and `;` end blocks and commands.
_MIKROTIK_UNSAFE = re.compile(r"[^A-Za-z0-9 ._:/@+=,#()*!?%&<>^~|\'-]")
_CSV_UNSAFE = re.compile(r'[,"]')


def safe_name(name: str) -> str:
    """A feed, list or object name reduced to `[A-Za-z0-9._-]` (MikroTik list names, keys, URLs)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-") or "vigil"


class FeedEntry(NamedTuple):
    """One ban as feeds see it (tests and small callers; the publisher builds columns directly)."""

    value: str  # normalised CIDR, "203.0.113.7/32"
    until: datetime | None = None  # None: permanent
    decision_id: str = ""
    comment: str = ""  # the scenario or the reason, raw; each format sanitises it for its own syntax


class Rendered(NamedTuple):
    """One object of a feed: a variant's bytes and what went into them."""

    variant: str  # plain, plain-v4, plain-v6, sophos, fortigate, paloalto, mikrotik, checkpoint, json
    body: bytes
    entries: int  # rows written (lines for sophos, whose CIDRs expand into several)
    skipped: int  # decisions the format cannot carry (IPv6 on IPv4-only formats, CIDRs too wide to expand)
    dropped: int  # decisions left out by max_entries

    @property
    def filename(self) -> str:
        return f"{self.variant}.{EXTENSIONS.get(self.variant, 'txt')}"

    @property
    def content_type(self) -> str:
        return CONTENT_TYPES.get(self.variant, TEXT)


def epoch_of(when: datetime | None) -> int | None:
    return None if when is None else int(when.timestamp())


class _Columns:
    """The caller's columns, in the caller's order; a table and its subsets read them through their order.

    `untils`, `ids` and `comments` may be given as functions: they are then read once, when a format first
    needs them (`plain` needs none of them: reading a million ends from `Decision` objects costs a quarter of
    a second)."""

    def __init__(
        self,
        values: Sequence[str],
        untils: Column[int | None],
        ids: Column[str],
        comments: Column[str],
        rows: Sequence[Any],
    ) -> None:
        self.values, self.rows = values, rows
        self._untils, self._ids, self._comments = untils, ids, comments
        self._checked: dict[Callable[[Sequence[str]], bool], bool] = {}

    @cached_property
    def untils(self) -> Sequence[int | None]:
        return _load(self._untils)

    @cached_property
    def ids(self) -> Sequence[str]:
        return _load(self._ids)

    @cached_property
    def comments(self) -> Sequence[str]:
        return _load(self._comments)

    @cached_property
    def texts(self) -> list[str]:
        return _texts(self.values)

    @cached_property
    def ranks(self) -> array.array[float]:
        """`FeedTable.ranks` in source order, as an array (read in feed order, it gives fresh floats side by
        side: the sort and the scans of `keep_most_relevant` then read memory in order)."""
        return array.array("d", [PERMANENT if u is None else float(u) for u in self.untils])

    def ids_pass(self, check: Callable[[Sequence[str]], bool]) -> bool:
        """`check(ids)`, run once (a format asks it to choose how to write its lines, then while writing)."""
        if check not in self._checked:
            self._checked[check] = check(self.ids)
        return self._checked[check]


def _texts(values: Sequence[str]) -> list[str]:
    """Each value as firewalls write it: a bare address for a host, the CIDR otherwise."""
    return [v.removesuffix("/128") if ":" in v else v.removesuffix("/32") for v in values]


def _load(column: Column[T]) -> Sequence[T]:
    return column() if callable(column) else column


class _Picked:
    """Some rows of the source columns (`positions`), each column gathered on first use."""

    def __init__(self, source: _Columns, positions: Sequence[int]) -> None:
        self._source, self._positions = source, positions

    @cached_property
    def values(self) -> list[str]:
        return _gather(self._source.values, self._positions)

    @cached_property
    def texts(self) -> list[str]:
        return _texts(self.values)  # for a few rows: no text written for every source row

    @cached_property
    def untils(self) -> list[int | None]:
        return _gather(self._source.untils, self._positions)

    @cached_property
    def ids(self) -> list[str]:
        return _gather(self._source.ids, self._positions)

    @cached_property
    def comments(self) -> list[str]:
        return _gather(self._source.comments, self._positions)

    def ids_pass(self, check: Callable[[Sequence[str]], bool]) -> bool:
        return check(self.ids)


Rows = _Columns | _Picked


class FeedTable(_Picked):
    """Bans in feed order: sort keys, and the caller's columns read through the sorted order on first use (the
    rows `order` picks from the source, in that order).

    Columns are gathered lazily because each costs a pass of random memory reads over a million rows, and a
    format needs only some of them (`plain` needs the texts alone)."""

    def __init__(self, keys: Sequence[float | bytes], order: Sequence[int], v4_count: int, source: _Columns) -> None:
        super().__init__(source, order)
        # The sort keys: a float per IPv4 row (`_v4_key`: address and prefix), address bytes + one prefix
        # byte per IPv6 row.
        self.keys = keys
        self.v4_count = v4_count  # rows [0, v4_count) are IPv4, the rest IPv6

    @property
    def order(self) -> Sequence[int]:
        """Row i of the table is row order[i] of the source columns."""
        return self._positions

    def __len__(self) -> int:
        return len(self.keys)

    @classmethod
    def of(cls, entries: Sequence[FeedEntry]) -> FeedTable:
        """A table from `FeedEntry` tuples (the entries themselves become `rows`)."""
        return cls.build(
            [e.value for e in entries],
            [epoch_of(e.until) for e in entries],
            [e.decision_id for e in entries],
            [e.comment for e in entries],
            list(entries),
        )

    @classmethod
    def build(
        cls,
        values: Sequence[str],
        untils: Column[int | None],
        ids: Column[str],
        comments: Column[str],
        rows: Sequence[Any] | None = None,
    ) -> FeedTable:
        """Sort normalised CIDRs into feed order (IPv4 first, then address bytes, then prefix length).

        A value given twice keeps its most relevant row. `untils` are epoch seconds (None: permanent);
        `rows` are any objects the caller wants back for selection (`FeedTable.rows`). `untils`, `ids` and
        `comments` may be functions that return the column (read on first use)."""
        source = _Columns(values, untils, ids, comments, rows if rows is not None else [None] * len(values))
        is6 = list(map(operator.contains, values, repeat(":")))
        v4 = array.array("q", compress(range(len(values)), map(operator.not_, is6)))
        v6 = array.array("q", compress(range(len(values)), is6))
        aton, pton, af6, pb, slash = socket.inet_aton, socket.inet_pton, socket.AF_INET6, _PREFIX_BYTE, repeat("/")
        keys4 = _v4_sort_keys([aton(a) + pb[p] for a, _, p in map(str.partition, map(values.__getitem__, v4), slash)])
        keys6 = [pton(af6, a) + pb[p] for a, _, p in map(str.partition, map(values.__getitem__, v6), slash)]
        # Sort positions within each family, then read keys and source rows in that order. The positions, `v4`,
        # `v6` and `keys4` are arrays of plain numbers: read in sorted order they give fresh objects side by
        # side, where the sorted list of int objects, read twice, would cost two cache misses per row.
        perm4 = array.array("q", sorted(range(len(v4)), key=keys4.__getitem__))
        perm6 = array.array("q", sorted(range(len(v6)), key=keys6.__getitem__))
        sorted4, sorted6 = list(map(keys4.__getitem__, perm4)), list(map(keys6.__getitem__, perm6))
        keys: list[float | bytes] = [*sorted4, *sorted6]
        order = [*map(v4.__getitem__, perm4), *map(v6.__getitem__, perm6)]
        v4_count = len(v4)
        # A value given twice: equal keys are neighbours once sorted (checked per family on the fresh floats).
        if _repeats(sorted4) or _repeats(sorted6):
            kept = _most_relevant_of_equals(keys, order, source.untils)
            keys, order, v4_count = _gather(keys, kept), _gather(order, kept), bisect_right(kept, v4_count - 1)
        return cls(keys, order, v4_count, source)

    def lines(
        self,
        rows: range | list[int],
        build: Callable[[Rows], list[str]],
        whole: Callable[[_Columns], bool] = lambda _: True,
    ) -> list[str]:
        """`build`'s line for each of `rows`, in `rows` order; `build` gets columns and returns a line per row.

        A table's rows are scattered over the source columns (they are in address order, the source is not),
        and a scattered read costs a cache miss: gathering four columns of a million rows costs more than
        writing their lines. So when `rows` are at least half the source, `build` writes a line for every
        source row in source order (sequential reads; `whole(source)` may refuse it) and the lines are
        gathered once; for fewer rows, their columns are gathered first. Both give the same lines."""
        positions = _pick(self.order, rows)  # type: ignore[arg-type]
        source = self._source
        if 2 * len(positions) >= len(source.values) and whole(source):
            return _gather(build(source), positions)
        return build(_Picked(source, positions))

    def take(self, selected: Sequence[int]) -> FeedTable:
        """The rows at `selected` (ascending positions), still in feed order."""
        return FeedTable(
            _gather(self.keys, selected),
            _gather(self.order, selected),
            bisect_right(selected, self.v4_count - 1),
            self._source,
        )

    @cached_property
    def texts(self) -> list[str]:
        return _gather(self._source.texts, self.order)  # the source's texts serve every table of a publish

    @cached_property
    def rows(self) -> list[Any]:
        return _gather(self._source.rows, self.order)

    @cached_property
    def ranks(self) -> list[float]:
        """Relevance for `max_entries`: the end's epoch, `PERMANENT` for a ban without one. Floats (exact for
        epoch seconds) because CPython sorts a list of floats several times faster than one of large ints."""
        return list(map(self._source.ranks.__getitem__, self.order))


def _gather(column: Sequence[Any], positions: Sequence[int]) -> list[Any]:
    """`[column[i] for i in positions]`, through `itemgetter` (a C loop) when there are several."""
    if len(positions) < 2:
        return [column[i] for i in positions]
    return list(operator.itemgetter(*positions)(column))


def _repeats(keys: list[Any]) -> bool:
    return any(map(operator.eq, keys, islice(keys, 1, None)))


def _v4_sort_keys(keys: list[bytes]) -> array.array[float]:
    """Each 5-byte IPv4 key (address, prefix) as the float `_v4_key` gives, converted in bulk: one
    `bytes.join` and one `array` instead of arithmetic per row."""
    packed = array.array("d", _V4_HEAD + _V4_HEAD.join(keys) if keys else b"")  # not 8 bytes a key: raises
    if sys.byteorder == "little":
        packed.byteswap()
    return packed


def _v4_key(address: int, prefix: int) -> float:
    """The sort key of an IPv4 address (an int) and prefix length: `1 + (address << 8 | prefix) / 2**52`."""
    return 1.0 + ((address << 8) | prefix) * _V4_UNIT


def _v4_parts(key: float) -> tuple[int, int]:
    """The address (an int) and prefix length of an IPv4 sort key (exact: the key has spare mantissa bits)."""
    packed = round((key - 1.0) * 2**52)
    return packed >> 8, packed & 0xFF


def _most_relevant_of_equals(keys: list[float | bytes], order: list[int], untils: Sequence[int | None]) -> list[int]:
    """Positions to keep when sorted keys repeat: of each run of equal keys, the most relevant row."""
    kept: list[int] = []
    for i, key in enumerate(keys):
        if kept and keys[kept[-1]] == key:
            if _rank(untils[order[i]]) > _rank(untils[order[kept[-1]]]):
                kept[-1] = i
        else:
            kept.append(i)
    return kept


def _rank(until: int | None) -> float:
    return PERMANENT if until is None else until


def keep_most_relevant(table: FeedTable, candidates: range | list[int], max_entries: int | None) -> list[int]:
    """The `max_entries` most relevant of `candidates`, back in feed order.

    Relevance: permanent bans first, then the bans that end last (a later end is a newer ban or a longer one,
    and repeat offenders get longer bans), ties by feed order. Callers check the count first: this sorts."""
    if not max_entries or len(candidates) <= max_entries:
        return list(candidates)
    ranks = _pick(table.ranks, candidates)
    # The rank of the last entry kept; everything above it stays, and of the entries at it, the first in feed
    # order fill what room is left. Sorting plain floats is several times faster than sorting rows by a key.
    threshold = sorted(ranks, reverse=True)[max_entries - 1]
    above = list(compress(candidates, map(operator.gt, ranks, repeat(threshold))))
    ties = compress(candidates, map(operator.eq, ranks, repeat(threshold)))
    return sorted(above + list(islice(ties, max_entries - len(above))))  # two ascending runs: a merge


def _pick(column: list[Any], rows: range | list[int]) -> list[Any]:
    if isinstance(rows, range):
        return column[rows.start : rows.stop]
    return [column[i] for i in rows]


def _choose(table: FeedTable, lo: int, hi: int, max_entries: int | None) -> tuple[range | list[int], int]:
    rows = range(lo, hi)
    if not max_entries or len(rows) <= max_entries:
        return rows, 0
    return keep_most_relevant(table, rows, max_entries), len(rows) - max_entries


def _lines(lines: list[str]) -> bytes:
    """The lines, each ending in a newline (joined once: no second copy of the text to append the last one)."""
    return "\n".join([*lines, ""]).encode() if lines else b""


def sanitise(text: str, limit: int, unsafe: re.Pattern[str] | None = None) -> str:
    """One line of at most `limit` characters: no control characters or line breaks, and (with `unsafe`)
    none of the characters a format would read as syntax."""
    cleaned = _CONTROL.sub(" ", text).strip()
    if unsafe is not None:
        cleaned = unsafe.sub("_", cleaned)
    return cleaned[:limit].rstrip()


def _sanitised(comments: list[str], limit: int, unsafe: re.Pattern[str] | None) -> list[str]:
    memo = {c: sanitise(c, limit, unsafe) for c in set(comments)}  # scenarios repeat: clean each once
    return [memo[c] for c in comments]


# -- formats ------------------------------------------------------------------------------------------------


def render_plain(
    table: FeedTable, variant: str = "plain", max_entries: int | None = None, family: int | None = None
) -> Rendered:
    """One address or CIDR per line, nothing else; `family` 4 or 6 keeps one family (`plain-v4`, `plain-v6`).

    The body of `plain`, `fortigate` and `paloalto` (EDL with no comments): they differ only by their limits."""
    lo, hi = {None: (0, len(table)), 4: (0, table.v4_count), 6: (table.v4_count, len(table))}[family]
    rows, dropped = _choose(table, lo, hi, max_entries)
    # Every row of a family: a slice of the table's texts (gathered once for all the plain variants); the rows
    # kept by a limit: their own texts only.
    lines = _pick(table.texts, rows) if isinstance(rows, range) else table.lines(rows, _TEXTS)
    return Rendered(variant, _lines(lines), len(lines), 0, dropped)


_TEXTS: Callable[[Rows], list[str]] = operator.attrgetter("texts")


def render_sophos(table: FeedTable, max_entries: int | None = None, expand_limit: int = 256) -> Rendered:
    """Bare IPv4 hosts, one per line; a CIDR of at most `expand_limit` addresses becomes its addresses.

    Wider CIDRs and every IPv6 row are skipped. `max_entries` counts lines: decisions are taken most relevant
    first while they fit (a CIDR that does not fit is dropped, smaller ones after it may still fit). An address
    listed twice (a host inside an expanded CIDR) is written once."""
    v4, keys = table.v4_count, table.keys
    cost: dict[int, int] = {}  # expandable CIDR row → its number of addresses
    wide = 0
    for i in [i for i, text in enumerate(table.texts[:v4]) if "/" in text]:  # hosts are written without `/32`
        size = 1 << (32 - _v4_parts(keys[i])[1])  # type: ignore[arg-type]
        if size > expand_limit:
            wide += 1
        else:
            cost[i] = size
    eligible: range | list[int] = range(v4)
    if wide:
        eligible = [i for i in range(v4) if i in cost or "/" not in table.texts[i]]
    dropped = 0
    if max_entries and len(eligible) - len(cost) + sum(cost.values()) > max_entries:
        kept: list[int] = []
        budget = max_entries
        for i in sorted(eligible, key=table.ranks.__getitem__, reverse=True):
            need = cost.get(i, 1)
            if need <= budget:
                kept.append(i)
                budget -= need
        dropped = len(eligible) - len(kept)
        eligible = sorted(kept)
    chunks, lines = _expand(table, eligible, cost)
    body = "\n".join([*chunks, ""]).encode() if chunks else b""
    return Rendered("sophos", body, lines, wide + len(table) - v4, dropped)


def _expand(table: FeedTable, rows: range | list[int], cost: dict[int, int]) -> tuple[list[str], int]:
    """The text of `rows` (IPv4, feed order) as chunks of lines, each CIDR in `cost` written out address by
    address as one chunk; and the number of lines."""
    texts, keys = table.texts, table.keys
    if not cost:
        hosts = _pick(texts, rows)
        return hosts, len(hosts)
    rows = list(rows)
    chunks: list[str] = []
    lines = 0
    start = 0  # rows[start:] are neither written nor inside an expanded CIDR yet
    for at in [at for at, i in enumerate(rows) if i in cost]:
        if at < start:  # inside the CIDR expanded last (two CIDRs are either nested or disjoint)
            continue
        i = rows[at]
        hosts = [texts[r] for r in rows[start:at]]
        address, _ = _v4_parts(keys[i])  # type: ignore[arg-type]
        chunks += hosts
        chunks.append(_addresses(address, cost[i]))
        lines += len(hosts) + cost[i]
        # Rows are sorted by address: those inside this CIDR follow it, up to its last address (any prefix).
        inside_end = bisect_right(keys, _v4_key(address + cost[i] - 1, 0xFF), i + 1, table.v4_count)
        start = bisect_left(rows, inside_end, at + 1)
    hosts = [texts[r] for r in rows[start:]]
    return chunks + hosts, lines + len(hosts)


def _addresses(first: int, count: int) -> str:
    """`count` consecutive IPv4 addresses from `first` (a CIDR's: aligned), one per line, without a final newline.

    One `str.join` per /24 over the precomputed last octets: a million addresses cost a few thousand joins."""
    blocks = []
    for start in range(first, first + count, 256):
        head = socket.inet_ntoa(start.to_bytes(4, "big"))
        head = head[: head.rindex(".") + 1]  # "a.b.c."
        low = start & 0xFF
        blocks.append(head + ("\n" + head).join(_OCTETS[low : low + min(count, 256)]))
    return "\n".join(blocks)


def render_mikrotik(
    table: FeedTable, list_name: str, now: datetime, max_entries: int | None = None, timeout_step: int = 3600
) -> Rendered:
    """A RouterOS script for `/import`: remove the list's entries, then add each row back, IPv4 then IPv6.

    `timeout=` is the time left, counted from `now` rounded down to `timeout_step` seconds: never shorter than
    the real time left, and the same text for a whole step, so an unchanged feed keeps its bytes and ETag.
    Permanent bans have no timeout (RouterOS then keeps them across reboots). The IPv6 removal comes after the
    last IPv4 line and is wrapped in `:do {} on-error={}`: on a router without IPv6 the import then fails only
    once every IPv4 entry is in place."""
    name = safe_name(list_name)
    rows, dropped = _choose(table, 0, len(table), max_entries)
    stamp = int(now.timestamp())
    base = stamp - stamp % max(timeout_step, 1)
    add4, add6 = (f"/{family} firewall address-list add list={name} address=" for family in ("ip", "ipv6"))

    def build(c: Rows) -> list[str]:
        days, seconds = _timeout_parts(c.untils, base)
        raw = c.comments
        clean = {x: sanitise(x, COMMENT_MAX["mikrotik"], _MIKROTIK_UNSAFE) for x in set(raw)}
        ends = {x: f' comment="{y}"' if y else "" for x, y in clean.items()}
        return [
            f"{add6 if ':' in t else add4}{t}{d}{s}{ends[x]}"
            for t, d, s, x in zip(c.texts, days, seconds, raw, strict=True)
        ]

    adds = table.lines(rows, build)
    v4 = _count_below(rows, table.v4_count)
    lines = [
        f'# vigil address list "{name}": {len(adds)} entries, {dropped} dropped',
        f'/ip firewall address-list remove [find where list="{name}"]',
        *adds[:v4],
        f':do {{ /ipv6 firewall address-list remove [find where list="{name}"] }} on-error={{}}',
        *adds[v4:],
    ]
    return Rendered("mikrotik", _lines(lines), len(adds), 0, dropped)


def _count_below(rows: range | list[int], limit: int) -> int:
    if isinstance(rows, range):
        return max(0, min(rows.stop, limit) - rows.start)
    return bisect_right(rows, limit - 1)


@lru_cache(maxsize=1)
def _day_parts() -> tuple[str, ...]:
    """`1h2m3s` for every second of a day, built once: a million timeouts are then a million lookups."""
    parts = []
    for second in range(86_400):
        h, rest = divmod(second, 3600)
        m, s = divmod(rest, 60)
        parts.append((f"{h}h" if h else "") + (f"{m}m" if m else "") + (f"{s}s" if s else ""))
    return tuple(parts)


def _timeout_parts(untils: list[int | None], base: int) -> tuple[list[str], list[str]]:
    """Each end's ` timeout=1d2h3m4s` (RouterOS time from `base`, zero parts left out) in two pieces, its days
    (` timeout=1d`) and the rest (`2h3m4s`), both "" for a ban without an end: table lookups, no new string."""
    cap = MIKROTIK_MAX_TIMEOUT
    days = [f" timeout={d}d" if d else " timeout=" for d in range(cap // 86_400 + 1)]
    parts = _day_parts()
    left = [None if u is None else (u - base if u - base < cap else cap) for u in untils]
    return (
        ["" if r is None else days[r // 86_400] for r in left],
        ["" if r is None else parts[r % 86_400] for r in left],
    )


def _timeouts(untils: list[int | None], base: int) -> list[str]:
    """` timeout=1d2h3m4s` (RouterOS time, zero parts left out) for each end, counted from `base`; "" if none."""
    return list(map(operator.add, *_timeout_parts(untils, base)))


def duration(seconds: int) -> str:
    """RouterOS time for a number of seconds (at least one): `1d2h3m4s`, zero parts left out."""
    return _timeouts([max(seconds, 1)], 0)[0].removeprefix(" timeout=")


def render_checkpoint(table: FeedTable, max_entries: int | None = None) -> Rendered:
    """Check Point's CSV: its header line, then `vigil-<id>,<value>,IP|IP Range,high,high,AB,<comment>`.

    IPv4 only (Check Point's `IP` and `IP Range` types take no IPv6: those rows are skipped); a CIDR is written
    as its `first-last` range. Product `AB` is the Anti-Bot blade, the one that enforces IP indicators."""
    rows, dropped = _choose(table, 0, table.v4_count, max_entries)

    def build(c: Rows) -> list[str]:
        ids = c.ids if c.ids_pass(_csv_safe) else _sanitised(c.ids, 128, _CSV_UNSAFE)
        raw = c.comments
        clean = {x: sanitise(x, COMMENT_MAX["checkpoint"], _CSV_UNSAFE) for x in set(raw)}
        return [
            f"vigil-{d},{t},IP,high,high,AB,{clean[x]}" if "/" not in t else _checkpoint_range(d, t, clean[x])
            for d, t, x in zip(ids, c.texts, raw, strict=True)
        ]

    # Ids are sanitised all together if any needs it: when a source id does, only the rows' own ids decide.
    lines = table.lines(rows, build, lambda source: source.ids_pass(_csv_safe))
    return Rendered("checkpoint", _lines([CHECKPOINT_HEADER, *lines]), len(lines), len(table) - table.v4_count, dropped)


def _csv_safe(ids: Sequence[str]) -> bool:
    """Whether ids can go in the CSV as they are (UUIDs: checked all at once)."""
    joined = "".join(ids)
    return joined.isprintable() and "," not in joined and '"' not in joined


def _checkpoint_range(decision_id: str, text: str, comment: str) -> str:
    """The row of an IPv4 CIDR, as its `first-last` range ("" for IPv6, which Check Point never gets)."""
    if ":" in text:
        return ""
    address, _, prefix = text.partition("/")
    first = int.from_bytes(socket.inet_aton(address), "big")
    last = first | ((1 << (32 - int(prefix))) - 1)
    span = f"{address}-{socket.inet_ntoa(last.to_bytes(4, 'big'))}"
    return f"vigil-{decision_id},{span},IP Range,high,high,AB,{comment}"


def render_json(table: FeedTable, name: str, max_entries: int | None = None) -> Rendered:
    """`{"schema", "feed", "count", "dropped", "max_entries", "entries": [{"value", "until", "id", "comment"}]}`,
    one entry per line; `value` is the normalised CIDR, `until` ISO 8601 UTC or null (permanent), `id` the
    decision's id and `comment` its scenario or reason."""
    rows, dropped = _choose(table, 0, len(table), max_entries)

    def build(c: Rows) -> list[str]:
        days, clocks = _iso_parts(c.untils)
        ids = c.ids if c.ids_pass(_json_safe) else [json.dumps(i)[1:-1] for i in c.ids]
        raw = c.comments
        ends = {x: f'","comment":{json.dumps(sanitise(x, COMMENT_MAX["json"]))}}}' for x in set(raw)}
        return [
            f'{{"value":"{v}","until":{a}{b},"id":"{d}{ends[x]}'
            for v, a, b, d, x in zip(c.values, days, clocks, ids, raw, strict=True)
        ]

    # Ids are escaped all together if any needs it: when a source id does, only the rows' own ids decide.
    entries = table.lines(rows, build, lambda source: source.ids_pass(_json_safe))
    head = json.dumps(
        {"schema": JSON_SCHEMA, "feed": name, "count": len(entries), "dropped": dropped, "max_entries": max_entries},
        separators=(",", ":"),
    )
    if not entries:
        return Rendered("json", f'{head[:-1]},"entries":[]}}\n'.encode(), 0, 0, dropped)
    count = len(entries)
    entries[0] = f'{head[:-1]},"entries":[\n{entries[0]}'  # the frame goes on the first and last entries:
    entries[-1] += "\n]}\n"  # one join writes the whole body
    return Rendered("json", ",\n".join(entries).encode(), count, 0, dropped)


def _json_safe(ids: Sequence[str]) -> bool:
    """Whether ids can go between JSON quotes as they are (UUIDs: checked all at once)."""
    joined = "".join(ids)
    return joined.isprintable() and '"' not in joined and "\\" not in joined


class _DayPrefixes(dict[int, str]):
    """Day number → `"2026-11-24T`, filled on first use (a few hundred distinct days in a million bans)."""

    def __missing__(self, day: int) -> str:
        self[day] = datetime.fromtimestamp(day * 86_400, UTC).strftime('"%Y-%m-%dT')
        return self[day]


@lru_cache(maxsize=1)
def _clock_parts() -> tuple[str, ...]:
    return tuple(f'{h:02d}:{m:02d}:{s:02d}Z"' for h in range(24) for m in range(60) for s in range(60))


def _iso_parts(untils: list[int | None]) -> tuple[list[str], list[str]]:
    """Each end as JSON in two pieces, `"2026-11-24T` and `10:00:00Z"` (ISO 8601, UTC), or `null` and ""."""
    days, clock = _DayPrefixes(), _clock_parts()
    return (
        ["null" if u is None else days[u // 86_400] for u in untils],
        ["" if u is None else clock[u % 86_400] for u in untils],
    )


def _iso_times(untils: list[int | None]) -> list[str]:
    """Each end as JSON: `"2026-11-24T10:00:00Z"` (ISO 8601, UTC) or `null`."""
    return list(map(operator.add, *_iso_parts(untils)))


# -- one entry point ----------------------------------------------------------------------------------------


def render(
    table: FeedTable,
    fmt: str,
    *,
    name: str,
    now: datetime,
    max_entries: int | None = None,
    expand_limit: int = 256,
    list_name: str | None = None,
    timeout_step: int = 3600,
) -> list[Rendered]:
    """Every object of one format of one feed (three for `plain`: both families, IPv4 only, IPv6 only)."""
    limit = max_entries or None
    if fmt == "plain":
        return [
            render_plain(table, "plain", limit),
            render_plain(table, "plain-v4", limit, family=4),
            render_plain(table, "plain-v6", limit, family=6),
        ]
    if fmt in ("fortigate", "paloalto"):
        return [render_plain(table, fmt, limit)]
    if fmt == "sophos":
        return [render_sophos(table, limit, expand_limit)]
    if fmt == "mikrotik":
        return [render_mikrotik(table, list_name or f"vigil-{name}", now, limit, timeout_step)]
    if fmt == "checkpoint":
        return [render_checkpoint(table, limit)]
    if fmt == "json":
        return [render_json(table, name, limit)]
    raise ValueError(f"unknown feed format {fmt!r}; known: {', '.join(FORMATS)}")
