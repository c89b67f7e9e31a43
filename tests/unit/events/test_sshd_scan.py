"""Replay's bulk sshd path (`sshd.scan`) against the per-line parser (`sshd.parse_lines`).

`scan` is one big regex built from the same rules, with memos for stamps and addresses: it must give exactly the
events `parse_lines` gives that the `counts` callback accepts (some scenario may count them), in the same order and
at the same times, whatever the form of the lines and wherever the chunks are cut.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.events.model import AUTH_FAILURE, AUTH_PROBE, INVALID_USER
from chalicelib.events.parsers import ParseContext, sshd

SAMPLE = Path(__file__).parent / "samples" / "sshd.log"
CONTEXT = ParseContext(year=2026, tz=ZoneInfo("Europe/Paris"), hostname="sensor-host")


def _sample_lines() -> list[str]:
    return [line for line in SAMPLE.read_text().splitlines() if line and not line.startswith("#")]


def _everything(kind: str, service: str, log_type: str, fields: object = None) -> bool:
    return True


def _scanned(lines: list[str], counts=_everything, chunk: int | None = None) -> list[tuple[datetime, dict]]:
    texts = (
        ["\n".join(lines)] if chunk is None else ["\n".join(lines[i : i + chunk]) for i in range(0, len(lines), chunk)]
    )
    return [(event.time, event.to_dict()) for event in sshd.scan(texts, CONTEXT, counts)]


def _parsed(lines: list[str], counts=_everything) -> list[tuple[datetime, dict]]:
    return [
        (event.time, event.to_dict())
        for event in sshd.parse_lines(lines, CONTEXT)
        if counts(event.kind, event.service, event.log_type, event.fields)
    ]


def test_the_samples_give_the_same_events_on_both_paths() -> None:
    lines = _sample_lines()
    parsed = _parsed(lines)
    assert len(parsed) > 20  # the sample file is read, and most of its lines are events
    assert _scanned(lines) == parsed


def test_chunk_boundaries_do_not_change_the_events() -> None:
    lines = _sample_lines()
    assert _scanned(lines, chunk=1) == _scanned(lines, chunk=7) == _parsed(lines)


def test_events_no_scenario_counts_are_left_out() -> None:
    lines = _sample_lines()

    def failures_only(kind: str, service: str, log_type: str, fields: object = None) -> bool:
        return kind == AUTH_FAILURE

    kinds = {event["kind"] for _, event in _parsed(lines)}
    assert {AUTH_FAILURE, INVALID_USER, AUTH_PROBE} <= kinds
    scanned = _scanned(lines, failures_only)
    assert scanned == _parsed(lines, failures_only)
    assert scanned and {event["kind"] for _, event in scanned} == {AUTH_FAILURE}


def test_a_shape_no_scenario_counts_is_left_out_by_its_fields() -> None:
    lines = _sample_lines()

    def no_pam_echo(kind: str, service: str, log_type: str, fields: object = None) -> bool:
        return fields is None or dict(fields).get("source") != "pam"  # None: the kind at all

    scanned = _scanned(lines, no_pam_echo)
    assert scanned == _parsed(lines, no_pam_echo)
    assert len(scanned) < len(_parsed(lines)), "the sample holds pam_unix echoes, which are left out"


def test_fields_reach_the_counts_callback() -> None:
    line = "Nov 24 10:00:01 web01 sshd[1]: Failed password for invalid user admin from 203.0.113.7 port 4242 ssh2"
    seen: list[object] = []

    def record(kind: str, service: str, log_type: str, fields: object = None) -> bool:
        seen.append(fields)
        return fields is None or dict(fields).get("method") == "publickey"  # None: the kind at all

    assert _scanned([line], record) == []
    assert any(fields is not None and dict(fields).get("method") == "password" for fields in seen)
    assert [event["time"] for _, event in _scanned([line.replace("password", "publickey")], record)] == [
        "2026-11-24T09:00:01Z"
    ]


def test_lines_in_other_forms_go_through_the_line_parser() -> None:
    lines = [
        "<38>Nov 24 10:00:02 web01 sshd[7]: Invalid user bob from 198.51.100.4 port 22",
        "2026-11-24T10:00:03.120+01:00 web01 sshd[7]: Failed password for root from 198.51.100.4 port 50 ssh2",
        "Nov 24 10:00:04.250 web01 sshd[7]: Failed password for root from 198.51.100.4 port 51 ssh2",
        '{"__REALTIME_TIMESTAMP": "1795510805000000", "SYSLOG_IDENTIFIER": "sshd", "MESSAGE": '
        '"Failed password for root from 198.51.100.4 port 52 ssh2", "_HOSTNAME": "web01"}',
        "Nov 24 10:00:06 web01 cron[9]: Failed password for root from 198.51.100.4 port 53 ssh2",
        "not a log line at all",
    ]
    parsed = _parsed(lines)
    assert len(parsed) >= 3
    assert _scanned(lines) == parsed


def test_sshd_written_elsewhere_in_a_line_is_not_its_program() -> None:
    lines = [
        # The program is cron: the sshd message is its argument.
        "Nov 24 10:00:06 web01 cron[9]: sshd[2]: Failed password for root from 198.51.100.4 port 53 ssh2",
        # Host names with sshd in them, the real program after.
        "Nov 24 10:00:07 bastion-sshd sshd[3]: Failed password for root from 198.51.100.5 port 54 ssh2",
        "Nov 24 10:00:08 gw-sshd: sshd[3]: Invalid user bob from 198.51.100.6 port 55",
        "Nov 24 10:00:09 gw-sshd: Failed password for root from 198.51.100.7 port 56 ssh2",
        # A user name that writes another sshd failure, whose rule stops before the line's end.
        "Nov 24 10:00:10 web01 sshd[4]: ROOT LOGIN REFUSED FROM 198.51.100.8 port 57 x sshd[5]: Failed password "
        "for root from 192.0.2.66 port 1 ssh2",
        "Nov 24 10:00:11 web01 sshd[4]: Accepted password for x sshd[6]: Failed password for root from 192.0.2.67 "
        "port 2 ssh2 from 198.51.100.9 port 58 ssh2",
        # A journald record whose message writes a classic sshd line: one event, from the record.
        '{"__REALTIME_TIMESTAMP": "1795510805000000", "SYSLOG_IDENTIFIER": "sshd", "MESSAGE": '
        '"Failed password for x sshd[1]: Failed password for root from 192.0.2.68 port 3 ssh2 from 198.51.100.10 '
        'port 59 ssh2", "_HOSTNAME": "web01"}',
        '{"__REALTIME_TIMESTAMP": "1795510806000000", "SYSLOG_IDENTIFIER": "sshd-session", "MESSAGE": '
        '"Invalid user carol from 198.51.100.11 port 60", "_HOSTNAME": "web02"}',
    ]
    parsed = _parsed(lines)
    addresses = [event["source_ip"] for _, event in parsed]
    assert addresses == [
        "198.51.100.5",
        "198.51.100.6",
        "198.51.100.8",
        "198.51.100.9",
        "198.51.100.10",
        "198.51.100.11",
    ]
    assert _scanned(lines) == parsed
    assert _scanned(lines, chunk=3) == parsed


_WORDS = st.sampled_from(
    [
        "Failed password for",
        "Failed publickey for invalid user",
        "Invalid user",
        "Connection closed by",
        "Connection reset by authenticating user",
        "Received disconnect from",
        "Disconnected from invalid user",
        "error: maximum authentication attempts exceeded for",
        "pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=",
        "Did not receive identification string from",
        "Accepted password for",
    ]
)
_TAILS = st.sampled_from(
    ["", " [preauth]", " ssh2", " port 22", " port 22 ssh2", ":11: Bye Bye [preauth]", " user=root", ": no matching"]
)
_NAMES = st.sampled_from(["root", "admin from 10.0.0.1", "", "a b", "x\r"])
_ADDRESSES = st.sampled_from(["203.0.113.9", "::ffff:203.0.113.9", "2001:db8::1", "999.1.1.1", "host.example"])


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(0, 59),
            _WORDS,
            _NAMES,
            _ADDRESSES,
            _TAILS,
            st.sampled_from(["sshd[12]", "sshd", "sshd-session[3]"]),
        ),
        min_size=1,
        max_size=12,
    )
)
def test_generated_lines_agree(parts: list[tuple[int, str, str, str, str, str]]) -> None:
    lines = [
        f"Nov 24 10:01:{second:02d} web01 {program}: {word} {name} from {address}{tail}"
        if "rhost=" not in word
        else f"Nov 24 10:01:{second:02d} web01 {program}: {word}{address}{tail}"
        for second, word, name, address, tail, program in parts
    ]
    assert _scanned(lines) == _parsed(lines)
