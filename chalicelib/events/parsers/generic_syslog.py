"""Generic syslog (RFC 3164 and RFC 5424): a last-resort parser for daemons that have no parser of their own.

It reports an `auth_failure` only when a line says so in plain words (`failed`, `failure`, `denied`,
`invalid`, `refused`) and names where the attempt came from (`from <ip>`, `from host[<ip>]`, `src=`, `rhost=`,
`rip=`, `client <ip>`, `[client <ip>:<port>]`). Everything else gives None. It is deliberately timid: a false
positive here bans a person, and the format-specific parsers exist for precision.

The address must look public (`ipaddress`'s `is_global`): a private, loopback or documentation address in a
free- form message is more often the server's own, a relay or a local health check than an attacker, and the
specific parsers still report those. The service is the program name (`postfix/smtpd`, `dovecot`, `vsftpd`).
"""

from __future__ import annotations

import ipaddress
import re
from types import MappingProxyType

from chalicelib.events.model import AUTH_FAILURE, LOG_AUTH, LOW, Event, freeze
from chalicelib.events.parsers import ParseContext, ParserInfo, ParserRule, normalise_ip, syslog_time

BRUTE_FORCE = ("T1110",)

_RFC5424 = re.compile(
    r"<\d{1,3}>1 (?P<time>\S+) (?P<host>\S+) (?P<program>\S+) \S+ \S+ "
    r"(?:-|(?:\[(?:[^\]\\]|\\.)*\])+) ?(?P<message>.*)",
    re.ASCII,
)
_RFC3164 = re.compile(
    r"(?:<\d{1,3}>)?(?P<time>[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d(?:\.\d+)?|\d{4}-\d\d-\d\dT\S+) "
    r"(?P<host>\S+) (?P<program>[^\s\[:]+)(?:\[\d+\])?: (?P<message>.*)",
    re.ASCII,
)
_FAILURE = re.compile(r"\b(?:failed|failure|denied|invalid|refused)\b", re.IGNORECASE)
_SOURCE = re.compile(
    r"(?:\bfrom\s+(?:[\w.-]+\[)?|\b(?:src|rhost|rip|client)=|\[client\s+|\bclient\s+(?:@0x[0-9a-f]+\s+)?)"
    r"\[?(?P<ip>[0-9A-Fa-f:.]{3,45})",
    re.IGNORECASE,
)
_USER = re.compile(r"\buser[= ]<?(?P<user>[^\s,<>;'\"]+)|\bfor (?:invalid user |illegal user )?(?P<for>\S+) from\b")


def parse(line: str, context: ParseContext) -> Event | None:
    """A syslog line that plainly reports a failed attempt from a public address, as an `auth_failure`."""
    if not isinstance(line, str):
        return None
    found = _RFC5424.match(line) or _RFC3164.match(line)
    if found is None:
        return None
    message = found["message"]
    keyword = _FAILURE.search(message)
    if keyword is None:
        return None
    source_ip = _public_source(message)
    if source_ip is None:
        return None
    time = syslog_time(found["time"], context)
    if time is None:
        return None
    host = found["host"]
    user = _USER.search(message)
    return Event(
        time=time,
        source_ip=source_ip,
        kind=AUTH_FAILURE,
        service=found["program"].lower(),
        log_type=LOG_AUTH,
        severity=LOW,
        username=(user["user"] or user["for"]) if user else None,
        hostname=host if host != "-" else context.hostname,
        rule_id="keyword-failure",
        message=message,
        mitre=BRUTE_FORCE,
        fields=freeze({"keyword": keyword.group(0).lower()}),
        raw=line,
    )


def _public_source(message: str) -> str | None:
    for found in _SOURCE.finditer(message):
        token = found["ip"].rstrip(".:")
        if "." in token and token.count(":") == 1:  # 203.0.113.7:5555
            token = token.split(":", 1)[0]
        address = normalise_ip(token)
        if address is not None and ipaddress.ip_address(address).is_global:
            return address
    return None


PARSER = ParserInfo(
    name="syslog",
    description="Generic RFC 3164/5424 syslog: plain-worded failures from a public source address (conservative)",
    parse=parse,
    log_types=(LOG_AUTH,),
    fields=("time", "source_ip", "username", "hostname", "rule_id", "message", "fields.keyword"),
    kinds=(AUTH_FAILURE,),
    mitre=MappingProxyType({AUTH_FAILURE: BRUTE_FORCE}),
    rules=(
        ParserRule(
            "keyword-failure",
            "failed|failure|denied|invalid|refused and from|src=|rhost=|rip=|client <public ip>",
            AUTH_FAILURE,
            BRUTE_FORCE,
        ),
    ),
)
