"""Feed rendering: the bans in force as the exact bytes each kind of firewall downloads.

Pure: no AWS, no clock of its own (the caller passes `now`). Firewalls poll a feed and compare its bytes or ETag,
so the same decisions always give the same bytes: rows are sorted once (IPv4 before IPv6, then by address bytes,
then by prefix length) and nothing time-dependent is written except MikroTik's `timeout=`, quantised to
`timeout_step` seconds so a feed whose decisions did not change is rewritten at most once per step.

Speed: a publish renders every format from up to a million decisions, so a `FeedTable` is columnar (parallel
lists, sorted once with `inet_aton`/`inet_pton` keys) and every format is one list comprehension and one
`str.join`; no object is created per row.

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

import json
import operator
import re
import socket
from bisect import bisect_right
from collections.abc import Sequence
from datetime import UTC, datetime
from functools import cached_property, lru_cache
from typing import Any, NamedTuple

from chalicelib.distribution.feeds.formats import EXTENSIONS, FORMATS

TEXT = "text/plain; charset=utf-8"
CONTENT_TYPES = {"checkpoint": "text/csv; charset=utf-8", "json": "application/json"}

PERMANENT = float("inf")  # the rank of a ban without an end: above every epoch
MIKROTIK_MAX_TIMEOUT = 21_474_836  # 35w3d13:13:56, RouterOS's longest timeout (2^31 ticks of 10 ms; unverified)
COMMENT_MAX = {"mikrotik": 64, "checkpoint": 64, "json": 256}
CHECKPOINT_HEADER = "# UNIQ-NAME,VALUE,TYPE,CONFIDENCE,SEVERITY,PRODUCT,COMMENT"
JSON_SCHEMA = "vigil.feed/1"

_PREFIX_BYTE = {str(p): bytes((p,)) for p in range(129)}
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
    """The caller's columns, in the caller's order; a table and its subsets read them through their order."""

    def __init__(
        self,
        values: Sequence[str],
        untils: Sequence[int | None],
        ids: Sequence[str],
        comments: Sequence[str],
        rows: Sequence[Any],
    ) -> None:
        self.values, self.untils, self.ids, self.comments, self.rows = values, untils, ids, comments, rows

    @cached_property
    def texts(self) -> list[str]:
        """Each value as firewalls write it: a bare address for a host, the CIDR otherwise."""
        return [v.removesuffix("/128") if ":" in v else v.removesuffix("/32") for v in self.values]


class FeedTable:
    """Bans in feed order: sort keys, and the caller's columns read through the sorted order on first use.

    Columns are gathered lazily because each costs a pass of random memory reads over a million rows, and a
    format needs only some of them (`plain` needs the texts alone)."""

    def __init__(self, keys: Sequence[bytes], order: Sequence[int], v4_count: int, source: _Columns) -> None:
        self.keys = keys  # address bytes + one prefix byte: the sort key, and each row's prefix length
        self.order = order  # row i of the table is row order[i] of the source columns
        self.v4_count = v4_count  # rows [0, v4_count) are IPv4, the rest IPv6
        self._source = source

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
        untils: Sequence[int | None],
        ids: Sequence[str],
        comments: Sequence[str],
        rows: Sequence[Any] | None = None,
    ) -> FeedTable:
        """Sort normalised CIDRs into feed order (IPv4 first, then address bytes, then prefix length).

        A value given twice keeps its most relevant row. `untils` are epoch seconds (None: permanent);
        `rows` are any objects the caller wants back for selection (`FeedTable.rows`)."""
        source = _Columns(values, untils, ids, comments, rows if rows is not None else [None] * len(values))
        v4 = [i for i, v in enumerate(values) if ":" not in v]
        v6 = [i for i, v in enumerate(values) if ":" in v]
        aton, pton, af6, pb = socket.inet_aton, socket.inet_pton, socket.AF_INET6, _PREFIX_BYTE
        keys = [aton(a) + pb[p] for a, _, p in (values[i].partition("/") for i in v4)]
        keys += [pton(af6, a) + pb[p] for a, _, p in (values[i].partition("/") for i in v6)]
        # Sort positions of `keys` (v4 part, then v6 part), then gather keys and source rows in that order.
        perm = sorted(range(len(v4)), key=keys.__getitem__) + sorted(range(len(v4), len(keys)), key=keys.__getitem__)
        keys = _gather(keys, perm)
        order = _gather(v4 + v6, perm)
        v4_count = len(v4)
        if any(map(operator.eq, keys, keys[1:])):  # a value given twice: equal keys are neighbours once sorted
            kept = _most_relevant_of_equals(keys, order, untils)
            keys, order, v4_count = _gather(keys, kept), _gather(order, kept), bisect_right(kept, v4_count - 1)
        return cls(keys, order, v4_count, source)

    def take(self, selected: Sequence[int]) -> FeedTable:
        """The rows at `selected` (ascending positions), still in feed order."""
        return FeedTable(
            _gather(self.keys, selected),
            _gather(self.order, selected),
            bisect_right(selected, self.v4_count - 1),
            self._source,
        )

    @cached_property
    def values(self) -> list[str]:
        return _gather(self._source.values, self.order)

    @cached_property
    def texts(self) -> list[str]:
        return _gather(self._source.texts, self.order)

    @cached_property
    def untils(self) -> list[int | None]:
        return _gather(self._source.untils, self.order)

    @cached_property
    def ids(self) -> list[str]:
        return _gather(self._source.ids, self.order)

    @cached_property
    def comments(self) -> list[str]:
        return _gather(self._source.comments, self.order)

    @cached_property
    def rows(self) -> list[Any]:
        return _gather(self._source.rows, self.order)

    @cached_property
    def ranks(self) -> list[float]:
        """Relevance for `max_entries`: the end's epoch, `PERMANENT` for a ban without one. Floats (exact for
        epoch seconds) because CPython sorts a list of floats several times faster than one of large ints."""
        return [PERMANENT if u is None else float(u) for u in self.untils]


def _gather(column: Sequence[Any], positions: Sequence[int]) -> list[Any]:
    """`[column[i] for i in positions]`, through `itemgetter` (a C loop) when there are several."""
    if len(positions) < 2:
        return [column[i] for i in positions]
    return list(operator.itemgetter(*positions)(column))


def _most_relevant_of_equals(keys: list[bytes], order: list[int], untils: Sequence[int | None]) -> list[int]:
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
    above = [i for i, rank in zip(candidates, ranks, strict=True) if rank > threshold]
    ties = [i for i, rank in zip(candidates, ranks, strict=True) if rank == threshold][: max_entries - len(above)]
    return sorted(above + ties)


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
    return ("\n".join(lines) + "\n").encode() if lines else b""


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
    lines = _pick(table.texts, rows)
    return Rendered(variant, _lines(lines), len(lines), 0, dropped)


def render_sophos(table: FeedTable, max_entries: int | None = None, expand_limit: int = 256) -> Rendered:
    """Bare IPv4 hosts, one per line; a CIDR of at most `expand_limit` addresses becomes its addresses.

    Wider CIDRs and every IPv6 row are skipped. `max_entries` counts lines: decisions are taken most relevant
    first while they fit (a CIDR that does not fit is dropped, smaller ones after it may still fit). An address
    listed twice (a host inside an expanded CIDR) is written once."""
    v4, keys = table.v4_count, table.keys
    cost: dict[int, int] = {}  # expandable CIDR row → its number of addresses
    wide = 0
    for i in [i for i in range(v4) if keys[i][4] != 32]:
        size = 1 << (32 - keys[i][4])
        if size > expand_limit:
            wide += 1
        else:
            cost[i] = size
    eligible: range | list[int] = range(v4)
    if wide:
        eligible = [i for i in range(v4) if keys[i][4] == 32 or i in cost]
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
    lines = _expand(table, eligible, cost)
    return Rendered("sophos", _lines(lines), len(lines), wide + len(table) - v4, dropped)


def _expand(table: FeedTable, rows: range | list[int], cost: dict[int, int]) -> list[str]:
    """The lines of `rows` (IPv4, feed order), each CIDR in `cost` written out address by address."""
    texts, keys = table.texts, table.keys
    if not cost:
        return _pick(texts, rows)
    rows = list(rows)
    out: list[str] = []
    # The last expanded CIDR's last address + 0xff: rows whose key is not above it lie inside that CIDR (rows
    # are sorted by address, and two CIDRs are either nested or disjoint).
    covered = b""
    start = 0
    for at, i in enumerate(rows):
        if i not in cost or keys[i] <= covered:
            continue
        out += [texts[r] for r in rows[start:at] if keys[r] > covered]
        base = int.from_bytes(keys[i][:4], "big")
        out += [socket.inet_ntoa((base + k).to_bytes(4, "big")) for k in range(cost[i])]
        covered = (base + cost[i] - 1).to_bytes(4, "big") + b"\xff"
        start = at + 1
    out += [texts[r] for r in rows[start:] if keys[r] > covered]
    return out


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
    texts = _pick(table.texts, rows)
    comments = _sanitised(_pick(table.comments, rows), COMMENT_MAX["mikrotik"], _MIKROTIK_UNSAFE)
    timeouts = _timeouts(_pick(table.untils, rows), base)
    v4 = _count_below(rows, table.v4_count)
    lines = [
        f'# vigil address list "{name}": {len(texts)} entries, {dropped} dropped',
        f'/ip firewall address-list remove [find where list="{name}"]',
    ]
    for family, lo, hi in (("ip", 0, v4), ("ipv6", v4, len(texts))):
        if family == "ipv6":
            lines.append(f':do {{ /ipv6 firewall address-list remove [find where list="{name}"] }} on-error={{}}')
        add = f"/{family} firewall address-list add list={name} address="
        lines += [
            f'{add}{t}{o} comment="{c}"' if c else f"{add}{t}{o}"
            for t, o, c in zip(texts[lo:hi], timeouts[lo:hi], comments[lo:hi], strict=True)
        ]
    return Rendered("mikrotik", _lines(lines), len(texts), 0, dropped)


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


def _timeouts(untils: list[int | None], base: int) -> list[str]:
    """` timeout=1d2h3m4s` (RouterOS time, zero parts left out) for each end, counted from `base`; "" if none."""
    cap = MIKROTIK_MAX_TIMEOUT
    days = [f" timeout={d}d" if d else " timeout=" for d in range(cap // 86_400 + 1)]
    parts = _day_parts()
    left = [None if u is None else (u - base if u - base < cap else cap) for u in untils]
    return ["" if r is None else days[r // 86_400] + parts[r % 86_400] for r in left]


def duration(seconds: int) -> str:
    """RouterOS time for a number of seconds (at least one): `1d2h3m4s`, zero parts left out."""
    return _timeouts([max(seconds, 1)], 0)[0].removeprefix(" timeout=")


def render_checkpoint(table: FeedTable, max_entries: int | None = None) -> Rendered:
    """Check Point's CSV: its header line, then `vigil-<id>,<value>,IP|IP Range,high,high,AB,<comment>`.

    IPv4 only (Check Point's `IP` and `IP Range` types take no IPv6: those rows are skipped); a CIDR is written
    as its `first-last` range. Product `AB` is the Anti-Bot blade, the one that enforces IP indicators."""
    rows, dropped = _choose(table, 0, table.v4_count, max_entries)
    ids = _pick(table.ids, rows)
    joined = "".join(ids)
    if not joined.isprintable() or "," in joined or '"' in joined:  # ids are UUIDs: check them all at once
        ids = _sanitised(ids, 128, _CSV_UNSAFE)
    comments = _sanitised(_pick(table.comments, rows), COMMENT_MAX["checkpoint"], _CSV_UNSAFE)
    lines = [CHECKPOINT_HEADER] + [
        f"vigil-{d},{t},IP,high,high,AB,{c}" if k[4] == 32 else f"vigil-{d},{_range4(k)},IP Range,high,high,AB,{c}"
        for d, t, k, c in zip(ids, _pick(table.texts, rows), _pick(table.keys, rows), comments, strict=True)
    ]
    return Rendered("checkpoint", _lines(lines), len(ids), len(table) - table.v4_count, dropped)


def _range4(key: bytes) -> str:
    last = int.from_bytes(key[:4], "big") | ((1 << (32 - key[4])) - 1)
    return f"{socket.inet_ntoa(key[:4])}-{socket.inet_ntoa(last.to_bytes(4, 'big'))}"


def render_json(table: FeedTable, name: str, max_entries: int | None = None) -> Rendered:
    """`{"schema", "feed", "count", "dropped", "max_entries", "entries": [{"value", "until", "id", "comment"}]}`,
    one entry per line; `value` is the normalised CIDR, `until` ISO 8601 UTC or null (permanent), `id` the
    decision's id and `comment` its scenario or reason."""
    rows, dropped = _choose(table, 0, len(table), max_entries)
    values = _pick(table.values, rows)
    untils = _iso_times(_pick(table.untils, rows))
    ids = _pick(table.ids, rows)
    joined = "".join(ids)
    if not joined.isprintable() or '"' in joined or "\\" in joined:  # ids are UUIDs: check them all at once
        ids = [json.dumps(i)[1:-1] for i in ids]
    raw = _pick(table.comments, rows)
    memo = {c: json.dumps(sanitise(c, COMMENT_MAX["json"])) for c in set(raw)}
    comments = [memo[c] for c in raw]
    head = json.dumps(
        {"schema": JSON_SCHEMA, "feed": name, "count": len(values), "dropped": dropped, "max_entries": max_entries},
        separators=(",", ":"),
    )
    items = ",\n".join(
        [
            f'{{"value":"{v}","until":{u},"id":"{d}","comment":{c}}}'
            for v, u, d, c in zip(values, untils, ids, comments, strict=True)
        ]
    )
    body = head[:-1] + (',"entries":[\n' + items + "\n]}\n" if items else ',"entries":[]}\n')
    return Rendered("json", body.encode(), len(values), 0, dropped)


class _DayPrefixes(dict[int, str]):
    """Day number → `"2026-11-24T`, filled on first use (a few hundred distinct days in a million bans)."""

    def __missing__(self, day: int) -> str:
        self[day] = datetime.fromtimestamp(day * 86_400, UTC).strftime('"%Y-%m-%dT')
        return self[day]


@lru_cache(maxsize=1)
def _clock_parts() -> tuple[str, ...]:
    return tuple(f'{h:02d}:{m:02d}:{s:02d}Z"' for h in range(24) for m in range(60) for s in range(60))


def _iso_times(untils: list[int | None]) -> list[str]:
    """Each end as JSON: `"2026-11-24T10:00:00Z"` (ISO 8601, UTC) or `null`."""
    days, clock = _DayPrefixes(), _clock_parts()
    return ["null" if u is None else days[u // 86_400] + clock[u % 86_400] for u in untils]


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
