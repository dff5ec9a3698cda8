"""Fixtures for real-browser tests: an emulator process, a Jupyter server, and headless Chromium.

The Jupyter server's kernels get ``FOXAPI_BASE_URL`` pointing at the emulator (its own process,
on loopback) and a throwaway ``FOXAPI_API_KEY``, so the widget runs in "live" mode over real HTTP,
and the tests can check that this key never reaches the saved notebook.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from .timeouts import SERVER_START_S

CHROMIUM = os.environ.get("FOXKLING_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(os.environ.get("FOXKLING_ARTIFACTS", Path(__file__).resolve().parents[2] / "test-artifacts"))
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",
]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # A missing browser skips these tests on a laptop, but fails them where the test command
    # promised one (it sets FOXKLING_REQUIRE_BROWSER=1).
    have_browser = Path(CHROMIUM).exists() or os.environ.get("FOXKLING_CHROMIUM") == ""
    if have_browser or os.environ.get("FOXKLING_REQUIRE_BROWSER"):
        return
    skip = pytest.mark.skip(reason=f"no Chromium at {CHROMIUM}; run scripts/test to install one")
    for item in items:
        if "browser" in item.keywords:
            item.add_marker(skip)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_http(url: str, process: subprocess.Popen[bytes], log: Path, timeout: float = SERVER_START_S) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}:\n{log.read_text(errors='replace')[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise TimeoutError(f"{url} did not answer within {timeout} s")


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@dataclass
class Emulator:
    url: str

    def stats(self) -> dict[str, Any]:
        with urllib.request.urlopen(f"{self.url}/_emulator/stats", timeout=5) as response:
            return dict(json.load(response))


@pytest.fixture(scope="session")
def emulator_process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    port = free_port()
    log = tmp_path_factory.mktemp("emulator") / "emulator.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "foxkling_widgets.emulator", "--port", str(port), "--speed", "2"],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{url}/_emulator/stats", process, log)
        yield Emulator(url)
    finally:
        stop(process)


@dataclass
class JupyterServer:
    url: str
    token: str
    root: Path
    api_key: str

    def api(self, path: str, method: str = "GET") -> Any:
        request = urllib.request.Request(f"{self.url}{path}?token={self.token}", method=method)
        with urllib.request.urlopen(request, timeout=10) as response:
            body = response.read()
            return json.loads(body) if body else None


def _start_jupyter(app: str, tmp: Path, emulator: Emulator, theme: str | None = None) -> Iterator[JupyterServer]:
    root = tmp / "root"
    root.mkdir(parents=True, exist_ok=True)
    config = tmp / "config"
    settings = config / "lab-settings"
    (settings / "@jupyterlab" / "apputils-extension").mkdir(parents=True, exist_ok=True)
    (settings / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false"})
    )
    if theme:
        (settings / "@jupyterlab" / "apputils-extension" / "themes.jupyterlab-settings").write_text(
            json.dumps({"theme": theme})
        )
    token = secrets.token_hex(16)
    api_key = f"sk-e2e-{secrets.token_hex(12)}"
    port = free_port()
    env = {
        **os.environ,
        "JUPYTER_CONFIG_DIR": str(config / "jupyter"),
        "JUPYTER_DATA_DIR": str(config / "data"),
        "JUPYTER_RUNTIME_DIR": str(config / "runtime"),
        "IPYTHONDIR": str(config / "ipython"),
        "JUPYTERLAB_SETTINGS_DIR": str(settings),
        "JUPYTERLAB_WORKSPACES_DIR": str(config / "workspaces"),
        "FOXAPI_BASE_URL": emulator.url,
        "FOXAPI_API_KEY": api_key,
        "FOXKLING_DATA_DIR": str(tmp / "fk-data"),
        "FOXKLING_CACHE_DIR": str(tmp / "fk-cache"),
        # Notebooks that ask for the built-in emulator (emulator=True) get a quick one too.
        "FOXKLING_EMULATOR_SECONDS": "2",
    }
    # The server runs on this interpreter, so its native "python3" kernel is this environment.
    log = tmp / "jupyter.log"
    with log.open("wb") as out:
        process = _popen_jupyter(app, port, token, root, env, out)
    url = f"http://127.0.0.1:{port}"
    server = JupyterServer(url, token, root, api_key)
    try:
        wait_http(f"{url}/api/status?token={token}", process, log)
        yield server
    finally:
        try:
            for session in server.api("/api/sessions") or []:
                server.api(f"/api/sessions/{session['id']}", method="DELETE")
        except OSError:
            pass
        stop(process)


def _popen_jupyter(
    app: str, port: int, token: str, root: Path, env: dict[str, str], out: Any
) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jupyter",
            app,
            "--no-browser",
            "--ip=127.0.0.1",
            f"--port={port}",
            "--ServerApp.port_retries=0",
            "--allow-root",
            f"--IdentityProvider.token={token}",
            f"--ServerApp.root_dir={root}",
        ],
        stdout=out,
        stderr=subprocess.STDOUT,
        env=env,
        start_new_session=True,
    )


@pytest.fixture
def jupyter_lab(tmp_path: Path, emulator_process: Emulator) -> Iterator[JupyterServer]:
    yield from _start_jupyter("lab", tmp_path, emulator_process)


@pytest.fixture
def jupyter_lab_dark(tmp_path: Path, emulator_process: Emulator) -> Iterator[JupyterServer]:
    yield from _start_jupyter("lab", tmp_path, emulator_process, theme="JupyterLab Dark")


@pytest.fixture
def jupyter_notebook7(tmp_path: Path, emulator_process: Emulator) -> Iterator[JupyterServer]:
    yield from _start_jupyter("notebook", tmp_path, emulator_process)


@pytest.fixture(scope="session")
def artifacts() -> Path:
    path = ARTIFACTS / "screenshots"
    path.mkdir(parents=True, exist_ok=True)
    return path


def launch_options() -> dict[str, Any]:
    options: dict[str, Any] = {"headless": True, "args": LAUNCH_ARGS}
    if CHROMIUM:
        options["executable_path"] = CHROMIUM
    return options
