"""JSON Web Tokens for users: issued at login, verified on every request, revocable by `jti`.

The algorithm is pinned (HS256): a token that names another algorithm (`none` included) is refused before its
signature is even considered. Issuer, audience, expiry, issue time and id are required claims.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from chalicelib.core.clock import epoch
from chalicelib.core.errors import AuthenticationError, TokenExpiredError

ALGORITHM = "HS256"
REQUIRED_CLAIMS = ["exp", "iat", "iss", "aud", "sub", "jti"]


@dataclass(frozen=True)
class TokenPolicy:
    secret: str
    issuer: str
    audience: str
    ttl_seconds: int


@dataclass(frozen=True)
class IssuedToken:
    token: str
    jti: str
    expires_in: int
    expires_at: int


@dataclass(frozen=True)
class VerifiedToken:
    subject: str
    jti: str
    expires_at: int
    issued_at_ms: int


def issue(subject: str, policy: TokenPolicy, now: datetime, extra: dict[str, Any] | None = None) -> IssuedToken:
    """Sign a token for `subject` valid for the policy's lifetime from `now`."""
    jti = secrets.token_hex(16)
    expires = now + timedelta(seconds=policy.ttl_seconds)
    claims = {
        "sub": subject,
        "iss": policy.issuer,
        "aud": policy.audience,
        "iat": epoch(now),
        "nbf": epoch(now),
        "exp": epoch(expires),
        "jti": jti,
        # Milliseconds, so a token issued just after a password change is told apart from one just before.
        "iat_ms": int(now.timestamp() * 1000),
        **(extra or {}),
    }
    import jwt  # noqa: PLC0415 - PyJWT pulls in cryptography; only token routes pay for it

    token = jwt.encode(claims, policy.secret, algorithm=ALGORITHM)
    return IssuedToken(token, jti, policy.ttl_seconds, epoch(expires))


def looks_like_jwt(token: str) -> bool:
    return token.count(".") == 2 and token.startswith("ey")


def verify(token: str, policy: TokenPolicy, now: datetime) -> VerifiedToken:
    """Check signature, algorithm and claims against `now`; any failure is an `AuthenticationError`."""
    import jwt  # noqa: PLC0415

    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as exc:
        raise AuthenticationError("Malformed token") from exc
    if header.get("alg") != ALGORITHM:
        raise AuthenticationError("Token algorithm not accepted")
    try:
        claims = jwt.decode(
            token,
            policy.secret,
            algorithms=[ALGORITHM],
            audience=policy.audience,
            issuer=policy.issuer,
            options={
                "require": REQUIRED_CLAIMS,
                "verify_exp": False,
                "verify_iat": False,
                "verify_nbf": False,
            },
        )
    except jwt.PyJWTError as exc:
        raise AuthenticationError("Invalid token") from exc
    # Time is checked against the injected clock, not PyJWT's wall clock, so tests can drive expiry.
    if int(claims["exp"]) <= epoch(now):
        raise TokenExpiredError("Token expired")
    if int(claims.get("nbf", claims["iat"])) > epoch(now) + 30:
        raise AuthenticationError("Token not valid yet")
    issued_ms = int(claims.get("iat_ms", int(claims["iat"]) * 1000))
    return VerifiedToken(str(claims["sub"]), str(claims["jti"]), int(claims["exp"]), issued_ms)
