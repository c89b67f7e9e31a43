"""OpenSSH server logs: auth.log lines (classic and ISO 8601 stamps) and `journalctl -o json` records.

Replay feeds this parser whole auth.log files, where most lines are cron, systemd, sudo or sshd sessions that
say nothing about an attacker. So the order of work is cheapest first: a substring test for the program
(`sshd`, `sshd-session`, `sshd-auth`), a dictionary lookup on the message's first word, one anchored regex for
that word, and only then the address check, the (memoised) timestamp and the event.

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
from collections.abc import Mapping
from datetime import datetime
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
    NO_FIELDS,
    Event,
    freeze,
    new_event,
)
from chalicelib.events.parsers import (
    ParseContext,
    ParserInfo,
    ParserRule,
    epoch_time,
    normalise_ip,
    syslog_time,
    to_port,
)

SERVICE = "sshd"
PROGRAMS = frozenset({"sshd", "sshd-session", "sshd-auth"})  # OpenSSH 9.8 split sshd into these processes

BRUTE_FORCE = ("T1110",)
PASSWORD_GUESSING = ("T1110", "T1110.001")
ACTIVE_SCANNING = ("T1595",)
PASSWORD_METHODS = frozenset({"password", "keyboard-interactive/pam", "keyboard-interactive"})

_SEVERITY = {AUTH_FAILURE: MEDIUM, INVALID_USER: MEDIUM, AUTH_PROBE: LOW, AUTH_SUCCESS: INFO}

_IP = r"(?P<ip>\S+)"
_PORT = r"port (?P<port>\d+)"
_PREAUTH = r"(?P<preauth> \[preauth\])?"
# Lazy: the address follows the user name directly, and the `$`-anchored tail after it has optional parts, so
# the shortest user name leaves the whole `<ip> port <n> [preauth]` tail to the address.
_WHO = r"(?:(?P<who>authenticating|invalid) user (?P<user>.*?) )?"


class _Rule:
    """One sshd message shape: the first word it starts with, its pattern, and the kind it reports."""

    __slots__ = (
        "first",
        "has_invalid",
        "has_method",
        "has_port",
        "has_reason",
        "has_user",
        "has_who",
        "kind",
        "mitre",
        "name",
        "needs_preauth",
        "regex",
        "severity",
        "summary",
    )

    def __init__(
        self,
        name: str,
        first: str,
        pattern: str,
        kind: str,
        summary: str,
        mitre: tuple[str, ...] = (),
        *,
        needs_preauth: bool = False,
    ) -> None:
        self.name = name
        self.first = first
        self.regex = re.compile(pattern, re.ASCII)
        self.kind = kind
        self.severity = _SEVERITY[kind]
        self.summary = summary
        self.mitre = mitre
        self.needs_preauth = needs_preauth
        # Which named groups the pattern has, so the hot path reads only those (no groupdict per line).
        groups = self.regex.groupindex
        self.has_user = "user" in groups
        self.has_port = "port" in groups
        self.has_method = "method" in groups
        self.has_invalid = "inv" in groups
        self.has_who = "who" in groups
        self.has_reason = "reason" in groups


_RULES: tuple[_Rule, ...] = (
    _Rule(
        "failed-auth",
        "Failed",
        rf"Failed (?P<method>\S+) for (?P<inv>invalid user )?(?P<user>.*) from {_IP} {_PORT}",
        AUTH_FAILURE,
        "Failed <method> for [invalid user ]<user> from <ip> port <n>",
        BRUTE_FORCE,
    ),
    _Rule(
        "invalid-user",
        "Invalid",
        rf"Invalid user (?P<user>.*) from {_IP}(?: {_PORT})?$",
        INVALID_USER,
        "Invalid user <user> from <ip> [port <n>]",
        BRUTE_FORCE,
    ),
    _Rule(
        "max-auth-attempts",
        "maximum",
        rf"maximum authentication attempts exceeded for (?P<inv>invalid user )?(?P<user>.*) from {_IP} "
        rf"{_PORT}(?: ssh2)?{_PREAUTH}$",
        AUTH_FAILURE,
        "[error: ]maximum authentication attempts exceeded for [invalid user ]<user> from <ip> port <n>",
        BRUTE_FORCE,
    ),
    _Rule(
        "pam-unix-failure",
        "pam_unix(sshd:auth):",
        r"pam_unix\(sshd:auth\): authentication failure;.*? rhost=(?P<ip>\S*)(?:\s+user=(?P<user>.*))?$",
        AUTH_FAILURE,
        "pam_unix(sshd:auth): authentication failure; ... rhost=<ip> [user=<user>]",
        PASSWORD_GUESSING,
    ),
    _Rule(
        "pam-failure",
        "PAM:",
        rf"PAM: Authentication failure for (?P<inv>illegal user )?(?P<user>.*) from {_IP}$",
        AUTH_FAILURE,
        "[error: ]PAM: Authentication failure for [illegal user ]<user> from <ip>",
        PASSWORD_GUESSING,
    ),
    _Rule(
        "pam-unknown-user",
        "PAM:",
        rf"PAM: User not known to the underlying authentication module for illegal user (?P<user>.*) "
        rf"from {_IP}$",
        INVALID_USER,
        "[error: ]PAM: User not known to the underlying authentication module for illegal user <user> from <ip>",
        BRUTE_FORCE,
    ),
    _Rule(
        "user-not-allowed",
        "User",
        rf"User (?P<user>.*) from {_IP} not allowed because (?P<reason>.+)$",
        AUTH_FAILURE,
        "User <user> from <ip> not allowed because <reason>",
        BRUTE_FORCE,
    ),
    _Rule(
        "root-login-refused",
        "ROOT",
        rf"ROOT LOGIN REFUSED FROM {_IP}(?: {_PORT})?",
        AUTH_FAILURE,
        "ROOT LOGIN REFUSED FROM <ip> [port <n>]",
        BRUTE_FORCE,
    ),
    _Rule(
        "accepted",
        "Accepted",
        rf"Accepted (?P<method>\S+) for (?P<user>.*) from {_IP} {_PORT}",
        AUTH_SUCCESS,
        "Accepted <method> for <user> from <ip> port <n>",
    ),
    _Rule(
        "no-identification",
        "Did",
        rf"Did not receive identification string from {_IP}(?: {_PORT})?$",
        AUTH_PROBE,
        "Did not receive identification string from <ip> [port <n>]",
        ACTIVE_SCANNING,
    ),
    _Rule(
        "unable-to-negotiate",
        "Unable",
        rf"Unable to negotiate with {_IP} {_PORT}: (?P<reason>.*?)(?:\. Their offer: .*?)?{_PREAUTH}$",
        AUTH_PROBE,
        "Unable to negotiate with <ip> port <n>: no matching <algorithm> found",
        ACTIVE_SCANNING,
    ),
    _Rule(
        "banner-exchange",
        "banner",
        rf"banner exchange: Connection from {_IP} {_PORT}: (?P<reason>.*)$",
        AUTH_PROBE,
        "banner exchange: Connection from <ip> port <n>: <reason>",
        ACTIVE_SCANNING,
    ),
    _Rule(
        "bad-protocol-version",
        "Bad",
        rf"Bad protocol version identification '.*' from {_IP}(?: {_PORT})?$",
        AUTH_PROBE,
        "Bad protocol version identification '<banner>' from <ip> [port <n>]",
        ACTIVE_SCANNING,
    ),
    _Rule(
        "timeout-before-auth",
        "Timeout",
        rf"Timeout before authentication for {_IP}(?: {_PORT})?$",
        AUTH_PROBE,
        "[fatal: ]Timeout before authentication for <ip> [port <n>]",
        ACTIVE_SCANNING,
    ),
    _Rule(
        "connection-closed",
        "Connection",
        rf"Connection (?:closed|reset) by {_WHO}{_IP}(?: {_PORT})?{_PREAUTH}$",
        AUTH_PROBE,
        "Connection closed|reset by [authenticating|invalid user <user> ]<ip> [port <n>] [[preauth]]",
        ACTIVE_SCANNING,
    ),
    _Rule(
        "disconnected",
        "Disconnected",
        rf"Disconnected from {_WHO}{_IP} {_PORT}{_PREAUTH}$",
        AUTH_PROBE,
        "Disconnected from [authenticating|invalid user <user> ]<ip> port <n> [[preauth]]",
        ACTIVE_SCANNING,
    ),
    _Rule(
        "too-many-failures",
        "Disconnecting",
        rf"Disconnecting {_WHO}{_IP} {_PORT}: Too many authentication failures{_PREAUTH}$",
        AUTH_PROBE,
        "Disconnecting [authenticating|invalid user <user> ]<ip> port <n>: Too many authentication failures",
        ACTIVE_SCANNING,
    ),
    _Rule(
        "received-disconnect",
        "Received",
        rf"Received disconnect from {_IP}(?: {_PORT})?:\s*\d+: (?P<reason>.*?){_PREAUTH}$",
        AUTH_PROBE,
        "Received disconnect from <ip> port <n>:<code>: <reason> [preauth] (only before authentication)",
        ACTIVE_SCANNING,
        needs_preauth=True,
    ),
    _Rule(
        "dispatch-fatal",
        "ssh_dispatch_run_fatal:",
        rf"ssh_dispatch_run_fatal: Connection from {_WHO}{_IP} {_PORT}: (?P<reason>.*?){_PREAUTH}$",
        AUTH_PROBE,
        "ssh_dispatch_run_fatal: Connection from [... user <user> ]<ip> port <n>: <reason>",
        ACTIVE_SCANNING,
    ),
)

_BY_FIRST_WORD: Mapping[str, tuple[_Rule, ...]] = MappingProxyType(
    {first: tuple(rule for rule in _RULES if rule.first == first) for first in {rule.first for rule in _RULES}}
)
_LEVEL_PREFIXES = ("error: ", "fatal: ")


def parse(line: str, context: ParseContext) -> Event | None:
    """An sshd auth.log line (classic or ISO stamp) or a journald JSON record, as an Event."""
    if not isinstance(line, str):
        return None
    start = line.find(" sshd")
    if start < 0 or line[:1] == "{":
        return _parse_journald(line, context) if line[:1] == "{" else None
    while True:
        end = line.find(" ", start + 1)
        if end < 0:
            return None
        token = line[start + 1 : end]  # `sshd[123]:`, `sshd-session[9]:` or `sshd:`
        if token[-1:] == ":":
            bracket = token.find("[")
            if (token[:bracket] if bracket >= 0 else token[:-1]) in PROGRAMS:
                break
        start = line.find(" sshd", end)
        if start < 0:
            return None
    hit = _match(line[end + 1 :])
    if hit is None:
        return None
    header = line[:start]
    cut = header.rfind(" ")
    if cut <= 0:
        return None
    stamp = header[:cut]
    if stamp[:1] == "<":  # a syslog priority `<38>` left on by a relay
        stamp = stamp[stamp.find(">") + 1 :]
    return _event(hit, stamp, None, header[cut + 1 :] or context.hostname, line, context)


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
    hit = _match(message)
    if hit is None:
        return None
    time = epoch_time(record.get("__REALTIME_TIMESTAMP"))
    if time is None:
        return None
    host = record.get("_HOSTNAME")
    return _event(hit, "", time, host if isinstance(host, str) and host else context.hostname, line, context)


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


_Hit = tuple[_Rule, "re.Match[str]", str]


def _match(message: str) -> _Hit | None:
    if message[:7] in _LEVEL_PREFIXES:
        message = message[7:]
    space = message.find(" ")
    rules = _BY_FIRST_WORD.get(message[:space] if space > 0 else message)
    if rules is None:
        return None
    for rule in rules:
        found = rule.regex.match(message)
        if found is not None:
            if rule.needs_preauth and found["preauth"] is None:
                return None
            return rule, found, message
    return None


def _event(
    hit: _Hit, stamp: str, time: datetime | None, hostname: str | None, raw: str, context: ParseContext
) -> Event | None:
    """The event for a matched message; the address is checked and the stamp read only now, the costly part."""
    rule, found, message = hit
    source_ip = normalise_ip(found["ip"])
    if source_ip is None:
        return None
    if time is None:
        time = syslog_time(stamp, context)
        if time is None:
            return None
    method = found["method"] if rule.has_method else None
    invalid = (rule.has_invalid and found["inv"] is not None) or (rule.has_who and found["who"] == "invalid")
    reason = found["reason"] if rule.has_reason else None
    mitre = PASSWORD_GUESSING if rule.kind == AUTH_FAILURE and method in PASSWORD_METHODS else rule.mitre
    port = found["port"] if rule.has_port else None
    return new_event(
        time,
        source_ip,
        rule.kind,
        SERVICE,
        LOG_AUTH,
        rule.severity,
        username=(found["user"] or None) if rule.has_user else None,
        hostname=hostname,
        source_port=_port(port) if port else None,
        rule_id=rule.name,
        message=message,
        mitre=mitre,
        fields=_fields(method, invalid, reason, rule.name == "pam-unix-failure"),
        raw=raw,
    )


def _port(digits: str) -> int | None:
    number = int(digits)  # the patterns only capture ASCII digits here
    return number if 0 < number <= 65535 else None


_FIELDS_MEMO: dict[tuple[str | None, bool, str | None, bool], Mapping[str, str]] = {}


def _fields(method: str | None, invalid: bool, reason: str | None, pam: bool) -> Mapping[str, str]:
    """The event's extra fields; the few combinations a log repeats are built once."""
    key = (method, invalid, reason, pam)
    known = _FIELDS_MEMO.get(key)
    if known is not None:
        return known
    extra: dict[str, str] = {}
    if method is not None:
        extra["method"] = method
    if invalid:
        extra["invalid_user"] = "1"
    if reason:
        extra["reason"] = reason
    if pam:
        extra["source"] = "pam"
    if len(_FIELDS_MEMO) >= 4096:  # reasons are the client's words: keep the memo bounded
        _FIELDS_MEMO.clear()
    _FIELDS_MEMO[key] = frozen = freeze(extra)
    return frozen


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
    rules=tuple(ParserRule(rule.name, rule.summary, rule.kind, rule.mitre) for rule in _RULES),
)
