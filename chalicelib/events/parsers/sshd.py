"""OpenSSH server logs: auth.log lines (classic and ISO 8601 stamps) and `journalctl -o json` records.

Replay feeds this parser whole auth.log files, where most lines are cron, systemd, sudo or sshd sessions that
say nothing about an attacker. So the order of work is cheapest first: a substring test (` sshd`), one anchored
regex for the syslog header that also captures the message's first word, a dictionary lookup on that word for
the one or two message patterns worth trying, and only for a match the address check, the memoised timestamp
and the event. `parse_lines` runs the same over many lines with the substring test inlined (replay's loop).

Kinds, and why:
- `auth_failure`: a credential was tried and refused (`Failed password`, PAM failures, `maximum authentication
  attempts exceeded`, `not allowed because`). `Failed ... for invalid user X` is an `auth_failure` with
  `fields["invalid_user"] = "1"`: each password attempt counts once; the `Invalid user X from` line that
  precedes it is the separate `invalid_user` kind. pam_unix's `authentication failure; ... rhost=` line
  repeats what the `Failed password` line says, so it carries `fields["source"] = "pam"` for detection to tell
  them apart.
- `auth_probe`: the peer never got to (or gave up during) authentication: no identification string, failed key
  exchange, bad banner, and the preauth `Connection closed/reset`, `Disconnected`, `Received disconnect`
  lines. The same lines after a login (`Disconnected from user X`, no `[preauth]`) are a user leaving, not a
  probe, and give None. `kex_exchange_identification: ...` names no address (sshd logs the address on the next
  line).
- `auth_success`: `Accepted <method> for X`; detection pairs it with earlier failures (T1078), not the parser.

Usernames are attacker-controlled and may contain spaces or ` from `; the patterns take the last ` from <ip>
port <n>` of the line, which the attacker cannot write after.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime
from functools import lru_cache
from operator import itemgetter
from types import MappingProxyType

from chalicelib.events.model import (
    AUTH_FAILURE,
    AUTH_PROBE,
    AUTH_SUCCESS,
    INFO,
    INVALID_USER,
    LOG_AUTH,
    LOW,
    MEDIUM,
    Event,
    freeze,
    new_event,
)
from chalicelib.events.parsers import (
    SECONDS,
    Counts,
    ParseContext,
    ParserInfo,
    ParserRule,
    classic_time,
    epoch_time,
    iso_time,
    normalise_ip,
)

SERVICE = "sshd"
PROGRAMS = frozenset({"sshd", "sshd-session", "sshd-auth"})  # OpenSSH 9.8 split sshd into these processes

BRUTE_FORCE = ("T1110",)
PASSWORD_GUESSING = ("T1110", "T1110.001")
ACTIVE_SCANNING = ("T1595",)
PASSWORD_METHODS = frozenset({"password", "keyboard-interactive/pam", "keyboard-interactive"})

_SEVERITY = {AUTH_FAILURE: MEDIUM, INVALID_USER: MEDIUM, AUTH_PROBE: LOW, AUTH_SUCCESS: INFO}

# Optional parts are written `(?:X|)`, not `(?:X)?`: the same match (X first, then nothing), but Python's regex
# engine runs an alternation faster than a repeat, which is what `?` on a group compiles to.
# User names are lazy (`.*?`) wherever the pattern ends in `$` after a strict tail (`from <ip> [port <n>]
# [[preauth]]`): a ` from ...` written inside the name cannot be taken for the address, because the real tail
# after it would be left over, and a short name is found without backtracking from the end of the line. Where the
# tail is free text, the name is greedy so the last ` from <ip>` wins.
_IP = r"(?P<ip>\S+)"
_PORT = r"port (?P<port>\d+)"
_PREAUTH = r"(?:(?P<preauth> \[preauth\])|)"
# Here laziness is also needed for correctness: the address follows the name directly and the tail has optional
# parts, so a greedy name would leave only `[preauth]` to the address.
_WHO = r"(?:(?P<who>authenticating|invalid) user (?P<user>.*?) |)"

GROUPS = ("ip", "port", "user", "method", "inv", "who", "reason", "preauth")
_NO_GROUP = (None,)


class _Rule:
    """One sshd message shape: its pattern (named groups among `GROUPS`, `ip` required) and the kind it reports.

    `pick` reads all of `GROUPS` from `found.groups() + (None,)` in one call, a group the pattern lacks read as
    the None at the end: cheaper than asking the match for each name, or the rule which ones it has.
    """

    __slots__ = ("first", "kind", "listed", "mitre", "name", "needs_preauth", "pick", "regex", "severity", "summary")

    def __init__(
        self,
        name: str,
        pattern: str,
        kind: str,
        summary: str,
        mitre: tuple[str, ...] = (),
        *,
        needs_preauth: bool = False,  # the same words after authentication are a user leaving, not a probe
        listed: bool = True,  # False for a second pattern of a rule already listed under the same name
    ) -> None:
        self.name = name
        self.first = pattern.split(" ", 1)[0].replace("\\", "")  # the literal first word, for dispatch
        self.regex = re.compile(pattern, re.ASCII)
        numbers = self.regex.groupindex
        missing = self.regex.groups  # the index of the None appended to `groups()`
        self.pick = itemgetter(*(numbers[group] - 1 if group in numbers else missing for group in GROUPS))
        self.listed = listed
        self.kind = kind
        self.severity = _SEVERITY[kind]
        self.summary = summary
        self.mitre = mitre
        self.needs_preauth = needs_preauth


_RULES: tuple[_Rule, ...] = (
    # The commonest line, so two patterns. The first is lazy and cheap, and safe because its tail is strict: an
    # earlier ` from ... port ...` written inside the user name would leave the real ` from <ip> port <n> ssh2`
    # (four words or more) to a tail that allows two at most. Any other tail (certificates) takes the greedy one,
    # which picks the last ` from <ip> port <n>` of the line.
    _Rule(
        "failed-auth",
        rf"Failed (?P<method>\S+) for (?:(?P<inv>invalid user )|)(?P<user>.*?) from {_IP} {_PORT}"
        rf"(?: ssh2|)(?:: \S+ \S+|)(?: \[preauth\]|)$",
        AUTH_FAILURE,
        "Failed <method> for [invalid user ]<user> from <ip> port <n>",
        BRUTE_FORCE,
    ),
    _Rule(
        "failed-auth",
        rf"Failed (?P<method>\S+) for (?:(?P<inv>invalid user )|)(?P<user>.*) from {_IP} {_PORT}",
        AUTH_FAILURE,
        "Failed <method> for [invalid user ]<user> from <ip> port <n>",
        BRUTE_FORCE,
        listed=False,
    ),
    _Rule(
        "invalid-user",
        rf"Invalid user (?P<user>.*?) from {_IP}(?: {_PORT}|)$",
        INVALID_USER,
        "Invalid user <user> from <ip> [port <n>]",
        BRUTE_FORCE,
    ),
    _Rule(
        "max-auth-attempts",
        rf"maximum authentication attempts exceeded for (?:(?P<inv>invalid user )|)(?P<user>.*?) from {_IP} "
        rf"{_PORT}(?: ssh2|){_PREAUTH}$",
        AUTH_FAILURE,
        "[error: ]maximum authentication attempts exceeded for [invalid user ]<user> from <ip> port <n>",
        BRUTE_FORCE,
    ),
    _Rule(
        "pam-unix-failure",
        r"pam_unix\(sshd:auth\): authentication failure;.*? rhost=(?P<ip>\S*)(?:\s+user=(?P<user>.*)|)$",
        AUTH_FAILURE,
        "pam_unix(sshd:auth): authentication failure; ... rhost=<ip> [user=<user>]",
        PASSWORD_GUESSING,
    ),
    _Rule(
        "pam-failure",
        rf"PAM: Authentication failure for (?:(?P<inv>illegal user )|)(?P<user>.*?) from {_IP}$",
        AUTH_FAILURE,
        "[error: ]PAM: Authentication failure for [illegal user ]<user> from <ip>",
        PASSWORD_GUESSING,
    ),
    _Rule(
        "pam-unknown-user",
        rf"PAM: User not known to the underlying authentication module for illegal user (?P<user>.*?) "
        rf"from {_IP}$",
        INVALID_USER,
        "[error: ]PAM: User not known to the underlying authentication module for illegal user <user> from <ip>",
        BRUTE_FORCE,
    ),
    _Rule(
        "user-not-allowed",
        rf"User (?P<user>.*) from {_IP} not allowed because (?P<reason>.+)$",
        AUTH_FAILURE,
        "User <user> from <ip> not allowed because <reason>",
        BRUTE_FORCE,
    ),
    _Rule(
        "root-login-refused",
        rf"ROOT LOGIN REFUSED FROM {_IP}(?: {_PORT}|)",
        AUTH_FAILURE,
        "ROOT LOGIN REFUSED FROM <ip> [port <n>]",
        BRUTE_FORCE,
    ),
    _Rule(
        "accepted",
        rf"Accepted (?P<method>\S+) for (?P<user>.*) from {_IP} {_PORT}",
        AUTH_SUCCESS,
        "Accepted <method> for <user> from <ip> port <n>",
    ),
    _Rule(
        "no-identification",
        rf"Did not receive identification string from {_IP}(?: {_PORT}|)$",
        AUTH_PROBE,
        "Did not receive identification string from <ip> [port <n>]",
        ACTIVE_SCANNING,
    ),
    _Rule(
        "unable-to-negotiate",
        rf"Unable to negotiate with {_IP} {_PORT}: (?P<reason>.*?)(?:\. Their offer: .*?|){_PREAUTH}$",
        AUTH_PROBE,
        "Unable to negotiate with <ip> port <n>: no matching <algorithm> found",
        ACTIVE_SCANNING,
    ),
    _Rule(
        "banner-exchange",
        rf"banner exchange: Connection from {_IP} {_PORT}: (?P<reason>.*)$",
        AUTH_PROBE,
        "banner exchange: Connection from <ip> port <n>: <reason>",
        ACTIVE_SCANNING,
    ),
    _Rule(
        "bad-protocol-version",
        rf"Bad protocol version identification '.*' from {_IP}(?: {_PORT}|)$",
        AUTH_PROBE,
        "Bad protocol version identification '<banner>' from <ip> [port <n>]",
        ACTIVE_SCANNING,
    ),
    _Rule(
        "timeout-before-auth",
        rf"Timeout before authentication for {_IP}(?: {_PORT}|)$",
        AUTH_PROBE,
        "[fatal: ]Timeout before authentication for <ip> [port <n>]",
        ACTIVE_SCANNING,
    ),
    _Rule(
        "connection-closed",
        rf"Connection (?:closed|reset) by {_WHO}{_IP}(?: {_PORT}|){_PREAUTH}$",
        AUTH_PROBE,
        "Connection closed|reset by [authenticating|invalid user <user> ]<ip> [port <n>] [[preauth]]",
        ACTIVE_SCANNING,
    ),
    _Rule(
        "disconnected",
        rf"Disconnected from {_WHO}{_IP} {_PORT}{_PREAUTH}$",
        AUTH_PROBE,
        "Disconnected from [authenticating|invalid user <user> ]<ip> port <n> [[preauth]]",
        ACTIVE_SCANNING,
    ),
    _Rule(
        "too-many-failures",
        rf"Disconnecting {_WHO}{_IP} {_PORT}: Too many authentication failures{_PREAUTH}$",
        AUTH_PROBE,
        "Disconnecting [authenticating|invalid user <user> ]<ip> port <n>: Too many authentication failures",
        ACTIVE_SCANNING,
    ),
    _Rule(
        "received-disconnect",
        rf"Received disconnect from {_IP}(?: {_PORT}|):\s*\d+: (?P<reason>.*?){_PREAUTH}$",
        AUTH_PROBE,
        "Received disconnect from <ip> port <n>:<code>: <reason> [preauth] (only before authentication)",
        ACTIVE_SCANNING,
        needs_preauth=True,
    ),
    _Rule(
        "dispatch-fatal",
        rf"ssh_dispatch_run_fatal: Connection from {_WHO}{_IP} {_PORT}: (?P<reason>.*?){_PREAUTH}$",
        AUTH_PROBE,
        "ssh_dispatch_run_fatal: Connection from [... user <user> ]<ip> port <n>: <reason>",
        ACTIVE_SCANNING,
    ),
)


# A plain dict, not a read-only proxy: it is read once per sshd line, and a proxy's `get` costs more.
_BY_FIRST_WORD: dict[str, tuple[_Rule, ...]] = {
    first: tuple(rule for rule in _RULES if rule.first == first) for first in {rule.first for rule in _RULES}
}

# `Nov 24 10:00:00 host sshd[1]: `, then the message's first word, which picks the rules to try. The classic
# stamp is tried on its own first because it is the common case, and the general pattern (a `<38>` priority
# left on by a relay, a fraction, rsyslog's ISO 8601 stamp) costs a fifth more.
_CLASSIC_STAMP = r"[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d"
_PROGRAM_HEAD = r" (?P<host>\S++) sshd(?:-session|-auth|)(?:\[\d++\]|): (?:error: |fatal: |)"
_PROGRAM = _PROGRAM_HEAD + r"(?P<first>\S++)"
_CLASSIC_HEADER = re.compile(rf"(?P<stamp>{_CLASSIC_STAMP})" + _PROGRAM, re.ASCII)
_ANY_STAMP = rf"{_CLASSIC_STAMP}(?:\.\d+|)|\d{{4}}-\d\d-\d\dT\S+"
_HEADER = re.compile(
    rf"(?:<\d{{1,3}}>|)(?P<stamp>{_ANY_STAMP})" + _PROGRAM,
    re.ASCII,
)
_JOURNAL_FIRST = re.compile(r"(?:error: |fatal: |)(?P<first>\S+)", re.ASCII)


def parse(line: str, context: ParseContext) -> Event | None:
    """An sshd auth.log line (classic or ISO stamp) or a journald JSON record, as an Event."""
    if not isinstance(line, str):
        return None
    return _parse_text(line, context)


def parse_lines(lines: Iterable[str], context: ParseContext) -> Iterator[Event]:
    """`parse` over many lines of text (replay's loop): the events, in order, with the pre-filter inlined.

    Unlike `parse`, it does not check that each line is a string (a per-line cost replay does not need): a
    non-string among the lines is a caller's bug and raises TypeError.
    """
    for line in lines:
        if " sshd" not in line:
            if line[:1] != "{":
                continue
            event = _parse_journald(line, context)
        elif line[:1] != "{":
            event = _parse_syslog(line, context)
        else:
            event = _parse_journald(line, context)
        if event is not None:
            yield event


def _parse_text(line: str, context: ParseContext) -> Event | None:
    """`parse` for a line known to be text."""
    if " sshd" in line and line[:1] != "{":
        return _parse_syslog(line, context)
    if line[:1] == "{":
        return _parse_journald(line, context)
    return None


def _parse_syslog(line: str, context: ParseContext) -> Event | None:
    header = _CLASSIC_HEADER.match(line) or _HEADER.match(line)
    if header is None:
        return None
    stamp, host, first = header.group(1, 2, 3)
    rules = _BY_FIRST_WORD.get(first)
    if rules is None:
        return None
    start = header.start(3)
    for rule in rules:
        found = rule.regex.match(line, start)
        if found is not None:
            return _event(rule, found, start, line, stamp, None, host, context)
    return None


def _parse_journald(line: str, context: ParseContext) -> Event | None:
    if "sshd" not in line:
        return None
    try:
        record = json.loads(line)
    except (ValueError, RecursionError):
        return None
    if not isinstance(record, dict):
        return None
    program = record.get("SYSLOG_IDENTIFIER") or record.get("_COMM")
    message = _journal_text(record.get("MESSAGE"))
    if not isinstance(program, str) or program not in PROGRAMS or message is None:
        return None
    first = _JOURNAL_FIRST.match(message)
    time = epoch_time(record.get("__REALTIME_TIMESTAMP"))
    if first is None or time is None:
        return None
    host = record.get("_HOSTNAME")
    hostname = host if isinstance(host, str) and host else context.hostname
    start = first.start(1)
    for rule in _BY_FIRST_WORD.get(first.group(1), ()):
        found = rule.regex.match(message, start)
        if found is not None:
            return _event(rule, found, start, line, "", time, hostname, context)
    return None


def _journal_text(value: object) -> str | None:
    if isinstance(value, str):
        return value
    # journalctl writes a message that is not valid UTF-8 as an array of byte values.
    if isinstance(value, list) and all(isinstance(b, int) and not isinstance(b, bool) for b in value):
        try:
            return bytes(value).decode("utf-8", "replace")
        except ValueError:
            return None
    return None


def _event(
    rule: _Rule,
    found: re.Match[str],
    start: int,
    raw: str,
    stamp: str,
    time: datetime | None,
    hostname: str | None,
    context: ParseContext,
) -> Event | None:
    """The event for a matched message; the address is checked and the stamp read only now, the costly part."""
    ip, port, user, method, invalid, who, reason, preauth = rule.pick(found.groups() + _NO_GROUP)
    if preauth is None and rule.needs_preauth:
        return None
    source_ip = normalise_ip(ip)
    if source_ip is None:
        return None
    if time is None:
        # Classic stamps were checked by the header pattern; ISO ones go to fromisoformat.
        time = classic_time(stamp, context) if stamp[0].isalpha() else iso_time(stamp, context)
        if time is None:
            return None
    fields = _fields(method, invalid is not None or who == "invalid", reason, rule.name)
    return _new_event(rule, time, source_ip, port, user, fields, method, hostname, found.string[start:], raw)


def _new_event(
    rule: _Rule,
    time: datetime,
    source_ip: str,
    port: str | None,
    user: str | None,
    fields: Mapping[str, str],
    method: str | None,
    hostname: str | None,
    message: str,
    raw: str,
) -> Event:
    """The event of a checked match: both paths (`_event`, `scan`) build it here, so they build the same."""
    kind = rule.kind
    # Positional: keywords cost a measurable share of a call made for most lines of an attacked host's log.
    return new_event(
        time,
        source_ip,
        kind,
        SERVICE,
        LOG_AUTH,
        rule.severity,
        user or None,  # username
        hostname,
        None,  # sensor
        None,  # target_port
        (number if 0 < (number := int(port)) <= 65535 else None) if port else None,  # source_port (ASCII digits)
        None,  # http_status
        None,  # uri
        rule.name,  # rule_id
        message,
        PASSWORD_GUESSING if kind == AUTH_FAILURE and method in PASSWORD_METHODS else rule.mitre,
        fields,
        raw,
    )


@lru_cache(maxsize=4096)  # a log repeats a few combinations; reasons are the client's words, hence the bound
def _fields(method: str | None, invalid: bool, reason: str | None, rule: str) -> Mapping[str, str]:
    """The event's extra fields, built once per combination."""
    extra: dict[str, str] = {}
    if method is not None:
        extra["method"] = method
    if invalid:
        extra["invalid_user"] = "1"
    if reason:
        extra["reason"] = reason
    if rule == "pam-unix-failure":
        extra["source"] = "pam"
    return freeze(extra)


# Replay's bulk path, `scan`: one pattern over a chunk of whole lines with `finditer`, so that the regex engine, not a
# Python loop, steps over the lines no scenario counts, and matches the message of those it does in the same pass.
# The pattern starts with the literal `sshd`, which the engine looks for with a fast substring search instead of
# trying a pattern at every line (a third of the time over an auth.log); then the program head and, as
# alternatives, only the rules whose events a scenario may count (`Counts`): a replay of the shipped scenarios
# never stops on a session, probe or pam echo line. The alternatives are grouped by first word (an alternative
# that starts with a literal is skipped at once when the next character differs), the commonest words first;
# within a word the rules keep their order, so the rule that matches is the one `_parse_syslog` finds. Each rule
# sits in a group `r<n>` that closes last, so `lastindex` says which one matched; its own groups are renamed
# `r<n>_<group>`. `unset` is in a branch that never matches: it stands for the groups a rule lacks.
# The line's header is read back from the line's start: a classic header that ends where the match starts is the
# line's own program (`sshd` met in a host name or a user name is not); a line in another form (a `<38>`
# priority, an ISO 8601 stamp, a stamp with a fraction) goes to `parse`'s own code, once. So does a journald
# JSON record: the pattern's last alternative, `sshd"`, finds its SYSLOG_IDENTIFIER (`_parse_journald` too
# looks for the literal `sshd` before it decodes a line).
# MULTILINE makes `$` the end of the line, as it is when a rule reads one line; `\s` becomes `[^\S\n]` so that no
# rule reads past its line (`\S`, `.` and literals stop at a newline already).
_SCAN_ORDER = ("Failed", "Invalid", "pam_unix(sshd:auth):", "Connection", "Received", "Disconnected")
_SCAN_HEADER = re.compile(rf"({_CLASSIC_STAMP}) (\S++) ", re.ASCII)


_Verdicts = dict[int, tuple[Mapping[str, str], bool]]  # id(fields) -> (fields, whether such events are counted)


class _ScanRule:
    """A rule as `scan` reads it: the groups of its values, and where its message starts."""

    __slots__ = ("begin", "groups", "lead", "rule")

    def __init__(self, rule: _Rule, index: Mapping[str, int], number: int) -> None:
        self.rule = rule
        self.groups = tuple(index.get(f"r{number}_{group}", index["unset"]) for group in GROUPS)
        self.begin = index[f"r{number}"]
        self.lead = len(rule.first) + 1  # the first word and its space, before the group


def _counted_rules(counts: Counts) -> tuple[int, ...]:
    """The numbers of the rules whose events some scenario may count: all others are left out of the pattern."""
    numbers = []
    for number, rule in enumerate(_RULES):
        if not counts(rule.kind, SERVICE, LOG_AUTH, None):
            continue
        varies = any(f"(?P<{group}>" in rule.regex.pattern for group in ("method", "inv", "who", "reason"))
        if varies or counts(rule.kind, SERVICE, LOG_AUTH, _fields(None, False, None, rule.name)):
            numbers.append(number)
    return tuple(numbers)


@lru_cache(maxsize=8)  # built on replay's first call, per set of counted rules: the API never scans
def _scan_pattern(numbers: tuple[int, ...]) -> tuple[re.Pattern[str], dict[int, _ScanRule]]:
    order = {word: number for number, word in enumerate(_SCAN_ORDER)}
    chosen = [(number, _RULES[number]) for number in numbers]
    alternatives = ["(?P<unset>)(?!)"]
    for word in sorted({rule.first for _, rule in chosen}, key=lambda word: (order.get(word, len(order)), word)):
        lead = re.escape(word) + " "
        rules = []
        for number, rule in chosen:
            if rule.first != word:
                continue
            body = rule.regex.pattern
            if not body.startswith(lead) or re.search(r"\[[^\]]*\\s", body):
                raise ValueError(f"sshd rule {rule.name}: scan cannot read its pattern")
            body = re.sub(r"\(\?P<(\w+)>", rf"(?P<r{number}_\1>", body[len(lead) :]).replace(r"\s", r"[^\S\n]")
            rules.append(rf"(?P<r{number}>{body})")
        alternatives.append(lead + (rules[0] if len(rules) == 1 else f"(?:{'|'.join(rules)})"))
    head = r"sshd(?:-session|-auth|)(?:\[\d++\]|): (?:error: |fatal: |)"
    program = r'sshd(?:-session|-auth|)"'  # a journald record's SYSLOG_IDENTIFIER or _COMM value
    regex = re.compile(f"{head}(?:{'|'.join(alternatives)})|{program}", re.ASCII | re.MULTILINE)
    table = {regex.groupindex[f"r{number}"]: _ScanRule(rule, regex.groupindex, number) for number, rule in chosen}
    return regex, table


_MEMO_SIZE = 16384  # `scan` remembers this many addresses and stamps (a log repeats its attackers and seconds)
_UNREAD = object()


def scan(  # noqa: C901, PLR0912, PLR0915 - one hot loop: a helper call per line costs more than the branches
    texts: Iterable[str], context: ParseContext, counts: Counts
) -> Iterator[Event]:
    """Replay's bulk path: the events of `texts` (chunks of whole lines, `\n` between lines) that a scenario may
    count (`counts(kind, service, log_type, fields)`, see `Detector.counts`), in order.

    They are the events `parse_lines` gives for the chunks' lines that `counts` accepts, built the same way. Why it
    exists: replay's throughput goal (half a plain regex loop over the file). `parse_lines` costs a loop turn per
    line, two regex calls and an `Event` per sshd line; here one pattern (`_scan_pattern`) finds the lines worth
    reading, a stamp is read once per second, and no other line costs a Python step.
    `tests/unit/events/test_sshd_scan.py` checks that both paths agree.
    """
    pattern, table = _scan_pattern(_counted_rules(counts))
    find = pattern.finditer
    header_at = _SCAN_HEADER.match
    minute_of = context.minute
    verdicts: _Verdicts = {}  # which shapes of event (`fields`) are counted
    addresses: dict[str, str | None] = {}  # normalise_ip's answers, without its call
    minutes: dict[str, datetime | None] = {}  # the context's minutes of stamps, likewise
    last_stamp, time = "", None

    for text in texts:
        handed = -1  # the start of the last line given to `_parse_text`
        for found in find(text):
            start = found.start()
            line_start = text.rfind("\n", 0, start) + 1
            scanned = table.get(found.lastindex or 0)  # None: `sshd"`, the only branch without a group
            header = None if scanned is None else header_at(text, line_start)
            if scanned is None or header is None:
                # A journald record (`sshd"` in a line that starts with `{`) or a line not in the classic form (a
                # priority, an ISO stamp, a fraction): `parse`'s own code reads the line, once.
                if line_start != handed and (scanned is not None or text.startswith("{", line_start)):
                    handed = line_start
                    event = _line_event(text, line_start, start, context)
                    if event is not None and counts(event.kind, event.service, event.log_type, event.fields):
                        yield event
                continue
            if header.end() != start:  # `sshd` in a host or user name, not the line's program
                continue
            rule = scanned.rule
            ip, port, user, method, invalid, who, reason, preauth = found.group(*scanned.groups)
            source_ip = addresses.get(ip, _UNREAD)
            if source_ip is _UNREAD:
                if len(addresses) >= _MEMO_SIZE:
                    addresses.clear()
                source_ip = addresses[ip] = normalise_ip(ip)
            if source_ip is None:
                continue
            if preauth is None and rule.needs_preauth:
                continue
            stamp, host = header.group(1, 2)
            if stamp != last_stamp:  # lines come in time order: many share the stamp of the line before
                # `classic_time(stamp, context)`, for the 15 characters the pattern allows.
                minute = minutes.get(stamp[:12], _UNREAD)
                if minute is _UNREAD:
                    if len(minutes) >= _MEMO_SIZE:
                        minutes.clear()
                    minute = minutes[stamp[:12]] = minute_of(stamp[:12])
                second = SECONDS.get(stamp[13:])
                time = None if minute is None or second is None else minute + second
                last_stamp = stamp
            if time is None:
                continue
            fields = _fields(method, invalid is not None or who == "invalid", reason, rule.name)
            verdict = verdicts.get(id(fields))  # (fields, counted): the memo keeps `fields`, so its id stays its own
            if verdict is None:
                if len(verdicts) >= _MEMO_SIZE:
                    verdicts.clear()
                verdict = verdicts[id(fields)] = (fields, counts(rule.kind, SERVICE, LOG_AUTH, fields))
            if not verdict[1]:
                continue
            end = text.find("\n", found.end())
            if end < 0:
                end = len(text)
            message = text[found.start(scanned.begin) - scanned.lead : end]
            yield _new_event(rule, time, source_ip, port, user, fields, method, host, message, text[line_start:end])


def _line_event(text: str, line_start: int, start: int, context: ParseContext) -> Event | None:
    """The event `parse` reads in the line of `text` that holds `start`."""
    end = text.find("\n", start)
    return _parse_text(text[line_start:end] if end >= 0 else text[line_start:], context)


PARSER = ParserInfo(
    name="sshd",
    description="OpenSSH server: auth.log (classic or ISO 8601 stamps) and journald JSON (journalctl -o json)",
    parse=parse,
    log_types=(LOG_AUTH,),
    fields=(
        "time",
        "source_ip",
        "username",
        "hostname",
        "source_port",
        "rule_id",
        "message",
        "fields.method",
        "fields.invalid_user",
        "fields.reason",
        "fields.source",
    ),
    kinds=(AUTH_FAILURE, INVALID_USER, AUTH_PROBE, AUTH_SUCCESS),
    mitre=MappingProxyType({AUTH_FAILURE: PASSWORD_GUESSING, INVALID_USER: BRUTE_FORCE, AUTH_PROBE: ACTIVE_SCANNING}),
    rules=tuple(ParserRule(rule.name, rule.summary, rule.kind, rule.mitre) for rule in _RULES if rule.listed),
    parse_lines=parse_lines,
    scan=scan,
)
