"""The checks every request passes before any route runs: banned addresses, then the general rate limit.

The ban check reads the decisions package's in-memory index (no AWS call on the hot path); the rate limit is
one atomic counter update per request, a fixed one-minute window per client address. Both answer in the
contract of the route asked for, through the edge middleware.
"""

from __future__ import annotations

from typing import Any, Protocol

from chalicelib.core.clock import Clock
from chalicelib.core.counters import CounterStore, Limit
from chalicelib.core.errors import IpBannedError, RateLimitedError


class BanCheck(Protocol):
    def is_banned(self, ip: str) -> bool: ...


class EdgeGuard:
    def __init__(self, bans: BanCheck, counters: CounterStore, per_minute: int, clock: Clock) -> None:
        self._bans = bans
        self._counters = counters
        self._limit = Limit("api", per_minute, 60)
        self._clock = clock

    def __call__(self, request: Any, spec: Any) -> dict[str, str]:
        """Raise for a banned or over-limit caller; otherwise the rate-limit headers for the response."""
        ip = request.source_ip
        if self._bans.is_banned(ip):
            raise IpBannedError("Access denied: this address is banned")
        check = self._counters.hit(self._limit, ip, self._clock.now(), sliding=False)
        if not check.allowed:
            raise RateLimitedError("Too many requests", retry_after=check.retry_after, state=check.state)
        return check.state.headers()
