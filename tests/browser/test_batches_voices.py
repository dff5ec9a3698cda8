"""Voices and batches in real JupyterLab 4 and Notebook 7 (headless Chromium), against the emulator process.

A teacher's path: make a voice from an audio link (a bad link first: an error next to the field,
nothing sent), attach it by its name (audio turns on and the widget says so), insert its token
from the button that shows its name, and generate. Then compare a clip across the three aspect
ratios: two run at a time while the third shows as queued, the results sit side by side in one
gallery, and one Play all and one scrub bar move all three videos together.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page

from .conftest import Emulator, JupyterServer
from .helpers import WIDGET_CELL, check_video, generate_variations, notebook_page, type_into, wait_for, wait_for_widget
from .timeouts import GENERATION_MS, TEST_TIMEOUT_S

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(TEST_TIMEOUT_S)]

VIDEOS_STATE = """
() => [...document.querySelectorAll('[data-fk="gallery"] video[data-fk="video"]')].map((v) => ({
  t: v.currentTime, paused: v.paused, w: v.videoWidth, h: v.videoHeight, src: v.currentSrc.split(':')[0],
  ready: v.readyState,
}))
"""


def _videos(page: Page) -> list[dict[str, Any]]:
    return list(page.evaluate(VIDEOS_STATE))


def _voice_flow(page: Page, emulator: Emulator, shots: Path, name: str) -> None:
    posts = emulator.stats()["posts"]
    page.click('[data-fk="voices"] > summary')
    type_into(page, '[data-fk="voice-url"]', "ftp://example.com/narrator.mp3")
    page.locator('[data-fk="voice-name"]').first.click()  # leaving the field sends it at once
    page.wait_for_function(
        "() => /http/.test(document.querySelector('[data-fk-field=\"voice_url\"]').textContent)", timeout=30_000
    )
    assert page.locator('[data-fk="create-voice"]').is_disabled()
    type_into(page, '[data-fk="voice-url"]', "https://example.com/audio/narrator.mp3")
    type_into(page, '[data-fk="voice-name"]', "Narrator")
    page.locator('[data-fk="voice-url"]').first.click()
    page.wait_for_function("() => !document.querySelector('[data-fk=\"create-voice\"]').disabled", timeout=30_000)
    assert emulator.stats()["posts"] == posts
    page.click('[data-fk="create-voice"]')
    chip = page.locator('[data-fk="voice-chip"]', has_text="Narrator").first
    chip.wait_for(timeout=GENERATION_MS)
    assert emulator.stats()["posts"] == posts + 1
    voice_card = page.locator('[data-fk="task"][data-status="completed"]', has_text="Narrator").first
    assert "Voice ready" in voice_card.inner_text()

    assert not page.locator('[data-fk="audio"]').is_checked()
    chip.click()
    page.wait_for_function("() => document.querySelector('[data-fk=\"audio\"]').checked", timeout=10_000)
    assert "Audio turned on" in page.locator('[data-fk="voice-note"]').inner_text()
    assert page.locator('[data-fk="voice-chip"]').first.get_attribute("aria-pressed") == "true"
    insert = page.locator('[data-fk="insert-voice-1"]')
    assert insert.is_visible() and "Narrator" in insert.inner_text()
    type_into(page, '[data-fk="prompt"]', "A lighthouse keeper looks out to sea. ")
    insert.click()
    page.locator('[data-fk="prompt"]').first.press_sequentially(" says: the light must never go out")
    page.locator('[data-fk="prompt"]').first.press("Control+Enter")
    card = page.locator('[data-fk="task"][data-status="completed"]', has_text="1 voice").first
    card.wait_for(timeout=GENERATION_MS)
    assert "<<<voice_1>>> says" in page.locator('[data-fk="prompt"]').first.input_value()
    video = check_video(page, 'video[data-fk="video"]:visible')
    assert video["audioBytes"] > 0 and video["t1"] > video["t0"], video
    assert emulator.stats()["posts"] == posts + 2
    page.screenshot(path=str(shots / f"{name}-voices.png"), full_page=True)


def _batch_flow(page: Page, emulator: Emulator, shots: Path, name: str) -> None:
    posts = emulator.stats()["posts"]
    page.click('[data-fk="vary"] [data-value="aspect_ratio"]')
    gallery = generate_variations(page, 3)
    statuses: set[str] = set()

    def all_done() -> bool:
        cards = gallery.locator('[data-fk="task"]')
        statuses.update(str(cards.nth(i).get_attribute("data-status")) for i in range(cards.count()))
        return (
            cards.count() == 3
            and statuses >= {"completed"}
            and all(cards.nth(i).get_attribute("data-status") == "completed" for i in range(3))
        )

    wait_for(all_done, GENERATION_MS / 1000, "three completed variations")
    assert "queued" in statuses, statuses  # two at a time: the third waited for a slot
    assert emulator.stats()["posts"] == posts + 3
    labels = gallery.locator('[data-fk="variation-label"]').all_inner_texts()
    assert labels == ["16:9", "9:16", "1:1"], labels

    wait_for(lambda: len(v := _videos(page)) == 3 and all(x["ready"] >= 2 for x in v), 60, "three loaded videos")
    shapes = [round(v["w"] / v["h"], 2) for v in _videos(page)]
    assert shapes == [round(16 / 9, 2), round(9 / 16, 2), 1.0], shapes
    assert {v["src"] for v in _videos(page)} == {"blob"}

    play_all = page.locator('[data-fk="play-all"]').first
    assert play_all.is_enabled()
    page.evaluate("() => document.querySelectorAll('[data-fk=\"gallery\"] video').forEach((v) => { v.muted = true; })")
    play_all.click()
    wait_for(lambda: all(not v["paused"] for v in _videos(page)), 10, "all three playing")
    time.sleep(1.5)
    play_all.click()
    wait_for(lambda: all(v["paused"] for v in _videos(page)), 10, "all three paused")
    times = [v["t"] for v in _videos(page)]
    assert min(times) > 0.5 and max(times) - min(times) < 0.3, times
    print(f"{name} synced playback: 3 videos {max(times) - min(times):.3f} s apart after {min(times):.1f} s of play")

    page.evaluate(
        "() => { const s = document.querySelector('[data-fk=\"scrub\"]'); s.value = '2.5';"
        " for (const e of ['input', 'change']) s.dispatchEvent(new Event(e, {bubbles: true})); }"
    )
    wait_for(lambda: all(abs(v["t"] - 2.5) < 0.1 for v in _videos(page)), 10, "all three at 2.5 s")
    gallery.scroll_into_view_if_needed()
    gallery.screenshot(path=str(shots / f"{name}-gallery.png"))


@pytest.mark.parametrize(("app", "url_path"), [("jupyter_lab", "lab/tree"), ("jupyter_notebook7", "notebooks")])
def test_voices_and_batches(
    app: str, url_path: str, request: pytest.FixtureRequest, emulator_process: Emulator, artifacts: Path
) -> None:
    server: JupyterServer = request.getfixturevalue(app)
    name = "lab" if app == "jupyter_lab" else "notebook7"
    shot = artifacts / f"{name}-batch-failure.png"
    page_of = notebook_page(server, "batch", WIDGET_CELL, failure_shot=shot, url_path=url_path, viewport=(1280, 1600))
    with page_of as page:
        wait_for_widget(page)
        started = time.monotonic()
        _voice_flow(page, emulator_process, artifacts, name)
        voice_s = time.monotonic() - started
        started = time.monotonic()
        _batch_flow(page, emulator_process, artifacts, name)
        print(f"{name}: voice flow {voice_s:.1f} s, batch of 3 to synced playback {time.monotonic() - started:.1f} s")
