"""`scripts/run`: the whole platform on one machine.

Starts the AWS emulator (moto server on 127.0.0.1:4566, unless `AWS_ENDPOINT_URL` or `LOCALSTACK_HOST` names
another endpoint), restores the last snapshot, creates every resource from `infra/resources.py`, makes sure
an admin user exists, serves the API on 127.0.0.1:8000 through Chalice's local server (with API Gateway's
404s and caller addresses, see `devstack.gateway`), and drives schedules and queue consumers. Ctrl-C stops
everything and writes the snapshot.
"""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from devstack.moto_server import MotoServer

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA = ROOT / ".vigil"


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="scripts/run", description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=int(os.environ.get("VIGIL_PORT", "8000")))
    parser.add_argument("--moto-port", type=int, default=int(os.environ.get("VIGIL_MOTO_PORT", "4566")))
    parser.add_argument("--data-dir", type=Path, default=Path(os.environ.get("VIGIL_DATA_DIR", DEFAULT_DATA)))
    parser.add_argument("--snapshot-every", type=float, default=60.0, help="seconds between snapshots")
    parser.add_argument("--no-driver", action="store_true", help="serve the API only (no schedules, no queues)")
    return parser.parse_args(argv)


def _prepare_environment(moto_url: str | None, data_dir: Path) -> None:
    """Point the app at the local endpoint with fake credentials (moto accepts any), and give it a signing
    key for tokens that survives restarts (kept in the data folder, readable by its owner only)."""
    if moto_url:
        os.environ["AWS_ENDPOINT_URL"] = moto_url
    if not os.environ.get("VIGIL_JWT_SECRET") and not os.environ.get("VIGIL_JWT_SECRET_PARAMETER"):
        key_file = data_dir / "jwt-secret"
        if not key_file.exists():
            data_dir.mkdir(parents=True, exist_ok=True)
            key_file.write_text(secrets.token_urlsafe(48))
            key_file.chmod(0o600)
        os.environ["VIGIL_JWT_SECRET"] = key_file.read_text().strip()
    for name, value in (("AWS_ACCESS_KEY_ID", "local"), ("AWS_SECRET_ACCESS_KEY", "local")):
        os.environ.setdefault(name, value)
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    os.environ.setdefault("VIGIL_STAGE", "local")


class Platform:
    """The running pieces, so that one `stop()` shuts them down in order."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.moto: MotoServer | None = None
        self.server: Any = None
        self.driver: Any = None
        self.snapshot_path = args.data_dir / "snapshot.json.gz"
        self._stopped = threading.Event()

    def start(self) -> None:
        external = os.environ.get("AWS_ENDPOINT_URL") or os.environ.get("LOCALSTACK_HOST")
        if not external:
            self.moto = MotoServer(self.args.moto_port, self.args.data_dir / "moto.log")
            self.moto.start()
        _prepare_environment(self.moto.url if self.moto else None, self.args.data_dir)

        # Imported only now: the settings read the environment prepared above.
        from chalicelib.core.deps import get_container  # noqa: PLC0415
        from devstack import bootstrap, snapshot  # noqa: PLC0415

        container = get_container()
        bootstrap.create_all(container.aws, container.settings)
        if self.moto:
            saved = snapshot.load(self.snapshot_path)
            if saved:
                counts = snapshot.restore(saved, container.aws, container.settings)
                print(f"restored {counts['items']} items, {counts['objects']} objects from {self.snapshot_path}")
        admin_note = _ensure_admin(container)

        import app  # noqa: PLC0415
        from devstack.server import start_server  # noqa: PLC0415

        self.server = start_server(app.app, self.args.port)
        if not self.args.no_driver:
            from devstack.driver import Driver  # noqa: PLC0415

            self.driver = Driver(app.app, container.aws)
            self.driver.start()
        _banner(
            self.args.port,
            self.moto.url if self.moto else external,
            admin_note,
            self.snapshot_path if self.moto else None,
        )

    def snapshot_loop(self) -> None:
        while not self._stopped.wait(self.args.snapshot_every):
            self.save_snapshot(with_queues=False)

    def save_snapshot(self, *, with_queues: bool) -> None:
        if not self.moto:
            return
        from chalicelib.core.deps import get_container  # noqa: PLC0415
        from devstack import snapshot  # noqa: PLC0415

        container = get_container()
        snapshot.save(snapshot.take(container.aws, container.settings, with_queues=with_queues), self.snapshot_path)

    def stop(self) -> None:
        if self._stopped.is_set():
            return
        self._stopped.set()
        print("\nstopping...", flush=True)
        if self.server:
            self.server.shutdown()
        if self.driver:
            self.driver.stop()
        try:
            self.save_snapshot(with_queues=True)
            if self.moto:
                print(f"saved local data to {self.snapshot_path}")
        finally:
            if self.moto:
                self.moto.stop()


def _ensure_admin(container: Any) -> str:
    from chalicelib.auth.bootstrap import ensure_admin  # noqa: PLC0415

    email = os.environ.get("VIGIL_ADMIN_EMAIL", "admin@vigil.local")
    result = ensure_admin(container, email=email, password=os.environ.get("VIGIL_ADMIN_PASSWORD"))
    if result.generated_password:
        return f"admin {email} created with password: {result.generated_password}  (shown once)"
    return f"admin {email} {'created' if result.created else 'exists'}"


def _banner(port: int, endpoint: str | None, admin_note: str, snapshot_path: Path | None) -> None:
    base = f"http://127.0.0.1:{port}"
    lines = [
        "",
        "Vigil is running.",
        f"  API        {base}/api/v1",
        f"  health     {base}/api/v1/health",
        f"  OpenAPI    {base}/api/v1/openapi.json",
        f"  docs       {base}/docs",
        f"  AWS        {endpoint}",
        f"  {admin_note}",
    ]
    if snapshot_path:
        lines.append(f"  data       {snapshot_path}  (delete it to start empty)")
    lines += [
        "",
        "Try:",
        f"  curl -s {base}/api/v1/health",
        f"  TOKEN=$(curl -s -X POST {base}/auth/login -d 'username=<admin email>&password=<password>' | "
        "python3 -c 'import sys,json;print(json.load(sys.stdin)[\"access_token\"])')",
        f'  curl -s -H "Authorization: Bearer $TOKEN" {base}/api/v1/bans',
        "",
        "Ctrl-C stops everything.",
    ]
    print("\n".join(lines), flush=True)


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    platform = Platform(args)

    def _on_signal(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    # SIGINT too: a process started in the background by a non-interactive shell (or by a test runner's worker)
    # inherits SIGINT ignored, and Python then installs no KeyboardInterrupt for it, so Ctrl-C would do nothing.
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    try:
        platform.start()
        platform.snapshot_loop()
    except KeyboardInterrupt:
        pass
    except Exception as exc:  # start-up failed: say why in one line, clean up, exit non-zero
        print(f"scripts/run: {exc}", file=sys.stderr)
        platform.stop()
        return 1
    platform.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
