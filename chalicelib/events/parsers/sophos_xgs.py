"""Sophos Firewall (SFOS, XG and XGS appliances) syslog: `key=value` records, values quoted when they hold spaces.

Two generations of the format exist and both are read:
- SFOS up to 18.5: `device="SFW" date=2026-11-24 time=10:00:00 timezone="UTC" device_name="XGS2100" log_id=...
  priority=Warning`, zones as `srczone`/`dstzone`, and WAF/ATP records name addresses `sourceip`, `localip`,
  `destinationip`, the WAF status `httpstatus`.
- SFOS 19 and later: `device_name="SFW" timestamp="2026-11-24T10:00:00+0000" device_model=...
  severity="Warning"`, zones as `src_zone`/`dst_zone`, addresses as `src_ip`/`dst_ip`. A syslog header
  (`<30>`, `Nov 24 10:00:00 fw01`) may precede the pairs; the parser ignores it.

What becomes an event: `Firewall` denials (`firewall_drop`) and allows (`firewall_allow`, so zone-traffic
statistics can see both directions), `IDP`/`IPS` signatures (`ips_alert`, or `port_scan` for scan signatures),
`ATP` (`atp_alert`), `WAF` (`waf_block`/`waf_alert` when a rule fired, `http_request` otherwise) and `Event`
authentication records (VPN, SSL VPN, user portal, admin: `auth_failure`/`auth_success`). Content filtering,
anti-virus, anti-spam and system events describe inside users or the box itself, not attackers, and give None.

Uncertain, written from the SFOS syslog guide and public samples rather than a live appliance:
- `timezone` holds abbreviations (`BST`, `IST`) that name several zones; only UTC/GMT and numeric offsets are
  trusted, anything else falls back to the context's zone.
- WAF records carry ModSecurity's verdict in `reason` (and sometimes `extra`); the rule id and message are
  read from its `[id "..."]` and `[msg "..."]` parts when present. A WAF record with no verdict is an ordinary
  request.
- The WAF is taken to have blocked when the status is 403 or the subtype says Denied/Blocked/Drop.
- Quotes inside values are taken to be escaped (`\\"`). The first occurrence of a key wins and the source
  address is whichever of `src_ip`/`sourceip` comes first, so a forged pair inside a user agent or cookie
  cannot replace the real address even on a firmware that does not escape them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime, tzinfo
from types import MappingProxyType
from typing import Any

from chalicelib.events.model import (
    ATP_ALERT,
    AUTH_FAILURE,
    AUTH_SUCCESS,
    CRITICAL,
    FIREWALL_ALLOW,
    FIREWALL_DROP,
    HIGH,
    HTTP_REQUEST,
    INFO,
    IPS_ALERT,
    LOG_ATP,
    LOG_AUTH,
    LOG_FIREWALL,
    LOG_HTTP,
    LOG_IPS,
    LOG_WAF,
    LOW,
    MEDIUM,
    PORT_SCAN,
    WAF_ALERT,
    WAF_BLOCK,
    Event,
    freeze,
)
from chalicelib.events.parsers import (
    ParseContext,
    ParserInfo,
    ParserRule,
    iso_time,
    normalise_ip,
    text_or_none,
    to_int,
    to_port,
    utc_offset,
)

EXPLOIT_PUBLIC_APP = ("T1190",)
SERVICE_DISCOVERY = ("T1046", "T1595.001")
BRUTE_FORCE = ("T1110",)
C2_CHANNEL = ("T1071",)

_PAIR = re.compile(r'([A-Za-z_][\w.-]*)=(?:"((?:[^"\\]|\\.)*)"|(\S*))')
_RULE_ID = re.compile(r'\[id "(\d+)"\]')
_RULE_MSG = re.compile(r'\[msg "([^"]*)"\]')
# Snort/SFOS scan signatures: `(portscan) TCP Portscan`, `SCAN nmap XMAS`, classtype "Detection of a Network Scan".
_SCAN = re.compile(r"port ?scan|portsweep|network scan|^(?:INDICATOR-)?SCAN\b", re.IGNORECASE)

SEVERITIES: Mapping[str, str] = MappingProxyType(
    {
        "emergency": CRITICAL,
        "alert": CRITICAL,
        "critical": CRITICAL,
        "error": HIGH,
        "high": HIGH,
        "warning": MEDIUM,
        "medium": MEDIUM,
        "notice": LOW,
        "low": LOW,
        "information": INFO,
        "informational": INFO,
        "debug": INFO,
    }
)
_DENIED = frozenset({"denied", "deny", "drop", "dropped", "block", "blocked", "reject", "rejected"})
_ALLOWED = frozenset({"allowed", "allow", "accept", "accepted"})
_AUTH_SERVICES: Mapping[str, str] = MappingProxyType(
    {
        "ssl vpn authentication": "sslvpn",
        "vpn authentication": "vpn",
        "firewall authentication": "firewall-auth",
        "my account authentication": "user-portal",
        "gui": "webadmin",
        "admin": "webadmin",
    }
)
_UTC_NAMES = frozenset({"UTC", "GMT", "Z", "UCT", "ETC/UTC"})

# What the Event's `fields` keep, under one name whichever generation wrote the record.
_FIELD_ALIASES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("log_id", ("log_id",)),
    ("log_component", ("log_component",)),
    ("log_subtype", ("log_subtype",)),
    ("device_id", ("device_serial_id", "device_id")),
    ("device_model", ("device_model",)),
    ("dst_ip", ("dst_ip", "destinationip", "localip")),
    ("protocol", ("protocol",)),
    ("src_zone", ("src_zone", "srczone")),
    ("dst_zone", ("dst_zone", "dstzone")),
    ("src_country", ("src_country", "src_country_code")),
    ("dst_country", ("dst_country", "dst_country_code")),
    ("fw_rule_id", ("fw_rule_id",)),
    ("status", ("status",)),
    ("signature_id", ("signature_id",)),
    ("classification", ("classification",)),
    ("category", ("category",)),
    ("platform", ("platform",)),
    ("target", ("target",)),
    ("threatname", ("threatname", "threat_name")),
    ("url", ("url",)),
    ("method", ("method", "http_method")),
    ("host", ("host", "server")),
    ("user_agent", ("useragent", "user_agent")),
    ("querystring", ("querystring",)),
    ("in_interface", ("in_interface",)),
)


def parse(line: str, context: ParseContext) -> Event | None:
    """A Sophos Firewall syslog record (Firewall, IPS, ATP, WAF or authentication Event) as an Event."""
    if not isinstance(line, str) or "log_type=" not in line:
        return None
    pairs = _pairs(line)
    log_type = pairs.get("log_type", "").upper()
    source_ip = normalise_ip(_earliest(pairs, "src_ip", "sourceip"))
    time = _time(pairs, context)
    if source_ip is None or time is None:
        return None
    subtype = pairs.get("log_subtype", "").lower()
    severity = SEVERITIES.get(_get(pairs, "severity", "priority").lower(), INFO)
    extra = {name: value for name, keys in _FIELD_ALIASES if (value := _get(pairs, *keys))}
    if subtype:
        extra["action"] = subtype
    base: dict[str, Any] = {
        "time": time,
        "source_ip": source_ip,
        "hostname": text_or_none(pairs.get("device_name")) or context.hostname,
        "username": text_or_none(_get(pairs, "user_name", "login_user")),
        "source_port": to_port(pairs.get("src_port")),
        "target_port": to_port(pairs.get("dst_port")),
        "raw": line,
    }
    if log_type == "FIREWALL":
        kind = FIREWALL_DROP if subtype in _DENIED else FIREWALL_ALLOW if subtype in _ALLOWED else None
        if kind is None:
            return None
        message = text_or_none(pairs.get("message")) or pairs.get("log_component")
        return Event(
            kind=kind,
            service="sophos-firewall",
            log_type=LOG_FIREWALL,
            severity=severity,
            rule_id=text_or_none(pairs.get("fw_rule_id")),
            message=message,
            fields=freeze(extra),
            **base,
        )
    if log_type in ("IDP", "IPS"):
        return _ips(pairs, extra, severity, base)
    if log_type == "ATP":
        threat = extra.get("threatname", "")
        return Event(
            kind=ATP_ALERT,
            service="sophos-atp",
            log_type=LOG_ATP,
            severity=severity,
            rule_id=text_or_none(pairs.get("eventid")),
            message=threat or text_or_none(pairs.get("message")),
            mitre=C2_CHANNEL if threat.upper().startswith("C2") else (),
            fields=freeze(extra),
            **base,
        )
    if log_type == "WAF":
        return _waf(pairs, extra, severity, subtype, base)
    if log_type == "EVENT":
        return _authentication(pairs, extra, base)
    return None


def _ips(pairs: dict[str, str], extra: dict[str, str], severity: str, base: dict[str, Any]) -> Event:
    signature = pairs.get("signature_msg", "")
    scan = bool(_SCAN.search(signature) or _SCAN.search(pairs.get("classification", "")))
    if scan:
        mitre: tuple[str, ...] = SERVICE_DISCOVERY
    else:
        # An IPS hit on traffic aimed at a server is an attempt on an exposed service; a client-side hit is not.
        mitre = EXPLOIT_PUBLIC_APP if pairs.get("target", "").strip().lower() == "server" else ()
    return Event(
        kind=PORT_SCAN if scan else IPS_ALERT,
        service="sophos-ips",
        log_type=LOG_IPS,
        severity=severity,
        rule_id=text_or_none(pairs.get("signature_id")),
        message=signature or None,
        mitre=mitre,
        fields=freeze(extra),
        **base,
    )


def _waf(pairs: dict[str, str], extra: dict[str, str], severity: str, subtype: str, base: dict[str, Any]) -> Event:
    verdict = " ".join(part for part in (pairs.get("reason", ""), pairs.get("extra", "")) if part).strip()
    status = to_int(_get(pairs, "httpstatus", "http_status", "status_code"))
    host = extra.get("host")
    uri = text_or_none(pairs.get("url"))
    query = text_or_none(pairs.get("querystring"))
    if uri is not None and query is not None:
        uri = f"{uri}{'' if query.startswith('?') else '?'}{query}"
    rule_match = _RULE_ID.search(verdict)
    message_match = _RULE_MSG.search(verdict)
    if not verdict and not text_or_none(pairs.get("rule_id")):
        kind, log_type, mitre, severity = HTTP_REQUEST, LOG_HTTP, (), INFO
    else:
        blocked = status == 403 or subtype in _DENIED
        kind, log_type, mitre = (WAF_BLOCK if blocked else WAF_ALERT), LOG_WAF, EXPLOIT_PUBLIC_APP
        if verdict:
            extra["reason"] = verdict[:1000]
    return Event(
        kind=kind,
        service="sophos-waf",
        log_type=log_type,
        severity=severity,
        http_status=status,
        uri=uri,
        rule_id=rule_match.group(1) if rule_match else text_or_none(pairs.get("rule_id")),
        message=message_match.group(1) if message_match else (verdict[:500] or None),
        mitre=mitre,
        fields=freeze(extra),
        **{**base, "hostname": host or base["hostname"]},
    )


def _authentication(pairs: dict[str, str], extra: dict[str, str], base: dict[str, Any]) -> Event | None:
    component = pairs.get("log_component", "").strip().lower()
    subtype = pairs.get("log_subtype", "").strip().lower()
    status = pairs.get("status", "").strip().lower()
    if "authentication" not in component and subtype not in ("authentication", "admin"):
        return None
    if status in ("failed", "failure", "deny"):
        kind, severity, mitre = AUTH_FAILURE, MEDIUM, BRUTE_FORCE
    elif status in ("successful", "success", "allow"):
        kind, severity, mitre = AUTH_SUCCESS, INFO, ()
    else:
        return None
    service = _AUTH_SERVICES.get(component) or _AUTH_SERVICES.get(subtype) or _slug(component) or "sophos"
    if reason := text_or_none(pairs.get("reason")):
        extra["reason"] = reason
    return Event(
        kind=kind,
        service=service,
        log_type=LOG_AUTH,
        severity=severity,
        message=text_or_none(pairs.get("message")),
        mitre=mitre,
        fields=freeze(extra),
        **base,
    )


def _pairs(line: str) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for found in _PAIR.finditer(line):
        quoted = found.group(2)
        value = found.group(3) if quoted is None else quoted.replace('\\"', '"')
        # The first occurrence wins: later text may be attacker-supplied (a URL, a user agent).
        pairs.setdefault(found.group(1), value.strip())
    return pairs


def _earliest(pairs: dict[str, str], *keys: str) -> str:
    """The value of whichever of `keys` comes first in the line (pairs keep the line's order)."""
    # The source address always precedes the client-supplied values (URL, cookie, user agent); should a firmware
    # not escape quotes inside those, a forged `src_ip=` in a user agent still comes after the real one.
    for key, value in pairs.items():
        if value and key in keys:
            return value
    return ""


def _get(pairs: dict[str, str], *keys: str) -> str:
    for key in keys:
        value = pairs.get(key)
        if value:
            return value
    return ""


def _time(pairs: dict[str, str], context: ParseContext) -> datetime | None:
    stamp = pairs.get("timestamp")
    if stamp:
        return iso_time(stamp, context)
    date, clock = pairs.get("date"), pairs.get("time")
    if not date or not clock:
        return None
    try:
        local = datetime.fromisoformat(f"{date}T{clock}")
        if local.tzinfo is None:
            local = local.replace(tzinfo=_zone(pairs.get("timezone", ""), context.tz))
        return local.astimezone(UTC)
    except (ValueError, OverflowError):
        return None


def _zone(name: str, default: tzinfo) -> tzinfo:
    name = name.strip()
    if name.upper() in _UTC_NAMES:
        return UTC
    # `+03`, `+0530`, `-05:00`: numeric offsets are unambiguous, abbreviations are not.
    return utc_offset(name) or default


def _slug(text: str) -> str:
    return "-".join(word for word in re.split(r"[^a-z0-9]+", text) if word)


PARSER = ParserInfo(
    name="sophos-xgs",
    description="Sophos Firewall (SFOS/XGS) syslog key=value records: Firewall, IPS, ATP, WAF, authentication",
    parse=parse,
    log_types=(LOG_FIREWALL, LOG_IPS, LOG_ATP, LOG_WAF, LOG_HTTP, LOG_AUTH),
    fields=(
        "time",
        "source_ip",
        "username",
        "hostname",
        "source_port",
        "target_port",
        "http_status",
        "uri",
        "rule_id",
        "message",
        *(f"fields.{name}" for name, _ in _FIELD_ALIASES),
        "fields.action",
        "fields.reason",
    ),
    kinds=(
        FIREWALL_DROP,
        FIREWALL_ALLOW,
        IPS_ALERT,
        PORT_SCAN,
        ATP_ALERT,
        WAF_BLOCK,
        WAF_ALERT,
        HTTP_REQUEST,
        AUTH_FAILURE,
        AUTH_SUCCESS,
    ),
    mitre=MappingProxyType(
        {
            IPS_ALERT: EXPLOIT_PUBLIC_APP,
            PORT_SCAN: SERVICE_DISCOVERY,
            ATP_ALERT: C2_CHANNEL,
            WAF_BLOCK: EXPLOIT_PUBLIC_APP,
            WAF_ALERT: EXPLOIT_PUBLIC_APP,
            AUTH_FAILURE: BRUTE_FORCE,
        }
    ),
    rules=(
        ParserRule("firewall-denied", 'log_type="Firewall" log_subtype="Denied|Drop"', FIREWALL_DROP),
        ParserRule("firewall-allowed", 'log_type="Firewall" log_subtype="Allowed"', FIREWALL_ALLOW),
        ParserRule("ips-scan", 'log_type="IDP|IPS" signature_msg or classification mentions a scan', PORT_SCAN),
        ParserRule("ips-signature", 'log_type="IDP|IPS" (T1190 when target="Server")', IPS_ALERT, EXPLOIT_PUBLIC_APP),
        ParserRule("atp", 'log_type="ATP" (T1071 for C2 threat names)', ATP_ALERT, C2_CHANNEL),
        ParserRule("waf-block", 'log_type="WAF" with a verdict, httpstatus=403 or subtype Denied', WAF_BLOCK),
        ParserRule("waf-alert", 'log_type="WAF" with a verdict, not blocked', WAF_ALERT, EXPLOIT_PUBLIC_APP),
        ParserRule("waf-request", 'log_type="WAF" without a verdict', HTTP_REQUEST),
        ParserRule("auth-failed", 'log_type="Event" log_component="* Authentication" status="Failed"', AUTH_FAILURE),
        ParserRule(
            "auth-success",
            'log_type="Event" log_component="* Authentication" status="Successful"',
            AUTH_SUCCESS,
        ),
    ),
)
