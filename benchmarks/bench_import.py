"""Start-up cost: ``import foxkling_widgets``, the widget, and ``foxkling --help``, against a bare interpreter.

Each figure is the median wall time of fresh interpreter processes in this run, printed with its
ratio to ``python -c pass`` measured alongside. The widget (anywidget, ipywidgets, IPython) is
imported lazily, so the client and the CLI do not pay for it.
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
    "widget: KlingWidget": ["-c", "from foxkling_widgets import KlingWidget"],
    "foxkling --help": ["-m", "foxkling_widgets.cli", "--help"],
}


def main() -> None:
    scratch = tempfile.mkdtemp(prefix="fk-bench-import-")
    env = {**os.environ, "FOXKLING_DATA_DIR": scratch, "FOXKLING_CACHE_DIR": scratch}
    times: dict[str, float] = {}
    for name, args in CASES.items():
        samples = []
        for _ in range(RUNS):
            start = time.perf_counter()
            subprocess.run([sys.executable, *args], env=env, check=True, capture_output=True)
            samples.append(time.perf_counter() - start)
        times[name] = statistics.median(samples)
    bare = times["bare interpreter"]
    print(f"median of {RUNS} fresh processes each")
    print(f"{'what':<28}{'seconds':>9}{'x bare':>9}")
    for name, seconds in times.items():
        print(f"{name:<28}{seconds:>9.3f}{seconds / bare:>9.1f}")
    print("goal: the client and the CLI start in well under 0.2 s")


if __name__ == "__main__":
    main()
