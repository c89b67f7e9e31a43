"""API keys (seed 003's tokens): created by admins, shown once, stored as a hash, scoped, revocable.

A key reads `vgl_<id>_<secret>`: the id finds the record with one read, and the secret is compared with the
stored SHA-256 in constant time. The secret has 256 bits of entropy, so a fast hash is enough (slow hashes are
for low-entropy passwords). Use is recorded at most once a minute per key, so reading keys stays cheap.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta
from typing import Any

from chalicelib.auth.permissions import SCOPES, scope_permissions
from chalicelib.auth.principal import Principal
from chalicelib.auth.security_log import SecurityEvent, SecurityLog
from chalicelib.auth.store import IdentityStore
from chalicelib.core.clock import Clock, iso, parse_time
from chalicelib.core.errors import AuthenticationError, FieldProblem, NotFoundError, ValidationFailedError

PREFIX = "vgl_"
TOUCH_INTERVAL = timedelta(seconds=60)
PUBLIC_FIELDS = (
    "id",
    "name",
    "scopes",
    "sensor",
    "prefix",
    "created_at",
    "created_by",
    "expires_at",
    "last_used_at",
    "revoked_at",
)


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def public(key: dict[str, Any]) -> dict[str, Any]:
    view = {name: key.get(name) for name in PUBLIC_FIELDS}
    view["scopes"] = list(key.get("scopes") or [])
    view["active"] = key.get("revoked_at") is None
    return view


def looks_like_key(token: str) -> bool:
    return token.startswith(PREFIX) and token.count("_") >= 2


class ApiKeys:
    def __init__(self, store: IdentityStore, log: SecurityLog, clock: Clock) -> None:
        self._store = store
        self._log = log
        self._clock = clock

    def create(
        self,
        name: str,
        scopes: list[str],
        *,
        created_by: int | str,
        expires_at: datetime | None = None,
        sensor: str | None = None,
        ip: str | None = None,
    ) -> tuple[dict[str, Any], str]:
        """Create a key; returns its public view and the key text, which is never available again."""
        unknown = [s for s in scopes if s not in SCOPES]
        problems = [FieldProblem("scopes", f"Unknown scope {s!r}; use {', '.join(SCOPES)}") for s in unknown]
        if not scopes:
            problems.append(FieldProblem("scopes", "At least one scope is required"))
        now = self._clock.now()
        if expires_at is not None and expires_at <= now:
            problems.append(FieldProblem("expires_at", "Expiry must be in the future"))
        if problems:
            raise ValidationFailedError(problems)
        key_id = secrets.token_hex(8)
        secret = secrets.token_urlsafe(32)
        record = {
            "id": key_id,
            "name": name,
            "scopes": sorted(set(scopes)),
            "sensor": sensor,
            "prefix": f"{PREFIX}{key_id}",
            "hash": _digest(secret),
            "created_at": iso(now),
            "created_by": str(created_by),
            "expires_at": iso(expires_at) if expires_at else None,
        }
        self._store.put_api_key(record)
        self._log.record(
            SecurityEvent(
                "api_key_created",
                "medium",
                True,
                ip_address=ip,
                user_id=created_by,
                details={"key_id": key_id, "name": name, "scopes": record["scopes"]},
            )
        )
        return public(record), f"{PREFIX}{key_id}_{secret}"

    def list(self) -> list[dict[str, Any]]:
        return [public(k) for k in sorted(self._store.list_api_keys(), key=lambda k: k["created_at"])]

    def revoke(self, key_id: str, *, revoked_by: int | str, ip: str | None = None) -> dict[str, Any]:
        if self._store.get_api_key(key_id) is None:
            raise NotFoundError(f"API key {key_id} not found")
        record = self._store.revoke_api_key(key_id, iso(self._clock.now()) or "")
        self._log.record(
            SecurityEvent(
                "api_key_revoked", "medium", True, ip_address=ip, user_id=revoked_by, details={"key_id": key_id}
            )
        )
        return public(record)

    def authenticate(self, token: str) -> Principal:
        """The principal of a key, or `AuthenticationError` for unknown, wrong, expired or revoked keys."""
        key_id, _, secret = token.removeprefix(PREFIX).partition("_")
        record = self._store.get_api_key(key_id) if key_id and secret else None
        if record is None or not hmac.compare_digest(record["hash"], _digest(secret)):
            raise AuthenticationError("Invalid API key")
        now = self._clock.now()
        if record.get("revoked_at"):
            raise AuthenticationError("API key revoked")
        if record.get("expires_at") and parse_time(record["expires_at"]) <= now:
            raise AuthenticationError("API key expired")
        self._store.touch_api_key(key_id, iso(now) or "", iso(now - TOUCH_INTERVAL) or "")
        return Principal(
            kind="api_key",
            id=key_id,
            name=record["name"],
            roles=(),
            permissions=scope_permissions(record["scopes"]),
            sensor=record.get("sensor"),
        )
