"""Driving JupyterLab / Notebook 7 pages: open, wait for the kernel, run all, check a video.

Also the setup the studio's tests share: a notebook written, opened and run in its own Chromium
(:func:`notebook_page`), a second client of its kernel (:class:`KernelClient`), and typing lines
key by key (:func:`type_lines`).
"""

from __future__ import annotations

import ast
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import nbformat
from jupyter_client.blocking.client import BlockingKernelClient
from playwright.sync_api import Page, sync_playwright
from waits import until

from .conftest import ARTIFACTS, JupyterServer, launch_options
from .timeouts import KERNEL_IDLE_MS, PAGE_LOAD_MS, VIDEO_MS, WIDGET_MS

#: The one-cell notebook most studio tests open: a studio on the server's (emulated) live API.
WIDGET_CELL = "from foxkling_widgets import KlingWidget\n\nw = KlingWidget()\nw"

# Records that the kernel indicator left "idle" once: it reads idle before any kernel exists.
KERNEL_WATCH = """
window.__fkKernelBusy = false;
new MutationObserver(() => {
  const el = document.querySelector('.jp-Notebook-ExecutionIndicator');
  if (el && el.getAttribute('data-status') !== 'idle') window.__fkKernelBusy = true;
}).observe(document, {subtree: true, attributes: true, childList: true});
"""

VIDEO_CHECK = """
async (video) => {
  if (video.readyState < 2) {
    await new Promise((resolve, reject) => {
      video.addEventListener('loadeddata', resolve, {once: true});
      const fail = () => reject(new Error('video error ' + (video.error && video.error.code)));
      video.addEventListener('error', fail, {once: true});
    });
  }
  video.muted = true;
  await video.play();
  const t0 = video.currentTime;
  await new Promise((r) => setTimeout(r, 1500));
  return {
    width: video.videoWidth, height: video.videoHeight, duration: video.duration,
    t0, t1: video.currentTime, audioBytes: video.webkitAudioDecodedByteCount,
    scheme: video.currentSrc.split(':')[0],
  };
}
"""

ALLOWED_PAGE_ERRORS = ("reading 'schema'", "Not same Y.Doc")


def write_notebook(path: Path, *sources: str) -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(src) for src in sources]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)


def open_notebook(page: Page, url: str) -> None:
    page.add_init_script(KERNEL_WATCH)
    page.goto(url, timeout=PAGE_LOAD_MS)
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=PAGE_LOAD_MS)
    page.wait_for_function(
        "() => window.__fkKernelBusy && document.querySelector("
        "'.jp-Notebook-ExecutionIndicator[data-status=\"idle\"]')",
        timeout=KERNEL_IDLE_MS,
    )


def run_all(page: Page) -> None:
    page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
    page.locator('li.lm-Menu-item[data-command="runmenu:run-all"]').click()


def wait_for_widget(page: Page) -> Any:
    """Wait for the widget root, or raise the traceback a failed cell printed."""
    stderr = '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]'
    page.wait_for_selector(
        f'[data-fk="root"], {stderr}, .jp-OutputArea-output[data-mime-type="application/vnd.jupyter.error"]',
        timeout=WIDGET_MS,
    )
    errors = page.locator(f'{stderr}, .jp-OutputArea-output[data-mime-type="application/vnd.jupyter.error"]')
    if errors.count():
        raise AssertionError("a cell failed:\n" + errors.first.inner_text())
    return page.locator('[data-fk="root"]').first


def type_into(page: Page, selector: str, text: str) -> None:
    field = page.locator(selector).first
    field.click()
    page.keyboard.press("Control+a")
    field.press_sequentially(text)


def check_video(page: Page, selector: str = 'video[data-fk="video"]') -> dict[str, Any]:
    video = page.locator(selector).first
    video.wait_for(state="attached", timeout=VIDEO_MS)
    return dict(video.evaluate(VIDEO_CHECK))


def screenshots_dir() -> Path:
    """Where the browser tests put their screenshots (made on first use)."""
    path = ARTIFACTS / "screenshots"
    path.mkdir(parents=True, exist_ok=True)
    return path


def end_sessions(server: JupyterServer) -> None:
    """End every kernel session of `server` (a module-wide server outlives each test's notebook)."""
    for session in server.api("/api/sessions") or []:
        server.api(f"/api/sessions/{session['id']}", method="DELETE")


@contextmanager
def notebook_page(
    server: JupyterServer,
    name: str,
    *cells: str,
    failure_shot: Path,
    url_path: str = "lab/tree",
    viewport: tuple[int, int] = (1280, 1500),
    permissions: Sequence[str] = (),
    init_script: str | None = None,
    check_page_errors: bool = True,
    end_kernel: bool = False,
) -> Iterator[Page]:
    """A Chromium page with notebook `name` (`cells`) written into `server`'s root, open and run.

    The page's own errors are collected; once the body is done, any outside
    ``ALLOWED_PAGE_ERRORS`` fails the test (unless `check_page_errors` is off). A failure in the
    body saves a full-page screenshot to `failure_shot`. The browser is closed afterwards and,
    with `end_kernel`, the server's kernel sessions are ended.
    """
    write_notebook(server.root / f"{name}.ipynb", *cells)
    errors: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(**launch_options())
        context = browser.new_context(
            viewport={"width": viewport[0], "height": viewport[1]}, permissions=list(permissions)
        )
        page = context.new_page()
        page.on("pageerror", lambda error: errors.append(str(error)))
        try:
            if init_script is not None:
                page.add_init_script(init_script)
            open_notebook(page, f"{server.url}/{url_path}/{name}.ipynb?token={server.token}&reset")
            run_all(page)
            yield page
        except BaseException:
            page.screenshot(path=str(failure_shot), full_page=True)
            raise
        finally:
            browser.close()
            if end_kernel:
                end_sessions(server)
    if check_page_errors:
        unexpected = [e for e in errors if not any(allowed in e for allowed in ALLOWED_PAGE_ERRORS)]
        assert not unexpected, unexpected


def type_lines(page: Page, selector: str, lines: Sequence[str], breaks: Sequence[str] = ()) -> None:
    """Type `lines` into the field key by key (the keyboard, not fill), pressing each of `breaks` between two lines."""
    page.locator(selector).first.click()
    page.keyboard.press("Control+a")
    page.keyboard.press("Delete")
    for i, line in enumerate(lines):
        if i:
            page.keyboard.press(breaks[i - 1])
        page.keyboard.type(line)


class KernelClient:
    """A second client of the notebook's kernel: reads values and runs code without a cell.

    `server` must have exactly one kernel session (the test's notebook).
    """

    def __init__(self, server: JupyterServer) -> None:
        sessions = server.api("/api/sessions")
        assert len(sessions) == 1, sessions
        runtime = server.root.parent / "config" / "runtime"
        self.client = BlockingKernelClient(connection_file=str(runtime / f"kernel-{sessions[0]['kernel']['id']}.json"))
        self.client.load_connection_file()
        self.client.start_channels()

    def _reply(self, msg_id: str, timeout_s: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        while True:
            reply = self.client.get_shell_msg(timeout=max(1.0, deadline - time.monotonic()))
            if reply["parent_header"].get("msg_id") == msg_id:
                return dict(reply)

    def value(self, expression: str) -> Any:
        """The value of `expression` in the kernel (a Python literal)."""
        # silent: no execution count, no output, so the notebook shows nothing of it.
        msg_id = self.client.execute("", silent=True, user_expressions={"v": expression})
        result = self._reply(msg_id, 30)["content"]["user_expressions"]["v"]
        assert result["status"] == "ok", result
        return ast.literal_eval(result["data"]["text/plain"])

    def run(self, code: str, timeout_s: float = 30) -> None:
        """Run `code` silently (no execution count, no output in the notebook)."""
        reply = self._reply(self.client.execute(code, silent=True), timeout_s)
        assert reply["content"]["status"] == "ok", reply["content"]

    def wait_for(self, expression: str, expected: Any, timeout_s: float = 30) -> None:
        """Poll `expression` until it equals `expected`, or fail with its last value."""
        deadline = time.monotonic() + timeout_s
        value = None
        while time.monotonic() < deadline:
            value = self.value(expression)
            if value == expected:
                return
            time.sleep(0.2)
        raise AssertionError(f"{expression} = {value!r}, expected {expected!r}")

    def close(self) -> None:
        self.client.stop_channels()


def wait_for(predicate: Any, timeout_s: float, what: str) -> None:
    """Poll a page-reading ``predicate`` every 0.1 s until it holds; fail after ``timeout_s``."""
    until(predicate, what, timeout_s=timeout_s, every_s=0.1)


def generate_variations(page: Page, count: int) -> Any:
    """Press Generate once it offers ``count`` variations; return the batch's gallery (a Locator) once shown."""
    page.wait_for_function(
        f"() => document.querySelector('[data-fk=\"generate\"]').textContent === 'Generate {count} variations'",
        timeout=30_000,
    )
    page.click('[data-fk="generate"]')
    gallery = page.locator('[data-fk="gallery"]').first
    gallery.wait_for(timeout=30_000)
    return gallery
