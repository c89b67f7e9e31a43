"""Properties every parser keeps on any input: it never raises, it gives the same answer twice, and what it gives
is a well-formed event (UTC time, normalised address, known vocabulary) that survives a JSON round trip.

Random text rarely gets past a parser's first check, so besides arbitrary text the strategies mutate the golden
samples (cut, splice, duplicate) and build lines from each format's own fragments, which reach the deep paths.
"""

from __future__ import annotations

import ipaddress
import json
from dataclasses import FrozenInstanceError
from datetime import UTC, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chalicelib.events.model import KINDS, LOG_TYPES, SEVERITIES, Event
from chalicelib.events.parsers import ParseContext
from chalicelib.events.parsers.registry import formats, get_parser, parse_lines
from tests.unit.events.test_samples import SAMPLE_LIST

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

contexts = st.builds(
    ParseContext,
    year=st.one_of(st.just(2026), st.integers(min_value=1, max_value=9999)),
    tz=st.sampled_from([UTC, ZoneInfo("Europe/Paris"), ZoneInfo("America/New_York"), ZoneInfo("Asia/Kolkata")]),
    hostname=st.one_of(st.none(), st.text(max_size=20)),
)

SAMPLE_LINES = [sample.line for sample in SAMPLE_LIST]


@st.composite
def mutated_samples(draw: st.DrawFn) -> str:
    """A golden sample line, cut, spliced with random text, or with a piece repeated."""
    line = draw(st.sampled_from(SAMPLE_LINES))
    start = draw(st.integers(min_value=0, max_value=len(line)))
    end = draw(st.integers(min_value=start, max_value=len(line)))
    insert = draw(st.one_of(st.text(max_size=30), st.sampled_from(['"', "\\", " ", "=", "{", "[", ":", "\x00"])))
    how = draw(st.sampled_from(["cut", "splice", "repeat", "prefix"]))
    if how == "cut":
        return line[:start] + line[end:]
    if how == "splice":
        return line[:start] + insert + line[end:]
    if how == "repeat":
        return line[:end] + line[start:end] + line[end:]
    return line[:start]


FRAGMENTS = [
    "Nov 24 10:00:00 h sshd[1]: ",
    "2026-11-24T10:00:00Z h sshd-session[1]: ",
    "Failed password for ",
    "invalid user ",
    "Invalid user ",
    " from ",
    " port ",
    " ssh2",
    " [preauth]",
    "Connection closed by ",
    "authenticating user ",
    "error: ",
    "pam_unix(sshd:auth): authentication failure; rhost=",
    "203.0.113.9",
    "::ffff:1.2.3.4",
    "2001:db8::1",
    "999.1.1.1",
    "log_type=",
    '"WAF"',
    '"IDP"',
    '"Firewall"',
    '"Event"',
    " src_ip=",
    " sourceip=",
    ' timestamp="',
    " date=2026-11-24 time=10:00:00 timezone=",
    '"+05:30"',
    ' log_subtype="Denied"',
    ' reason="[id \\"942100\\"]"',
    " httpstatus=403",
    ' - - [24/Nov/2026:10:00:00 +0000] "GET /.env HTTP/1.1" 404 1 "-" "-"',
    "<38>1 2026-11-24T10:00:00Z h app - - - failed from ",
    "45.155.205.10",
    "{",
    "}",
    '"',
]
fragment_lines = st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=8)), max_size=12).map("".join)

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)
WINDOWS_KEYS = [
    "timestamp",
    "ip_address",
    "username",
    "domain",
    "logon_type",
    "status",
    "workstation",
    "source_port",
    "EventID",
    "TimeCreated",
    "IpAddress",
    "IpPort",
    "TargetUserName",
    "LogonType",
    "Status",
    "SubStatus",
    "Computer",
    "EventData",
    "winlog",
]
windows_values = st.one_of(
    json_values,
    st.sampled_from(["4625", 4624, "-", "", "0xc000006d", "0xC0000064", "/Date(1795514400000)/", "10", "3"]),
    st.sampled_from(["203.0.113.9", "::ffff:203.0.113.9", "2026-11-24T10:00:00Z", "2026-11-24T10:00:00.1234567Z"]),
)
windows_records = st.one_of(
    st.dictionaries(st.text(max_size=12), json_values, max_size=6),
    st.fixed_dictionaries({}, optional={key: windows_values for key in WINDOWS_KEYS}),
    st.fixed_dictionaries(
        {"EventData": st.fixed_dictionaries({}, optional={key: windows_values for key in WINDOWS_KEYS})}
    ),
)

lines = st.one_of(st.text(), mutated_samples(), fragment_lines)


def assert_well_formed(event: Event | None) -> None:
    if event is None:
        return
    assert isinstance(event, Event)
    assert event.time.utcoffset() == timedelta(0)
    assert str(ipaddress.ip_address(event.source_ip)) == event.source_ip
    assert ipaddress.ip_address(event.source_ip).version == 6 or ":" not in event.source_ip
    assert event.kind in KINDS
    assert event.log_type in LOG_TYPES
    assert event.severity in SEVERITIES
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in event.fields.items())
    assert event.source_port is None or 0 < event.source_port <= 65535
    rebuilt = Event.from_dict(json.loads(json.dumps(event.to_dict())))
    assert rebuilt == event
    assert hash(rebuilt) == hash(event)
    assert type(event) is Event
    with pytest.raises(FrozenInstanceError):
        event.kind = "changed"  # type: ignore[misc]


@pytest.mark.parametrize("format_name", formats())
@FUZZ
@given(line=lines, context=contexts)
def test_no_parser_raises_and_parsing_is_deterministic(format_name: str, line: str, context: ParseContext) -> None:
    parse = get_parser(format_name)

    first = parse(line, context)
    second = parse(line, context)

    assert first == second
    assert_well_formed(first)


@FUZZ
@given(record=windows_records, context=contexts)
def test_windows_parser_takes_any_json_like_dict(record: dict, context: ParseContext) -> None:
    parse = get_parser("windows-4625")

    first = parse(record, context)
    second = parse(record, context)

    assert first == second
    assert_well_formed(first)
    from_line = parse(json.dumps(record, allow_nan=True), context)
    if first is None:
        assert from_line is None
    else:
        assert from_line is not None
        assert from_line.to_dict() | {"raw": ""} == first.to_dict() | {"raw": ""}


@FUZZ
@given(value=json_values, context=contexts)
def test_no_parser_raises_on_json_lines(value: object, context: ParseContext) -> None:
    line = json.dumps({"transaction": value, "MESSAGE": value, "messages": value}, allow_nan=True)
    for format_name in formats():
        assert_well_formed(get_parser(format_name)(line, context))


@pytest.mark.parametrize("format_name", formats())
@pytest.mark.parametrize("junk", [None, 42, b"Failed password", ["a"], {"ip_address": "203.0.113.9"}])
def test_input_that_is_not_a_line_gives_none(format_name: str, junk: object) -> None:
    context = ParseContext(year=2026)

    result = get_parser(format_name)(junk, context)  # type: ignore[arg-type]

    assert result is None


@pytest.mark.parametrize("format_name", formats())
@FUZZ
@given(batch=st.lists(lines, max_size=8), context=contexts)
def test_bulk_parsing_gives_what_parsing_each_line_gives(
    format_name: str, batch: list[str], context: ParseContext
) -> None:
    parse = get_parser(format_name)

    events = list(parse_lines(format_name, batch, context))

    assert events == [event for line in batch if (event := parse(line, context)) is not None]
