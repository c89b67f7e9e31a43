"""Windows logon events: 4625 (an account failed to log on) and 4624 (logged on), as JSON or dicts.

Two shapes arrive. Agents speaking seed 002 post `{timestamp, ip_address, username, domain, logon_type,
status, workstation, source_port}` (no event id: every record of `POST /events` is a failed logon). Collectors
that forward the event itself use Windows' own names (`TimeCreated`, `IpAddress`, `TargetUserName`,
`LogonType`, `Status`/`SubStatus`, `IpPort`, `EventID`), at the top level, under `EventData`, or under
winlogbeat's `winlog.event_data`.

The kind comes from the NTSTATUS code. `0xc000006d` only says "bad user name or password"; the precise reason
is in `SubStatus`, so that one is read first. `0xc0000064` (no such user) is `invalid_user`; everything else
is an `auth_failure` whose `fields["reason"]` names the code (`bad_password`, `account_locked`, ...).

Logon type 10 is RDP and type 3 a network logon (SMB, and also RDP when Network Level Authentication checks
the password before the session starts: NLA failures log type 3). The service says `smb` for type 3 because
that is the common case; `fields["logon_type"]` keeps the number. A record whose address is `-` or empty (a
local logon) is not an attack from anywhere and gives None.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from types import MappingProxyType

from chalicelib.events.model import (
    AUTH_FAILURE,
    AUTH_SUCCESS,
    INFO,
    INVALID_USER,
    LOG_AUTH,
    MEDIUM,
    Event,
    freeze,
)
from chalicelib.events.parsers import (
    ParseContext,
    ParserInfo,
    ParserRule,
    epoch_time,
    iso_time,
    normalise_ip,
    text_or_none,
    to_int,
    to_port,
)

BRUTE_FORCE = ("T1110",)
PASSWORD_GUESSING = ("T1110", "T1110.001")

FAILURE = 4625
SUCCESS = 4624
GENERIC_FAILURE = "0xc000006d"
NO_SUCH_USER = "0xc0000064"
BAD_PASSWORD = "0xc000006a"  # noqa: S105 (an NTSTATUS code, not a secret)

# NTSTATUS codes a 4625 carries, by the reason they give.
REASONS: Mapping[str, str] = MappingProxyType(
    {
        NO_SUCH_USER: "no_such_user",
        BAD_PASSWORD: "bad_password",
        GENERIC_FAILURE: "bad_credentials",
        "0xc000006e": "account_restriction",
        "0xc000006f": "outside_logon_hours",
        "0xc0000070": "workstation_restriction",
        "0xc0000071": "password_expired",
        "0xc0000072": "account_disabled",
        "0xc0000133": "clock_skew",
        "0xc000015b": "logon_type_not_granted",
        "0xc0000193": "account_expired",
        "0xc0000224": "password_must_change",
        "0xc0000234": "account_locked",
        "0xc0000413": "authentication_firewall",
    }
)

SERVICES: Mapping[str, str] = MappingProxyType(
    {
        "2": "console",
        "3": "smb",
        "4": "batch",
        "5": "service",
        "7": "unlock",
        "8": "network-cleartext",
        "9": "new-credentials",
        "10": "rdp",
        "11": "cached-interactive",
    }
)
DEFAULT_SERVICE = "windows"
_UMBRELLAS = frozenset({GENERIC_FAILURE, "0xc000006e"})

# Each field under the names the two shapes (and Get-WinEvent / winlogbeat exports) give it.
_TIME = ("timestamp", "TimeCreated", "@timestamp", "time_created")
_IP = ("ip_address", "IpAddress")
_USER = ("username", "TargetUserName")
_DOMAIN = ("domain", "TargetDomainName")
_LOGON_TYPE = ("logon_type", "LogonType")
_STATUS = ("status", "Status")
_SUB_STATUS = ("sub_status", "SubStatus")
_WORKSTATION = ("workstation", "WorkstationName")
_PORT = ("source_port", "IpPort")
_EVENT_ID = ("EventID", "event_id", "EventId", "Id")
_HOST = ("hostname", "Computer", "MachineName", "computer_name")
_PACKAGE = ("AuthenticationPackageName", "auth_package")


def parse(line: str | Mapping[str, object], context: ParseContext) -> Event | None:
    """A 4625/4624 record (a JSON line or an already-decoded dict) as an Event."""
    if isinstance(line, str):
        if line[:1] != "{":
            return None
        try:
            record = json.loads(line)
        except (ValueError, RecursionError):
            return None
        raw = line
    elif isinstance(line, Mapping):
        record = line
        raw = _dump(line)
    else:
        return None
    if not isinstance(record, Mapping):
        return None
    layers = _layers(record)
    event_id = _event_id(_first(layers, _EVENT_ID))
    if event_id not in (FAILURE, SUCCESS):
        return None
    source_ip = _ip(_first(layers, _IP))
    time = _time(_first(layers, _TIME), context)
    if source_ip is None or time is None:
        return None
    logon_type = text_or_none(_first(layers, _LOGON_TYPE))
    status = _status(_first(layers, _STATUS))
    sub_status = _status(_first(layers, _SUB_STATUS))
    extra = {
        "event_id": str(event_id),
        "logon_type": logon_type,
        "domain": text_or_none(_first(layers, _DOMAIN)),
        "workstation": text_or_none(_first(layers, _WORKSTATION)),
        "auth_package": text_or_none(_first(layers, _PACKAGE)),
        "status": status,
        "sub_status": sub_status,
    }
    if event_id == SUCCESS:
        kind, severity, mitre, reason = AUTH_SUCCESS, INFO, (), None
    else:
        # 0xc000006d and 0xc000006e are umbrellas; SubStatus says which user, password or restriction failed.
        code = sub_status if status in _UMBRELLAS and sub_status in REASONS else status
        reason = REASONS.get(code or GENERIC_FAILURE, "other")
        kind = INVALID_USER if code == NO_SUCH_USER else AUTH_FAILURE
        severity = MEDIUM
        mitre = PASSWORD_GUESSING if code == BAD_PASSWORD else BRUTE_FORCE
        extra["reason"] = reason
    hostname = text_or_none(_first(layers, _HOST))
    return Event(
        time=time,
        source_ip=source_ip,
        kind=kind,
        service=SERVICES.get(logon_type or "", DEFAULT_SERVICE),
        log_type=LOG_AUTH,
        severity=severity,
        username=text_or_none(_first(layers, _USER)),
        hostname=hostname or context.hostname,
        source_port=to_port(_first(layers, _PORT)),
        rule_id=str(event_id),
        message=f"logon failure: {reason}" if reason else "logon success",
        mitre=mitre,
        fields=freeze({key: value for key, value in extra.items() if value is not None}),
        raw=raw,
    )


def _layers(record: Mapping[str, object]) -> tuple[Mapping[str, object], ...]:
    layers = [record]
    for key in ("EventData", "event_data"):
        nested = record.get(key)
        if isinstance(nested, Mapping):
            layers.append(nested)
    winlog = record.get("winlog")
    if isinstance(winlog, Mapping):
        layers.append(winlog)
        nested = winlog.get("event_data")
        if isinstance(nested, Mapping):
            layers.append(nested)
    return tuple(layers)


def _first(layers: tuple[Mapping[str, object], ...], names: tuple[str, ...]) -> object:
    for layer in layers:
        for name in names:
            value = layer.get(name)
            if value is not None:
                return value
    return None


def _event_id(value: object) -> int | None:
    if value is None:
        return FAILURE  # seed 002's records carry no id: that endpoint only receives failed logons
    return to_int(value)


def _ip(value: object) -> str | None:
    text = text_or_none(value) if isinstance(value, str) else None
    return normalise_ip(text) if text is not None else None


def _status(value: object) -> str | None:
    """An NTSTATUS as `0x` and eight lower-case hex digits, from text or a (possibly signed) integer."""
    if isinstance(value, int) and not isinstance(value, bool):
        return f"0x{value & 0xFFFFFFFF:08x}"
    text = text_or_none(value) if isinstance(value, str) else None
    if text is None:
        return None
    text = text.lower()
    digits = text[2:] if text.startswith("0x") else ""
    if not (0 < len(digits) <= 8 and all(c in "0123456789abcdef" for c in digits)):
        return text[:32]
    return f"0x{int(digits, 16):08x}"


def _time(value: object, context: ParseContext) -> datetime | None:
    if isinstance(value, Mapping):  # the XML rendering: <TimeCreated SystemTime="..."/>
        value = value.get("SystemTime")
    if isinstance(value, str):
        if value.startswith("/Date(") and value.endswith(")/"):  # PowerShell 5 ConvertTo-Json
            return epoch_time(value[6:-2].split("+")[0].split("-")[0])
        return iso_time(value.strip(), context)
    return epoch_time(value)


def _dump(record: Mapping[str, object]) -> str:
    try:
        return json.dumps(record, default=str, sort_keys=True, skipkeys=True)
    except (TypeError, ValueError, RecursionError):
        return ""


PARSER = ParserInfo(
    name="windows-4625",
    description="Windows Security logon events 4625/4624 (seed 002 agent records or Windows field names)",
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
        "fields.event_id",
        "fields.logon_type",
        "fields.domain",
        "fields.workstation",
        "fields.auth_package",
        "fields.status",
        "fields.sub_status",
        "fields.reason",
    ),
    kinds=(AUTH_FAILURE, INVALID_USER, AUTH_SUCCESS),
    mitre=MappingProxyType({AUTH_FAILURE: PASSWORD_GUESSING, INVALID_USER: BRUTE_FORCE}),
    rules=(
        ParserRule("4625-bad-password", "4625 Status|SubStatus 0xc000006a", AUTH_FAILURE, PASSWORD_GUESSING),
        ParserRule("4625-no-such-user", "4625 Status|SubStatus 0xc0000064", INVALID_USER, BRUTE_FORCE),
        ParserRule("4625-locked", "4625 Status 0xc0000234 (fields.reason=account_locked)", AUTH_FAILURE, BRUTE_FORCE),
        ParserRule("4625-other", "4625 any other Status (fields.reason names it)", AUTH_FAILURE, BRUTE_FORCE),
        ParserRule("4624-logon", "4624 with a source IpAddress", AUTH_SUCCESS),
    ),
)
