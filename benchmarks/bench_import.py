"""Start-up cost: ``import foxkling_widgets``, the clients, the widget and ``foxkling --help``, against bare Python.

Each figure is the median wall time of fresh interpreter processes in this run, printed with its
ratio to ``python -c pass`` measured alongside. The package imports its clients and the widget
lazily: ``import foxkling_widgets`` and ``foxkling --help`` load neither asyncio nor httpx, and
importing a client loads httpx only when one is built (the last client row shows that cost).
A case that cannot run here (the widget without its built front end) is reported, not timed.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time

RUNS = int(sys.argv[1]) if len(sys.argv) > 1 else 7
CASES = {
    "bare interpreter": ["-c", "pass"],
    "import foxkling_widgets": ["-c", "import foxkling_widgets"],
    "client: FoxClient": ["-c", "from foxkling_widgets import FoxClient"],
    "client built (httpx)": [
        "-c",
        "from foxkling_widgets import AsyncFoxClient; AsyncFoxClient(api_key='sk-bench-0123456789', journal=False)",
    ],
    "widget: KlingWidget": ["-c", "from foxkling_widgets import KlingWidget"],
    "foxkling --help": ["-m", "foxkling_widgets.cli", "--help"],
}


def main() -> None:
    scratch = tempfile.mkdtemp(prefix="fk-bench-import-")
    env = {**os.environ, "FOXKLING_DATA_DIR": scratch, "FOXKLING_CACHE_DIR": scratch}
    times: dict[str, float | None] = {}
    for name, args in CASES.items():
        samples = []
        for _ in range(RUNS):
            start = time.perf_counter()
            done = subprocess.run([sys.executable, *args], env=env, check=False, capture_output=True)
            samples.append(time.perf_counter() - start)
            if done.returncode != 0:
                break
        times[name] = statistics.median(samples) if done.returncode == 0 else None
    bare = times["bare interpreter"]
    assert bare is not None
    print(f"median of {RUNS} fresh processes each")
    print(f"{'what':<28}{'seconds':>9}{'x bare':>9}")
    for name, seconds in times.items():
        if seconds is None:
            print(f"{name:<28}{'failed (for the widget: build the front end first)':>9}")
        else:
            print(f"{name:<28}{seconds:>9.3f}{seconds / bare:>9.1f}")
    print("goal: the client and the CLI start in well under 0.2 s")


if __name__ == "__main__":
    main()
