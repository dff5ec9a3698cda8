"""The widget in real JupyterLab 4 and Notebook 7, in headless Chromium, against the emulator.

A person's path: open a notebook, run it, type a prompt, pick 9:16 and 10 s, turn audio on,
lay out two shots (first an invalid 6 + 3, which must show an error and send nothing, then
6 + 4), generate, watch progress reach 100, and play the video (9:16, 10 s, with audio).
Then save the notebook: the key must not be in it, and it must stay small.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, sync_playwright

from .conftest import Emulator, JupyterServer, launch_options
from .helpers import (
    ALLOWED_PAGE_ERRORS,
    check_video,
    open_notebook,
    run_all,
    type_into,
    wait_for_widget,
    write_notebook,
)
from .timeouts import GENERATION_MS, TEST_TIMEOUT_S

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(TEST_TIMEOUT_S)]

ROOT = Path(__file__).resolve().parents[2]
WIDGET_CELL = "from foxkling_widgets import KlingWidget\n\nw = KlingWidget()\nw"


def _page_errors(page: Page) -> list[str]:
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    return errors


def _set_segment(page: Page, index: int, prompt: str, seconds: int) -> None:
    segment = page.locator('[data-fk="segment"]').nth(index)
    segment.locator('[data-fk="segment-prompt"]').fill(prompt)
    duration = segment.locator('[data-fk="segment-duration"]')
    duration.fill(str(seconds))
    duration.press("Tab")


def _generate_flow(page: Page, server: JupyterServer, emulator: Emulator, name: str, shots: Path) -> dict[str, Any]:
    root = wait_for_widget(page)
    # The kernel has a key and a loopback FOXAPI_BASE_URL: a loopback host is reported as the emulator.
    assert root.get_attribute("data-mode") == "emulator"
    type_into(page, '[data-fk="prompt"]', "A red fox trots through fresh snow at dawn")
    page.click('[data-fk="aspect"] [data-value="9:16"]')
    page.click('[data-fk="duration"] [data-value="10"]')
    page.check('[data-fk="audio"]')
    page.screenshot(path=str(shots / f"{name}-1-controls.png"), full_page=True)
    page.check('[data-fk="multishot"]')
    segments = page.locator('[data-fk="segment"]')
    segments.first.wait_for()
    while segments.count() > 2:
        segments.nth(segments.count() - 1).locator('[data-fk="remove-segment"]').click()
    while segments.count() < 2:
        page.click('[data-fk="add-segment"]')

    # An invalid layout: 6 + 3 = 9 s for a 10 s clip. The error shows and nothing is sent.
    posts_before = emulator.stats()["posts"]
    _set_segment(page, 0, "Wide shot: the fox crests a snowy hill", 6)
    _set_segment(page, 1, "Close-up: ears twitch at a sound", 3)
    # The sum's problem shows beside the shots (the shots were touched), and only there.
    error = page.locator('[data-fk-field="multi_prompt"]')
    page.wait_for_function(
        "() => /9 s/.test(document.querySelector('[data-fk-field=\"multi_prompt\"]').textContent)", timeout=30_000
    )
    assert "10 s" in error.inner_text()
    assert page.locator('[data-fk="generate"]').is_disabled()
    page.locator('[data-fk="generate"]').click(force=True)
    page.locator('[data-fk="prompt"]').first.press("Control+Enter")
    time.sleep(1.0)
    assert emulator.stats()["posts"] == posts_before
    page.screenshot(path=str(shots / f"{name}-invalid-layout.png"), full_page=True)

    _set_segment(page, 1, "Close-up: ears twitch at a sound", 4)
    page.wait_for_function("() => !document.querySelector('[data-fk=\"generate\"]').disabled", timeout=30_000)
    page.click('[data-fk="generate"]')

    card = page.locator('[data-fk="task"]').first
    card.wait_for(timeout=30_000)
    seen: list[int] = []
    deadline = time.monotonic() + GENERATION_MS / 1000
    while time.monotonic() < deadline:
        status = card.get_attribute("data-status")
        progress = card.get_attribute("data-progress")
        if progress is not None and (not seen or seen[-1] != int(progress)):
            seen.append(int(progress))
        if status in ("completed", "failed", "uncertain", "stopped"):
            break
        time.sleep(0.2)
    assert card.get_attribute("data-status") == "completed", card.inner_text()
    assert seen[-1] == 100 and len(seen) >= 2 and seen == sorted(seen), seen
    # The card's id is the generation's stable key (docs/widget-protocol.md), not the provider's id.
    assert card.get_attribute("data-task-id", timeout=5_000).startswith("gen-")  # type: ignore[union-attr]
    assert emulator.stats()["posts"] == posts_before + 1

    video = check_video(page)
    assert video["scheme"] == "blob"
    assert abs(video["width"] / video["height"] - 9 / 16) < 0.01, video
    assert abs(video["duration"] - 10) < 0.2, video
    assert video["t1"] > video["t0"], video
    assert video["audioBytes"] > 0, video
    return video


def _save_and_check(page: Page, server: JupyterServer, notebook: Path) -> int:
    before = notebook.stat().st_mtime
    page.keyboard.press("Control+s")
    deadline = time.monotonic() + 30
    while notebook.stat().st_mtime == before and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(0.5)
    text = notebook.read_text()
    # The kernel-less fallback (GitHub, nbconvert) was refreshed when the task finished.
    saved = json.loads(text)
    html = "".join(
        "".join(o.get("data", {}).get("text/html", "")) for c in saved["cells"] for o in c.get("outputs", [])
    )
    # The fallback lists the task as text; its poster lives once, in the widget state (_posters).
    assert "task-unified-" in html and "data:image/jpeg;base64," not in html, html[:500]
    assert server.api_key not in text
    assert "sk-e2e-" not in text
    size = notebook.stat().st_size
    assert size < 200_000, size  # the video is not in widget state, only a small poster
    return size


def _run(server: JupyterServer, emulator: Emulator, artifacts: Path, name: str, url_path: str) -> None:
    notebook = server.root / "e2e.ipynb"
    write_notebook(notebook, WIDGET_CELL)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(**launch_options())
        page = browser.new_page(viewport={"width": 1280, "height": 1400})
        errors = _page_errors(page)
        try:
            open_notebook(page, f"{server.url}{url_path}?token={server.token}")
            run_all(page)
            started = time.monotonic()
            _generate_flow(page, server, emulator, name, artifacts)
            page.locator('[data-fk="task"]').first.scroll_into_view_if_needed()
            page.screenshot(path=str(artifacts / f"{name}-light.png"), full_page=True)
            size = _save_and_check(page, server, notebook)
            print(f"{name}: generate-to-playing {time.monotonic() - started:.1f} s, saved notebook {size} bytes")
            unexpected = [e for e in errors if not any(a in e for a in ALLOWED_PAGE_ERRORS)]
            assert not unexpected, unexpected
        except BaseException:
            page.screenshot(path=str(artifacts / f"{name}-failure.png"), full_page=True)
            raise
        finally:
            browser.close()


def test_jupyterlab_end_to_end(jupyter_lab: JupyterServer, emulator_process: Emulator, artifacts: Path) -> None:
    _run(jupyter_lab, emulator_process, artifacts, "lab", "/lab/tree/e2e.ipynb")


def test_notebook7_end_to_end(jupyter_notebook7: JupyterServer, emulator_process: Emulator, artifacts: Path) -> None:
    _run(jupyter_notebook7, emulator_process, artifacts, "notebook7", "/notebooks/e2e.ipynb")


def test_jupyterlab_dark_theme_quickstart(
    jupyter_lab_dark: JupyterServer, emulator_process: Emulator, artifacts: Path
) -> None:
    """The quickstart notebook runs top to bottom in dark Lab, and its video plays."""
    server = jupyter_lab_dark
    shutil.copy(ROOT / "notebooks" / "quickstart.ipynb", server.root / "quickstart.ipynb")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(**launch_options())
        page = browser.new_page(viewport={"width": 1280, "height": 1400})
        try:
            open_notebook(page, f"{server.url}/lab/tree/quickstart.ipynb?token={server.token}")
            assert page.evaluate("document.body.dataset.jpThemeLight") == "false"
            run_all(page)
            wait_for_widget(page)
            card = page.locator('[data-fk="task"][data-status="completed"]').first
            card.wait_for(timeout=GENERATION_MS)
            video = check_video(page)
            assert video["t1"] > video["t0"] and abs(video["width"] / video["height"] - 9 / 16) < 0.01
            page.locator('[data-fk="root"]').first.scroll_into_view_if_needed()
            page.locator('[data-fk="root"]').first.screenshot(path=str(artifacts / "lab-dark.png"))
            # Narrow output (a side panel, a phone): controls stack, nothing overflows the output.
            root_width = "() => document.querySelector('[data-fk=\"root\"]').getBoundingClientRect().width"
            width = page.evaluate(root_width)
            page.set_viewport_size({"width": int(1280 - (width - 400)), "height": 1400})
            page.wait_for_timeout(300)
            assert abs(page.evaluate(root_width) - 400) < 30, page.evaluate(root_width)
            page.locator('[data-fk="root"]').first.screenshot(path=str(artifacts / "lab-dark-400px.png"))
            overflow = page.evaluate(
                "() => { const r = document.querySelector('[data-fk=\"root\"]');"
                " return r.scrollWidth - r.clientWidth; }"
            )
            assert overflow <= 1, overflow
        except BaseException:
            page.screenshot(path=str(artifacts / "lab-dark-failure.png"), full_page=True)
            raise
        finally:
            browser.close()


def test_jupyterlab_tab_closed_and_reopened(
    jupyter_lab: JupyterServer, emulator_process: Emulator, artifacts: Path
) -> None:
    """The kernel keeps the widget: a reopened tab shows the finished video again, with no new submit."""
    server = jupyter_lab
    write_notebook(
        server.root / "reopen.ipynb",
        WIDGET_CELL,
        "w.prompt = 'A lantern drifts over a dark lake'\ntask = await w.generate()\ntask.id",
    )
    url = f"{server.url}/lab/tree/reopen.ipynb?token={server.token}"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(**launch_options())
        page = browser.new_page(viewport={"width": 1280, "height": 1400})
        try:
            open_notebook(page, url)
            run_all(page)
            wait_for_widget(page)
            page.locator('[data-fk="task"][data-status="completed"]').first.wait_for(timeout=GENERATION_MS)
            task_id = page.locator('[data-fk="task"]').first.get_attribute("data-task-id")
            posts = emulator_process.stats()["posts"]
            # Outputs live in the page until saved (Lab autosaves; here explicitly), then the tab closes.
            _save_and_check(page, server, server.root / "reopen.ipynb")
            page.close()

            page = browser.new_page(viewport={"width": 1280, "height": 1400})
            page.goto(url)
            card = page.locator(f'[data-fk="task"][data-task-id="{task_id}"][data-status="completed"]').first
            card.wait_for(timeout=GENERATION_MS)
            video = check_video(page)
            assert video["scheme"] == "blob" and video["t1"] > video["t0"]
            assert emulator_process.stats()["posts"] == posts
            page.screenshot(path=str(artifacts / "lab-reopened.png"), full_page=True)
        except BaseException:
            page.screenshot(path=str(artifacts / "lab-reopen-failure.png"), full_page=True)
            raise
        finally:
            browser.close()
