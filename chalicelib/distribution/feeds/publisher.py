"""Publishing feeds: render every feed from the bans in force and write what changed; serve them to the API.

`FeedPublisher.publish` reads `DecisionQueries.in_force()` once, sorts it once (`render.FeedTable`), renders
every format of every feed in the catalogue and writes an object only when its SHA-256 differs from the index
(an unchanged feed costs nothing; a verifying publish costs one HEAD), then the index. Triggers:

- `request_publish()`: the change-stream consumer, after each batch. It marks the feeds dirty and publishes at
  once unless the last publish is younger than `debounce_seconds`; a burst of changes then costs one publish.
- `run_scheduled()`: every minute. It publishes when dirty and the debounce has passed, and runs a verifying
  publish every `refresh_seconds` (HEAD of every object: repairs objects deleted by hand, re-applies the bucket
  policy a deployment replaced, and moves MikroTik timeouts on by one step).

One publish at a time, whatever the container: a lease in the counters table. A change that arrives while
another publish runs stays dirty (its time is after that publish's snapshot) and is published next.
`FeedReader` answers `GET /api/v1/feeds[/{name}]` from the objects and the index, with conditional GETs.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any

from chalicelib.core.clock import Clock, iso
from chalicelib.core.errors import NotFoundError
from chalicelib.core.observability import get_logger
from chalicelib.decisions.model import BAN
from chalicelib.decisions.queries import DecisionQueries
from chalicelib.distribution.feeds.catalog import (
    FeedDefaults,
    FeedSpec,
    bucket_policy,
    catalogue,
    format_of,
    object_key,
    resolve,
    select,
    table_of,
    tags_in,
)
from chalicelib.distribution.feeds.render import Rendered, render
from chalicelib.distribution.feeds.store import FeedState, FeedStore, ObjectInfo

INDEX_SCHEMA = "vigil.feeds.index/1"
# DynamoDB indexes are eventually consistent: a ban written just before a publish may be missing from its read.
# Counting the snapshot two seconds early keeps such a change dirty, so the next run publishes it.
CONSISTENCY_MARGIN_MS = 2_000
LEASE_SECONDS = 900  # the longest a Lambda function runs
REDIRECT_SECONDS = 300  # lifetime of the presigned URL a too-large API download is redirected to


@dataclass(frozen=True)
class FeedOptions:
    """The feed settings, as values (built from `Settings` in core/deps.py)."""

    formats: tuple[str, ...]
    max_entries: Mapping[str, int | None] = field(default_factory=dict)
    expand_limit: int = 256
    access: str = "api"
    source_cidrs: tuple[str, ...] = ()
    debounce_seconds: float = 30.0
    refresh_seconds: int = 3600
    presign_seconds: int = 3600
    api_max_bytes: int = 5_000_000

    @property
    def defaults(self) -> FeedDefaults:
        return FeedDefaults(self.formats, self.max_entries, self.expand_limit, self.access, self.source_cidrs)


def _ms(when: datetime) -> int:
    return int(when.timestamp() * 1000)


class FeedPublisher:
    """Renders the catalogue and writes what changed (see the module docstring)."""

    def __init__(
        self,
        store: FeedStore,
        state: FeedState,
        queries: DecisionQueries,
        clock: Clock,
        options: FeedOptions,
        groups: Callable[[], Sequence[FeedSpec]] = tuple,
    ) -> None:
        self._store = store
        self._state = state
        self._queries = queries
        self._clock = clock
        self._options = options
        self._groups = groups

    def request_publish(self, reason: str = "change") -> dict[str, Any]:
        """Mark the feeds dirty; publish now unless the last publish is younger than the debounce."""
        now = self._clock.now()
        state = self._state.mark_dirty(_ms(now), now)
        wait_ms = self._debounce_left(state, now)
        if wait_ms > 0:
            return {"status": "deferred", "retry_in_seconds": round(wait_ms / 1000, 1)}
        return self.publish(reason)

    def run_scheduled(self) -> dict[str, Any]:
        """The every-minute entry point: a verifying publish when due, else a publish when dirty."""
        now = self._clock.now()
        state = self._state.read()
        if _ms(now) - int(state.get("full_at", 0)) >= self._options.refresh_seconds * 1000:
            return self.publish("schedule", verify=True)
        if int(state.get("dirty_at", 0)) > int(state.get("snapshot_at", 0)) and self._debounce_left(state, now) <= 0:
            return self.publish("change")
        return {"status": "clean"}

    def _debounce_left(self, state: Mapping[str, Any], now: datetime) -> int:
        last = state.get("published_at")
        if last is None:
            return 0
        return int(last) + int(self._options.debounce_seconds * 1000) - _ms(now)

    def publish(self, reason: str = "manual", *, verify: bool = False) -> dict[str, Any]:
        """Render every feed and write what changed; with `verify`, check each object in S3 too (HEAD)."""
        now = self._clock.now()
        owner = self._state.acquire(now, LEASE_SECONDS)
        if owner is None:
            self._state.mark_dirty(_ms(now), now)  # the publish running now may have read before this change
            return {"status": "busy"}
        try:
            return self._publish(reason, verify, now)
        finally:
            self._state.release(owner)

    def _publish(self, reason: str, verify: bool, now: datetime) -> dict[str, Any]:
        requests_before = self._store.requests
        snapshot_ms = _ms(now) - CONSISTENCY_MARGIN_MS
        decisions = self._queries.in_force(BAN)
        previous = self._store.read_index()
        verify = verify or previous is None
        before = {o["key"]: o for f in (previous or {}).get("feeds", []) for o in f["objects"]}
        specs = catalogue(
            tags_in(decisions),
            self._groups(),
            [f["name"] for f in (previous or {}).get("feeds", [])],
            self._options.defaults,
        )
        tables = select(table_of(decisions), specs)
        feeds, written = [], 0
        for spec in specs:
            objects = []
            for fmt in spec.formats:
                for rendered in render(
                    tables[spec.name],
                    fmt,
                    name=spec.name,
                    now=now,
                    max_entries=spec.limit(fmt),
                    expand_limit=spec.expand_limit,
                    list_name=spec.list_name,
                    timeout_step=self._options.refresh_seconds,
                ):
                    entry, wrote = self._write(
                        spec, fmt, rendered, before.get(object_key(spec.name, rendered.variant)), verify, now
                    )
                    objects.append(entry)
                    written += wrote
            feeds.append({"name": spec.name, "title": spec.title, "access": spec.access, "objects": objects})
        current = {o["key"] for f in feeds for o in f["objects"]}
        stale = sorted(set(before) - current)
        if stale:
            self._store.delete(stale)
        policy_sha = self._apply_policy(specs, previous, verify)
        index = {
            "schema": INDEX_SCHEMA,
            "updated_at": max((o["updated_at"] for f in feeds for o in f["objects"]), default=iso(now)),
            "policy_sha256": policy_sha,
            "feeds": feeds,
        }
        if index != previous:
            self._store.write_index(index)
        summary = _summary(reason, now, feeds, written, len(stale), self._store.requests - requests_before)
        self._state.record_publish(snapshot_ms, now, full=verify, summary=summary)
        if summary["dropped"] and written:  # said once per new content, not at every unchanged publish
            get_logger().warning("feeds truncated", dropped=summary["dropped"], truncated=summary["truncated"])
        get_logger().info("feeds published", **{k: v for k, v in summary.items() if k != "truncated"})
        return summary

    def _write(
        self,
        spec: FeedSpec,
        fmt: str,
        rendered: Rendered,
        before: Mapping[str, Any] | None,
        verify: bool,
        now: datetime,
    ) -> tuple[dict[str, Any], int]:
        """Write one object if its content changed; its index entry, and 1 if it was written."""
        key = object_key(spec.name, rendered.variant)
        sha = hashlib.sha256(rendered.body).hexdigest()
        entry = {
            "format": fmt,
            "variant": rendered.variant,
            "key": key,
            "content_type": rendered.content_type,
            "entries": rendered.entries,
            "skipped": rendered.skipped,
            "dropped": rendered.dropped,
            "max_entries": spec.limit(fmt),
            "bytes": len(rendered.body),
            "sha256": sha,
        }
        same_as_before = before is not None and before.get("sha256") == sha
        if same_as_before and not verify:
            return {**entry, "etag": before["etag"], "updated_at": before["updated_at"]}, 0  # type: ignore[index]
        if verify:
            found = self._store.head(key)
            if found is not None and found.metadata.get("sha256") == sha:
                updated = before["updated_at"] if same_as_before else iso(found.last_modified)  # type: ignore[index]
                return {**entry, "etag": found.etag, "updated_at": updated}, 0
        metadata = {
            "sha256": sha,
            "entries": str(rendered.entries),
            "skipped": str(rendered.skipped),
            "dropped": str(rendered.dropped),
        }
        etag = self._store.put(key, rendered.body, rendered.content_type, metadata)
        return {**entry, "etag": etag, "updated_at": iso(now)}, 1

    def _apply_policy(self, specs: Sequence[FeedSpec], previous: Mapping[str, Any] | None, verify: bool) -> str | None:
        """Write the feeds' bucket policy when it changed (or, verifying, when S3 no longer holds it)."""
        wanted = {s.name: s.source_cidrs for s in specs if s.access == "bucket-policy"}
        had = (previous or {}).get("policy_sha256")
        if not wanted and had is None:
            return None
        policy = bucket_policy(wanted, self._store.bucket)
        sha = hashlib.sha256(json.dumps(policy, sort_keys=True).encode()).hexdigest()
        if sha != had or (verify and not _holds(self._store.bucket_policy(), policy)):
            self._store.put_bucket_policy(policy)
        return sha if wanted else None

    def status(self) -> dict[str, Any]:
        """When feeds were last published, whether changes wait, and what the last publish dropped."""
        return publish_status(self._state.read())


def publish_status(state: Mapping[str, Any]) -> dict[str, Any]:
    """The publisher's state as the API shows it."""
    return {
        "published_at": _iso_ms(state.get("published_at")),
        "verified_at": _iso_ms(state.get("full_at")),
        "dirty": int(state.get("dirty_at", 0)) > int(state.get("snapshot_at", 0)),
        "last": state.get("last"),
    }


def _holds(actual: Mapping[str, Any] | None, wanted: Mapping[str, Any]) -> bool:
    statements = (actual or {}).get("Statement", [])
    return all(s in statements for s in wanted["Statement"])


def _iso_ms(value: Any) -> str | None:
    if value is None:
        return None
    return iso(datetime.fromtimestamp(int(value) / 1000, UTC))


def _summary(
    reason: str, now: datetime, feeds: list[dict[str, Any]], written: int, deleted: int, requests: int
) -> dict[str, Any]:
    objects = [o for f in feeds for o in f["objects"]]
    truncated = [
        {"feed": f["name"], "variant": o["variant"], "dropped": o["dropped"], "max_entries": o["max_entries"]}
        for f in feeds
        for o in f["objects"]
        if o["dropped"]
    ]
    return {
        "status": "published",
        "reason": reason,
        "at": iso(now),
        "feeds": len(feeds),
        "objects": len(objects),
        "written": written,
        "unchanged": len(objects) - written,
        "deleted": deleted,
        "s3_requests": requests,
        "dropped": sum(o["dropped"] for o in objects),
        "skipped": sum(o["skipped"] for o in objects),
        "truncated": truncated[:50],
    }


@dataclass(frozen=True)
class Download:
    """What `GET /api/v1/feeds/{name}` answers: 200 with the body, 304, or 307 to S3 for a large feed."""

    status: int
    body: str
    content_type: str
    headers: dict[str, str]


class FeedReader:
    """Reads feeds for the API: the list from the index, an object with its ETag, conditional GETs."""

    def __init__(self, store: FeedStore, state: FeedState, options: FeedOptions) -> None:
        self._store = store
        self._state = state
        self._options = options

    def download(
        self, path_name: str, fmt: str | None, if_none_match: str = "", if_modified_since: str = ""
    ) -> Download:
        """One feed object; 304 when the caller's copy is current (one HEAD), 307 to S3 when it is too large
        for a Lambda response."""
        ref = resolve(path_name, fmt)
        info = self._store.head(ref.key)
        if info is None:
            raise NotFoundError(f"No feed named {path_name!r} in format {ref.variant!r}")
        headers = _validators(info)
        if not_modified(if_none_match, if_modified_since, info.etag, info.last_modified):
            return Download(304, "", info.content_type, headers)
        if info.size > self._options.api_max_bytes:
            headers["Location"] = self._store.presigned_url(ref.key, REDIRECT_SECONDS)
            return Download(307, "", info.content_type, headers)
        found = self._store.get(ref.key)
        if found is None:
            raise NotFoundError(f"No feed named {path_name!r} in format {ref.variant!r}")
        return Download(200, found.body.decode("utf-8"), found.info.content_type, _validators(found.info))

    def listing(self) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """Every feed with its formats, counts and URLs; and the publisher's status."""
        index = self._store.read_index() or {"feeds": []}
        feeds = []
        for feed in index["feeds"]:
            formats = []
            for o in feed["objects"]:
                url = f"/api/v1/feeds/{feed['name']}?format={o['variant']}"
                item = {k: o[k] for k in ("variant", "entries", "skipped", "dropped", "max_entries", "bytes")}
                item |= {"format": format_of(o["variant"]), "etag": o["etag"], "updated_at": o["updated_at"]}
                formats.append(item | {"url": url, "s3_url": self._s3_url(feed["access"], o["key"])})
            feeds.append({"name": feed["name"], "title": feed["title"], "access": feed["access"], "formats": formats})
        return feeds, publish_status(self._state.read())

    def _s3_url(self, access: str, key: str) -> str | None:
        if access == "presigned":
            return self._store.presigned_url(key, self._options.presign_seconds)
        if access == "bucket-policy":
            return self._store.object_url(key)
        return None


def _validators(info: ObjectInfo) -> dict[str, str]:
    return {
        "ETag": info.etag,
        "Last-Modified": format_datetime(info.last_modified, usegmt=True),
        "Cache-Control": "no-cache",
        "X-Vigil-Feed-Entries": info.metadata.get("entries", ""),
        "X-Vigil-Feed-Skipped": info.metadata.get("skipped", ""),
        "X-Vigil-Feed-Dropped": info.metadata.get("dropped", ""),
    }


def not_modified(if_none_match: str, if_modified_since: str, etag: str, last_modified: datetime) -> bool:
    """RFC 9110 §13.1: `If-None-Match` (weak comparison, a list or `*`) decides when present; otherwise
    `If-Modified-Since` (to the second). An unreadable date is ignored, as the RFC asks."""
    if if_none_match.strip():
        offered = [tag.strip().removeprefix("W/") for tag in if_none_match.split(",")]
        return "*" in offered or etag.removeprefix("W/") in offered
    if if_modified_since.strip():
        try:
            since = parsedate_to_datetime(if_modified_since)
        except (TypeError, ValueError):
            return False
        return since.tzinfo is not None and last_modified.replace(microsecond=0) <= since
    return False
