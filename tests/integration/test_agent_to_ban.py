"""End to end: a generated auth.log → the agent → ingest → the ssh scenario → a ban, visible in seed 000's
bans and seed 002's blocked IPs, over real HTTP against the `scripts/run` stack."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.integration.conftest import ROOT, Stack, admin_token, call

pytestmark = pytest.mark.integration
ATTACKER = "203.0.113.99"


def auth_log(path: Path, now: datetime) -> None:
    """Classic syslog lines: noise, a legitimate login, and six failed passwords from one address."""

    def syslog_stamp(when: datetime) -> str:
        return f"{when:%b} {when.day:>2} {when:%H:%M:%S}"

    lines = []
    for minute in range(6):
        stamp = syslog_stamp(now - timedelta(minutes=6 - minute))
        lines.append(f"{stamp} web-1 CRON[100{minute}]: pam_unix(cron:session): session opened for user root")
        lines.append(f"{stamp} web-1 sshd[20{minute}]: Failed password for root from {ATTACKER} port 5{minute}022 ssh2")
    stamp = syslog_stamp(now)
    lines.append(f"{stamp} web-1 sshd[300]: Accepted publickey for deploy from 198.51.100.3 port 50000 ssh2")
    path.write_text("\n".join(lines) + "\n")


def test_an_attack_in_a_log_file_becomes_a_ban(stack: Stack, tmp_path: Path) -> None:
    token = admin_token(stack)
    status, _, body = call(
        "POST",
        stack.url("/api/v1/api-keys"),
        token=token,
        body={"name": "web-1 agent", "scopes": ["INGEST"], "sensor": "web-1"},
    )
    assert status == 201, body
    key_file = tmp_path / "key"
    key_file.write_text(json.loads(body)["data"]["key"])
    log = tmp_path / "auth.log"
    auth_log(log, datetime.now(UTC))
    agent = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "agent"),
            "--url",
            stack.base,
            "--api-key-file",
            str(key_file),
            "--sensor",
            "web-1",
            "--format",
            "sshd",
            "--path",
            str(log),
            "--from-start",
            "--once",
            "--state-file",
            str(tmp_path / "state.json"),
            "--spool-dir",
            str(tmp_path / "spool"),
            "--verbose",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert agent.returncode == 0, agent.stderr
    assert key_file.read_text() not in agent.stderr, "the agent never logs its key"

    status, _, body = call("GET", stack.url(f"/api/v1/bans/{ATTACKER}"), token=token)
    assert status == 200, body
    ban = json.loads(body)["data"]
    assert ban["source"] == "scenario" and ban["scenario"]
    status, _, body = call("GET", stack.url("/api/v1/blocked-ips"), token=token)
    blocked = [b for b in json.loads(body)["data"] if b["ip_address"] == ATTACKER]
    assert blocked and blocked[0]["auto_blocked"] is True
    status, _, body = call("GET", stack.url("/api/v1/vms"), token=token)
    assert any(vm["vm_id"] == "web-1" and vm["status"] == "active" for vm in json.loads(body)["data"])
    status, _, body = call("GET", stack.url(f"/api/v1/events?src_ip={ATTACKER}"), token=token)
    assert json.loads(body)["meta"]["total"] == 6
