"""The wiring: settings, clock, AWS clients, stores and services, built lazily once per container.

This is the one module that knows which concrete store backs which service (cosmicpython's bootstrap).
Handlers ask `get_container()` for a service; tests build a `Container` over moto-backed clients and a
`FixedClock` and install it with `set_container()`. Nothing is created at import, so a cold start pays only
for what the first request uses.
"""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING

from chalicelib.core.aws import AwsClients
from chalicelib.core.clock import Clock, SystemClock
from chalicelib.core.errors import ConfigurationError
from chalicelib.core.settings import Settings, get_settings

if TYPE_CHECKING:
    from chalicelib.api.routing import RequestInfo
    from chalicelib.auth.apikeys import ApiKeys
    from chalicelib.auth.authenticator import Authenticator
    from chalicelib.auth.guard import EdgeGuard
    from chalicelib.auth.principal import Credentials, Principal
    from chalicelib.auth.roles import Roles
    from chalicelib.auth.security_log import SecurityLog
    from chalicelib.auth.sessions import Sessions
    from chalicelib.auth.store import IdentityStore
    from chalicelib.auth.tokens import TokenPolicy
    from chalicelib.auth.users import Users
    from chalicelib.core.counters import CounterStore
    from chalicelib.core.dynamo import DynamoTable
    from chalicelib.core.idempotency import Idempotency
    from chalicelib.decisions.ioc import IocManager
    from chalicelib.decisions.queries import DecisionQueries
    from chalicelib.decisions.service import Decisions
    from chalicelib.decisions.whitelist import Whitelist
    from chalicelib.ops.mailer import Mailer
    from chalicelib.ops.probes import DependencyProbes

# ruff: noqa: PLC0415 - every import below is deferred to first use, to keep cold starts short


class Container:
    """Everything a handler needs, created on first use."""

    def __init__(self, settings: Settings, clock: Clock | None = None, aws: AwsClients | None = None) -> None:
        self.settings = settings
        self.clock: Clock = clock or SystemClock()
        self.aws = aws or AwsClients(settings.region, settings.endpoint_url, settings.localstack_host)
        self.started_monotonic = time.monotonic()

    def uptime_seconds(self) -> int:
        return int(time.monotonic() - self.started_monotonic)

    def table(self, logical: str) -> DynamoTable:
        from chalicelib.core.dynamo import DynamoTable

        return DynamoTable(self.aws.client("dynamodb"), self.settings.tables[logical])

    # platform
    @cached_property
    def probes(self) -> DependencyProbes:
        from chalicelib.ops.probes import DependencyProbes

        return DependencyProbes(self.aws, self.settings)

    @cached_property
    def counters(self) -> CounterStore:
        from chalicelib.core.counters import CounterStore

        return CounterStore(self.table("counters"))

    @cached_property
    def mailer(self) -> Mailer:
        from chalicelib.ops.mailer import Mailer

        return Mailer(self.aws.client("ses"), self.settings.mail_sender)

    def active_sensor_count(self) -> int:
        """Sensors that reported recently (seed 002's `active_vms`)."""
        return 0  # FIXME(issue 6): count from the sensor registry

    # identity
    @cached_property
    def identity_store(self) -> IdentityStore:
        from chalicelib.auth.store import IdentityStore

        return IdentityStore(self.table("entities"))

    @cached_property
    def security_log(self) -> SecurityLog:
        from chalicelib.auth.security_log import SecurityLog

        return SecurityLog(self.table("entities"), self.clock)

    @cached_property
    def roles(self) -> Roles:
        from chalicelib.auth.roles import Roles

        return Roles(self.identity_store, self.clock)

    @cached_property
    def users(self) -> Users:
        from chalicelib.auth.passwords import PasswordHashing
        from chalicelib.auth.users import Users

        hashing = PasswordHashing(self.settings.password_time_cost, self.settings.password_memory_kib)
        return Users(self.identity_store, self.roles, self.security_log, self.mailer, self.clock, hashing)

    @cached_property
    def api_keys(self) -> ApiKeys:
        from chalicelib.auth.apikeys import ApiKeys

        return ApiKeys(self.identity_store, self.security_log, self.clock)

    @cached_property
    def sessions(self) -> Sessions:
        from chalicelib.auth.sessions import Sessions

        return Sessions(
            self.users,
            self.counters,
            self.security_log,
            self.mailer,
            self.decisions,
            self.token_policy(),
            self.clock,
            self_registration=self.settings.self_registration,
        )

    @cached_property
    def authenticator(self) -> Authenticator:
        from chalicelib.auth.authenticator import Authenticator

        return Authenticator(
            self.identity_store, self.roles, self.api_keys, self.security_log, self.token_policy, self.clock
        )

    @cached_property
    def edge_guard(self) -> EdgeGuard:
        from chalicelib.auth.guard import EdgeGuard

        return EdgeGuard(self.decisions, self.counters, self.settings.api_rate_limit_per_minute, self.clock)

    def token_policy(self) -> TokenPolicy:
        from chalicelib.auth.tokens import TokenPolicy

        return TokenPolicy(
            self._jwt_secret, self.settings.jwt_issuer, self.settings.jwt_audience, self.settings.jwt_ttl_seconds
        )

    @cached_property
    def _jwt_secret(self) -> str:
        """From the environment locally; from Secrets Manager (through Powertools, cached) in AWS."""
        if self.settings.jwt_secret is not None:
            return self.settings.jwt_secret.get_secret_value()
        if self.settings.jwt_secret_parameter:
            from aws_lambda_powertools.utilities import parameters

            provider = parameters.SecretsProvider(boto3_client=self.aws.client("secretsmanager"))
            return str(provider.get(self.settings.jwt_secret_parameter, max_age=300))
        raise ConfigurationError("VIGIL_JWT_SECRET or VIGIL_JWT_SECRET_PARAMETER must be set to sign tokens")

    def authenticate(self, credentials: Credentials, request: RequestInfo) -> Principal:
        """Turn presented credentials into a `Principal` (JWT or API key)."""
        return self.authenticator.authenticate(credentials, request.source_ip, request.user_agent)

    @cached_property
    def idempotency(self) -> Idempotency:
        from chalicelib.core.idempotency import Idempotency

        return Idempotency(self.settings.idempotency_table, self.aws.client("dynamodb"))

    # decisions
    @cached_property
    def decision_queries(self) -> DecisionQueries:
        from chalicelib.decisions.queries import DecisionQueries

        return DecisionQueries(self.decisions.store, self.decisions.live, self.clock)

    @cached_property
    def whitelist(self) -> Whitelist:
        from chalicelib.decisions.whitelist import Whitelist

        return Whitelist(self.decisions, self.clock)

    @cached_property
    def iocs(self) -> IocManager:
        from chalicelib.decisions.ioc import IocManager

        return IocManager(self.decisions, self.decision_queries, self.decisions.store, self.clock)

    @cached_property
    def decisions(self) -> Decisions:
        from chalicelib.decisions import addresses
        from chalicelib.decisions.live import LiveIndex
        from chalicelib.decisions.service import DecisionPolicy, Decisions
        from chalicelib.decisions.store import DecisionStore
        from chalicelib.decisions.stream import ChangePublisher

        store = DecisionStore(self.table("decisions"), timedelta(days=self.settings.recidivism_memory_days))
        policy = DecisionPolicy(
            safety=addresses.SafetyPolicy(self.settings.max_prefix_v4, self.settings.max_prefix_v6),
            default_ban_seconds=self.settings.default_ban_seconds,
            recidivism_factor=self.settings.recidivism_factor,
            recidivism_max_seconds=self.settings.recidivism_max_seconds,
        )
        return Decisions(
            store,
            LiveIndex(store, self.clock, self.settings.index_staleness_seconds),
            ChangePublisher(self.aws.client("sqs"), self.settings.decisions_queue),
            self.clock,
            policy,
        )


_lock = threading.Lock()
_current: dict[str, Container] = {}


def get_container() -> Container:
    """The container of this process, built from the environment on first use."""
    found = _current.get("c")
    if found is not None:
        return found
    with _lock:
        if "c" not in _current:
            _current["c"] = Container(get_settings())
        return _current["c"]


def set_container(container: Container | None) -> None:
    """Install a container (tests, the local platform); `None` forgets it so the next use rebuilds."""
    with _lock:
        _current.pop("c", None)
        if container is not None:
            _current["c"] = container
