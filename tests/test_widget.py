"""The widget's model and controller in-process (no kernel): traits, validation, messages, display."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import threading
import time
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

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
    assert reply["ok"] and reply["task_id"].startswith("gen-")
    generation = _wait_done(widget)
    assert generation.status == "completed" and generation.path.exists()
    time.sleep(0.3)  # the coalesced publish
    card = widget._tasks[0]
    assert card["status"] == "completed" and card["progress"] == 100 and card["video"]["name"].endswith(".mp4")
    poster = widget._posters[card["id"]]  # posters travel once, beside the cards
    assert card["poster"] == "" and poster.startswith("data:image/jpeg;base64,") and len(poster) < 40_000
    assert "VideoRequest(" in card["code"] and card["credits_reserved"]
    message(widget, kind="video-request", task_id=generation.id)
    reply = next(c for c, _b in widget.sent if c["kind"] == "video-response")  # type: ignore[attr-defined]
    assert reply["ok"] and reply["kind"] == "video-response" and reply["total"] == generation.path.stat().st_size
    deadline = time.monotonic() + 30  # the first chunk comes from the transfer's own thread
    while not any(c["kind"] == "video-chunk" for c, _b in widget.sent) and time.monotonic() < deadline:  # type: ignore[attr-defined]
        time.sleep(0.01)
    content, buffers = next((c, b) for c, b in widget.sent if c["kind"] == "video-chunk")  # type: ignore[attr-defined]
    assert content["index"] == 0 and buffers[0][4:8] == b"ftyp"
    message(widget, kind="video-cancel", transfer="m1")
    assert widget.video(generation.id)._repr_html_().startswith("<figure")
    html = widget._repr_mimebundle_()[0]["text/html"]
    assert generation.id in html and "data:image/jpeg" not in html  # the posters are in the widget state once


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
    # The one member that may have begun can be answered before the close reaches it: then it is
    # stopped too, but with its task id (resumable), never called unbilled.
    unsent = [g for g in batch.generations if g.status == "stopped" and g.task is None]
    assert sent + len(unsent) == 3 and sent <= 1, [(g.status, g.task_id) for g in batch.generations]
    assert all("nothing was billed" in g.note for g in unsent)
    begun = [g for g in batch.generations if not (g.status == "stopped" and g.task is None)]
    assert all(g.task_id is not None or g.status == "uncertain" for g in begun)


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


# -- every message gets an answer -------------------------------------------------------------
@pytest.mark.parametrize(
    ("content", "answer"),
    [
        ("generate", {"id": None, "kind": "error-response"}),
        (["generate"], {"id": None, "kind": "error-response"}),
        (None, {"id": None, "kind": "error-response"}),
        ({}, {"id": None, "kind": "error-response"}),
        ({"id": "m1"}, {"id": "m1", "kind": "error-response"}),
        ({"id": "m1", "kind": 5}, {"id": "m1", "kind": "error-response"}),
        ({"id": "m1", "kind": ["generate"]}, {"id": "m1", "kind": "error-response"}),
        ({"id": 7, "kind": "generate"}, {"id": None, "kind": "generate-response"}),
        ({"kind": "generate"}, {"id": None, "kind": "generate-response"}),
        ({"id": "", "kind": "load-task"}, {"id": None, "kind": "load-task-response"}),
        ({"id": "m1", "kind": "frobnicate"}, {"id": "m1", "kind": "frobnicate-response"}),
        ({"id": "m1", "kind": "video-request"}, {"id": "m1", "kind": "video-response"}),
        ({"id": "m1", "kind": "x" * 500}, {"id": "m1", "kind": "error-response"}),
        ({"id": "m1", "kind": "set-key", "key": {"not": "text"}}, {"id": "m1", "kind": "set-key-response"}),
    ],
)
def test_a_malformed_or_unknown_message_gets_one_failed_answer(
    widget: KlingWidget, server: EmulatorServer, content: Any, answer: dict[str, Any]
) -> None:
    widget.prompt = "a fox"  # valid controls: only the message's own faults may stop it
    posts, mode = server.emulator.stats["posts"], widget._mode
    widget._on_custom_message(widget, content, [])
    assert len(widget.sent) == 1  # type: ignore[attr-defined]
    reply = widget.sent[0][0]  # type: ignore[attr-defined]
    assert {k: reply[k] for k in ("id", "kind")} == answer
    assert reply["ok"] is False and isinstance(reply["error"], str) and reply["error"]
    assert widget.tasks == [] and server.emulator.stats["posts"] == posts and widget._mode == mode


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8,
)
_kinds = st.sampled_from(["generate", "stop-watching", "video-request", "load-task", "create-voice", "clear-key"])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    content=_json
    | st.fixed_dictionaries(
        {"id": _json | st.text(max_size=8), "kind": _json | _kinds},
        optional={"task_id": _json, "key": _json},
    )
)
def test_any_message_gets_exactly_one_answer_and_nothing_escapes(
    widget: KlingWidget, server: EmulatorServer, content: Any
) -> None:
    posts = server.emulator.stats["posts"]
    widget.sent.clear()  # type: ignore[attr-defined]
    widget._on_custom_message(widget, content, [])
    (reply, _buffers), *more = widget.sent  # type: ignore[attr-defined]
    assert more == []
    assert reply["kind"].endswith("-response") and isinstance(reply["ok"], bool)
    expected_id = content.get("id") if isinstance(content, dict) else None
    assert reply["id"] == (expected_id if isinstance(expected_id, str) and expected_id else None)
    assert server.emulator.stats["posts"] == posts  # the controls are empty: nothing may start


def test_a_failure_handling_a_key_is_answered_and_logs_no_traceback(
    widget: KlingWidget, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(_message: Any) -> None:
        raise RuntimeError("the store broke near sk-typed-in-widget-555")

    monkeypatch.setattr(widget, "_set_key", broken)
    caplog.set_level(logging.DEBUG)
    reply = message(widget, kind="set-key", key="sk-typed-in-widget-555")
    assert reply["kind"] == "set-key-response" and reply["ok"] is False and "RuntimeError" in reply["error"]
    assert caplog.records and all(r.exc_info is None and r.stack_info is None for r in caplog.records)
    assert "sk-typed-in-widget-555" not in caplog.text


def test_an_answer_that_cannot_be_built_still_goes_out(widget: KlingWidget, monkeypatch: pytest.MonkeyPatch) -> None:
    # A reply that fails to send (here: a first send that raises) is followed by a plain failure.
    real = widget.send
    calls: list[dict[str, Any]] = []

    def flaky(content: dict[str, Any], buffers: Any = None) -> None:
        calls.append(content)
        if len(calls) == 1:
            raise TypeError("not JSON serializable")
        real(content, buffers)

    monkeypatch.setattr(widget, "send", flaky)
    widget._on_custom_message(widget, {"id": "m9", "kind": "load-task", "task_id": "nope"}, [])
    assert widget.sent[-1][0] == {  # type: ignore[attr-defined]
        "id": "m9",
        "kind": "load-task-response",
        "ok": False,
        "error": "The kernel could not do that (TypeError); see its log.",
    }


# -- kernel-owned traits ----------------------------------------------------------------------
def test_front_end_writes_to_kernel_owned_traits_are_dropped_and_answered(
    widget: KlingWidget, monkeypatch: pytest.MonkeyPatch
) -> None:
    sent: list[dict[str, Any]] = []
    monkeypatch.setattr(widget, "_send", lambda msg, buffers=None: sent.append(msg))
    problems, mode = list(widget._problems), widget._mode
    assert problems  # the prompt is empty
    stale = {"_problems": [], "_mode": "none", "_has_key": True, "_tasks": [{"id": "x"}], "_credits": {}}
    widget.set_state({**stale, "negative_prompt": "blur"})
    assert widget.negative_prompt == "blur"  # a control in the same update still applies
    assert widget._problems == problems and widget._mode == mode and not widget._has_key
    assert widget._tasks == [] and widget._credits["estimate"] is None
    resent = [m["state"] for m in sent if m["method"] == "update"]
    assert resent and set(stale) <= set().union(*resent)
    assert resent[-1]["_problems"] == problems and resent[-1]["_mode"] == mode
    echoed = [m["state"] for m in sent if m["method"] == "echo_update"]
    assert all(not set(stale) & set(state) for state in echoed)  # no echo of the stale values
    widget.set_state("not a state")  # ignored, no exception
    owned = {name for name in widget.keys if widget.trait_metadata(name, "kernel_owned")}
    assert owned == {
        "_mode",
        "_problems",
        "_tasks",
        "_posters",
        "_tasks_total",
        "_credits",
        "_variations",
        "_voices",
        "_voice_problems",
        "_has_key",
        "_budget",
        "_classroom",
        "_options",
    }


# -- credits from memory ----------------------------------------------------------------------
class CountingJournal:
    """A journal that counts the calls made to it (and forwards them)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.calls: list[str] = []

    def __getattr__(self, name: str) -> Any:
        target = getattr(self.inner, name)
        if not callable(target):
            return target

        def call(*args: Any, **kwargs: Any) -> Any:
            self.calls.append(name)
            return target(*args, **kwargs)

        return call


def test_keystrokes_read_nothing_from_the_journal(server: EmulatorServer, tmp_path: Any) -> None:
    from foxkling_widgets._journal import Journal

    journal = Journal(tmp_path / "journal.sqlite3")
    counting = CountingJournal(journal)
    client = FoxClient("sk-widget-test-key", server.url, journal=counting)
    _fill(journal, server.url, [("720p", 5, False, 10.0), ("720p", 5, False, 30.0), ("1080p", 10, True, 70.0)])
    w = KlingWidget(client=client)
    try:
        counting.calls.clear()
        for i, text in enumerate(["a", "a f", "a fo", "a fox"]):
            w.prompt = text
            w.resolution = ("720p", "1080p")[i % 2]
        w.vary = "duration"
        assert counting.calls == []
        w.vary, w.resolution, w.duration, w.generate_audio = "", "1080p", 10, True
        assert w._credits == {"estimate": 70.0, "session": 0, "journal": 110.0}
        w.resolution, w.duration, w.generate_audio = "720p", 5, False
        assert w._credits["estimate"] == journal.credit_estimate(w.request().to_payload(), base_url=server.url) == 30.0
        # A finished generation of this widget is counted from its card, without another read.
        asyncio.run(w.generate())
        deadline = time.monotonic() + 10
        while w._credits["session"] == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert w._credits["journal"] == journal.credits_total(base_url=server.url) > 110.0
        assert w._credits["estimate"] == journal.credit_estimate(w.request().to_payload(), base_url=server.url)
        assert not {"entries", "credit_estimate", "credits_total"} & set(counting.calls)
    finally:
        w.close()
        client.close()


def _fill(
    journal: Any, base_url: str, rows: list[tuple[str, int, bool, float | None]], start: int = 0, prefix: str = "fill"
) -> None:
    from foxkling_widgets import Task

    for n, (resolution, duration, audio, credits) in enumerate(rows, start):
        payload = {"model": "kling-v3-text-to-video", "prompt": "p", "resolution": resolution, "duration": duration}
        if audio:
            payload["generate_audio"] = True
        body = {"id": f"task-{prefix}-{n}", "status": "failed", "created": 1_000_000 + n}
        task = Task.from_json({**body, "usage": {"credits_reserved": credits}})
        journal.record_submitted(None, task, payload, base_url)


_rows = st.lists(
    st.tuples(
        st.sampled_from(["720p", "1080p", "4k"]),
        st.sampled_from([5, 10]),
        st.booleans(),
        st.none() | st.integers(1, 200).map(float),
    ),
    max_size=40,
)


@settings(max_examples=40, deadline=None)
@given(before=_rows, after=_rows, window=st.integers(1, 12))
def test_the_credit_book_agrees_with_the_journal(
    before: list[tuple[str, int, bool, float | None]],
    after: list[tuple[str, int, bool, float | None]],
    window: int,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    from foxkling_widgets import _credits, _journal

    journal = _journal.Journal(tmp_path_factory.mktemp("book") / "journal.sqlite3")
    entries = journal.entries

    def windowed(*, base_url: str | None = None, limit: int = 200) -> list[Any]:
        # credit_estimate reads the newest 500 rows: the same window, made small.
        return entries(base_url=base_url, limit=window if limit == 500 else limit)

    journal.entries = windowed  # type: ignore[method-assign]
    base = "https://api.example"
    _fill(journal, base, before)
    _fill(journal, "https://other.example", after, prefix="other")  # another host's tasks never count
    with pytest.MonkeyPatch.context() as patch:
        # A small window, on both sides, so that tasks also fall out of it.
        patch.setattr(_credits, "ESTIMATE_WINDOW", window)
        book = _credits.CreditBook()
        book.load(journal, base)
        _fill(journal, base, after, start=len(before))
        for n, (resolution, duration, audio, credits) in enumerate(after, len(before)):
            payload = {"resolution": resolution, "duration": duration, "generate_audio": audio}
            book.observe(f"task-fill-{n}", payload, credits)
        assert book.total == journal.credits_total(base_url=base)
        for resolution in ("720p", "1080p", "4k"):
            for duration in (5, 10):
                for audio in (False, True):
                    payload = {"resolution": resolution, "duration": duration, "generate_audio": audio}
                    assert book.estimate(payload) == journal.credit_estimate(payload, base_url=base), payload
    journal.close()


def test_credits_follow_the_api_host_when_a_key_is_pasted(
    widget: KlingWidget, server: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    widget.prompt = "a fox"
    asyncio.run(widget.generate())
    widget._publish([g.to_card() for g in widget.tasks])
    here = widget.client.journal.credits_total(base_url=server.url)  # type: ignore[union-attr]
    assert here > 0 and widget._credits["journal"] == here
    with EmulatorServer(EmulatorConfig(seconds_per_video=0.5)) as other:
        monkeypatch.setenv("FOXAPI_BASE_URL", other.url)
        assert message(widget, kind="set-key", key="sk-pasted-later")["ok"]
        # The emulator's clip is still on screen: its credits are not the live host's.
        widget._publish([g.to_card() for g in widget.tasks])
        assert widget._credits["journal"] == 0 == widget.client.journal.credits_total(base_url=other.url)  # type: ignore[union-attr]
        assert widget._credits["estimate"] is None
        asyncio.run(widget.generate())  # a clip on the new host counts there
        widget._publish([g.to_card() for g in widget.tasks])
        there = widget.client.journal.credits_total(base_url=other.url)  # type: ignore[union-attr]
        assert there > 0 and widget._credits["journal"] == there
