"""The task journal: every paid task recorded on disk before anything else can fail.

A submit is billed the moment the provider accepts it, and the provider offers no task list,
so a task id that lives only in memory is lost with the kernel. The client therefore writes an
*intent* before each POST ("a submit at 14:02 may have been billed") and the task id before
``submit`` returns; polls and downloads update the row. A new widget (or
``FoxClient.history()``, ``resume()``, ``foxkling tasks``) reads it back to resume unfinished
tasks and show finished ones.

Storage: SQLite in the user data directory (``FOXKLING_DATA_DIR`` or platformdirs), or the file
named by ``FOXKLING_JOURNAL``, in WAL mode with short transactions, so two kernels may write at
once and readers never wait for a writer.

What it guarantees:

* **No write is lost to a busy database.** Every write waits at most :data:`BUSY_TIMEOUT` for
  SQLite's write lock (another kernel, a backup tool, a ``sqlite3`` shell left in a
  transaction). If the lock is not had by then, the record goes to a *spool*: a JSON-lines
  file beside the database (``journal.sqlite3.spool-<pid>-<token>.jsonl``), one per journal
  object, appended with one ``write`` per line and fsynced for intents, task ids and voices
  (the records that stand for money). The spool is merged into the database in one transaction
  by the next write that gets the lock, and a spool left by a process that died (its file lock
  is free) is merged by the next open. Every record is an idempotent upsert, so merging twice
  (a crash between commit and deleting the spool) changes nothing, and merge order does not
  matter: a status never goes back (terminal stays terminal, nothing returns to ``pending``),
  progress only grows, a known URL is never erased. ``update`` or ``record_download`` for a
  task the database has no row for creates the row; a later ``record_submitted`` fills in its
  request and host.
* **Reads see spooled records.** ``entries``, ``unfinished``, ``uncertain_submits``, ``voices``
  and the rest read the database with every spool of every process applied on top (in an
  in-memory copy, only while a spool exists), so a task is visible to history, resume and
  ``foxkling tasks`` while the lock is still held.
* **No call stalls the caller for long.** The client calls the journal inline on its event
  loop, which also polls other generations, so a call waits for the lock at most once, for
  :data:`BUSY_TIMEOUT`; after a busy answer, writes go straight to the spool for
  :data:`BUSY_BACKOFF` seconds.
* **A submit is only sent once it is on disk.** :meth:`Journal.record_intent` returns an intent
  id whether the intent went to SQLite or to the spool (ids are chosen here, not by SQLite, so
  both work alike), and raises :class:`JournalUnavailableError` only when it could be written to
  neither (read-only directory, disk full). Every other method never raises: a failure becomes
  one :class:`JournalWarning` and the record is kept in memory (and visible to reads) until it
  can be written.
* **Only a corrupt file is set aside.** An error on open that SQLite reports as corruption and
  ``PRAGMA quick_check`` confirms renames the file (with its WAL) to ``*.corrupt-<time>``; any
  other failure (cannot open, too many open files, locked) warns once, works through the spool
  and retries the real file on the next call.
* **Data is stored by value.** Payloads are stored as ``json.dumps`` of the payload with the
  registered API key(s) masked inside its strings (:func:`._secrets.scrub_data`), never a regex
  over the JSON text: data that holds no key is stored exactly as given, and a registered key
  is never stored. (Keys are known by value: the client registers its key in `._secrets`.)
* **One bad row never stops a read.** A row with invalid JSON, wrong types or NULLs is skipped
  with one warning.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import sqlite3
import statistics
import sys
import threading
import time
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final
from urllib.parse import quote

from ._exceptions import JournalUnavailableError
from ._paths import data_dir
from ._secrets import scrub, scrub_data
from ._status import PROVIDER_FAILURES, TERMINAL, TaskStatus, ordered
from ._types import Task
from ._validation import MODEL_CREATE_VOICE, price_tier

__all__ = ["Journal", "JournalEntry", "JournalWarning"]

logger = logging.getLogger(__name__)

RESULT_LIFETIME: Final = 24 * 3600  # the provider keeps result files this long (contract)
#: Longest a call waits for another process's write lock before spooling instead.
BUSY_TIMEOUT: Final = 0.2
#: After a busy answer, writes skip the database (straight to the spool) for this long.
BUSY_BACKOFF: Final = 1.0
_UNKNOWN_REQUEST = "{}"  # a task row created by a poll before its submit was merged
_SPOOL_VERSION = 1
_SQLITE_CORRUPT, _SQLITE_NOTADB = 11, 26
_SCHEMA = """
CREATE TABLE IF NOT EXISTS intents (
    id INTEGER PRIMARY KEY AUTOINCREMENT, created REAL NOT NULL, base_url TEXT NOT NULL,
    request TEXT NOT NULL, state TEXT NOT NULL DEFAULT 'sending', task_id TEXT, error TEXT
);
CREATE TABLE IF NOT EXISTS tasks (
    task_id TEXT PRIMARY KEY, base_url TEXT NOT NULL, request TEXT NOT NULL, created REAL NOT NULL,
    status TEXT NOT NULL, progress REAL NOT NULL DEFAULT 0, credits REAL, video_url TEXT,
    local_path TEXT, error TEXT, updated REAL NOT NULL, completed_at REAL
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
_TABLES = frozenset({"intents", "tasks", "voices", "batches", "voice_names"})
# The statuses are our own constants (_status.TERMINAL), never user data: safe to write into SQL.
_TERMINAL_SQL = ", ".join(f"'{s}'" for s in ordered(TERMINAL))
# A status never goes back: terminal stays (the first terminal status wins), and nothing returns
# to pending. Replays and merges arrive in any order, so this must not depend on arrival order.
_MERGE_STATUS = (
    f"CASE WHEN tasks.status IN ({_TERMINAL_SQL}) THEN tasks.status "
    f"WHEN excluded.status = '{TaskStatus.PENDING}' THEN tasks.status ELSE excluded.status END"
)
_TASK_COLUMNS = (
    "task_id, base_url, request, created, status, progress, credits, video_url, local_path, error, updated, "
    "completed_at"
)


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
    #: When the journal first saw the task completed with its result (``None`` before that).
    completed_at: float | None = None

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


def _dump(value: Any) -> str:
    """Stored JSON: keys masked by value inside the data, then serialised (never the reverse)."""
    return json.dumps(scrub_data(value))


def _clean(text: str | None) -> str | None:
    return scrub(text) if text is not None else None


def _is_corrupt(error: BaseException) -> bool:
    """SQLite says the file is not a database or is malformed (not: locked, cannot open, ...)."""
    if not isinstance(error, sqlite3.DatabaseError):
        return False
    code = getattr(error, "sqlite_errorcode", None)  # Python 3.11+
    if isinstance(code, int):
        return code & 0xFF in (_SQLITE_CORRUPT, _SQLITE_NOTADB)
    text = str(error).lower()
    return "not a database" in text or "malformed" in text


def _is_busy(error: BaseException) -> bool:
    text = str(error).lower()
    return isinstance(error, sqlite3.OperationalError) and ("locked" in text or "busy" in text)


def _try_lock(fd: int) -> bool:
    """Take the exclusive, non-blocking lock that marks a spool file's owner as alive."""
    if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
        import msvcrt

        try:
            # A byte far past the end, so the lock never blocks reading the records themselves.
            os.lseek(fd, 1 << 30, os.SEEK_SET)
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
            return True
        except OSError:
            return False
    import fcntl

    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except OSError:
        return False


def _parse_spool(data: bytes) -> list[dict[str, Any]]:
    """The records in a spool file; a torn or damaged line (a crash mid-append) is skipped."""
    ops: list[dict[str, Any]] = []
    for line in data.splitlines():
        try:
            op = json.loads(line)
        except ValueError:
            continue
        if isinstance(op, dict) and isinstance(op.get("op"), str):
            ops.append(op)
    return ops


def _ensure_schema(db: sqlite3.Connection) -> None:
    """Create missing tables and add columns newer versions need (existing journals migrate)."""
    tables = {str(r[0]) for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    if not _TABLES.issubset(tables):
        db.executescript(_SCHEMA)
    columns = {str(r[1]) for r in db.execute("PRAGMA table_info(tasks)")}
    if "completed_at" not in columns:
        try:
            db.execute("ALTER TABLE tasks ADD COLUMN completed_at REAL")
        except sqlite3.OperationalError as error:
            if "duplicate column" not in str(error).lower():  # another kernel migrated first
                raise


def _apply(db: sqlite3.Connection, op: Mapping[str, Any]) -> None:
    """Write one record. Each is an idempotent upsert, safe to replay in any order (see above)."""
    kind, at = op["op"], float(op["t"])
    if kind == "intent":
        db.execute(
            "INSERT OR IGNORE INTO intents (id, created, base_url, request) VALUES (?, ?, ?, ?)",
            (int(op["id"]), at, op["base_url"], op["request"]),
        )
    elif kind == "submitted":
        db.execute(
            f"INSERT INTO tasks ({_TASK_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, NULL, NULL, NULL, ?, NULL) "  # noqa: S608
            "ON CONFLICT(task_id) DO UPDATE SET "
            "base_url=CASE WHEN tasks.base_url='' THEN excluded.base_url ELSE tasks.base_url END, "
            f"request=CASE WHEN tasks.request='{_UNKNOWN_REQUEST}' THEN excluded.request ELSE tasks.request END, "
            f"status={_MERGE_STATUS}, progress=MAX(tasks.progress, excluded.progress), "
            "credits=COALESCE(tasks.credits, excluded.credits), updated=MAX(tasks.updated, excluded.updated)",
            (
                op["task_id"],
                op["base_url"],
                op["request"],
                float(op["created"]),
                op["status"],
                float(op["progress"]),
                op["credits"],
                at,
            ),
        )
        if op.get("intent") is not None:
            db.execute("UPDATE intents SET state='submitted', task_id=? WHERE id=?", (op["task_id"], int(op["intent"])))
    elif kind == "uncertain":
        db.execute(
            "UPDATE intents SET state='uncertain', error=? WHERE id=? AND state<>'submitted'",
            (op["error"], int(op["intent"])),
        )
    elif kind == "rejected":
        db.execute("UPDATE intents SET state='rejected' WHERE id=? AND state<>'submitted'", (int(op["intent"]),))
    elif kind == "update":
        db.execute(
            f"INSERT INTO tasks ({_TASK_COLUMNS}) VALUES (?, '', ?, ?, ?, ?, ?, ?, NULL, ?, ?, ?) "  # noqa: S608
            f"ON CONFLICT(task_id) DO UPDATE SET status={_MERGE_STATUS}, "
            "progress=MAX(tasks.progress, excluded.progress), credits=COALESCE(excluded.credits, tasks.credits), "
            "video_url=COALESCE(excluded.video_url, tasks.video_url), error=COALESCE(excluded.error, tasks.error), "
            "updated=MAX(tasks.updated, excluded.updated), "
            "completed_at=COALESCE(tasks.completed_at, excluded.completed_at)",
            (
                op["task_id"],
                _UNKNOWN_REQUEST,
                float(op["created"]),
                op["status"],
                float(op["progress"]),
                op["credits"],
                op["video_url"],
                op["error"],
                at,
                at if op.get("done") else None,
            ),
        )
    elif kind == "download":
        # A download implies a completed task; a row missing here is created as one.
        db.execute(
            f"INSERT INTO tasks ({_TASK_COLUMNS}) "  # noqa: S608
            f"VALUES (?, '', ?, ?, '{TaskStatus.COMPLETED}', 100, NULL, NULL, ?, NULL, ?, NULL) "
            "ON CONFLICT(task_id) DO UPDATE SET local_path=excluded.local_path, "
            "updated=MAX(tasks.updated, excluded.updated)",
            (op["task_id"], _UNKNOWN_REQUEST, at, op["path"], at),
        )
    elif kind == "voice":
        db.execute(
            "INSERT OR REPLACE INTO voices VALUES (?, ?, ?, ?, ?)",
            (op["voice_id"], op["name"], op["source_url"], op["base_url"], at),
        )
    elif kind == "voice_name":
        db.execute("INSERT OR REPLACE INTO voice_names VALUES (?, ?)", (op["task_id"], op["name"]))
    elif kind == "batch":
        db.execute("INSERT OR REPLACE INTO batches VALUES (?, ?)", (op["task_id"], op["batch"]))
    else:
        raise ValueError(f"unknown journal record {kind!r}")


def _new_intent_id() -> int:
    # Chosen here, not by SQLite, so an intent that went to the spool has its final id at once:
    # milliseconds since the epoch and 20 random bits (sortable, unique across processes).
    return (time.time_ns() // 1_000_000) << 20 | secrets.randbits(20)


def _optional_float(value: object) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise TypeError(f"not a number: {value!r}")
    return float(value)


def _required_float(value: object) -> float:
    number = _optional_float(value)
    if number is None:
        raise TypeError("a required number is missing")
    return number


def _optional_text(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise TypeError(f"not text: {value!r}")
    return value


def _json_object(value: object) -> dict[str, Any]:
    if not isinstance(value, str):
        raise TypeError("not JSON text")
    parsed = json.loads(value)
    if not isinstance(parsed, dict):
        raise TypeError("not a JSON object")
    return parsed


_shared: dict[Path, Journal] = {}
_shared_lock = threading.Lock()


class Journal:
    """SQLite journal of intents, tasks and voices, with a spool for when SQLite is busy (see the module)."""

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path = Path(path or os.environ.get("FOXKLING_JOURNAL") or data_dir() / "journal.sqlite3")
        # One lock for the connection, the pending records and the spool: the widget reads on the
        # kernel's thread while the client writes on the controller's.
        self._lock = threading.RLock()
        self._warned: set[str] = set()
        self._db: sqlite3.Connection | None = None
        self._pending: list[dict[str, Any]] = []  # records not yet in the database, oldest first
        self._spooled = 0  # how many of them are in this object's spool file
        self._spool_fd: int | None = None
        self._spool_path: Path | None = None
        self._spool_size = 0
        self._busy_until = 0.0
        self._logged_busy = False
        with self._lock:
            self._connect()

    @classmethod
    def default(cls) -> Journal:
        """The user's journal (honours ``FOXKLING_JOURNAL`` and ``FOXKLING_DATA_DIR``), one per process."""
        path = Path(os.environ.get("FOXKLING_JOURNAL") or data_dir() / "journal.sqlite3")
        with _shared_lock:
            if path not in _shared:
                _shared[path] = cls(path)
            return _shared[path]

    def _warn(self, what: str, error: BaseException | str) -> None:
        if what not in self._warned:
            self._warned.add(what)
            warnings.warn(f"task journal ({self.path.name}): {what} ({error})", JournalWarning, stacklevel=4)

    # -- opening ---------------------------------------------------------------------------
    def _connect(self, *, set_aside: bool = True, backoff: bool = True) -> bool:
        """Open the real file; ``False`` (after one warning) when it cannot be had right now."""
        if self._db is not None:
            return True
        if backoff and time.monotonic() < self._busy_until:
            return False  # it was locked a moment ago: do not wait for it on every call
        db: sqlite3.Connection | None = None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT, check_same_thread=False, isolation_level=None)
            db.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT * 1000)}")
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")  # with WAL: durable across crashes, not power loss
            _ensure_schema(db)
        except (sqlite3.Error, OSError) as error:
            if db is not None:
                with contextlib.suppress(sqlite3.Error):
                    db.close()
            if set_aside and _is_corrupt(error) and self._confirm_corrupt() and self._set_aside(error):
                return self._connect(set_aside=False, backoff=False)
            if _is_busy(error):
                self._note_busy()
            self._warn(
                "opening failed; records are kept in a spool file beside it and the file is tried again on "
                "the next call",
                error,
            )
            return False
        self._db = db
        self._merge_orphans()
        return True

    def _confirm_corrupt(self) -> bool:
        """A second, read-only look: only a file SQLite cannot read as a database is set aside."""
        try:
            uri = "file:" + quote(str(self.path.resolve())) + "?mode=ro"
            probe = sqlite3.connect(uri, uri=True, timeout=BUSY_TIMEOUT)
            try:
                result = probe.execute("PRAGMA quick_check").fetchall()
            finally:
                probe.close()
        except sqlite3.Error as error:
            return _is_corrupt(error)
        return result != [("ok",)]

    def _set_aside(self, error: BaseException) -> bool:
        aside = self.path.with_name(f"{self.path.name}.corrupt-{int(time.time())}")
        try:
            self.path.rename(aside)
        except OSError:
            return False
        for suffix in ("-wal", "-shm"):  # a stale WAL must not be replayed into the new file
            with contextlib.suppress(OSError):
                self.path.with_name(self.path.name + suffix).rename(aside.with_name(aside.name + suffix))
        self._warn("the file was corrupt and was set aside as " + aside.name, error)
        return True

    # -- the spool -------------------------------------------------------------------------
    def _spool_files(self) -> list[Path]:
        prefix = self.path.name + ".spool-"
        try:
            return sorted(
                p for p in self.path.parent.iterdir() if p.name.startswith(prefix) and p.name.endswith(".jsonl")
            )
        except OSError:
            return []

    def _foreign_ops(self) -> list[dict[str, Any]]:
        """Records in other processes' (or closed journals') spools, not yet merged."""
        ops: list[dict[str, Any]] = []
        for path in self._spool_files():
            if path != self._spool_path:
                with contextlib.suppress(OSError):
                    ops.extend(_parse_spool(path.read_bytes()))
        return ops

    def _merge_orphans(self) -> None:
        """Merge spools whose owner is gone (their file lock is free), then delete them."""
        assert self._db is not None
        if time.monotonic() < self._busy_until:
            return  # locked a moment ago: do not wait for it twice in one call
        for path in self._spool_files():
            if path == self._spool_path:
                continue
            try:
                fd = os.open(path, os.O_RDWR)
            except OSError:
                continue
            try:
                if not _try_lock(fd):
                    continue  # its owner is alive and merges it itself
                with open(path, "rb") as stream:
                    ops = _parse_spool(stream.read())
                self._transaction(ops)
            except sqlite3.Error as error:
                if _is_busy(error):
                    self._note_busy()
                else:
                    self._warn("merging a spool file failed; it is kept", error)
                return
            except OSError:
                continue
            finally:
                os.close(fd)
            with contextlib.suppress(OSError):
                path.unlink()

    def _open_spool(self) -> int:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        for _ in range(3):
            path = self.path.with_name(f"{self.path.name}.spool-{os.getpid()}-{secrets.token_hex(4)}.jsonl")
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o600)
            if _try_lock(fd):
                self._spool_fd, self._spool_path, self._spool_size = fd, path, 0
                if hasattr(os, "O_DIRECTORY"):  # make the new name itself survive a crash
                    with contextlib.suppress(OSError):
                        dir_fd = os.open(self.path.parent, os.O_DIRECTORY)
                        try:
                            os.fsync(dir_fd)
                        finally:
                            os.close(dir_fd)
                return fd
            os.close(fd)
        raise OSError("could not lock a new spool file")

    def _spool(self, durable: bool) -> bool:
        """Append the pending records not yet spooled; ``True`` once they are on disk."""
        try:
            fd = self._spool_fd if self._spool_fd is not None else self._open_spool()
            data = b"".join(
                json.dumps({"v": _SPOOL_VERSION, **op}).encode() + b"\n" for op in self._pending[self._spooled :]
            )
            try:
                written = 0
                while written < len(data):
                    written += os.write(fd, data[written:])
                if durable:
                    os.fsync(fd)
            except OSError:
                # Cut a torn line off again, so the next append does not glue onto it.
                with contextlib.suppress(OSError):
                    os.ftruncate(fd, self._spool_size)
                raise
            self._spool_size += len(data)
            self._spooled = len(self._pending)
            return True
        except OSError as error:
            self._warn("writing failed to the database and to the spool; records are kept in memory", error)
            return False

    def _drop_spool(self) -> None:
        if self._spool_fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._spool_fd)
            if self._spool_path is not None:
                with contextlib.suppress(OSError):
                    self._spool_path.unlink()
        self._spool_fd, self._spool_path, self._spool_size = None, None, 0

    # -- writing ---------------------------------------------------------------------------
    def _transaction(self, ops: Sequence[Mapping[str, Any]]) -> None:
        """Apply ``ops`` in one write transaction; a record that cannot be applied is skipped."""
        assert self._db is not None
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            for op in ops:
                try:
                    _apply(db, op)
                except (sqlite3.IntegrityError, sqlite3.InterfaceError, KeyError, TypeError, ValueError) as error:
                    self._warn("a damaged record was skipped", error)
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    db.execute("ROLLBACK")
            raise

    def _flush(self, *, backoff: bool = True) -> bool:
        """Move every pending record into the database; ``False`` if it cannot be had now."""
        if not self._pending:
            return True
        if backoff and time.monotonic() < self._busy_until:
            return False
        if not self._connect(backoff=backoff):
            return False
        try:
            self._transaction(self._pending)
        except sqlite3.Error as error:
            if _is_busy(error):
                self._note_busy()
            else:
                self._warn("writing failed; records are kept in the spool", error)
                if _is_corrupt(error) or isinstance(error, sqlite3.ProgrammingError):
                    self._reset_connection()  # the next call reopens (and sets a corrupt file aside)
            return False
        self._pending.clear()
        self._spooled = 0
        self._drop_spool()
        self._logged_busy = False
        return True

    def _note_busy(self) -> None:
        self._busy_until = time.monotonic() + BUSY_BACKOFF
        if not self._logged_busy:
            self._logged_busy = True
            logger.warning("task journal %s is locked by another process; writing to its spool", self.path)

    def _reset_connection(self) -> None:
        if self._db is not None:
            with contextlib.suppress(sqlite3.Error):
                self._db.close()
        self._db = None

    def _write(self, op: dict[str, Any], *, durable: bool = False) -> bool:
        """Record ``op`` in the database or, failing that, the spool; ``True`` once it is on disk."""
        op["t"] = time.time()
        with self._lock:
            self._pending.append(op)
            return self._flush() or self._spool(durable)

    # -- writing (the client's JournalLike protocol) ---------------------------------------
    def record_intent(self, payload: dict[str, Any], base_url: str) -> int:
        """Before the POST: a trace that a billed submit is about to happen; returns its id.

        Raises :class:`JournalUnavailableError` (and records nothing) when the intent could be
        written neither to the database nor to the spool: the submit must then not be sent.
        """
        intent_id = _new_intent_id()
        op = {"op": "intent", "id": intent_id, "base_url": scrub(base_url), "request": _dump(payload)}
        with self._lock:
            if self._write(op, durable=True):
                return intent_id
            self._pending.remove(op)  # nothing is sent, so nothing may stay "possibly billed"
        raise JournalUnavailableError(
            f"The task journal {self.path} could not record the submit (neither in its database nor in its spool)."
        )

    def record_submitted(self, intent_id: int | None, task: Task, payload: dict[str, Any], base_url: str) -> None:
        """The provider accepted the submit: the task id is safe on disk."""
        self._write(
            {
                "op": "submitted",
                "intent": intent_id,
                "task_id": task.id,
                "base_url": scrub(base_url),
                "request": _dump(payload),
                "created": float(task.created) if task.created else time.time(),
                "status": task.status.value,
                "progress": task.progress,
                "credits": task.credits_reserved,
            },
            durable=True,
        )

    def record_uncertain(self, intent_id: int | None, error: BaseException) -> None:
        """The submit may have been billed without an id: keep the intent visible."""
        if intent_id is not None:
            self._write({"op": "uncertain", "intent": intent_id, "error": scrub(str(error))}, durable=True)

    def record_rejected(self, intent_id: int | None) -> None:
        """The provider refused the submit: nothing was billed."""
        if intent_id is not None:
            self._write({"op": "rejected", "intent": intent_id})

    def update(self, task: Task) -> None:
        """A new snapshot; a status never goes back and a known URL is never erased.

        A task the journal has no row for (its submit was never recorded here) gets one.
        """
        # "completed" without its result yet (a seen race) is not finished: store it as processing.
        status = TaskStatus.PROCESSING if task.status is TaskStatus.COMPLETED and not task.done else task.status
        self._write(
            {
                "op": "update",
                "task_id": task.id,
                "created": float(task.created) if task.created else time.time(),
                "status": status.value,
                "progress": task.progress,
                "credits": task.credits_reserved,
                "video_url": _clean(task.video_url),
                "error": _dump(task.error.to_dict()) if task.error else None,
                "done": task.done,
            }
        )

    def record_download(self, task_id: str, path: str | os.PathLike[str]) -> None:
        """The video is on disk: it survives the provider's 24-hour expiry."""
        self._write({"op": "download", "task_id": task_id, "path": str(path)})

    def record_voice(self, voice_id: str, name: str | None, source_url: str, base_url: str) -> None:
        """Remember a created voice and its name for later sessions."""
        self._write(
            {
                "op": "voice",
                "voice_id": voice_id,
                "name": _clean(name),
                "source_url": scrub(source_url),
                "base_url": scrub(base_url),
            },
            durable=True,
        )

    def record_voice_name(self, task_id: str, name: str) -> None:
        """The name given to a voice still being made (the API takes none), for a later kernel."""
        self._write({"op": "voice_name", "task_id": task_id, "name": scrub(name)})

    def record_batch(self, task_id: str, batch: dict[str, Any]) -> None:
        """Remember that a task belongs to a batch ({id, index, count, label}), to regroup it later."""
        self._write({"op": "batch", "task_id": task_id, "batch": _dump(batch)})

    # -- reading ---------------------------------------------------------------------------
    @contextlib.contextmanager
    def _reading(self) -> Iterator[sqlite3.Connection]:
        """The database as reads must see it: with every unmerged spooled record applied.

        Without a spool this is the real connection. With one (rare: the lock was busy) it is an
        in-memory copy with the records applied, so nothing spooled is invisible.
        """
        with self._lock:
            self._connect()
            ops = [*self._foreign_ops(), *self._pending]
            if self._db is not None and not ops:
                yield self._db
                return
            overlay = sqlite3.connect(":memory:", isolation_level=None)
            try:
                overlay.executescript(_SCHEMA)
                self._copy_into(overlay)
                for op in ops:
                    try:
                        _apply(overlay, op)
                    except (sqlite3.Error, KeyError, TypeError, ValueError) as error:
                        self._warn("a damaged spooled record was skipped", error)
                yield overlay
            finally:
                overlay.close()

    def _copy_into(self, overlay: sqlite3.Connection) -> None:
        """Copy the database's rows into ``overlay`` (which has the current schema).

        Plain reads, not ``Connection.backup``: those wait at most the busy timeout, while
        ``backup`` retries a locked source for as long as it stays locked.
        """
        source = self._db
        try:
            if source is None:
                if not self.path.exists():
                    return
                uri = "file:" + quote(str(self.path.resolve())) + "?mode=ro"  # not writable now, perhaps readable
                source = sqlite3.connect(uri, uri=True, timeout=BUSY_TIMEOUT, isolation_level=None)
            try:
                source.execute("BEGIN")  # one snapshot for all tables
                for table in sorted(_TABLES):
                    have = {str(r[1]) for r in overlay.execute(f"PRAGMA table_info({table})")}
                    columns = [str(r[1]) for r in source.execute(f"PRAGMA table_info({table})") if str(r[1]) in have]
                    if columns:
                        names = ", ".join(columns)
                        rows = source.execute(f"SELECT {names} FROM {table}")  # noqa: S608
                        marks = ", ".join("?" * len(columns))
                        overlay.executemany(f"INSERT OR IGNORE INTO {table} ({names}) VALUES ({marks})", rows)  # noqa: S608
            finally:
                if source.in_transaction:
                    source.execute("COMMIT")
                if source is not self._db:
                    source.close()
        except sqlite3.Error as error:
            self._warn("reading failed; showing only records not yet written to it", error)

    def _rows(self, what: str, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        try:
            with self._reading() as db:
                return list(db.execute(sql, args).fetchall())
        except sqlite3.Error as error:
            self._warn(what + " failed", error)
            if _is_corrupt(error):
                with self._lock:
                    self._reset_connection()
            return []

    def _skip(self, error: Exception) -> None:
        self._warn("a damaged row was skipped", error)

    def _entries(self, where: str, args: tuple[Any, ...], limit: int) -> list[JournalEntry]:
        rows = self._rows(
            "reading tasks",
            f"SELECT {_TASK_COLUMNS} FROM tasks {where} ORDER BY created DESC LIMIT ?",  # noqa: S608
            (*args, limit),
        )
        entries = []
        for r in rows:
            try:
                task_id = _optional_text(r[0])
                if not task_id:
                    raise TypeError("a task without an id")
                created = _required_float(r[3])
                error = json.loads(r[9]) if r[9] else None
                entries.append(
                    JournalEntry(
                        task_id=task_id,
                        base_url=_optional_text(r[1]) or "",
                        request=_json_object(r[2]),
                        created=created,
                        status=_optional_text(r[4]) or TaskStatus.UNKNOWN.value,
                        progress=_optional_float(r[5]) or 0.0,
                        credits_reserved=_optional_float(r[6]),
                        video_url=_optional_text(r[7]),
                        local_path=_optional_text(r[8]),
                        error=error if isinstance(error, dict) else ({"message": str(error)} if error else None),
                        updated=_optional_float(r[10]) or created,
                        completed_at=_optional_float(r[11]),
                    )
                )
            except (TypeError, ValueError) as error:
                self._skip(error)
        return entries

    def entries(self, *, base_url: str | None = None, limit: int = 200) -> list[JournalEntry]:
        """Recorded tasks, newest first."""
        return self._entries("WHERE base_url=?", (base_url,), limit) if base_url else self._entries("", (), limit)

    def unfinished(self, *, base_url: str | None = None, max_age: float = RESULT_LIFETIME) -> list[JournalEntry]:
        """Tasks to resume: not failed, not yet downloaded (or, for a voice, not done), younger than ``max_age``."""
        return [
            e
            for e in self.entries(base_url=base_url)
            if e.status not in PROVIDER_FAILURES
            and not (e.local_path and Path(e.local_path).exists())
            and not (e.status == TaskStatus.COMPLETED and e.request.get("model") == MODEL_CREATE_VOICE)
            and e.age < max_age
        ]

    def uncertain_submits(self, *, base_url: str | None = None) -> list[dict[str, Any]]:
        """Submits that may have been billed without a known task id (crash mid-POST or ambiguous failure)."""
        rows = self._rows(
            "reading intents",
            "SELECT id, created, base_url, request, state, error FROM intents "
            "WHERE state IN ('sending','uncertain') ORDER BY created DESC",
        )
        found = []
        for r in rows:
            try:
                intent = {
                    "id": int(r[0]),
                    "created": _required_float(r[1]),
                    "base_url": _optional_text(r[2]) or "",
                    "request": _json_object(r[3]),
                    "state": str(r[4]),
                    "error": _optional_text(r[5]),
                }
            except (TypeError, ValueError) as error:
                self._skip(error)
                continue
            if base_url is None or intent["base_url"] == base_url:
                found.append(intent)
        return found

    def batches(self) -> dict[str, dict[str, Any]]:
        """Batch membership by task id (see :meth:`record_batch`)."""
        found = {}
        for r in self._rows("reading batches", "SELECT task_id, batch FROM batches"):
            try:
                task_id = _optional_text(r[0])
                if not task_id:
                    raise TypeError("a batch row without a task id")
                found[task_id] = _json_object(r[1])
            except (TypeError, ValueError) as error:
                self._skip(error)
        return found

    def voices(self, *, base_url: str | None = None) -> list[dict[str, Any]]:
        """Created voices with their names, newest first."""
        rows = self._rows(
            "reading voices", "SELECT voice_id, name, source_url, base_url, created FROM voices ORDER BY created DESC"
        )
        found = []
        for r in rows:
            try:
                voice = {
                    "voice_id": _optional_text(r[0]),
                    "name": _optional_text(r[1]),
                    "source_url": _optional_text(r[2]),
                    "base_url": _optional_text(r[3]) or "",
                    "created": _required_float(r[4]),
                }
                if not voice["voice_id"]:
                    raise TypeError("a voice without an id")
            except (TypeError, ValueError) as error:
                self._skip(error)
                continue
            if base_url is None or voice["base_url"] == base_url:
                found.append(voice)
        return found

    def voice_name(self, task_id: str) -> str | None:
        """The name recorded for a create-voice task (see :meth:`record_voice_name`)."""
        rows = self._rows("reading a voice name", "SELECT name FROM voice_names WHERE task_id=?", (task_id,))
        return str(rows[0][0]) if rows and rows[0][0] is not None else None

    def credit_estimate(self, payload: dict[str, Any], *, base_url: str | None = None) -> float | None:
        """Credits that past tasks of the same price tier reserved (median), or ``None`` without history.

        Same tier: model, resolution, duration, audio on/off and voices used or not. FoxAPI
        publishes no prices, so this is the only estimate there is; it is labelled as one
        wherever it is shown. The studio gives the same answer from memory (``_credits.CreditBook``,
        whose tests compare it with this method) rather than read the journal per keystroke.
        """
        wanted = price_tier(payload)
        seen = sorted(
            e.credits_reserved
            for e in self.entries(base_url=base_url, limit=500)
            if e.credits_reserved is not None and e.request and price_tier(e.request) == wanted
        )
        return seen[len(seen) // 2] if seen else None

    def typical_duration(self, payload: dict[str, Any], *, base_url: str | None = None) -> float | None:
        """Median seconds from submit to completion of past completed tasks of the same tier, or ``None``.

        The tier is :meth:`credit_estimate`'s. The poll schedule uses it as a prior: how long a
        task like this one usually takes on this host.
        """
        wanted = price_tier(payload)
        seen = [
            e.completed_at - e.created
            for e in self.entries(base_url=base_url, limit=500)
            if e.status == TaskStatus.COMPLETED
            and e.completed_at is not None
            and e.completed_at >= e.created
            and e.request  # a row made by a poll before its submit was merged has no tier
            and price_tier(e.request) == wanted
        ]
        return statistics.median(seen) if seen else None

    def credits_total(self, *, base_url: str | None = None) -> float:
        """Credits reserved by every recorded task (the studio's ``CreditBook`` counts the same, from memory)."""
        return sum(e.credits_reserved or 0 for e in self.entries(base_url=base_url, limit=100_000))

    def close(self) -> None:
        """Write what is pending (to the database, else the spool) and close; a later call reopens."""
        with self._lock:
            # Closing may wait for the lock once more: it is the last chance to merge in-process.
            if not self._flush(backoff=False) and self._spooled < len(self._pending):
                self._spool(durable=True)
            del self._pending[: self._spooled]  # the rest is in the spool file, merged by the next open
            self._spooled = 0
            if self._spool_fd is not None:  # release it: the next open merges it
                with contextlib.suppress(OSError):
                    os.close(self._spool_fd)
            self._spool_fd, self._spool_path, self._spool_size = None, None, 0
            self._reset_connection()
