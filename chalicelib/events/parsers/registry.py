"""The parser registry: which log formats Vigil reads, and what each parser fills, emits and maps to ATT&CK.

Ingest and replay ask `get_parser(format)` for the function; the API's `/parser/fields`, `/parser/rules` and
`/parser/mitre` read the same declarations, so what the API advertises is what the code does (the golden
samples check that every kind a parser declares is one its samples produce).

MITRE ATT&CK, as the parsers use it: T1110 brute force (T1110.001 password guessing when a password was
refused for a named account), T1190 exploit public-facing application (WAF and IPS hits on servers), T1595
active scanning (T1595.001 scanning IP blocks, T1595.002 vulnerability scanning) and T1046 network service
discovery for scans, T1071 application-layer protocol for command-and-control callbacks. Password spraying
(T1110.003), credential stuffing (T1110.004) and valid accounts after failures (T1078) are patterns across
many events: detection assigns them, a parser looking at one line cannot.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from types import MappingProxyType
from typing import Any

from chalicelib.core.errors import InvalidInputError
from chalicelib.events.model import Event
from chalicelib.events.parsers import (
    ParseContext,
    Parser,
    ParserInfo,
    access_log,
    generic_syslog,
    modsecurity,
    sophos_xgs,
    sshd,
    windows_4625,
)

PARSERS: Mapping[str, ParserInfo] = MappingProxyType(
    {
        info.name: info
        for info in (
            sshd.PARSER,
            windows_4625.PARSER,
            sophos_xgs.PARSER,
            modsecurity.PARSER,
            access_log.NGINX,
            access_log.APACHE,
            generic_syslog.PARSER,
        )
    }
)

TECHNIQUES: Mapping[str, str] = MappingProxyType(
    {
        "T1046": "Network Service Discovery",
        "T1071": "Application Layer Protocol",
        "T1078": "Valid Accounts",
        "T1110": "Brute Force",
        "T1110.001": "Brute Force: Password Guessing",
        "T1110.003": "Brute Force: Password Spraying",
        "T1110.004": "Brute Force: Credential Stuffing",
        "T1190": "Exploit Public-Facing Application",
        "T1595": "Active Scanning",
        "T1595.001": "Active Scanning: Scanning IP Blocks",
        "T1595.002": "Active Scanning: Vulnerability Scanning",
    }
)
# Techniques only detection can tell (patterns across events), listed so `/parser/mitre` shows the whole map.
DETECTION_TECHNIQUES: tuple[str, ...] = ("T1078", "T1110.003", "T1110.004")


def formats() -> tuple[str, ...]:
    """The names of the log formats Vigil can parse."""
    return tuple(PARSERS)


def parser_info(format_name: str) -> ParserInfo:
    """The declaration of one format's parser; `InvalidInputError` for a format Vigil does not know."""
    info = PARSERS.get(format_name)
    if info is None:
        raise InvalidInputError(
            f"unknown log format {format_name!r}", details={"format": format_name, "formats": list(PARSERS)}
        )
    return info


def get_parser(format_name: str) -> Parser:
    """The parse function of a format: `parse(line, context) -> Event | None`."""
    return parser_info(format_name).parse


def parse_lines(format_name: str, lines: Iterable[str], context: ParseContext) -> Iterator[Event]:
    """The events in `lines` (text), in order: replay's loop (the format's bulk parser when it has one)."""
    info = parser_info(format_name)
    if info.parse_lines is not None:
        return info.parse_lines(lines, context)
    parse = info.parse
    return (event for line in lines if (event := parse(line, context)) is not None)


def rules(format_name: str | None = None) -> list[dict[str, Any]]:
    """For `/parser/rules`: each rule's format, name, pattern summary, kind and techniques."""
    names = formats() if format_name is None else (parser_info(format_name).name,)
    return [{"format": name, **rule.to_dict()} for name in names for rule in PARSERS[name].rules]


def supported_fields() -> dict[str, list[str]]:
    """For `/parser/fields`: the Event fields each format fills."""
    return {name: list(info.fields) for name, info in PARSERS.items()}


def mitre_coverage() -> list[dict[str, Any]]:
    """For `/parser/mitre`: each technique, its name, and the formats and kinds that report it."""
    coverage: dict[str, dict[str, Any]] = {
        technique: {"technique": technique, "name": name, "formats": [], "kinds": [], "source": "parser"}
        for technique, name in TECHNIQUES.items()
    }
    for name, info in PARSERS.items():
        for kind, techniques in info.mitre.items():
            for technique in techniques:
                entry = coverage[technique]
                if name not in entry["formats"]:
                    entry["formats"].append(name)
                if kind not in entry["kinds"]:
                    entry["kinds"].append(kind)
    for technique in DETECTION_TECHNIQUES:
        coverage[technique]["source"] = "detection"
    return [coverage[technique] for technique in sorted(coverage)]
