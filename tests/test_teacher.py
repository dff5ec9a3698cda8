"""The teacher's controls: the spending guard, classroom mode, and "copy as code" that runs.

The budget and classroom tests drive the widget in-process against an emulator over loopback
(counting the POSTs that reach it); the kernel tests start a real kernel and talk to it as the
front end does, or run the copied code in it.
"""

from __future__ import annotations

import ast
import asyncio
import json
import os
import queue
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jupyter_client.blocking.client import BlockingKernelClient
from jupyter_client.manager import KernelManager, start_new_kernel

from foxkling_widgets import FoxClient, InvalidRequestError, KlingWidget, Segment, VideoRequest
from foxkling_widgets._controller import CodeSession, request_code, voice_code
from foxkling_widgets.emulator import EmulatorConfig, EmulatorServer

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(scope="module")
def server() -> Iterator[EmulatorServer]:
    with EmulatorServer(EmulatorConfig(seconds_per_video=0.3)) as running:
        yield running


def _studio(server: EmulatorServer, **kwargs: Any) -> tuple[KlingWidget, FoxClient]:
    client = FoxClient("sk-teacher-test-key", server.url)
    w = KlingWidget(client=client, **kwargs)
    sent: list[dict[str, Any]] = []
    w.send = lambda content, buffers=None: sent.append(content)  # type: ignore[method-assign]
    w.sent = sent
    return w, client


def _message(w: KlingWidget, **content: Any) -> dict[str, Any]:
    w._on_custom_message(w, {"id": "m1", **content}, [])
    return w.sent[-1]  # type: ignore[attr-defined, no-any-return]


def _settle(w: KlingWidget, predicate: Any, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not predicate() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert predicate()


# -- the spending guard -------------------------------------------------------------------------
def test_a_batch_over_budget_sends_nothing(server: EmulatorServer) -> None:
    # The emulator charges 1 credit a second at 720p: a 5 s clip reserves 5.
    w, client = _studio(server, budget=12)
    try:
        assert w._budget == {"cap": 12.0, "reserved": 0.0, "left": 12.0, "refused": ""}
        w.prompt = "a fox"
        asyncio.run(w.generate())  # the first clip: its price becomes known
        _settle(w, lambda: w._budget["left"] == 7.0)
        w.vary = "aspect_ratio"  # three clips, ≈ 15 credits
        # Shown after "Over the budget: " and the budget line's figures: the budget is not named again.
        assert w._budget["refused"] == "These 3 clips would cost ≈ 15 credits, more than is left."
        posts = server.emulator.stats["posts"]
        with pytest.raises(InvalidRequestError) as error:
            w.generate_batch()
        assert error.value.field == "budget" and "7 of 12 left" in error.value.message
        assert error.value.problems[0].message == (
            "These 3 clips would pass the budget: ≈ 15 credits, with 7 of 12 left. Nothing was sent."
        )
        with pytest.raises(InvalidRequestError, match="budget"):
            w.generate_batch([VideoRequest(prompt=f"fox {i}") for i in range(3)])
        reply = _message(w, kind="generate")  # the Generate button, in grid mode
        assert reply["ok"] is False and reply["field"] == "budget" and "Nothing was sent" in reply["error"]
        assert server.emulator.stats["posts"] == posts and len(w.tasks) == 1
        w.vary = ""  # one more clip fits (5 of the 7 left), a third would not
        asyncio.run(w.generate())
        _settle(w, lambda: w._budget["left"] == 2.0)
        with pytest.raises(InvalidRequestError, match="budget"):
            asyncio.run(w.generate())
        assert server.emulator.stats["posts"] == posts + 1
    finally:
        w.close()
        client.close()


def test_an_unknown_price_allows_one_clip_alone(server: EmulatorServer) -> None:
    w, client = _studio(server, budget=100)
    try:
        w.prompt = "a fox"
        w.vary = "aspect_ratio"
        posts = server.emulator.stats["posts"]
        with pytest.raises(InvalidRequestError, match="not known yet") as error:
            w.generate_batch()  # no task has a price yet: a batch cannot be checked
        assert error.value.field == "budget" and server.emulator.stats["posts"] == posts
        w.vary = ""
        asyncio.run(w.generate())  # one clip of unknown price: allowed alone
        _settle(w, lambda: w._budget["reserved"] == 5.0)
        w.resolution = "1080p"  # a tier never seen: the highest known price (5) stands in for it
        assert w._budget["refused"] == "" and w._budget["left"] == 95.0
    finally:
        w.close()
        client.close()


def test_a_used_up_budget_refuses_from_python_too(server: EmulatorServer) -> None:
    w, client = _studio(server, budget=0)
    try:
        w.prompt = "a fox"
        posts = server.emulator.stats["posts"]
        assert w._budget["refused"] == "No credits may be reserved."
        with pytest.raises(InvalidRequestError, match="used up") as error:
            asyncio.run(w.generate())
        assert error.value.problems[0].message == "The budget of 0 credits is used up. Nothing was sent."
        with pytest.raises(InvalidRequestError, match="used up"):
            w.generate_nowait()
        with pytest.raises(InvalidRequestError, match="budget"):
            w.create_voice("https://example.com/narrator.mp3")  # a voice is billed too
        assert server.emulator.stats["posts"] == posts and w.tasks == []
    finally:
        w.close()
        client.close()


def test_the_budget_comes_from_the_argument_or_the_environment(
    server: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FOXKLING_BUDGET", "30")
    for kwargs, cap in (({}, 30.0), ({"budget": 7.5}, 7.5)):
        w, client = _studio(server, **kwargs)
        assert w._budget["cap"] == cap
        w.close()
        client.close()
    for bad in ("lots", "-1", "nan"):
        monkeypatch.setenv("FOXKLING_BUDGET", bad)
        with pytest.raises(InvalidRequestError) as error:
            KlingWidget(client=FoxClient("sk-teacher-test-key", server.url))
        assert error.value.field == "budget"
    monkeypatch.delenv("FOXKLING_BUDGET")
    w, client = _studio(server)
    assert w._budget["cap"] is None and w._budget["left"] is None
    w.set_state({"_budget": {"cap": None}})  # the front end cannot lift the cap
    w.close()
    client.close()


def _priced(server: EmulatorServer, tmp_path: Path, price: float) -> tuple[KlingWidget, FoxClient]:
    from foxkling_widgets import Task
    from foxkling_widgets._journal import Journal

    journal = Journal(tmp_path / "journal.sqlite3")
    payload = {"model": "kling-v3-text-to-video", "prompt": "p", "resolution": "720p", "duration": 5}
    task = Task.from_json(
        {"id": "task-priced", "status": "completed", "created": 1, "usage": {"credits_reserved": price}}
    )
    journal.record_submitted(None, task, payload, server.url)
    client = FoxClient("sk-teacher-test-key", server.url, journal=journal)
    return KlingWidget(client=client, budget=0), client


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cap=st.integers(0, 60).map(float), price=st.sampled_from([1.0, 5.0, 7.5]), count=st.integers(1, 8))
def test_work_starts_exactly_when_it_fits(
    cap: float, price: float, count: int, server: EmulatorServer, tmp_path_factory: pytest.TempPathFactory
) -> None:
    # At the boundary: reserving exactly the cap is allowed, a credit more is not.
    w, client = _priced(server, tmp_path_factory.mktemp("priced"), price)
    try:
        w._budget_guard.cap = cap
        requests = [VideoRequest(prompt=f"fox {i}") for i in range(count)]
        refused = w._budget_guard.problems(requests)
        assert bool(refused) == (price * count > cap)
        assert all(p.field == "budget" for p in refused)
    finally:
        w.close()
        client.close()


# -- classroom mode -----------------------------------------------------------------------------
def test_classroom_mode_stays_on_the_emulator_whatever_key_is_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FOXAPI_API_KEY", "sk-a-real-looking-key-123")
    monkeypatch.setenv("FOXKLING_CLASSROOM", "1")
    w = KlingWidget()
    sent: list[dict[str, Any]] = []
    w.send = lambda content, buffers=None: sent.append(content)  # type: ignore[method-assign]
    try:
        assert w._classroom and w._mode == "emulator" and w.client.mode == "emulator"
        w._on_custom_message(w, {"id": "k1", "kind": "set-key", "key": "sk-pasted-on-a-projector"}, [])
        assert sent[-1]["ok"] is False and "Classroom mode" in sent[-1]["error"]
        assert w._mode == "emulator" and not w._has_key and w.client.mode == "emulator"
        w._on_custom_message(w, {"id": "k2", "kind": "clear-key"}, [])
        assert sent[-1]["mode"] == "emulator" and w.client.mode == "emulator"
        w.set_state({"_classroom": False, "_mode": "live"})  # kernel-owned: a front-end write is dropped
        assert w._classroom and w._mode == "emulator"
    finally:
        w.close()
    with pytest.raises(ValueError, match="classroom"):
        KlingWidget(classroom=True, client=FoxClient("sk-a-real-looking-key-123", "https://api.example"))
    monkeypatch.delenv("FOXKLING_CLASSROOM")
    w = KlingWidget(classroom=True)  # the argument alone, with the key still set
    assert w._classroom and w._mode == "emulator"
    w.close()
    w = KlingWidget()
    assert not w._classroom and w._mode == "live"
    w.close()


# -- in a real kernel ---------------------------------------------------------------------------
def _kernel(tmp_path: Path, **env: str) -> tuple[KernelManager, BlockingKernelClient]:
    base = {k: v for k, v in os.environ.items() if k not in ("FOXAPI_API_KEY", "FOXAPI_BASE_URL")}
    full = {
        **base,
        "FOXKLING_DATA_DIR": str(tmp_path / "data"),
        "FOXKLING_CACHE_DIR": str(tmp_path / "cache"),
        "FOXKLING_EMULATOR_SECONDS": "1",
        **env,
    }
    return start_new_kernel(kernel_name="python3", env=full, cwd=str(tmp_path))


def _run(client: BlockingKernelClient, code: str) -> str:
    outputs: list[dict[str, Any]] = []
    reply = client.execute_interactive(code, timeout=120, output_hook=outputs.append)
    assert reply["content"]["status"] == "ok", reply["content"]
    return "".join(m["content"].get("text", "") for m in outputs if m["msg_type"] == "stream")


def _answer(client: BlockingKernelClient, comm_id: str, msg_id: str, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            msg = client.get_iopub_msg(timeout=1)
        except queue.Empty:
            continue
        if msg["msg_type"] != "comm_msg" or msg["content"]["comm_id"] != comm_id:
            continue
        data = msg["content"]["data"]
        if data.get("method") == "custom" and data["content"].get("id") == msg_id:
            return dict(data["content"])
    raise AssertionError("the kernel never answered")


@pytest.mark.kernel
@pytest.mark.slow
def test_classroom_mode_refuses_a_pasted_key_in_a_kernel(tmp_path: Path) -> None:
    manager, client = _kernel(tmp_path, FOXAPI_API_KEY="sk-kernel-classroom-secret-7", FOXKLING_CLASSROOM="1")
    try:
        comm_id = _run(client, "from foxkling_widgets import KlingWidget\nw = KlingWidget()\nprint(w.model_id)").strip()
        assert _run(client, "print(w._mode, w._classroom, w.client.mode)").split() == ["emulator", "True", "emulator"]
        msg = client.session.msg(
            "comm_msg",
            {
                "comm_id": comm_id,
                "data": {"method": "custom", "content": {"id": "k1", "kind": "set-key", "key": "sk-x"}},
            },
        )
        client.shell_channel.send(msg)
        reply = _answer(client, comm_id, "k1")
        assert reply["kind"] == "set-key-response" and reply["ok"] is False and "Classroom mode" in reply["error"]
        assert reply["mode"] == "emulator"
        assert _run(client, "print(w._mode, w._has_key, w.get_state()['_classroom'])").split() == [
            "emulator",
            "False",
            "True",
        ]
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)


def _imports_are_used(code: str) -> None:
    tree = ast.parse(code)
    imported = {
        alias.asname or alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    }
    used = {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}
    assert imported <= used, f"unused imports: {imported - used}"


COPY_RUN = """
import asyncio, json
from foxkling_widgets import KlingWidget
from foxkling_widgets.emulator import shared_emulator
w = KlingWidget()
voice = w.create_voice("https://example.com/narrator.mp3")
w.wait(voice, timeout=60)
w.attach_voice(voice.voice["voice_id"])
w.prompt = "<<<voice_1>>> says hello to a fox"
w.negative_prompt = "blur, text"
w.aspect_ratio, w.duration = "9:16", 10
w.multishot = True
w.segments = [
    {"prompt": "wide: a fox in snow", "duration": 6},
    {"prompt": "close: <<<voice_1>>> speaks", "duration": 4},
]
await w.generate()
card = w.tasks[0].to_card()
print(json.dumps({"code": card["code"], "request": card["request"], "voice_code": voice.to_card()["code"]}))
"""


@pytest.mark.kernel
@pytest.mark.slow
def test_copied_code_runs_in_the_session_it_came_from(tmp_path: Path) -> None:
    # Emulator mode (no key): the copied text, pasted into the same kernel, must run as it is and
    # make the emulator receive the same request as the card's.
    manager, client = _kernel(tmp_path)
    try:
        shown = json.loads(_run(client, COPY_RUN).strip().splitlines()[-1])
        code, request = shown["code"], shown["request"]
        assert "FoxClient.emulator()" in code and "FoxClient()" not in code
        _imports_are_used(code)
        _imports_are_used(shown["voice_code"])
        _run(client, code)  # as pasted: raises (and fails the test) if it cannot run here
        received = _run(
            client,
            "import json\nfrom foxkling_widgets.emulator import shared_emulator\n"
            "print(json.dumps(shared_emulator().emulator.get(task.id).payload))",
        )
        assert json.loads(received) == request
        assert (tmp_path / "video.mp4").stat().st_size > 0
        _run(client, shown["voice_code"])  # the voice snippet runs too
        assert _run(client, "print(voice_id.startswith('voice-'))").strip() == "True"
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)


def test_copied_code_names_how_the_session_reaches_its_api(
    server: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    request = VideoRequest(prompt="a fox", segments=[Segment("a", 2), Segment("b", 3)])
    live = request_code(request, CodeSession())
    assert "with FoxClient() as client:" in live and "getpass" not in live
    _imports_are_used(live)
    plain = request_code(VideoRequest(prompt="a fox"), CodeSession(emulator=True))
    assert "Segment" not in plain and "FoxClient.emulator()" in plain
    _imports_are_used(plain)
    # A key pasted into the studio is never written into the code: the code asks for it.
    pasted = CodeSession.of(FoxClient("sk-pasted-secret-55", "https://api.example").aio)
    code = request_code(request, pasted)
    assert "sk-pasted-secret-55" not in code and 'getpass("FoxAPI key: ")' in code
    assert "base_url='https://api.example'" in code
    _imports_are_used(code)
    monkeypatch.setenv("FOXAPI_API_KEY", "sk-from-the-environment-1")
    from_env = CodeSession.of(FoxClient().aio)
    assert from_env == CodeSession() and "FoxClient() as client" in voice_code("https://e.com/a.mp3", "a", from_env)
    # Another emulator over loopback (not this kernel's built-in one): its public key and URL.
    other = CodeSession.of(FoxClient("sk-emulator", server.url).aio)
    assert other.opener()[1].startswith(f"with FoxClient(api_key='sk-emulator', base_url={server.url!r})")


# -- the teaching notebook ------------------------------------------------------------------------
NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"


def test_the_storyboard_shows_the_negative_prompt(tmp_path: Path) -> None:
    # On the emulator a negative prompt must be visible, or students see no effect of it.
    from foxkling_widgets._poster import poster_data_url
    from foxkling_widgets.emulator._render import render_video

    payload = {"model": "kling-v3-text-to-video", "prompt": "a lighthouse at dusk", "duration": 5}
    render_video(payload, tmp_path / "plain.mp4")
    render_video({**payload, "negative_prompt": "text, watermark"}, tmp_path / "kept-out.mp4")
    assert poster_data_url(tmp_path / "plain.mp4") != poster_data_url(tmp_path / "kept-out.mp4")


@pytest.mark.kernel
@pytest.mark.slow
@pytest.mark.timeout(400)
def test_the_teaching_path_generates_each_step_once_in_the_words_of_the_lesson(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import nbformat
    from nbclient import NotebookClient

    monkeypatch.setenv("FOXKLING_EMULATOR_SECONDS", "1")
    nb = nbformat.read(NOTEBOOKS / "teaching-demo.ipynb", as_version=4)
    code = [cell.source for cell in nb.cells if cell.cell_type == "code"]
    # Each clip shows once, in the studio: no cell shows it a second time as an output of its own.
    assert not any(".video(" in source for source in code)
    nb.cells.append(
        nbformat.v4.new_code_cell(
            "import json\nprint(json.dumps([t.request.to_payload() for t in reversed(studio.tasks) if t.request]))"
        )
    )
    NotebookClient(nb, timeout=180, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    text = "".join(o.get("text", "") for cell in nb.cells[:-1] for o in cell.get("outputs", []))
    assert "multi_prompt" not in text and "The shots' durations add up to 9 s" in text
    sent = json.loads(nb.cells[-1].outputs[-1]["text"])
    assert len(sent) == 5  # one shot, the story, the negative prompt, the phone, the voice
    negative = sent[2]
    assert negative["negative_prompt"] == "text, watermark, blurry, extra limbs" and "multi_prompt" not in negative
    assert negative["prompt"] == sent[0]["prompt"]  # the same shot as step 1, to compare
