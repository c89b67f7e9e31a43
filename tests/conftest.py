"""Shared fixtures: a moto-backed platform, a fixed clock, the wired container and an API client.

Every fixture is function-scoped so no state leaks between tests; AWS credentials are fake and set with
`monkeypatch`, so nothing can reach a real account.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest
from moto import mock_aws

from chalicelib.core.aws import AwsClients
from chalicelib.core.clock import FixedClock
from chalicelib.core.deps import Container, set_container
from chalicelib.core.settings import Settings
from devstack import moto_patches
from devstack.bootstrap import create_all
from tests.support.client import ApiClient

moto_patches.apply()
sys.setrecursionlimit(20_000)  # moto parses detection's long update expressions recursively


@pytest.fixture(autouse=True)
def _fake_aws_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_ENDPOINT_URL", "LOCALSTACK_HOST", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "VigilTest")


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock("2026-11-24T10:00:00+00:00")


@pytest.fixture
def settings() -> Settings:
    # A cheap password hash keeps tests fast; the production cost is measured in docs/BENCHMARKS.md.
    return Settings(
        jwt_secret="test-secret-that-is-long-enough-for-hs256-0123456789",
        password_time_cost=1,
        password_memory_kib=8_192,
    )


@pytest.fixture
def aws(settings: Settings) -> Iterator[AwsClients]:
    """Moto in-process with every table, bucket and queue of infra/resources.py."""
    with mock_aws():
        clients = AwsClients(settings.region)
        create_all(clients, settings)
        yield clients


@pytest.fixture
def container(settings: Settings, clock: FixedClock, aws: AwsClients) -> Iterator[Container]:
    c = Container(settings, clock=clock, aws=aws)
    set_container(c)
    yield c
    set_container(None)


@pytest.fixture
def api(container: Container) -> ApiClient:
    import app  # noqa: PLC0415 - imported once the environment is fake

    return ApiClient(app.app)


@pytest.fixture
def admin(container: Container) -> dict:
    from tests.support.identity import make_user  # noqa: PLC0415

    return make_user(container, "admin", email="admin@example.com")


@pytest.fixture
def admin_api(api: ApiClient, container: Container, admin: dict) -> ApiClient:
    """A second API client, carrying an admin's token (the plain `api` client stays anonymous)."""
    import app  # noqa: PLC0415
    from tests.support.identity import token_for  # noqa: PLC0415

    client = ApiClient(app.app)
    client.token = token_for(container, admin)
    return client
