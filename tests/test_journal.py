"""The task journal: recorded before submit returns, safe with two writers, never a reason to fail."""

from __future__ import annotations

import multiprocessing
import os
import sqlite3
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from foxkling_widgets import AsyncFoxClient, FoxClient, KlingWidget, SubmitUncertainError, Task, VideoRequest, _secrets
from foxkling_widgets._journal import Journal, JournalEntry, JournalWarning
from foxkling_widgets.emulator import EmulatorConfig, EmulatorServer, create_app

pytestmark = pytest.mark.timeout(120)
PAYLOAD = {"model": "kling-v3-text-to-video", "prompt": "a fox"}


def get(journal: Journal, task_id: str) -> JournalEntry | None:
    """One recorded task by id, through the public reads."""
    return next((e for e in journal.entries(limit=100_000) if e.task_id == task_id), None)


def task(status: str = "pending", **extra: Any) -> Task:
    return Task.from_json({"id": "task-unified-1-aaaaaaaa", "status": status, "created": int(time.time()), **extra})


def test_round_trip(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.sqlite3")
    intent = journal.record_intent(PAYLOAD, "https://api.foxapi.cc")
    assert [i["state"] for i in journal.uncertain_submits()] == ["sending"]  # a crash here stays visible
    journal.record_submitted(intent, task(usage={"credits_reserved": 5}), PAYLOAD, "https://api.foxapi.cc")
    assert journal.uncertain_submits() == []
    journal.update(task("processing", progress=40))
    journal.update(task("completed", progress=50, results=None))  # the race: not finished yet
    assert get(journal, "task-unified-1-aaaaaaaa").status == "processing"  # type: ignore[union-attr]
    journal.update(task("completed", progress=100, results=[{"url": "https://cdn/v.mp4"}]))
    journal.update(task("processing", progress=10))  # a late, older snapshot never downgrades
    entry = get(journal, "task-unified-1-aaaaaaaa")
    assert entry is not None and entry.status == "completed" and entry.progress == 100
    assert entry.video_url == "https://cdn/v.mp4" and entry.credits_reserved == 5
    assert journal.unfinished() == [entry]  # completed but not downloaded: still to resume
    video = tmp_path / "v.mp4"
    video.write_bytes(b"x")
    journal.record_download(entry.task_id, video)
    assert journal.unfinished() == [] and journal.credits_total() == 5
    assert VideoRequest.from_payload(entry.request) == VideoRequest(prompt="a fox")


def test_uncertain_and_rejected_submits(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.sqlite3")
    journal.record_uncertain(journal.record_intent(PAYLOAD, "u"), SubmitUncertainError("timed out"))
    journal.record_rejected(journal.record_intent(PAYLOAD, "u"))
    (only,) = journal.uncertain_submits()
    assert only["state"] == "uncertain" and "timed out" in only["error"]


def test_voices_are_remembered(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.sqlite3")
    journal.record_voice("voice-1", "Narrator", "https://e.com/n.wav", "u")
    assert Journal(tmp_path / "j.sqlite3").voices()[0]["name"] == "Narrator"


def test_the_key_is_never_stored(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "j.sqlite3"
    journal = Journal(path)
    secret = "sk-secret1234567890abcdef"
    # Keys are masked by value: the client registers its key; this test does so by hand.
    monkeypatch.setattr(_secrets, "_secrets", set())
    monkeypatch.setattr(_secrets, "_grams", {})
    _secrets.register_secret(secret)
    intent = journal.record_intent({**PAYLOAD, "prompt": f"leak {secret}"}, "https://api.foxapi.cc")
    journal.record_uncertain(intent, SubmitUncertainError(f"Bearer {secret}"))
    journal.close()
    data = b"".join(p.read_bytes() for p in tmp_path.iterdir())
    assert secret.encode() not in data and b"1234567890abcdef" not in data


def test_a_corrupt_journal_is_set_aside(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite3"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.warns(JournalWarning):
        journal = Journal(path)
    journal.record_submitted(None, task(), PAYLOAD, "u")
    assert get(journal, "task-unified-1-aaaaaaaa") is not None
    assert list(tmp_path.glob("j.sqlite3.corrupt-*"))


def test_an_unwritable_location_falls_back_to_memory(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.warns(JournalWarning):
        journal = Journal(blocker / "sub" / "j.sqlite3")
        journal.record_submitted(None, task(), PAYLOAD, "u")  # neither database nor spool: kept in memory
    assert get(journal, "task-unified-1-aaaaaaaa") is not None


def _writer(path: str, prefix: str) -> None:
    journal = Journal(path)
    for n in range(100):
        t = Task.from_json({"id": f"task-unified-1-{prefix}{n:07d}", "status": "pending"})
        journal.record_submitted(journal.record_intent(PAYLOAD, "u"), t, PAYLOAD, "u")
        journal.update(t)


def test_two_processes_write_at_once(tmp_path: Path) -> None:
    path = str(tmp_path / "j.sqlite3")
    Journal(path).close()
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_writer, args=(path, p)) for p in "ab"]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
        assert worker.exitcode == 0
    count = sqlite3.connect(path).execute("SELECT COUNT(*) FROM tasks").fetchone()[0]
    assert count == 200


async def test_the_client_records_before_submit_returns(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.sqlite3")
    app = create_app(EmulatorConfig(seconds_per_video=0, render=False))
    async with AsyncFoxClient(
        "sk-x-journal-test", "http://e", transport=httpx.ASGITransport(app), journal=journal
    ) as client:
        submitted = await client.submit(VideoRequest(prompt="a fox"))
        assert get(journal, submitted.id) is not None
        app.state.emulator.inject("server_error_post_after_create")
        with pytest.raises(SubmitUncertainError):
            await client.submit(VideoRequest(prompt="another fox"))
        assert [i["state"] for i in journal.uncertain_submits()] == ["uncertain"]
        assert [e.task_id for e in client.history()] == [submitted.id]
    app.state.emulator.close()


def test_default_journal_lives_in_the_data_dir() -> None:
    with FoxClient("sk-x-journal-test", "https://api.example") as client:
        assert isinstance(client.journal, Journal)
        assert Path(client.journal.path).parent == Path(os.environ["FOXKLING_DATA_DIR"])


def test_a_new_widget_finishes_what_the_last_one_started(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.sqlite3")
    with EmulatorServer(EmulatorConfig(seconds_per_video=1)) as server:
        with FoxClient("sk-x-journal-test", server.url, journal=journal) as first:
            started = first.submit(VideoRequest(prompt="paid for"))
        # "Restart": a new client and widget on the same journal, nothing else in common.
        with FoxClient("sk-x-journal-test", server.url, journal=journal) as second:
            widget = KlingWidget(client=second)
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and not (widget.tasks and widget.tasks[0].done):
                time.sleep(0.05)
            generation = widget.tasks[0]
            assert generation.id == started.id and generation.done and generation.path.exists()
            assert server.emulator.stats["posts"] == 1
            widget.close()
            # A third session shows the finished video from its local file, with no request at all.
            gets = server.emulator.stats["gets"]
            third = KlingWidget(client=second)
            assert third.tasks[0].done and third.tasks[0].poster and server.emulator.stats["gets"] == gets
            third.close()


def test_credit_estimate_comes_from_the_same_tier(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.sqlite3")
    assert journal.credit_estimate(PAYLOAD) is None
    for n, (credits, payload) in enumerate(
        [
            (5, PAYLOAD),
            (7, PAYLOAD),
            (6, PAYLOAD),
            (30, {**PAYLOAD, "resolution": "4k"}),
            (99, {**PAYLOAD, "duration": 10}),
        ]
    ):
        t = Task.from_json(
            {"id": f"task-unified-1-{n:08d}", "status": "pending", "usage": {"credits_reserved": credits}}
        )
        journal.record_submitted(None, t, payload, "u")
    assert journal.credit_estimate(PAYLOAD) == 6  # the median of 5, 6, 7: other tiers ignored
    assert journal.credit_estimate({**PAYLOAD, "resolution": "4k", "generate_audio": True}) is None
    assert journal.credits_total() == 147


def test_a_done_voice_is_not_unfinished_and_resume_remembers_an_open_one(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.sqlite3")
    voice_payload = {"model": "kling-video-create-voice", "voice_url": "https://example.com/ann.mp3"}
    intent = journal.record_intent(voice_payload, "https://api.foxapi.cc")
    journal.record_submitted(intent, task(), voice_payload, "https://api.foxapi.cc")
    assert [e.task_id for e in journal.unfinished()] == ["task-unified-1-aaaaaaaa"]
    journal.update(task("completed", progress=100, results=[{"voice_id": "voice-1"}]))
    assert journal.unfinished() == []  # a voice has no video to download: done is done

    # Over loopback: a voice submitted but never followed (the kernel died) is finished by resume().
    with (
        EmulatorServer(EmulatorConfig(seconds_per_video=0.3)) as server,
        FoxClient("sk-journal-voice", server.url, journal=journal) as client,
    ):
        submitted = client._runner.run(client.aio.submit_voice("https://example.com/voices/bert.ogg", name="Bert"))
        done = client.resume()
        assert [t.id for t in done] == [submitted.id]
        voices = [(v["source_url"], v["name"]) for v in client.voices()]
        assert voices == [("https://example.com/voices/bert.ogg", "Bert")]  # the name given at submit
