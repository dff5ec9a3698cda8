"""The studio in other hosts than JupyterLab: marimo, Voilà, and a notebook exported to HTML.

The same person's path in each live host: the studio renders, a two-line prompt is typed key by
key (Enter included), Generate starts a clip on the built-in emulator, the card's status and
progress change while it runs, the video decodes and plays, and the page logs no errors. The
exported HTML has no kernel: it renders the saved studio, and Generate says it is a saved copy.
"""

from __future__ import annotations

import functools
import http.server
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient
from playwright.sync_api import ConsoleMessage, Page, Route, sync_playwright

from .conftest import free_port, launch_options, stop, wait_http
from .helpers import check_video, write_notebook
from .timeouts import GENERATION_MS, PAGE_LOAD_MS, TEST_TIMEOUT_S, WIDGET_MS

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(TEST_TIMEOUT_S)]

ROOT = Path(__file__).resolve().parents[2]
FIRST_LINE = "A red fox trots through fresh snow"
SECOND_LINE = "Close-up: its breath steams at dawn"
SAVED_COPY = "This is a saved copy: run the notebook with a kernel to generate."
WIDGET_CELL = "from foxkling_widgets import KlingWidget\n\nw = KlingWidget(emulator=True)\nw"

# Console errors that say nothing about the studio. Each needs its reason.
ALLOWED_CONSOLE = (
    # A browser asks every server for a favicon; marimo's and Voilà's test servers have none.
    "favicon.ico",
)
ALLOWED_VOILA = (
    # Voilà's page links Font Awesome from a CDN; these tests are offline (the studio uses no icons font).
    "/npm/@fortawesome/fontawesome-free@",
    # Voilà loads every installed JupyterLab extension; Notebook 7's own extension needs
    # Notebook's document registry, which Voilà's page does not provide, and fails to load.
    "@jupyter-notebook/lab-extension/static/remoteEntry",
)
ALLOWED_EXPORT = (
    # The exported page asks a CDN for more than the widget needs (MathJax, fonts); these tests
    # are offline, so those requests are refused and Chromium logs each refusal.
    "net::ERR_FAILED",
    # The html-manager's module loader looks for a widget module next to the page before it
    # asks the CDN (where the test serves anywidget from): the first try is a 404 by design.
    "/anywidget.js)",
)


@contextmanager
def _server(command: list[str], env: dict[str, str], ready_url: str, log: Path) -> Iterator[None]:
    """Run a host's server in its own process group until the block ends."""
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    try:
        wait_http(ready_url, process, log)
        yield
    finally:
        stop(process)


def _host_env(tmp: Path) -> dict[str, str]:
    """The server's (and so its kernels') environment: throwaway journal, cache and Jupyter dirs."""
    config = tmp / "config"
    return {
        **os.environ,
        "JUPYTER_CONFIG_DIR": str(config / "jupyter"),
        "JUPYTER_DATA_DIR": str(config / "data"),
        "JUPYTER_RUNTIME_DIR": str(config / "runtime"),
        "IPYTHONDIR": str(config / "ipython"),
        "FOXKLING_DATA_DIR": str(tmp / "fk-data"),
        "FOXKLING_CACHE_DIR": str(tmp / "fk-cache"),
        # The built-in emulator takes this long per clip: long enough to see progress change.
        "FOXKLING_EMULATOR_SECONDS": "4",
    }


def _console_errors(page: Page) -> list[str]:
    errors: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            errors.append(f"console: {message.text} ({message.location.get('url', '')})")

    page.on("console", on_console)
    page.on("pageerror", lambda error: errors.append(f"pageerror: {error}"))
    return errors


def _unexpected(errors: list[str], allowed: tuple[str, ...] = ALLOWED_CONSOLE) -> list[str]:
    return [e for e in errors if not any(a in e for a in allowed)]


def _watch_card(page: Page) -> list[tuple[str, int]]:
    """Follow the newest card until it ends; returns each (status, progress) it showed."""
    card = page.locator('[data-fk="task"]').first
    card.wait_for(timeout=30_000)
    seen: list[tuple[str, int]] = []
    deadline = time.monotonic() + GENERATION_MS / 1000
    while time.monotonic() < deadline:
        status, progress = card.get_attribute("data-status"), card.get_attribute("data-progress")
        state = (str(status), int(progress or 0))
        if not seen or seen[-1] != state:
            seen.append(state)
        if status in ("completed", "failed", "uncertain", "stopped"):
            break
        time.sleep(0.1)
    return seen


def _type_prompt(page: Page) -> str:
    """Type two lines with real key presses (Enter between them); returns what the field holds."""
    field = page.locator('[data-fk="prompt"]').first
    field.click()
    page.keyboard.press("Control+a")
    field.press_sequentially(FIRST_LINE)
    page.keyboard.press("Enter")
    field.press_sequentially(SECOND_LINE)
    return field.input_value()


def _live_scenario(page: Page, name: str, shots: Path) -> dict[str, Any]:
    """The path in a host with a kernel; the page is open and the studio is on its way."""
    root = page.locator('[data-fk="root"]').first
    root.wait_for(timeout=WIDGET_MS)
    assert root.get_attribute("data-mode") == "emulator"
    typed = _type_prompt(page)
    assert typed == f"{FIRST_LINE}\n{SECOND_LINE}", f"{name}: the prompt field holds {typed!r}"
    # The kernel validates the new prompt; Generate is on once it has answered.
    generate = page.locator('[data-fk="generate"]').first
    page.wait_for_function("(el) => !el.disabled", arg=generate.element_handle(), timeout=30_000)
    page.screenshot(path=str(shots / f"{name}-1-typed.png"), full_page=True)
    generate.click()

    seen = _watch_card(page)
    assert seen[-1] == ("completed", 100), seen
    assert len(seen) >= 3, f"the card did not change while it ran: {seen}"  # e.g. submitting, processing 40, done
    assert [p for _s, p in seen] == sorted(p for _s, p in seen), seen
    notice = page.locator('[data-fk="notice"]').first
    assert notice.is_hidden(), notice.inner_text()  # a live kernel: no "saved copy" notice

    video = check_video(page)
    assert video["scheme"] == "blob", video
    assert video["width"] > 0 and video["height"] > 0 and video["duration"] > 0, video
    assert video["t1"] > video["t0"], video
    page.screenshot(path=str(shots / f"{name}-2-playing.png"), full_page=True)
    return {"states": seen, "video": video}


def _with_page(name: str, shots: Path, body: Callable[[Page], None], route: Any = None) -> list[str]:
    """Run ``body`` on a fresh page; a failure leaves a screenshot. Returns the page's errors."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(**launch_options())
        page = browser.new_page(viewport={"width": 1280, "height": 1400})
        if route is not None:
            page.route(re.compile(r"^https?://(?!127\.0\.0\.1[:/])"), route)
        errors = _console_errors(page)
        try:
            body(page)
        except BaseException:
            page.screenshot(path=str(shots / f"{name}-failure.png"), full_page=True)
            raise
        finally:
            browser.close()
    return errors


# -- marimo -----------------------------------------------------------------------------------

MARIMO_APP = """import marimo

app = marimo.App()


@app.cell
def _():
    import marimo as mo

    from foxkling_widgets import KlingWidget

    studio = mo.ui.anywidget(KlingWidget(emulator=True))
    studio
    return


if __name__ == "__main__":
    app.run()
"""


# The lowest supported marimo (pyproject's marimo extra) lives in an environment of its own;
# scripts/test makes it and names its interpreter here. The newest is the test environment's.
MARIMO_LOWEST_PYTHON = os.environ.get("FOXKLING_MARIMO_LOWEST_PYTHON", "")


@pytest.mark.parametrize(
    "python", [pytest.param(sys.executable, id="installed"), pytest.param(MARIMO_LOWEST_PYTHON, id="lowest")]
)
def test_marimo(python: str, tmp_path: Path, artifacts: Path) -> None:
    """``mo.ui.anywidget(KlingWidget())`` in a marimo app (``marimo run``, which runs it on open)."""
    if not python:
        if os.environ.get("FOXKLING_REQUIRE_BROWSER"):
            pytest.fail("FOXKLING_MARIMO_LOWEST_PYTHON is not set: scripts/test makes that environment")
        pytest.skip("no environment with the lowest supported marimo (FOXKLING_MARIMO_LOWEST_PYTHON)")
    version = subprocess.run(
        [python, "-c", "import marimo; print(marimo.__version__)"], check=True, capture_output=True, text=True
    ).stdout.strip()
    app = tmp_path / "studio_app.py"
    app.write_text(MARIMO_APP)
    port = free_port()
    command = [python, "-m", "marimo", "run", str(app), "--headless", "--host", "127.0.0.1", "--port", str(port)]
    url = f"http://127.0.0.1:{port}"
    env = _host_env(tmp_path)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)  # this checkout
    name = f"marimo-{version}"
    with _server(command, env, f"{url}/health", tmp_path / "marimo.log"):
        errors = _with_page(
            name, artifacts, lambda page: _opened(page, url, lambda: _live_scenario(page, name, artifacts))
        )
    print(f"marimo {version}: the studio works")
    assert not _unexpected(errors), "\n".join(_unexpected(errors))


def _opened(page: Page, url: str, then: Callable[[], object]) -> None:
    page.goto(url, timeout=PAGE_LOAD_MS)
    then()


# -- Voilà --------------------------------------------------------------------------------------


def test_voila(tmp_path: Path, artifacts: Path) -> None:
    """The studio in a Voilà dashboard (the notebook runs when the page is asked for)."""
    root = tmp_path / "root"
    root.mkdir()
    write_notebook(root / "studio.ipynb", WIDGET_CELL)
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "voila",
        "--no-browser",
        f"--port={port}",
        "--Voila.ip=127.0.0.1",
        "--Voila.port_retries=0",
        str(root / "studio.ipynb"),
    ]
    url = f"http://127.0.0.1:{port}"
    # A static file answers once the server is up, without starting a kernel (the page itself would).
    with _server(command, _host_env(tmp_path), f"{url}/voila/static/voila.js", tmp_path / "voila.log"):
        errors = _with_page(
            "voila", artifacts, lambda page: _opened(page, url, lambda: _live_scenario(page, "voila", artifacts))
        )
    unexpected = _unexpected(errors, (*ALLOWED_CONSOLE, *ALLOWED_VOILA))
    assert not unexpected, "\n".join(unexpected)


# -- exported HTML ------------------------------------------------------------------------------

NODE_MODULES = ROOT / "js" / "node_modules"


def _offline_cdn(refused: list[str]) -> Callable[[Route], None]:
    """Answer the exported page's CDN requests from local copies (these tests have no network).

    The html-manager and require.js come from the npm packages in js/ (devDependencies), and
    anywidget's AMD module from the installed Python package, the version the kernel ran.
    """
    import anywidget

    manager = NODE_MODULES / "@jupyter-widgets" / "html-manager" / "dist"
    files = {
        "html-manager": manager,
        "require": NODE_MODULES / "requirejs" / "require.js",
        "anywidget": Path(anywidget.__file__).parent / "nbextension" / "index.js",
    }

    def handle(route: Route) -> None:
        url = route.request.url
        path = None
        if "/@jupyter-widgets/html-manager@" in url:
            path = files["html-manager"] / url.split("/dist/", 1)[1].split("?", 1)[0]
        elif re.search(r"/require(\.min)?\.js$", url):
            path = files["require"]
        elif "/anywidget@" in url and url.endswith(".js"):
            path = files["anywidget"]
        if path is None or not path.is_file():
            refused.append(url)
            route.abort("failed")
            return
        route.fulfill(path=path, content_type="application/javascript" if path.suffix == ".js" else None)

    return handle


@contextmanager
def _static_server(directory: Path) -> Iterator[str]:
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(directory)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_exported_html_says_it_is_a_saved_copy(
    tmp_path: Path, artifacts: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """nbconvert's HTML of an executed notebook renders the saved studio; Generate says why it cannot."""
    if not (NODE_MODULES / "@jupyter-widgets" / "html-manager").is_dir():
        pytest.fail("js/node_modules has no @jupyter-widgets/html-manager: run npm install in js/")
    monkeypatch.setenv("FOXKLING_EMULATOR_SECONDS", "1")
    notebook = tmp_path / "saved.ipynb"
    write_notebook(notebook, WIDGET_CELL + "", "w.prompt = 'A red fox in snow'\ntask = await w.generate()")
    nb = nbformat.read(notebook, as_version=4)
    NotebookClient(
        nb, timeout=180, kernel_name="python3", store_widget_state=True, resources={"metadata": {"path": str(tmp_path)}}
    ).execute()
    nbformat.write(nb, notebook)
    subprocess.run(
        [sys.executable, "-m", "jupyter", "nbconvert", "--to", "html", str(notebook)],
        check=True,
        capture_output=True,
        timeout=120,
    )
    exported = tmp_path / "saved.html"
    assert "object at 0x" not in exported.read_text()

    refused: list[str] = []

    def body(page: Page) -> None:
        page.goto(f"{url}/saved.html", timeout=PAGE_LOAD_MS)
        page.locator('[data-fk="root"]').first.wait_for(timeout=WIDGET_MS)
        # Rendered from the saved state: the finished card, with its poster.
        card = page.locator('[data-fk="task"]').first
        card.wait_for(timeout=30_000)
        assert card.get_attribute("data-status") == "completed", card.inner_text()
        assert page.locator('[data-fk="prompt"]').first.input_value() == "A red fox in snow"
        generate = page.locator('[data-fk="generate"]').first
        if generate.is_enabled():
            generate.click()  # the press that used to be swallowed for good
        notice = page.locator('[data-fk="notice"]').first
        notice.wait_for(state="visible", timeout=30_000)
        assert notice.inner_text() == SAVED_COPY
        assert generate.is_disabled()
        page.screenshot(path=str(artifacts / "exported-html-saved-copy.png"), full_page=True)

    with _static_server(tmp_path) as url:
        errors = _with_page("exported-html", artifacts, body, route=_offline_cdn(refused))
    served = {"html-manager", "require", "anywidget"}
    assert not [u for u in refused if any(name in u for name in served)], refused
    unexpected = _unexpected(errors, (*ALLOWED_CONSOLE, *ALLOWED_EXPORT))
    assert not unexpected, "\n".join(unexpected)
