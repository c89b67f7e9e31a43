"""Users: creation, changes, activation, roles, passwords, and the paged listing of seed 004.

A user record never leaves this module with its password hash: `public()` is the only view handed out.
Passwords are checked against the policy and hashed here; a password change or reset moves
`tokens_valid_after`, so every token issued before it stops working at once.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from chalicelib.auth import passwords
from chalicelib.auth.passwords import PasswordHashing
from chalicelib.auth.permissions import BUILTIN_ROLE_NAMES
from chalicelib.auth.principal import Actor
from chalicelib.auth.roles import Roles
from chalicelib.auth.security_log import SecurityEvent, SecurityLog
from chalicelib.auth.store import IdentityStore
from chalicelib.core.clock import Clock, iso
from chalicelib.core.errors import ConflictError, DependencyError, FieldProblem, NotFoundError, ValidationFailedError
from chalicelib.core.observability import get_logger
from chalicelib.ops.mailer import Mailer

PUBLIC_FIELDS = ("id", "email", "full_name", "roles", "is_active", "last_login", "created_at", "updated_at")
SORTABLE = ("id", "email", "full_name", "created_at", "last_login", "is_active")


def public(user: dict[str, Any]) -> dict[str, Any]:
    """The user as callers may see it."""
    view = {name: user.get(name) for name in PUBLIC_FIELDS}
    view["roles"] = list(user.get("roles") or [])
    view["is_active"] = bool(user.get("is_active"))
    return view


def _ms(when: datetime) -> int:
    return int(when.timestamp() * 1000)


def _sort_value(value: Any) -> tuple[int, int, str]:
    """A key that orders numbers, booleans and text alike, with missing values last."""
    if isinstance(value, (bool, int)):
        return (0, int(value), "")
    return (value is None, 0, str(value or "").lower())


def normalise_email(email: str) -> str:
    value = email.strip()
    local, at, domain = value.rpartition("@")
    if not at or not local or "." not in domain or " " in value or len(value) > 254:
        raise ValidationFailedError([FieldProblem("email", "Invalid email format")])
    return f"{local}@{domain.lower()}"


class Users:
    def __init__(
        self,
        store: IdentityStore,
        roles: Roles,
        log: SecurityLog,
        mailer: Mailer,
        clock: Clock,
        hashing: PasswordHashing,
    ) -> None:
        self.hashing = hashing
        self._builtins_checked = False
        self._store = store
        self._roles = roles
        self._log = log
        self._mailer = mailer
        self._clock = clock

    def create(
        self,
        email: str,
        password: str,
        full_name: str = "",
        roles: list[str] | None = None,
        *,
        is_active: bool = True,
        actor: Actor | None = None,
    ) -> dict[str, Any]:
        email = normalise_email(email)
        passwords.check_policy(password, email)
        role_names = self._known_roles(roles or ["viewer"])
        now = iso(self._clock.now())
        user = {
            "id": self._store.next_id("user"),
            "email": email,
            "email_lower": email.lower(),
            "full_name": full_name,
            "roles": role_names,
            "is_active": is_active,
            "password_hash": self.hashing.hash(password),
            "tokens_valid_after_ms": 0,
            "created_at": now,
            "updated_at": now,
            "version": 1,
        }
        self._store.create_user(user)
        self._record("user_created", user, actor, {"roles": role_names})
        return public(user)

    def get(self, user_id: int | str) -> dict[str, Any]:
        return public(self._get(user_id))

    def record(self, user_id: int | str) -> dict[str, Any] | None:
        """The full record (with hash) for the login and token checks of this package."""
        return self._store.get_user(user_id)

    def by_email(self, email: str) -> dict[str, Any] | None:
        return self._store.get_user_by_email(email.strip())

    def list(
        self,
        *,
        search: str | None = None,
        is_active: bool | None = None,
        sort_by: str = "id",
        sort_order: str = "asc",
    ) -> list[dict[str, Any]]:
        users = [public(u) for u in self._store.list_users()]
        if search:
            needle = search.lower()
            users = [u for u in users if needle in u["email"].lower() or needle in (u["full_name"] or "").lower()]
        if is_active is not None:
            users = [u for u in users if u["is_active"] is is_active]
        if sort_by not in SORTABLE:
            raise ValidationFailedError([FieldProblem("sort_by", f"Sort by one of {', '.join(SORTABLE)}")])
        users.sort(key=lambda u: _sort_value(u[sort_by]), reverse=sort_order == "desc")
        return users

    def update(self, user_id: int | str, changes: dict[str, Any], *, actor: Actor | None = None) -> dict[str, Any]:
        """Change email, full name, roles or active flag (passwords go through `set_password`)."""
        user = self._get(user_id)
        version = int(user.get("version", 1))
        old_email = user["email_lower"]
        if "roles" in changes and changes["roles"] is not None:
            user["roles"] = self._known_roles(changes["roles"])
        if changes.get("full_name") is not None:
            user["full_name"] = changes["full_name"]
        if changes.get("is_active") is not None:
            self._set_active(user, bool(changes["is_active"]))
        user["updated_at"] = iso(self._clock.now())
        if changes.get("email") and normalise_email(changes["email"]).lower() != old_email:
            user["email"] = normalise_email(changes["email"])
            user["email_lower"] = user["email"].lower()
            saved = self._store.change_email(user, old_email, expected_version=version)
        else:
            saved = self._store.save_user(user, expected_version=version)
        self._record("user_updated", saved, actor, {"fields": sorted(k for k, v in changes.items() if v is not None)})
        return public(saved)

    def set_active(self, user_id: int | str, active: bool, *, actor: Actor | None = None) -> dict[str, Any]:
        user = self._get(user_id)
        version = int(user.get("version", 1))
        changed = self._set_active(user, active)
        user["updated_at"] = iso(self._clock.now())
        saved = self._store.save_user(user, expected_version=version)
        if changed:
            self._record("user_activated" if active else "user_deactivated", saved, actor, {})
            if not active:
                self._notify(saved, "account_deactivated", when=saved["updated_at"])
        return public(saved)

    def _set_active(self, user: dict[str, Any], active: bool) -> bool:
        changed = bool(user.get("is_active")) != active
        user["is_active"] = active
        if not active:
            # Sessions end with the account: tokens issued before now are refused.
            user["tokens_valid_after_ms"] = _ms(self._clock.now())
        return changed

    def assign_role(self, user_id: int | str, role_id: int, *, actor: Actor | None = None) -> dict[str, Any]:
        role = self._roles.get(role_id)
        user = self._get(user_id)
        if role["name"] not in user["roles"]:
            user = self._save_roles(user, [*user["roles"], role["name"]], actor)
        return public(user)

    def remove_role(self, user_id: int | str, role_id: int, *, actor: Actor | None = None) -> dict[str, Any]:
        role = self._roles.get(role_id)
        user = self._get(user_id)
        if role["name"] not in user["roles"]:
            raise NotFoundError(f"User {user_id} does not hold role {role['name']!r}")
        return public(self._save_roles(user, [r for r in user["roles"] if r != role["name"]], actor))

    def _save_roles(self, user: dict[str, Any], roles: list[str], actor: Actor | None) -> dict[str, Any]:
        version = int(user.get("version", 1))
        user["roles"] = roles
        user["updated_at"] = iso(self._clock.now())
        saved = self._store.save_user(user, expected_version=version)
        self._record("role_changed", saved, actor, {"roles": roles})
        return saved

    def holders_of(self, role_name: str) -> int:
        return sum(1 for u in self._store.list_users() if role_name in (u.get("roles") or []))

    def delete(self, user_id: int | str, *, actor: Actor | None = None) -> None:
        user = self._get(user_id)
        if actor and str(actor.user_id) == str(user["id"]):
            raise ConflictError("You cannot delete your own account")
        self._store.delete_user(user)
        self._record("user_deleted", user, actor, {})

    def set_password(
        self, user_id: int | str, password: str, *, actor: Actor | None = None, ip: str | None = None
    ) -> dict[str, Any]:
        """Replace the password, end every earlier session, and tell the owner by email."""
        user = self._get(user_id)
        passwords.check_policy(password, user["email"])
        version = int(user.get("version", 1))
        now = self._clock.now()
        user["password_hash"] = self.hashing.hash(password)
        user["tokens_valid_after_ms"] = _ms(now)
        user["password_changed_at"] = iso(now)
        user["updated_at"] = iso(now)
        saved = self._store.save_user(user, expected_version=version)
        self._record("password_changed", saved, actor, {})
        self._notify(saved, "password_changed", when=iso(now), ip=ip or (actor.ip if actor else None) or "unknown")
        return public(saved)

    def note_login(self, user: dict[str, Any], password: str) -> dict[str, Any]:
        """Stamp the login time, upgrading the password hash if its cost is out of date."""
        version = int(user.get("version", 1))
        user["last_login"] = iso(self._clock.now())
        if self.hashing.needs_rehash(user["password_hash"]):
            user["password_hash"] = self.hashing.hash(password)
        try:
            return self._store.save_user(user, expected_version=version)
        except ConflictError:
            return user  # changed concurrently; the login stands, the stamp is not worth a retry

    def revoke_token(self, jti: str, expires_epoch: int) -> None:
        """Refuse a token from now until it would have expired anyway."""
        self._store.revoke_token(jti, expires_epoch)

    def _get(self, user_id: int | str) -> dict[str, Any]:
        user = self._store.get_user(user_id)
        if user is None:
            raise NotFoundError(f"User {user_id} not found")
        return user

    def _known_roles(self, names: list[str]) -> list[str]:
        if any(n in BUILTIN_ROLE_NAMES for n in names) and not self._builtins_checked:
            self._roles.ensure_builtins()  # a fresh deployment creates them on first need
            self._builtins_checked = True
        unknown = [n for n in names if self._store.get_role_by_name(n) is None]
        if unknown:
            raise ValidationFailedError([FieldProblem("roles", f"Unknown role {n!r}") for n in unknown])
        return sorted(set(names))

    def _record(self, event_type: str, user: dict[str, Any], actor: Actor | None, details: dict[str, Any]) -> None:
        self._log.record(
            SecurityEvent(
                event_type=event_type,
                risk_level="medium",
                success=True,
                ip_address=actor.ip if actor else None,
                email=user.get("email"),
                user_id=user.get("id"),
                user_agent=actor.user_agent if actor else None,
                details={**details, "by": str(actor.user_id) if actor and actor.user_id is not None else None},
            )
        )

    def _notify(self, user: dict[str, Any], template: str, **values: Any) -> None:
        """Best effort: a notification that SES refuses is logged, never undoes the change it reports."""
        try:
            self._mailer.send(
                user["email"], template, name=user.get("full_name") or user["email"], email=user["email"], **values
            )
        except DependencyError as exc:
            get_logger().warning("notification not sent", template=template, user_id=user["id"], error=exc.message)
