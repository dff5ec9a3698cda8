"""The teaching notebooks run top to bottom in real JupyterLab, as a class would run them.

Each is opened in Chromium and run with Run All: no cell may fail, and where a notebook shows the
studio, its clips must finish and play (for the batch notebook: a gallery of three, in sync).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright

from .conftest import Emulator, JupyterServer, launch_options
from .helpers import ALLOWED_PAGE_ERRORS, check_video, open_notebook, run_all, wait_for_widget
from .timeouts import GENERATION_MS, TEST_TIMEOUT_S

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(TEST_TIMEOUT_S)]

ROOT = Path(__file__).resolve().parents[2]
ALL_RAN = """
() => [...document.querySelectorAll('.jp-CodeCell .jp-InputArea-prompt')]
  .every((p) => /\\[\\d+\\]/.test(p.textContent))
"""
ERRORS = (
    '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"], '
    '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.error"]'
)


@pytest.mark.parametrize("name", ["teaching-demo", "batch-and-variations", "python-api"])
def test_notebook_runs_in_jupyterlab(
    name: str, jupyter_lab: JupyterServer, emulator_process: Emulator, artifacts: Path
) -> None:
    server = jupyter_lab
    shutil.copy(ROOT / "notebooks" / f"{name}.ipynb", server.root / f"{name}.ipynb")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(**launch_options())
        page = browser.new_page(viewport={"width": 1280, "height": 1400})
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        try:
            open_notebook(page, f"{server.url}/lab/tree/{name}.ipynb?token={server.token}")
            run_all(page)
            page.wait_for_function(ALL_RAN, timeout=GENERATION_MS * 2)
            failed = page.locator(ERRORS)
            assert failed.count() == 0, failed.first.inner_text()
            if name != "python-api":
                wait_for_widget(page)
                page.locator('[data-fk="task"][data-status="completed"]').first.wait_for(timeout=GENERATION_MS)
                video = check_video(page)
                assert video["scheme"] == "blob" and video["t1"] > video["t0"], video
            if name == "batch-and-variations":
                gallery = page.locator('[data-fk="gallery"]').last  # the first batch: galleries are newest first
                # Older finished batches fold into the history (issue 11): its tile, the oldest, unfolds it.
                page.locator('[data-fk="history-tile"]').last.click()
                gallery.locator('[data-fk="task"][data-status="completed"]').nth(2).wait_for(timeout=GENERATION_MS)
                assert gallery.locator('[data-fk="variation-label"]').all_inner_texts() == ["16:9", "9:16", "1:1"]
                assert page.locator('[data-fk="gallery"]').count() == 4
            page.screenshot(path=str(artifacts / f"lab-notebook-{name}.png"), full_page=True)
            unexpected = [e for e in errors if not any(a in e for a in ALLOWED_PAGE_ERRORS)]
            assert not unexpected, unexpected
        except BaseException:
            page.screenshot(path=str(artifacts / f"lab-notebook-{name}-failure.png"), full_page=True)
            raise
        finally:
            browser.close()
