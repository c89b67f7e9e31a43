"""Password hashing (argon2id) and the password policy.

The cost is set so one verification takes about 100 ms on this platform (measured in docs/BENCHMARKS.md):
slow enough to make offline guessing expensive, fast enough for a login. Hashes carry their parameters, so
raising the cost later re-hashes each password at its owner's next login (`needs_rehash`).
"""

from __future__ import annotations

from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from chalicelib.core.errors import FieldProblem, ValidationFailedError

TIME_COST = 2
MEMORY_COST_KIB = 65_536
PARALLELISM = 1
MIN_LENGTH = 12
MAX_LENGTH = 256  # argon2 accepts more, but a megabyte "password" is a denial-of-service attempt


@lru_cache(maxsize=1)
def _hasher() -> PasswordHasher:
    return PasswordHasher(time_cost=TIME_COST, memory_cost=MEMORY_COST_KIB, parallelism=PARALLELISM)


def hash_password(password: str) -> str:
    return _hasher().hash(password)


def verify_password(stored_hash: str, password: str) -> bool:
    """True when `password` matches; any malformed hash is a mismatch, never an error."""
    try:
        return _hasher().verify(stored_hash, password[:MAX_LENGTH])
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str) -> bool:
    return _hasher().check_needs_rehash(stored_hash)


def check_policy(password: str, email: str, field: str = "password") -> None:
    """At least 12 characters, at most 256, not the email or its local part."""
    problems = []
    if len(password) < MIN_LENGTH:
        problems.append(f"must be at least {MIN_LENGTH} characters")
    if len(password) > MAX_LENGTH:
        problems.append(f"must be at most {MAX_LENGTH} characters")
    lowered = password.strip().lower()
    local = email.split("@", 1)[0].lower()
    if lowered in {email.lower(), local}:
        problems.append("must not be the email address")
    if len(set(password)) < 4:
        problems.append("must use at least 4 different characters")
    if problems:
        raise ValidationFailedError([FieldProblem(field, "Password " + p) for p in problems])


# A hash of a random password, verified when an email is unknown so that a login for a missing account takes
# as long as one for an existing account (no user enumeration by timing).
@lru_cache(maxsize=1)
def decoy_hash() -> str:
    import secrets  # noqa: PLC0415

    return hash_password(secrets.token_urlsafe(24))
