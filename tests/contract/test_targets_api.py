"""Targets (`/api/v1/targets`) and seed 000's sync routes (`/api/v1/bans/sync`, `/api/v1/bans/xgs-status`).

Targets are created, tested and synced through the API against real peers on 127.0.0.1: the Sophos XGS XML API
over HTTPS (trust pinned with `ca_pem`) and an SSH firewall host. Credentials go to Secrets Manager (moto's);
the tests hold every answer, every log line and the stored record against the secrets' own text.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import paramiko
import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519

from chalicelib.distribution.connectors.ssh import load_private_key
from tests.peers.sophos_xgs import SophosXgsPeer
from tests.peers.ssh_firewall import ModelBackend, SshFirewallPeer, openssh_private_text
from tests.peers.tls import Certificates, make_certificates
from tests.support.client import ApiClient
from tests.support.identity import make_user, token_for
from tests.support.queue import deliver

XGS_USER = "vigil-api"
XGS_PASSWORD = 'Xgs-S3cret<&>"pass-7f3a'  # XML-special characters, and unmistakable in a log


@pytest.fixture
def certificates(tmp_path: Path) -> Certificates:
    return make_certificates(tmp_path / "tls")


@pytest.fixture
def xgs_peer(certificates: Certificates) -> Iterator[SophosXgsPeer]:
    with SophosXgsPeer(certificates, username=XGS_USER, password=XGS_PASSWORD) as peer:
        yield peer


@pytest.fixture
def vigil_key() -> tuple[str, paramiko.PKey]:
    text = openssh_private_text(ed25519.Ed25519PrivateKey.generate())
    return text, load_private_key(text)


@pytest.fixture
def ssh_peer(vigil_key) -> Iterator[SshFirewallPeer]:
    with SshFirewallPeer(ModelBackend(), vigil_key[1]) as peer:
        yield peer


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]):
    """Everything logged so far (the platform's logger at DEBUG, the rest at INFO) as one text: each record's
    message, every structured field it carries and its exception, and whatever reached stdout and stderr."""
    caplog.set_level(logging.INFO)
    caplog.set_level(logging.DEBUG, logger="vigil")

    def read() -> str:
        captured = capsys.readouterr()
        records = [
            " ".join([record.getMessage(), repr(vars(record)), caplog.handler.format(record)])
            for record in caplog.records
        ]
        return "\n".join([*records, captured.out, captured.err])

    return read


def xgs_body(peer: SophosXgsPeer, certificates: Certificates, name: str = "branch-office", **extra: Any) -> dict:
    return {
        "name": name,
        "kind": "sophos-xgs",
        "address": peer.address,
        "settings": {"ca_pem": certificates.ca_pem},
        "credentials": {"username": XGS_USER, "password": XGS_PASSWORD},
        **extra,
    }


def ssh_body(peer: SshFirewallPeer, key_text: str, name: str = "edge-host") -> dict:
    return {
        "name": name,
        "kind": "ssh-nftables",
        "address": peer.address,
        "settings": {"host_key": peer.host_key_line, "username": peer.username},
        "credentials": {"private_key": key_text},
    }


def created(client: ApiClient, body: dict) -> dict:
    response = client.post("/api/v1/targets", json=body)
    assert response.status == 201, response.body
    return response.json()["data"]


def data(response) -> Any:
    assert response.status == 200, response.body
    return response.json()["data"]


def fields_of(response) -> list[str]:
    return sorted(d["field"] for d in response.json()["error"]["details"])


def secret_of(aws, settings, target_id: str) -> dict | None:
    client = aws.client("secretsmanager")
    try:
        answer = client.get_secret_value(SecretId=f"{settings.target_secret_prefix}{target_id}")
    except client.exceptions.ResourceNotFoundException:
        return None
    return json.loads(answer["SecretString"])


def stored_records(aws, settings) -> str:
    items = aws.client("dynamodb").scan(TableName=settings.tables["entities"])["Items"]
    return json.dumps(items)


# CRUD and credentials
def test_crud_keeps_credentials_in_secrets_manager_only(
    admin_api: ApiClient, xgs_peer, certificates, aws, settings, logs
) -> None:
    answers = []
    response = admin_api.post("/api/v1/targets", json=xgs_body(xgs_peer, certificates))
    answers.append(response.text)
    assert response.status == 201
    target = response.json()["data"]
    assert (
        target["kind"] == "sophos-xgs" and target["name"] == "branch-office" and target["address"] == xgs_peer.address
    )
    assert target["has_credentials"] is True and target["push"] is True and target["enabled"] is True
    assert target["selector"] == {"global_bans": True, "sensors": [], "tags": [], "origins": []}
    assert target["settings"] == {"ca_pem": certificates.ca_pem} and "credentials" not in target
    assert target["setup"] is None, "XGS targets need no set-up"
    assert target["created_at"] == "2026-11-24T10:00:00Z" and target["status"]["connected"] is None
    assert secret_of(aws, settings, target["id"]) == {"username": XGS_USER, "password": XGS_PASSWORD}

    listed = admin_api.get("/api/v1/targets")
    answers.append(listed.text)
    assert [t["id"] for t in listed.json()["data"]] == [target["id"]] and listed.json()["meta"]["total"] == 1
    one = admin_api.get(f"/api/v1/targets/{target['id']}")
    answers.append(one.text)
    assert {k: v for k, v in one.json()["data"].items() if k != "status"} == {
        k: v for k, v in target.items() if k not in ("setup", "status")
    }

    renamed = admin_api.put(
        f"/api/v1/targets/{target['id']}",
        json={
            "name": "branch-paris",
            "selector": {"tags": ["ssh"]},
            "credentials": {"username": "u2", "password": "p2-NEW"},
        },
    )
    answers.append(renamed.text)
    changed = renamed.json()["data"]
    assert renamed.status == 200 and changed["name"] == "branch-paris" and changed["selector"]["tags"] == ["ssh"]
    assert changed["settings"] == {"ca_pem": certificates.ca_pem}, "settings not given are kept"
    assert changed["has_credentials"] is True
    assert secret_of(aws, settings, target["id"]) == {"username": "u2", "password": "p2-NEW"}, "replaced"
    disabled = data(admin_api.put(f"/api/v1/targets/{target['id']}", json={"enabled": False}))
    assert disabled["enabled"] is False and disabled["name"] == "branch-paris"

    logged = logs()
    assert "/api/v1/targets" in logged, "the capture sees the platform's log lines"
    for text in [*answers, stored_records(aws, settings), logged]:
        assert XGS_PASSWORD not in text and "p2-NEW" not in text

    assert admin_api.delete(f"/api/v1/targets/{target['id']}").status == 204
    assert admin_api.get(f"/api/v1/targets/{target['id']}").status == 404
    assert data(admin_api.get("/api/v1/targets")) == []
    assert secret_of(aws, settings, target["id"]) is None, "the secret is deleted with the target"
    names = [s["Name"] for s in aws.client("secretsmanager").list_secrets()["SecretList"]]
    assert f"{settings.target_secret_prefix}{target['id']}" not in names
    assert admin_api.delete(f"/api/v1/targets/{target['id']}").status == 404


def test_ssh_private_keys_never_leave(admin_api: ApiClient, ssh_peer, vigil_key, aws, settings, logs) -> None:
    response = admin_api.post("/api/v1/targets", json=ssh_body(ssh_peer, vigil_key[0]))
    assert response.status == 201
    target = response.json()["data"]
    assert target["setup"] == {"ok": True, "message": "sets and drop rules installed"}
    assert target["has_credentials"] is True
    tested = admin_api.post(f"/api/v1/targets/{target['id']}/test")
    assert data(tested)["ok"] is True
    key_body = vigil_key[0].strip().splitlines()[1]  # a line of the key's base64, as a leak would show it
    texts = [response.text, tested.text, admin_api.get("/api/v1/targets").text, stored_records(aws, settings), logs()]
    for text in texts:
        assert "PRIVATE KEY" not in text and key_body not in text
    assert secret_of(aws, settings, target["id"]) == {"private_key": vigil_key[0]}


def test_a_refused_create_does_not_echo_the_credentials(admin_api: ApiClient, logs) -> None:
    response = admin_api.post(
        "/api/v1/targets",
        json={"name": "fw", "kind": "sophos-xgs", "address": "", "credentials": {"password": XGS_PASSWORD}},
    )
    assert response.status == 400
    assert fields_of(response) == ["address", "credentials.username"]
    malformed = admin_api.post(
        "/api/v1/targets",
        json={"name": "fw", "kind": "sophos-xgs", "address": "x", "credentials": {"password": [XGS_PASSWORD]}},
    )
    assert malformed.status == 400 and fields_of(malformed) == ["credentials.password"]
    for text in (response.text, malformed.text, logs()):
        assert XGS_PASSWORD not in text


def test_names_are_unique_and_unknown_ids_are_404(admin_api: ApiClient, xgs_peer, certificates) -> None:
    created(admin_api, xgs_body(xgs_peer, certificates))
    twice = admin_api.post("/api/v1/targets", json=xgs_body(xgs_peer, certificates))
    assert twice.status == 409 and twice.json()["error"]["code"] == "CONFLICT"
    for method, path in (
        ("GET", "/api/v1/targets/000000000000"),
        ("PUT", "/api/v1/targets/000000000000"),
        ("DELETE", "/api/v1/targets/000000000000"),
        ("POST", "/api/v1/targets/000000000000/test"),
    ):
        response = admin_api.request(method, path, json={"enabled": False} if method == "PUT" else None)
        assert response.status == 404 and response.json()["error"]["code"] == "NOT_FOUND", (method, path)


# validation per kind
@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"kind": "sophos-xgs", "address": "192.0.2.1:4444"}, ["credentials.password", "credentials.username"]),
        (
            {"kind": "sophos-xgs", "address": "", "credentials": {"username": "u", "password": "p"}},
            ["address"],
        ),
        (
            {"kind": "ssh-nftables", "address": "192.0.2.1:22"},
            ["credentials.private_key", "settings.host_key", "settings.username"],
        ),
        (
            {"kind": "ssh-ipset", "address": "192.0.2.1:22", "settings": {"username": "root"}},
            ["credentials.private_key", "settings.host_key"],
        ),
        ({"kind": "webhook", "address": "https://93.184.215.14/hook"}, ["credentials.secret"]),
        ({"kind": "palo-alto", "address": "192.0.2.1"}, ["kind"]),
        ({"kind": "pull-only", "name": "bad/name"}, ["name"]),
        ({"kind": "pull-only", "colour": "red"}, ["colour"]),
        ({"kind": "pull-only", "selector": {"countries": ["FR"]}}, ["selector.countries"]),
    ],
)
def test_missing_or_wrong_fields_are_named(admin_api: ApiClient, body: dict, fields: list[str]) -> None:
    response = admin_api.post("/api/v1/targets", json={"name": "t1", **body})
    assert response.status == 400, response.body
    assert response.json()["error"]["code"] == "VALIDATION_ERROR" and fields_of(response) == fields
    assert data(admin_api.get("/api/v1/targets")) == [], "nothing was created"


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1/hook",
        "https://localhost:8443/hook",
        "https://[::1]/hook",
        "https://[::ffff:127.0.0.1]/hook",
        "https://10.0.0.5/hook",
        "https://192.168.1.20/hook",
        "https://169.254.169.254/latest/meta-data/",
        "https://[fd00:ec2::254]/",
        "http://93.184.215.14/hook",
        "https://user:pw@93.184.215.14/hook",
    ],
)
def test_webhooks_to_private_or_loopback_addresses_are_refused(admin_api: ApiClient, url: str) -> None:
    body = {"name": "soar", "kind": "webhook", "address": url, "credentials": {"secret": "whsec-0123456789"}}
    response = admin_api.post("/api/v1/targets", json=body)
    assert response.status == 400, (url, response.body)
    assert data(admin_api.get("/api/v1/targets")) == []


def test_a_public_webhook_is_accepted_and_private_needs_saying_so(admin_api: ApiClient) -> None:
    body = {"kind": "webhook", "credentials": {"secret": "whsec-0123456789"}}
    public = created(admin_api, {"name": "soar", "address": "https://93.184.215.14/hook", **body})
    assert public["kind"] == "webhook" and public["has_credentials"] is True and public["push"] is True
    inside = admin_api.post(
        "/api/v1/targets",
        json={"name": "soar-lan", "address": "http://10.0.0.5:8080/hook", "settings": {"allow_private": True}, **body},
    )
    assert inside.status == 201, "a receiver inside the network, said so by its administrator"
    loop = admin_api.post(
        "/api/v1/targets",
        json={"name": "soar-lo", "address": "http://127.0.0.1:8080/hook", "settings": {"allow_private": True}, **body},
    )
    assert loop.status == 400, "loopback is a deployment flag, never a target setting"
    moved = admin_api.put(f"/api/v1/targets/{public['id']}", json={"address": "https://169.254.169.254/"})
    assert moved.status == 400 and data(admin_api.get(f"/api/v1/targets/{public['id']}"))["address"] == (
        "https://93.184.215.14/hook"
    ), "an update is checked like a create"


def test_pull_targets_need_no_address_nor_credentials(admin_api: ApiClient) -> None:
    bouncer = created(admin_api, {"name": "crowdsec-edge", "kind": "crowdsec-bouncer"})
    assert bouncer["has_credentials"] is False and bouncer["push"] is False
    pull = created(
        admin_api, {"name": "pull", "kind": "pull-only", "selector": {"global_bans": False, "sensors": ["*"]}}
    )
    assert pull["selector"]["sensors"] == ["*"] and pull["selector"]["global_bans"] is False
    tested = admin_api.post(f"/api/v1/targets/{pull['id']}/test")
    assert tested.status == 400 and "pull" in tested.json()["error"]["message"]


# permissions
def test_only_targets_write_changes_targets(api: ApiClient, admin_api: ApiClient, container, xgs_peer, certificates):
    target = created(admin_api, xgs_body(xgs_peer, certificates))
    for role in ("viewer", "analyst"):
        token = token_for(container, make_user(container, role))
        assert api.get("/api/v1/targets", token=token).status == 200, role
        assert api.get(f"/api/v1/targets/{target['id']}", token=token).status == 200, role
        assert api.get("/api/v1/bans/xgs-status", token=token).status == 200, role
        for method, path, body in (
            ("POST", "/api/v1/targets", xgs_body(xgs_peer, certificates, name="other")),
            ("PUT", f"/api/v1/targets/{target['id']}", {"enabled": False}),
            ("DELETE", f"/api/v1/targets/{target['id']}", None),
            ("POST", f"/api/v1/targets/{target['id']}/test", None),
            ("POST", "/api/v1/bans/sync", {}),
        ):
            refused = api.request(method, path, json=body, token=token)
            assert refused.status == 403 and refused.json()["error"]["code"], (role, method, path)
    assert api.get("/api/v1/targets").status == 401
    after = data(admin_api.get(f"/api/v1/targets/{target['id']}"))
    assert after["enabled"] is True and [t["name"] for t in data(admin_api.get("/api/v1/targets"))] == ["branch-office"]


# testing a target
def test_testing_a_live_xgs(admin_api: ApiClient, xgs_peer, certificates) -> None:
    target = created(admin_api, xgs_body(xgs_peer, certificates))
    result = data(admin_api.post(f"/api/v1/targets/{target['id']}/test"))
    assert result == {
        "ok": True,
        "message": "connected; group VIGIL-BLOCK will be created on the first push",
        "details": {},
    }
    assert [op for r in xgs_peer.requests for op in r.operations if op[0] != "get"] == [], "a test changes nothing"
    status = data(admin_api.get(f"/api/v1/targets/{target['id']}"))["status"]
    assert status["last_test_ok"] is True and status["last_test"] == "2026-11-24T10:00:00Z"


def test_credentials_are_kept_exactly_as_given(admin_api: ApiClient, certificates, aws, settings) -> None:
    spaced = "  two words, then a space "
    with SophosXgsPeer(certificates, username=XGS_USER, password=spaced) as peer:
        body = {**xgs_body(peer, certificates), "credentials": {"username": XGS_USER, "password": spaced}}
        target = created(admin_api, body)
        assert secret_of(aws, settings, target["id"])["password"] == spaced
        assert data(admin_api.post(f"/api/v1/targets/{target['id']}/test"))["ok"] is True


def test_testing_with_wrong_credentials_or_trust_says_why(admin_api: ApiClient, xgs_peer, certificates, tmp_path):
    wrong = created(
        admin_api,
        {**xgs_body(xgs_peer, certificates), "credentials": {"username": XGS_USER, "password": "not-it"}},
    )
    answer = data(admin_api.post(f"/api/v1/targets/{wrong['id']}/test"))
    assert answer["ok"] is False and "username or password" in answer["message"]
    assert answer["details"] == {"retryable": False}
    other_ca = make_certificates(tmp_path / "other").ca_pem
    untrusted = created(admin_api, {**xgs_body(xgs_peer, certificates, name="mitm"), "settings": {"ca_pem": other_ca}})
    answer = data(admin_api.post(f"/api/v1/targets/{untrusted['id']}/test"))
    assert answer["ok"] is False and "not trusted" in answer["message"]


def test_a_target_that_is_down_tests_false(admin_api: ApiClient, xgs_peer, certificates, ssh_peer, vigil_key) -> None:
    xgs = created(admin_api, xgs_body(xgs_peer, certificates))
    ssh = created(admin_api, ssh_body(ssh_peer, vigil_key[0]))
    xgs_peer.stop()
    ssh_peer.stop()
    for target in (xgs, ssh):
        response = admin_api.post(f"/api/v1/targets/{target['id']}/test")
        answer = data(response)
        assert answer["ok"] is False and answer["message"] and answer["details"]["retryable"] is True, answer
        assert data(admin_api.get(f"/api/v1/targets/{target['id']}"))["status"]["last_test_ok"] is False
    xgs_peer.start()
    assert data(admin_api.post(f"/api/v1/targets/{xgs['id']}/test"))["ok"] is True, "and true again once it is back"


def test_an_ssh_target_whose_host_is_down_is_still_created(admin_api: ApiClient, ssh_peer, vigil_key) -> None:
    ssh_peer.stop()
    target = created(admin_api, ssh_body(ssh_peer, vigil_key[0]))
    assert target["setup"]["ok"] is False and target["setup"]["message"]
    status = data(admin_api.get(f"/api/v1/targets/{target['id']}"))["status"]
    assert status["last_test_ok"] is False and status["last_test"] == "2026-11-24T10:00:00Z"


# seed 000: xgs-status and sync
def test_xgs_status_lists_the_sophos_targets(
    admin_api: ApiClient, xgs_peer, certificates, ssh_peer, vigil_key, settings
) -> None:
    first = created(admin_api, xgs_body(xgs_peer, certificates, name="paris"))
    second = created(admin_api, xgs_body(xgs_peer, certificates, name="lyon", enabled=False))
    created(admin_api, ssh_body(ssh_peer, vigil_key[0]))
    admin_api.post(f"/api/v1/targets/{first['id']}/test")
    answer = admin_api.get("/api/v1/bans/xgs-status").json()
    rows = {r["name"]: r for r in answer["data"]}
    assert set(rows) == {"paris", "lyon"}, "only Sophos targets"
    assert rows["paris"]["id"] == first["id"] and rows["paris"]["address"] == xgs_peer.address
    assert rows["paris"]["enabled"] is True and rows["paris"]["last_test_ok"] is True
    assert rows["lyon"]["id"] == second["id"] and rows["lyon"]["enabled"] is False and rows["lyon"]["connected"] is None
    for row in rows.values():
        assert {"connected", "last_sync", "last_error", "pending", "drift_repaired"} <= set(row)
    assert answer["meta"]["total"] == 2
    assert answer["meta"]["queue"] == {settings.decisions_queue: 0, f"{settings.decisions_queue}-dlq": 0}


def test_sync_answers_a_job_to_poll(admin_api: ApiClient, container, aws, settings, xgs_peer, certificates) -> None:
    target = created(admin_api, xgs_body(xgs_peer, certificates))
    assert admin_api.post("/api/v1/bans", json={"ip": "203.0.113.7", "duration": "1h"}).status == 201
    started = admin_api.post("/api/v1/bans/sync")
    assert started.status == 202
    job = started.json()["data"]
    assert started.header("Location") == f"/api/v1/bans/sync/{job['id']}"
    assert job["status"] == "queued" and job["targets"] == [target["id"]] and job["kind"] == "sync"
    assert job["requested_by"].startswith("user:") and job["created_at"] == "2026-11-24T10:00:00Z"
    assert data(admin_api.get(f"/api/v1/bans/sync/{job['id']}"))["status"] == "queued"

    deliver(aws, settings.decisions_queue, "push_decisions")  # the push function runs the job
    done = data(admin_api.get(f"/api/v1/bans/sync/{job['id']}"))
    assert done["status"] == "done" and done["finished_at"] == "2026-11-24T10:00:00Z"
    assert done["results"][target["id"]]["in_sync"] is True, "the ban's own push got there first"
    assert xgs_peer.members("VIGIL-BLOCK") == ["vigil-203.0.113.7"]
    status = data(admin_api.get("/api/v1/bans/xgs-status"))[0]
    assert status["connected"] is True and status["last_sync"] == "2026-11-24T10:00:00Z"

    xgs_peer.groups["VIGIL-BLOCK"].hosts.clear()  # someone emptied the group on the firewall
    again = admin_api.post("/api/v1/bans/sync", json={"targets": [target["id"]]}).json()["data"]
    deliver(aws, settings.decisions_queue, "push_decisions")
    repaired = data(admin_api.get(f"/api/v1/bans/sync/{again['id']}"))
    assert repaired["status"] == "done" and repaired["results"][target["id"]]["added"] == 1
    assert xgs_peer.members("VIGIL-BLOCK") == ["vigil-203.0.113.7"]


def test_sync_refusals(admin_api: ApiClient) -> None:
    missing = admin_api.get("/api/v1/bans/sync/0123456789abcdef0123456789abcdef")
    assert missing.status == 404 and missing.json()["error"]["code"] == "NOT_FOUND"
    unknown_target = admin_api.post("/api/v1/bans/sync", json={"targets": ["000000000000"]})
    assert unknown_target.status == 404
    assert admin_api.post("/api/v1/bans/sync", json={"everything": True}).status == 400
    empty = admin_api.post("/api/v1/bans/sync")
    assert empty.status == 202 and empty.json()["data"]["targets"] == [], "no Sophos target: nothing to do"
