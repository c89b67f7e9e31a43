"""The embedded AWS emulator: moto server in a child process on loopback."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path


class MotoServer:
    """Start, wait for and stop `python -m moto.server` bound to 127.0.0.1."""

    def __init__(self, port: int, log_path: Path) -> None:
        self.port = port
        self.log_path = log_path
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> None:
        if _port_in_use(self.port):
            raise RuntimeError(f"port {self.port} is in use: stop what runs there or set VIGIL_MOTO_PORT")
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        self._process = subprocess.Popen(
            [sys.executable, "-m", "devstack.moto_main", "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            # Its own session: Ctrl-C in the terminal reaches only scripts/run, which saves the data from the
            # emulator before stopping it.
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"moto server exited; see {self.log_path}")
            try:
                with urllib.request.urlopen(f"{self.url}/moto-api/", timeout=1):  # noqa: S310 - loopback
                    return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"moto server did not answer within {timeout:.0f}s; see {self.log_path}")

    def stop(self) -> None:
        if self._process is None:
            return
        self._process.terminate()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
        self._process = None


def _port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def free_port() -> int:
    """A port nothing listens on right now (for tests that start their own stack)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
