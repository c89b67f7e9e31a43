"""Which feeds exist, what each carries, where its objects live and how firewalls may read them.

The catalogue is derived, not stored: `all` (every global ban), one feed per tag in use (`tag-<tag>`, which seed
003 calls `ioc-feed-<tag>.txt`), and one per target group (the group specs come from the caller: targets are
configured elsewhere). A tag feed, once published, stays in the catalogue while its tag has no bans: an empty
feed, never a 404, because a firewall that gets an error keeps enforcing its last copy.

Objects: `feeds/<name>/<variant>.<ext>` (`plain.txt`, `plain-v4.txt`, `plain-v6.txt`, `sophos.txt`,
`fortigate.txt`, `paloalto.txt`, `mikrotik.rsc`, `checkpoint.csv`, `json.json`) and `feeds/index.json`.

Access (docs/FEEDS.md): `api` (the default: `GET /api/v1/feeds/{name}` with a read-only API key as feed token),
`presigned` (time-limited S3 URLs) or `bucket-policy` (S3 `GetObject` on `feeds/<name>/*` from the firewalls'
source addresses only; `bucket_policy` writes it). Pure: no AWS.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from operator import attrgetter
from typing import Any

from chalicelib.core.errors import InvalidInputError, NotFoundError
from chalicelib.decisions.model import GLOBAL, Decision
from chalicelib.distribution.feeds.formats import EXTENSIONS, FORMATS, VARIANT_NAMES, VARIANTS
from chalicelib.distribution.feeds.render import FeedTable

PREFIX = "feeds/"
INDEX_KEY = "feeds/index.json"
ACCESS_MODES = ("api", "presigned", "bucket-policy")
ALL = "all"
TAG_PREFIX = "tag-"
SEED3_PREFIX, SEED3_SUFFIX = "ioc-feed-", ".txt"  # seed 003's feed names, served as aliases of tag feeds
BY_EXTENSION = {"txt": "plain", "rsc": "mikrotik", "csv": "checkpoint", "json": "json"}
POLICY_SID_PREFIX = "VigilFeed"
# Documented device limits (research/integrations.md §1); None = no limit. A setting overrides each.
DEFAULT_MAX_ENTRIES: dict[str, int | None] = {
    "plain": None,
    "sophos": 100_000,  # SFOS threat-feed limits are not documented: a cautious Vigil choice
    "fortigate": 131_072,  # 128K per external resource before FortiOS 7.4.4 (300,000 shared after)
    "paloalto": 50_000,  # the smallest documented EDL capacity (PAN-OS 7.1)
    "mikrotik": 100_000,  # routers hold more, but a /import of more lines takes minutes: a Vigil choice
    "checkpoint": 1_000_000,  # the Infinity IoC CSV limit
    "json": None,
}
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,99}$")


def slug(text: str) -> str:
    """A tag or group as a feed name part: lower case, `[a-z0-9_-]`, other runs of characters become `-`."""
    return re.sub(r"[^a-z0-9_]+", "-", text.lower()).strip("-")[:90]


def tag_feed(tag: str) -> str:
    return TAG_PREFIX + slug(tag)


def object_key(name: str, variant: str) -> str:
    return f"{PREFIX}{name}/{variant}.{EXTENSIONS.get(variant, 'txt')}"


def format_of(variant: str) -> str:
    """The format a variant belongs to (`plain-v4` → `plain`)."""
    return next(f for f in FORMATS if variant in VARIANTS[f])


@dataclass(frozen=True)
class Selector:
    """Which bans in force a feed carries: every condition given must hold (tags: any one of them)."""

    scopes: frozenset[str] = frozenset({GLOBAL})
    tags: frozenset[str] = frozenset()  # slugs (`slug(tag)`), compared without regard to case
    origins: frozenset[str] = frozenset()

    def matches(self, decision: Decision) -> bool:
        if decision.scope not in self.scopes:
            return False
        if self.origins and decision.origin not in self.origins:
            return False
        return not self.tags or any(slug(t) in self.tags for t in decision.tags)


@dataclass(frozen=True)
class FeedSpec:
    """One feed: its name, formats, selection, limits and how firewalls read it."""

    name: str
    formats: tuple[str, ...] = FORMATS
    # A `Selector`, or any predicate over a decision (a target group's own selector, e.g. `Selector.wants`
    # in distribution/targets.py).
    selector: Selector | Callable[[Decision], bool] = field(default_factory=Selector)
    max_entries: Mapping[str, int | None] = field(default_factory=dict)  # per format; missing → default
    expand_limit: int = 256  # Sophos: widest CIDR (in addresses) written out host by host
    access: str = "api"
    source_cidrs: tuple[str, ...] = ()  # the firewalls' addresses (for `bucket-policy`)
    title: str = ""
    list_name: str | None = None  # MikroTik address list (default `vigil-<name>`)

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise InvalidInputError(f"feed name {self.name!r} must match {_NAME.pattern}")
        unknown = [f for f in self.formats if f not in FORMATS]
        if unknown:
            raise InvalidInputError(f"feed {self.name}: unknown formats {unknown}; known: {', '.join(FORMATS)}")
        if self.access not in ACCESS_MODES:
            raise InvalidInputError(f"feed {self.name}: access must be one of {', '.join(ACCESS_MODES)}")

    def limit(self, fmt: str) -> int | None:
        """The most entries this format may carry (None: no limit; 0 in settings means none too)."""
        return self.max_entries.get(fmt, DEFAULT_MAX_ENTRIES.get(fmt)) or None


@dataclass(frozen=True)
class FeedDefaults:
    """What the platform's settings say about feeds that do not say otherwise."""

    formats: tuple[str, ...] = FORMATS
    max_entries: Mapping[str, int | None] = field(default_factory=dict)
    expand_limit: int = 256
    access: str = "api"
    source_cidrs: tuple[str, ...] = ()  # the firewalls reading the catalogue's feeds, for `bucket-policy`


def catalogue(
    tags: Iterable[str],
    groups: Sequence[FeedSpec] = (),
    known: Iterable[str] = (),
    defaults: FeedDefaults | None = None,
) -> list[FeedSpec]:
    """`all`, a feed per tag in use or published before (`known` feed names), and the group feeds, by name."""
    d = defaults or FeedDefaults()

    def spec(name: str, selector: Selector, title: str) -> FeedSpec:
        return FeedSpec(name, d.formats, selector, d.max_entries, d.expand_limit, d.access, d.source_cidrs, title)

    specs = {ALL: spec(ALL, Selector(), "Every global ban")}
    tag_slugs = {slug(t) for t in tags if slug(t)}
    tag_slugs |= {n.removeprefix(TAG_PREFIX) for n in known if n.startswith(TAG_PREFIX)}
    for s in sorted(tag_slugs):
        specs[TAG_PREFIX + s] = spec(TAG_PREFIX + s, Selector(tags=frozenset({s})), f"Global bans tagged {s}")
    for group in groups:
        if group.name in specs or group.name == ALL or group.name.startswith(TAG_PREFIX):
            raise InvalidInputError(f"feed name {group.name!r} is reserved or taken; name group feeds 'group-<name>'")
        specs[group.name] = group
    return [specs[name] for name in sorted(specs)]


def table_of(decisions: Sequence[Decision]) -> FeedTable:
    """The bans as a feed table (rows are the decisions, for selection); comment = scenario, else reason.

    Only the values are read now; ends, ids and comments are read from the decisions when a format first
    needs them (`plain`, `fortigate` and `paloalto` without a limit need none)."""
    return FeedTable.build(
        list(map(_VALUE, decisions)),
        lambda: [None if u is None else int(u.timestamp()) for u in map(_UNTIL, decisions)],
        lambda: list(map(_ID, decisions)),
        lambda: [d.scenario or d.reason or "" for d in decisions],
        decisions,
    )


_VALUE, _UNTIL, _ID = attrgetter("value"), attrgetter("until"), attrgetter("id")


def tags_in(decisions: Iterable[Decision]) -> set[str]:
    """Every tag on a global ban (the tags that get a feed)."""
    return {t for d in decisions if d.tags and d.scope == GLOBAL for t in d.tags}


def select(table: FeedTable, specs: Sequence[FeedSpec]) -> dict[str, FeedTable]:
    """Each feed's rows of `table`, in feed order. One pass serves every tag feed; `all` on a table of global
    bans is the table itself."""
    rows: list[Decision] = table.rows
    by_tag: dict[str, list[int]] = defaultdict(list)
    slugs: dict[str, str] = {}
    for i, d in enumerate(rows):
        if d.tags and d.scope == GLOBAL:
            for t in {slugs.setdefault(t, slug(t)) for t in d.tags}:
                by_tag[t].append(i)
    everything_global = all(d.scope == GLOBAL for d in rows)
    out = {}
    for spec in specs:
        sel = spec.selector
        if not isinstance(sel, Selector):
            out[spec.name] = table.take([i for i, d in enumerate(rows) if sel(d)])
        elif sel == Selector() and everything_global:
            out[spec.name] = table
        elif sel.scopes == {GLOBAL} and not sel.origins and len(sel.tags) == 1:
            out[spec.name] = table.take(by_tag.get(next(iter(sel.tags)), []))
        else:
            out[spec.name] = table.take([i for i, d in enumerate(rows) if sel.matches(d)])
    return out


@dataclass(frozen=True)
class FeedRef:
    """A feed object asked for by a path: which feed, which variant."""

    name: str
    variant: str

    @property
    def key(self) -> str:
        return object_key(self.name, self.variant)


def resolve(path_name: str, fmt: str | None = None) -> FeedRef:
    """Read the `{name}` of `GET /api/v1/feeds/{name}` and its `format` query.

    `all`, `tag-bpe` (format from `fmt`, default `plain`); `all.rsc`, `all.csv`, `all.json`, `all.txt` (the
    extension names the format: `.txt` is `plain`, other text variants need `format=`); seed 003's
    `ioc-feed-<tag>.txt` (the tag feed, plain). Feed names have no dots, so the first dot starts the extension."""
    name, dot, ext = path_name.strip().lower().partition(".")
    variant = fmt or "plain"
    if path_name.startswith(SEED3_PREFIX) and path_name.endswith(SEED3_SUFFIX):
        tag = path_name[len(SEED3_PREFIX) : -len(SEED3_SUFFIX)]
        name, variant, dot = tag_feed(tag), fmt or "plain", ""
    elif dot:
        implied = BY_EXTENSION.get(ext.lower())
        if implied is None:
            raise NotFoundError(f"No feed named {path_name!r}; extensions are .txt, .rsc, .csv, .json")
        if fmt and EXTENSIONS.get(fmt, "txt") != ext.lower():
            raise InvalidInputError(f"format {fmt!r} does not match the extension .{ext}")
        variant = fmt or implied
    if variant not in VARIANT_NAMES:
        raise InvalidInputError(f"format must be one of {', '.join(VARIANT_NAMES)}")
    if not _NAME.match(name):
        raise NotFoundError(f"No feed named {path_name!r}")
    return FeedRef(name, variant)


def bucket_policy(feeds_with_cidrs: Mapping[str, Sequence[str]], bucket: str) -> dict[str, Any]:
    """An S3 bucket policy letting each feed's firewalls (`aws:SourceIp`) `GetObject` its objects, nothing else.

    One statement per feed with addresses, `Sid` = `VigilFeed<hash of the name>` so `FeedStore.put_bucket_policy`
    can replace Vigil's statements and keep the others. S3 counts a policy limited by `aws:SourceIp` as
    non-public, so it passes Block Public Access; Vigil refuses ranges wider than /8 (IPv4) or /32 (IPv6)."""
    statements = []
    for name in sorted(feeds_with_cidrs):
        cidrs = sorted({_source_cidr(c) for c in feeds_with_cidrs[name]})
        if not cidrs:
            continue
        statements.append(
            {
                "Sid": policy_sid(name),
                "Effect": "Allow",
                "Principal": "*",
                "Action": "s3:GetObject",
                "Resource": f"arn:aws:s3:::{bucket}/{PREFIX}{name}/*",
                "Condition": {"IpAddress": {"aws:SourceIp": cidrs}},
            }
        )
    return {"Version": "2012-10-17", "Statement": statements}


def policy_sid(name: str) -> str:
    """A statement id (IAM allows letters and digits only) that names one feed and no other."""
    return POLICY_SID_PREFIX + hashlib.sha256(name.encode()).hexdigest()[:16]


def _source_cidr(text: str) -> str:
    try:
        network = ipaddress.ip_network(text.strip(), strict=False)
    except ValueError as exc:
        raise InvalidInputError(f"{text!r} is not an address or CIDR") from exc
    if network.prefixlen < (8 if network.version == 4 else 32):
        raise InvalidInputError(f"{network} is too wide to open a feed to (at most /8 for IPv4, /32 for IPv6)")
    return str(network)
