"""The event: one observed security fact, the unit every parser produces and every scenario counts.

Parsers turn a log line into an `Event`; ingest stamps the sensor and stores it; detection counts events by
`kind`, `source_ip` and `service`. The vocabularies (`kind`, `log_type`, `severity`) are small and closed so
that scenarios, filters and the API speak the same words. Events are frozen, slotted dataclasses because
replay builds a million of them: `fields` is a read-only mapping and `mitre` a tuple, so an event never
changes after parsing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from dataclasses import fields as dataclass_fields
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

from chalicelib.core.clock import parse_time
from chalicelib.core.errors import InvalidInputError

# Kinds: what happened, in the words scenarios count.
AUTH_FAILURE = "auth_failure"
AUTH_SUCCESS = "auth_success"
INVALID_USER = "invalid_user"
AUTH_PROBE = "auth_probe"  # a connection that never reached authentication (scanners, preauth disconnects)
WAF_BLOCK = "waf_block"
WAF_ALERT = "waf_alert"
IPS_ALERT = "ips_alert"
ATP_ALERT = "atp_alert"
HTTP_REQUEST = "http_request"
PORT_SCAN = "port_scan"
FIREWALL_DROP = "firewall_drop"
FIREWALL_ALLOW = "firewall_allow"

KINDS: frozenset[str] = frozenset(
    {
        AUTH_FAILURE,
        AUTH_SUCCESS,
        INVALID_USER,
        AUTH_PROBE,
        WAF_BLOCK,
        WAF_ALERT,
        IPS_ALERT,
        ATP_ALERT,
        HTTP_REQUEST,
        PORT_SCAN,
        FIREWALL_DROP,
        FIREWALL_ALLOW,
    }
)

# Log types: which family of log the event came from (seed 000 filters `log_type=WAF|IPS|ATP`).
LOG_AUTH = "AUTH"
LOG_WAF = "WAF"
LOG_IPS = "IPS"
LOG_ATP = "ATP"
LOG_HTTP = "HTTP"
LOG_FIREWALL = "FIREWALL"

LOG_TYPES: frozenset[str] = frozenset({LOG_AUTH, LOG_WAF, LOG_IPS, LOG_ATP, LOG_HTTP, LOG_FIREWALL})

CRITICAL = "critical"
HIGH = "high"
MEDIUM = "medium"
LOW = "low"
INFO = "info"

SEVERITIES: tuple[str, ...] = (CRITICAL, HIGH, MEDIUM, LOW, INFO)  # most severe first

NO_FIELDS: Mapping[str, str] = MappingProxyType({})


def _no_fields() -> Mapping[str, str]:
    return NO_FIELDS


def freeze(values: dict[str, str]) -> Mapping[str, str]:
    """A read-only view of `values` (the shared empty mapping when there are none)."""
    return MappingProxyType(values) if values else NO_FIELDS


@dataclass(frozen=True, slots=True)
class Event:
    """One security fact seen in a log: who (`source_ip`), what (`kind`), where (`service`, `hostname`)."""

    time: datetime  # aware, UTC
    source_ip: str  # normalised text (`ipaddress` form; IPv4-mapped IPv6 folded to IPv4)
    kind: str
    service: str  # sshd, rdp, smb, http, sophos-waf, ...
    log_type: str
    severity: str
    username: str | None = None
    hostname: str | None = None  # the host the log speaks about: target server, website or firewall
    sensor: str | None = None  # set by ingest, never by a parser
    target_port: int | None = None
    source_port: int | None = None
    http_status: int | None = None
    uri: str | None = None
    rule_id: str | None = None
    message: str | None = None
    mitre: tuple[str, ...] = ()
    # Excluded from the hash: a mapping is not hashable, and the other fields identify the event anyway.
    fields: Mapping[str, str] = field(default_factory=_no_fields, hash=False)
    raw: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form: ISO 8601 time in UTC with `Z`, lists for `mitre`, a plain dict for `fields`."""
        return {
            "time": self.time.astimezone(UTC).isoformat().replace("+00:00", "Z"),
            "source_ip": self.source_ip,
            "kind": self.kind,
            "service": self.service,
            "log_type": self.log_type,
            "severity": self.severity,
            "username": self.username,
            "hostname": self.hostname,
            "sensor": self.sensor,
            "target_port": self.target_port,
            "source_port": self.source_port,
            "http_status": self.http_status,
            "uri": self.uri,
            "rule_id": self.rule_id,
            "message": self.message,
            "mitre": list(self.mitre),
            "fields": dict(self.fields),
            "raw": self.raw,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Event:
        """Rebuild an event from `to_dict()` output; raises `InvalidInputError` on a missing or wrong field."""
        try:
            time = parse_time(_required_text(data, "time"))
        except ValueError as exc:
            raise InvalidInputError("event time is not ISO 8601", details={"field": "time"}) from exc
        kind = _required_text(data, "kind")
        log_type = _required_text(data, "log_type")
        severity = _required_text(data, "severity")
        if kind not in KINDS:
            raise InvalidInputError(f"unknown event kind {kind!r}", details={"field": "kind"})
        if log_type not in LOG_TYPES:
            raise InvalidInputError(f"unknown log type {log_type!r}", details={"field": "log_type"})
        if severity not in SEVERITIES:
            raise InvalidInputError(f"unknown severity {severity!r}", details={"field": "severity"})
        mitre = data.get("mitre") or ()
        extra = data.get("fields") or {}
        if not isinstance(mitre, list | tuple) or not all(isinstance(t, str) for t in mitre):
            raise InvalidInputError("mitre must be a list of technique ids", details={"field": "mitre"})
        if not isinstance(extra, Mapping):
            raise InvalidInputError("fields must be an object", details={"field": "fields"})
        return cls(
            time=time,
            source_ip=_required_text(data, "source_ip"),
            kind=kind,
            service=_required_text(data, "service"),
            log_type=log_type,
            severity=severity,
            username=_optional_text(data, "username"),
            hostname=_optional_text(data, "hostname"),
            sensor=_optional_text(data, "sensor"),
            target_port=_optional_int(data, "target_port"),
            source_port=_optional_int(data, "source_port"),
            http_status=_optional_int(data, "http_status"),
            uri=_optional_text(data, "uri"),
            rule_id=_optional_text(data, "rule_id"),
            message=_optional_text(data, "message"),
            mitre=tuple(mitre),
            fields=freeze({str(k): str(v) for k, v in extra.items()}),
            raw=_optional_text(data, "raw") or "",
        )


def _required_text(data: Mapping[str, Any], name: str) -> str:
    value = data.get(name)
    if not isinstance(value, str) or not value:
        raise InvalidInputError(f"event field {name!r} must be a non-empty string", details={"field": name})
    return value


def _optional_text(data: Mapping[str, Any], name: str) -> str | None:
    value = data.get(name)
    if value is None or isinstance(value, str):
        return value
    raise InvalidInputError(f"event field {name!r} must be a string or null", details={"field": name})


def _optional_int(data: Mapping[str, Any], name: str) -> int | None:
    value = data.get(name)
    # bool is an int in Python; a `true` port is a caller's mistake, not port 1.
    if value is None or (isinstance(value, int) and not isinstance(value, bool)):
        return value
    raise InvalidInputError(f"event field {name!r} must be an integer or null", details={"field": name})


class _EventBuilder:
    """`new_event`: Event's mutable twin, the same slots in the same order, so its `__init__` stores each with one
    specialised bytecode; then it becomes an `Event` by `__class__` assignment, which Python allows between classes
    of identical layout.

    Why: parsers build events in hot loops (replay: a million lines). A frozen dataclass's `__init__` goes
    through `object.__setattr__` for each of its 18 slots, about three times the cost of the whole event built
    here. What comes out is an ordinary `Event`: equal, hashed and frozen like one made by `Event(...)`.
    """

    __slots__ = Event.__slots__

    def __init__(
        self,
        time: datetime,
        source_ip: str,
        kind: str,
        service: str,
        log_type: str,
        severity: str,
        username: str | None = None,
        hostname: str | None = None,
        sensor: str | None = None,
        target_port: int | None = None,
        source_port: int | None = None,
        http_status: int | None = None,
        uri: str | None = None,
        rule_id: str | None = None,
        message: str | None = None,
        mitre: tuple[str, ...] = (),
        fields: Mapping[str, str] = NO_FIELDS,
        raw: str = "",
    ) -> None:
        self.time = time
        self.source_ip = source_ip
        self.kind = kind
        self.service = service
        self.log_type = log_type
        self.severity = severity
        self.username = username
        self.hostname = hostname
        self.sensor = sensor
        self.target_port = target_port
        self.source_port = source_port
        self.http_status = http_status
        self.uri = uri
        self.rule_id = rule_id
        self.message = message
        self.mitre = mitre
        self.fields = fields
        self.raw = raw
        self.__class__ = Event  # type: ignore[assignment]


# The builder's parameters must be Event's fields, in order: checked once, here, rather than trusted.
if _EventBuilder.__init__.__code__.co_varnames[1:19] != tuple(f.name for f in dataclass_fields(Event)):
    raise TypeError("_EventBuilder's parameters no longer match Event's fields")

# `Event(...)` for hot loops: the same frozen event, built about three times faster. The class itself, not a
# function around it: one call less per event.
new_event: Callable[..., Event] = _EventBuilder  # type: ignore[assignment]
