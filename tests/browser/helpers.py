"""Driving JupyterLab / Notebook 7 pages: open, wait for the kernel, run all, check a video."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import nbformat
from playwright.sync_api import Page

from .timeouts import KERNEL_IDLE_MS, PAGE_LOAD_MS, VIDEO_MS, WIDGET_MS

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
