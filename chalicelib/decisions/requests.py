"""What a caller asks of the decisions service: plain values, in a module of their own so that the API edge can
build a request without loading the service (its stores, index and change stream) at cold start."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from chalicelib.decisions.model import GLOBAL

DEFAULT = object()
"""`BanRequest.seconds` when the caller gave no duration: the default, grown for repeat offenders."""


@dataclass(frozen=True)
class BanRequest:
    """What a caller asks for. `on_existing` says what to do when the value is already banned:
    `conflict` (refuse, seed 000), `extend` (keep the later expiry, seed 002), `merge` (union of tags and
    alert ids, later expiry, seed 003), `overwrite` (replace, seed 003's `force`)."""

    target: str
    reason: str = ""
    seconds: Any = DEFAULT
    origin: str = "manual"
    scenario: str | None = None
    tags: tuple[str, ...] = ()
    alert_ids: tuple[str, ...] = ()
    note: str | None = None
    scope: str = GLOBAL
    force: bool = False
    on_existing: str = "conflict"
    caller_ip: str | None = None  # a ban covering the caller's own address is refused unless forced
    recidivism: tuple[int, float, int] | None = None  # a scenario's own (base seconds, factor, max seconds)
    extra: dict[str, Any] = field(default_factory=dict)
