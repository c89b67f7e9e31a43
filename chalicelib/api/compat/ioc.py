"""Seed 003, the IOC manager under /api: block and unblock IOCs with tags, state, summary, counters history,
per-tag lists and plain-text feeds. Authenticated by API keys with READ/WRITE scopes, or JWTs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalice import Blueprint
from pydantic import ValidationError

from chalicelib.api.common import actor_name
from chalicelib.api.contracts import IOC, Raw, Reply
from chalicelib.api.routing import AUTHENTICATED, ROUTES, RequestInfo, problems_of, route
from chalicelib.api.schemas import models
from chalicelib.api.v1.bans import may_force
from chalicelib.auth.principal import Principal
from chalicelib.core.deps import get_container
from chalicelib.core.errors import FieldProblem, InvalidInputError, NotFoundError, ValidationFailedError
from chalicelib.decisions import ttl

if TYPE_CHECKING:
    from chalicelib.api.schemas.decisions import HistoryQuery, IocUnblock
    from chalicelib.decisions.ioc import IocItem

bp = Blueprint(__name__)
decision_schemas = models("decisions")
MAX_ITEMS = 10_000
FEED_PREFIX, FEED_SUFFIX = "ioc-feed-", ".txt"


@route(bp, "/api", permission=AUTHENTICATED, contract=IOC, tags=("ioc",))
def service_status() -> dict:
    """Service status and the endpoints of this API (any valid token)."""
    endpoints = sorted({f"{s.method} {s.path}" for s in ROUTES if s.contract is IOC})
    return {"service": "IOC Manager API", "status": "running", "endpoints": endpoints}


def _items(body: Any) -> tuple[list[IocItem | None], list[dict[str, Any]]]:
    """Validate each item on its own: a bad item is reported by index, the good ones go ahead."""
    from chalicelib.api.schemas.decisions import IocItemIn  # noqa: PLC0415 - schemas load on first use
    from chalicelib.decisions.ioc import IocItem  # noqa: PLC0415 - loaded on first use

    if not isinstance(body, dict):
        raise InvalidInputError('Body must be a JSON object: one item, or {"items": [...]}')
    raw = body.get("items", [body])
    if not isinstance(raw, list) or not raw:
        raise ValidationFailedError([FieldProblem("items", "Must be a non-empty list")])
    if len(raw) > MAX_ITEMS:
        raise ValidationFailedError([FieldProblem("items", f"At most {MAX_ITEMS} items per request")])
    items: list[IocItem | None] = []
    errors: list[dict[str, Any]] = []
    for index, entry in enumerate(raw):
        try:
            parsed = IocItemIn.model_validate(entry)
            items.append(
                IocItem(
                    parsed.target(),
                    tuple(parsed.tags),
                    ttl.parse_ttl(parsed.ttl),
                    parsed.note,
                    parsed.alert_id,
                    parsed.force,
                )
            )
        except ValidationError as exc:
            problems = problems_of(exc)
            errors.append(
                {
                    "index": index,
                    "ip": _target_of(entry),
                    "error": "; ".join(f"{p.field}: {p.message}" for p in problems),
                    "code": "VALIDATION_ERROR",
                }
            )
            items.append(None)
        except InvalidInputError as exc:
            errors.append({"index": index, "ip": _target_of(entry), "error": exc.message, "code": exc.code})
            items.append(None)
    return items, errors


def _target_of(entry: Any) -> str | None:
    if isinstance(entry, dict):
        return entry.get("ip") or entry.get("range") or entry.get("cidr")
    return None


@route(bp, "/api/bloquear-ip", methods=["POST"], permission="decisions:write", contract=IOC, tags=("ioc",))
def block(body: Any, principal: Principal, request: RequestInfo) -> Reply:
    """Add IOCs (one object or `items`): 200 `ok`, 207 `partial_ok` with per-item errors, 400 `error`.

    With an `Idempotency-Key` header a retried request replays the first answer; the same key with another
    body is refused with 409."""
    c = get_container()

    def operation() -> dict[str, Any]:
        items, errors = _items(body)
        valid = [(i, item) for i, item in enumerate(items) if item is not None]
        outcome = c.iocs.block(
            [item for _, item in valid],
            actor=actor_name(principal),
            allow_broad=may_force(principal),
            request_id=request.request_id,
            caller_ip=request.source_ip,
        )
        # Renumber the service's per-request indexes back to the positions in the caller's list.
        for error in outcome.body["errors"]:
            error["index"] = valid[error["index"]][0]
        all_errors = sorted(errors + outcome.body["errors"], key=lambda e: e["index"])
        status = "error" if not outcome.body["processed"] else ("partial_ok" if all_errors else "ok")
        return {"status": status, "processed": outcome.body["processed"], "errors": all_errors}

    key = request.header("idempotency-key")
    answer = c.idempotency.run("ioc.block", key, body, operation) if key else operation()
    return Reply(answer, status={"ok": 200, "partial_ok": 207, "error": 400}[answer["status"]])


@route(
    bp,
    "/api/bloquear-ip",
    methods=["DELETE"],
    permission="decisions:write",
    contract=IOC,
    body=decision_schemas.IocUnblock,
    tags=("ioc",),
)
def unblock(body: IocUnblock, principal: Principal, request: RequestInfo) -> dict:
    """Remove an IOC from the given tags, or (without tags) from every feed."""
    return get_container().iocs.unblock(body.ip, body.tags, actor=actor_name(principal), request_id=request.request_id)


@route(bp, "/api/estado/{ip}", permission="decisions:read", contract=IOC, tags=("ioc",))
def state(ip: str) -> dict:
    """Everything known of one IOC: tags, remaining TTL, expiry, source, alert ids."""
    return get_container().iocs.state(ip)


@route(bp, "/api/summary", permission="decisions:read", contract=IOC, tags=("ioc",))
def summary() -> dict:
    """Live counters, for monitoring (Zabbix, Grafana)."""
    return get_container().iocs.summary()


@route(
    bp,
    "/api/counters/history",
    permission="decisions:read",
    contract=IOC,
    query=decision_schemas.HistoryQuery,
    tags=("ioc",),
)
def counters_history(query: HistoryQuery) -> Reply:
    """Daily snapshots of the counters, newest first."""
    return Reply(get_container().iocs.counters_history(query.limit))


@route(bp, "/api/lista/{tag}", permission="decisions:read", contract=IOC, tags=("ioc",))
def tag_list(tag: str) -> dict:
    """The IOCs of one tag, as JSON."""
    return get_container().iocs.listing(tag)


@route(bp, "/api/feed/{name}", permission="feeds:read", contract=IOC, produces="text/plain", tags=("ioc",))
def tag_feed(name: str) -> Raw:
    """`ioc-feed-<tag>.txt`: one address or CIDR per line, for firewalls."""
    if not (name.startswith(FEED_PREFIX) and name.endswith(FEED_SUFFIX)) or len(name) <= len(FEED_PREFIX + FEED_SUFFIX):
        raise NotFoundError(f"No feed named {name!r}; feeds are named ioc-feed-<tag>.txt")
    tag = name[len(FEED_PREFIX) : -len(FEED_SUFFIX)]
    return Raw(get_container().iocs.feed_text(tag), "text/plain; charset=utf-8", headers={"Cache-Control": "no-cache"})
