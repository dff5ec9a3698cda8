"""The widget in a real kernel, driven exactly as the front end drives it, with no browser.

The cell that creates the widget finishes first; everything after happens through comm
messages while the kernel is idle. That is the situation in which ipykernel 7 stops running
asyncio tasks created in a cell (ipython/ipykernel#1510), so this test is what shows the
controller's own loop thread keeps generations moving.
"""

from __future__ import annotations

import os
import queue
import time
from collections.abc import Iterator
from typing import Any

import pytest
from jupyter_client.blocking.client import BlockingKernelClient
from jupyter_client.manager import KernelManager, start_new_kernel

from foxkling_widgets.emulator import EmulatorConfig, EmulatorServer

pytestmark = [pytest.mark.kernel, pytest.mark.slow, pytest.mark.timeout(240)]

KEY = "sk-kernel-protocol-secret-42"


@pytest.fixture(scope="module")
def emulator() -> Iterator[EmulatorServer]:
    with EmulatorServer(EmulatorConfig(seconds_per_video=1)) as server:
        yield server


@pytest.fixture(scope="module")
def kernel(
    emulator: EmulatorServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[KernelManager, BlockingKernelClient]]:
    home = tmp_path_factory.mktemp("kernel")
    env = {
        **os.environ,
        "FOXAPI_BASE_URL": emulator.url,
        "FOXAPI_API_KEY": KEY,
        "FOXKLING_DATA_DIR": str(home / "data"),
        "FOXKLING_CACHE_DIR": str(home / "cache"),
    }
    manager, client = start_new_kernel(kernel_name="python3", env=env)
    try:
        yield manager, client
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)


class Session:
    """Sends what the front end's model sends and collects what comes back on IOPub."""

    def __init__(self, client: BlockingKernelClient, comm_id: str) -> None:
        self.client = client
        self.comm_id = comm_id
        self.seen: list[dict[str, Any]] = []

    def send(self, data: dict[str, Any]) -> None:
        msg = self.client.session.msg("comm_msg", {"comm_id": self.comm_id, "data": data})
        self.client.shell_channel.send(msg)

    def custom(self, **content: Any) -> None:
        self.send({"method": "custom", "content": content})

    def update(self, **state: Any) -> None:
        self.send({"method": "update", "state": state, "buffer_paths": []})

    def wait_for(self, predicate: Any, timeout: float = 120) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                msg = self.client.get_iopub_msg(timeout=1)
            except queue.Empty:
                continue
            self.seen.append(msg)
            if msg["msg_type"] == "comm_msg" and msg["content"]["comm_id"] == self.comm_id and predicate(msg):
                return msg
        raise AssertionError("the expected message never came")


def run_cell(client: BlockingKernelClient, code: str) -> str:
    reply = client.execute_interactive(code, timeout=120, output_hook=lambda msg: outputs.append(msg))
    assert reply["content"]["status"] == "ok", reply["content"]
    return "".join(m["content"].get("text", "") for m in outputs if m["msg_type"] == "stream")


outputs: list[dict[str, Any]] = []


def tasks_in(msg: dict[str, Any]) -> list[dict[str, Any]] | None:
    if msg["msg_type"] != "comm_msg":
        return None
    data = msg["content"]["data"]
    if data.get("method") == "update" and "_tasks" in data.get("state", {}):
        return list(data["state"]["_tasks"])
    return None


def _state_has(msg: dict[str, Any], name: str) -> bool:
    if msg["msg_type"] != "comm_msg":
        return False
    data = msg["content"]["data"]
    return data.get("method") == "update" and name in data.get("state", {})


def test_generation_runs_while_the_kernel_is_idle(
    kernel: tuple[KernelManager, BlockingKernelClient], emulator: EmulatorServer
) -> None:
    _manager, client = kernel
    outputs.clear()
    comm_id = run_cell(client, "from foxkling_widgets import KlingWidget\nw = KlingWidget()\nprint(w.model_id)").strip()
    session = Session(client, comm_id)

    # An invalid layout (6 + 3 for 10 s) gives a problem and sends nothing.
    posts = emulator.emulator.stats["posts"]
    session.update(
        prompt="a fox",
        duration=10,
        multishot=True,
        segments=[{"prompt": "a", "duration": 6}, {"prompt": "b", "duration": 3}],
    )
    session.wait_for(
        lambda m: any(p["field"] == "multi_prompt" for p in m["content"]["data"].get("state", {}).get("_problems", []))
    )
    session.custom(id="g0", kind="generate")
    reply = session.wait_for(lambda m: m["content"]["data"].get("content", {}).get("id") == "g0")
    assert reply["content"]["data"]["content"]["ok"] is False
    assert emulator.emulator.stats["posts"] == posts

    session.update(
        aspect_ratio="9:16",
        generate_audio=True,
        segments=[{"prompt": "a", "duration": 6}, {"prompt": "b", "duration": 4}],
    )
    session.custom(id="g1", kind="generate")
    reply = session.wait_for(lambda m: m["content"]["data"].get("content", {}).get("id") == "g1")
    assert reply["content"]["data"]["content"]["ok"] is True
    # The kernel is idle from here on: only the controller's thread can move the task along.
    done = session.wait_for(lambda m: (t := tasks_in(m)) is not None and bool(t) and t[0]["status"] == "completed")
    card = tasks_in(done)[0]  # type: ignore[index]
    progress = [t[0]["progress"] for m in session.seen if (t := tasks_in(m))]
    assert progress == sorted(progress) and card["progress"] == 100 and card["video"]
    assert emulator.emulator.stats["posts"] == posts + 1
    # The card's id is the key generate answered with, for good; the provider's id is beside it.
    key = reply["content"]["data"]["content"]["task_id"]
    assert card["id"] == key and key.startswith("gen-") and card["task_id"].startswith("task-")
    # Progress went as full cards and as cards-progress messages, in one order, only forwards.
    moved = []
    for m in session.seen:
        if (t := tasks_in(m)) is not None and t:
            moved.append(t[0]["progress"])
        content = m["content"].get("data", {}).get("content", {}) if m["msg_type"] == "comm_msg" else {}
        if content.get("kind") == "cards-progress":
            assert "id" not in content and all(e["id"] == key for e in content["cards"])
            moved.extend(e["progress"] for e in content["cards"])
    assert moved == sorted(moved)
    # The poster came once, in _posters, before the card that shows it; the card has none.
    posters = [m["content"]["data"]["state"]["_posters"] for m in session.seen if _state_has(m, "_posters")]
    assert posters and key in posters[-1] and posters[-1][key].startswith("data:image/jpeg;base64,")
    assert card["poster"] == ""

    session.custom(id="v1", kind="video-request", task_id=card["id"])
    video = session.wait_for(lambda m: m["content"]["data"].get("content", {}).get("id") == "v1")
    assert video["content"]["data"]["content"]["kind"] == "video-response"
    chunk = session.wait_for(lambda m: m["content"]["data"].get("content", {}).get("kind") == "video-chunk")
    assert bytes(chunk["buffers"][0])[4:8] == b"ftyp"  # the whole pull is in test_transport.py
    session.custom(id="c1", kind="video-cancel", transfer="v1")

    # A key typed into the widget never comes back out.
    session.custom(id="k1", kind="set-key", key="sk-typed-in-the-browser-77")
    session.wait_for(lambda m: m["content"]["data"].get("content", {}).get("id") == "k1")
    state_text = run_cell(client, "print(w.get_state(), repr(w.client))")
    for msg in session.seen:
        text = str(msg["content"]) + str(msg.get("metadata"))
        assert KEY not in text and "sk-typed-in-the-browser-77" not in text
    assert KEY not in state_text and "sk-typed-in-the-browser-77" not in state_text


def test_voice_and_batch_flows_over_comm_messages(
    kernel: tuple[KernelManager, BlockingKernelClient], emulator: EmulatorServer
) -> None:
    _manager, client = kernel
    outputs.clear()
    comm_id = run_cell(
        client, "from foxkling_widgets import KlingWidget\nv = KlingWidget(concurrency=2)\nprint(v.model_id)"
    ).strip()
    session = Session(client, comm_id)
    posts = emulator.emulator.stats["posts"]

    def state(msg: dict[str, Any]) -> dict[str, Any]:
        return dict(msg["content"]["data"].get("state", {})) if msg["msg_type"] == "comm_msg" else {}

    # Voices: a bad URL is a problem next to the field and sends nothing; a good one makes a named chip.
    session.update(voice_url="file:///etc/passwd.mp3")
    session.wait_for(lambda m: any(p["field"] == "voice_url" for p in state(m).get("_voice_problems", [])))
    session.custom(id="cv0", kind="create-voice")
    reply = session.wait_for(lambda m: m["content"]["data"].get("content", {}).get("id") == "cv0")
    assert reply["content"]["data"]["content"]["ok"] is False and emulator.emulator.stats["posts"] == posts
    session.update(voice_url="https://example.com/audio/narrator.mp3", voice_name="Narrator")
    session.custom(id="cv1", kind="create-voice")
    reply = session.wait_for(lambda m: m["content"]["data"].get("content", {}).get("id") == "cv1")
    assert reply["content"]["data"]["content"]["ok"] is True
    voices = session.wait_for(lambda m: any(v["name"] == "Narrator" for v in state(m).get("_voices", [])))
    voice_id = state(voices)["_voices"][0]["voice_id"]
    assert emulator.emulator.stats["posts"] == posts + 1

    # A grid of three aspect ratios with that voice, two at a time: one waits as queued.
    session.update(prompt="<<<voice_1>>> says hello", voice_ids=[voice_id], generate_audio=True, vary="aspect_ratio")
    session.wait_for(lambda m: state(m).get("_variations") == ["16:9", "9:16", "1:1"])
    session.custom(id="b1", kind="generate")
    reply = session.wait_for(lambda m: m["content"]["data"].get("content", {}).get("id") == "b1")
    batch_id = reply["content"]["data"]["content"]["task_id"]
    assert batch_id.startswith("batch-")

    def batch_cards(msg: dict[str, Any]) -> list[dict[str, Any]]:
        return [c for c in tasks_in(msg) or [] if (c.get("batch") or {}).get("id") == batch_id]

    done = session.wait_for(lambda m: len(c := batch_cards(m)) == 3 and all(x["status"] == "completed" for x in c))
    cards = sorted(batch_cards(done), key=lambda c: c["batch"]["index"])
    assert [c["request"].get("aspect_ratio", "16:9") for c in cards] == ["16:9", "9:16", "1:1"]
    assert all(c["request"]["voice_ids"] == [voice_id] for c in cards)
    seen = [c["status"] for m in session.seen for c in batch_cards(m)]
    assert "queued" in seen
    assert emulator.emulator.stats["posts"] == posts + 4


def test_stale_kernel_owned_state_from_the_front_end_is_ignored_and_every_message_is_answered(
    kernel: tuple[KernelManager, BlockingKernelClient], emulator: EmulatorServer
) -> None:
    # marimo before 0.23.15 echoes kernel-owned traits back with the value they had when the
    # view last saved: written into the kernel, a stale _problems kept Generate disabled.
    _manager, client = kernel
    outputs.clear()
    comm_id = run_cell(client, "from foxkling_widgets import KlingWidget\ns = KlingWidget()\nprint(s.model_id)").strip()
    session = Session(client, comm_id)
    posts = emulator.emulator.stats["posts"]

    def cell(code: str) -> str:
        outputs.clear()
        return run_cell(client, code)

    mode = cell("print(s._mode)").strip()

    def state(msg: dict[str, Any]) -> dict[str, Any]:
        data = msg["content"]["data"]
        return dict(data.get("state", {})) if data.get("method") == "update" else {}

    def answer(msg_id: str | None) -> Any:
        return lambda m: (
            m["content"]["data"].get("method") == "custom" and (m["content"]["data"]["content"].get("id") == msg_id)
        )

    # The prompt is empty, so the kernel's _problems has an error; the front end says "none".
    session.update(_problems=[], _mode="none", _credits={"estimate": 1})
    resent = state(session.wait_for(lambda m: "_problems" in state(m), timeout=30))
    assert [p["field"] for p in resent["_problems"]] == ["prompt"] and resent["_mode"] == mode != "none"
    assert cell("print([p['field'] for p in s._problems], s._mode)").split() == ["['prompt']", mode]
    session.custom(id="g1", kind="generate")
    reply = session.wait_for(answer("g1"))["content"]["data"]["content"]
    assert reply["kind"] == "generate-response" and reply["ok"] is False
    assert emulator.emulator.stats["posts"] == posts

    # Unknown and malformed messages are answered too (the front end would wait for them).
    session.custom(id="u1", kind="frobnicate")
    reply = session.wait_for(answer("u1"))["content"]["data"]["content"]
    assert reply["kind"] == "frobnicate-response" and reply["ok"] is False and reply["error"]
    session.send({"method": "custom", "content": ["not", "an", "object"]})
    reply = session.wait_for(answer(None))["content"]["data"]["content"]
    assert reply == {"id": None, "kind": "error-response", "ok": False, "error": reply["error"]}
    # And a control set in the same kind of update still applies.
    session.update(prompt="a fox", _problems=[{"field": "prompt", "message": "stale", "level": "error"}])
    session.wait_for(lambda m: state(m).get("_problems") == [])
    assert cell("print(s.prompt, s._problems)").strip() == "a fox []"
