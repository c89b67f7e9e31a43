"""Classic syslog stamps carry no year: read on 1 January, a log still holds December's lines.

`ParseContext.at(now)` gives a stamp `now`'s year unless that puts it more than a day after `now`, in which case
it is of the year before; a context made with an explicit year (`--year`, the parser test's `year`) keeps it.
Both sshd paths (per line and replay's `scan`) and the generic syslog parser read stamps the same way.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from chalicelib.events.parsers import ParseContext, generic_syslog, sshd

NEW_YEAR = datetime(2027, 1, 1, 0, 0, 5, tzinfo=UTC)  # five seconds into 2027


def failure(stamp: str, ip: str = "203.0.113.7") -> str:
    return f"{stamp} web01 sshd[1]: Failed password for root from {ip} port 4242 ssh2"


@pytest.mark.parametrize(
    ("stamp", "expected"),
    [
        ("Dec 31 23:59:58", "2026-12-31T23:59:58Z"),  # December's line read in January: last year
        ("Jan  1 00:00:01", "2027-01-01T00:00:01Z"),
        ("Jan  1 23:59:00", "2027-01-01T23:59:00Z"),  # ahead of the reading, but within a day: a clock off
        ("Jan  2 00:01:00", "2026-01-02T00:01:00Z"),  # more than a day ahead: it cannot be this year's
        ("Feb 29 10:00:00", None),  # 2027 has none, and neither has 2026
    ],
)
def test_a_stamp_takes_the_reading_year_or_the_one_before(stamp: str, expected: str | None) -> None:
    event = sshd.parse(failure(stamp), ParseContext.at(NEW_YEAR))
    assert (event.to_dict()["time"] if event else None) == expected


def test_an_explicit_year_is_kept() -> None:
    event = sshd.parse(failure("Dec 31 23:59:58"), ParseContext(year=2027))
    assert event is not None and event.time == datetime(2027, 12, 31, 23, 59, 58, tzinfo=UTC)


def test_replays_bulk_path_reads_stamps_as_the_line_parser_does() -> None:
    lines = [failure(stamp, f"203.0.113.{n}") for n, stamp in enumerate(["Dec 31 23:59:58", "Jan  1 00:00:01"])]
    context = ParseContext.at(NEW_YEAR)
    scanned = list(sshd.scan(["\n".join(lines)], context, lambda *_: True))
    parsed = list(sshd.parse_lines(lines, context))
    assert [event.to_dict() for event in scanned] == [event.to_dict() for event in parsed]
    assert [event.time.year for event in scanned] == [2026, 2027]


def test_generic_syslog_reads_stamps_the_same_way() -> None:
    line = "Dec 31 23:59:30 mail01 dovecot: auth: authentication failure; rhost=61.177.172.10 user=bob"
    event = generic_syslog.parse(line, ParseContext.at(NEW_YEAR))
    assert event is not None and event.to_dict()["time"] == "2026-12-31T23:59:30Z"
