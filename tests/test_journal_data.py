"""What the journal stores: data by value, damaged rows skipped, rows made by polls, durations."""

from __future__ import annotations

import io
import json
import sqlite3
import string
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from foxkling_widgets import FoxClient, KlingWidget, SubmitUncertainError, Task, _secrets
from foxkling_widgets._journal import Journal, JournalWarning
from foxkling_widgets.cli import main

pytestmark = pytest.mark.timeout(300)
PAYLOAD = {"model": "kling-v3-text-to-video", "prompt": "a fox"}
URL = "http://127.0.0.1:9"  # nothing listens: these tests must not need the network
TASK_ID = "task-unified-1-aaaaaaaa"


@contextmanager
def secrets_registered(*keys: str) -> Iterator[None]:
    """Exactly ``keys`` registered inside the block; the process-wide registry restored after."""
    saved = (_secrets._secrets, _secrets._grams)
    _secrets._secrets, _secrets._grams = set(), {}
    try:
        for key in keys:
            _secrets.register_secret(key)
        yield
    finally:
        _secrets._secrets, _secrets._grams = saved


def task(status: str = "pending", task_id: str = TASK_ID, **extra: Any) -> Task:
    return Task.from_json({"id": task_id, "status": status, "created": int(time.time()), **extra})


def test_the_ring_bearer_prompt_is_stored_as_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "j.sqlite3"
    journal = Journal(path)
    payload = {**PAYLOAD, "prompt": "the ring bearer smiles; the ring Bearer Frodo-Baggins sk-12345678 bows"}
    journal.record_submitted(journal.record_intent(payload, URL), task(), payload, URL)
    journal.update(task("failed", error={"code": "x", "message": "Bearer Frodo-Baggins was refused"}))
    db = sqlite3.connect(path)
    assert db.execute("SELECT request FROM tasks").fetchone() == (json.dumps(payload),)
    db.close()
    (entry,) = journal.entries()
    assert entry.request == payload and entry.error is not None
    assert entry.error["message"] == "Bearer Frodo-Baggins was refused"
    # Everything that reads it back works: history, a widget for this host, `foxkling tasks`.
    with FoxClient("sk-ring-bearer-test", URL, journal=journal) as client:
        assert [e.request for e in client.history()] == [payload]
        widget = KlingWidget(client=client)
        assert [t.id for t in widget.tasks] == [TASK_ID]
        widget.close()
    monkeypatch.setenv("FOXKLING_JOURNAL", str(path))
    out = io.StringIO()
    assert main(["tasks"], out=out, err=io.StringIO()) == 0 and TASK_ID in out.getvalue()


TRICKY = ["the ring bearer smiles", "Bearer abcdefghijk", "sk-abcdef123456", 'a "quoted" \\ back\\slash', "é✓🦊"]
texts = st.text() | st.builds(
    lambda a, b, c: a + b + c, st.text(max_size=5), st.sampled_from(TRICKY), st.text(max_size=5)
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | texts,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(texts, children, max_size=4),
    max_leaves=20,
)
payloads = st.dictionaries(texts, json_values, max_size=6)


@given(payload=payloads, batch=st.dictionaries(texts, json_values, max_size=3))
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_any_payload_round_trips_exactly_without_a_registered_key(
    payload: dict[str, Any], batch: dict[str, Any]
) -> None:
    with secrets_registered(), tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "j.sqlite3"
        journal = Journal(path)
        intent = journal.record_intent(payload, URL)
        (pending,) = journal.uncertain_submits()
        assert pending["request"] == payload
        journal.record_submitted(intent, task(), payload, URL)
        journal.record_batch(TASK_ID, batch)
        (entry,) = journal.entries()
        assert entry.request == payload and journal.batches() == {TASK_ID: batch}
        journal.close()
        db = sqlite3.connect(path)
        assert db.execute("SELECT request FROM tasks").fetchone() == (json.dumps(payload),)
        db.close()


keys = st.text(alphabet=string.ascii_letters + string.digits + "-_", min_size=16, max_size=48)


@given(
    key=keys, payload=payloads, where=st.sampled_from(["value", "dict key", "nested", "base url"]), locked=st.booleans()
)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_a_registered_key_never_reaches_the_disk(key: str, payload: dict[str, Any], where: str, locked: bool) -> None:
    with secrets_registered(key), tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "j.sqlite3"
        journal = Journal(path)
        base_url = URL
        if where == "value":
            payload = {**payload, "prompt": f"a fox {key} in snow"}
        elif where == "dict key":
            payload = {**payload, key: 1}
        elif where == "nested":
            payload = {**payload, "multi_prompt": [{"prompt": f"x{key}"}]}
        else:
            base_url = f"https://api.example/{key}/"
        holder = sqlite3.connect(path, isolation_level=None)
        if locked:  # the spool path too
            holder.execute("BEGIN EXCLUSIVE")
        intent = journal.record_intent(payload, base_url)
        journal.record_uncertain(intent, SubmitUncertainError(f"echoed {key}"))
        journal.record_submitted(None, task(), payload, base_url)
        journal.update(task("failed", error={"code": "bad", "message": f"key {key} refused"}))
        journal.record_voice("voice-1", f"name {key}", f"https://e.com/{key}.wav", base_url)
        journal.record_batch(TASK_ID, {"label": key})
        stored = b"".join(p.read_bytes() for p in Path(folder).iterdir() if p.is_file())
        assert key.encode() not in stored
        if locked:
            holder.execute("ROLLBACK")
        holder.close()
        journal.close()
        stored = b"".join(p.read_bytes() for p in Path(folder).iterdir() if p.is_file())
        assert key.encode() not in stored


def test_damaged_rows_are_skipped_with_one_warning(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite3"
    journal = Journal(path)
    journal.record_submitted(journal.record_intent(PAYLOAD, URL), task(usage={"credits_reserved": 4}), PAYLOAD, URL)
    journal.record_voice("voice-1", "Narrator", "https://e.com/n.wav", URL)
    journal.record_batch(TASK_ID, {"id": "b", "index": 0, "count": 1})
    db = sqlite3.connect(path, isolation_level=None)  # a hand-edited or half-written journal
    rows = {
        "tasks (task_id, base_url, request, created, status, progress, credits, updated)": [
            ("bad-json", URL, '{"prompt": "cut off', 1, "pending", 0, None, 1),
            ("bad-types", URL, "[1, 2]", "yesterday", 7, "half", "lots", "x"),
            ("null-json", URL, "null", 2, "pending", 0, None, 2),
            (None, URL, "{}", 3, "pending", 0, 9, 3),
            ("bad-credits", URL, json.dumps(PAYLOAD), 4, "failed", 0, "many", 4),
        ],
        "intents (id, created, base_url, request, state)": [
            (7, "later", URL, "{oops", "sending"),
            (8, 5, URL, "not json", "uncertain"),
        ],
        "voices (voice_id, name, source_url, base_url, created)": [
            (None, 5, 6, URL, "soon"),
            ("v2", b"\x00", None, URL, 1),
        ],
        "batches (task_id, batch)": [("t1", "{broken"), (None, "{}"), ("t2", "[]")],
        "voice_names (task_id, name)": [("t3", 5)],
    }
    for table, values in rows.items():
        marks = ", ".join("?" * len(values[0]))
        db.executemany(f"INSERT INTO {table} VALUES ({marks})", values)  # noqa: S608 - the test's own names
    db.close()
    with pytest.warns(JournalWarning) as caught:
        assert [e.task_id for e in journal.entries()] == [TASK_ID]
        assert [e.task_id for e in journal.unfinished()] == [TASK_ID]
        assert journal.uncertain_submits() == []
        assert [v["voice_id"] for v in journal.voices()] == ["voice-1"]
        assert journal.batches() == {TASK_ID: {"id": "b", "index": 0, "count": 1}}
        assert journal.credit_estimate(PAYLOAD) == 4 and journal.credits_total() == 4
        assert journal.voice_name("t3") == "5"
        assert journal.typical_duration(PAYLOAD) is None
    assert len([w for w in caught if "damaged row" in str(w.message)]) == 1  # warned once, not per row


def test_a_poll_for_a_task_without_a_row_creates_it_and_the_submit_fills_it_in(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.sqlite3")
    journal.update(task("processing", progress=30, usage={"credits_reserved": 3}))
    (entry,) = journal.entries()
    assert (entry.task_id, entry.status, entry.progress, entry.base_url, entry.request) == (
        TASK_ID,
        "processing",
        30,
        "",
        {},
    )
    journal.record_submitted(None, task(), PAYLOAD, URL)  # arrives later (merged from a spool)
    (entry,) = journal.entries(base_url=URL)
    assert (entry.status, entry.progress, entry.request, entry.credits_reserved) == ("processing", 30, PAYLOAD, 3)
    journal.record_download("task-unified-1-bbbbbbbb", tmp_path / "b.mp4")  # also creates its row
    assert {e.task_id for e in journal.entries()} == {TASK_ID, "task-unified-1-bbbbbbbb"}


OLD_SCHEMA = """
CREATE TABLE intents (id INTEGER PRIMARY KEY AUTOINCREMENT, created REAL NOT NULL, base_url TEXT NOT NULL,
    request TEXT NOT NULL, state TEXT NOT NULL DEFAULT 'sending', task_id TEXT, error TEXT);
CREATE TABLE tasks (task_id TEXT PRIMARY KEY, base_url TEXT NOT NULL, request TEXT NOT NULL, created REAL NOT NULL,
    status TEXT NOT NULL, progress REAL NOT NULL DEFAULT 0, credits REAL, video_url TEXT,
    local_path TEXT, error TEXT, updated REAL NOT NULL);
CREATE TABLE voices (voice_id TEXT PRIMARY KEY, name TEXT, source_url TEXT, base_url TEXT NOT NULL,
    created REAL NOT NULL);
CREATE TABLE batches (task_id TEXT PRIMARY KEY, batch TEXT NOT NULL);
CREATE TABLE voice_names (task_id TEXT PRIMARY KEY, name TEXT NOT NULL);
"""


def test_typical_duration_from_an_existing_journal(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite3"
    old = sqlite3.connect(path)  # a journal written by the previous version: no completed_at column
    old.executescript(OLD_SCHEMA)
    old.execute(
        "INSERT INTO tasks VALUES ('task-old', ?, ?, 1, 'completed', 100, 5, 'https://cdn/o', NULL, NULL, 2)",
        (URL, json.dumps(PAYLOAD)),
    )
    old.commit()
    old.close()
    journal = Journal(path)
    assert journal.typical_duration(PAYLOAD) is None  # the old row has no completion time
    assert [e.completed_at for e in journal.entries()] == [None]
    now = int(time.time())
    for n, (ago, payload) in enumerate(
        [(1000, PAYLOAD), (2000, PAYLOAD), (3000, PAYLOAD), (50, {**PAYLOAD, "resolution": "4k"})]
    ):
        t = Task.from_json({"id": f"task-unified-1-{n:08d}", "status": "pending", "created": now - ago})
        journal.record_submitted(None, t, payload, URL)
        journal.update(Task.from_json({"id": t.id, "status": "completed", "created": now - ago}))  # no URL yet
        journal.update(Task.from_json({"id": t.id, "status": "completed", "results": [{"url": "https://cdn/v"}]}))
    still_running = Task.from_json({"id": "task-unified-1-running", "status": "processing", "created": now - 9999})
    journal.record_submitted(None, still_running, PAYLOAD, URL)
    typical = journal.typical_duration(PAYLOAD, base_url=URL)
    assert typical is not None and 2000 <= typical < 2000 + 600  # the median of ~1000, ~2000, ~3000
    four_k = journal.typical_duration({**PAYLOAD, "resolution": "4k"})
    assert four_k is not None and 50 <= four_k < 650
    assert journal.typical_duration({**PAYLOAD, "duration": 10}) is None
