"""A page whose player cannot decode AAC (as VS Code's desktop build) gets the clip with MP3 audio, in JupyterLab.

The page's ``canPlayType`` is patched to answer "" for AAC in MP4, as VS Code's webview does
(microsoft/vscode#162062). The view must then ask for ``audio: "mp3"``, and the clip it gets must
play with its audio decoded (Chromium decodes MP3 and counts the bytes), and be the kernel's
MP3-audio copy, byte for byte in size.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright

from .conftest import JupyterServer, launch_options
from .helpers import ALLOWED_PAGE_ERRORS, check_video, open_notebook, run_all, wait_for_widget, write_notebook
from .timeouts import GENERATION_MS, TEST_TIMEOUT_S

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(TEST_TIMEOUT_S)]

SETUP_CELL = """
import logging
from foxkling_widgets import FoxClient, KlingWidget, VideoRequest
from foxkling_widgets._controller import Generation

w = KlingWidget()
request = VideoRequest(prompt="a fox in the snow", generate_audio=True)
path = w._controller.cache.path_for("task-sound-1")
# Quiet while making the clip: a stderr line (any warning) would read as a failed cell.
logging.getLogger("foxkling_widgets").setLevel(logging.ERROR)
with FoxClient() as client:
    task = client.generate(request, path)
logging.getLogger("foxkling_widgets").setLevel(logging.NOTSET)
w._controller.add_finished(
    Generation(request, id="task-sound-1", status="completed", progress=100.0, task=task, path=path, watching=False)
)
"""

# No AAC here, as in VS Code; and count the video requests that ask for MP3 audio.
NO_AAC_PATCH = """
(() => {
  const native = HTMLMediaElement.prototype.canPlayType;
  HTMLMediaElement.prototype.canPlayType = function (type) {
    return /mp4a/i.test(String(type)) ? "" : native.call(this, type);
  };
  window.__fkMp3Requests = 0;
  const send = WebSocket.prototype.send;
  WebSocket.prototype.send = function (data) {
    // JupyterLab's kernel protocol sends binary frames (the JSON parts are UTF-8 text inside).
    const text = typeof data === "string" ? data : new TextDecoder().decode(data);
    if (text.includes('"kind":"video-request"') && text.includes('"audio":"mp3"')) {
      window.__fkMp3Requests += 1;
    }
    return send.call(this, data);
  };
})();
"""


def test_a_player_without_aac_gets_mp3_audio_and_decodes_it(jupyter_lab: JupyterServer, artifacts: Path) -> None:
    notebook = jupyter_lab.root / "mp3-audio.ipynb"
    write_notebook(notebook, SETUP_CELL, "w")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(**launch_options())
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.add_init_script(NO_AAC_PATCH)
        try:
            open_notebook(page, f"{jupyter_lab.url}/lab/tree/{notebook.name}?token={jupyter_lab.token}&reset")
            run_all(page)
            wait_for_widget(page)
            page.wait_for_selector('video[data-fk="video"][src^="blob:"]', state="attached", timeout=GENERATION_MS)
            video = check_video(page)
            requests = page.evaluate("window.__fkMp3Requests")
            played = page.locator('video[data-fk="video"]').first.evaluate(
                "async (video) => (await (await fetch(video.currentSrc)).blob()).size"
            )
            page.screenshot(path=str(artifacts / "mp3-audio.png"), full_page=True)
        except Exception:
            page.screenshot(path=str(artifacts / "mp3-audio-failure.png"), full_page=True)
            raise
        finally:
            browser.close()
    assert requests == 1, (requests, video)
    # What played is the kernel's MP3-audio copy (this Chromium would decode AAC too: the count alone proves little).
    copies = list((jupyter_lab.root.parent / "fk-cache").rglob("task-sound-1.mp3audio.mp4"))
    assert len(copies) == 1 and played == copies[0].stat().st_size, (copies, played)
    assert video["scheme"] == "blob" and video["width"] > 0 and video["t1"] > video["t0"], video
    assert video["audioBytes"] > 0, video  # the MP3 track was decoded
    assert [e for e in errors if not any(a in e for a in ALLOWED_PAGE_ERRORS)] == []
