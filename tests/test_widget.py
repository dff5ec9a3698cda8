"""The widget's model and controller in-process (no kernel): traits, validation, messages, display."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading
import time
from typing import Any

import pytest

from foxkling_widgets import FoxClient, InvalidRequestError, KlingWidget, TaskStatus
from foxkling_widgets._controller import request_code
from foxkling_widgets.emulator import EmulatorConfig, EmulatorServer

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def server() -> Any:
    with EmulatorServer(EmulatorConfig(seconds_per_video=0.5)) as running:
        yield running


@pytest.fixture
def widget(server: EmulatorServer) -> Any:
    client = FoxClient("sk-widget-test-key", server.url)
    w = KlingWidget(client=client)
    sent: list[tuple[dict[str, Any], Any]] = []
    w.send = lambda content, buffers=None: sent.append((content, buffers))  # type: ignore[method-assign]
    w.sent = sent
    yield w
    w.close()
    client.close()


def message(w: KlingWidget, **content: Any) -> dict[str, Any]:
    w._on_custom_message(w, {"id": "m1", **content}, [])
    return w.sent[-1][0]  # type: ignore[no-any-return, attr-defined]


def test_default_is_the_emulator_without_a_key() -> None:
    w = KlingWidget()
    assert w._mode == "emulator" and w.client.mode == "emulator"
    state = w.get_state()
    assert not any("sk-emulator" in str(v) for v in state.values())
    w.close()


def test_problems_follow_the_controls(widget: KlingWidget) -> None:
    assert [p["field"] for p in widget._problems] == ["prompt"]
    widget.prompt = "a fox"
    assert widget._problems == []
    widget.duration = 10
    widget.segments = [{"prompt": "a", "duration": 6}, {"prompt": "b", "duration": 3}]
    assert widget._problems == []  # segments only count in multi-shot mode
    widget.multishot = True
    assert [p["field"] for p in widget._problems] == ["multi_prompt"]
    widget.resolution = "4k"
    assert {(p["field"], p["level"]) for p in widget._problems} >= {("resolution", "warning")}


def test_generate_with_errors_sends_nothing(widget: KlingWidget, server: EmulatorServer) -> None:
    posts = server.emulator.stats["posts"]
    reply = message(widget, kind="generate")
    assert reply == {"id": "m1", "kind": "generate-response", "ok": False, "error": reply["error"], "field": "prompt"}
    with pytest.raises(InvalidRequestError):
        asyncio.run(widget.generate())
    assert server.emulator.stats["posts"] == posts and widget.tasks == []


def _wait_done(widget: KlingWidget, timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if widget.tasks and not widget.tasks[0].watching:
            return widget.tasks[0]
        time.sleep(0.05)
    raise AssertionError("generation did not finish")


def test_generate_streams_cards_and_sends_video_bytes(widget: KlingWidget, server: EmulatorServer) -> None:
    widget.prompt = "a red fox"
    widget.aspect_ratio = "9:16"
    reply = message(widget, kind="generate")
    assert reply["ok"] and reply["task_id"].startswith("local-")
    generation = _wait_done(widget)
    assert generation.status == "completed" and generation.path.exists()
    time.sleep(0.3)  # the coalesced publish
    card = widget._tasks[0]
    assert card["status"] == "completed" and card["progress"] == 100 and card["video"]["name"].endswith(".mp4")
    assert card["poster"].startswith("data:image/jpeg;base64,") and len(card["poster"]) < 40_000
    assert "VideoRequest(" in card["code"] and card["credits_reserved"]
    reply = message(widget, kind="video-request", task_id=generation.id)
    content, buffers = widget.sent[-1]  # type: ignore[attr-defined]
    assert content["ok"] and content["kind"] == "video-response" and buffers[0][4:8] == b"ftyp"
    assert widget.video(generation.id)._repr_html_().startswith("<figure")
    html = widget._repr_mimebundle_()[0]["text/html"]
    assert generation.id in html and "data:image/jpeg" in html


def test_await_generate_returns_the_finished_task(widget: KlingWidget) -> None:
    widget.prompt = "a lighthouse"

    async def run() -> Any:
        return await widget.generate()

    task = asyncio.run(run())
    assert task.status is TaskStatus.COMPLETED and widget.tasks[0].done


def test_failures_land_on_the_card(widget: KlingWidget) -> None:
    widget.prompt = "a fox [fail:content_policy]"
    message(widget, kind="generate")
    generation = _wait_done(widget)
    assert generation.status == "failed" and generation.error["code"] == "content_policy_violation"


def test_stop_watching_explains_billing(widget: KlingWidget, server: EmulatorServer) -> None:
    server.emulator.config.seconds_per_video = 30
    try:
        widget.prompt = "a slow fox"
        message(widget, kind="generate")
        deadline = time.monotonic() + 20
        while not widget.tasks[0].id.startswith("task-") and time.monotonic() < deadline:
            time.sleep(0.05)
        reply = message(widget, kind="stop-watching", task_id=widget.tasks[0].id)
        assert reply["ok"]
        generation = _wait_done(widget)
        assert generation.status == "stopped" and "no cancel endpoint" in generation.note
    finally:
        server.emulator.config.seconds_per_video = 0.5


def test_key_entry_keeps_the_key_in_kernel_memory(widget: KlingWidget) -> None:
    reply = message(widget, kind="set-key", key="sk-typed-in-widget-999")
    assert reply["ok"] and widget._mode == "live" and widget._has_key
    assert "sk-typed-in-widget-999" not in str(widget.get_state())
    assert "sk-typed-in-widget-999" not in repr(widget.client)
    message(widget, kind="clear-key")
    assert not widget._has_key


def test_load_task_restores_controls(widget: KlingWidget) -> None:
    widget.prompt, widget.duration, widget.multishot = "x", 10, True
    widget.segments = [{"prompt": "a", "duration": 6}, {"prompt": "b", "duration": 4}]
    asyncio.run(widget.generate())
    widget.prompt, widget.multishot, widget.segments = "", False, []
    assert message(widget, kind="load-task", task_id=widget.tasks[0].id)["ok"]
    assert widget.multishot and [s["duration"] for s in widget.segments] == [6, 4] and widget.prompt == "x"


def test_fallback_html_escapes_everything(widget: KlingWidget) -> None:
    widget.prompt = "<script>alert(1)</script> [fail:generation]"
    message(widget, kind="generate")
    _wait_done(widget)
    html = widget._fallback_html()
    assert "<script>" not in html and "&lt;script&gt;" in html


def test_request_code_round_trips() -> None:
    from foxkling_widgets import Segment, VideoRequest

    request = VideoRequest(prompt="it's", duration=10, segments=[Segment("a", 6), Segment("b", 4)], generate_audio=True)
    namespace: dict[str, Any] = {}
    code = request_code(request).split("with FoxClient()")[0]
    exec(code, namespace)  # noqa: S102 - our own generated snippet
    assert namespace["request"] == request


def test_magic_parses_and_rejects_bad_input(capsys: pytest.CaptureFixture[str]) -> None:
    from foxkling_widgets._magic import kling, parse

    request, emulator = parse(
        '--aspect 9:16 --duration 10 --audio --segment "wide:6" --segment "close:4" --emulator', " a fox \n"
    )
    assert request.prompt == "a fox" and request.aspect_ratio == "9:16" and emulator
    assert [s.duration for s in request.shots] == [6, 4]
    assert kling("--duration 7", "a fox") is None
    assert kling("--segment nocolon", "a fox") is None


def test_credits_show_an_estimate_and_totals(widget: KlingWidget) -> None:
    widget.prompt = "a fox"
    before = dict(widget._credits)
    asyncio.run(widget.generate())
    time.sleep(0.1)
    after = widget._credits
    assert after["session"] > before.get("session", 0)
    assert after["estimate"] is not None and after["journal"] >= after["session"]
    widget.resolution = "4k"
    assert widget._credits["estimate"] is None or widget._credits["estimate"] > 0


def test_grid_mode_starts_one_batch_and_runs_it_under_the_concurrency_limit(
    widget: KlingWidget, server: EmulatorServer
) -> None:
    widget.prompt, widget.vary, widget.concurrency = "a fox", "aspect_ratio", 1
    assert widget._variations == ["16:9", "9:16", "1:1"] and widget._problems == []
    posts = server.emulator.stats["posts"]
    reply = message(widget, kind="generate")
    assert reply["ok"] and reply["task_id"].startswith("batch-")
    time.sleep(0.3)
    statuses = [g.status for g in widget.tasks]
    assert statuses.count("queued") >= 1  # one runs, the others wait
    deadline = time.monotonic() + 60
    while any(g.watching for g in widget.tasks) and time.monotonic() < deadline:
        time.sleep(0.1)
    members = sorted(widget.tasks, key=lambda g: g.batch["index"] if g.batch else -1)
    assert [g.batch["label"] for g in members if g.batch] == ["16:9", "9:16", "1:1"]
    assert all(g.done for g in members) and server.emulator.stats["posts"] == posts + 3
    card = members[0].to_card()
    assert card["batch"]["id"] == reply["task_id"] and card["batch"]["count"] == 3


def test_grid_mode_problems_send_nothing(widget: KlingWidget, server: EmulatorServer) -> None:
    widget.vary, widget.prompt = "prompts", "just one line"
    assert widget._problems[0]["message"].startswith("Put one prompt per line")
    posts = server.emulator.stats["posts"]
    assert message(widget, kind="generate")["ok"] is False
    widget.prompt = "a fox\nan owl"
    assert widget._variations == ["a fox", "an owl"] and widget._problems == []
    assert server.emulator.stats["posts"] == posts


def test_generate_batch_validates_all_first_and_returns_a_waitable_batch(
    widget: KlingWidget, server: EmulatorServer
) -> None:
    posts = server.emulator.stats["posts"]
    with pytest.raises(InvalidRequestError) as caught:
        widget.generate_batch([{"prompt": "fine"}, {"prompt": ""}])
    assert caught.value.field == "requests[1].prompt" and server.emulator.stats["posts"] == posts
    batch = widget.generate_batch([{"prompt": "a fox", "duration": 5}, {"prompt": "a fox", "duration": 10}])
    done = batch.wait(timeout=60)
    assert [g.batch["label"] for g in done if g.batch] == ["5 s", "10 s"] and all(g.done for g in done)
    assert "batch-" in repr(batch) and server.emulator.stats["posts"] == posts + 2
    assert asyncio.run(_await(batch)) == done


async def _await(batch: Any) -> Any:
    return await batch


def _two_at_one_a_time(widget: KlingWidget) -> tuple[Any, Any]:
    """A batch of two run one at a time, returned once its second clip waits as queued."""
    widget.concurrency = 1
    batch = widget.generate_batch([{"prompt": "first"}, {"prompt": "second"}])
    queued = batch.generations[1]
    deadline = time.monotonic() + 10
    while queued.status != "queued" and time.monotonic() < deadline:
        time.sleep(0.02)
    return batch, queued


def test_a_queued_item_taken_out_costs_nothing(widget: KlingWidget, server: EmulatorServer) -> None:
    posts = server.emulator.stats["posts"]
    batch, queued = _two_at_one_a_time(widget)
    assert widget.stop_watching(queued.id)
    batch.wait(timeout=60)
    assert queued.status == "stopped" and "nothing was billed" in queued.note
    assert server.emulator.stats["posts"] == posts + 1


def test_stopping_a_queued_item_cannot_overtake_its_submit(widget: KlingWidget, server: EmulatorServer) -> None:
    # The check and the cancel happen on the controller's loop, in order with the loop's own
    # work: if the slot frees up (and the POST is about to start) first, the stop is refused.
    posts = server.emulator.stats["posts"]
    batch, queued = _two_at_one_a_time(widget)
    loop, gate = widget._controller.runner.loop, threading.Event()
    loop.call_soon_threadsafe(gate.wait, 10)  # hold the loop so the next two steps queue up behind it
    loop.call_soon_threadsafe(setattr, queued, "sending", True)  # what taking a slot and posting do first
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        stopped = pool.submit(widget.stop_watching, queued.id)
        gate.set()
        assert stopped.result(timeout=10) is False and queued.watching
    assert all(g.done for g in batch.wait(timeout=60)) and server.emulator.stats["posts"] == posts + 2


def test_a_batch_with_an_unknown_field_is_a_value_error(widget: KlingWidget, server: EmulatorServer) -> None:
    posts = server.emulator.stats["posts"]
    with pytest.raises(InvalidRequestError) as caught:
        widget.generate_batch([{"prompt": "a fox"}, {"prompt": "a fox", "fps": 60}])
    assert isinstance(caught.value, ValueError) and "requests[1]" in str(caught.value)
    assert server.emulator.stats["posts"] == posts


def test_a_batch_without_a_key_asks_for_one() -> None:
    from foxkling_widgets import AsyncFoxClient

    w = KlingWidget(client=AsyncFoxClient(mode="none"))
    with pytest.raises(InvalidRequestError, match="api_key"):
        w.generate_batch([{"prompt": "a fox"}])
    assert w.tasks == []
    w.close()


def test_a_concurrency_below_one_means_one(server: EmulatorServer) -> None:
    client = FoxClient("sk-widget-test-key", server.url)
    w = KlingWidget(client=client, concurrency=0)
    assert w.concurrency == 1 == w._controller.concurrency
    w.close()
    client.close()


def test_queued_members_go_to_the_api_their_batch_was_started_on(
    widget: KlingWidget, server: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A batch started on the emulator must not be billed on the live API because a key was
    # pasted while some of it still waited for a slot.
    posts = server.emulator.stats["posts"]
    with EmulatorServer(EmulatorConfig(seconds_per_video=0.5)) as other:
        batch, _queued = _two_at_one_a_time(widget)
        monkeypatch.setenv("FOXAPI_BASE_URL", other.url)
        assert message(widget, kind="set-key", key="sk-pasted-later")["ok"]
        assert all(g.done for g in batch.wait(timeout=60))
        assert server.emulator.stats["posts"] == posts + 2 and other.emulator.stats["posts"] == 0


def test_cancelling_an_await_does_not_cut_off_a_submit(widget: KlingWidget, server: EmulatorServer) -> None:
    # asyncio.wait_for(batch, ...) or an interrupted cell cancels the await, not the work: a
    # POST in flight is never abandoned, so its task id is still learned.
    posts = server.emulator.stats["posts"]
    request = widget.client._call

    async def slow_answer(method: str, url: str, **kwargs: Any) -> Any:
        answer = await request(method, url, **kwargs)
        if method == "POST":
            await asyncio.sleep(0.5)  # the provider took the request; its answer is still on the way
        return answer

    widget.client._call = slow_answer  # type: ignore[method-assign]
    batch = widget.generate_batch([{"prompt": "one"}, {"prompt": "two"}])

    async def impatient() -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(_await(batch), 0.2)

    asyncio.run(impatient())
    done = batch.wait(timeout=60)
    assert all(g.done and g.task is not None for g in done), [(g.status, g.note) for g in done]
    assert server.emulator.stats["posts"] == posts + 2


def test_close_sends_nothing_that_was_still_queued(widget: KlingWidget, server: EmulatorServer) -> None:
    posts = server.emulator.stats["posts"]
    widget.concurrency = 1
    batch = widget.generate_batch([{"prompt": "one"}, {"prompt": "two"}, {"prompt": "three"}])
    widget._controller.close()  # at once: the queued members may not even have begun on the loop
    with contextlib.suppress(concurrent.futures.CancelledError):
        batch.wait(timeout=60)
    sent = server.emulator.stats["posts"] - posts
    stopped = [g for g in batch.generations if g.status == "stopped"]
    assert sent + len(stopped) == 3 and sent <= 1, [g.status for g in batch.generations]
    assert all("nothing was billed" in g.note for g in stopped)


def test_voices_panel_creates_a_named_voice_and_attaching_turns_audio_on(
    widget: KlingWidget, server: EmulatorServer
) -> None:
    posts = server.emulator.stats["posts"]
    widget.voice_url = "ftp://example.com/narrator.mp3"
    assert widget._voice_problems and widget._voice_problems[0]["field"] == "voice_url"
    assert message(widget, kind="create-voice")["ok"] is False and server.emulator.stats["posts"] == posts
    widget.voice_url, widget.voice_name = "https://example.com/audio/narrator.mp3", "Narrator"
    assert widget._voice_problems == []
    reply = message(widget, kind="create-voice")
    assert reply["ok"] and widget.voice_url == ""  # the panel is cleared for the next one
    generation = widget.wait(reply["task_id"], timeout=60)
    assert generation.status == "completed" and generation.voice is not None
    voice_id = generation.voice["voice_id"]
    card = generation.to_card()
    assert card["kind"] == "voice" and "Narrator" in card["summary"] and card["video"] is None
    assert widget._voices[0] == {"voice_id": voice_id, "name": "Narrator"}
    widget.generate_audio = False
    widget.attach_voice(voice_id)
    assert widget.voice_ids == [voice_id] and widget.generate_audio is True
    # Remembered in the journal: a later widget offers it again.
    later = KlingWidget(client=FoxClient("sk-widget-test-key", server.url))
    assert {"voice_id": voice_id, "name": "Narrator"} in later._voices
    later.close()
    assert not widget.load(generation.id)  # a voice card has no clip settings to load


def test_attach_refuses_a_third_voice(widget: KlingWidget) -> None:
    widget.attach_voice("voice-a")
    widget.attach_voice("voice-b")
    with pytest.raises(InvalidRequestError):
        widget.attach_voice("voice-c")
    widget.detach_voice("voice-a")
    assert widget.voice_ids == ["voice-b"]


def test_finished_tasks_refresh_only_the_fallback_output(widget: KlingWidget, monkeypatch: pytest.MonkeyPatch) -> None:
    # Updating the widget's own output would make front ends build a new view (closing panels,
    # stopping videos); only the separate kernel-less fallback is refreshed.
    import IPython.display

    shown: list[tuple[dict[str, Any], Any]] = []
    updated: list[tuple[dict[str, Any], Any]] = []
    monkeypatch.setattr(IPython.display, "display", lambda data, **kw: shown.append((data, kw.get("display_id"))))
    monkeypatch.setattr(IPython.display, "update_display", lambda data, **kw: updated.append((data, kw["display_id"])))
    widget._ipython_display_()
    (view, view_id), (fallback, fallback_id) = shown
    assert "application/vnd.jupyter.widget-view+json" in view and "text/html" not in view and view_id is None
    assert fallback["text/html"].startswith('<div class="fk-fallback">') and fallback_id
    widget.prompt = "a fox"
    widget.wait(widget.generate_nowait(), timeout=60)
    deadline = time.monotonic() + 10
    while not updated and time.monotonic() < deadline:
        time.sleep(0.05)
    assert updated and all(display_id == fallback_id for _data, display_id in updated)
    assert "task-unified-" in updated[-1][0]["text/html"]


def test_an_unfinished_voice_is_resumed_by_the_next_widget(server: EmulatorServer) -> None:
    # A voice submitted by a kernel that then died: the next widget follows it and offers the chip,
    # under the name it was given (journaled at submit: the API takes no name).
    from foxkling_widgets import AsyncFoxClient

    async def submit_only() -> str:
        async with AsyncFoxClient("sk-widget-test-key", server.url) as aclient:
            return (await aclient.submit_voice("https://example.com/voices/grandma.wav", name="Grandma Rose")).id

    task_id = asyncio.run(submit_only())
    client = FoxClient("sk-widget-test-key", server.url)
    w = KlingWidget(client=client)
    generation = w.wait(task_id, timeout=60)
    assert generation.voice is not None and generation.status == "completed" and generation.restored
    assert generation.voice["name"] == "Grandma Rose"
    assert w._voices[0] == {"voice_id": generation.voice["voice_id"], "name": "Grandma Rose"}
    w.close()
    # Done now: a third widget shows it as a chip only, with no card to follow.
    again = KlingWidget(client=client)
    assert not any(g.id == task_id for g in again.tasks)
    assert any(v["name"] == "Grandma Rose" for v in again._voices)
    again.close()
    client.close()


def test_edit_and_rerun_of_a_batch_member_leaves_grid_mode(widget: KlingWidget) -> None:
    widget.prompt, widget.vary = "a fox", "duration"
    batch = widget.generate_batch()
    batch.wait(timeout=60)
    assert widget.load(batch.generations[1].id)
    assert widget.vary == "" and widget.duration == 10


def test_a_batch_regroups_after_a_restart(widget: KlingWidget, server: EmulatorServer) -> None:
    batch = widget.generate_batch([{"prompt": "an owl", "aspect_ratio": a} for a in ("16:9", "1:1")])
    batch.wait(timeout=60)
    later = KlingWidget(client=FoxClient("sk-widget-test-key", server.url))
    restored = {g.id: g.batch for g in later.tasks if g.restored}
    assert [restored[g.id] for g in batch.generations] == [g.batch for g in batch.generations]
    assert batch.generations[0].batch is not None and batch.generations[0].batch["id"] == batch.id
    later.close()


def test_await_generate_refuses_grid_mode(widget: KlingWidget, server: EmulatorServer) -> None:
    widget.prompt, widget.vary = "a fox", "aspect_ratio"
    posts = server.emulator.stats["posts"]
    with pytest.raises(InvalidRequestError, match="generate_batch"):
        asyncio.run(widget.generate())
    assert server.emulator.stats["posts"] == posts
