"""Turn presented credentials into a `Principal`: a user's JWT or an API key.

A JWT is accepted only if it verifies (algorithm, signature, issuer, audience, expiry), its `jti` is not
revoked, its user exists and is active, and it was issued after the user's last password change or
deactivation. The user and the revocation are read in one request. An expired token is recorded in the
security log as `session_expired`.
"""

from __future__ import annotations

from collections.abc import Callable

from chalicelib.auth import tokens
from chalicelib.auth.apikeys import ApiKeys, looks_like_key
from chalicelib.auth.principal import Credentials, Principal
from chalicelib.auth.roles import Roles
from chalicelib.auth.security_log import SecurityEvent, SecurityLog
from chalicelib.auth.store import IdentityStore
from chalicelib.core.clock import Clock
from chalicelib.core.errors import AuthenticationError, TokenExpiredError


class Authenticator:
    def __init__(
        self,
        store: IdentityStore,
        roles: Roles,
        api_keys: ApiKeys,
        log: SecurityLog,
        token_policy: Callable[[], tokens.TokenPolicy],
        clock: Clock,
    ) -> None:
        self._store = store
        self._roles = roles
        self._api_keys = api_keys
        self._log = log
        self._policy = token_policy
        self._clock = clock

    def authenticate(self, credentials: Credentials, ip: str | None = None, user_agent: str | None = None) -> Principal:
        token = credentials.token
        if looks_like_key(token):
            return self._api_keys.authenticate(token)
        if not tokens.looks_like_jwt(token):
            raise AuthenticationError("Invalid credentials")
        try:
            verified = tokens.verify(token, self._policy(), self._clock.now())
        except TokenExpiredError:
            self._log.record(SecurityEvent("session_expired", "low", False, ip, user_agent=user_agent))
            raise
        user, revoked = self._store.user_and_revocation(verified.subject, verified.jti)
        if revoked:
            raise AuthenticationError("Token revoked")
        if user is None or not user.get("is_active"):
            raise AuthenticationError("Account disabled or deleted")
        # Strictly after: a token from the very millisecond of a password change or deactivation is refused.
        if verified.issued_at_ms <= int(user.get("tokens_valid_after_ms", 0)):
            raise AuthenticationError("Token issued before the last password change; sign in again")
        roles = tuple(user.get("roles") or ())
        return Principal(
            kind="user",
            id=str(user["id"]),
            name=user["email"],
            roles=roles,
            permissions=self._roles.permissions_of(roles),
            token_id=verified.jti,
            token_expires=verified.expires_at,
        )
