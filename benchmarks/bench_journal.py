"""Journal write cost per task (and cache eviction time over 1000 files).

Writes per task: an intent, the submit, 20 progress updates and the download, vs a baseline from
the same run: the same number of in-process task queries to the emulator, i.e. the polling work
the journal rides along with."""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from pathlib import Path

import httpx

from foxkling_widgets import Task
from foxkling_widgets._journal import Journal
from foxkling_widgets.emulator import EmulatorConfig, create_app

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
    journal.record_download(task_id, "/tmp/x.mp4")


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


def main() -> None:
    journal = Journal(Path(tempfile.mkdtemp()) / "journal.sqlite3")
    tasks = 200
    per_task = []
    for n in range(tasks):
        start = time.perf_counter()
        journal_task(journal, n)
        per_task.append(time.perf_counter() - start)
    baseline = asyncio.run(polls(UPDATES + 2))
    median = statistics.median(per_task)
    print(f"journal writes per task ({UPDATES + 3} statements: intent, submit, {UPDATES} updates, download)")
    p90 = statistics.quantiles(per_task, n=10)[-1]
    print(f"  median {median * 1000:.2f} ms, p90 {p90 * 1000:.2f} ms over {tasks} tasks")
    print(f"baseline: {UPDATES + 2} in-process task queries to the emulator: {baseline * 1000:.2f} ms")
    print(f"ratio journal / polling work: {median / baseline:.2f}")
    start = time.perf_counter()
    entries = journal.unfinished()
    took = (time.perf_counter() - start) * 1000
    print(f"reading back for a restart: unfinished() over {tasks} tasks in {took:.1f} ms ({len(entries)} to resume)")


def eviction() -> None:
    import os

    from foxkling_widgets._cache import VideoCache

    cache = VideoCache(Path(tempfile.mkdtemp()), budget_bytes=500 * 1024)
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
