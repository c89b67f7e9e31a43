from __future__ import annotations

from datetime import UTC, datetime

from chalicelib.core.clock import FixedClock, epoch, iso, parse_time


def test_fixed_clock_moves_only_when_told() -> None:
    clock = FixedClock("2026-11-24T10:00:00Z")
    assert clock.now() == datetime(2026, 11, 24, 10, tzinfo=UTC)
    clock.advance(90)
    clock.advance(minutes=1)
    assert iso(clock.now()) == "2026-11-24T10:02:30Z"


def test_parse_time_accepts_offsets_and_naive_times_as_utc() -> None:
    assert parse_time("2026-11-24T12:00:00+02:00") == datetime(2026, 11, 24, 10, tzinfo=UTC)
    assert parse_time("2026-11-24T10:00:00") == datetime(2026, 11, 24, 10, tzinfo=UTC)
    assert epoch(parse_time("1970-01-01T00:01:00Z")) == 60
    assert iso(None) is None
