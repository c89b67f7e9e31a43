"""The `scripts/run` stack, started once per test session on free loopback ports, for real-HTTP tests."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from devstack.moto_server import free_port

ROOT = Path(__file__).resolve().parents[2]
ADMIN_EMAIL = "admin@integration.example"
ADMIN_PASSWORD = "integration-admin-password-1"


@dataclass
class Stack:
    base: str
    moto: str
    data_dir: Path
    process: subprocess.Popen
    log: Path

    def url(self, path: str) -> str:
        return self.base + path


def start_stack(data_dir: Path, log: Path, port: int | None = None, moto_port: int | None = None) -> Stack:
    port = port or free_port()
    moto_port = moto_port or free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "VIGIL_", "LOCALSTACK"))}
    env.update(
        VIGIL_ADMIN_EMAIL=ADMIN_EMAIL,
        VIGIL_ADMIN_PASSWORD=ADMIN_PASSWORD,
        PYTHONUNBUFFERED="1",
        VIGIL_PASSWORD_TIME_COST="1",
        VIGIL_PASSWORD_MEMORY_KIB="8192",
    )
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "devstack.run",
            "--port",
            str(port),
            "--moto-port",
            str(moto_port),
            "--data-dir",
            str(data_dir),
            "--snapshot-every",
            "3600",
        ],
        cwd=ROOT,
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )
    stack = Stack(f"http://127.0.0.1:{port}", f"http://127.0.0.1:{moto_port}", data_dir, process, log)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"scripts/run exited early:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(stack.url("/api/v1/health"), timeout=2) as answer:
                if answer.status == 200:
                    return stack
        except OSError:
            time.sleep(0.3)
    stop_stack(stack)
    raise RuntimeError(f"the stack did not become healthy in 120 s:\n{log.read_text()[-3000:]}")


def stop_stack(stack: Stack) -> None:
    """Ctrl-C, as a user would: the platform saves its data and stops the emulator."""
    if stack.process.poll() is None:
        stack.process.send_signal(signal.SIGINT)
        try:
            stack.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            stack.process.kill()


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    folder = tmp_path_factory.mktemp("stack")
    running = start_stack(folder / "data", folder / "run.log")
    yield running
    stop_stack(running)


def call(
    method: str,
    url: str,
    *,
    body: object = None,
    token: str | None = None,
    form: dict | None = None,
    headers: dict | None = None,
) -> tuple[int, dict, bytes]:
    """One real HTTP request; returns (status, headers, body) whatever the status."""
    data = None
    sent = dict(headers or {})
    if body is not None:
        data = json.dumps(body).encode()
        sent["Content-Type"] = "application/json"
    elif form is not None:
        from urllib.parse import urlencode  # noqa: PLC0415

        data = urlencode(form).encode()
        sent["Content-Type"] = "application/x-www-form-urlencoded"
    if token:
        sent["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, data=data, method=method, headers=sent)
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, dict(answer.headers), answer.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


_TOKENS: dict[str, str] = {}


def admin_token(stack: Stack) -> str:
    """The admin's access token on this stack, logged in once: the tests share 127.0.0.1, and the login limit
    (five attempts per address per 15 minutes, seed 001) would refuse a login per test."""
    if stack.base not in _TOKENS:
        form = {"username": ADMIN_EMAIL, "password": ADMIN_PASSWORD}
        status, _, body = call("POST", stack.url("/auth/login"), form=form)
        assert status == 200, body
        _TOKENS[stack.base] = json.loads(body)["access_token"]
    return _TOKENS[stack.base]
