"""ModSecurity v3 (libmodsecurity) JSON audit log: one transaction per line, the rules that fired in `messages`.

The record is `{"transaction": {client_ip, client_port, host_port, time_stamp, unique_id, request: {method,
uri, headers}, response: {http_code}, messages: [{message, details: {ruleId, severity, tags, match,
data}}]}}`. Coraza's variant (`response.status`, `messages[].data.id`, top-level `messages`) and a flattened
record without the `transaction` wrapper are read too.

A transaction with no rule messages is not a WAF event (ModSecurity also audits plain 4xx/5xx responses) and
gives None. One that was stopped (`response.http_code` 403, or an `intervention` recorded by the connector) is
a `waf_block`; in DetectionOnly mode, or below the anomaly threshold, it is a `waf_alert`.

The event names the most severe attack rule (`rule_id`, `message`); CRS's anomaly-evaluation and correlation
rules (949xxx, 959xxx, 980xxx) only repeat the total and are named only when nothing else fired. CRS
`attack-*` tags become `fields["attack_types"]` (`sqli,xss`), `fields["attack_type"]` the first of them;
attack tags map to T1190 (exploit public-facing application), scanner tags to T1595/T1595.002 (vulnerability
scanning).

`time_stamp` (`Mon Nov 24 10:00:00 2026`) is the server's local time without a zone: the context's zone
applies.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

from chalicelib.events.model import (
    CRITICAL,
    HIGH,
    INFO,
    LOG_WAF,
    LOW,
    MEDIUM,
    SEVERITIES,
    WAF_ALERT,
    WAF_BLOCK,
    Event,
    freeze,
)
from chalicelib.events.parsers import (
    MONTHS,
    ParseContext,
    ParserInfo,
    ParserRule,
    clf_time,
    epoch_time,
    first_header,
    iso_time,
    normalise_ip,
    text_or_none,
    to_int,
    to_port,
)

SERVICE = "modsecurity"
EXPLOIT_PUBLIC_APP = ("T1190",)
VULNERABILITY_SCANNING = ("T1595", "T1595.002")

# ModSecurity severities are syslog levels, given as digits (v3) or names (v2 and some connectors).
_SEVERITY: Mapping[str, str] = MappingProxyType(
    {
        "0": CRITICAL,
        "1": CRITICAL,
        "2": CRITICAL,
        "3": HIGH,
        "4": MEDIUM,
        "5": LOW,
        "6": INFO,
        "7": INFO,
        "emergency": CRITICAL,
        "alert": CRITICAL,
        "critical": CRITICAL,
        "error": HIGH,
        "warning": MEDIUM,
        "notice": LOW,
        "info": INFO,
        "debug": INFO,
    }
)
_EVALUATION_PREFIXES = ("949", "959", "980")
_RANK = {severity: rank for rank, severity in enumerate(SEVERITIES)}


class _Message:
    __slots__ = ("data", "match", "rule_id", "severity", "tags", "text")

    def __init__(self, entry: Mapping[str, Any]) -> None:
        details = entry.get("details")
        if not isinstance(details, Mapping):
            details = entry.get("data") if isinstance(entry.get("data"), Mapping) else {}
        self.text = text_or_none(entry.get("message")) or text_or_none(details.get("msg"))
        self.rule_id = text_or_none(details.get("ruleId")) or text_or_none(details.get("id"))
        self.severity = _SEVERITY.get(str(details.get("severity", "")).strip().lower(), INFO)
        tags = details.get("tags")
        self.tags = tuple(t for t in tags if isinstance(t, str)) if isinstance(tags, list) else ()
        self.match = text_or_none(details.get("match"))
        self.data = text_or_none(details.get("data"))

    @property
    def evaluation(self) -> bool:
        return self.rule_id is not None and self.rule_id.startswith(_EVALUATION_PREFIXES)


def parse(line: str, context: ParseContext) -> Event | None:
    """A ModSecurity v3 JSON audit record as a `waf_block` or `waf_alert` Event."""
    if not isinstance(line, str) or line[:1] != "{":
        return None
    try:
        record = json.loads(line)
    except (ValueError, RecursionError):
        return None
    if not isinstance(record, dict):
        return None
    transaction = record.get("transaction")
    if not isinstance(transaction, dict):
        transaction = record
    entries = transaction.get("messages") or record.get("messages")
    if not isinstance(entries, list):
        return None
    messages = [_Message(entry) for entry in entries if isinstance(entry, Mapping)]
    client_ip = transaction.get("client_ip")
    source_ip = normalise_ip(client_ip) if isinstance(client_ip, str) else None
    time = _time(transaction, context)
    if not messages or source_ip is None or time is None:
        return None
    request = _mapping(transaction.get("request"))
    response = _mapping(transaction.get("response"))
    status = to_int(response.get("http_code", response.get("status")))
    blocked = status == 403 or bool(transaction.get("intervention") or record.get("intervention"))
    attacks = [m for m in messages if not m.evaluation] or messages
    primary = min(attacks, key=lambda m: _RANK[m.severity])
    attack_types = _attack_types(attacks)
    headers = request.get("headers")
    host = first_header(headers, "Host")
    extra = {
        "unique_id": text_or_none(transaction.get("unique_id")) or text_or_none(transaction.get("id")),
        "method": text_or_none(request.get("method")),
        "host": host,
        "user_agent": first_header(headers, "User-Agent"),
        "attack_types": ",".join(attack_types) or None,
        "attack_type": attack_types[0] if attack_types else None,
        "rule_ids": ",".join(m.rule_id for m in messages if m.rule_id) or None,
        "match": primary.match[:500] if primary.match else None,
        "data": primary.data[:500] if primary.data else None,
    }
    return Event(
        time=time,
        source_ip=source_ip,
        kind=WAF_BLOCK if blocked else WAF_ALERT,
        service=SERVICE,
        log_type=LOG_WAF,
        severity=primary.severity,
        hostname=_host_name(host) or context.hostname,
        target_port=to_port(transaction.get("host_port")),
        source_port=to_port(transaction.get("client_port")),
        http_status=status,
        uri=text_or_none(request.get("uri")),
        rule_id=primary.rule_id,
        message=primary.text,
        mitre=_mitre(attack_types),
        fields=freeze({key: value for key, value in extra.items() if value is not None}),
        raw=line,
    )


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _attack_types(messages: list[_Message]) -> list[str]:
    found: dict[str, None] = {}
    for message in messages:
        for tag in message.tags:
            lowered = tag.lower()
            if "scanner" in lowered:
                found["scanner"] = None
            elif lowered.startswith("attack-"):
                found[lowered[7:]] = None
    return list(found)


def _mitre(attack_types: list[str]) -> tuple[str, ...]:
    scanner = "scanner" in attack_types
    # A rule fired on a request to a public application: that is T1190 unless all it saw was a scanner.
    exploit = not scanner or len(attack_types) > 1
    return (EXPLOIT_PUBLIC_APP if exploit else ()) + (VULNERABILITY_SCANNING if scanner else ())


def _host_name(host: str | None) -> str | None:
    if host is None:
        return None
    if host.startswith("["):  # [2001:db8::1]:443
        end = host.find("]")
        return host[1:end] if end > 0 else None
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def _time(transaction: Mapping[str, Any], context: ParseContext) -> datetime | None:
    stamp = transaction.get("time_stamp") or transaction.get("timestamp")
    if isinstance(stamp, str):
        return _ctime(stamp, context) or clf_time(stamp) or iso_time(stamp.replace("/", "-"), context)
    return epoch_time(transaction.get("unix_timestamp"))


def _ctime(text: str, context: ParseContext) -> datetime | None:
    """`Mon Nov 24 10:00:00 2026`, in the context's zone."""
    parts = text.split()
    if len(parts) != 5 or parts[1] not in MONTHS or len(parts[3]) != 8:
        return None
    clock = parts[3]
    try:
        local = datetime(
            int(parts[4]),
            MONTHS[parts[1]],
            int(parts[2]),
            int(clock[0:2]),
            int(clock[3:5]),
            int(clock[6:8]),
            tzinfo=context.tz,
        )
        return local.astimezone(UTC)
    except (ValueError, OverflowError):
        return None


PARSER = ParserInfo(
    name="modsecurity",
    description="ModSecurity v3 JSON audit log (SecAuditLogFormat JSON), one transaction per line",
    parse=parse,
    log_types=(LOG_WAF,),
    fields=(
        "time",
        "source_ip",
        "hostname",
        "source_port",
        "target_port",
        "http_status",
        "uri",
        "rule_id",
        "message",
        "fields.unique_id",
        "fields.method",
        "fields.host",
        "fields.user_agent",
        "fields.attack_types",
        "fields.attack_type",
        "fields.rule_ids",
        "fields.match",
        "fields.data",
    ),
    kinds=(WAF_BLOCK, WAF_ALERT),
    mitre=MappingProxyType(
        {
            WAF_BLOCK: EXPLOIT_PUBLIC_APP + VULNERABILITY_SCANNING,
            WAF_ALERT: EXPLOIT_PUBLIC_APP + VULNERABILITY_SCANNING,
        }
    ),
    rules=(
        ParserRule("blocked", "messages present and response.http_code 403 or an intervention", WAF_BLOCK),
        ParserRule("detected", "messages present, request not stopped (DetectionOnly)", WAF_ALERT),
        ParserRule(
            "crs-attack-tags",
            "tags attack-sqli|xss|rce|lfi|rfi|protocol|... -> fields",
            WAF_BLOCK,
            EXPLOIT_PUBLIC_APP,
        ),
        ParserRule(
            "crs-scanner-tags",
            "tags *scanner* -> fields.attack_type=scanner",
            WAF_BLOCK,
            VULNERABILITY_SCANNING,
        ),
    ),
)
