"""A 32 MB clip through the chunked transport in real JupyterLab: as is, and with buffers dropped.

The clip is a real emulator MP4 grown with a top-level ``free`` box (players skip it), shown as
a finished task. In the second test the page drops every binary buffer the kernel sends, as
Colab's widget manager does (googlecolab/colab-cdn-widget-manager#33): the view's probe must
notice, ask for base64 chunks, and the video must still play and download, asked for once.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, sync_playwright

from .conftest import JupyterServer, launch_options
from .helpers import ALLOWED_PAGE_ERRORS, check_video, open_notebook, run_all, wait_for_widget, write_notebook
from .timeouts import GENERATION_MS, TEST_TIMEOUT_S

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(TEST_TIMEOUT_S)]

SIZE = 32 * 1024 * 1024 + 777

SETUP_CELL = f"""
import os
from foxkling_widgets import FoxClient, KlingWidget, VideoRequest
from foxkling_widgets._controller import Generation

def _pad(path, size):
    # A top-level free box at the end: players skip it, and the file is {SIZE} bytes.
    extra = size - os.path.getsize(path)
    with open(path, "ab") as out:
        out.write(extra.to_bytes(4, "big") + b"free")
        left = extra - 8
        while left:
            out.write(bytes(min(left, 1 << 20)))
            left -= min(left, 1 << 20)

import logging
w = KlingWidget()
request = VideoRequest(prompt="a fox in the snow")
path = w._controller.cache.path_for("task-big-1")
# Quiet while making the clip: a stderr line (any warning) would read as a failed cell.
logging.getLogger("foxkling_widgets").setLevel(logging.ERROR)
with FoxClient() as client:
    task = client.generate(request, path)
logging.getLogger("foxkling_widgets").setLevel(logging.NOTSET)
_pad(path, {SIZE})
w._controller.add_finished(
    Generation(request, id="task-big-1", status="completed", progress=100.0, task=task, path=path, watching=False)
)
"""

# Counts the view's video requests on the kernel's websocket, and optionally drops every binary
# buffer the kernel sends. JupyterLab then talks the default websocket protocol (no subprotocol
# asked for), in which a message travels as a binary frame exactly when it has buffers: such a
# frame is turned back into the message's JSON text alone, so the model gets no buffers, as on Colab.
WEBSOCKET_PATCH = """
(dropBuffers) => {
  const Native = window.WebSocket;
  window.__fkVideoRequests = 0;
  window.__fkDroppedFrames = 0;
  const strip = (event) => {
    if (!(event.data instanceof ArrayBuffer)) return event;
    const view = new DataView(event.data);
    const parts = view.getUint32(0);
    const start = view.getUint32(4);
    const end = parts > 1 ? view.getUint32(8) : event.data.byteLength;
    window.__fkDroppedFrames += 1;
    return { data: new TextDecoder().decode(new Uint8Array(event.data, start, end - start)) };
  };
  class Patched extends Native {
    constructor(url, protocols) {
      const kernel = String(url).includes("/api/kernels/");
      super(url, kernel ? undefined : protocols);
      this.__fkKernel = kernel;
    }
    set onmessage(handler) {
      const wrap = this.__fkKernel && dropBuffers && handler;
      super.onmessage = wrap ? (event) => handler.call(this, strip(event)) : handler;
    }
    get onmessage() {
      return super.onmessage;
    }
    send(data) {
      if (this.__fkKernel && typeof data === "string") {
        window.__fkVideoRequests += (data.match(/"kind":"video-request"/g) || []).length;
      }
      super.send(data);
    }
  }
  window.WebSocket = Patched;
}
"""


def _page_errors(page: Page) -> list[str]:
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    return errors


def _play_and_download(
    server: JupyterServer, tmp_path: Path, artifacts: Path, name: str, drop_buffers: bool
) -> dict[str, Any]:
    notebook = server.root / f"{name}.ipynb"
    write_notebook(notebook, SETUP_CELL, "w")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(**launch_options())
        page = browser.new_page(viewport={"width": 1280, "height": 1000}, accept_downloads=True)
        errors = _page_errors(page)
        page.add_init_script(f"({WEBSOCKET_PATCH})({'true' if drop_buffers else 'false'})")
        try:
            open_notebook(page, f"{server.url}/lab/tree/{notebook.name}?token={server.token}&reset")
            run_all(page)
            root = wait_for_widget(page)
            page.wait_for_selector('video[data-fk="video"][src^="blob:"]', state="attached", timeout=GENERATION_MS)
            video = check_video(page)
            requests = page.evaluate("window.__fkVideoRequests")  # for playing it
            with page.expect_download(timeout=60_000) as info:
                page.locator('[data-fk="download"]').first.click()
            saved = tmp_path / f"{name}.mp4"
            info.value.save_as(saved)
            result = {
                "video": video,
                "encoding": root.get_attribute("data-video-encoding"),
                "requests": requests,
                # Where the page plays a fragmented copy (Media Source Extensions), Download asks for the original.
                "download_requests": page.evaluate("window.__fkVideoRequests") - requests,
                "dropped": page.evaluate("window.__fkDroppedFrames"),
                "download": saved.stat().st_size,
                "head": saved.read_bytes()[4:8],
                "failures": page.locator('[data-fk="video-error"]:not([hidden])').count(),
                "errors": [e for e in errors if not any(a in e for a in ALLOWED_PAGE_ERRORS)],
            }
            page.screenshot(path=str(artifacts / f"{name}.png"), full_page=True)
        except Exception:
            page.screenshot(path=str(artifacts / f"{name}-failure.png"), full_page=True)
            raise
        finally:
            browser.close()
    return result


def _check(result: dict[str, Any]) -> None:
    video = result["video"]
    assert video["scheme"] == "blob" and video["width"] > 0 and video["duration"] > 0, video
    assert video["t1"] > video["t0"], video
    assert result["download"] == SIZE and result["head"] == b"ftyp", result
    assert result["requests"] == 1, result  # asked for once: no re-request loop
    assert result["download_requests"] <= 1, result
    assert result["failures"] == 0 and result["errors"] == [], result


def test_a_32_mb_clip_plays_and_downloads(jupyter_lab: JupyterServer, tmp_path: Path, artifacts: Path) -> None:
    result = _play_and_download(jupyter_lab, tmp_path, artifacts, "transport-binary", drop_buffers=False)
    _check(result)
    assert result["encoding"] == "binary" and result["dropped"] == 0, result


def test_a_host_that_drops_buffers_gets_base64_and_still_plays(
    jupyter_lab: JupyterServer, tmp_path: Path, artifacts: Path
) -> None:
    result = _play_and_download(jupyter_lab, tmp_path, artifacts, "transport-no-buffers", drop_buffers=True)
    _check(result)
    # The probe's answer lost its buffer, so the view asked for text chunks from the start.
    assert result["encoding"] == "base64" and result["dropped"] >= 1, result
