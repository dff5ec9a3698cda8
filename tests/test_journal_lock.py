"""A journal whose database another process holds locked loses nothing and keeps the caller moving.

The lock is held by a second process (plain ``sqlite3``, ``BEGIN EXCLUSIVE``) for far longer than
the journal's busy timeout, and released only when the test says so.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from foxkling_widgets import AsyncFoxClient, Task, VideoRequest
from foxkling_widgets._journal import Journal
from foxkling_widgets.emulator import EmulatorConfig, create_app

pytestmark = pytest.mark.timeout(120)
PAYLOAD = {"model": "kling-v3-text-to-video", "prompt": "a fox"}
URL = "https://api.foxapi.cc"
TASK_ID = "task-unified-1-aaaaaaaa"

# Holds SQLite's write lock until the release file appears (no timing: the test decides).
HOLDER = """
import os, sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("BEGIN EXCLUSIVE")
open(sys.argv[2], "w").close()
while not os.path.exists(sys.argv[3]):
    time.sleep(0.01)
db.execute("ROLLBACK")
"""


@contextmanager
def lock_held(path: Path) -> Iterator[None]:
    """Another process holds ``path``'s write lock inside the block."""
    locked, release = path.with_name("locked.flag"), path.with_name("release.flag")
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(path), str(locked), str(release)])
    try:
        while not locked.exists():
            assert holder.poll() is None, "the lock holder died before taking the lock"
            time.sleep(0.01)
        yield
    finally:
        release.touch()
        holder.wait(30)
        locked.unlink(missing_ok=True)
        release.unlink(missing_ok=True)


def task(status: str = "pending", **extra: Any) -> Task:
    return Task.from_json({"id": TASK_ID, "status": status, "created": int(time.time()), **extra})


def raw(path: Path, sql: str) -> list[tuple[Any, ...]]:
    """What is really in the database file (not what the journal shows)."""
    db = sqlite3.connect(path)
    try:
        return list(db.execute(sql).fetchall())
    finally:
        db.close()


def spools(path: Path) -> list[Path]:
    return sorted(path.parent.glob(path.name + ".spool-*"))


def timed(durations: list[float], call: Callable[[], Any]) -> Any:
    start = time.perf_counter()
    try:
        return call()
    finally:
        durations.append(time.perf_counter() - start)


def test_a_locked_journal_loses_nothing_and_shows_it_at_once(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite3"
    journal = Journal(path)
    video = tmp_path / "v.mp4"
    durations: list[float] = []
    with lock_held(path):
        intent = timed(durations, lambda: journal.record_intent(PAYLOAD, URL))
        timed(
            durations,
            lambda: journal.record_submitted(intent, task(usage={"credits_reserved": 5}), PAYLOAD, URL),
        )
        for progress in (10, 50, 90):
            timed(durations, lambda p=progress: journal.update(task("processing", progress=p)))  # type: ignore[misc]
        # Billed and spooled, not in the file: yet history, resume and `foxkling tasks` see it now.
        assert raw(path, "SELECT COUNT(*) FROM tasks") == [(0,)] and spools(path)
        (entry,) = timed(durations, journal.entries)
        assert (entry.task_id, entry.status, entry.progress, entry.credits_reserved) == (TASK_ID, "processing", 90, 5)
        assert [e.task_id for e in timed(durations, journal.unfinished)] == [TASK_ID]
        assert [e.task_id for e in Journal(path).entries()] == [TASK_ID]  # another reader (the CLI)
        timed(durations, lambda: journal.update(task("completed", progress=100, results=[{"url": "https://cdn/v"}])))
        video.write_bytes(b"x")
        timed(durations, lambda: journal.record_download(TASK_ID, video))
        assert timed(durations, journal.unfinished) == [] and journal.credits_total() == 5
        assert journal.uncertain_submits() == []
    print(f"\nlocked journal: {len(durations)} calls, longest {max(durations) * 1000:.0f} ms (busy timeout bounds it)")

    journal.close()  # the later write: everything spooled goes into the file
    assert raw(path, "SELECT task_id, status, progress, credits, video_url, local_path FROM tasks") == [
        (TASK_ID, "completed", 100, 5, "https://cdn/v", str(video))
    ]
    assert raw(path, "SELECT id, state, task_id FROM intents") == [(intent, "submitted", TASK_ID)]
    assert spools(path) == []
    assert [e.task_id for e in Journal(path).entries()] == [TASK_ID]


def test_a_write_after_the_lock_is_released_merges_the_spool(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite3"
    journal = Journal(path)
    with lock_held(path):
        intent = journal.record_intent(PAYLOAD, URL)
    journal._busy_until = 0  # skip the one-second backoff rather than wait it out
    journal.record_submitted(intent, task(), PAYLOAD, URL)
    assert raw(path, "SELECT state, task_id FROM intents") == [("submitted", TASK_ID)]
    assert raw(path, "SELECT task_id FROM tasks") == [(TASK_ID,)] and spools(path) == []


# A kernel that spooled a submit while the lock was held, then died without closing its journal.
DYING_WRITER = """
import os, sys, time
from foxkling_widgets import Task
from foxkling_widgets._journal import Journal
journal = Journal(sys.argv[1])
intent = journal.record_intent({"model": "kling-v3-text-to-video", "prompt": "a fox"}, "https://api.foxapi.cc")
task = Task.from_json({"id": "task-unified-1-aaaaaaaa", "status": "pending", "created": int(time.time())})
journal.record_submitted(intent, task, {"model": "kling-v3-text-to-video", "prompt": "a fox"}, "https://api.foxapi.cc")
os._exit(0)
"""


def test_a_spool_left_by_a_dead_process_is_merged_on_the_next_open(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite3"
    Journal(path).close()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    with lock_held(path):
        subprocess.run([sys.executable, "-c", DYING_WRITER, str(path)], env=env, check=True, timeout=60)
        assert raw(path, "SELECT COUNT(*) FROM tasks") == [(0,)] and len(spools(path)) == 1
        assert [e.task_id for e in Journal(path).entries()] == [TASK_ID]  # visible while still locked
    reopened = Journal(path)
    assert spools(path) == []
    assert raw(path, "SELECT task_id, base_url FROM tasks") == [(TASK_ID, URL)]
    assert raw(path, "SELECT state, task_id FROM intents") == [("submitted", TASK_ID)]
    assert [e.task_id for e in reopened.entries()] == [TASK_ID]


async def test_the_client_submits_and_polls_through_a_locked_journal(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite3"
    journal = Journal(path)
    app = create_app(EmulatorConfig(seconds_per_video=0, render=False))
    transport = httpx.ASGITransport(app)
    async with AsyncFoxClient("sk-locked-journal", "http://e", transport=transport, journal=journal) as client:
        with lock_held(path):
            submitted = await client.submit(VideoRequest(prompt="a fox"))
            done = await client.wait(submitted)
            assert [e.task_id for e in client.history()] == [submitted.id]
            (entry,) = journal.entries()
            assert entry.status == "completed" and entry.video_url == done.video_url
    app.state.emulator.close()
    journal.close()
    assert raw(path, "SELECT task_id, status FROM tasks") == [(submitted.id, "completed")]
