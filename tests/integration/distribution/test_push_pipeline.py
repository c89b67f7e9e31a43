"""The push pipeline end to end in one process: API → decisions queue → push function → a real SSH peer.

moto stands in for AWS; the firewall is the loopback SSH server of `tests/peers` (its model backend), reached
through the real nftables connector. Faults are real too: the peer stops listening, presents another host key.
"""

from __future__ import annotations

from collections.abc import Iterator

import paramiko
import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519

from chalicelib.distribution.connectors.ssh import load_private_key
from tests.peers.ssh_firewall import ModelBackend, SshFirewallPeer, new_key, openssh_private_text, public_line
from tests.support.client import ApiClient
from tests.support.queue import deliver, drain

pytestmark = pytest.mark.integration


@pytest.fixture
def vigil_key() -> tuple[str, paramiko.PKey]:
    text = openssh_private_text(ed25519.Ed25519PrivateKey.generate())
    return text, load_private_key(text)


@pytest.fixture
def peer(vigil_key) -> Iterator[SshFirewallPeer]:
    with SshFirewallPeer(ModelBackend(), vigil_key[1]) as running:
        yield running


def create_target(admin_api: ApiClient, peer: SshFirewallPeer, key_text: str, **settings) -> dict:
    response = admin_api.post(
        "/api/v1/targets",
        json={
            "name": "edge-1",
            "kind": "ssh-nftables",
            "address": peer.address,
            "settings": {"host_key": peer.host_key_line, "username": peer.username, **settings},
            "credentials": {"private_key": key_text},
        },
    )
    assert response.status == 201, response.body
    target = response.json()["data"]
    assert "private_key" not in response.text and target["has_credentials"] is True
    assert target["setup"]["ok"] is True, target["setup"]
    return target


def in_set(container, target_id: str) -> set[str]:
    record = container.targets.get(target_id)
    return container.connector_for(record.kind).current(container.targets.ready(record))


def push(aws, settings) -> int:
    return deliver(aws, settings.decisions_queue, "push_decisions")


def test_a_ban_reaches_the_firewall_and_an_unban_leaves_it(admin_api, container, aws, settings, peer, vigil_key):
    target = create_target(admin_api, peer, vigil_key[0])
    assert admin_api.post("/api/v1/bans", json={"ip": "203.0.113.7", "duration": "1h"}).status == 201
    admin_api.post("/api/bloquear-ip", json={"items": [{"cidr": "192.0.2.128/28", "tags": ["T"]}]})
    push(aws, settings)
    assert in_set(container, target["id"]) == {"203.0.113.7/32", "192.0.2.128/28"}
    scripts = peer.commands("nft-script")
    status = admin_api.get(f"/api/v1/targets/{target['id']}").json()["data"]["status"]
    assert status["connected"] is True and status["applied_added"] == 2 and status["pending"] == 0
    admin_api.delete("/api/v1/bans/203.0.113.7")
    push(aws, settings)
    assert in_set(container, target["id"]) == {"192.0.2.128/28"}
    assert len(peer.commands("nft-script")) == len(scripts) + 1, "one transaction for the unban"


def test_one_transaction_for_a_batch_of_changes(admin_api, container, aws, settings, peer, vigil_key):
    target = create_target(admin_api, peer, vigil_key[0])
    before = len(peer.commands("nft-script"))
    admin_api.post(
        "/api/bloquear-ip", json={"items": [{"ip": f"192.0.2.{i}", "tags": ["bulk"]} for i in range(1, 120, 2)]}
    )
    push(aws, settings)
    assert len(in_set(container, target["id"])) == 60
    assert len(peer.commands("nft-script")) == before + 1


def test_duplicate_delivery_is_applied_once(admin_api, container, aws, settings, peer, vigil_key):
    target = create_target(admin_api, peer, vigil_key[0])
    admin_api.post("/api/v1/bans", json={"ip": "203.0.113.8"})
    bodies = drain(aws, settings.decisions_queue)
    sqs = aws.client("sqs")
    url = sqs.get_queue_url(QueueName=settings.decisions_queue)["QueueUrl"]
    import json  # noqa: PLC0415

    for _ in range(2):  # SQS delivers at least once: the same message twice
        sqs.send_message(QueueUrl=url, MessageBody=json.dumps(bodies[0]))
    push(aws, settings)
    status = container.delivery_status.get(target["id"])
    assert status["applied_added"] == 1, "the second delivery found it present"
    assert in_set(container, target["id"]) == {"203.0.113.8/32"}


def test_a_firewall_that_is_down_is_retried_then_repaired(admin_api, container, aws, settings, peer, vigil_key):
    target = create_target(admin_api, peer, vigil_key[0])
    peer.stop()
    admin_api.post("/api/v1/bans", json={"ip": "203.0.113.9"})
    push(aws, settings)
    status = container.delivery_status.get(target["id"])
    assert status["connected"] is False and status["pending"] == 1 and status["last_error"]
    sqs = aws.client("sqs")
    url = sqs.get_queue_url(QueueName=settings.decisions_queue)["QueueUrl"]
    waiting = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessagesNotVisible"])
    assert int(waiting["Attributes"]["ApproximateNumberOfMessagesNotVisible"]) == 1, "the message is kept"
    peer.start()
    result = container.reconciler.reconcile()
    assert result[target["id"]]["added"] == 1
    assert in_set(container, target["id"]) == {"203.0.113.9/32"}
    assert container.delivery_status.get(target["id"])["pending"] == 0


def test_drift_is_repaired_both_ways(admin_api, container, aws, settings, peer, vigil_key, clock):
    from chalicelib.distribution.connectors.base import Delta, Entry  # noqa: PLC0415

    target = create_target(admin_api, peer, vigil_key[0])
    admin_api.post("/api/v1/bans", json={"ip": "203.0.113.10", "duration": "10m"})
    admin_api.post("/api/v1/bans", json={"ip": "203.0.113.20"})
    push(aws, settings)
    record = container.targets.get(target["id"])
    connector = container.connector_for(record.kind)
    connector.apply(container.targets.ready(record), Delta(remove=(Entry("203.0.113.20/32"),)))  # removed by hand
    assert in_set(container, target["id"]) == {"203.0.113.10/32"}
    clock.advance(minutes=11)  # the first ban expired; nobody swept yet
    result = container.reconciler.reconcile()
    assert result[target["id"]] == {"added": 1, "removed": 1, "in_sync": False, "desired": 1}
    assert in_set(container, target["id"]) == {"203.0.113.20/32"}
    assert container.delivery_status.get(target["id"])["drift_repaired"] == 2


def test_a_changed_host_key_is_refused_and_alerted(admin_api, container, aws, settings, vigil_key):
    with SshFirewallPeer(ModelBackend(), vigil_key[1]) as genuine:
        target = create_target(admin_api, genuine, vigil_key[0])
        address = genuine.address
    impostor = SshFirewallPeer(ModelBackend(), vigil_key[1], host_key=new_key())
    impostor.port = int(address.rsplit(":", 1)[1])
    with impostor:
        admin_api.post("/api/v1/bans", json={"ip": "203.0.113.12"})
        push(aws, settings)
        assert impostor.commands() == [], "nothing ran on a host with the wrong key"
    status = container.delivery_status.get(target["id"])
    assert status["connected"] is False and "host key" in status["last_error"].lower()
    alerts = container.events.alerts(container.clock.now(), container.clock.now())
    assert any("edge-1" in a["reason"] and a["severity"] == "critical" for a in alerts)
    assert public_line(new_key()) != target["settings"]["host_key"]


def test_unreadable_messages_are_parked_with_the_reason(admin_api, aws, settings):
    sqs = aws.client("sqs")
    url = sqs.get_queue_url(QueueName=settings.decisions_queue)["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="{not json")
    push(aws, settings)
    dlq = sqs.get_queue_url(QueueName=f"{settings.decisions_queue}-dlq")["QueueUrl"]
    parked = sqs.receive_message(QueueUrl=dlq, MessageAttributeNames=["All"])["Messages"]
    assert parked[0]["Body"] == "{not json"
    assert "unreadable" in parked[0]["MessageAttributes"]["reason"]["StringValue"]
    assert sqs.receive_message(QueueUrl=url).get("Messages") is None


def test_sync_job_reconciles_the_listed_targets(admin_api, container, aws, settings, peer, vigil_key):
    target = create_target(admin_api, peer, vigil_key[0])
    admin_api.post("/api/v1/bans", json={"ip": "203.0.113.13"})
    drain(aws, settings.decisions_queue)  # the push never happened: the firewall is behind
    started = admin_api.post("/api/v1/bans/sync", json={"targets": [target["id"]]})
    assert started.status == 202
    job_id = started.json()["data"]["id"]
    assert admin_api.get(f"/api/v1/bans/sync/{job_id}").json()["data"]["status"] == "queued"
    push(aws, settings)
    job = admin_api.get(f"/api/v1/bans/sync/{job_id}").json()["data"]
    assert job["status"] == "done" and job["results"][target["id"]]["added"] == 1
    assert in_set(container, target["id"]) == {"203.0.113.13/32"}
