"""Feeds under /api/v1/feeds: the list, and each feed as its firewall format, for firewalls that pull.

Firewalls mostly can put a secret only in the URL, so the feed token is a read-only API key (seed 003's `READ`
scope grants `feeds:read`) passed as `?token=`; revoking the key cuts that firewall off. Every answer carries the
object's `ETag` and `Last-Modified`; a matching `If-None-Match` (or `If-Modified-Since`) answers 304 without a
body, so a firewall polling every few minutes downloads a feed only when it changed.
"""

from __future__ import annotations

from chalice import Blueprint
from pydantic import BaseModel, ConfigDict, Field

from chalicelib.api.contracts import V1, Raw, Reply
from chalicelib.api.routing import RequestInfo, route
from chalicelib.core.deps import get_container
from chalicelib.distribution.feeds.formats import VARIANT_NAMES

bp = Blueprint(__name__)


class FeedQuery(BaseModel):
    """`format`: plain (default), plain-v4, plain-v6, sophos, fortigate, paloalto, mikrotik, checkpoint, json."""

    model_config = ConfigDict(extra="ignore")  # `token` travels in the query too
    format: str | None = Field(None, max_length=20, description=f"one of {', '.join(VARIANT_NAMES)}")


@route(bp, "/api/v1/feeds", permission="feeds:read", contract=V1, tags=("feeds",))
def list_feeds() -> Reply:
    """Every feed: its formats with entries, skipped and dropped counts, ETags, times and URLs."""
    feeds, status = get_container().feed_reader.listing()
    return Reply(feeds, meta={"total": len(feeds), "publisher": status})


@route(
    bp,
    "/api/v1/feeds/{name}",
    permission="feeds:read",
    contract=V1,
    query=FeedQuery,
    produces="text/plain",
    tags=("feeds",),
)
def get_feed(name: str, query: FeedQuery, request: RequestInfo) -> Raw:
    """One feed in one format (`?format=`, or `<name>.rsc|.csv|.json|.txt`, or seed 003's
    `ioc-feed-<tag>.txt`); 304 for a current `If-None-Match`/`If-Modified-Since`, 307 to S3 for a large feed."""
    answer = get_container().feed_reader.download(
        name, query.format, request.header("if-none-match"), request.header("if-modified-since")
    )
    return Raw(answer.body, answer.content_type, status=answer.status, headers=answer.headers)
