"""One factory for AWS clients, cached per process.

Stores receive their clients from here (through `core.deps`), never create them at import: a client made at
import pins the region and endpoint before tests or the local platform can choose them. The endpoint is, in
order: an explicit `endpoint_url` (`AWS_ENDPOINT_URL`, e.g. the local moto server), then `LOCALSTACK_HOST`
through localstack-client, then AWS itself.
"""

from __future__ import annotations

import threading
from functools import lru_cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import boto3


class AwsClients:
    """Creates each boto3 client once and hands out the same one afterwards.

    Only low-level clients: they are thread-safe, where `boto3.resource` objects are not.
    """

    def __init__(
        self,
        region: str,
        endpoint_url: str | None = None,
        localstack_host: str | None = None,
        session: boto3.Session | None = None,
    ) -> None:
        self.region = region
        self.endpoint_url = endpoint_url
        self.localstack_host = localstack_host
        self._session = session
        self._cache: dict[str, Any] = {}
        self._lock = threading.Lock()

    def client(self, service: str) -> Any:
        """A low-level client for `service`."""
        return self._get(service)

    def _get(self, service: str) -> Any:
        found = self._cache.get(service)
        if found is not None:
            return found
        with self._lock:
            if service not in self._cache:
                self._cache[service] = self._create(service)
            return self._cache[service]

    def _create(self, service: str) -> Any:
        from botocore.config import Config  # noqa: PLC0415 - boto3 is heavy; import it on first use

        config = Config(retries={"mode": "standard", "max_attempts": 4}, connect_timeout=5, read_timeout=30)
        if self.endpoint_url is None and self.localstack_host:
            from localstack_client.session import Session as LocalstackSession  # noqa: PLC0415

            session = LocalstackSession(region_name=self.region, localstack_host=self.localstack_host)
            return session.client(service, config=config)
        session = self._session or _default_session()
        return session.client(service, region_name=self.region, endpoint_url=self.endpoint_url, config=config)


@lru_cache(maxsize=1)
def _default_session() -> boto3.Session:
    """One session per process: it caches the service models, which makes creating clients cheap."""
    import boto3  # noqa: PLC0415

    return boto3.Session()
