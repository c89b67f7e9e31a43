"""The one seam for time.

Every decision about expiry, windows, lockouts and TTLs asks a `Clock`, never `time.time()` or
`datetime.now()`, so tests drive timelines with a `FixedClock` and get the same answer every run.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware, in UTC."""
        ...


class SystemClock:
    """Wall-clock time."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class FixedClock:
    """A clock that only moves when told to."""

    def __init__(self, start: datetime | str = "2026-01-01T00:00:00+00:00") -> None:
        self._now = parse_time(start) if isinstance(start, str) else start.astimezone(UTC)

    def now(self) -> datetime:
        return self._now

    def advance(self, seconds: float = 0, **delta: float) -> datetime:
        """Move forward by `seconds` (plus any `timedelta` keywords) and return the new time."""
        self._now += timedelta(seconds=seconds, **delta)
        return self._now

    def set(self, when: datetime | str) -> None:
        self._now = parse_time(when) if isinstance(when, str) else when.astimezone(UTC)


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def epoch(when: datetime) -> int:
    """Whole seconds since the epoch, the unit DynamoDB TTL attributes use."""
    return int(when.timestamp())


def iso(when: datetime | None) -> str | None:
    """ISO 8601 in UTC with a `Z`, the form every contract shows (`2026-01-15T10:00:00Z`)."""
    if when is None:
        return None
    text = when.astimezone(UTC).isoformat(timespec="seconds")
    return text.replace("+00:00", "Z")


def parse_time(text: str) -> datetime:
    """Parse ISO 8601 (with `Z` or an offset; a naive time is taken as UTC)."""
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC)
