"""Nothing is lost when the kernel dies mid-generation: a new kernel's widget finishes the paid task.

The emulator runs as its own process (it outlives the kernels, like the real API), so its POST
count tells whether anything was submitted twice.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from jupyter_client.manager import start_new_kernel

pytestmark = [pytest.mark.kernel, pytest.mark.slow, pytest.mark.timeout(300)]


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[str]:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    log = (tmp_path / "emulator.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "foxkling_widgets.emulator", "--port", str(port), "--speed", "6"], stdout=log, stderr=log
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                urllib.request.urlopen(f"{url}/_emulator/stats", timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(10)
        log.close()


def stats(url: str) -> dict[str, int]:
    with urllib.request.urlopen(f"{url}/_emulator/stats", timeout=5) as response:
        return dict(json.load(response))


def run(client: object, code: str) -> str:
    out: list[str] = []

    def hook(msg: dict) -> None:  # type: ignore[type-arg]
        if msg["msg_type"] == "stream":
            out.append(msg["content"]["text"])
        elif msg["msg_type"] == "error":
            out.append("\n".join(msg["content"]["traceback"]))

    reply = client.execute_interactive(code, timeout=120, output_hook=hook)  # type: ignore[attr-defined]
    assert reply["content"]["status"] == "ok", "".join(out)
    return "".join(out)


def test_kernel_killed_mid_generation(emulator: str, tmp_path: Path) -> None:
    env = {
        **os.environ,
        "FOXAPI_BASE_URL": emulator,
        "FOXAPI_API_KEY": "sk-restart-test",
        "FOXKLING_DATA_DIR": str(tmp_path / "data"),
        "FOXKLING_CACHE_DIR": str(tmp_path / "cache"),
    }
    manager, client = start_new_kernel(kernel_name="python3", env=env)
    try:
        task_id = run(
            client,
            "import time\nfrom foxkling_widgets import KlingWidget\n"
            "w = KlingWidget()\nw.prompt = 'paid for'\nw.generate_nowait()\n"
            "while not w.tasks[0].id.startswith('task-'): time.sleep(0.05)\nprint(w.tasks[0].id, w.tasks[0].status)",
        ).split()[0]
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)  # killed before the task finished (it takes 6 s)
    assert stats(emulator)["posts"] == 1 and stats(emulator)["downloads"] == 0

    manager, client = start_new_kernel(kernel_name="python3", env=env)
    try:
        started = time.monotonic()
        out = run(
            client,
            "import time\nfrom foxkling_widgets import KlingWidget\nw = KlingWidget()\n"
            "while not (w.tasks and w.tasks[0].done): time.sleep(0.05)\n"
            "g = w.tasks[0]\nprint(g.id, g.status, g.path.exists())",
        )
        recovery = time.monotonic() - started
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)
    assert out.split() == [task_id, "completed", "True"]
    assert stats(emulator)["posts"] == 1
    print(f"restart recovery: {recovery:.1f} s from the new widget to the finished, downloaded video")
