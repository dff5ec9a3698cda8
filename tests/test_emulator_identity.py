"""Nothing is lost on the built-in emulator either: a new process answers for an earlier one's tasks.

The built-in emulator lives inside the kernel and gets a new port each time, so it keeps its
tasks in a store under the data directory and the client journals them under one host name
(``emulator://localhost``). The main test kills a real process mid-render and checks every
surface of a new one: history, task queries, the CLI's download, and a new widget.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from foxkling_widgets import FoxClient, KlingWidget
from foxkling_widgets.client import AsyncFoxClient
from foxkling_widgets.client._async import EMULATOR_HOST, looks_like_video
from foxkling_widgets.emulator import EmulatorConfig, EmulatorServer, _server
from foxkling_widgets.emulator._store import StoredTask, TaskStore, process_alive

pytestmark = pytest.mark.timeout(300)

KEY = {"Authorization": "Bearer sk-emulator"}
SUBMIT = "/v1/videos/generations"


@pytest.fixture
def shared(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A fresh built-in emulator for this test's data directory (the process-wide one is restored after)."""
    monkeypatch.setenv(_server.SECONDS_ENV, "0")
    monkeypatch.delenv(_server.STORE_ENV, raising=False)
    monkeypatch.setattr(_server, "_shared", None)
    yield
    if _server._shared is not None:
        _server._shared.stop()


def until_done(client: httpx.Client, task_id: str) -> dict[str, Any]:
    """Poll over HTTP until the task is terminal (bounded by the test's timeout, never asserted on time)."""
    while True:
        body: dict[str, Any] = client.get(f"/v1/tasks/{task_id}", headers=KEY).json()
        if body["status"] in ("completed", "failed", "cancelled"):
            return body
        time.sleep(0.05)


# -- the identity ---------------------------------------------------------------------------------
def test_the_built_in_emulator_is_one_journal_host_whatever_its_port(shared: None) -> None:
    with FoxClient.emulator() as client:
        assert client.mode == "emulator" and client.journal_host == EMULATOR_HOST
        assert client.base_url.startswith("http://127.0.0.1:")  # requests still go to this process's port
        assert client.aio.journal_host == EMULATOR_HOST

    async def clients() -> None:
        async with AsyncFoxClient.emulator(journal=False) as aclient:
            assert aclient.journal_host == EMULATOR_HOST and aclient.mode == "emulator"
        # Any other client is journaled under its base URL, as before.
        async with AsyncFoxClient("sk-identity-test", "http://127.0.0.1:9", journal=False) as other:
            assert other.journal_host == other.base_url == "http://127.0.0.1:9" and other.mode == "emulator"

    asyncio.run(clients())


def test_store_env_zero_keeps_the_shared_emulator_in_memory(shared: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(_server.STORE_ENV, "0")
    server = _server.shared_emulator()
    assert server.emulator.config.store is None


# -- two emulators, one store ---------------------------------------------------------------------
def test_a_second_emulator_answers_for_the_firsts_tasks_and_serves_their_files(tmp_path: Path) -> None:
    config = {"seconds_per_video": 0, "store": tmp_path / "store", "files": tmp_path / "files"}
    with EmulatorServer(EmulatorConfig(**config)) as first, httpx.Client(base_url=first.url) as http:
        video = http.post(SUBMIT, json={"model": "kling-v3-text-to-video", "prompt": "a fox"}, headers=KEY).json()
        voice_task = http.post(
            SUBMIT,
            json={"model": "kling-video-create-voice", "voice_url": "https://example.com/a/grandma.wav"},
            headers=KEY,
        ).json()
        done = until_done(http, video["id"])
        voice_id = until_done(http, voice_task["id"])["results"][0]["voice_id"]
        original = http.get(done["results"][0]["url"]).content
    with EmulatorServer(EmulatorConfig(**config)) as second, httpx.Client(base_url=second.url) as http:
        assert second.url != first.url
        again = http.get(f"/v1/tasks/{video['id']}", headers=KEY).json()
        assert again["status"] == "completed" and again["created"] == video["created"]
        assert again["results"][0]["url"].startswith(second.url)  # the file is reached at the new port
        assert http.get(again["results"][0]["url"]).content == original
        # A voice keeps its id, and its name reaches the storyboards of later renders.
        assert until_done(http, voice_task["id"])["results"][0]["voice_id"] == voice_id
        assert second.emulator.voices[voice_id] == "grandma"
        assert http.get("/v1/tasks/task-unified-1-abcdefgh", headers=KEY).status_code == 404


def test_a_completed_task_whose_file_is_gone_renders_it_again_on_download(tmp_path: Path) -> None:
    config = {"seconds_per_video": 0, "store": tmp_path / "store"}
    with EmulatorServer(EmulatorConfig(**config)) as first, httpx.Client(base_url=first.url) as http:
        task_id = http.post(SUBMIT, json={"model": "kling-v3-text-to-video", "prompt": "p"}, headers=KEY).json()["id"]
        until_done(http, task_id)
    (tmp_path / "store" / "files" / f"{task_id}.mp4").unlink()
    with EmulatorServer(EmulatorConfig(**config)) as second, httpx.Client(base_url=second.url) as http:
        body = http.get(f"/v1/tasks/{task_id}", headers=KEY).json()
        assert body["status"] == "completed"  # completion is never undone
        file = http.get(body["results"][0]["url"])
        assert file.status_code == 200 and looks_like_video(file.content[:12])


def test_a_task_another_live_process_renders_is_not_rendered_twice(tmp_path: Path) -> None:
    # A live process (this test's sleeping child) owns the render: the emulator waits for its file.
    store = TaskStore(tmp_path / "store")
    owner = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
    try:
        payload = {"model": "kling-v3-text-to-video", "prompt": "owned elsewhere"}
        store.add(
            StoredTask(
                "task-unified-1-ownedels",
                payload["model"],
                payload,
                time.time(),
                5.0,
                None,
                owner.pid,
                None,
                False,
                None,
            )
        )
        config = EmulatorConfig(seconds_per_video=0, store=tmp_path / "store")
        with EmulatorServer(config) as server, httpx.Client(base_url=server.url) as http:
            body = http.get("/v1/tasks/task-unified-1-ownedels", headers=KEY).json()
            assert body["status"] == "processing" and server.emulator.get("task-unified-1-ownedels").render is None
            # The owner dies: the next query takes the render over and the task completes.
            owner.kill()
            owner.wait()
            assert until_done(http, "task-unified-1-ownedels")["status"] == "completed"
            assert store.get("task-unified-1-ownedels").owner == os.getpid()  # type: ignore[union-attr]
    finally:
        owner.kill()
        owner.wait()
        store.close()


def test_reset_forgets_the_stored_tasks_too(tmp_path: Path) -> None:
    config = {"seconds_per_video": 0, "store": tmp_path / "store"}
    with EmulatorServer(EmulatorConfig(**config)) as first, httpx.Client(base_url=first.url) as http:
        task_id = http.post(SUBMIT, json={"model": "kling-v3-text-to-video", "prompt": "p"}, headers=KEY).json()["id"]
        until_done(http, task_id)
        http.post("/_emulator/reset")
    assert not list((tmp_path / "store" / "files").glob("*.mp4"))
    with EmulatorServer(EmulatorConfig(**config)) as second, httpx.Client(base_url=second.url) as http:
        assert http.get(f"/v1/tasks/{task_id}", headers=KEY).status_code == 404


def test_an_unusable_store_leaves_the_emulator_working_in_memory(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("a file where the store's directory would go")
    config = EmulatorConfig(seconds_per_video=0, store=blocker / "store", files=tmp_path / "f")
    with EmulatorServer(config) as server, httpx.Client(base_url=server.url) as http:
        task_id = http.post(SUBMIT, json={"model": "kling-v3-text-to-video", "prompt": "p"}, headers=KEY).json()["id"]
        assert until_done(http, task_id)["status"] == "completed"
    assert "emulator task store" in caplog.text


def test_process_alive() -> None:
    assert process_alive(os.getpid())
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    assert not process_alive(child.pid) and not process_alive(0) and not process_alive(-1)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(payload=st.dictionaries(st.text(max_size=12), json_values, max_size=6), created=st.floats(0, 4e9))
def test_the_store_keeps_any_request_as_it_was(tmp_path: Path, payload: dict[str, Any], created: float) -> None:
    store = TaskStore(tmp_path / "prop")
    try:
        task = StoredTask("task-unified-1-property", "m", payload, created, 1.5, None, 1, None, False, None)
        store.add(task)
        assert store.get(task.id) == task
    finally:
        store.close()


# -- a real process killed mid-render, then every surface of a new one ------------------------------
CHILD = textwrap.dedent(
    """
    import sys, threading
    from foxkling_widgets import FoxClient, VideoRequest
    from foxkling_widgets._cache import VideoCache
    from foxkling_widgets.emulator import _app

    render = _app.Emulator._render
    rendering = threading.Event()

    def held(self, task):
        # The second clip's render never ends in this process: it is killed while rendering it.
        if "still rendering" in str(task.payload.get("prompt")):
            rendering.set()
            threading.Event().wait()
        render(self, task)

    _app.Emulator._render = held
    client = FoxClient.emulator()
    client.create_voice("https://example.com/voices/narrator.mp3", name="Narrator")
    finished = VideoRequest(prompt="a fox that finished", resolution="1080p", duration=10)
    done = client.generate(finished, VideoCache().path_for("x").parent / "finished.mp4")
    running = client.submit(VideoRequest(prompt="a fox still rendering"))
    rendering.wait()
    # One line from one thread (two threads' prints can interleave within a line).
    ids = {"url": client.base_url, "finished": done.id, "running": running.id, "created": running.created}
    print(json.dumps(ids), flush=True)
    threading.Event().wait()
    """
).replace("import sys, threading", "import json, sys, threading")


def run_cli(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "foxkling_widgets.cli", *argv], capture_output=True, text=True, timeout=120
    )


def test_a_process_killed_mid_render_loses_nothing(shared: None, tmp_path: Path) -> None:
    env = {**os.environ, _server.SECONDS_ENV: "0"}
    log = tmp_path / "child.log"
    with (
        log.open("wb") as errors,
        subprocess.Popen(
            [sys.executable, "-c", CHILD], stdout=subprocess.PIPE, stderr=errors, text=True, env=env
        ) as child,
    ):
        try:
            assert child.stdout is not None
            # One line, once the running clip's render is under way.
            line = child.stdout.readline()
            assert line, f"the child ended early: {log.read_text()}"
            ids = json.loads(line)
        finally:
            child.kill()  # SIGKILL: no clean-up of any kind, as when a kernel is killed
            child.wait()  # reaped: its process id is no longer alive
    finished, running = ids["finished"], ids["running"]
    assert not (Path(os.environ["FOXKLING_CACHE_DIR"]) / "emulator" / f"{running}.mp4").exists()

    # This process: a new built-in emulator on a new port, the same journal host.
    with FoxClient.emulator() as client:
        assert client.base_url != ids["url"] and client.journal_host == EMULATOR_HOST
        history = {entry.task_id: entry for entry in client.history()}
        assert {finished, running} <= set(history)
        assert [v["name"] for v in client.voices()] == ["Narrator"]
        assert client.get_task(finished).done
        resumed = client.wait(running, timeout=120)  # rendered again by this process's emulator
        assert resumed.done and resumed.id == running and resumed.created == ids["created"]  # its own timeline

    # A third process: the CLI's status and download of the task the killed one finished.
    status = run_cli("status", finished, "--emulator")
    assert status.returncode == 0 and f"{finished} completed" in status.stdout, status.stderr
    target = tmp_path / "from-the-cli.mp4"
    download = run_cli("download", finished, "--emulator", "-o", str(target))
    assert download.returncode == 0, download.stderr
    kept = Path(os.environ["FOXKLING_CACHE_DIR"]) / "videos" / "finished.mp4"
    assert target.read_bytes() == kept.read_bytes()  # the very file the killed process rendered

    # `foxkling tasks` lists them under the host "emulator" (as it showed the old loopback rows).
    tasks = run_cli("tasks")
    rows = [line.split() for line in tasks.stdout.splitlines() if line.startswith("task-unified-")]
    assert {finished, running} <= {row[0] for row in rows} and all("emulator" in row for row in rows), tasks.stdout

    # A new widget shows both cards, the voice, and the credit estimate from earlier tasks.
    widget = KlingWidget()
    try:
        assert widget._mode == "emulator"
        cards = {g.id: g for g in widget.tasks}
        assert {finished, running} <= set(cards) and all(cards[i].restored for i in (finished, running))
        shown = cards[finished].path  # shown from its file (the CLI's download, the newest on record)
        assert cards[finished].status == "completed" and shown is not None and shown.read_bytes() == kept.read_bytes()
        assert widget.wait(running, timeout=120).status == "completed"  # followed and downloaded
        assert [v["name"] for v in widget._voices] == ["Narrator"]
        widget.resolution, widget.duration = "1080p", 10
        assert widget._credits["estimate"] == history[finished].credits_reserved == 15.0
        assert widget._credits["journal"] is not None and widget._credits["journal"] >= 15.0
    finally:
        widget.close()
