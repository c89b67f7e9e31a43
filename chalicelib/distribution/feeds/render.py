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
import re
import socket
from bisect import bisect_right
from collections.abc import Sequence
from datetime import UTC, datetime
from functools import cached_property, lru_cache
from typing import Any, NamedTuple

FORMATS = ("plain", "sophos", "fortigate", "paloalto", "mikrotik", "checkpoint", "json")
VARIANTS: dict[str, tuple[str, ...]] = {f: (f,) for f in FORMATS} | {"plain": ("plain", "plain-v4", "plain-v6")}
EXTENSIONS = {"mikrotik": "rsc", "checkpoint": "csv", "json": "json"}  # every other variant is .txt
TEXT = "text/plain; charset=utf-8"
CONTENT_TYPES = {"checkpoint": "text/csv; charset=utf-8", "json": "application/json"}

PERMANENT = 1 << 62  # the rank of a ban without an end: above every epoch
MIKROTIK_MAX_TIMEOUT = 21_474_836  # 35w3d13:13:56, RouterOS's longest timeout (2^31 ticks of 10 ms; unverified)
COMMENT_MAX = {"mikrotik": 64, "checkpoint": 64, "json": 256}
CHECKPOINT_HEADER = "# UNIQ-NAME,VALUE,TYPE,CONFIDENCE,SEVERITY,PRODUCT,COMMENT"
JSON_SCHEMA = "vigil.feed/1"

_PREFIX_BYTE = {str(p): bytes((p,)) for p in range(129)}
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\s]+")
_JSON_UNSAFE = re.compile(r'["\\\x00-\x1f\x7f-\x9f\u2028\u2029]')
# RouterOS strings: `"` ends them, `\` escapes, `$` and `[` substitute, `{}`/`;` would end the `:do` block.
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


class FeedTable:
    """Bans as parallel columns sorted in feed order; `rows` carries the caller's objects for selection."""

    def __init__(
        self,
        values: list[str],
        keys: list[bytes],
        untils: list[int | None],
        ids: list[str],
        comments: list[str],
        v4_count: int,
        rows: list[Any],
    ) -> None:
        self.values = values  # normalised CIDRs
        self.keys = keys  # address bytes + one prefix byte: the sort key, and the prefix of each row
        self.untils = untils  # epoch seconds, None for permanent
        self.ids = ids
        self.comments = comments
        self.v4_count = v4_count  # rows [0, v4_count) are IPv4, the rest IPv6
        self.rows = rows

    def __len__(self) -> int:
        return len(self.values)

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
        values: list[str],
        untils: list[int | None],
        ids: list[str],
        comments: list[str],
        rows: list[Any] | None = None,
    ) -> FeedTable:
        """Sort the columns into feed order; a value given twice keeps its most relevant row."""
        rows = rows if rows is not None else [None] * len(values)
        if len(set(values)) != len(values):
            values, untils, ids, comments, rows = _deduplicate(values, untils, ids, comments, rows)
        v4 = [i for i, v in enumerate(values) if ":" not in v]
        v6 = [i for i, v in enumerate(values) if ":" in v]
        aton, pton, af6, pb = socket.inet_aton, socket.inet_pton, socket.AF_INET6, _PREFIX_BYTE
        keys4 = [aton(a) + pb[p] for a, _, p in (values[i].partition("/") for i in v4)]
        keys6 = [pton(af6, a) + pb[p] for a, _, p in (values[i].partition("/") for i in v6)]
        order4 = sorted(range(len(v4)), key=keys4.__getitem__)
        order6 = sorted(range(len(v6)), key=keys6.__getitem__)
        order = [v4[i] for i in order4] + [v6[i] for i in order6]
        keys = [keys4[i] for i in order4] + [keys6[i] for i in order6]
        return cls(
            [values[i] for i in order],
            keys,
            [untils[i] for i in order],
            [ids[i] for i in order],
            [comments[i] for i in order],
            len(v4),
            [rows[i] for i in order],
        )

    def take(self, selected: Sequence[int]) -> FeedTable:
        """The rows at `selected` (ascending positions), still in feed order."""
        v4_count = bisect_right(selected, self.v4_count - 1) if selected else 0
        return FeedTable(
            [self.values[i] for i in selected],
            [self.keys[i] for i in selected],
            [self.untils[i] for i in selected],
            [self.ids[i] for i in selected],
            [self.comments[i] for i in selected],
            v4_count,
            [self.rows[i] for i in selected],
        )

    @cached_property
    def texts(self) -> list[str]:
        """Each value as firewalls write it: a bare address for a host, the CIDR otherwise."""
        v4 = self.v4_count
        out = [v[:-3] if v[-3:] == "/32" else v for v in self.values[:v4]]
        return out + [v[:-4] if v[-4:] == "/128" else v for v in self.values[v4:]]


def _deduplicate(*columns: list[Any]) -> tuple[list[Any], ...]:
    values, untils = columns[0], columns[1]
    best: dict[str, int] = {}
    for i, value in enumerate(values):
        seen = best.get(value)
        if seen is None or _rank(untils[i]) > _rank(untils[seen]):
            best[value] = i
    kept = sorted(best.values())
    return tuple([column[i] for i in kept] for column in columns)


def _rank(until: int | None) -> int:
    return PERMANENT if until is None else until


def keep_most_relevant(table: FeedTable, candidates: range | list[int], max_entries: int | None) -> list[int]:
    """The `max_entries` most relevant of `candidates`, back in feed order.

    Relevance: permanent bans first, then the bans that end last (a later end is a newer ban or a longer one,
    and repeat offenders get longer bans), ties by feed order. Callers check the count first: this sorts."""
    if not max_entries or len(candidates) <= max_entries:
        return list(candidates)
    untils = table.untils
    ranked = sorted(candidates, key=lambda i: PERMANENT if untils[i] is None else untils[i], reverse=True)
    return sorted(ranked[:max_entries])  # sorted(reverse=True) is stable: equal ranks stay in feed order


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
        untils = table.untils
        for i in sorted(eligible, key=lambda r: PERMANENT if untils[r] is None else untils[r], reverse=True):
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
    """A RouterOS script for `/import`: remove the list's entries, then add each row back.

    `timeout=` is the time left, counted from `now` rounded down to `timeout_step` seconds: never shorter than
    the real time left, and the same text for a whole step, so an unchanged feed keeps its bytes and ETag.
    Permanent bans have no timeout (RouterOS then keeps them across reboots). Every command sits in
    `:do {...} on-error={}` so one refused line (IPv6 disabled, a duplicate) does not abort the import."""
    name = safe_name(list_name)
    rows, dropped = _choose(table, 0, len(table), max_entries)
    stamp = int(now.timestamp())
    base = stamp - stamp % max(timeout_step, 1)
    texts = _pick(table.texts, rows)
    comments = _sanitised(_pick(table.comments, rows), COMMENT_MAX["mikrotik"], _MIKROTIK_UNSAFE)
    timeouts = [
        "" if u is None else " timeout=" + _duration(min(u - base, MIKROTIK_MAX_TIMEOUT))
        for u in _pick(table.untils, rows)
    ]
    v4 = _count_below(rows, table.v4_count)
    lines = [
        f'# vigil feed "{name}": {len(texts)} entries, {dropped} dropped',
        f':do {{ /ip firewall address-list remove [find where list="{name}"] }} on-error={{}}',
        f':do {{ /ipv6 firewall address-list remove [find where list="{name}"] }} on-error={{}}',
    ]
    for family, lo, hi in (("ip", 0, v4), ("ipv6", v4, len(texts))):
        add = f":do {{ /{family} firewall address-list add list={name} address="
        lines += [
            f'{add}{t}{o} comment="{c}" }} on-error={{}}' if c else f"{add}{t}{o} }} on-error={{}}"
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


def _duration(seconds: int) -> str:
    """RouterOS time: `1d2h3m4s`, zero parts left out."""
    days, rest = divmod(max(seconds, 1), 86_400)
    return (f"{days}d" if days else "") + _day_parts()[rest]


def render_checkpoint(table: FeedTable, max_entries: int | None = None) -> Rendered:
    """Check Point's CSV: its header line, then `vigil-<id>,<value>,IP|IP Range,high,high,AB,<comment>`.

    IPv4 only (Check Point's `IP` and `IP Range` types take no IPv6: those rows are skipped); a CIDR is written
    as its `first-last` range. Product `AB` is the Anti-Bot blade, the one that enforces IP indicators."""
    rows, dropped = _choose(table, 0, table.v4_count, max_entries)
    ids = _pick(table.ids, rows)
    if _CSV_UNSAFE.search("".join(set(ids))) or _CONTROL.search("".join(set(ids))):
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
    """`{"schema", "feed", "count", "dropped", "max_entries", "entries": [{"value", "until", "decision_id",
    "comment"}]}` with one entry per line; `until` is ISO 8601 UTC, or null for a permanent ban."""
    rows, dropped = _choose(table, 0, len(table), max_entries)
    values = _pick(table.values, rows)
    untils = [_iso_json(u) for u in _pick(table.untils, rows)]
    ids = _pick(table.ids, rows)
    if _JSON_UNSAFE.search("".join(set(ids))):
        ids = [json.dumps(i)[1:-1] for i in ids]
    comments = [json.dumps(c) for c in _sanitised(_pick(table.comments, rows), COMMENT_MAX["json"], None)]
    head = json.dumps(
        {"schema": JSON_SCHEMA, "feed": name, "count": len(values), "dropped": dropped, "max_entries": max_entries},
        separators=(",", ":"),
    )
    items = ",\n".join(
        [
            f'{{"value":"{v}","until":{u},"decision_id":"{d}","comment":{c}}}'
            for v, u, d, c in zip(values, untils, ids, comments, strict=True)
        ]
    )
    body = head[:-1] + (',"entries":[\n' + items + "\n]}\n" if items else ',"entries":[]}\n')
    return Rendered("json", body.encode(), len(values), 0, dropped)


@lru_cache(maxsize=1)
def _clock_parts() -> tuple[str, ...]:
    return tuple(f'{h:02d}:{m:02d}:{s:02d}Z"' for h in range(24) for m in range(60) for s in range(60))


@lru_cache(maxsize=4096)
def _day_prefix(day: int) -> str:
    return datetime.fromtimestamp(day * 86_400, UTC).strftime('"%Y-%m-%dT')


def _iso_json(until: int | None) -> str:
    """`"2026-11-24T10:00:00Z"` (quoted, for JSON) or `null`: a day prefix and a per-second suffix, both cached."""
    if until is None:
        return "null"
    day, second = divmod(until, 86_400)
    return _day_prefix(day) + _clock_parts()[second]


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
