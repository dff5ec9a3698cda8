"""Progressive playback in real JupyterLab: a real-size clip plays before its last chunk is here.

The clip is the emulator's real-size render of 3 s of 4k (~30 MB, 15 chunks), shown as a finished
task. JupyterLab's Chromium has Media Source Extensions, so the view asks for fragmented MP4 and
appends each chunk as it comes: the card's ``<video>`` must fire ``playing`` while the loader still
reports less than the whole clip ("Loading video n %" with n < 100), play to its end, and Download
must still save the kernel's original file, byte for byte.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import JupyterServer
from .helpers import notebook_page, wait_for_widget
from .timeouts import GENERATION_MS, TEST_TIMEOUT_S, VIDEO_MS

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(TEST_TIMEOUT_S)]

CLIP = "progressive-clip.mp4"

SETUP_CELL = f"""
import logging
from pathlib import Path
from foxkling_widgets import KlingWidget, VideoRequest
from foxkling_widgets._controller import Generation
from foxkling_widgets.emulator._render import render_video

path = Path({CLIP!r}).resolve()
payload = {{"model": "kling-v3-text-to-video", "prompt": "a fox", "duration": 3, "resolution": "4k"}}
render_video(payload, path, real_size=True)
w = KlingWidget()
w._controller.add_finished(
    Generation(VideoRequest(prompt="a fox"), id="task-progressive", status="completed", progress=100.0,
               path=path, watching=False)
)
w
"""

# Per studio video: the loading note when it first played (the loader's received/total), and
# whether it ended. Muted play() as soon as there is a frame, as a user pressing play would.
WATCH = """
window.__fkPlay = { playing: null, ended: false, loadingAtPlaying: null };
document.addEventListener("loadeddata", (event) => {
  const video = event.target;
  if (!video.matches || !video.matches('video[data-fk="video"]') || video.__fkSeen) return;
  video.__fkSeen = true;
  video.muted = true;
  video.play().catch(() => {});
}, true);
document.addEventListener("playing", (event) => {
  const video = event.target;
  if (!video.matches || !video.matches('video[data-fk="video"]') || window.__fkPlay.playing !== null) return;
  const note = video.closest('[data-fk="task"]').querySelector('[data-fk="video-loading"]');
  window.__fkPlay.playing = video.currentTime;
  window.__fkPlay.loadingAtPlaying = note.hidden ? null : note.textContent;
}, true);
document.addEventListener("ended", (event) => {
  if (event.target.matches && event.target.matches('video[data-fk="video"]')) window.__fkPlay.ended = true;
}, true);
"""


def test_a_real_size_clip_plays_before_its_last_chunk_and_to_the_end(
    jupyter_lab: JupyterServer, tmp_path: Path, artifacts: Path
) -> None:
    with notebook_page(
        jupyter_lab,
        "progressive",
        SETUP_CELL,
        failure_shot=artifacts / "progressive-failure.png",
        init_script=WATCH,
    ) as page:
        wait_for_widget(page)
        page.wait_for_function("() => window.__fkPlay.playing !== null", timeout=GENERATION_MS)
        watched = page.evaluate("window.__fkPlay")
        # It played while the loader still had part of the clip to come.
        loading = watched["loadingAtPlaying"]
        assert loading is not None and loading.startswith("Loading video"), watched
        assert "100 %" not in loading, watched
        page.wait_for_function("() => window.__fkPlay.ended", timeout=VIDEO_MS)
        video = page.locator('video[data-fk="video"]').first
        state = video.evaluate("(v) => ({t: v.currentTime, error: v.error && v.error.code, src: v.src})")
        assert state["t"] > 2.5 and state["error"] is None and state["src"].startswith("blob:"), state
        assert page.locator('[data-fk="video-loading"]').first.is_hidden()  # every byte came
        with page.expect_download(timeout=VIDEO_MS) as info:
            page.locator('[data-fk="download"]').first.click()
        saved = tmp_path / "saved.mp4"
        info.value.save_as(saved)
        assert saved.read_bytes() == (jupyter_lab.root / CLIP).read_bytes()  # the original, not the stream
        assert page.locator('[data-fk="video-error"]:not([hidden])').count() == 0
        page.screenshot(path=str(artifacts / "progressive.png"), full_page=True)
