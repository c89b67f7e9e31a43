"""Seed 001's banned-IP routes under /api/admin/banned-ips (`{"success": ...}` envelope, camelCase)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from chalice import Blueprint

from chalicelib.api.common import actor_name
from chalicelib.api.contracts import ADMIN, Reply
from chalicelib.api.routing import RequestInfo, route
from chalicelib.api.schemas import models
from chalicelib.api.views import ban_admin
from chalicelib.auth.principal import Principal
from chalicelib.core.deps import get_container

if TYPE_CHECKING:
    from chalicelib.api.schemas.decisions import AdminBan

bp = Blueprint(__name__)
decision_schemas = models("decisions")


@route(bp, "/api/admin/banned-ips", permission="decisions:read", contract=ADMIN, tags=("security",))
def banned_ips() -> dict:
    """Addresses banned right now (global bans)."""
    bans = [d for d in get_container().decision_queries.in_force() if d.scope == "global"]
    bans.sort(key=lambda d: d.created_at, reverse=True)
    return {"data": [ban_admin(d) for d in bans], "count": len(bans)}


@route(
    bp,
    "/api/admin/banned-ips",
    methods=["POST"],
    permission="decisions:write",
    contract=ADMIN,
    body=decision_schemas.AdminBan,
    status=201,
    tags=("security",),
)
def ban_ip(body: AdminBan, principal: Principal, request: RequestInfo) -> Reply:
    """Ban an address; `duration` in seconds, `null` for permanent."""
    from chalicelib.decisions import ttl  # noqa: PLC0415 - loaded on first use
    from chalicelib.decisions.requests import BanRequest  # noqa: PLC0415

    decision = get_container().decisions.ban(
        BanRequest(
            body.ipAddress,
            reason=body.reason,
            seconds=ttl.from_seconds(body.duration),
            origin="manual",
            caller_ip=request.source_ip,
        ),
        actor=actor_name(principal),
        request_id=request.request_id,
    )
    span = "permanently" if decision.until is None else f"for {body.duration} seconds"
    return Reply({"message": f"IP {decision.address} banned {span}", "data": ban_admin(decision)}, status=201)


@route(
    bp,
    "/api/admin/banned-ips/{ip}",
    methods=["DELETE"],
    permission="decisions:write",
    contract=ADMIN,
    tags=("security",),
)
def unban_ip(ip: str, principal: Principal, request: RequestInfo) -> dict:
    """Lift the ban on an address."""
    decision = get_container().decisions.lift(
        ip, actor=actor_name(principal), reason="unbanned by admin", request_id=request.request_id
    )
    return {"message": f"IP {decision.address} unbanned", "data": ban_admin(decision)}
