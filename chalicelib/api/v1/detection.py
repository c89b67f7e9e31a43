"""Seed 000's detection routes under /api/v1: pending bans (Detect2Ban v2) and the parsers."""

from __future__ import annotations

from types import ModuleType
from typing import TYPE_CHECKING

from chalice import Blueprint

from chalicelib.api.common import actor_name
from chalicelib.api.contracts import V1, Reply
from chalicelib.api.routing import RequestInfo, route
from chalicelib.api.schemas import models
from chalicelib.api.views import ban_v1
from chalicelib.auth.principal import Principal
from chalicelib.core.deps import get_container
from chalicelib.decisions.pending import pending_view

if TYPE_CHECKING:
    from chalicelib.api.schemas.events import ParserTest, PendingDecision, PendingQuery

bp = Blueprint(__name__)
event_schemas = models("events")


# pending bans
@route(
    bp,
    "/api/v1/pending-bans",
    permission="detection:read",
    contract=V1,
    query=event_schemas.PendingQuery,
    tags=("pending-bans",),
)
def list_pending(query: PendingQuery) -> Reply:
    """Pending bans awaiting review (or already decided, with `status=decided|all`), newest first."""
    pending = get_container().pending_bans
    found = pending.waiting() if query.status == "pending" else pending.decided()
    if query.status == "all":
        found = pending.waiting() + pending.decided()
    window = found[query.offset : query.offset + query.limit]
    return Reply(
        [pending_view(d) for d in window], meta={"total": len(found), "limit": query.limit, "offset": query.offset}
    )


@route(bp, "/api/v1/pending-bans/stats", permission="detection:read", contract=V1, tags=("pending-bans",))
def pending_stats() -> dict:
    """Waiting, approved, rejected and expired counts, by scenario and country."""
    return get_container().pending_bans.stats()


@route(bp, "/api/v1/pending-bans/ip/{ip}", permission="detection:read", contract=V1, tags=("pending-bans",))
def pending_for_ip(ip: str) -> Reply:
    """Every pending ban an address had, waiting or decided."""
    found = [pending_view(d) for d in get_container().pending_bans.for_ip(ip)]
    return Reply(found, meta={"total": len(found)})


@route(
    bp,
    "/api/v1/pending-bans/{id}/approve",
    methods=["POST"],
    permission="detection:write",
    contract=V1,
    body=event_schemas.PendingDecision,
    tags=("pending-bans",),
)
def approve(id: str, body: PendingDecision, principal: Principal, request: RequestInfo) -> dict:
    """Approve: the address is banned (the ban's history names the approver)."""
    c = get_container()
    ended, ban = c.pending_bans.approve(
        id, actor=actor_name(principal) or "unknown", reason=body.reason, request_id=request.request_id
    )
    return {"pending": pending_view(ended), "ban": ban_v1(ban, c.clock.now())}


@route(
    bp,
    "/api/v1/pending-bans/{id}/reject",
    methods=["POST"],
    permission="detection:write",
    contract=V1,
    body=event_schemas.PendingDecision,
    tags=("pending-bans",),
)
def reject(id: str, body: PendingDecision, principal: Principal, request: RequestInfo) -> dict:
    """Reject: recorded with the reason; `whitelist: true` also adds a soft whitelist entry."""
    ended, entry = get_container().pending_bans.reject(
        id,
        actor=actor_name(principal) or "unknown",
        reason=body.reason,
        whitelist=body.whitelist,
        request_id=request.request_id,
    )
    return {"pending": pending_view(ended), "whitelisted": entry is not None}


# parsers
def _parsers() -> ModuleType:
    """The parser registry, imported when a parser route first runs rather than at cold start: it loads every
    parser and compiles its rules, which only ingest and these routes need."""
    from chalicelib.events.parsers import registry  # noqa: PLC0415

    return registry


@route(bp, "/api/v1/parser/stats", permission="events:read", contract=V1, tags=("parser",))
def parser_stats() -> dict:
    """Events parsed in the last 24 hours by log type and kind, and the formats available."""
    overview = get_container().event_queries.overview(active_bans=0, sensors=0)
    return {
        "formats": list(_parsers().formats()),
        "events_24h": overview["events_24h"],
        "by_log_type": overview["by_log_type"],
        "by_kind": overview["by_kind"],
    }


@route(bp, "/api/v1/parser/fields", permission="events:read", contract=V1, tags=("parser",))
def parser_fields() -> dict:
    """The fields each format fills."""
    return _parsers().supported_fields()


@route(bp, "/api/v1/parser/rules", permission="events:read", contract=V1, tags=("parser",))
def parser_rules() -> Reply:
    """Every parsing rule: format, name, pattern summary, event kind, MITRE ATT&CK techniques."""
    found = _parsers().rules()
    return Reply(found, meta={"total": len(found)})


@route(bp, "/api/v1/parser/mitre", permission="events:read", contract=V1, tags=("parser",))
def parser_mitre() -> Reply:
    """MITRE ATT&CK coverage: which techniques which formats and scenarios detect."""
    found = _parsers().mitre_coverage()
    return Reply(found, meta={"total": len(found)})


@route(
    bp,
    "/api/v1/parser/test",
    methods=["POST"],
    permission="events:read",
    contract=V1,
    body=event_schemas.ParserTest,
    tags=("parser",),
)
def parser_test(body: ParserTest) -> Reply:
    """Parse sample lines with a format and show what each becomes (nothing is stored)."""
    from chalicelib.events.parsers import ParseContext, zone  # noqa: PLC0415 - loaded on first use

    now = get_container().clock.now()
    parse = _parsers().get_parser(body.format)
    stamps = zone(body.timezone)
    context = ParseContext(body.year, stamps) if body.year else ParseContext.at(now, stamps)
    results = []
    for line in body.lines:
        event = parse(line, context)
        results.append({"line": line, "matched": event is not None, "event": event.to_dict() if event else None})
    return Reply(results, meta={"matched": sum(1 for r in results if r["matched"]), "total": len(results)})


# Detect2Ban: the engine switch and the scenarios
@route(bp, "/api/v1/detect2ban/status", permission="detection:read", contract=V1, tags=("detect2ban",))
def detect2ban_status() -> dict:
    """Whether the engine runs, its scenarios, and what it decided in the last 24 hours."""
    c = get_container()
    scenarios = c.detection.scenarios()
    pending = c.pending_bans.stats()
    return {
        **c.detection.config.state(),
        "scenarios": len(scenarios),
        "scenarios_enabled": sum(1 for s in scenarios if s.get("enabled", True)),
        "active_bans": len(c.decision_queries.in_force()),
        "pending_bans": pending["pending"],
    }


def _switch(enabled: bool | None, principal: Principal) -> dict:
    c = get_container()
    target = (not c.detection.config.enabled()) if enabled is None else enabled
    state = c.detection.config.set_enabled(target, actor_name(principal))
    c.detection.refresh()
    return state


@route(
    bp, "/api/v1/detect2ban/enable", methods=["POST"], permission="detection:write", contract=V1, tags=("detect2ban",)
)
def detect2ban_enable(principal: Principal) -> dict:
    """Start deciding (events are always stored and counted; only decisions stop when disabled)."""
    return _switch(True, principal)


@route(
    bp, "/api/v1/detect2ban/disable", methods=["POST"], permission="detection:write", contract=V1, tags=("detect2ban",)
)
def detect2ban_disable(principal: Principal) -> dict:
    """Stop deciding: scenarios no longer ban, propose or alert until enabled again."""
    return _switch(False, principal)


@route(
    bp, "/api/v1/detect2ban/toggle", methods=["POST"], permission="detection:write", contract=V1, tags=("detect2ban",)
)
def detect2ban_toggle(principal: Principal) -> dict:
    """Switch the engine to the other state."""
    return _switch(None, principal)


@route(bp, "/api/v1/detect2ban/scenarios", permission="detection:read", contract=V1, tags=("detect2ban",))
def list_scenarios() -> Reply:
    """Every scenario in force: shipped defaults, edited ones and custom ones."""
    found = get_container().detection.scenarios()
    return Reply(found, meta={"total": len(found)})


@route(bp, "/api/v1/detect2ban/scenarios/{name}", permission="detection:read", contract=V1, tags=("detect2ban",))
def get_scenario(name: str) -> dict:
    """One scenario."""
    return get_container().detection.scenario(name)


@route(
    bp,
    "/api/v1/detect2ban/scenarios/{name}",
    methods=["PUT"],
    permission="detection:write",
    contract=V1,
    tags=("detect2ban",),
)
def put_scenario(name: str, body: dict) -> dict:
    """Create or replace a scenario (validated as a whole; containers pick it up within 30 s)."""
    if not isinstance(body, dict):
        from chalicelib.core.errors import InvalidInputError  # noqa: PLC0415

        raise InvalidInputError("A scenario is a JSON object")
    return get_container().detection.put(name, body)


@route(
    bp,
    "/api/v1/detect2ban/scenarios/{name}",
    methods=["DELETE"],
    permission="detection:write",
    contract=V1,
    tags=("detect2ban",),
)
def delete_scenario(name: str) -> dict:
    """Remove a custom scenario, or put an edited shipped one back to its default."""
    return get_container().detection.remove(name)
