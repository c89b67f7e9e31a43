"""The webhook connector against a real receiver: signatures, the outbound-URL rules, answers and retries."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from datetime import timedelta

import httpx
import pytest

from chalicelib.core.clock import FixedClock
from chalicelib.distribution.connectors import reconcilable
from chalicelib.distribution.connectors.base import Delta, Entry, Target, TargetConfigurationError, TargetError
from chalicelib.distribution.connectors.webhook import WebhookConnector
from tests.peers.tls import Certificates
from tests.peers.webhook_receiver import WebhookReceiver

pytestmark = pytest.mark.integration

SECRET = "whsec-0123456789abcdef"


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock("2026-11-24T10:00:00Z")


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver(SECRET) as running:
        yield running


def hook(url: str, *, allow_private: bool = True, secret: str = SECRET) -> Target:
    return Target("hook-1", "edge-proxy", "webhook", url, {"allow_private": allow_private}, {"secret": secret})


def test_a_delta_arrives_signed_and_verifies_at_the_receiver(receiver: WebhookReceiver, clock: FixedClock) -> None:
    connector = WebhookConnector(clock=clock, allow_loopback=True)
    delta = Delta(
        add=(Entry("203.0.113.7/32", clock.now() + timedelta(hours=1), "d1", "ssh-bf"),),
        remove=(Entry("198.51.100.0/24", None, "d0"),),
    )

    result = connector.apply(hook(receiver.url()), delta)

    assert (result.added, result.removed, result.requests) == (1, 1, 1)
    [delivery] = receiver.deliveries
    assert delivery.verified
    assert delivery.path == "/hooks/vigil"
    assert delivery.document == {
        "event": "vigil.decisions",
        "target": "edge-proxy",
        "add": [{"value": "203.0.113.7/32", "until": "2026-11-24T11:00:00Z", "decision_id": "d1", "comment": "ssh-bf"}],
        "remove": [{"value": "198.51.100.0/24", "decision_id": "d0"}],
        "sent_at": "2026-11-24T10:00:00Z",
    }
    assert delivery.headers["X-Vigil-Timestamp"] == str(int(clock.now().timestamp()))


def test_a_retried_delivery_carries_the_same_delivery_id(receiver: WebhookReceiver, clock: FixedClock) -> None:
    connector = WebhookConnector(clock=clock, allow_loopback=True)
    delta = Delta(add=(Entry("203.0.113.7/32", None, "d1"),))

    connector.apply(hook(receiver.url()), delta)
    clock.advance(60)
    connector.apply(hook(receiver.url()), delta)
    connector.apply(hook(receiver.url()), Delta(add=(Entry("203.0.113.8/32", None, "d2"),)))

    ids = [d.headers["X-Vigil-Delivery"] for d in receiver.deliveries]
    assert ids[0] == ids[1] != ids[2]
    assert all(d.verified for d in receiver.deliveries)


def test_the_receiver_refuses_a_delivery_signed_with_another_secret(
    receiver: WebhookReceiver, clock: FixedClock
) -> None:
    connector = WebhookConnector(clock=clock, allow_loopback=True)

    connector.apply(hook(receiver.url(), secret="some-other-secret-value"), Delta(add=(Entry("203.0.113.7/32"),)))

    assert receiver.deliveries and not receiver.deliveries[0].verified


def test_loopback_is_refused_unless_the_deployment_allows_it(receiver: WebhookReceiver, clock: FixedClock) -> None:
    with pytest.raises(TargetConfigurationError, match="loopback"):
        WebhookConnector(clock=clock).apply(hook(receiver.url()), Delta(add=(Entry("203.0.113.7/32"),)))
    refused_test = WebhookConnector(clock=clock).test(hook(receiver.url()))

    assert not refused_test.ok and refused_test.details == {"retryable": False}
    assert receiver.deliveries == []


def test_plain_http_needs_a_target_that_allows_private_addresses(receiver: WebhookReceiver, clock: FixedClock) -> None:
    with pytest.raises(TargetConfigurationError, match="http"):
        WebhookConnector(clock=clock, allow_loopback=True).apply(
            hook(receiver.url(), allow_private=False), Delta(add=(Entry("203.0.113.7/32"),))
        )
    assert receiver.deliveries == []


@pytest.mark.parametrize(
    ("status", "error", "match"),
    [
        (500, TargetError, "500"),
        (429, TargetError, "429"),
        (401, TargetConfigurationError, "refused"),
        (302, TargetConfigurationError, "redirects"),
    ],
)
def test_answers_decide_between_retry_and_configuration_error(
    receiver: WebhookReceiver, clock: FixedClock, status: int, error: type[Exception], match: str
) -> None:
    receiver.status = status

    with pytest.raises(error, match=match):
        WebhookConnector(clock=clock, allow_loopback=True).apply(
            hook(receiver.url()), Delta(add=(Entry("203.0.113.7/32"),))
        )
    assert len(receiver.deliveries) == 1  # a redirect (to the metadata address, here) is never followed


def test_a_receiver_that_is_down_is_a_retryable_error(receiver: WebhookReceiver, clock: FixedClock) -> None:
    url = receiver.url()
    receiver.stop()

    with pytest.raises(TargetError, match="unreachable"):
        WebhookConnector(clock=clock, allow_loopback=True).apply(hook(url), Delta(add=(Entry("203.0.113.7/32"),)))


def test_https_goes_to_the_checked_address_with_the_original_name(
    certificates: Certificates, clock: FixedClock
) -> None:
    client = httpx.Client(verify=ssl.create_default_context(cadata=certificates.ca_pem), timeout=5)
    resolved: list[str] = []

    def resolver(host: str, port: int) -> list[str]:
        resolved.append(host)
        return ["127.0.0.1"]

    with WebhookReceiver(SECRET, certificates) as tls_receiver:
        connector = WebhookConnector(client=client, clock=clock, resolver=resolver, allow_loopback=True)
        result = connector.test(hook(tls_receiver.url("localhost")))

        assert result.ok, result.message
        assert resolved == ["localhost"]  # one lookup, by Vigil; the request went to 127.0.0.1
        [delivery] = tls_receiver.deliveries
        assert delivery.headers["Host"] == f"localhost:{tls_receiver.port}"  # and TLS checked the name localhost
        assert delivery.document["event"] == "vigil.test" and delivery.verified


def test_webhook_targets_are_not_read_back(receiver: WebhookReceiver) -> None:
    connector = WebhookConnector(allow_loopback=True)

    with pytest.raises(NotImplementedError, match="not reconciled"):
        connector.current(hook(receiver.url()))
    assert connector.reconcilable is False and reconcilable("webhook") is False
