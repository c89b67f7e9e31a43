"""Seed 000's bans under /api/v1/bans: issue, list, stats, detail, unban, extend, make permanent, history."""

from __future__ import annotations

from typing import TYPE_CHECKING

from chalice import Blueprint

from chalicelib.api.common import actor_name, utc
from chalicelib.api.contracts import V1, Reply
from chalicelib.api.routing import RequestInfo, route
from chalicelib.api.schemas import models
from chalicelib.api.views import ban_v1
from chalicelib.auth.principal import Principal
from chalicelib.core.deps import get_container

if TYPE_CHECKING:
    from chalicelib.api.schemas.decisions import BanCreate, BanExtend, BanQuery

bp = Blueprint(__name__)
decision_schemas = models("decisions")


def may_force(principal: Principal | None) -> bool:
    """Only administrators may ban ranges broader than the policy allows."""
    return principal is not None and principal.can("config:write")


@route(bp, "/api/v1/bans", permission="decisions:read", contract=V1, query=decision_schemas.BanQuery, tags=("bans",))
def list_bans(query: BanQuery) -> Reply:
    """Bans, newest first: filter by status, source, tag, sensor, an IP a ban covers, creation time, text."""
    from chalicelib.decisions.model import sensor_scope  # noqa: PLC0415 - loaded on first use
    from chalicelib.decisions.queries import DecisionFilter  # noqa: PLC0415 - loaded on first use

    c = get_container()
    page = c.decision_queries.page(
        DecisionFilter(
            status=query.status,
            origin=query.source,
            tag=query.tag,
            ip=query.ip,
            scope=sensor_scope(query.sensor) if query.sensor else None,
            created_from=utc(query.start_time),
            created_to=utc(query.end_time, end_of_day=True),
            search=query.search,
        ),
        query.limit,
        query.offset,
    )
    now = c.clock.now()
    return Reply(
        [ban_v1(d, now) for d in page.items], meta={"total": page.total, "limit": page.limit, "offset": page.offset}
    )


@route(
    bp,
    "/api/v1/bans",
    methods=["POST"],
    permission="decisions:write",
    contract=V1,
    body=decision_schemas.BanCreate,
    status=201,
    tags=("bans",),
)
def create_ban(body: BanCreate, principal: Principal, request: RequestInfo) -> dict:
    """Ban an address or CIDR (409 if already banned or whitelisted; 400 for reserved or over-broad ranges)."""
    from chalicelib.decisions.model import GLOBAL, sensor_scope  # noqa: PLC0415 - loaded on first use
    from chalicelib.decisions.requests import BanRequest  # noqa: PLC0415 - loaded on first use

    c = get_container()
    decision = c.decisions.ban(
        BanRequest(
            body.ip,
            reason=body.reason,
            seconds=body.seconds(),
            origin="manual",
            tags=tuple(body.tags),
            scope=sensor_scope(body.sensor) if body.sensor else GLOBAL,
            force=body.force and may_force(principal),
            caller_ip=request.source_ip,
        ),
        actor=actor_name(principal),
        request_id=request.request_id,
    )
    return ban_v1(decision, c.clock.now())


@route(bp, "/api/v1/bans/stats", permission="decisions:read", contract=V1, tags=("bans",))
def ban_stats() -> dict:
    """Counts of bans in force: permanent, expiring within 24 h, by source, by tag, issued per day."""
    return get_container().decision_queries.ban_stats()


@route(bp, "/api/v1/bans/{ip}", permission="decisions:read", contract=V1, tags=("bans",))
def get_ban(ip: str) -> dict:
    """The ban in force on exactly this address or CIDR (URL-encode the slash)."""
    c = get_container()
    return ban_v1(c.decisions.find(ip), c.clock.now())


@route(bp, "/api/v1/bans/{ip}", methods=["DELETE"], permission="decisions:write", contract=V1, tags=("bans",))
def unban(ip: str, principal: Principal, request: RequestInfo, body: dict | None = None) -> dict:
    """Lift a ban; a `reason` (body or query) is recorded in its history."""
    from chalicelib.api.schemas.decisions import Unban  # noqa: PLC0415 - schemas load on first use

    c = get_container()
    reason = ((body or {}).get("reason") if isinstance(body, dict) else None) or _query(request, "reason") or ""
    Unban(reason=reason)  # validates the length
    decision = c.decisions.lift(
        ip, actor=actor_name(principal), reason=reason or "unbanned", request_id=request.request_id
    )
    return ban_v1(decision, c.clock.now())


@route(
    bp,
    "/api/v1/bans/{ip}/extend",
    methods=["POST"],
    permission="decisions:write",
    contract=V1,
    body=decision_schemas.BanExtend,
    tags=("bans",),
)
def extend_ban(ip: str, body: BanExtend, principal: Principal, request: RequestInfo) -> dict:
    """Push a ban's expiry back by the given duration (from its current expiry)."""
    c = get_container()
    decision = c.decisions.extend(ip, body.seconds(), actor=actor_name(principal), request_id=request.request_id)
    return ban_v1(decision, c.clock.now())


@route(bp, "/api/v1/bans/{ip}/permanent", methods=["POST"], permission="decisions:write", contract=V1, tags=("bans",))
def make_permanent(ip: str, principal: Principal, request: RequestInfo) -> dict:
    """Make a ban permanent."""
    c = get_container()
    decision = c.decisions.make_permanent(ip, actor=actor_name(principal), request_id=request.request_id)
    return ban_v1(decision, c.clock.now())


@route(bp, "/api/v1/bans/{ip}/history", permission="decisions:read", contract=V1, tags=("bans",))
def ban_history(ip: str) -> Reply:
    """Every ban this exact address or CIDR ever had: issued, changed, lifted or expired, by whom and why."""
    timeline = get_container().decision_queries.history(ip)
    return Reply(timeline, meta={"total": len(timeline)})


def _query(request: RequestInfo, name: str) -> str | None:
    values = request.query.get(name)
    return values[-1] if values else None
