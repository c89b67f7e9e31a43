"""Every error type has an HTTP status, and each contract renders failures in its own shape."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from chalicelib.api import contracts
from chalicelib.core import errors as e


def all_error_types(root: type = e.VigilError) -> set[type]:
    found = {root}
    for sub in root.__subclasses__():
        found |= all_error_types(sub)
    return found


def test_every_error_type_is_mapped_explicitly() -> None:
    assert all_error_types() <= set(contracts.STATUS), all_error_types() - set(contracts.STATUS)


@pytest.mark.parametrize(
    ("exc", "status"),
    [
        (e.InvalidInputError("x"), 400),
        (e.AuthenticationError("x"), 401),
        (e.IpBannedError("x"), 403),
        (e.NotFoundError("x"), 404),
        (e.WhitelistedError("x"), 409),
        (e.AccountLockedError("x", retry_after=60), 423),
        (e.RateLimitedError("x", retry_after=5, state=e.LimitState(5, 0, 100)), 429),
        (e.DependencyError("x"), 503),
    ],
)
def test_statuses(exc: e.VigilError, status: int) -> None:
    for contract in contracts.CONTRACTS:
        if contract is contracts.CROWDSEC and isinstance(exc, e.AuthenticationError):
            assert contract.status_of(exc) == 403, "the CrowdSec LAPI answers bouncers 403, never 401"
            continue
        assert contract.status_of(exc) == status


def test_field_validation_is_400_in_v1_and_422_in_seed_004() -> None:
    exc = e.ValidationFailedError([e.FieldProblem("email", "Invalid email format")])
    assert contracts.V1.status_of(exc) == 400
    assert contracts.CORE.status_of(exc) == 422
    body = contracts.CORE.failure(exc, request_id="req_1", now=datetime(2026, 1, 1, tzinfo=UTC))
    assert body["error"]["details"] == [{"field": "email", "message": "Invalid email format"}]
    assert body["error"]["timestamp"] == "2026-01-01T00:00:00Z"


def test_failure_shapes_per_contract() -> None:
    exc = e.NotFoundError("IP not found in blocked list")
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert contracts.V1.failure(exc, request_id="r", now=now)["error"]["code"] == "NOT_FOUND"
    assert contracts.DETECTOR.failure(exc, request_id="r", now=now)["error"] == "IP not found in blocked list"
    assert contracts.DETECTOR.failure(exc, request_id="r", now=now)["success"] is False
    assert contracts.IOC.failure(exc, request_id="r", now=now)["status"] == "error"


def test_rate_limit_errors_carry_their_headers() -> None:
    exc = e.RateLimitedError("slow down", retry_after=42, state=e.LimitState(5, 0, 1_800_000_000))
    headers = contracts.error_headers(exc)
    assert headers == {
        "Retry-After": "42",
        "X-RateLimit-Limit": "5",
        "X-RateLimit-Remaining": "0",
        "X-RateLimit-Reset": "1800000000",
    }


@pytest.mark.parametrize(
    ("path", "contract"),
    [
        ("/api/v1/bans", contracts.V1),
        ("/api/admin/x", contracts.ADMIN),
        ("/api/estado/1.2.3.4", contracts.IOC),
        ("/admin/users", contracts.CORE),
        ("/api/auth/login", contracts.ADMIN),
    ],
)
def test_unmatched_paths_pick_the_contract_of_their_seed(path: str, contract: contracts.Contract) -> None:
    assert contracts.contract_for_path(path) is contract
