"""Password hashing (argon2id) and the password policy.

The default cost (time 1, 64 MiB: above OWASP's argon2id minimum of 46 MiB at time 1) makes one verification
take 50–150 ms here (docs/BENCHMARKS.md): slow enough to make offline guessing expensive, fast enough for a
login. Memory is the cost that hurts GPU guessing, so it is kept high and the passes low. Hashes carry their
parameters, so changing the cost re-hashes each password at its owner's next login (`needs_rehash`).
"""

from __future__ import annotations

import secrets
from functools import cached_property

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from chalicelib.core.errors import FieldProblem, ValidationFailedError

MIN_LENGTH = 12
MAX_LENGTH = 256  # argon2 accepts more, but a megabyte "password" is a denial-of-service attempt


class PasswordHashing:
    def __init__(self, time_cost: int = 1, memory_kib: int = 65_536, parallelism: int = 1) -> None:
        self._hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism)

    def hash(self, password: str) -> str:
        return self._hasher.hash(password)

    def verify(self, stored_hash: str, password: str) -> bool:
        """True when `password` matches; any malformed hash is a mismatch, never an error."""
        try:
            return self._hasher.verify(stored_hash, password[:MAX_LENGTH])
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, stored_hash: str) -> bool:
        return self._hasher.check_needs_rehash(stored_hash)

    @cached_property
    def decoy(self) -> str:
        """A hash of a random password, verified when an email is unknown so a login for a missing account
        takes as long as one for an existing account (no user enumeration by timing)."""
        return self.hash(secrets.token_urlsafe(24))


def check_policy(password: str, email: str, field: str = "password") -> None:
    """At least 12 characters, at most 256, 4 distinct characters, not the email or its local part."""
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
