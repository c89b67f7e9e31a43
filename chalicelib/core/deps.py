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
from typing import TYPE_CHECKING, Any

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
    from chalicelib.decisions.pending import PendingBans
    from chalicelib.decisions.queries import DecisionQueries
    from chalicelib.decisions.service import Decisions
    from chalicelib.decisions.whitelist import Whitelist
    from chalicelib.detection.geoblocking import GeoBlocking
    from chalicelib.detection.geozones import GeoZones
    from chalicelib.detection.respond import Responder
    from chalicelib.detection.service import Detection
    from chalicelib.distribution.bouncers import BouncerCursors
    from chalicelib.distribution.connectors import Connectors
    from chalicelib.distribution.feeds.catalog import FeedSpec
    from chalicelib.distribution.feeds.publisher import FeedOptions, FeedPublisher, FeedReader
    from chalicelib.distribution.feeds.store import FeedState, FeedStore
    from chalicelib.distribution.jobs import SyncJobs
    from chalicelib.distribution.push import Pusher
    from chalicelib.distribution.reconcile import Reconciler
    from chalicelib.distribution.status import DeliveryStatus
    from chalicelib.distribution.targets import Targets
    from chalicelib.events.ingest import Ingest
    from chalicelib.events.queries import EventQueries
    from chalicelib.events.retry import RetryQueue
    from chalicelib.events.sensors import Sensors
    from chalicelib.events.stats import StatsStore
    from chalicelib.events.store import EventStore
    from chalicelib.intel.geoip import GeoLocator
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
        return self.sensors.active_count()

    # events
    @cached_property
    def sensors(self) -> Sensors:
        from chalicelib.events.sensors import Sensors

        return Sensors(self.table("entities"), self.clock, self.settings.sensor_active_seconds)

    @cached_property
    def events(self) -> EventStore:
        from chalicelib.events.store import EventStore

        return EventStore(self.table("events"), self.settings.events_retention_days)

    @cached_property
    def stats(self) -> StatsStore:
        from chalicelib.events.stats import StatsStore

        return StatsStore(self.table("counters"))

    @cached_property
    def event_queries(self) -> EventQueries:
        from chalicelib.events.queries import EventQueries

        return EventQueries(self.events, self.stats, self.clock)

    @cached_property
    def ingest(self) -> Ingest:
        from chalicelib.events.archive import Archive
        from chalicelib.events.batches import BatchLedger
        from chalicelib.events.ingest import Ingest

        return Ingest(
            self.events,
            self.stats,
            Archive(self.aws.client("s3"), self.settings.bucket),
            self.sensors,
            BatchLedger(self.table("counters")),
            self.retry_queue,
            self.geoip,
            self.responder,
            self.clock,
            auto_register=self.settings.ingest_auto_register,
            max_events=self.settings.ingest_max_events,
        )

    @cached_property
    def retry_queue(self) -> RetryQueue:
        from chalicelib.events.retry import RetryQueue

        return RetryQueue(
            self.aws.client("sqs"), self.settings.ingest_retry_queue, self.aws.client("s3"), self.settings.bucket
        )

    @cached_property
    def responder(self) -> Responder:
        from chalicelib.detection.respond import Responder

        return Responder(
            self.detection,
            self.decisions,
            self.pending_bans,
            self.events,
            self.geoblocking,
            self.geozones,
            self.clock,
            geo=self.geoip,
        )

    @cached_property
    def detection(self) -> Detection:
        from chalicelib.detection.service import Detection, DetectionConfig
        from chalicelib.detection.window_store import DynamoWindows

        s = self.settings
        windows = DynamoWindows(
            self.table("counters"),
            self.clock,
            shards=s.detection_shards,
            lookback_minutes=s.detection_sweep_lookback_minutes,
            max_clauses=s.detection_update_clauses,
        )
        return Detection(DetectionConfig(self.table("entities"), self.clock), windows, self.clock)

    # distribution
    @cached_property
    def targets(self) -> Targets:
        from functools import partial

        from chalicelib.distribution.outbound import check_url
        from chalicelib.distribution.targets import CredentialStore, Targets

        credentials = CredentialStore(self.aws.client("secretsmanager"), self.settings.target_secret_prefix)
        return Targets(
            self.table("entities"),
            credentials,
            self.clock,
            partial(check_url, allow_loopback=self.settings.targets_allow_loopback),
        )

    @cached_property
    def connector_for(self) -> Connectors:
        """`connector_for(kind)`: the connector of a kind of target, each built once with its dependencies."""
        from chalicelib.distribution.connectors import ConnectorDeps, Connectors

        return Connectors(
            ConnectorDeps(clock=self.clock, aws=self.aws, allow_loopback=self.settings.targets_allow_loopback)
        )

    @cached_property
    def delivery_status(self) -> DeliveryStatus:
        from chalicelib.distribution.status import DeliveryStatus

        return DeliveryStatus(self.table("entities"))

    @cached_property
    def sync_jobs(self) -> SyncJobs:
        from chalicelib.distribution.jobs import SyncJobs

        return SyncJobs(self.table("entities"), self.aws.client("sqs"), self.settings.decisions_queue, self.clock)

    @cached_property
    def bouncer_cursors(self) -> BouncerCursors:
        from chalicelib.distribution.bouncers import BouncerCursors

        return BouncerCursors(self.table("entities"))

    @cached_property
    def reconciler(self) -> Reconciler:
        from chalicelib.distribution.reconcile import Reconciler

        return Reconciler(self.targets, self.decision_queries, self.connector_for, self.delivery_status, self.clock)

    @cached_property
    def pusher(self) -> Pusher:
        from chalicelib.distribution.push import Pusher, QueueControl

        def run_sync(body: dict) -> None:
            self.sync_jobs.finish(body["job"], self.reconciler.reconcile(body.get("targets") or None))

        return Pusher(
            self.targets,
            self.connector_for,
            self.delivery_status,
            self.clock,
            QueueControl(self.aws.client("sqs"), self.settings.decisions_queue),
            on_changes=self.feeds_changed,
            on_sync=run_sync,
            on_alerts=lambda alerts: self.events.put_alerts(alerts, self.clock.now()),
        )

    def feeds_changed(self) -> None:
        """The change stream moved: publish the feeds now unless one was published within the debounce (then the
        minute schedule does it). A failing S3 must not hold back firewall pushes: the feeds stay marked dirty
        and the schedule retries."""
        from chalicelib.core.errors import DependencyError
        from chalicelib.core.observability import get_logger

        try:
            self.feed_publisher.request_publish()
        except DependencyError as exc:
            get_logger().warning("feed publish deferred", error=exc.message)

    def queue_depth(self) -> dict[str, int]:
        """Messages waiting on the decisions queue and its dead-letter queue (what is still to be pushed)."""
        sqs = self.aws.client("sqs")
        depth = {}
        for name in (self.settings.decisions_queue, f"{self.settings.decisions_queue}-dlq"):
            url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
            attributes = sqs.get_queue_attributes(
                QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
            )["Attributes"]
            depth[name] = int(attributes["ApproximateNumberOfMessages"]) + int(
                attributes["ApproximateNumberOfMessagesNotVisible"]
            )
        return depth

    @cached_property
    def pending_bans(self) -> PendingBans:
        from chalicelib.decisions.pending import PendingBans

        return PendingBans(self.decisions, self.whitelist, self.clock, self.settings.pending_review_days)

    # geography
    @cached_property
    def geoip(self) -> GeoLocator:
        """GeoIP lookups; the databases open on the first lookup, once per container."""
        from chalicelib.intel.geoip import GeoDatabaseFiles, GeoLocator

        files = GeoDatabaseFiles(self.aws.client("s3"))
        return GeoLocator(
            self.settings.geoip_city_db,
            self.settings.geoip_asn_db,
            files=files.local_path,
            cache_size=self.settings.geoip_cache_size,
            mode=self.settings.geoip_mode,
        )

    @cached_property
    def geozones(self) -> GeoZones:
        from chalicelib.detection.geozones import GeoZones, GeoZoneStore

        return GeoZones(GeoZoneStore(self.table("entities")), self.clock, self.settings.geo_policy_cache_seconds)

    @cached_property
    def geoblocking(self) -> GeoBlocking:
        from chalicelib.detection.geoblocking import GeoBlocking, GeoRuleStore

        return GeoBlocking(
            GeoRuleStore(self.table("entities")), self.counters, self.clock, self.settings.geo_policy_cache_seconds
        )

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

    def network_principal(self, permission: str, source_ip: str) -> Principal | None:
        """A principal for a sensor on a trusted network, for the ingest permission only."""
        if permission != "events:ingest" or not self.settings.ingest_trusted_cidrs:
            return None
        from chalicelib.auth.principal import Principal
        from chalicelib.decisions import addresses

        caller = addresses.parse_network(source_ip)
        for cidr in self.settings.ingest_trusted_cidrs:
            trusted = addresses.parse_network(cidr)
            if trusted.version == caller.version and caller.subnet_of(trusted):  # type: ignore[arg-type]
                return Principal("network", source_ip, f"network {cidr}", (), frozenset({"events:ingest"}))
        return None

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

    # feeds
    @cached_property
    def feed_store(self) -> FeedStore:
        from chalicelib.distribution.feeds.store import FeedStore

        s3 = self.aws.client("s3")

        def sigv4_presigner() -> Any:
            import boto3
            from botocore.config import Config

            return boto3.session.Session().client(
                "s3",
                region_name=s3.meta.region_name,
                endpoint_url=s3.meta.endpoint_url,
                config=Config(signature_version="s3v4"),
            )

        return FeedStore(s3, self.settings.bucket, sigv4_presigner)

    @cached_property
    def feed_state(self) -> FeedState:
        from chalicelib.distribution.feeds.store import FeedState

        return FeedState(self.table("counters"))

    @cached_property
    def feed_options(self) -> FeedOptions:
        from chalicelib.distribution.feeds.publisher import FeedOptions

        s = self.settings
        return FeedOptions(
            formats=tuple(s.feed_formats),
            max_entries=dict(s.feed_max_entries),
            expand_limit=s.feed_expand_limit,
            access=s.feed_access,
            source_cidrs=tuple(str(n) for n in s.feed_source_cidrs),
            debounce_seconds=s.feed_debounce_seconds,
            refresh_seconds=s.feed_refresh_seconds,
            presign_seconds=s.feed_presign_seconds,
            api_max_bytes=s.feed_api_max_bytes,
        )

    @cached_property
    def feed_publisher(self) -> FeedPublisher:
        from chalicelib.distribution.feeds.publisher import FeedPublisher

        return FeedPublisher(
            self.feed_store,
            self.feed_state,
            self.decision_queries,
            self.clock,
            self.feed_options,
            groups=self.target_feeds,
        )

    def target_feeds(self) -> list[FeedSpec]:
        """One feed per target group: `group-<target name>`, selecting what that target receives (pull-only
        targets read theirs from S3 or the API; push targets get one too, for inspection and as a fallback)."""
        import re

        from chalicelib.distribution.feeds.catalog import FeedSpec

        specs = []
        for target in self.targets.list():
            slug = re.sub(r"[^a-z0-9-]+", "-", target.name.lower()).strip("-")[:48] or target.id
            cidrs = tuple(target.settings.get("source_cidrs") or ())
            specs.append(
                FeedSpec(
                    name=f"group-{slug}",
                    selector=target.selector.wants,
                    source_cidrs=cidrs,
                    access=str(target.settings.get("feed_access", "api")),
                    title=target.name,
                )
            )
        return specs

    @cached_property
    def feed_reader(self) -> FeedReader:
        from chalicelib.distribution.feeds.publisher import FeedReader

        return FeedReader(self.feed_store, self.feed_state, self.feed_options)


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
