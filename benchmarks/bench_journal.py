"""Journal write cost per task, normal vs spooled, and cache eviction time over 1000 files.

Writes per task: an intent, the submit, 20 progress updates and the download, vs a baseline from
the same run: the same number of in-process task queries to the emulator, i.e. the polling work
the journal rides along with. Then the same writes while another connection holds SQLite's write
lock, so every write goes to the spool (the first one waits the busy timeout), and the cost of
merging that spool once the lock is free.

Everything runs in a temporary directory: the user's journal and video cache are never touched
(the environment is pointed there before anything that reads it is imported).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

_ROOT = Path(tempfile.mkdtemp(prefix="foxkling-bench-"))
os.environ["FOXKLING_DATA_DIR"] = str(_ROOT / "data")
os.environ["FOXKLING_CACHE_DIR"] = str(_ROOT / "cache")
os.environ["FOXKLING_JOURNAL"] = str(_ROOT / "data" / "journal.sqlite3")

import asyncio  # noqa: E402 - after the environment above, on purpose
import sqlite3  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

import httpx  # noqa: E402

from foxkling_widgets import Task  # noqa: E402
from foxkling_widgets._journal import BUSY_TIMEOUT, Journal  # noqa: E402
from foxkling_widgets.emulator import EmulatorConfig, create_app  # noqa: E402

PAYLOAD = {"model": "kling-v3-text-to-video", "prompt": "a red fox in snow", "duration": 10}
UPDATES = 20


def journal_task(journal: Journal, n: int) -> None:
    task_id = f"task-unified-1-{n:08d}"
    intent = journal.record_intent(PAYLOAD, "https://api.foxapi.cc")
    journal.record_submitted(
        intent, Task.from_json({"id": task_id, "status": "pending"}), PAYLOAD, "https://api.foxapi.cc"
    )
    for p in range(UPDATES):
        journal.update(Task.from_json({"id": task_id, "status": "processing", "progress": p * 5}))
    journal.record_download(task_id, str(_ROOT / "x.mp4"))


def per_task(journal: Journal, first: int, tasks: int) -> list[float]:
    times = []
    for n in range(first, first + tasks):
        start = time.perf_counter()
        journal_task(journal, n)
        times.append(time.perf_counter() - start)
    return times


async def polls(count: int) -> float:
    app = create_app(EmulatorConfig(seconds_per_video=1000, render=False))
    headers = {"Authorization": "Bearer sk-bench"}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://e", headers=headers) as client:
        task_id = (await client.post("/v1/videos/generations", json=PAYLOAD)).json()["id"]
        start = time.perf_counter()
        for _ in range(count):
            await client.get(f"/v1/tasks/{task_id}")
        elapsed = time.perf_counter() - start
    app.state.emulator.close()
    return elapsed


def describe(label: str, times: list[float]) -> float:
    median = statistics.median(times)
    p90 = statistics.quantiles(times, n=10)[-1]
    print(f"  {label}: median {median * 1000:.2f} ms, p90 {p90 * 1000:.2f} ms, max {max(times) * 1000:.1f} ms")
    return median


def main() -> None:
    path = Path(os.environ["FOXKLING_JOURNAL"])
    journal = Journal(path)
    tasks = 200
    print(f"journal writes per task ({UPDATES + 3} records: intent, submit, {UPDATES} updates, download)")
    normal = describe(f"normal path over {tasks} tasks", per_task(journal, 0, tasks))

    holder = sqlite3.connect(path, isolation_level=None)  # another writer holding the lock throughout
    holder.execute("BEGIN EXCLUSIVE")
    spooled_times = per_task(journal, tasks, tasks)
    print(f"  (the first spooled task includes one {BUSY_TIMEOUT * 1000:.0f} ms busy wait)")
    spooled = describe(f"spool path over {tasks} tasks", spooled_times[1:])
    start = time.perf_counter()
    visible = len(journal.entries(limit=10 * tasks))
    read_locked = (time.perf_counter() - start) * 1000
    holder.execute("ROLLBACK")
    holder.close()
    start = time.perf_counter()
    journal.close()  # merges the spool into the database
    merged = (time.perf_counter() - start) * 1000
    print(f"ratio spool / normal per task: {spooled / normal:.2f}")
    print(f"reading while locked (database + spool applied): {visible} tasks in {read_locked:.1f} ms")
    print(f"merging the spool ({tasks * (UPDATES + 3)} records) once the lock is free: {merged:.1f} ms")

    baseline = asyncio.run(polls(UPDATES + 2))
    print(f"baseline: {UPDATES + 2} in-process task queries to the emulator: {baseline * 1000:.2f} ms")
    print(f"ratio journal (normal) / polling work: {normal / baseline:.2f}")
    journal = Journal(path)
    start = time.perf_counter()
    entries = journal.unfinished()
    took = (time.perf_counter() - start) * 1000
    print(
        f"reading back for a restart: unfinished() over {2 * tasks} tasks in {took:.1f} ms",
        f"({len(entries)} to resume)",
    )
    journal.close()


def eviction() -> None:
    from foxkling_widgets._cache import VideoCache

    cache = VideoCache(_ROOT / "eviction", budget_bytes=500 * 1024)
    now = time.time()
    for n in range(1000):
        path = cache.path_for(f"task-unified-1-{n:08d}")
        path.write_bytes(b"x" * 1024)
        os.utime(path, (now - 1000 + n, now - 1000 + n))
    shown = [cache.path_for("task-unified-1-00000000")]  # the oldest, but on screen
    start = time.perf_counter()
    removed = cache.evict(protect=shown)
    took = (time.perf_counter() - start) * 1000
    print(f"cache eviction: 1000 x 1 KB files to a 500 KB budget in {took:.1f} ms; removed {len(removed)}")
    print(f"  oldest removed first: {removed[0].name}; protected oldest kept: {shown[0].exists()}")


if __name__ == "__main__":
    main()
    eviction()
