"""Opening the journal: only a corrupt file is set aside; a journal that cannot be written refuses submits."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from foxkling_widgets import Task
from foxkling_widgets._exceptions import JournalUnavailableError
from foxkling_widgets._journal import Journal, JournalWarning

pytestmark = pytest.mark.timeout(120)
PAYLOAD = {"model": "kling-v3-text-to-video", "prompt": "a fox"}
URL = "https://api.foxapi.cc"


def task(n: int = 0) -> Task:
    return Task.from_json({"id": f"task-unified-1-{n:08d}", "status": "pending", "created": int(time.time())})


def task_ids(journal: Journal) -> list[str]:
    return sorted(e.task_id for e in journal.entries())


def test_a_failed_open_keeps_the_healthy_file_and_retries_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "j.sqlite3"
    healthy = Journal(path)
    healthy.record_submitted(None, task(1), PAYLOAD, URL)
    healthy.close()
    real_connect, failures = sqlite3.connect, ["unable to open database file"]

    def flaky_connect(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        if failures:  # once, as with too many open files or a share that comes back
            raise sqlite3.OperationalError(failures.pop())
        return real_connect(*args, **kwargs)

    monkeypatch.setattr(sqlite3, "connect", flaky_connect)
    with pytest.warns(JournalWarning, match="opening failed"):
        journal = Journal(path)
    assert path.exists() and not list(tmp_path.glob("*.corrupt-*"))
    journal.record_submitted(None, task(2), PAYLOAD, URL)  # the real file again, no second warning
    assert task_ids(journal) == ["task-unified-1-00000001", "task-unified-1-00000002"]
    assert not list(tmp_path.glob("*.spool-*"))  # written to the file itself


def test_a_locked_file_is_not_taken_for_corrupt(tmp_path: Path) -> None:
    # Not yet in WAL mode (e.g. made by another tool) and locked: even reading it is refused.
    path = tmp_path / "j.sqlite3"
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("CREATE TABLE unrelated (x)")
    other.execute("BEGIN EXCLUSIVE")
    other.execute("INSERT INTO unrelated VALUES (1)")
    with pytest.warns(JournalWarning) as caught:
        journal = Journal(path)
        intent = journal.record_intent(PAYLOAD, URL)  # into the spool
        journal.record_submitted(intent, task(1), PAYLOAD, URL)
        assert task_ids(journal) == ["task-unified-1-00000001"]
    assert any("opening failed" in str(w.message) for w in caught)
    other.execute("COMMIT")
    other.close()
    journal.close()  # opens the real file now and merges
    assert not list(tmp_path.glob("*.corrupt-*")) and not list(tmp_path.glob("*.spool-*"))
    check = sqlite3.connect(path)
    assert check.execute("SELECT task_id FROM tasks").fetchall() == [("task-unified-1-00000001",)]
    assert check.execute("SELECT COUNT(*) FROM unrelated").fetchone() == (1,)
    check.close()


def test_garbage_is_set_aside_with_its_bytes(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite3"
    garbage = os.urandom(4096)
    path.write_bytes(garbage)
    with pytest.warns(JournalWarning, match="set aside"):
        journal = Journal(path)
    journal.record_submitted(None, task(1), PAYLOAD, URL)
    (aside,) = tmp_path.glob("j.sqlite3.corrupt-*")
    assert aside.read_bytes() == garbage and task_ids(journal) == ["task-unified-1-00000001"]


def test_nowhere_to_write_refuses_the_submit_and_nothing_else(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")  # a file where the data directory should be: no database, no spool
    with pytest.warns(JournalWarning):
        journal = Journal(blocker / "j.sqlite3")
        with pytest.raises(JournalUnavailableError):
            journal.record_intent(PAYLOAD, URL)
        assert journal.uncertain_submits() == []  # not sent, so not "possibly billed"
        journal.record_submitted(None, task(1), PAYLOAD, URL)  # never raises: kept in memory
        journal.update(task(1))
        assert task_ids(journal) == ["task-unified-1-00000001"]


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root writes to read-only directories")
def test_a_read_only_data_directory_refuses_the_submit(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    data.chmod(0o500)
    try:
        with pytest.warns(JournalWarning):
            journal = Journal(data / "j.sqlite3")
            with pytest.raises(JournalUnavailableError):
                journal.record_intent(PAYLOAD, URL)
    finally:
        data.chmod(0o700)


# A full disk, for root too: no file may grow past 0 bytes once the journal is open.
FULL_DISK = """
import resource, signal, sys, warnings
from foxkling_widgets._exceptions import JournalUnavailableError
from foxkling_widgets._journal import Journal
warnings.simplefilter("ignore")
journal = Journal(sys.argv[1])
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))
try:
    journal.record_intent({"model": "kling-v3-text-to-video", "prompt": "a fox"}, "https://api.foxapi.cc")
except JournalUnavailableError:
    print("refused")
else:
    print("recorded")
"""


@pytest.mark.skipif(sys.platform == "win32", reason="file size limits are POSIX")
def test_a_full_disk_refuses_the_submit(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite3"
    Journal(path).close()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run(
        [sys.executable, "-c", FULL_DISK, str(path)], env=env, capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == "refused", done.stderr
    assert Journal(path).uncertain_submits() == []  # and nothing half-written turns up later
