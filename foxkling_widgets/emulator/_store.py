"""The emulator's memory across processes: its tasks and voices in SQLite, its files on disk.

A real FoxAPI keeps its tasks when a notebook's kernel dies; the built-in emulator lives inside
that kernel, so without this a new kernel's emulator knows none of the tasks the journal holds.
With a store, every emulator on this machine that shares the data directory answers for every
task any of them created: ``GET /v1/tasks/{id}``, the file, and a voice's id.

What is kept per task is what the answer is computed from: the request, the wall-clock creation
time (the progress timeline runs from it), the credits, the failure a prompt asked for, which
process renders its file (``owner``, a process id), when it was first reported completed, whether
it was cancelled, and a voice task's voice id. Files live in their own directory (a cache: any
file can be rendered again from its request).

SQLite rather than a JSON-lines file: two kernels (each with its own emulator) write at once,
and WAL mode with short transactions makes that safe without file locking of our own. The store
is a convenience of a local tool: a storage error is logged once and the emulator carries on in
memory.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sqlite3
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["StoredTask", "TaskStore", "process_alive"]

logger = logging.getLogger("foxkling_widgets.emulator")

#: A file left by a render this long ago without being finished belongs to a killed process.
STALE_PART_SECONDS = 600.0
#: Rendered files older than this are deleted when a store opens (as the real service expires
#: results after 24 hours); a later download renders the file again from its request. Real-size
#: files are up to ~100 MB each: without this the directory would only grow.
FILE_LIFETIME = 24 * 3600.0
_SCHEMA = """
CREATE TABLE IF NOT EXISTS tasks (
    id TEXT PRIMARY KEY, model TEXT NOT NULL, payload TEXT NOT NULL, created REAL NOT NULL,
    credits REAL NOT NULL, failure TEXT, owner INTEGER NOT NULL, completed REAL,
    cancelled INTEGER NOT NULL DEFAULT 0, voice_id TEXT
);
CREATE TABLE IF NOT EXISTS voices (voice_id TEXT PRIMARY KEY, name TEXT NOT NULL);
"""


@dataclass(frozen=True)
class StoredTask:
    """One task as another emulator process recorded it."""

    id: str
    model: str
    payload: dict[str, Any]
    created: float  # wall-clock seconds (time.time())
    credits: float
    failure: str | None
    owner: int  # the process that renders (or rendered) its file
    completed: float | None  # wall-clock time it was first reported completed
    cancelled: bool
    voice_id: str | None


def process_alive(pid: int) -> bool:
    """Whether a process with this id runs on this machine (a reaped one does not)."""
    if pid <= 0:
        return False
    if pid == os.getpid():
        return True
    if sys.platform == "win32":
        import ctypes

        kernel32 = ctypes.windll.kernel32
        handle = kernel32.OpenProcess(0x00100000, False, pid)  # SYNCHRONIZE
        if not handle:
            return False
        try:
            return bool(kernel32.WaitForSingleObject(handle, 0) == 0x102)  # WAIT_TIMEOUT: still running
        finally:
            kernel32.CloseHandle(handle)
    try:
        os.kill(pid, 0)  # signal 0 checks existence only (POSIX); never used on Windows, where it kills
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: alive
    except OSError:
        return False
    return True


class TaskStore:
    """Tasks and voices shared by the emulators of this machine (see the module docstring)."""

    def __init__(self, directory: str | os.PathLike[str], files: str | os.PathLike[str] | None = None) -> None:
        self.directory = Path(directory)
        self.files = Path(files) if files is not None else self.directory / "files"
        self._lock = threading.Lock()
        self._warned = False
        self._db: sqlite3.Connection | None = None
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            self.files.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(
                self.directory / "emulator.sqlite3", timeout=10, check_same_thread=False, isolation_level=None
            )
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA busy_timeout=10000")
            db.executescript(_SCHEMA)
            self._db = db
        except (sqlite3.Error, OSError) as error:
            self._warn("opening", error)
        self._prune()

    @property
    def usable(self) -> bool:
        """Whether the store opened (else the emulator keeps its tasks in memory)."""
        return self._db is not None

    def _warn(self, what: str, error: BaseException) -> None:
        if not self._warned:
            self._warned = True
            logger.warning("emulator task store: %s failed (%s); its tasks are kept in memory only", what, error)

    def _run(self, what: str, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        if self._db is None:
            return []
        try:
            with self._lock:
                return list(self._db.execute(sql, args).fetchall())
        except sqlite3.Error as error:
            self._warn(what, error)
            return []

    def _change(self, what: str, sql: str, args: tuple[Any, ...]) -> int:
        """Run an UPDATE; the number of rows it changed (0 when the store cannot be written)."""
        if self._db is None:
            return 0
        try:
            with self._lock:
                return int(self._db.execute(sql, args).rowcount)
        except sqlite3.Error as error:
            self._warn(what, error)
            return 0

    def _prune(self) -> None:
        # A render killed with its kernel leaves "<name>.mp4.part" beside the files; one not
        # written to for a while is dead (another live kernel may be writing a fresh one).
        now = time.time()
        for pattern, lifetime in (("*.part", STALE_PART_SECONDS), ("*.mp4", FILE_LIFETIME)):
            with contextlib.suppress(OSError):
                for path in self.files.glob(pattern):
                    with contextlib.suppress(OSError):
                        if path.stat().st_mtime < now - lifetime:
                            path.unlink()

    def file_for(self, task_id: str) -> Path:
        """Where a task's video is kept (task ids are the emulator's own: safe as file names)."""
        return self.files / f"{task_id}.mp4"

    # -- writing -----------------------------------------------------------------------------
    def add(self, task: StoredTask) -> None:
        """Record a new task."""
        self._run(
            "recording a task",
            "INSERT OR REPLACE INTO tasks VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                task.id,
                task.model,
                json.dumps(task.payload),
                task.created,
                task.credits,
                task.failure,
                task.owner,
                task.completed,
                int(task.cancelled),
                task.voice_id,
            ),
        )

    def claim(self, task_id: str, previous_owner: int) -> bool:
        """Become the task's renderer if ``previous_owner`` still is (two kernels never both take it over)."""
        if self._db is None:
            return True
        # A compare-and-set in one statement: of two processes taking over, one changes the row.
        changed = self._change(
            "claiming a task", "UPDATE tasks SET owner=? WHERE id=? AND owner=?", (os.getpid(), task_id, previous_owner)
        )
        return changed > 0

    def mark_completed(self, task_id: str, when: float) -> None:
        """The task was first reported completed at ``when`` (kept: completion is never undone)."""
        self._run(
            "recording a completion", "UPDATE tasks SET completed=? WHERE id=? AND completed IS NULL", (when, task_id)
        )

    def mark_cancelled(self, task_id: str) -> None:
        """The task was cancelled (terminal)."""
        self._run("recording a cancel", "UPDATE tasks SET cancelled=1 WHERE id=?", (task_id,))

    def set_voice(self, task_id: str, voice_id: str, name: str) -> str:
        """Give a create-voice task its voice; returns the voice id that won (another process may have set one)."""
        self._run(
            "recording a voice", "UPDATE tasks SET voice_id=? WHERE id=? AND voice_id IS NULL", (voice_id, task_id)
        )
        rows = self._run("reading a voice", "SELECT voice_id FROM tasks WHERE id=?", (task_id,))
        winner = str(rows[0][0]) if rows and rows[0][0] else voice_id
        self._run("recording a voice", "INSERT OR IGNORE INTO voices VALUES (?, ?)", (winner, name))
        return winner

    def clear(self) -> None:
        """Forget every task and voice, and delete the files (the emulator's reset)."""
        self._run("forgetting tasks", "DELETE FROM tasks")
        self._run("forgetting voices", "DELETE FROM voices")
        with contextlib.suppress(OSError):
            for path in self.files.glob("*.mp4"):
                path.unlink(missing_ok=True)

    # -- reading -----------------------------------------------------------------------------
    def get(self, task_id: str) -> StoredTask | None:
        """A task any emulator of this store created, or ``None``."""
        rows = self._run(
            "reading a task",
            "SELECT id, model, payload, created, credits, failure, owner, completed, cancelled, voice_id "
            "FROM tasks WHERE id=?",
            (task_id,),
        )
        if not rows:
            return None
        r = rows[0]
        try:
            payload = json.loads(r[2])
        except ValueError as error:
            self._warn("reading a task", error)
            return None
        return StoredTask(
            str(r[0]), str(r[1]), payload, float(r[3]), float(r[4]), r[5], int(r[6]), r[7], bool(r[8]), r[9]
        )

    def voices(self) -> dict[str, str]:
        """Every voice's display name by id."""
        return {str(r[0]): str(r[1]) for r in self._run("reading voices", "SELECT voice_id, name FROM voices")}

    def close(self) -> None:
        """Close the database (the files stay: they outlive the process on purpose)."""
        if self._db is not None:
            with self._lock:
                self._db.close()
            self._db = None
