"""Linux hosts over SSH: Vigil's bans in nftables sets (`ssh-nftables`) or ipsets (`ssh-ipset`).

Trust is fixed in advance, never learned: the host's public key (`settings["host_key"]`, an OpenSSH line such as
`ssh-ed25519 AAAA...`) is the only key accepted (`RejectPolicy`; a mismatch is a `TargetConfigurationError`, which
raises an alert, and no command runs), and Vigil logs in with its private key only (no password, no agent, no key
files on disk).

Only these commands are ever sent (optionally behind `sudo -n` with `settings["sudo"]`), built from validated names
and from addresses that `ipaddress` parsed and printed; no text from a decision reaches the host:

    nft -f -                          script on stdin: one atomic transaction per delta, and the one-time setup
    nft -j list set inet <table> <set>
    ipset restore -exist              script on stdin: one command per delta
    ipset save <set>

nftables (behaviour checked with nft 1.0.6 on kernel 6.18): sets `vigil4`/`vigil6` (`flags interval, timeout;
auto-merge;`) in `table inet vigil`. A delta reads both sets, then sends one script: the table and sets declared
(`add` is idempotent), deletions, then additions (`timeout <n>s`, none when permanent; adding an element again
refreshes its timeout). Two facts of auto-merge sets shape this:
- "add then delete" in one transaction is not an idempotent removal there: for an element that exists, the kernel
  refuses the pair ("No such file or directory") and the whole transaction fails. So only elements the read
  found are deleted, with a plain `delete`; one that expires between the read and the write fails the
  transaction, which the push retries, and the retry reads it as gone.
- auto-merge keeps one element per merged interval, so an address inside a wider element is no element of its
  own: adding it changes nothing, and deleting it fails. Such removals are not sent and count as unchanged: the
  wider ban still blocks that address. `current()` reports merged intervals as the CIDRs that cover them.
Timeouts are capped at 365 days (nft refuses values from 100,000,000 s; the reconciler re-adds a ban that
outlived its element). `setup()` adds drop rules in base chains of Vigil's table (hooks from `settings["hooks"]`).

ipset: `hash:net` sets created with `timeout 0` (per-entry timeouts, permanent by default) and `-exist`; a delta
is one `ipset restore -exist` script of `add ... timeout <n>` (0: permanent) and `del` lines, where `-exist` makes
both idempotent. Timeouts are capped at 2,147,483 s (ipset's maximum). Restore applies line by line, not
atomically; a failed delta is retried whole, which is harmless. The iptables rules matching the sets are the
host administrator's (they are outside the allow-list).
"""

from __future__ import annotations

import base64
import bisect
import io
import ipaddress
import json
import math
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import paramiko
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from chalicelib.core.clock import Clock, SystemClock
from chalicelib.core.errors import InternalError
from chalicelib.distribution.connectors.base import (
    ApplyResult,
    Delta,
    Entry,
    Target,
    TargetConfigurationError,
    TargetError,
    TestResult,
)

NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,31}")
USER = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,31}")
NFT_MAX_TIMEOUT = 365 * 86_400
IPSET_MAX_TIMEOUT = 2_147_483
HOOKS = ("input", "forward")
_LINE_ELEMENTS = 1000  # elements per `add element` line; the script stays one transaction
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
SshClientFactory = Callable[[], paramiko.SSHClient]


# --- keys, names, time --------------------------------------------------------------------------------------


def load_private_key(text: str) -> paramiko.PKey:
    """Vigil's key from its secret text: OpenSSH, PKCS#8 or traditional PEM; Ed25519, ECDSA or RSA; unencrypted."""
    data = text.strip().encode()
    try:
        try:
            key = serialization.load_ssh_private_key(data, password=None)
        except ValueError:
            key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise TargetConfigurationError(
            "credentials.private_key is not an unencrypted Ed25519, ECDSA or RSA private key"
        ) from None
    kinds: list[tuple[type, type[paramiko.PKey]]] = [
        (ed25519.Ed25519PrivateKey, paramiko.Ed25519Key),
        (ec.EllipticCurvePrivateKey, paramiko.ECDSAKey),
        (rsa.RSAPrivateKey, paramiko.RSAKey),
    ]
    for crypto_type, paramiko_type in kinds:
        if isinstance(key, crypto_type):
            openssh = key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
            )
            return paramiko_type.from_private_key(io.StringIO(openssh.decode()))
    raise TargetConfigurationError("credentials.private_key must be an Ed25519, ECDSA or RSA key")


def load_host_key(line: str) -> paramiko.PKey:
    """The host's public key from an OpenSSH line (`ssh-ed25519 AAAA... comment`; a leading host name is allowed)."""
    fields = (line or "").split()
    if len(fields) >= 3 and not fields[0].startswith(("ssh-", "ecdsa-")):
        fields = fields[1:]  # a known_hosts line: "host keytype base64"
    if len(fields) < 2:
        raise TargetConfigurationError("settings.host_key must be an OpenSSH public key line")
    try:
        key = paramiko.PKey.from_type_string(fields[0], base64.b64decode(fields[1], validate=True))
    except (paramiko.SSHException, ValueError, TypeError):
        raise TargetConfigurationError("settings.host_key is not a valid OpenSSH public key") from None
    if key.get_name() not in (fields[0], "ssh-rsa"):
        raise TargetConfigurationError("settings.host_key: the key type does not match the key")
    return key


def host_and_port(address: str) -> tuple[str, int]:
    """`host`, `host:port`, `[v6]`, `[v6]:port` → (host, port), port 22 by default."""
    if address.startswith("["):
        host, _, rest = address[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else "22"
    elif address.count(":") == 1:
        host, _, port = address.partition(":")
    else:
        host, port = address, "22"
    if not host or not (port.isascii() and port.isdigit()) or not 0 < int(port) < 65536:
        raise TargetConfigurationError("the target address must be host, host:port or [ipv6]:port")
    return host, int(port)


def checked_name(settings: Mapping[str, Any], key: str, default: str) -> str:
    """A table or set name from the settings, refused unless it matches `NAME` (it goes into commands)."""
    value = str(settings.get(key) or default)
    if not NAME.fullmatch(value):
        raise TargetConfigurationError(f"settings.{key} must be a letter then up to 31 letters, digits or _")
    return value


def seconds_left(entry: Entry, now: datetime, cap: int) -> int | None:
    """Whole seconds until the entry expires (rounded up, capped), None when permanent, 0 when already past."""
    if entry.until is None:
        return None
    left = math.ceil((entry.until - now).total_seconds())
    return max(0, min(left, cap))


def split_entries(entries: Iterable[Entry]) -> tuple[dict[Network, Entry], list[str]]:
    """Entries by parsed network (/0 refused: it would block everything), and the values that were refused."""
    kept: dict[Network, Entry] = {}
    refused: list[str] = []
    for entry in entries:
        try:
            network = ipaddress.ip_network(entry.value)
        except ValueError:
            refused.append(entry.value)
            continue
        if network.prefixlen == 0:
            refused.append(entry.value)
        else:
            kept.setdefault(network, entry)
    return kept, refused


# --- what the host holds ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Element:
    """One element of a set: an interval of addresses (a network, or a merged range) and its timeout."""

    version: int
    first: int
    last: int
    timeout: int | None = None

    def networks(self) -> list[Network]:
        make = ipaddress.IPv4Address if self.version == 4 else ipaddress.IPv6Address
        return list(ipaddress.summarize_address_range(make(self.first), make(self.last)))


class Holdings:
    """The elements of one set, searchable by interval (nft keeps them disjoint; ipset's may nest)."""

    def __init__(self, elements: Iterable[Element]) -> None:
        self.elements = sorted(elements, key=lambda e: (e.first, -e.last))
        self._starts = [e.first for e in self.elements]
        self._exact = {(e.first, e.last) for e in self.elements}

    def exact(self, network: Network) -> bool:
        return (int(network.network_address), int(network.broadcast_address)) in self._exact

    def covers(self, network: Network) -> bool:
        """True when one element holds the whole network; for disjoint elements (nft merges overlaps)."""
        first, last = int(network.network_address), int(network.broadcast_address)
        index = bisect.bisect_right(self._starts, first)
        return index > 0 and self.elements[index - 1].last >= last

    def cidrs(self) -> set[str]:
        return {str(network) for element in self.elements for network in element.networks()}


def parse_nft_set(text: str) -> list[Element]:
    """The elements of `nft -j list set` output: addresses, prefixes, ranges, each maybe wrapped with a timeout."""
    found = []
    for item in json.loads(text).get("nftables", []):
        described = item.get("set") if isinstance(item, dict) else None
        if not described:
            continue
        version = 6 if described.get("type") == "ipv6_addr" else 4
        for raw in described.get("elem", []):
            timeout = None
            if isinstance(raw, dict) and "elem" in raw:
                timeout = raw["elem"].get("timeout")
                raw = raw["elem"]["val"]  # noqa: PLW2901
            first, last = _interval(raw)
            found.append(Element(version, first, last, timeout))
    return found


def _interval(raw: Any) -> tuple[int, int]:
    if isinstance(raw, str):
        value = int(ipaddress.ip_address(raw))
        return value, value
    if "prefix" in raw:
        network = ipaddress.ip_network(f"{raw['prefix']['addr']}/{raw['prefix']['len']}")
        return int(network.network_address), int(network.broadcast_address)
    if "range" in raw:
        return int(ipaddress.ip_address(raw["range"][0])), int(ipaddress.ip_address(raw["range"][1]))
    raise ValueError(f"unknown nft element {raw!r}")


def parse_ipset_save(text: str, name: str) -> list[Element]:
    """The `add <name> ...` lines of `ipset save` output (hash:net prints a host without /32)."""
    found = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 3 or fields[0] != "add" or fields[1] != name:
            continue
        network = ipaddress.ip_network(fields[2])
        timeout = int(fields[fields.index("timeout") + 1]) if "timeout" in fields else None
        version = network.version
        found.append(Element(version, int(network.network_address), int(network.broadcast_address), timeout or None))
    return found


# --- scripts --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NftNames:
    table: str = "vigil"
    set4: str = "vigil4"
    set6: str = "vigil6"

    def set_for(self, version: int) -> str:
        return self.set4 if version == 4 else self.set6


def nft_names(settings: Mapping[str, Any]) -> NftNames:
    """Table and set names from the settings (`table`, `set4`, `set6`), validated."""
    return NftNames(
        checked_name(settings, "table", "vigil"),
        checked_name(settings, "set4", "vigil4"),
        checked_name(settings, "set6", "vigil6"),
    )


def nft_declarations(names: NftNames) -> list[str]:
    """The table and its two sets; `add` leaves them as they are when they exist already."""
    return [
        f"add table inet {names.table}",
        f"add set inet {names.table} {names.set4} {{ type ipv4_addr; flags interval, timeout; auto-merge; }}",
        f"add set inet {names.table} {names.set6} {{ type ipv6_addr; flags interval, timeout; auto-merge; }}",
    ]


def nft_setup_script(names: NftNames, hooks: Iterable[str]) -> str:
    """Declarations plus one base chain per hook that drops the sets' sources (flushed first: idempotent)."""
    lines = nft_declarations(names)
    for hook in hooks:
        lines += [
            f"add chain inet {names.table} {hook} {{ type filter hook {hook} priority -10; policy accept; }}",
            f"flush chain inet {names.table} {hook}",
            f"add rule inet {names.table} {hook} ip saddr @{names.set4} drop",
            f"add rule inet {names.table} {hook} ip6 saddr @{names.set6} drop",
        ]
    return "\n".join(lines) + "\n"


def nft_apply_script(names: NftNames, adds: Mapping[Network, int | None], removes: Iterable[Network]) -> str:
    """One transaction: declarations, deletions (of elements that exist: see the module docstring), additions."""
    lines = nft_declarations(names)
    ordered = sorted(removes, key=_sort_key)
    for version in (4, 6):
        gone = [str(n) for n in ordered if n.version == version]
        for chunk in _chunks(gone):
            lines.append(f"delete element inet {names.table} {names.set_for(version)} {{ {', '.join(chunk)} }}")
    for version in (4, 6):
        new = [
            str(n) if t is None else f"{n} timeout {t}s"
            for n, t in sorted(adds.items(), key=_item_key)
            if n.version == version
        ]
        for chunk in _chunks(new):
            lines.append(f"add element inet {names.table} {names.set_for(version)} {{ {', '.join(chunk)} }}")
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class IpsetNames:
    set4: str = "vigil4"
    set6: str = "vigil6"
    maxelem: int = 65536

    def set_for(self, version: int) -> str:
        return self.set4 if version == 4 else self.set6


def ipset_names(settings: Mapping[str, Any]) -> IpsetNames:
    """Set names (`set4`, `set6`) and `maxelem` from the settings, validated."""
    maxelem = settings.get("maxelem", 65536)
    if not isinstance(maxelem, int) or not 1 <= maxelem <= 2**31:
        raise TargetConfigurationError("settings.maxelem must be a whole number of elements")
    return IpsetNames(checked_name(settings, "set4", "vigil4"), checked_name(settings, "set6", "vigil6"), maxelem)


def ipset_restore_script(names: IpsetNames, adds: Mapping[Network, int | None], removes: Iterable[Network]) -> str:
    """`create -exist` of both sets, then `del` and `add` lines (timeout 0: permanent)."""
    lines = [
        f"create {names.set4} hash:net family inet timeout 0 maxelem {names.maxelem}",
        f"create {names.set6} hash:net family inet6 timeout 0 maxelem {names.maxelem}",
    ]
    lines += [f"del {names.set_for(n.version)} {n}" for n in sorted(removes, key=_sort_key)]
    lines += [f"add {names.set_for(n.version)} {n} timeout {t or 0}" for n, t in sorted(adds.items(), key=_item_key)]
    return "\n".join(lines) + "\n"


def _sort_key(network: Network) -> tuple[int, int, int]:
    return network.version, int(network.network_address), network.prefixlen


def _item_key(item: tuple[Network, int | None]) -> tuple[int, int, int]:
    return _sort_key(item[0])


def _chunks(items: list[str]) -> Iterator[list[str]]:
    for start in range(0, len(items), _LINE_ELEMENTS):
        yield items[start : start + _LINE_ELEMENTS]


# --- the SSH session -----------------------------------------------------------------------------------------

_ALLOWED = (
    re.compile(r"nft -f -"),
    re.compile(r"nft -j list set inet [A-Za-z][A-Za-z0-9_]{0,31} [A-Za-z][A-Za-z0-9_]{0,31}"),
    re.compile(r"ipset restore -exist"),
    re.compile(r"ipset save [A-Za-z][A-Za-z0-9_]{0,31}"),
)


def allowed(command: str) -> bool:
    """True when `command` (without the `sudo -n` prefix) is one of the four commands Vigil may send."""
    return any(pattern.fullmatch(command) for pattern in _ALLOWED)


class Shell:
    """Commands on one connected host: only `allowed` ones, each with a timeout; counts what it sent."""

    def __init__(self, client: paramiko.SSHClient, *, sudo: bool, timeout: float) -> None:
        self._client = client
        self._sudo = sudo
        self._timeout = timeout
        self.commands = 0

    def run(self, command: str, stdin: str | None = None) -> tuple[int, str, str]:
        """Run one allowed command; returns (exit status, stdout, stderr)."""
        if not allowed(command):
            raise InternalError("a command outside the allow-list was about to be sent")
        line = f"sudo -n {command}" if self._sudo else command
        self.commands += 1
        try:
            channel_in, channel_out, channel_err = self._client.exec_command(line, timeout=self._timeout)
            if stdin is not None:
                channel_in.write(stdin)
            channel_in.channel.shutdown_write()
            out = channel_out.read().decode("utf-8", "replace")
            err = channel_err.read().decode("utf-8", "replace")
            if not channel_out.channel.status_event.wait(self._timeout):
                raise TargetError("the host did not report the command's exit status")
            return channel_out.channel.recv_exit_status(), out, err
        except (paramiko.SSHException, OSError, EOFError) as exc:
            raise TargetError(f"ssh command failed: {type(exc).__name__}") from None

    def check(self, command: str, stdin: str | None = None) -> str:
        """Run a command that must succeed; its failure becomes a target error with the tool's first line."""
        status, out, err = self.run(command, stdin)
        if status != 0:
            raise _command_error(command.split(maxsplit=1)[0], status, err)
        return out


def _command_error(tool: str, status: int, err: str) -> TargetError | TargetConfigurationError:
    first = next((line.strip() for line in err.splitlines() if line.strip()), f"exit status {status}")
    first = "".join(ch for ch in first if ch.isprintable())[:200]
    lowered = err.lower()
    if status in (126, 127) or "not found" in lowered:
        return TargetConfigurationError(f"{tool} cannot run on the host: {first}")
    if "password is required" in lowered or "not permitted" in lowered or "permission denied" in lowered:
        return TargetConfigurationError(f"{tool} needs CAP_NET_ADMIN (root, or settings.sudo with a sudoers rule)")
    if "file exists" in lowered:
        return TargetConfigurationError(f"{tool}: a table or set with Vigil's name exists with another definition")
    if "hash is full" in lowered:
        return TargetConfigurationError(f"{tool}: the set is full; raise settings.maxelem (and recreate the set)")
    return TargetError(f"{tool} failed: {first}")


def _missing(err: str) -> bool:
    lowered = err.lower()
    return "no such file or directory" in lowered or "does not exist" in lowered


class _SshConnector:
    kind = ""
    reconcilable = True

    def __init__(
        self,
        *,
        client_factory: SshClientFactory = paramiko.SSHClient,
        clock: Clock | None = None,
        connect_timeout: float = 10.0,
        command_timeout: float = 30.0,
    ) -> None:
        self._factory = client_factory
        self._clock = clock or SystemClock()
        self._connect_timeout = connect_timeout
        self._command_timeout = command_timeout

    @contextmanager
    def shell(self, target: Target) -> Iterator[Shell]:
        """A connected, authenticated shell on the target (closed afterwards)."""
        host, port = host_and_port(target.address)
        host_key = load_host_key(str(target.settings.get("host_key") or ""))
        username = str(target.settings.get("username") or "")
        if not USER.fullmatch(username):
            raise TargetConfigurationError("settings.username must be a Unix user name")
        private_key = load_private_key(target.credentials.get("private_key", ""))
        client = self._factory()
        try:
            self._connect(client, host, port, username, host_key, private_key)
            yield Shell(client, sudo=bool(target.settings.get("sudo")), timeout=self._command_timeout)
        finally:
            client.close()

    def _connect(
        self, client: paramiko.SSHClient, host: str, port: int, username: str, host_key: paramiko.PKey, key: Any
    ) -> None:
        client.set_missing_host_key_policy(paramiko.RejectPolicy())
        known = host if port == 22 else f"[{host}]:{port}"
        client.get_host_keys().add(known, host_key.get_name(), host_key)
        try:
            client.connect(
                host,
                port=port,
                username=username,
                pkey=key,
                timeout=self._connect_timeout,
                banner_timeout=self._connect_timeout,
                auth_timeout=self._connect_timeout,
                channel_timeout=self._connect_timeout,
                allow_agent=False,
                look_for_keys=False,
            )
        except paramiko.BadHostKeyException as exc:
            raise TargetConfigurationError(
                f"host key mismatch for {known}: the host presented {exc.key.get_name()} "
                f"SHA256:{exc.key.fingerprint.split(':', 1)[-1]}, not the key in settings.host_key; "
                "nothing was sent. Check the host before updating the key."
            ) from None
        except paramiko.AuthenticationException:
            raise TargetConfigurationError(f"{known} refused Vigil's key for user {username}") from None
        except paramiko.SSHException as exc:
            if "known_hosts" in str(exc):
                raise TargetConfigurationError(f"{known} is not the host in settings.host_key") from None
            raise TargetError(f"ssh connection to {known} failed: {type(exc).__name__}") from None
        except (OSError, EOFError) as exc:
            raise TargetError(f"ssh connection to {known} failed: {type(exc).__name__}") from None

    def _timeouts(self, adds: dict[Network, Entry], cap: int) -> tuple[dict[Network, int | None], list[str]]:
        """Seconds left per added network; entries already past their end are reported, not added."""
        now = self._clock.now()
        timed: dict[Network, int | None] = {}
        expired = []
        for network, entry in adds.items():
            left = seconds_left(entry, now, cap)
            if left == 0:
                expired.append(entry.value)
            else:
                timed[network] = left
        return timed, expired


class NftablesConnector(_SshConnector):
    """Bans in nftables interval sets, one `nft -f -` transaction per delta."""

    kind = "ssh-nftables"

    def apply(self, target: Target, delta: Delta) -> ApplyResult:
        """Read the sets, then send one transaction with the removals and additions."""
        names = nft_names(target.settings)
        adds, refused = split_entries(delta.add)
        removes, refused_removes = split_entries(delta.remove)
        timed, expired = self._timeouts(adds, NFT_MAX_TIMEOUT)
        with self.shell(target) as shell:
            held = {v: self._read(shell, names, v) for v in {n.version for n in [*timed, *removes]}}
            # Why only elements found are deleted: deleting a missing one, or an address inside a wider (merged)
            # element, aborts the whole transaction; the wider ban still blocks that address.
            present = [n for n in removes if held[n.version].exact(n)]
            new = {n: t for n, t in timed.items() if n not in removes}
            covered = sum(1 for n in new if held[n.version].covers(n))
            if present or new:
                shell.check("nft -f -", nft_apply_script(names, new, present))
            return ApplyResult(
                added=len(new) - covered,
                removed=len(present),
                unchanged=covered + len(removes) - len(present),
                requests=shell.commands,
                skipped=tuple(refused + refused_removes + expired),
            )

    def current(self, target: Target) -> set[str]:
        """The CIDRs in both sets (a merged range becomes the CIDRs that cover it)."""
        names = nft_names(target.settings)
        with self.shell(target) as shell:
            return self._read(shell, names, 4).cidrs() | self._read(shell, names, 6).cidrs()

    def test(self, target: Target) -> TestResult:
        """Connect (host key, key login) and list the IPv4 set: proves nft runs with the needed rights."""
        try:
            names = nft_names(target.settings)
            with self.shell(target) as shell:
                held = self._read(shell, names, 4)
        except (TargetError, TargetConfigurationError) as exc:
            return TestResult(False, exc.message, {"retryable": isinstance(exc, TargetError)})
        return TestResult(True, f"connected; {names.set4} holds {len(held.elements)} elements", {})

    def setup(self, target: Target) -> ApplyResult:
        """Create the table, sets and drop rules (`settings["hooks"]`, default input); safe to repeat."""
        hooks = list(target.settings.get("hooks") or ["input"])
        if not set(hooks) <= set(HOOKS):
            raise TargetConfigurationError("settings.hooks may hold input and forward")
        with self.shell(target) as shell:
            shell.check("nft -f -", nft_setup_script(nft_names(target.settings), hooks))
            return ApplyResult(requests=shell.commands)

    def _read(self, shell: Shell, names: NftNames, version: int) -> Holdings:
        status, out, err = shell.run(f"nft -j list set inet {names.table} {names.set_for(version)}")
        if status != 0:
            if _missing(err):
                return Holdings([])
            raise _command_error("nft", status, err)
        try:
            return Holdings(parse_nft_set(out))
        except (ValueError, KeyError, TypeError):
            raise TargetError("nft printed a set Vigil cannot read") from None


class IpsetConnector(_SshConnector):
    """Bans in `hash:net` ipsets, one `ipset restore -exist` per delta."""

    kind = "ssh-ipset"

    def apply(self, target: Target, delta: Delta) -> ApplyResult:
        """Read the sets (for the counts), then send one restore script."""
        names = ipset_names(target.settings)
        adds, refused = split_entries(delta.add)
        removes, refused_removes = split_entries(delta.remove)
        timed, expired = self._timeouts(adds, IPSET_MAX_TIMEOUT)
        new = {n: t for n, t in timed.items() if n not in removes}
        with self.shell(target) as shell:
            held = {v: self._read(shell, names, v) for v in {n.version for n in [*new, *removes]}}
            present = [n for n in removes if held[n.version].exact(n)]
            already = sum(1 for n in new if held[n.version].exact(n))
            if new or removes:
                shell.check("ipset restore -exist", ipset_restore_script(names, new, removes))
            return ApplyResult(
                added=len(new) - already,
                removed=len(present),
                unchanged=already + len(removes) - len(present),
                requests=shell.commands,
                skipped=tuple(refused + refused_removes + expired),
            )

    def current(self, target: Target) -> set[str]:
        """The CIDRs in both sets."""
        names = ipset_names(target.settings)
        with self.shell(target) as shell:
            return self._read(shell, names, 4).cidrs() | self._read(shell, names, 6).cidrs()

    def test(self, target: Target) -> TestResult:
        """Connect (host key, key login) and save the IPv4 set: proves ipset runs with the needed rights."""
        try:
            names = ipset_names(target.settings)
            with self.shell(target) as shell:
                held = self._read(shell, names, 4)
        except (TargetError, TargetConfigurationError) as exc:
            return TestResult(False, exc.message, {"retryable": isinstance(exc, TargetError)})
        return TestResult(True, f"connected; {names.set4} holds {len(held.elements)} entries", {})

    def setup(self, target: Target) -> ApplyResult:
        """Create both sets (`create -exist`); safe to repeat."""
        names = ipset_names(target.settings)
        with self.shell(target) as shell:
            shell.check("ipset restore -exist", ipset_restore_script(names, {}, []))
            return ApplyResult(requests=shell.commands)

    def _read(self, shell: Shell, names: IpsetNames, version: int) -> Holdings:
        name = names.set_for(version)
        status, out, err = shell.run(f"ipset save {name}")
        if status != 0:
            if _missing(err):
                return Holdings([])
            raise _command_error("ipset", status, err)
        try:
            return Holdings(parse_ipset_save(out, name))
        except (ValueError, IndexError):
            raise TargetError("ipset printed a set Vigil cannot read") from None
