"""Logins and everything that guards them (seed 001's brute-force protection).

A login passes, in this order: the banned-address check (at the edge, before any route), the per-address rate
limit (5 per 15 minutes → 429), the account lock (5 failures → locked 30 minutes → 423), then the password.
Honeypot fields filled in by a bot are refused with 400. Failed logins, honeypot hits and locks are
suspicious: ten of them from one address within an hour ban that address for 24 hours, through the decisions
package, so the ban is an ordinary decision that firewalls receive too.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from typing import Any, Protocol

from chalicelib.auth import tokens
from chalicelib.auth.principal import Actor, Client, Principal
from chalicelib.auth.security_log import SecurityEvent, SecurityLog
from chalicelib.auth.users import Users, public
from chalicelib.core.clock import Clock, epoch, iso
from chalicelib.core.counters import CounterStore, Limit
from chalicelib.core.errors import (
    AccountLockedError,
    AuthenticationError,
    DependencyError,
    FeatureDisabledError,
    InvalidInputError,
    LimitState,
    RateLimitedError,
)
from chalicelib.core.observability import get_logger
from chalicelib.ops.mailer import Mailer

LOGIN_LIMIT = Limit("login", 5, 15 * 60)
RESET_LIMIT = Limit("password-reset", 3, 3600)
REGISTER_LIMIT = Limit("register", 5, 3600)
# Ten suspicious events within an hour ban the address: the tenth is the first the limit refuses.
SUSPICIOUS_LIMIT = Limit("suspicious", 9, 3600)
LOCK_AFTER_FAILURES = 5
LOCK_SECONDS = 30 * 60
AUTO_BAN_SECONDS = 24 * 3600
RESET_TOKEN_SECONDS = 3600
HONEYPOT_FIELDS = ("website", "hp_check", "url2")


class BanIssuer(Protocol):
    """What this package needs from the decisions package."""

    def auto_ban(self, ip: str, reason: str, seconds: int) -> None: ...


@dataclass(frozen=True)
class LoginResult:
    token: tokens.IssuedToken
    user: dict[str, Any]
    limit: LimitState


class Sessions:
    def __init__(
        self,
        users: Users,
        counters: CounterStore,
        log: SecurityLog,
        mailer: Mailer,
        bans: BanIssuer,
        token_policy: Any,
        clock: Clock,
        *,
        self_registration: bool = False,
    ) -> None:
        self._users = users
        self._counters = counters
        self._log = log
        self._mailer = mailer
        self._bans = bans
        self._policy = token_policy
        self._clock = clock
        self._self_registration = self_registration

    # login
    def login(self, email: str, password: str, client: Client, honeypot: dict[str, Any] | None = None) -> LoginResult:
        self.check_honeypot(honeypot, client, email)
        now = self._clock.now()
        check = self._counters.hit(LOGIN_LIMIT, client.ip, now)
        if not check.allowed:
            self._log.record(
                SecurityEvent(
                    "rate_limited",
                    "medium",
                    False,
                    client.ip,
                    email,
                    user_agent=client.user_agent,
                    details={"limit": LOGIN_LIMIT.name},
                )
            )
            raise RateLimitedError(
                "Too many login attempts; try again later", retry_after=check.retry_after, state=check.state
            )
        email_key = email.strip().lower()
        lock = self._counters.get(f"LOCK#{email_key}", "STATE")
        locked_until = int(lock.get("locked_until", 0)) if lock else 0
        if locked_until > epoch(now):
            locked = AccountLockedError(
                "Account locked after repeated failed logins", retry_after=locked_until - epoch(now)
            )
            locked.limit = check.state
            raise locked
        user = self._users.by_email(email)
        if user is None:
            self._users.hashing.verify(self._users.hashing.decoy, password)  # same time as a real check
            ok = False
        else:
            ok = self._users.hashing.verify(user["password_hash"], password) and bool(user.get("is_active"))
        if not ok:
            self._failed_login(email_key, user, client)
            raise AuthenticationError("Invalid email or password", limit=check.state)
        self._counters.delete(f"LOCK#{email_key}", "STATE")
        user = self._users.note_login(user, password)
        issued = tokens.issue(str(user["id"]), self._policy, now)
        self._log.record(
            SecurityEvent("login_success", "low", True, client.ip, user["email"], user["id"], client.user_agent)
        )
        return LoginResult(issued, public(user), check.state)

    def _failed_login(self, email_key: str, user: dict[str, Any] | None, client: Client) -> None:
        now = self._clock.now()
        failures = self._counters.add(f"LOCK#{email_key}", "STATE", expires=epoch(now) + LOCK_SECONDS)
        user_id = user["id"] if user else None
        self._log.record(
            SecurityEvent(
                "login_failed",
                "medium",
                False,
                client.ip,
                email_key,
                user_id,
                client.user_agent,
                {"failures": failures},
            )
        )
        self.suspicious(client.ip, "login_failed")
        if failures == LOCK_AFTER_FAILURES:
            until = epoch(now) + LOCK_SECONDS
            self._counters.put(f"LOCK#{email_key}", "STATE", {"n": failures, "locked_until": until}, expires=until)
            self._log.record(
                SecurityEvent(
                    "account_locked",
                    "high",
                    False,
                    client.ip,
                    email_key,
                    user_id,
                    client.user_agent,
                    {"locked_until": until},
                )
            )
            self.suspicious(client.ip, "account_locked")

    def check_honeypot(self, fields: dict[str, Any] | None, client: Client, email: str | None = None) -> None:
        """A filled honeypot field means a bot: refuse with 400 and count it as suspicious."""
        filled = sorted(name for name in HONEYPOT_FIELDS if (fields or {}).get(name))
        if not filled:
            return
        self._log.record(
            SecurityEvent(
                "honeypot_triggered", "high", False, client.ip, email, None, client.user_agent, {"fields": filled}
            )
        )
        self.suspicious(client.ip, "honeypot_triggered")
        raise InvalidInputError("Invalid request")

    def suspicious(self, ip: str, why: str) -> None:
        """Count a suspicious event from `ip`; the tenth within an hour bans it for 24 hours."""
        check = self._counters.hit(SUSPICIOUS_LIMIT, ip, self._clock.now())
        if check.allowed:
            return
        self._bans.auto_ban(ip, f"Auto-ban: 10+ suspicious events within an hour (last: {why})", AUTO_BAN_SECONDS)
        self._log.record(
            SecurityEvent("ip_auto_banned", "high", True, ip, details={"seconds": AUTO_BAN_SECONDS, "last": why})
        )

    # tokens
    def logout(self, principal: Principal | None) -> bool:
        """Revoke the caller's token until it would have expired; true when there was one."""
        if principal is None or principal.token_id is None:
            return False
        self._users.revoke_token(principal.token_id, principal.token_expires or epoch(self._clock.now()))
        return True

    def refresh(self, principal: Principal) -> tokens.IssuedToken:
        """A new token for the same user; the presented one is revoked (rotation)."""
        if principal.kind != "user" or principal.token_id is None:
            raise AuthenticationError("Only user tokens can be refreshed")
        issued = tokens.issue(principal.id, self._policy, self._clock.now())
        self._users.revoke_token(principal.token_id, principal.token_expires or epoch(self._clock.now()))
        return issued

    # registration
    def register(
        self, email: str, password: str, full_name: str, client: Client, honeypot: dict[str, Any] | None
    ) -> dict[str, Any]:
        if not self._self_registration:
            raise FeatureDisabledError("Self-registration is disabled; ask an administrator for an account")
        self.check_honeypot(honeypot, client, email)
        check = self._counters.hit(REGISTER_LIMIT, client.ip, self._clock.now())
        if not check.allowed:
            raise RateLimitedError(
                "Too many registrations; try again later", retry_after=check.retry_after, state=check.state
            )
        user = self._users.create(
            email, password, full_name, ["viewer"], actor=Actor(None, client.ip, client.user_agent)
        )
        self._log.record(
            SecurityEvent("registration", "medium", True, client.ip, user["email"], user["id"], client.user_agent)
        )
        return user

    # password reset
    def request_reset(self, email: str, client: Client, reset_path: str) -> LimitState:
        """Email a single-use reset code if the account exists; the answer is the same either way."""
        now = self._clock.now()
        check = self._counters.hit(RESET_LIMIT, client.ip, now)
        if not check.allowed:
            raise RateLimitedError(
                "Too many reset requests; try again later", retry_after=check.retry_after, state=check.state
            )
        user = self._users.by_email(email)
        self._log.record(
            SecurityEvent(
                "password_reset_request",
                "medium",
                user is not None,
                client.ip,
                email.strip().lower(),
                user["id"] if user else None,
                client.user_agent,
            )
        )
        if user is None or not user.get("is_active"):
            return check.state
        token = secrets.token_urlsafe(32)
        self._counters.put(
            f"RESET#{_digest(token)}", "TOKEN", {"user_id": str(user["id"])}, expires=epoch(now) + RESET_TOKEN_SECONDS
        )
        try:
            self._mailer.send(
                user["email"],
                "password_reset",
                name=user.get("full_name") or user["email"],
                email=user["email"],
                ip=client.ip,
                when=iso(now),
                token=token,
                reset_path=reset_path,
                valid_minutes=RESET_TOKEN_SECONDS // 60,
            )
        except DependencyError as exc:
            get_logger().warning("reset email not sent", user_id=user["id"], error=exc.message)
        return check.state

    def reset_password(self, token: str, password: str, client: Client) -> dict[str, Any]:
        """Use a reset code once to set a new password."""
        # Taking the item deletes it atomically: of two concurrent uses of one code, only one gets it.
        item = self._counters.take(f"RESET#{_digest(token)}", "TOKEN")
        if item is None or int(item.get("ttl", 0)) <= epoch(self._clock.now()):
            raise InvalidInputError("The reset code is invalid or has expired")
        return self._users.set_password(item["user_id"], password, ip=client.ip)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()
