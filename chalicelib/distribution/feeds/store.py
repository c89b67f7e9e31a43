"""The feeds' storage: objects and index in S3 (`FeedStore`), publish state in the counters table (`FeedState`).

The only module of the feeds that calls AWS. Objects are written as given, never `Content-Encoding: gzip`
(not every firewall accepts it), so S3's ETag is the MD5 of the body (single-part puts) and changes only with
the content; each object carries its SHA-256 and counts as metadata. Provider errors become `DependencyError`
at this edge; a missing object or index is `None`, not an error.
"""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.core.dynamo import DynamoTable
from chalicelib.core.errors import ConflictError, DependencyError
from chalicelib.distribution.feeds.catalog import INDEX_KEY, POLICY_SID_PREFIX

CACHE_CONTROL = "no-cache"  # caches may keep a copy but must revalidate it (ETag → 304) before serving it
_MISSING = ("404", "NoSuchKey", "NotFound")
STATE_TTL_SECONDS = 30 * 86_400


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    etag: str  # as S3 sends it, quoted: '"d41d8cd98f00b204e9800998ecf8427e"'
    last_modified: datetime
    size: int
    content_type: str
    metadata: dict[str, str]


@dataclass(frozen=True)
class FeedObject:
    info: ObjectInfo
    body: bytes


class FeedStore:
    """Feed objects, the index and the bucket policy, in one bucket under `feeds/`."""

    def __init__(self, s3: Any, bucket: str, presigner: Callable[[], Any] | None = None) -> None:
        self._s3 = s3
        self.bucket = bucket
        self.requests = 0  # S3 requests made (benchmarks and publish summaries count them)
        # Presigned URLs need SigV4 (buckets created since 2020 refuse SigV2, which botocore still uses to
        # presign in us-east-1): a factory for a client configured so, built on first use.
        self._presigner_factory = presigner or (lambda: s3)
        self._presigner: Any = None

    def _call(self, operation: str, **params: Any) -> Any:
        self.requests += 1
        try:
            return getattr(self._s3, operation)(Bucket=self.bucket, **params)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in (*_MISSING, "NoSuchBucketPolicy"):
                raise
            raise DependencyError(f"S3 {operation} failed: {exc.response.get('Error', {}).get('Code')}") from exc
        except BotoCoreError as exc:
            raise DependencyError(f"S3 {operation} failed: {type(exc).__name__}") from exc

    def put(self, key: str, body: bytes, content_type: str, metadata: dict[str, str]) -> str:
        """Write an object; returns its ETag.

        The body's SHA-256 goes with it (`ChecksumSHA256`): S3 refuses the object if it arrived damaged, and
        botocore, given the checksum, sends the body as it is instead of re-framing it (aws-chunked) to append
        one of its own."""
        digest = hashlib.sha256(body).digest() if "sha256" not in metadata else bytes.fromhex(metadata["sha256"])
        answer = self._call(
            "put_object",
            Key=key,
            Body=body,
            ContentType=content_type,
            CacheControl=CACHE_CONTROL,
            Metadata=metadata,
            ChecksumSHA256=base64.b64encode(digest).decode(),
        )
        return str(answer["ETag"])

    def head(self, key: str) -> ObjectInfo | None:
        """An object's ETag, time, size and metadata (one HEAD), or None if there is none."""
        try:
            answer = self._call("head_object", Key=key)
        except ClientError as exc:
            if _missing(exc):
                return None
            raise
        return _info(key, answer)

    def get(self, key: str) -> FeedObject | None:
        try:
            answer = self._call("get_object", Key=key)
        except ClientError as exc:
            if _missing(exc):
                return None
            raise
        return FeedObject(_info(key, answer), answer["Body"].read())

    def delete(self, keys: list[str]) -> None:
        for start in range(0, len(keys), 1000):  # DeleteObjects takes 1,000 keys
            chunk = keys[start : start + 1000]
            self._call("delete_objects", Delete={"Objects": [{"Key": k} for k in chunk], "Quiet": True})

    def read_index(self) -> dict[str, Any] | None:
        """`feeds/index.json`, or None if it is missing or unreadable (the next publish rewrites it)."""
        found = self.get(INDEX_KEY)
        if found is None:
            return None
        try:
            index = json.loads(found.body)
        except ValueError:
            return None
        return index if isinstance(index, dict) else None

    def write_index(self, index: dict[str, Any]) -> str:
        body = json.dumps(index, indent=1, sort_keys=True).encode()
        return self.put(INDEX_KEY, body, "application/json", {})

    def presigned_url(self, key: str, seconds: int) -> str:
        """A GET URL valid `seconds` (SigV4: 7 days at most, and no longer than the signing credentials)."""
        if self._presigner is None:
            self._presigner = self._presigner_factory()
        params = {"Bucket": self.bucket, "Key": key}
        return str(self._presigner.generate_presigned_url("get_object", Params=params, ExpiresIn=seconds))

    def object_url(self, key: str) -> str:
        """The object's plain S3 URL (readable only where the bucket policy allows it)."""
        region = self._s3.meta.region_name
        return f"https://{self.bucket}.s3.{region}.amazonaws.com/{key}"

    def bucket_policy(self) -> dict[str, Any] | None:
        try:
            answer = self._call("get_bucket_policy")
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "NoSuchBucketPolicy":
                return None
            raise
        return dict(json.loads(answer["Policy"]))

    def put_bucket_policy(self, feed_policy: dict[str, Any]) -> dict[str, Any]:
        """Replace Vigil's feed statements in the bucket policy, keeping every other statement (TLS-only...).

        Returns the policy as written. No statement left at all deletes the policy."""
        current = self.bucket_policy() or {"Version": "2012-10-17", "Statement": []}
        kept = [s for s in current.get("Statement", []) if not str(s.get("Sid", "")).startswith(POLICY_SID_PREFIX)]
        merged = {**current, "Statement": kept + list(feed_policy["Statement"])}
        if merged["Statement"]:
            self._call("put_bucket_policy", Policy=json.dumps(merged))
        elif current.get("Statement"):
            self._call("delete_bucket_policy")
        return merged


def _missing(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") in _MISSING


def _info(key: str, answer: dict[str, Any]) -> ObjectInfo:
    return ObjectInfo(
        key=key,
        etag=str(answer["ETag"]),
        last_modified=answer["LastModified"].astimezone(UTC),  # botocore's tzutc → datetime.UTC
        size=int(answer["ContentLength"]),
        content_type=str(answer.get("ContentType", "")),
        metadata=dict(answer.get("Metadata") or {}),
    )


class FeedState:
    """The publisher's shared state, two items in the counters table (any container may publish).

    `FEEDS/state`: `dirty_at` (the last change asked for), `snapshot_at` (what the last publish read: changes
    up to then are in the feeds), `published_at`, `full_at` (the last verifying publish), `last` (its
    summary). `FEEDS/lease`: who is publishing and until when, so two publishes never overlap. Times are epoch
    milliseconds."""

    PK = "FEEDS"

    def __init__(self, table: DynamoTable) -> None:
        self._table = table

    def read(self) -> dict[str, Any]:
        return self._table.get({"pk": self.PK, "sk": "state"}, consistent=True) or {}

    def mark_dirty(self, at_ms: int, now: datetime) -> dict[str, Any]:
        """Record a change at `at_ms` and return the state. An older mark never replaces a newer one (a slow
        consumer must not hide a change that came after the publish it raced with)."""
        try:
            return self._table.update(
                {"pk": self.PK, "sk": "state"},
                "SET dirty_at = :t, #ttl = :ttl",
                condition="attribute_not_exists(dirty_at) OR dirty_at < :t",
                names={"#ttl": "ttl"},
                values={":t": at_ms, ":ttl": _expiry(now)},
            )
        except ConflictError:
            return self.read()

    def record_publish(self, snapshot_ms: int, now: datetime, *, full: bool, summary: dict[str, Any]) -> None:
        now_ms = int(now.timestamp() * 1000)
        expression = "SET snapshot_at = :s, published_at = :p, #last = :last, #ttl = :ttl"
        values: dict[str, Any] = {":s": snapshot_ms, ":p": now_ms, ":last": summary, ":ttl": _expiry(now)}
        if full:
            expression += ", full_at = :p"
        self._table.update(
            {"pk": self.PK, "sk": "state"}, expression, names={"#last": "last", "#ttl": "ttl"}, values=values
        )

    def acquire(self, now: datetime, seconds: int) -> str | None:
        """Take the publish lease for `seconds`; None while another publish holds it."""
        owner = uuid.uuid4().hex
        now_ms = int(now.timestamp() * 1000)
        try:
            self._table.put(
                {
                    "pk": self.PK,
                    "sk": "lease",
                    "owner": owner,
                    "lease_until": now_ms + seconds * 1000,
                    "ttl": _expiry(now),
                },
                # A lease past its end is free: a publish that died (Lambda timeout) must not block the next.
                condition="attribute_not_exists(pk) OR lease_until < :now",
                values={":now": now_ms},
            )
        except ConflictError:
            return None
        return owner

    def release(self, owner: str) -> None:
        """End our lease; if it ran out and another publish took it, leave theirs alone."""
        try:
            self._table.update(
                {"pk": self.PK, "sk": "lease"},
                "SET lease_until = :zero",
                condition="#owner = :me",
                names={"#owner": "owner"},
                values={":zero": 0, ":me": owner},
            )
        except ConflictError:
            return


def _expiry(now: datetime) -> int:
    return int(now.timestamp()) + STATE_TTL_SECONDS
