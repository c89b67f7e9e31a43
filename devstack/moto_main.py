"""The local emulator's entry point: moto server, with `devstack.moto_patches` applied."""

from __future__ import annotations

import sys

from moto.server import main as moto_main

from devstack import moto_patches

if __name__ == "__main__":
    moto_patches.apply()
    sys.exit(moto_main())
