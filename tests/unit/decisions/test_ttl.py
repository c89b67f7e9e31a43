"""The TTL grammar: seconds, suffixed durations, ISO 8601, the seed fields, expiry and recidivism growth."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.core.clock import FixedClock
from chalicelib.core.errors import InvalidInputError
from chalicelib.decisions.ttl import (
    DAY,
    HOUR,
    MAX_TTL_SECONDS,
    MINUTE,
    WEEK,
    expires_at,
    from_days,
    from_minutes,
    from_seconds,
    parse_ttl,
    recidivism_ttl,
)

Convert = Callable[..., int | None]


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (3600, 3600),
        (1, 1),
        (3600.0, 3600),
        (0.25, 1),  # a fraction of a second rounds up, never down to zero
        ("3600", 3600),
        (" 3600 ", 3600),
        ("90s", 90),
        ("15m", 15 * MINUTE),
        ("24h", 24 * HOUR),
        ("7d", 7 * DAY),
        ("30d", 30 * DAY),
        ("4w", 4 * WEEK),
        ("4W", 4 * WEEK),
        ("24H", 24 * HOUR),
        (" 7 d ", 7 * DAY),
        ("1.5h", 90 * MINUTE),
        ("1h30m", 90 * MINUTE),
        ("1d 12h", 36 * HOUR),
        ("2 days", 2 * DAY),
        ("10 minutes", 10 * MINUTE),
        ("P7D", 7 * DAY),
        ("PT12H", 12 * HOUR),
        ("P1DT2H30M", DAY + 2 * HOUR + 30 * MINUTE),
        ("PT90S", 90),
        ("PT1.5S", 2),
        ("P2W", 2 * WEEK),
        ("p1d", DAY),
    ],
)
def test_parse_ttl_reads_every_documented_form(value: object, seconds: int) -> None:
    assert parse_ttl(value) == seconds


@pytest.mark.parametrize("value", [None, "permanent", "PERMANENT", " never "])
def test_parse_ttl_reads_permanent(value: object) -> None:
    assert parse_ttl(value) is None


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (0, "TTL 0 must be positive; use null or 'permanent'"),
        (-60, "TTL -60 must be positive"),
        (0.0, "TTL 0.0 must be positive"),
        ("0", "TTL '0' must be positive"),
        ("0h", "TTL '0h' must be positive"),
        ("-5", "TTL '-5' must be positive"),
        ("-5h", "TTL '-5h' must be positive"),
        ("PT0S", "TTL 'PT0S' must be positive"),
        ("P1Y", "'P1Y' uses years or months, whose length varies"),
        ("P6M", "'P6M' uses years or months"),
        ("P1Y2M3D", "'P1Y2M3D' uses years or months"),
        ("1y", "'1y' uses months or years, whose length varies"),
        ("2mo", "'2mo' uses months or years"),
        ("3 months", "'3 months' uses months or years"),
        ("5x", "'5x' has an unknown unit 'x'"),
        ("abc", "'abc' is not a TTL"),
        ("", "'' is not a TTL"),
        ("1h30", "'1h30' is not a TTL"),
        ("h", "'h' is not a TTL"),
        ("1e3", "'1e3' is not a TTL"),
        ("P", "'P' is not an ISO 8601 duration"),
        ("PT", "'PT' is not an ISO 8601 duration"),
        ("P1DT", "'P1DT' is not an ISO 8601 duration"),
        ("P1H", "'P1H' is not an ISO 8601 duration"),
        ("PT1D", "'PT1D' is not an ISO 8601 duration"),
        (True, "True is not a TTL"),
        ([3600], "[3600] is not a TTL"),
        (float("nan"), "TTL nan is not a finite number"),
        (float("inf"), "TTL inf is not a finite number"),
        (MAX_TTL_SECONDS + 1, "more than the maximum of 315360000"),
        ("3651d", "'3651d' is 315446400 seconds, more than the maximum"),
    ],
)
def test_parse_ttl_refuses_bad_values_naming_them(value: object, message: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        parse_ttl(value)
    assert message in caught.value.message


def test_parse_ttl_maximum_is_inclusive_and_configurable() -> None:
    assert parse_ttl("1d", max_seconds=DAY) == DAY
    assert parse_ttl(MAX_TTL_SECONDS) == MAX_TTL_SECONDS
    with pytest.raises(InvalidInputError, match="more than the maximum of 86400"):
        parse_ttl("25h", max_seconds=DAY)


UNITS = {"s": 1, "m": MINUTE, "h": HOUR, "d": DAY, "w": WEEK}


@given(
    n=st.integers(1, 500),
    unit=st.sampled_from(sorted(UNITS)),
    upper=st.booleans(),
    space=st.sampled_from(["", " ", "  "]),
)
def test_parse_ttl_of_number_and_unit_is_their_product(n: int, unit: str, upper: bool, space: str) -> None:
    text = f"{n}{space}{unit.upper() if upper else unit}"
    assert parse_ttl(text) == n * UNITS[unit]


@given(days=st.integers(0, 300), hours=st.integers(0, 48), minutes=st.integers(0, 120), seconds=st.integers(0, 120))
def test_parse_ttl_of_iso_duration_is_the_sum_of_its_parts(days: int, hours: int, minutes: int, seconds: int) -> None:
    total = days * DAY + hours * HOUR + minutes * MINUTE + seconds
    text = f"P{days}DT{hours}H{minutes}M{seconds}S"
    if total == 0:
        with pytest.raises(InvalidInputError, match="must be positive"):
            parse_ttl(text)
    else:
        assert parse_ttl(text) == total


@given(st.integers(1, MAX_TTL_SECONDS))
def test_whole_seconds_come_back_unchanged_as_number_or_text(seconds: int) -> None:
    assert parse_ttl(seconds) == seconds
    assert parse_ttl(str(seconds)) == seconds


# --- the seed fields ---------------------------------------------------------------------------------------


def test_seed_fields_convert_to_seconds() -> None:
    assert from_days(7) == 7 * DAY
    assert from_days(0.5) == 12 * HOUR
    assert from_days(0.1) == 8640  # exactly, not the binary float's 8640.000000000000479 rounded up
    assert from_minutes(120) == 2 * HOUR
    assert from_seconds(86400) == DAY
    assert from_seconds(1.2) == 2


@pytest.mark.parametrize("convert", [from_days, from_minutes, from_seconds])
def test_seed_fields_read_null_as_permanent(convert: Convert) -> None:
    assert convert(None) is None


@pytest.mark.parametrize(
    ("convert", "value", "message"),
    [
        (from_days, 0, "duration_days 0 must be positive"),
        (from_days, -7, "duration_days -7 must be positive"),
        (from_minutes, 0, "duration_minutes 0 must be positive"),
        (from_seconds, -1, "duration -1 must be positive"),
        (from_seconds, "3600", "duration must be a number or null, got '3600'"),
        (from_days, True, "duration_days must be a number or null, got True"),
        (from_minutes, float("nan"), "duration_minutes nan is not a finite number"),
        (from_days, 3651, "duration_days 3651 is 315446400 seconds, more than the maximum"),
    ],
)
def test_seed_fields_refuse_bad_values_naming_the_field(convert: Convert, value: object, message: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        convert(value)
    assert message in caught.value.message


def test_seed_field_name_and_maximum_can_be_given() -> None:
    with pytest.raises(InvalidInputError, match=r"ban\.duration_days -1 must be positive"):
        from_days(-1, field="ban.duration_days")
    with pytest.raises(InvalidInputError, match="more than the maximum of 3600"):
        from_minutes(61, max_seconds=HOUR)


# --- expiry ------------------------------------------------------------------------------------------------


def test_expires_at_adds_the_ttl_to_now() -> None:
    clock = FixedClock("2026-01-15T10:00:00Z")
    assert expires_at(clock.now(), 2 * HOUR) == datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
    assert expires_at(clock.now(), parse_ttl("P30D")) == datetime(2026, 2, 14, 10, 0, tzinfo=UTC)


def test_a_permanent_decision_never_expires() -> None:
    assert expires_at(FixedClock().now(), None) is None


# --- recidivism --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("previous", "expected"),
    [
        (0, HOUR),
        (1, 2 * HOUR),
        (2, 4 * HOUR),
        (3, 8 * HOUR),
        (5, 32 * HOUR),
        (6, 64 * HOUR),
        (7, 128 * HOUR),
        (8, WEEK),
        (40, WEEK),
    ],
)
def test_recidivism_doubles_up_to_the_cap(previous: int, expected: int) -> None:
    assert recidivism_ttl(HOUR, previous, 2, WEEK) == expected


def test_recidivism_with_factor_one_never_grows() -> None:
    assert recidivism_ttl(600, 50, 1, DAY) == 600


def test_recidivism_with_a_fractional_factor_rounds_to_whole_seconds() -> None:
    assert recidivism_ttl(100, 3, 1.5, DAY) == 338  # 100 * 3.375 = 337.5, rounded half to even: 338


def test_recidivism_survives_a_huge_ban_count() -> None:
    assert recidivism_ttl(HOUR, 10**9, 2, WEEK) == WEEK
    assert recidivism_ttl(HOUR, 10**9, 1.0001, WEEK) == WEEK


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((0, 1, 2, DAY), "base ban time must be positive"),
        ((HOUR, -1, 2, DAY), "previous ban count cannot be negative"),
        ((HOUR, 1, 0.5, DAY), "factor must be at least 1"),
        ((HOUR, 1, float("nan"), DAY), "factor must be at least 1"),
        ((DAY, 1, 2, HOUR), "maximum ban time 3600 is below the base time 86400"),
    ],
)
def test_recidivism_refuses_impossible_settings(args: tuple[int, int, float, int], message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        recidivism_ttl(*args)


@given(
    base=st.integers(1, DAY),
    previous=st.integers(0, 200),
    factor=st.floats(1, 4),
    cap=st.integers(DAY, 10 * WEEK),
)
def test_recidivism_stays_between_base_and_cap_and_never_shrinks(
    base: int, previous: int, factor: float, cap: int
) -> None:
    ttl = recidivism_ttl(base, previous, factor, cap)
    assert base <= ttl <= cap
    assert recidivism_ttl(base, previous + 1, factor, cap) >= ttl
