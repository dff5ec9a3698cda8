"""The widget's side of this wave's wire changes, over the emulator on loopback (no kernel).

Stable card ids, resume, posters sent once, progress deltas, the card cap, direct play while
downloading, download names and clear-finished (docs/widget-protocol.md). Waits are bounded
polls, never timing assertions.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from waits import until
from widget_messages import message, recording_widget

from foxkling_widgets import KlingWidget, Task, TaskStatus, VideoRequest
from foxkling_widgets._controller import Generation
from foxkling_widgets._fallback import FallbackOutputs
from foxkling_widgets.emulator import EmulatorServer

pytestmark = pytest.mark.timeout(120)
HANG_GUARD = 60.0


@pytest.fixture
def widget(emulator: EmulatorServer) -> Iterator[KlingWidget]:
    with recording_widget("sk-widget-wire-test-key", emulator.url) as w:
        yield w


def card_of(w: KlingWidget, key: str) -> dict[str, Any] | None:
    return next((c for c in w._tasks if c["id"] == key), None)


# -- 1. one stable key ------------------------------------------------------------------------
def test_the_id_generate_gives_works_for_every_call_afterwards(widget: KlingWidget) -> None:
    widget.prompt, widget.resolution = "A red fox runs through the snow", "1080p"
    key = widget.generate_nowait()  # before its POST is answered: the key is made with the generation
    assert re.fullmatch(r"gen-[0-9a-f]{10}", key)
    generation = widget.wait(key, timeout=HANG_GUARD)
    task_id = generation.task_id
    assert task_id is not None and task_id.startswith("task-") and generation.key == key
    assert widget.wait(task_id) is generation  # the provider's id names it too
    widget._settle()
    card = card_of(widget, key)
    assert card is not None and card["task_id"] == task_id and card["playable"] is True
    assert widget.video(key).path == widget.video(task_id).path == generation.path
    widget.prompt = ""
    assert widget.load(key) and widget.prompt == "A red fox runs through the snow"
    assert widget.load(task_id) and widget.resolution == "1080p"
    reply = message(widget, kind="video-request", task_id=key)
    assert reply["ok"] and reply["task_id"] == key and reply["total"] == generation.path.stat().st_size
    message(widget, kind="video-cancel", transfer="w1")
    # The download name a person recognises (prompt words, tier, date, short id).
    name = card["video"]["name"]
    assert re.fullmatch(r"a-red-fox-runs-through-the-1080p-\d{4}-\d{2}-\d{2}-[a-z0-9]{6}\.mp4", name), name
    assert reply["name"] == name and name.removesuffix(".mp4").endswith(re.sub(r"[^a-z0-9]", "", task_id)[-6:])


def test_stop_and_resume_by_the_first_id_after_the_submit_was_answered(
    widget: KlingWidget, emulator: EmulatorServer, slow: Callable[[float], None]
) -> None:
    slow(60)
    widget.prompt = "a slow fox"
    key = widget.generate_nowait()
    generation = widget._find(key)
    assert generation is not None
    until(lambda: generation.task_id is not None, "the submit was answered")
    posts = emulator.emulator.stats["posts"]
    assert widget.stop_watching(key)
    until(lambda: not generation.watching, "watching stopped")
    widget._settle()
    card = card_of(widget, key)
    assert card is not None and card["status"] == "stopped" and card["resumable"] is True
    assert isinstance(card["stopped_at"], float) and card["task_id"] == generation.task_id
    assert message(widget, kind="load-task", task_id=key)["ok"]

    slow(0.5)  # the provider finishes it meanwhile; resuming follows it to its video
    assert message(widget, kind="resume", task_id=key) == {"id": "w1", "kind": "resume-response", "ok": True}
    done = widget.wait(key, timeout=HANG_GUARD)
    assert done is generation and done.status == "completed" and done.done and done.path is not None
    assert emulator.emulator.stats["posts"] == posts  # nothing was submitted again
    widget._settle()
    card = card_of(widget, key)
    assert card is not None and card["resumable"] is False and card["stopped_at"] is None and card["video"]
    again = message(widget, kind="resume", task_id=key)
    assert again["ok"] is False and "completed" in again["error"]
    assert message(widget, kind="resume", task_id="gen-nope")["ok"] is False


# -- 3. posters once ----------------------------------------------------------------------------
def test_each_poster_is_saved_once(widget: KlingWidget) -> None:
    batch = widget.generate_batch([{"prompt": "a fox"}, {"prompt": "an owl", "aspect_ratio": "9:16"}])
    generations = batch.wait(timeout=HANG_GUARD)
    posters = [g.poster.removeprefix("data:image/jpeg;base64,") for g in generations]
    assert all(len(p) > 100 for p in posters) and len(set(posters)) == 2
    # What a saved notebook keeps: the widget state (as nbclient stores it) and the output bundle.
    widget._settle()
    state = json.dumps(widget.get_state())
    data, _metadata = widget._repr_mimebundle_()
    saved = state + json.dumps(data) + FallbackOutputs.wrap(widget._fallback_html())
    for poster in posters:
        assert saved.count(poster) == 1
    assert set(widget._posters) == {g.key for g in generations}
    assert all(card["poster"] == "" for card in widget._tasks)
    fallback = widget._fallback_html()
    assert "<img" not in fallback and "show when the notebook runs with its kernel" in fallback


# -- 4. progress deltas ---------------------------------------------------------------------------
def test_progress_ticks_go_to_the_views_as_cards_progress(widget: KlingWidget, slow: Callable[[float], None]) -> None:
    slow(3)
    widget.prompt = "a ticking fox"
    key = widget.generate_nowait()
    generation = widget.wait(key, timeout=HANG_GUARD)
    assert generation.done
    deltas = [c for c, _b in widget.sent if c.get("kind") == "cards-progress"]  # type: ignore[attr-defined]
    # How many ticks land in a delta depends on the polling pace: when some do, they have the
    # documented shape, name the card by its key, carry no request id, and only move forwards.
    entries = [entry for d in deltas for entry in d["cards"]]
    assert all(set(d) == {"kind", "cards"} for d in deltas)
    assert all(set(e) == {"id", "progress", "status_text"} and e["id"] == key for e in entries)
    progress = [e["progress"] for e in entries]
    assert progress == sorted(progress)
    widget._settle()
    assert widget._tasks[0]["progress"] == 100 and widget._tasks[0]["status"] == "completed"


# -- 5. the cap -----------------------------------------------------------------------------------
def test_the_tasks_trait_holds_the_newest_fifty(widget: KlingWidget) -> None:
    for i in range(55):
        widget._controller.add_finished(
            Generation(VideoRequest(prompt=f"clip {i}"), id=f"task-old-{i}", status="failed", watching=False)
        )
    until(lambda: widget._tasks_total == 55, "all counted")
    assert len(widget._tasks) == 50 and widget._tasks[0]["id"] == "task-old-54" and len(widget.tasks) == 55


# -- 6. direct play while downloading -----------------------------------------------------------
def test_a_live_task_plays_from_its_url_while_the_kernel_downloads(widget: KlingWidget) -> None:
    url = "https://cdn.example.com/results/task-live.mp4"
    task = Task(
        id="task-live",
        status=TaskStatus.COMPLETED,
        status_text="succeeded",
        progress=100.0,
        created=int(time.time()),
        video_url=url,
    )
    generation = Generation(VideoRequest(prompt="a live fox"), id="task-live", task=task, status="downloading")
    widget._controller.add_finished(generation)
    assert generation.to_card("live")["playable"] is True
    assert generation.to_card("emulator")["playable"] is False  # loopback URLs: never direct
    widget._mode = "live"
    reply = message(widget, kind="video-request", task_id="task-live", direct=True)
    assert reply["ok"] and reply["url"] == url and reply["name"].endswith(".mp4")
    refused = message(widget, kind="video-request", task_id="task-live", direct=False)
    assert refused["ok"] is False  # no file yet: only the provider URL can play it now


# -- 8. clear finished --------------------------------------------------------------------------
def test_clear_finished_keeps_running_cards_and_the_spent_credits(
    widget: KlingWidget, slow: Callable[[float], None]
) -> None:
    widget.prompt = "a finished fox"
    finished = widget.wait(widget.generate_nowait(), timeout=HANG_GUARD)
    widget.prompt = "a refused fox [fail:content_policy]"
    refused = widget.wait(widget.generate_nowait(), timeout=HANG_GUARD)
    assert finished.done and refused.status == "failed"
    slow(60)
    widget.prompt = "a running fox"
    running_key = widget.generate_nowait()
    widget._settle()
    spent = widget._credits["session"]
    assert spent > 0 and finished.key in widget._posters
    reply = message(widget, kind="clear-finished")
    assert reply == {"id": "w1", "kind": "clear-finished-response", "ok": True, "cleared": 2}
    assert [g.key for g in widget.tasks] == [running_key]
    widget._settle()
    assert [c["id"] for c in widget._tasks] == [running_key] and widget._posters == {}
    assert widget._credits["session"] >= spent  # cleared cards' credits were still spent
    assert widget.clear_finished() == 0  # the running one stays (the fixture's close stops watching it)
