"""Kernel time per keystroke (a prompt change) with 10 and with 20,000 tasks in the journal.

Each control change recomputes the problems, the grid's labels and the credits line. The
credits used to come from the journal on every change (``credit_estimate`` reads and parses the
newest 500 rows, ``credits_total`` up to 100,000); now the widget reads the journal once when it
is built and keeps the figures in memory. Goal: the same cost at both sizes (ratio about 1).

Baseline from the same run: the journal reads the old path added to every keystroke
(``credit_estimate`` + ``credits_total`` for the same controls), timed on the same journals.
Everything runs in a temporary directory: the user's journal, cache and videos are never touched.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from pathlib import Path

# Before anything of the package is imported: nothing may read or write the user's own files.
_HOME = Path(tempfile.mkdtemp(prefix="bench-keystroke-"))
os.environ["FOXKLING_DATA_DIR"] = str(_HOME / "data")
os.environ["FOXKLING_CACHE_DIR"] = str(_HOME / "cache")
os.environ["FOXKLING_JOURNAL"] = str(_HOME / "unused-journal.sqlite3")
os.environ.pop("FOXAPI_API_KEY", None)

from foxkling_widgets import AsyncFoxClient, KlingWidget, Task  # noqa: E402
from foxkling_widgets._journal import Journal  # noqa: E402

SIZES = (10, 20_000)
KEYSTROKES = 300  # prompt changes timed on the widget, per size
OLD_CALLS = 5  # the old path's journal reads are slow at 20,000 rows: a few suffice
TIERS = [("720p", 5, False), ("1080p", 10, True), ("4k", 5, False), ("720p", 10, True)]


def fill(journal: Journal, base_url: str, rows: int) -> None:
    """``rows`` tasks of mixed tiers, three days old (so a widget shows them as expired, offline)."""
    created = time.time() - 3 * 24 * 3600
    for n in range(rows):
        resolution, duration, audio = TIERS[n % len(TIERS)]
        payload = {"model": "kling-v3-text-to-video", "prompt": f"a fox {n}", "resolution": resolution}
        payload.update({"duration": duration, "generate_audio": audio})
        task = Task.from_json(
            {
                "id": f"task-bench-{n:06d}",
                "status": "completed",
                "created": created + n,
                "usage": {"credits_reserved": 10 + n % 7},
            }
        )
        journal.record_submitted(None, task, payload, base_url)


def per_keystroke(widget: KlingWidget) -> float:
    """Median seconds of one prompt change (what a debounced keystroke in the prompt box does)."""
    times = []
    for i in range(KEYSTROKES):
        start = time.perf_counter()
        widget.prompt = f"a red fox in the snow, take {i}"
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def old_journal_reads(widget: KlingWidget, journal: Journal) -> float:
    """Median seconds of the journal reads the old path made on each control change."""
    payload, base_url = widget.request().to_payload(), widget.client.base_url
    times = []
    for _ in range(OLD_CALLS):
        start = time.perf_counter()
        journal.credit_estimate(payload, base_url=base_url)
        journal.credits_total(base_url=base_url)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    results: dict[int, tuple[float, float, float]] = {}
    for rows in SIZES:
        journal = Journal(_HOME / f"journal-{rows}.sqlite3")
        client = AsyncFoxClient.emulator(journal=journal)
        fill(journal, client.base_url, rows)
        start = time.perf_counter()
        widget = KlingWidget(client=client)
        built = time.perf_counter() - start
        try:
            new = per_keystroke(widget)
            old = new + old_journal_reads(widget, journal)
        finally:
            widget.close()
            journal.close()
        results[rows] = (new, old, built)

    print(f"kernel time per keystroke (median of {KEYSTROKES} prompt changes; old path: + its journal reads)")
    print(f"{'journal rows':>12}  {'now':>10}  {'old path':>10}  {'old/now':>8}  {'widget built in':>15}")
    for rows, (new, old, built) in results.items():
        print(f"{rows:>12}  {new * 1e3:>8.3f}ms  {old * 1e3:>8.2f}ms  {old / new:>7.0f}x  {built * 1e3:>13.0f}ms")
    (small_new, small_old, _), (big_new, big_old, _) = results[SIZES[0]], results[SIZES[-1]]
    ratio_new, ratio_old = big_new / small_new, big_old / small_old
    print(f"ratio {SIZES[-1]} rows / {SIZES[0]} rows: now {ratio_new:.2f} (goal ≈ 1), old path {ratio_old:.0f}")


if __name__ == "__main__":
    main()
