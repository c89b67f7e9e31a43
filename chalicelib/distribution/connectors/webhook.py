"""Webhooks: each delta POSTed as signed JSON to a URL the tenant runs, for firewalls Vigil has no connector for.

The body is compact JSON, keys sorted:

    {"add": [{"comment": "ssh-bf", "decision_id": "d1", "until": "2026-11-24T11:00:00Z", "value": "203.0.113.7/32"}],
     "event": "vigil.decisions", "remove": [{"decision_id": "d0", "value": "198.51.100.0/24"}],
     "sent_at": "2026-11-24T10:00:00Z", "target": "edge-proxy"}

Headers: `X-Vigil-Signature: sha256=<hex>`, the HMAC-SHA256 of the exact body bytes with the target's secret;
`X-Vigil-Timestamp` (Unix seconds, equal to `sent_at`, which the signature covers, so a receiver that refuses old
deliveries also refuses replays); `X-Vigil-Delivery`, the same id for every retry of the same changes (receivers
deduplicate on it). `test()` sends `{"event": "vigil.test", ...}`, which receivers must accept and ignore.

The URL passes `chalicelib.distribution.outbound` on every delivery (its rules are there), and the request goes to
the address that was checked, with the original Host header and TLS server name: no second DNS lookup, no
redirects followed, no proxy from the environment.

Answers: 2xx delivered; 408, 429 and 5xx, and connection failures, retry later (`TargetError`); any other status,
redirects included, needs a person (`TargetConfigurationError`).

`current()` is not available: a receiver's state cannot be read back, and storing what a receiver acknowledged would
only echo Vigil's own history, not the receiver's truth. So webhook targets are not reconciled (`reconcilable` is
False); a receiver that needs a full picture can pull the blocklist feeds.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import ssl
from typing import Any

import httpx

from chalicelib.core.clock import Clock, SystemClock, epoch, iso
from chalicelib.distribution.connectors.base import (
    ApplyResult,
    Delta,
    Entry,
    Target,
    TargetConfigurationError,
    TargetError,
    TestResult,
)
from chalicelib.distribution.outbound import CheckedUrl, Resolver, resolve_url, system_resolver

KIND = "webhook"
DEFAULT_TIMEOUT = httpx.Timeout(10.0, connect=5.0)
SIGNATURE_HEADER = "X-Vigil-Signature"
TIMESTAMP_HEADER = "X-Vigil-Timestamp"
DELIVERY_HEADER = "X-Vigil-Delivery"
_RETRY_STATUSES = {408, 425, 429}


def sign(secret: str, body: bytes) -> str:
    """The signature header value: `sha256=` and the hex HMAC-SHA256 of `body`."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(secret: str, body: bytes, header: str) -> bool:
    """True when `header` is the signature of `body` (constant-time comparison), for receivers and tests."""
    return hmac.compare_digest(sign(secret, body), header or "")


def encode(document: dict[str, Any]) -> bytes:
    """The exact bytes that are signed and sent."""
    return json.dumps(document, separators=(",", ":"), sort_keys=True, ensure_ascii=False).encode()


def delivery_id(target: str, add: list[dict[str, Any]], remove: list[dict[str, Any]]) -> str:
    """Stable per set of changes (not per attempt), so receivers can drop a retried delivery."""
    return hashlib.sha256(encode({"target": target, "add": add, "remove": remove})).hexdigest()[:32]


def _added(entry: Entry) -> dict[str, Any]:
    return {"value": entry.value, "until": iso(entry.until), "decision_id": entry.decision_id, "comment": entry.comment}


def _removed(entry: Entry) -> dict[str, Any]:
    return {"value": entry.value, "decision_id": entry.decision_id}


class WebhookConnector:
    """Delivers deltas to webhook receivers; `client` is the `httpx.Client` used (timeouts, TLS trust)."""

    kind = KIND
    reconcilable = False

    def __init__(
        self,
        *,
        client: httpx.Client | None = None,
        clock: Clock | None = None,
        resolver: Resolver = system_resolver,
        allow_loopback: bool = False,
    ) -> None:
        self._client = client or httpx.Client(timeout=DEFAULT_TIMEOUT, follow_redirects=False, trust_env=False)
        self._clock = clock or SystemClock()
        self._resolver = resolver
        self._allow_loopback = allow_loopback

    def apply(self, target: Target, delta: Delta) -> ApplyResult:
        """POST the delta as one signed document; an empty delta sends nothing."""
        if not delta:
            return ApplyResult()
        add = [_added(entry) for entry in delta.add]
        remove = [_removed(entry) for entry in delta.remove]
        document = {"event": "vigil.decisions", "target": target.name, "add": add, "remove": remove}
        self._deliver(target, document, delivery_id(target.name, add, remove))
        return ApplyResult(added=len(add), removed=len(remove), requests=1)

    def current(self, target: Target) -> set[str]:
        """Not available: webhook targets are not reconciled (see the module docstring)."""
        raise NotImplementedError("webhook targets are not reconciled: a receiver's state cannot be read back")

    def test(self, target: Target) -> TestResult:
        """Send a signed `vigil.test` event; receivers answer 2xx and change nothing."""
        document = {"event": "vigil.test", "target": target.name}
        try:
            status = self._deliver(target, document, delivery_id(target.name, [], []))
        except (TargetError, TargetConfigurationError) as exc:
            return TestResult(False, exc.message, {"retryable": isinstance(exc, TargetError)})
        return TestResult(True, f"the receiver answered {status}", {"status": status})

    def _deliver(self, target: Target, document: dict[str, Any], delivery: str) -> int:
        secret = target.credentials.get("secret", "")
        if len(secret) < 16:
            raise TargetConfigurationError("credentials.secret must be at least 16 characters")
        checked = resolve_url(
            target.address,
            allow_private=bool(target.settings.get("allow_private")),
            allow_loopback=self._allow_loopback,
            resolver=self._resolver,
        )
        now = self._clock.now()
        body = encode({**document, "sent_at": iso(now)})
        headers = {
            "Host": checked.host_header,
            "Content-Type": "application/json",
            "User-Agent": "Vigil-Webhook/1",
            SIGNATURE_HEADER: sign(secret, body),
            TIMESTAMP_HEADER: str(epoch(now)),
            DELIVERY_HEADER: delivery,
        }
        answer = self._post(checked, body, headers)
        if 200 <= answer.status_code < 300:
            return answer.status_code
        if answer.status_code in _RETRY_STATUSES or answer.status_code >= 500:
            raise TargetError(f"the receiver answered {answer.status_code}")
        if 300 <= answer.status_code < 400:
            raise TargetConfigurationError(f"the receiver redirects ({answer.status_code}); configure the final URL")
        raise TargetConfigurationError(f"the receiver refused the delivery ({answer.status_code})")

    def _post(self, checked: CheckedUrl, body: bytes, headers: dict[str, str]) -> httpx.Response:
        extensions = {}
        if checked.scheme == "https" and not _is_literal(checked.host):
            extensions["sni_hostname"] = checked.host  # TLS checks the certificate against the name, not the IP
        failure = "no address"
        for address in checked.addresses:
            try:
                return self._client.post(
                    checked.pinned(address),
                    content=body,
                    headers=headers,
                    extensions=extensions,
                    follow_redirects=False,
                )
            except httpx.TimeoutException:
                raise TargetError("the receiver did not answer in time") from None
            except httpx.TransportError as exc:
                if _certificate_problem(exc):
                    raise TargetConfigurationError("the receiver's TLS certificate is not trusted") from None
                failure = type(exc).__name__  # try the next checked address, as a resolver-driven client would
        raise TargetError(f"the receiver is unreachable: {failure}")


def _certificate_problem(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLCertVerificationError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _is_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True
