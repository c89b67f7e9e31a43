"""Seed 001, the security and audit API: login at /api/auth/login, the security log, its export and
statistics under /api/admin, in the `{"success": ...}` envelope. (Its banned-IP routes live with the other
decision routes, in `admin_bans`.)"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from chalice import Blueprint

from chalicelib.api.common import client_of, utc
from chalicelib.api.contracts import ADMIN, Raw, Reply
from chalicelib.api.routing import PUBLIC, RequestInfo, route
from chalicelib.api.schemas import models
from chalicelib.api.v1.auth import login_body
from chalicelib.core.deps import get_container

if TYPE_CHECKING:
    from chalicelib.api.schemas.auth import (
        EmailLogin,
        ForgotPassword,
        ResetWithCode,
        SecurityExportQuery,
        SecurityLogQuery,
    )
    from chalicelib.auth.security_log import LogQuery

bp = Blueprint(__name__)
auth_schemas = models("auth")


@route(
    bp,
    "/api/auth/login",
    methods=["POST"],
    permission=PUBLIC,
    contract=ADMIN,
    body=auth_schemas.EmailLogin,
    tags=("auth",),
)
def login(body: EmailLogin, request: RequestInfo) -> Reply:
    """Seed 001's protected login: banlist, rate limit (5/15 min), account lock (5 failures, 30 min)."""
    data, headers = login_body(body, request)
    return Reply({"data": data}, headers=headers)


@route(
    bp,
    "/api/auth/forgot-password",
    methods=["POST"],
    permission=PUBLIC,
    contract=ADMIN,
    body=auth_schemas.ForgotPassword,
    status=202,
    tags=("auth",),
)
def forgot_password(body: ForgotPassword, request: RequestInfo) -> Reply:
    """Email a reset code if the account exists (3 requests per hour per address); the answer never says."""
    c = get_container()
    c.sessions.check_honeypot(body.filled(), client_of(request), body.email)
    state = c.sessions.request_reset(body.email, client_of(request), "/api/auth/reset-password")
    return Reply(
        {"message": "If an account exists for that address, a reset code has been emailed"},
        status=202,
        headers=state.headers(),
    )


@route(
    bp,
    "/api/auth/reset-password",
    methods=["POST"],
    permission=PUBLIC,
    contract=ADMIN,
    body=auth_schemas.ResetWithCode,
    tags=("auth",),
)
def reset_password(body: ResetWithCode, request: RequestInfo) -> dict:
    """Set a new password with a reset code (single use, one hour)."""
    user = get_container().sessions.reset_password(body.token, body.password, client_of(request))
    return {"message": "Password changed", "data": {"user": user}}


def _log_query(query: SecurityLogQuery | SecurityExportQuery, limit: int) -> LogQuery:
    from chalicelib.auth.security_log import LogQuery  # noqa: PLC0415 - loaded on first use

    now = get_container().clock.now()
    end = utc(query.endDate, end_of_day=True) or now
    start = utc(query.startDate) or end - timedelta(days=30)
    return LogQuery(
        limit=limit,
        event_type=query.eventType,
        risk_level=query.riskLevel,
        user_id=getattr(query, "userId", None),
        success=getattr(query, "success", None),
        start=start,
        end=end,
    )


@route(
    bp,
    "/api/admin/security-logs",
    permission="security:read",
    contract=ADMIN,
    query=auth_schemas.SecurityLogQuery,
    tags=("security",),
)
def security_logs(query: SecurityLogQuery) -> dict:
    """The security log, newest first, filtered as documented."""
    return {"data": {"logs": get_container().security_log.query(_log_query(query, query.limit))}}


@route(
    bp,
    "/api/admin/security-logs/export",
    permission="security:read",
    contract=ADMIN,
    query=auth_schemas.SecurityExportQuery,
    produces="text/csv",
    tags=("security",),
)
def export_security_logs(query: SecurityExportQuery) -> Raw:
    """The security log as CSV (default: the last 30 days); formula-like cells are neutralised."""
    from chalicelib.auth.security_log import to_csv  # noqa: PLC0415 - loaded on first use

    c = get_container()
    entries = c.security_log.query(_log_query(query, 1_000_000))
    stamp = c.clock.now().strftime("%Y%m%d-%H%M%S")
    return Raw(
        to_csv(entries),
        "text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="security-logs-{stamp}.csv"'},
    )


@route(bp, "/api/admin/security-stats", permission="security:read", contract=ADMIN, tags=("security",))
def security_stats() -> dict:
    """Real-time dashboard figures of the last hour and day."""
    c = get_container()
    active = sum(1 for d in c.decisions.store.list("ban") if d.active_at(c.clock.now()))
    return {"data": c.security_log.stats(active_banned_ips=active)}
