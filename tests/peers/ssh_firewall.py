"""A Linux firewall host reachable over SSH on 127.0.0.1, for the nftables and ipset connectors.

The SSH side is a real SSH server (paramiko's server mode): its own host key, generated per test; public-key
authentication against one authorised key and one user; `exec` requests only (no shell, no pty, no forwarding).
Why not OpenSSH's `sshd`: it would execute commands on this machine as a real user, and what these tests must
prove is what Vigil *sends*; this server sees every command, runs only the grammar below, and records the rest.

The grammar is the connector's allow-list, written here independently: `nft -f -`, `nft -j list set inet T S`,
`ipset restore -exist`, `ipset save S` / `ipset list -output save S` (each optionally after `sudo -n`), and inside
the scripts only table/set/chain/rule declarations and element additions and deletions. A command or a script line
outside it is refused (exit 127 / 1) and recorded in `refused`, and nothing of it runs.

What runs an accepted command is a backend:
- `KernelBackend`: the real `nft` and `ipset`, inside a private network namespace made for the peer (`unshare -n`,
  commands through `nsenter`), so the host's own firewall is never touched. Needs root, both tools and namespaces.
- `ModelBackend`: `netfilter_model`, an in-memory nftables/ipset with the behaviours Vigil depends on, for
  machines without those privileges (most CI runners). It is a model, not the kernel: the parity test checks it
  against the kernel where both exist.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import re
import shutil
import socket
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import paramiko
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from tests.peers.netfilter_model import IpsetModel, NftModel, PeerClock

Result = tuple[int, str, str]
logging.getLogger("tests.peers.ssh").setLevel(logging.CRITICAL)
NAME = r"[A-Za-z][A-Za-z0-9_]{0,31}"
ADDRESS = r"[0-9A-Fa-f:.]+(?:/\d{1,3})?"
ELEMENT = rf"{ADDRESS}(?: timeout \d+s)?"
COMMANDS = {
    "nft-script": re.compile(r"nft -f -"),
    "nft-list": re.compile(rf"nft -j list set inet ({NAME}) ({NAME})"),
    "ipset-restore": re.compile(r"ipset restore -exist"),
    "ipset-save": re.compile(rf"ipset (?:save|list -output save) ({NAME})"),
}
NFT_LINES = [
    re.compile(rf"add table inet {NAME}"),
    re.compile(rf"add set inet {NAME} {NAME} \{{ type ipv[46]_addr; flags interval, timeout; auto-merge; \}}"),
    re.compile(rf"add chain inet {NAME} (input|forward) \{{ type filter hook \1 priority -?\d+; policy accept; \}}"),
    re.compile(rf"flush chain inet {NAME} (?:input|forward)"),
    re.compile(rf"add rule inet {NAME} (?:input|forward) ip6? saddr @{NAME} drop"),
    re.compile(rf"(?:add|delete) element inet {NAME} {NAME} \{{ {ELEMENT}(?:, {ELEMENT})* \}}"),
]
IPSET_LINES = [
    re.compile(rf"create {NAME} hash:net family inet6? timeout 0 maxelem \d+"),
    re.compile(rf"add {NAME} {ADDRESS} timeout \d+"),
    re.compile(rf"del {NAME} {ADDRESS}"),
]


def new_key() -> paramiko.Ed25519Key:
    """A fresh Ed25519 key (paramiko cannot generate Ed25519 keys itself)."""
    return paramiko.Ed25519Key.from_private_key(io.StringIO(openssh_private_text(ed25519.Ed25519PrivateKey.generate())))


def openssh_private_text(key: ed25519.Ed25519PrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
    ).decode()


def public_line(key: paramiko.PKey) -> str:
    """The OpenSSH public key line (`ssh-ed25519 AAAA...`) that a target's `settings["host_key"]` holds."""
    return f"{key.get_name()} {key.get_base64()}"


class Backend(Protocol):
    def run(self, kind: str, match: re.Match[str], stdin: str) -> Result: ...

    def close(self) -> None: ...


class ModelBackend:
    name = "model"

    def __init__(self) -> None:
        self.clock = PeerClock()
        self.nft = NftModel(self.clock)
        self.ipset = IpsetModel(self.clock)

    def run(self, kind: str, match: re.Match[str], stdin: str) -> Result:
        if kind == "nft-script":
            return self.nft.run_script(stdin)
        if kind == "nft-list":
            return self.nft.list_set(match[1], match[2])
        if kind == "ipset-restore":
            return self.ipset.restore(stdin)
        return self.ipset.save(match[1])

    def close(self) -> None:
        return


class KernelBackend:
    """Real nft and ipset in a network namespace that lives as long as the peer."""

    name = "kernel"

    def __init__(self) -> None:
        self._holder = subprocess.Popen(["unshare", "--net", "sleep", "infinity"])
        own = os.readlink("/proc/self/ns/net")
        deadline = time.monotonic() + 5
        # Why wait: until unshare has run, the holder is still in *our* namespace, and a command entering it
        # would change this machine's firewall.
        while os.readlink(f"/proc/{self._holder.pid}/ns/net") == own:
            if time.monotonic() > deadline or self._holder.poll() is not None:
                self.close()
                raise RuntimeError("could not create a network namespace")
            time.sleep(0.01)

    @staticmethod
    def available() -> bool:
        if os.geteuid() != 0 or not all(shutil.which(t) for t in ("nft", "ipset", "unshare", "nsenter")):
            return False
        probe = subprocess.run(
            ["unshare", "--net", "sh", "-c", "nft list ruleset && ipset list -n"],
            capture_output=True,
            check=False,
            timeout=10,
        )
        return probe.returncode == 0

    def run(self, kind: str, match: re.Match[str], stdin: str) -> Result:
        if kind == "nft-script":
            argv = ["nft", "-f", "-"]
        elif kind == "nft-list":
            argv = ["nft", "-j", "list", "set", "inet", match[1], match[2]]
        elif kind == "ipset-restore":
            argv = ["ipset", "restore", "-exist"]
        else:
            argv = ["ipset", "save", match[1]]
        done = subprocess.run(
            ["nsenter", "-t", str(self._holder.pid), "-n", *argv],
            input=stdin,
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
        return done.returncode, done.stdout, done.stderr

    def close(self) -> None:
        if self._holder.poll() is None:
            self._holder.terminate()
            self._holder.wait(timeout=5)


@dataclass
class Executed:
    command: str
    stdin: str
    status: int


class _Server(paramiko.ServerInterface):
    def __init__(self, peer: SshFirewallPeer) -> None:
        self.peer = peer

    def get_allowed_auths(self, username: str) -> str:
        return "publickey"

    def check_auth_publickey(self, username: str, key: paramiko.PKey) -> int:
        self.peer.auth_attempts += 1
        if username == self.peer.username and key.get_base64() == self.peer.authorized_key.get_base64():
            return paramiko.AUTH_SUCCESSFUL
        return paramiko.AUTH_FAILED

    def check_channel_request(self, kind: str, chanid: int) -> int:
        if kind == "session":
            return paramiko.OPEN_SUCCEEDED
        return paramiko.OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED

    def check_channel_exec_request(self, channel: paramiko.Channel, command: bytes) -> bool:
        threading.Thread(target=self.peer.serve_exec, args=(channel, command.decode()), daemon=True).start()
        return True


class SshFirewallPeer:
    """The SSH server. `backend` is a `KernelBackend` or a `ModelBackend`."""

    def __init__(
        self,
        backend: Backend,
        authorized_key: paramiko.PKey,
        *,
        username: str = "vigil",
        host_key: paramiko.PKey | None = None,
    ) -> None:
        self.backend = backend
        self.authorized_key = authorized_key
        self.username = username
        self.host_key = host_key or new_key()
        self.executed: list[Executed] = []
        self.refused: list[str] = []
        self.auth_attempts = 0
        self.port = 0
        self._socket: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._transports: list[paramiko.Transport] = []
        self._lock = threading.Lock()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def host_key_line(self) -> str:
        return public_line(self.host_key)

    def commands(self, kind: str | None = None) -> list[str]:
        """Commands that ran, optionally only one of the `COMMANDS` kinds."""
        return [e.command for e in self.executed if kind is None or _classify(e.command)[0] == kind]

    def start(self) -> SshFirewallPeer:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(16)
        self.port = listener.getsockname()[1]
        self._socket = listener
        self._thread = threading.Thread(target=self._accept, name="ssh-firewall-peer", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._socket is not None:
            listener, self._socket = self._socket, None
            # Why shutdown first: close() alone does not wake a thread blocked in accept() on Linux, and that
            # thread would go on answering on the old port.
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
            if self._thread is not None:
                self._thread.join(timeout=5)
        for transport in self._transports:
            transport.close()
        self._transports.clear()

    def __enter__(self) -> SshFirewallPeer:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    def _accept(self) -> None:
        listener = self._socket
        while listener is not None and self._socket is listener:
            try:
                connection, _ = listener.accept()
            except OSError:
                return
            if self._socket is not listener:
                connection.close()
                return
            transport = paramiko.Transport(connection)
            transport.set_log_channel("tests.peers.ssh")  # quiet: clients hanging up is normal here
            transport.add_server_key(self.host_key)
            self._transports.append(transport)
            try:
                transport.start_server(server=_Server(self))
            except (paramiko.SSHException, EOFError, OSError):
                transport.close()  # the client hung up, e.g. after refusing our host key

    def serve_exec(self, channel: paramiko.Channel, command: str) -> None:
        chunks = []
        try:
            while chunk := channel.recv(65536):
                chunks.append(chunk)
        except (EOFError, OSError, paramiko.SSHException):
            channel.close()
            return  # the client went away before sending everything: nothing runs
        status, out, err = self.execute(command, b"".join(chunks).decode())
        try:
            channel.sendall(out.encode())
            channel.sendall_stderr(err.encode())
            channel.send_exit_status(status)
            channel.close()
        except (EOFError, OSError, paramiko.SSHException):
            return  # the client hung up early (a timeout on its side); the command has run, as on a real host

    def execute(self, command: str, stdin: str) -> Result:
        """Check a command and its script against the grammar; run it on the backend only if both pass."""
        kind, match = _classify(command)
        if match is None:
            with self._lock:
                self.refused.append(command)
            return 127, "", f"vigil-peer: {command.split(maxsplit=1)[0] if command else '?'}: not allowed\n"
        lines = NFT_LINES if kind == "nft-script" else IPSET_LINES if kind == "ipset-restore" else []
        for line in stdin.splitlines() if lines else []:
            if line.strip() and not any(pattern.fullmatch(line.strip()) for pattern in lines):
                with self._lock:
                    self.refused.append(f"{command} <<< {line}")
                return 1, "", f"vigil-peer: script line not allowed: {line[:80]}\n"
        with self._lock:
            result = self.backend.run(kind, match, stdin)
            self.executed.append(Executed(command, stdin, result[0]))
        return result


def _classify(command: str) -> tuple[str, re.Match[str] | None]:
    bare = command.removeprefix("sudo -n ")
    for kind, pattern in COMMANDS.items():
        match = pattern.fullmatch(bare)
        if match:
            return kind, match
    return "", None


def kernel_available() -> bool:
    """True when `KernelBackend` can run here (root, nft, ipset, network namespaces)."""
    return KernelBackend.available()


def write_key(path: Path, key: ed25519.Ed25519PrivateKey) -> None:
    path.write_text(openssh_private_text(key))
