"""CrowdSec Local API compatibility, so existing CrowdSec bouncers enforce Vigil's decisions unchanged.

`GET /v1/decisions/stream` (`startup=true` for everything in force, then only what changed since the bouncer's
last pull, with a two-second overlap as the LAPI does) and `GET /v1/decisions?ip=...`, authenticated with
`X-Api-Key` (a Vigil API key with the READ scope; a key bound to a sensor also receives that sensor's own bans).
Decisions look as the LAPI writes them: integer `id`, `origin`, `scenario`, `scope` (`Ip` or `Range`), `type`,
`value`, `duration` (remaining, Go syntax) and `uuid`; an empty answer is `null`, as the LAPI's is.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from chalice import Blueprint
from pydantic import BaseModel, ConfigDict

from chalicelib.api.contracts import CROWDSEC, Reply
from chalicelib.api.routing import RequestInfo, route
from chalicelib.auth.principal import Principal
from chalicelib.core.clock import iso, parse_time
from chalicelib.core.deps import get_container
from chalicelib.decisions import addresses

if TYPE_CHECKING:
    from chalicelib.decisions.model import Decision

bp = Blueprint(__name__)
OVERLAP = timedelta(seconds=2)
PERMANENT = timedelta(days=3650)  # the LAPI has no permanent decisions: ten years stands for one


class StreamQuery(BaseModel):
    model_config = ConfigDict(extra="ignore")
    startup: bool = False
    scopes: str | None = None
    origins: str | None = None
    scenarios_containing: str | None = None
    scenarios_not_containing: str | None = None


class DecisionQuery(BaseModel):
    model_config = ConfigDict(extra="ignore")
    ip: str | None = None
    range: str | None = None
    scope: str | None = None
    value: str | None = None
    type: str | None = None
    contains: bool = True


def numeric_id(decision_id: str) -> int:
    """A stable positive integer for a decision id (bouncers expect the LAPI's integer ids)."""
    try:
        return int.from_bytes(uuid.UUID(decision_id).bytes[:6], "big")
    except ValueError:
        return abs(hash(decision_id)) % (2**47)


def go_duration(seconds: float) -> str:
    whole = max(0, int(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h{minutes}m{secs}s"


def lapi_decision(
    value: str, decision_id: str, *, origin: str, scenario: str | None, until: datetime | None, now: datetime
) -> dict[str, Any]:
    network = addresses.parse_network(value)
    single = network.prefixlen == network.max_prefixlen
    remaining = (until - now).total_seconds() if until else PERMANENT.total_seconds()
    return {
        "duration": go_duration(remaining),
        "id": numeric_id(decision_id),
        "origin": origin if origin in ("cscli", "crowdsec", "CAPI", "lists") else f"vigil-{origin}",
        "scenario": scenario or "vigil/manual",
        "scope": "Ip" if single else "Range",
        "type": "ban",
        "value": addresses.display(network),
        "uuid": decision_id,
        "until": iso(until or now + PERMANENT),
    }


def _wanted(decision: Decision, principal: Principal) -> bool:
    from chalicelib.decisions.model import BAN, GLOBAL, sensor_scope  # noqa: PLC0415 - loaded on first use

    if decision.type != BAN:
        return False
    return decision.scope == GLOBAL or (
        principal.sensor is not None and decision.scope == sensor_scope(principal.sensor)
    )


def _filters(query: StreamQuery) -> Any:
    # The LAPI compares all of these without regard to case (scopes by name, origins with EqualFold, scenarios
    # with ContainsFold), and bouncers' configurations are written accordingly.
    def words(text: str | None) -> list[str]:
        return [w.strip().lower() for w in (text or "").split(",") if w.strip()]

    scopes = set(words(query.scopes or "ip,range"))
    origins = set(words(query.origins))
    containing = words(query.scenarios_containing)
    not_containing = words(query.scenarios_not_containing)

    def keep(item: dict[str, Any]) -> bool:
        if item["scope"].lower() not in scopes:
            return False
        origin, scenario = item["origin"].lower(), item["scenario"].lower()
        if origins and origin not in origins and origin.removeprefix("vigil-") not in origins:
            return False
        if containing and not any(c in scenario for c in containing):
            return False
        return not any(c in scenario for c in not_containing)

    return keep


def _ended_since(since: datetime, principal: Principal, now: datetime) -> list[dict[str, Any]]:
    """Bans that ended since a time. A bouncer away for longer than the change log is read for still holds what
    was lifted meanwhile: the LAPI lists those as deleted since its last pull, and so must this answer."""
    found = []
    for d in get_container().decision_queries.ended_since(since):
        if _wanted(d, principal):
            item = lapi_decision(d.value, d.id, origin=d.origin, scenario=d.scenario, until=d.until, now=now)
            found.append({**item, "duration": "-1s"})
    return found


@route(
    bp, "/v1/decisions/stream", permission="decisions:read", contract=CROWDSEC, query=StreamQuery, tags=("crowdsec",)
)
def stream(query: StreamQuery, principal: Principal, request: RequestInfo) -> Reply:
    """New and deleted decisions since this bouncer's last pull (`startup=true`: everything in force)."""
    from chalicelib.decisions.model import GLOBAL, sensor_scope  # noqa: PLC0415 - loaded on first use

    c = get_container()
    now = c.clock.now()
    keep = _filters(query)
    cursor = c.bouncer_cursors.get(principal.id)
    new: list[dict[str, Any]] = []
    deleted: list[dict[str, Any]] = []
    if query.startup or cursor is None or now - cursor > timedelta(days=1):
        for d in c.decision_queries.in_force():
            if _wanted(d, principal):
                new.append(lapi_decision(d.value, d.id, origin=d.origin, scenario=d.scenario, until=d.until, now=now))
        if not query.startup and cursor is not None:
            deleted = _ended_since(cursor - OVERLAP, principal, now)
    else:
        latest: dict[str, dict[str, Any]] = {}
        for change in c.decisions.store.changes_since(cursor - OVERLAP, now):
            if not change["kind"].startswith("ban"):
                continue
            latest[change["id"]] = change
        for change in latest.values():
            scope = change.get("scope", GLOBAL)
            if scope != GLOBAL and (principal.sensor is None or scope != sensor_scope(principal.sensor)):
                continue
            until = parse_time(change["until"]) if change.get("until") else None
            item = lapi_decision(
                change["value"],
                change["id"],
                origin=change.get("origin", "manual"),
                scenario=change.get("scenario"),
                until=until,
                now=now,
            )
            if change["op"] == "add" and (until is None or until > now):
                new.append(item)
            else:
                deleted.append({**item, "duration": "-1s"})
    c.bouncer_cursors.set(principal.id, now)
    new = [d for d in new if keep(d)]
    deleted = [d for d in deleted if keep(d)]
    return Reply({"deleted": deleted or None, "new": new or None})


@route(bp, "/v1/decisions", permission="decisions:read", contract=CROWDSEC, query=DecisionQuery, tags=("crowdsec",))
def decisions(query: DecisionQuery, principal: Principal) -> Reply:
    """Decisions in force for an address (`ip`), a range (`range`), or all of them; `null` when none."""
    c = get_container()
    now = c.clock.now()
    asked = query.ip or query.range or query.value
    found = [d for d in c.decision_queries.in_force() if _wanted(d, principal)]
    if asked:
        network = addresses.parse_network(asked)
        found = [
            d
            for d in found
            if d.network.version == network.version
            and (network.subnet_of(d.network) if query.contains else d.network.subnet_of(network))
        ]  # type: ignore[arg-type]
    answer = [lapi_decision(d.value, d.id, origin=d.origin, scenario=d.scenario, until=d.until, now=now) for d in found]
    if query.scope:
        answer = [a for a in answer if a["scope"].lower() == query.scope.lower()]
    if query.type:
        answer = [a for a in answer if a["type"] == query.type]
    return Reply(answer or None)
