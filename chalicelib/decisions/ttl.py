"""How long a decision lives: the TTL grammar every contract speaks, reduced to whole seconds.

The seed contracts give a decision's lifetime five ways: `ttl` as seconds or text (`3600`, `"24h"`, `"7d"`,
seed 003), `duration_days` (seed 000), `duration_minutes` (seed 002) and `duration` in seconds (seed 001),
with `null` meaning permanent. Everything here turns those into `int` seconds, or `None` for a permanent
decision, and refuses the rest with a message that names the value. Zero and negative lifetimes are refused
rather than read as "permanent": a client that means forever says `null` or `"permanent"`.
"""

from __future__ import annotations

import math
import re
from datetime import datetime, timedelta
from fractions import Fraction

from chalicelib.core.errors import InvalidInputError

MINUTE = 60
HOUR = 60 * MINUTE
DAY = 24 * HOUR
WEEK = 7 * DAY
MAX_TTL_SECONDS = 3650 * DAY  # ten years: longer is a typo, and permanent has its own spelling

PERMANENT_WORDS = frozenset({"permanent", "never"})

_UNITS: dict[str, int] = {
    **dict.fromkeys(("s", "sec", "secs", "second", "seconds"), 1),
    **dict.fromkeys(("m", "min", "mins", "minute", "minutes"), MINUTE),
    **dict.fromkeys(("h", "hr", "hrs", "hour", "hours"), HOUR),
    **dict.fromkeys(("d", "day", "days"), DAY),
    **dict.fromkeys(("w", "wk", "wks", "week", "weeks"), WEEK),
}
# Calendar units have no fixed length (a month is 28 to 31 days), so they are named in the error instead.
_CALENDAR_UNITS = frozenset({"mo", "mon", "month", "months", "y", "yr", "yrs", "year", "years"})

_NUMBER = re.compile(r"\d+(?:\.\d+)?")
_PART = re.compile(r"(\d+(?:\.\d+)?)\s*([a-z]+)\s*")
_PARTS = re.compile(r"(?:\d+(?:\.\d+)?\s*[a-z]+\s*)+")  # "90s", "1h30m", "1 h 30 m"
_ISO = re.compile(
    r"P(?:(?P<w>\d+(?:\.\d+)?)W)?(?:(?P<d>\d+(?:\.\d+)?)D)?"
    r"(?:T(?:(?P<h>\d+(?:\.\d+)?)H)?(?:(?P<m>\d+(?:\.\d+)?)M)?(?:(?P<s>\d+(?:\.\d+)?)S)?)?"
)
_ISO_CALENDAR = re.compile(r"P(?:[\d.]+W)?(?:[\d.]+[YM])")
_ISO_SECONDS = {"w": WEEK, "d": DAY, "h": HOUR, "m": MINUTE, "s": 1}


def parse_ttl(value: object, *, max_seconds: int = MAX_TTL_SECONDS) -> int | None:
    """Seconds a decision lives, or None for permanent: numbers, `90s`/`15m`/`24h`/`7d`/`4w`, ISO 8601."""
    if value is None:
        return None
    if isinstance(value, bool):  # bool is an int subclass; `true` is not a duration
        raise InvalidInputError(f"{value!r} is not a TTL: give seconds, a duration such as '24h', or null")
    if isinstance(value, int | float):
        return _bounded(value, _seconds_of_number(value, value), max_seconds)
    if not isinstance(value, str):
        raise InvalidInputError(f"{value!r} is not a TTL: give seconds, a duration such as '24h', or null")
    text = value.strip()
    if text.lower() in PERMANENT_WORDS:
        return None
    if text[:1] in ("P", "p"):
        return _bounded(value, _parse_iso(value, text.upper()), max_seconds)
    return _bounded(value, _parse_units(value, text.lower()), max_seconds)


def from_seconds(seconds: float | None, *, field: str = "duration", max_seconds: int = MAX_TTL_SECONDS) -> int | None:
    """Seconds from a numeric `duration` field (seed 001); None is permanent."""
    return _from_unit(seconds, 1, field, max_seconds)


def from_minutes(
    minutes: float | None, *, field: str = "duration_minutes", max_seconds: int = MAX_TTL_SECONDS
) -> int | None:
    """Seconds from a `duration_minutes` field (seed 002); None is permanent."""
    return _from_unit(minutes, MINUTE, field, max_seconds)


def from_days(days: float | None, *, field: str = "duration_days", max_seconds: int = MAX_TTL_SECONDS) -> int | None:
    """Seconds from a `duration_days` field (seed 000); None is permanent."""
    return _from_unit(days, DAY, field, max_seconds)


def expires_at(now: datetime, ttl: int | None) -> datetime | None:
    """When a decision made at `now` with this TTL ends; None for a permanent one."""
    if ttl is None:
        return None
    return now + timedelta(seconds=ttl)


def recidivism_ttl(base_seconds: int, previous_bans: int, factor: float, max_seconds: int) -> int:
    """The ban time for a repeat offender: `min(max_seconds, round(base_seconds * factor ** previous_bans))`.

    Like fail2ban's `bantime.increment`, each earlier ban of the same address multiplies the base time by
    `factor` (so with base 1h and factor 2: 1h, 2h, 4h, 8h ...), and `bantime.maxtime` caps the growth. A
    first offender (`previous_bans == 0`) gets exactly the base time; a factor of 1 switches growth off.
    """
    if base_seconds <= 0:
        raise InvalidInputError(f"base ban time must be positive, got {base_seconds!r}")
    if previous_bans < 0:
        raise InvalidInputError(f"previous ban count cannot be negative, got {previous_bans!r}")
    if not factor >= 1:  # also refuses NaN
        raise InvalidInputError(f"recidivism factor must be at least 1, got {factor!r}")
    if max_seconds < base_seconds:
        raise InvalidInputError(f"maximum ban time {max_seconds} is below the base time {base_seconds}")
    try:
        # A float power overflows quickly instead of building a huge integer.
        grown = base_seconds * float(factor) ** previous_bans
    except OverflowError:  # a float power past 1e308: far beyond any cap
        return max_seconds
    return max_seconds if grown >= max_seconds else round(grown)


def _from_unit(amount: float | None, unit: int, field: str, max_seconds: int) -> int | None:
    if amount is None:
        return None
    if isinstance(amount, bool) or not isinstance(amount, int | float):
        raise InvalidInputError(f"{field} must be a number or null, got {amount!r}")
    return _bounded(amount, _seconds_of_number(amount, amount, unit, field), max_seconds, field)


def _seconds_of_number(original: object, number: float, unit: int = 1, field: str = "TTL") -> int:
    if not math.isfinite(number):
        raise InvalidInputError(f"{field} {original!r} is not a finite number")
    # Through str, so that 0.1 day is 8640 seconds and not the binary float's 8640.000000000000479.
    exact = Fraction(number) if isinstance(number, int) else Fraction(str(number))
    return _whole_seconds(original, exact * unit, field)


def _whole_seconds(original: object, seconds: Fraction, field: str = "TTL") -> int:
    if seconds <= 0:
        raise InvalidInputError(
            f"{field} {original!r} must be positive; use null or 'permanent' for a permanent decision"
        )
    # Round a fractional second up, so that a positive duration never becomes zero.
    return math.ceil(seconds)


def _bounded(original: object, seconds: int, max_seconds: int, field: str = "TTL") -> int:
    if seconds > max_seconds:
        raise InvalidInputError(
            f"{field} {original!r} is {seconds} seconds, more than the maximum of {max_seconds}; "
            "use null or 'permanent' for a permanent decision"
        )
    return seconds


def _parse_units(original: str, text: str) -> int:
    if text.startswith("-"):
        raise InvalidInputError(f"TTL {original!r} must be positive; use null or 'permanent' for a permanent decision")
    if _NUMBER.fullmatch(text):
        return _whole_seconds(original, Fraction(text))
    if not _PARTS.fullmatch(text):
        raise InvalidInputError(
            f"{original!r} is not a TTL: use seconds (3600), a number with a unit (90s, 15m, 24h, 7d, 4w), "
            "an ISO 8601 duration (P7D, PT12H) or 'permanent'"
        )
    total = Fraction(0)
    for number, unit in _PART.findall(text):
        if unit in _CALENDAR_UNITS:
            raise InvalidInputError(
                f"TTL {original!r} uses months or years, whose length varies; give days or weeks instead"
            )
        if unit not in _UNITS:
            raise InvalidInputError(f"TTL {original!r} has an unknown unit {unit!r}; use s, m, h, d or w")
        total += Fraction(number) * _UNITS[unit]
    return _whole_seconds(original, total)


def _parse_iso(original: str, text: str) -> int:
    if _ISO_CALENDAR.match(text):
        raise InvalidInputError(
            f"ISO 8601 duration {original!r} uses years or months, whose length varies; use days (P30D) or weeks (P4W)"
        )
    match = _ISO.fullmatch(text)
    if match is None or text in ("P", "PT") or text.endswith("T"):
        raise InvalidInputError(f"{original!r} is not an ISO 8601 duration such as P7D, PT12H or P1DT2H30M")
    total = sum(
        (Fraction(amount) * _ISO_SECONDS[name] for name, amount in match.groupdict().items() if amount),
        Fraction(0),
    )
    return _whole_seconds(original, total)
