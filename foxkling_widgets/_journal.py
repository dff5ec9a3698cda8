"""The task journal: every paid task recorded on disk before anything else can fail.

A submit is billed the moment the provider accepts it, and the provider offers no task list,
so a task id that lives only in memory is lost with the kernel. The client therefore writes an
*intent* before each POST ("a submit at 14:02 may have been billed") and the task id before
``submit`` returns; polls and downloads update the row. A new widget (or
``FoxClient.history()``) reads it back to resume unfinished tasks and show finished ones.

Storage: SQLite in the user data directory (``FOXKLING_DATA_DIR`` or platformdirs), or the file
named by ``FOXKLING_JOURNAL``. WAL mode and short transactions make two kernels writing at once
safe. The journal is a safety net, never a reason to fail: any storage error becomes one
:class:`JournalWarning` and the call carries on. It never stores the API key.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ._exceptions import redact
from ._paths import data_dir
from ._types import Task, TaskStatus, VideoRequest
from ._validation import MODEL_CREATE_VOICE

__all__ = ["Journal", "JournalEntry", "JournalWarning"]

RESULT_LIFETIME = 24 * 3600  # the provider keeps result files this long (contract)
_SCHEMA = """
CREATE TABLE IF NOT EXISTS intents (
    id INTEGER PRIMARY KEY AUTOINCREMENT, created REAL NOT NULL, base_url TEXT NOT NULL,
    request TEXT NOT NULL, state TEXT NOT NULL DEFAULT 'sending', task_id TEXT, error TEXT
);
CREATE TABLE IF NOT EXISTS tasks (
    task_id TEXT PRIMARY KEY, base_url TEXT NOT NULL, request TEXT NOT NULL, created REAL NOT NULL,
    status TEXT NOT NULL, progress REAL NOT NULL DEFAULT 0, credits REAL, video_url TEXT,
    local_path TEXT, error TEXT, updated REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS voices (
    voice_id TEXT PRIMARY KEY, name TEXT, source_url TEXT, base_url TEXT NOT NULL, created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS batches (
    task_id TEXT PRIMARY KEY, batch TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS voice_names (
    task_id TEXT PRIMARY KEY, name TEXT NOT NULL
);
"""
_TERMINAL = ("completed", "failed", "cancelled")


class JournalWarning(UserWarning):
    """The journal could not be read or written; generation carries on without it."""


@dataclass(frozen=True)
class JournalEntry:
    """One recorded task."""

    task_id: str
    base_url: str
    request: dict[str, Any]
    created: float
    status: str
    progress: float
    credits_reserved: float | None
    video_url: str | None
    local_path: str | None
    error: dict[str, Any] | None
    updated: float

    @property
    def age(self) -> float:
        """Seconds since the task was submitted."""
        return time.time() - self.created

    @property
    def expired(self) -> bool:
        """The result URL's 24-hour window has passed."""
        return self.age > RESULT_LIFETIME

    def to_task(self) -> Task:
        """The last known snapshot as a :class:`Task`."""
        body: dict[str, Any] = {
            "id": self.task_id,
            "status": self.status,
            "progress": self.progress,
            "created": int(self.created),
            "usage": {"credits_reserved": self.credits_reserved},
        }
        if self.video_url:
            body["results"] = [{"url": self.video_url}]
        if self.error:
            body["error"] = self.error
        return Task.from_json(body)

    def request_obj(self) -> VideoRequest | None:
        """The request, when it was a video request."""
        try:
            return VideoRequest.from_payload(self.request)
        except (TypeError, ValueError):
            return None


_shared: dict[Path, Journal] = {}
_shared_lock = threading.Lock()


class Journal:
    """SQLite journal of intents, tasks and voices (see the module docstring)."""

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path = Path(path or os.environ.get("FOXKLING_JOURNAL") or data_dir() / "journal.sqlite3")
        self._lock = threading.Lock()
        self._warned: set[str] = set()
        self._db: sqlite3.Connection | None = None
        self._open()

    @classmethod
    def default(cls) -> Journal:
        """The user's journal (honours ``FOXKLING_JOURNAL`` and ``FOXKLING_DATA_DIR``), one per process."""
        path = Path(os.environ.get("FOXKLING_JOURNAL") or data_dir() / "journal.sqlite3")
        with _shared_lock:
            if path not in _shared:
                _shared[path] = cls(path)
            return _shared[path]

    def _warn(self, what: str, error: BaseException) -> None:
        if what not in self._warned:
            self._warned.add(what)
            warnings.warn(
                f"task journal: {what} failed ({error}); carrying on without it", JournalWarning, stacklevel=3
            )

    def _open(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, timeout=10, check_same_thread=False, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA busy_timeout=10000")
            db.execute("PRAGMA synchronous=NORMAL")  # with WAL: durable across crashes, not power loss
            db.executescript(_SCHEMA)
            self._db = db
        except (sqlite3.Error, OSError) as error:
            corrupt = isinstance(error, sqlite3.DatabaseError) and self.path.exists()
            self._warn("opening " + ("a corrupt file, which was set aside" if corrupt else str(self.path)), error)
            if corrupt:
                try:
                    self.path.rename(self.path.with_name(f"{self.path.name}.corrupt-{int(time.time())}"))
                    self._open()
                    return
                except OSError:
                    pass
            self._db = sqlite3.connect(":memory:", check_same_thread=False, isolation_level=None)
            self._db.executescript(_SCHEMA)

    def _run(self, what: str, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        if self._db is None:
            return []
        try:
            with self._lock:
                return list(self._db.execute(sql, args).fetchall())
        except sqlite3.Error as error:
            self._warn(what, error)
            return []

    # -- writing (the client's JournalLike protocol) ---------------------------------------
    def record_intent(self, payload: dict[str, Any], base_url: str) -> int | None:
        """Before the POST: a trace that a billed submit is about to happen."""
        self._run(
            "recording a submit",
            "INSERT INTO intents (created, base_url, request) VALUES (?, ?, ?)",
            (time.time(), redact(base_url), redact(json.dumps(payload))),
        )
        rows = self._run("recording a submit", "SELECT last_insert_rowid()")
        return int(rows[0][0]) if rows else None

    def record_submitted(self, intent_id: int | None, task: Task, payload: dict[str, Any], base_url: str) -> None:
        """The provider accepted the submit: the task id is safe on disk."""
        now = time.time()
        self._run(
            "recording a task",
            "INSERT OR IGNORE INTO tasks (task_id, base_url, request, created, status, progress, credits, updated) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                task.id,
                redact(base_url),
                redact(json.dumps(payload)),
                task.created or now,
                task.status.value,
                task.progress,
                task.credits_reserved,
                now,
            ),
        )
        if intent_id is not None:
            self._run(
                "recording a task", "UPDATE intents SET state='submitted', task_id=? WHERE id=?", (task.id, intent_id)
            )

    def record_uncertain(self, intent_id: int | None, error: BaseException) -> None:
        """The submit may have been billed without an id: keep the intent visible."""
        if intent_id is not None:
            self._run(
                "recording an uncertain submit",
                "UPDATE intents SET state='uncertain', error=? WHERE id=?",
                (redact(str(error)), intent_id),
            )

    def record_rejected(self, intent_id: int | None) -> None:
        """The provider refused the submit: nothing was billed."""
        if intent_id is not None:
            self._run("recording a refused submit", "UPDATE intents SET state='rejected' WHERE id=?", (intent_id,))

    def update(self, task: Task) -> None:
        """A new snapshot; a terminal status is never downgraded and a known URL never erased."""
        error = json.dumps(task.error.to_dict()) if task.error else None
        # "completed" without its result yet (a seen race) is not finished: store it as processing.
        status = "processing" if task.status is TaskStatus.COMPLETED and not task.done else task.status.value
        self._run(
            "updating a task",
            "UPDATE tasks SET status=CASE WHEN status IN ('completed','failed','cancelled') THEN status ELSE ? END, "
            "progress=MAX(progress, ?), credits=COALESCE(?, credits), video_url=COALESCE(?, video_url), "
            "error=COALESCE(?, error), updated=? WHERE task_id=?",
            (status, task.progress, task.credits_reserved, task.video_url, error, time.time(), task.id),
        )

    def record_download(self, task_id: str, path: str | os.PathLike[str]) -> None:
        """The video is on disk: it survives the provider's 24-hour expiry."""
        self._run(
            "recording a download",
            "UPDATE tasks SET local_path=?, updated=? WHERE task_id=?",
            (str(path), time.time(), task_id),
        )

    def record_voice(self, voice_id: str, name: str | None, source_url: str, base_url: str) -> None:
        """Remember a created voice and its name for later sessions."""
        self._run(
            "recording a voice",
            "INSERT OR REPLACE INTO voices VALUES (?, ?, ?, ?, ?)",
            (voice_id, name, redact(source_url), redact(base_url), time.time()),
        )

    def record_voice_name(self, task_id: str, name: str) -> None:
        """The name given to a voice still being made (the API takes none), for a later kernel."""
        self._run("recording a voice name", "INSERT OR REPLACE INTO voice_names VALUES (?, ?)", (task_id, name))

    # -- reading ---------------------------------------------------------------------------
    def _entries(self, where: str, args: tuple[Any, ...], limit: int) -> list[JournalEntry]:
        rows = self._run(
            "reading tasks",
            "SELECT task_id, base_url, request, created, status, progress, credits, video_url, local_path, "  # noqa: S608
            f"error, updated FROM tasks {where} ORDER BY created DESC LIMIT ?",
            (*args, limit),
        )
        return [
            JournalEntry(
                r[0],
                r[1],
                json.loads(r[2]),
                r[3],
                r[4],
                r[5],
                r[6],
                r[7],
                r[8],
                json.loads(r[9]) if r[9] else None,
                r[10],
            )
            for r in rows
        ]

    def get(self, task_id: str) -> JournalEntry | None:
        """One task, or ``None``."""
        found = self._entries("WHERE task_id=?", (task_id,), 1)
        return found[0] if found else None

    def entries(self, *, base_url: str | None = None, limit: int = 200) -> list[JournalEntry]:
        """Recorded tasks, newest first."""
        return self._entries("WHERE base_url=?", (base_url,), limit) if base_url else self._entries("", (), limit)

    def unfinished(self, *, base_url: str | None = None, max_age: float = RESULT_LIFETIME) -> list[JournalEntry]:
        """Tasks to resume: not failed, not yet downloaded (or, for a voice, not done), younger than ``max_age``."""
        return [
            e
            for e in self.entries(base_url=base_url)
            if e.status not in ("failed", "cancelled")
            and not (e.local_path and Path(e.local_path).exists())
            and not (e.status == "completed" and e.request.get("model") == MODEL_CREATE_VOICE)
            and e.age < max_age
        ]

    def uncertain_submits(self, *, base_url: str | None = None) -> list[dict[str, Any]]:
        """Submits that may have been billed without a known task id (crash mid-POST or ambiguous failure)."""
        rows = self._run(
            "reading intents",
            "SELECT id, created, base_url, request, state, error FROM intents "
            "WHERE state IN ('sending','uncertain') ORDER BY created DESC",
        )
        return [
            {"id": r[0], "created": r[1], "base_url": r[2], "request": json.loads(r[3]), "state": r[4], "error": r[5]}
            for r in rows
            if base_url is None or r[2] == base_url
        ]

    def record_batch(self, task_id: str, batch: dict[str, Any]) -> None:
        """Remember that a task belongs to a batch ({id, index, count, label}), to regroup it later."""
        self._run("recording a batch", "INSERT OR REPLACE INTO batches VALUES (?, ?)", (task_id, json.dumps(batch)))

    def batches(self) -> dict[str, dict[str, Any]]:
        """Batch membership by task id (see :meth:`record_batch`)."""
        rows = self._run("reading batches", "SELECT task_id, batch FROM batches")
        return {r[0]: json.loads(r[1]) for r in rows}

    def voices(self, *, base_url: str | None = None) -> list[dict[str, Any]]:
        """Created voices with their names, newest first."""
        rows = self._run(
            "reading voices", "SELECT voice_id, name, source_url, base_url, created FROM voices ORDER BY created DESC"
        )
        return [
            {"voice_id": r[0], "name": r[1], "source_url": r[2], "base_url": r[3], "created": r[4]}
            for r in rows
            if base_url is None or r[3] == base_url
        ]

    def voice_name(self, task_id: str) -> str | None:
        """The name recorded for a create-voice task (see :meth:`record_voice_name`)."""
        rows = self._run("reading a voice name", "SELECT name FROM voice_names WHERE task_id=?", (task_id,))
        return str(rows[0][0]) if rows else None

    def credit_estimate(self, payload: dict[str, Any], *, base_url: str | None = None) -> float | None:
        """Credits that past tasks of the same price tier reserved (median), or ``None`` without history.

        Same tier: resolution, duration, audio on/off and voices used or not. FoxAPI publishes no
        prices, so this is the only estimate there is; it is labelled as one wherever it is shown.
        """

        def tier(request: dict[str, Any]) -> tuple[Any, ...]:
            return (
                request.get("model", "kling-v3-text-to-video"),
                request.get("resolution", "720p"),
                request.get("duration", 5),
                bool(request.get("generate_audio")),
                bool(request.get("voice_ids")),
            )

        wanted = tier(payload)
        seen = sorted(
            e.credits_reserved
            for e in self.entries(base_url=base_url, limit=500)
            if e.credits_reserved is not None and tier(e.request) == wanted
        )
        return seen[len(seen) // 2] if seen else None

    def credits_total(self, *, base_url: str | None = None) -> float:
        """Credits reserved by every recorded task."""
        return sum(e.credits_reserved or 0 for e in self.entries(base_url=base_url, limit=100_000))

    def close(self) -> None:
        """Close the database."""
        if self._db is not None:
            with self._lock:
                self._db.close()
            self._db = None
