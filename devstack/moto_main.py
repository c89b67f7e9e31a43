"""The local emulator's entry point: moto server, with `devstack.moto_patches` applied."""

from __future__ import annotations

import sys

from moto.server import main as moto_main

from devstack import moto_patches

if __name__ == "__main__":
    moto_patches.apply()
    # moto parses update expressions recursively: detection's 250-clause updates need a deeper stack than
    # Python's default 1,000 frames (DynamoDB itself takes them as they are).
    sys.setrecursionlimit(20_000)
    sys.exit(moto_main())
