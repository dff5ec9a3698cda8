"""``python -m foxkling_widgets.emulator``: the same as ``foxkling emulator``."""

from __future__ import annotations

import sys

from ..cli import main

if __name__ == "__main__":
    sys.exit(main(["emulator", *sys.argv[1:]]))
