"""Log parsers: one pure function per log format, from a line of text to an `Event` or `None`.

A parser is `parse(line, context) -> Event | None`. It never raises on any input: a line it does not
recognise, and a recognised line whose address is not an IP, both give `None`, because one bad line must never
stop a batch (and a hostname where an IP belongs must never become a ban). `ParseContext` carries what a line
may leave out: the year and timezone of a classic syslog timestamp, and the host name when the line has none.

This module holds what the format modules share: the context, the metadata each format declares for the
registry, and the small hot-path helpers for addresses, ports and timestamps. The helpers memoise pure
functions (a log repeats its timestamps and its attackers), so results never depend on what was parsed before.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from functools import lru_cache
from types import MappingProxyType
from typing import Any, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from chalicelib.core.clock import EPOCH
from chalicelib.core.errors import InvalidInputError
from chalicelib.events.model import Event

MONTHS: Mapping[str, int] = MappingProxyType(
    {
        name: number
        for number, name in enumerate(
            ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"], 1
        )
    }
)


_OFFSET = re.compile(r"([+-])(\d\d)(?::?(\d\d))?", re.ASCII)


def utc_offset(text: str) -> tzinfo | None:
    """A numeric UTC offset (`+03`, `+0530`, `-05:00`, under a day) as a fixed zone; None for anything else."""
    found = _OFFSET.fullmatch(text)
    if found is None:
        return None
    sign, hours, minutes = found.groups()
    delta = timedelta(hours=int(hours), minutes=int(minutes or 0))
    if delta >= timedelta(hours=24):
        return None
    return timezone(-delta if sign == "-" else delta)


def zone(text: str | None) -> tzinfo:
    """The timezone a sensor's classic stamps are written in: an IANA name (`Europe/Paris`, DST included), `UTC`,
    or a fixed offset (`+02:00`, `-0530`); None: UTC. rsyslog's traditional format, the default of Debian, Ubuntu
    and RHEL, writes the host's local time without saying which."""
    if text is None:
        return UTC
    offset = utc_offset(text)
    if offset is not None:
        return offset
    try:
        return ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInputError(
            f"Unknown timezone {text!r}: an IANA name (Europe/Paris), UTC, or an offset (+02:00)",
            details={"timezone": text},
        ) from None


ROLLOVER = timedelta(days=1)  # how far ahead of its reading a classic stamp may be before it is the year before's


@dataclass(frozen=True, slots=True)
class ParseContext:
    """What a line may leave out: the year and timezone of classic syslog stamps, and the host name.

    `latest`: when set, a classic stamp whose minute would start after it is of the year before. A log read on
    1 January still holds December's lines, and their stamps say no year: read with January's year they would be
    eleven months ahead (and ingest refuses events from the future). rsyslog and fail2ban guess the same way.
    """

    year: int
    tz: tzinfo = UTC
    hostname: str | None = None
    latest: datetime | None = None

    def __post_init__(self) -> None:
        if not 1 <= self.year <= 9999:
            raise InvalidInputError("parse context year must be between 1 and 9999", details={"year": self.year})

    @classmethod
    def at(cls, now: datetime, tz: tzinfo = UTC, hostname: str | None = None) -> ParseContext:
        """The context for logs read at `now`: classic syslog stamps get `now`'s year in `tz`, or the year before
        for a stamp more than a day after `now`."""
        return cls(year=now.astimezone(tz).year, tz=tz, hostname=hostname, latest=now + ROLLOVER)

    def minute(self, text: str) -> datetime | None:
        """A classic stamp's minute (`Nov 24 10:00`) in UTC: in the context's year, or the one before past
        `latest`. Memoised (`minute_start`): replay reads one per second of log."""
        minute = minute_start(text, self.year, self.tz)
        if minute is not None and self.latest is not None and minute > self.latest and self.year > 1:
            return minute_start(text, self.year - 1, self.tz)
        return minute


# Whether some scenario may count an event of this kind, service, log type and `fields` (None: of this kind at
# all): `Detector.counts`, which bulk parsers ask so as to build only the events detection needs.
Counts = Callable[[str, str, str, Mapping[str, str] | None], bool]


class Parser(Protocol):
    def __call__(self, line: str, context: ParseContext, /) -> Event | None:
        """Parse one line; `None` when it is not an event of this format."""
        ...


@dataclass(frozen=True, slots=True)
class ParserRule:
    """One pattern a parser recognises, described for `/parser/rules`."""

    name: str
    pattern: str
    kind: str
    mitre: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "pattern": self.pattern, "kind": self.kind, "mitre": list(self.mitre)}


@dataclass(frozen=True, slots=True)
class ParserInfo:
    """What a format's parser is and does: the registry's entry and the API's description of it."""

    name: str
    description: str
    parse: Parser
    log_types: tuple[str, ...]
    fields: tuple[str, ...]  # Event attributes it fills, and `fields.<key>` for the extras
    kinds: tuple[str, ...]
    mitre: Mapping[str, tuple[str, ...]] = field(hash=False)  # kind -> techniques it may carry
    rules: tuple[ParserRule, ...] = ()
    # A faster loop over many lines, for formats replay reads in bulk; None: call `parse` per line.
    parse_lines: Callable[[Iterable[str], ParseContext], Iterator[Event]] | None = None
    # Replay's bulk path: over chunks of whole lines, only the events some scenario may count (`Counts`); the
    # lines of any other event are never read. None: replay uses `parse_lines`.
    scan: Callable[[Iterable[str], ParseContext, Counts], Iterator[Event]] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "log_types": list(self.log_types),
            "fields": list(self.fields),
            "kinds": list(self.kinds),
            "mitre": {kind: list(ids) for kind, ids in self.mitre.items()},
            "rules": [rule.to_dict() for rule in self.rules],
        }


@lru_cache(maxsize=65536)
def normalise_ip(text: str) -> str | None:
    """The canonical text of an IP address, or None when `text` is not one (hostnames included)."""
    # Memoised: a log names the same attackers over and over.
    if ":" not in text:
        # Hot path: inet_pton accepts exactly the canonical dotted quad (no leading zeros, no spaces).
        try:
            socket.inet_pton(socket.AF_INET, text)
        except (OSError, ValueError):
            return None
        return text
    try:
        address = ipaddress.IPv6Address(text)
    except ValueError:
        return None
    # Windows and dual-stack daemons log IPv4 peers as ::ffff:a.b.c.d; a ban must name the IPv4 address.
    mapped = address.ipv4_mapped
    return str(mapped) if mapped is not None else str(address)


def to_port(value: object) -> int | None:
    """A TCP/UDP port from text or int; None for `-`, 0, junk or out of range."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and 0 < len(value) <= 5 and value.isascii() and value.isdigit():
        number = int(value)
    else:
        return None
    return number if 0 < number <= 65535 else None


def to_int(value: object) -> int | None:
    """A small non-negative integer from text or int (status codes, ids), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if 0 <= value < 10**9 else None
    if isinstance(value, str) and 0 < len(value) <= 9 and value.isascii() and value.isdigit():
        return int(value)
    return None


def text_or_none(value: object) -> str | None:
    """A non-empty string, with `-` (the logs' "nothing") read as None."""
    if isinstance(value, str):
        value = value.strip()
        return value if value and value != "-" else None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return None


def syslog_time(text: str, context: ParseContext) -> datetime | None:
    """A syslog stamp in UTC: classic `Nov 24 10:00:00` (year and zone from context) or ISO 8601."""
    if text[:1].isdigit():
        return iso_time(text, context)
    return classic_time(text, context)


def classic_time(text: str, context: ParseContext) -> datetime | None:
    """`Nov 24 10:00:00` in the context's zone and year (`ParseContext.minute`), as UTC."""
    # The day is padded with a space (`Nov  4`); some relays add a fraction (`10:00:00.123`). The minute is
    # converted once (zone, DST) and memoised; the seconds are added to the UTC result, exact because UTC offsets
    # are whole minutes. Hot: replay reads one per event, so the checks are lookups rather than parsing.
    minute = context.minute(text[:12])
    if minute is None or text[12:13] != ":":
        return None
    second = SECONDS.get(text[13:15])
    if second is None:
        return None
    if len(text) == 15:
        return minute + second
    micro = _fraction(text[16:]) if text[15] == "." else None
    return None if micro is None else minute + second + timedelta(microseconds=micro)


# The seconds of a stamp (`"00"` to `"59"`) as durations; a plain dict, read once per classic stamp.
SECONDS: dict[str, timedelta] = {f"{second:02d}": timedelta(seconds=second) for second in range(60)}


@lru_cache(maxsize=8192)
def minute_start(text: str, year: int, zone: tzinfo) -> datetime | None:
    """`Nov 24 10:00` in `zone`, as UTC: a classic stamp's minute (its seconds are `SECONDS[stamp[13:15]]`)."""
    month = MONTHS.get(text[:3])
    if month is None or len(text) != 12 or text[3] != " " or text[6] != " " or text[9] != ":":
        return None
    day, hour, minute = text[4:6].lstrip(), text[7:9], text[10:12]
    if not (_digits(day) and _digits(hour) and _digits(minute)):
        return None
    try:
        return datetime(year, month, int(day), int(hour), int(minute), tzinfo=zone).astimezone(UTC)
    except (ValueError, OverflowError):
        return None


def _fraction(digits: str) -> int | None:
    if not (0 < len(digits) <= 9 and digits.isascii() and digits.isdigit()):
        return None
    return int(digits[:6].ljust(6, "0"))


def iso_time(text: str, context: ParseContext) -> datetime | None:
    """ISO 8601 in UTC (`Z`, `+00:00` or `-0600` offsets); a stamp without offset is in the context's zone."""
    try:
        value = datetime.fromisoformat(text)
        if value.tzinfo is None:
            value = value.replace(tzinfo=context.tz)
        return value.astimezone(UTC)
    except (ValueError, OverflowError):
        return None


@lru_cache(maxsize=8192)
def clf_time(text: str) -> datetime | None:
    """The access-log stamp `24/Nov/2026:10:00:00 +0000` in UTC."""
    if len(text) != 26 or text[2] != "/" or text[6] != "/" or text[11] != ":" or text[20] != " ":
        return None
    month = MONTHS.get(text[3:6])
    offset = text[21:26]
    if month is None or offset[0] not in "+-" or not _digits(offset[1:]):
        return None
    try:
        minutes = int(offset[1:3]) * 60 + int(offset[3:5])
        zone = timezone(timedelta(minutes=-minutes if offset[0] == "-" else minutes))
        local = datetime(
            int(text[7:11]),
            month,
            int(text[0:2]),
            int(text[12:14]),
            int(text[15:17]),
            int(text[18:20]),
            tzinfo=zone,
        )
        return local.astimezone(UTC)
    except (ValueError, OverflowError):
        return None


def epoch_time(value: object) -> datetime | None:
    """Seconds, milliseconds, microseconds or nanoseconds since the epoch (told apart by magnitude)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        if not (0 < len(value) <= 20 and _digits(value)):
            return None
        value = int(value)
    if not isinstance(value, int) or value <= 0:
        return None
    # Thresholds sit where the units overlap only in 1973 (ms) or before: no log is that old.
    if value >= 10**17:
        micro = value // 1000
    elif value >= 10**14:
        micro = value
    elif value >= 10**11:
        micro = value * 1000
    else:
        micro = value * 1_000_000
    try:
        return EPOCH + timedelta(microseconds=micro)
    except OverflowError:
        return None


def _digits(text: str) -> bool:
    return text.isascii() and text.isdigit()


def first_header(headers: object, name: str) -> str | None:
    """A header's value from a dict whose keys may be any case and whose values may be lists."""
    if not isinstance(headers, Mapping):
        return None
    lowered = name.lower()
    for key, value in headers.items():
        if isinstance(key, str) and key.lower() == lowered:
            if isinstance(value, list):  # Coraza logs every header as a list of values
                return text_or_none(value[0]) if value else None
            return text_or_none(value)
    return None


def reset_caches() -> None:
    """Forget every memoised address and timestamp (benchmarks start cold; results never depend on it)."""
    normalise_ip.cache_clear()
    minute_start.cache_clear()
    clf_time.cache_clear()
