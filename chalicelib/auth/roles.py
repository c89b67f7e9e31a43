"""Roles and permissions: the built-ins, custom ones, and what a set of role names grants.

Role → permission resolution runs on every authenticated request, so resolved roles are cached in the container
for `cache_seconds` (30 s): a change made here clears the cache at once; another container sees it within that
bound. Built-in roles can be given more permissions but not renamed or deleted, and `admin` keeps `*`.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from chalicelib.auth.permissions import BUILTIN_ROLE_NAMES, BUILTIN_ROLES, CATALOGUE, SUPERUSER_SET
from chalicelib.auth.store import IdentityStore
from chalicelib.core.clock import Clock, iso
from chalicelib.core.errors import ConflictError, FieldProblem, InvalidInputError, NotFoundError, ValidationFailedError


class Roles:
    def __init__(self, store: IdentityStore, clock: Clock, cache_seconds: float = 30.0) -> None:
        self._store = store
        self._clock = clock
        self._cache_seconds = cache_seconds
        self._cache: dict[str, tuple[float, frozenset[str] | None]] = {}
        self._lock = threading.Lock()

    # bootstrap
    def ensure_builtins(self) -> None:
        """Create the catalogue's permissions and the built-in roles where missing (idempotent)."""
        existing_permissions = {p["name"] for p in self._store.list_permissions()}
        for definition in CATALOGUE:
            if definition.name not in existing_permissions:
                self._create_permission(definition.name, definition.description)
        for role in BUILTIN_ROLES:
            if self._store.get_role_by_name(role.name) is None:
                try:
                    self.create(role.name, role.description, sorted(role.permissions), builtin=True)
                except ConflictError:
                    continue  # another container created it meanwhile

    # roles
    def create(
        self, name: str, description: str = "", permissions: list[str] | None = None, *, builtin: bool = False
    ) -> dict[str, Any]:
        self._check_permissions(permissions or [])
        role = {
            "id": self._store.next_id("role"),
            "name": name,
            "description": description,
            "permissions": sorted(set(permissions or [])),
            "builtin": builtin,
            "created_at": iso(self._clock.now()),
        }
        self._store.create_role(role)
        self._forget(name)
        return role

    def get(self, role_id: int) -> dict[str, Any]:
        role = self._store.get_role(role_id)
        if role is None:
            raise NotFoundError(f"Role {role_id} not found")
        return role

    def by_name(self, name: str) -> dict[str, Any]:
        role = self._store.get_role_by_name(name)
        if role is None:
            raise NotFoundError(f"Role {name!r} not found")
        return role

    def list(self) -> list[dict[str, Any]]:
        return sorted(self._store.list_roles(), key=lambda r: r["id"])

    def update(
        self, role_id: int, *, name: str | None, description: str | None, permissions: list[str] | None
    ) -> dict[str, Any]:
        role = self.get(role_id)
        old_name = role["name"]
        if role.get("builtin") and name is not None and name != old_name:
            raise ConflictError(f"Built-in role {old_name!r} cannot be renamed")
        if permissions is not None:
            self._check_permissions(permissions)
            if old_name == "admin" and not set(permissions) >= SUPERUSER_SET:
                raise ConflictError("The admin role keeps every permission ('*')")
            role["permissions"] = sorted(set(permissions))
        if name is not None:
            role["name"] = name
        if description is not None:
            role["description"] = description
        role["updated_at"] = iso(self._clock.now())
        self._store.save_role(role, old_name=old_name)
        self._forget(old_name)
        self._forget(role["name"])
        return role

    def delete(self, role_id: int, users_with_role: int) -> None:
        role = self.get(role_id)
        if role.get("builtin") or role["name"] in BUILTIN_ROLE_NAMES:
            raise ConflictError(f"Built-in role {role['name']!r} cannot be deleted")
        if users_with_role:
            raise ConflictError(
                f"Role {role['name']!r} is held by {users_with_role} user(s); remove it from them first"
            )
        self._store.delete_role(role)
        self._forget(role["name"])

    # permissions
    def list_permissions(self) -> list[dict[str, Any]]:
        return sorted(self._store.list_permissions(), key=lambda p: p["id"])

    def create_permission(
        self, name: str, description: str, resource: str | None, action: str | None
    ) -> dict[str, Any]:
        derived_resource, _, derived_action = name.partition(":")
        if (resource and resource != derived_resource) or (action and action != derived_action):
            raise InvalidInputError(f"Permission name {name!r} must be '{resource}:{action}'")
        return self._create_permission(name, description)

    def _create_permission(self, name: str, description: str) -> dict[str, Any]:
        resource, _, action = name.partition(":")
        permission = {
            "id": self._store.next_id("permission"),
            "name": name,
            "description": description,
            "resource": resource,
            "action": action,
            "created_at": iso(self._clock.now()),
        }
        self._store.create_permission(permission)
        return permission

    def _check_permissions(self, names: list[str]) -> None:
        known = {p["name"] for p in self._store.list_permissions()} | SUPERUSER_SET
        wildcard = {f"{n.split(':')[0]}:*" for n in known if ":" in n}
        unknown = [n for n in names if n not in known and n not in wildcard]
        if unknown:
            raise ValidationFailedError([FieldProblem("permissions", f"Unknown permission {n!r}") for n in unknown])

    # resolution
    def permissions_of(self, role_names: list[str] | tuple[str, ...]) -> frozenset[str]:
        """Everything the named roles grant (unknown or deleted roles grant nothing)."""
        granted: set[str] = set()
        for name in role_names:
            granted |= self._resolve(name) or frozenset()
        return frozenset(granted)

    def _resolve(self, name: str) -> frozenset[str] | None:
        now = time.monotonic()
        with self._lock:
            cached = self._cache.get(name)
        if cached and now - cached[0] < self._cache_seconds:
            return cached[1]
        role = self._store.get_role_by_name(name)
        value = frozenset(role["permissions"]) if role else None
        with self._lock:
            self._cache[name] = (now, value)
        return value

    def _forget(self, name: str) -> None:
        with self._lock:
            self._cache.pop(name, None)
