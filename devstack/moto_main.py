"""The local emulator's entry point: moto server, with `devstack.moto_patches` applied."""

from __future__ import annotations

import os
import sys
import threading
import time

from moto.server import main as moto_main

from devstack import moto_patches


def _exit_with_parent(parent: int) -> None:
    """Stop when `scripts/run` is gone. It stops the emulator itself on Ctrl-C, but a `scripts/run` that was
    killed outright (SIGKILL, a crashed test runner) cannot, and the emulator would hold its port for ever."""
    while os.getppid() == parent:
        time.sleep(1)
    os._exit(0)


if __name__ == "__main__":
    moto_patches.apply()
    # moto parses update expressions recursively: detection's 250-clause updates need a deeper stack than
    # Python's default 1,000 frames (DynamoDB itself takes them as they are).
    sys.setrecursionlimit(20_000)
    threading.Thread(target=_exit_with_parent, args=(os.getppid(),), name="parent-watch", daemon=True).start()
    sys.exit(moto_main())
