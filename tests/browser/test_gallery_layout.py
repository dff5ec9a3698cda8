"""The comparison gallery's layout and sound in real JupyterLab 4 (headless Chromium), on the emulator process.

Issue 11: three 16:9 clips must sit side by side and use most of the gallery's width, in a wide
cell (~1000 px) and in a narrow one (~620 px), and wrap only in a narrower one; no native controls
cover a clip; Play all lets one soundtrack be heard, and the per-card sound-from control moves it,
from the keyboard.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page

from .conftest import JupyterServer
from .helpers import WIDGET_CELL, generate_variations, notebook_page, type_into, wait_for, wait_for_widget
from .timeouts import GENERATION_MS, TEST_TIMEOUT_S, VIDEO_MS

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(TEST_TIMEOUT_S)]

PROMPTS = ("a red fox in snow", "a grey wolf in snow", "a white hare in snow")

# Boxes of the gallery's parts, and the state of its videos, in batch order.
LAYOUT = """
() => {
  const gallery = document.querySelector('[data-fk="gallery"]');
  const box = (el) => { const r = el.getBoundingClientRect(); return {x: r.x, y: r.y, w: r.width, h: r.height}; };
  const cell = gallery.closest('.jp-OutputArea-output');
  return {
    cell: box(cell),
    grid: box(gallery.querySelector('[data-fk="gallery-grid"]')),
    videos: [...gallery.querySelectorAll('video[data-fk="video"]')].map((v) => ({
      ...box(v), controls: v.controls || v.hasAttribute('controls'), muted: v.muted, paused: v.paused,
      ready: v.readyState, shape: v.videoHeight ? v.videoWidth / v.videoHeight : 0,
    })),
    actions: [...gallery.querySelectorAll('[data-fk="task"]')].map((card) =>
      [...card.querySelectorAll('.fk-actions .fk-button')].filter((b) => b.offsetParent).map((b) => box(b).y)),
    summaries: [...gallery.querySelectorAll('[data-fk="task"] .fk-summary')].filter((s) => s.offsetParent).length,
    labels: [...gallery.querySelectorAll('[data-fk="variation-label"]')].filter((s) => s.offsetParent).length,
  };
}
"""


def _layout(page: Page) -> dict[str, Any]:
    return dict(page.evaluate(LAYOUT))


def _set_cell_width(page: Page, width: int) -> dict[str, Any]:
    """Resize the page so the studio's output cell is `width` px wide (Lab's notebook is the container)."""
    for _ in range(3):
        cell = _layout(page)["cell"]["w"]
        if abs(cell - width) <= 4:
            break
        viewport = page.viewport_size or {"width": 1280, "height": 1400}
        page.set_viewport_size({"width": int(viewport["width"] + width - cell), "height": viewport["height"]})
        page.wait_for_timeout(300)  # one layout pass of Lab's panels
    layout = _layout(page)
    assert abs(layout["cell"]["w"] - width) <= 4, layout["cell"]
    return layout


def _check_side_by_side(layout: dict[str, Any], width: int) -> None:
    videos = layout["videos"]
    assert len(videos) == 3, videos
    tops = [v["y"] for v in videos]
    assert max(tops) - min(tops) < 2, f"not one row at {width} px: {tops}"
    assert all(a["x"] + a["w"] <= b["x"] for a, b in itertools.pairwise(videos)), videos
    used = sum(v["w"] for v in videos) / layout["grid"]["w"]
    assert used >= 0.8, f"clips use {used:.0%} of the gallery's width at {width} px"
    # The element keeps the clip's shape (16:9), whatever the width.
    assert all(abs(v["w"] / v["h"] - 16 / 9) < 0.03 for v in videos), videos
    assert not any(v["controls"] for v in videos), "native controls inside the gallery"
    assert layout["summaries"] == 0 and layout["labels"] == 3, "each member's label once, no summary repeating it"
    print(f"at a {width} px cell: 3 clips of {videos[0]['w']:.0f} px in one row, {used:.0%} of the grid")


def _unmuted(page: Page) -> list[int]:
    return [i for i, v in enumerate(_layout(page)["videos"]) if not v["muted"]]


@pytest.mark.parametrize("app", ["jupyter_lab", "jupyter_lab_dark"])
def test_gallery_layout_and_sound(app: str, request: pytest.FixtureRequest, artifacts: Path) -> None:
    server: JupyterServer = request.getfixturevalue(app)
    name = app.replace("jupyter_", "")
    shot = artifacts / f"gallery-{name}-failure.png"
    with notebook_page(server, "gallery", WIDGET_CELL, failure_shot=shot, viewport=(1400, 1400)) as page:
        wait_for_widget(page)
        # One clip per prompt line, all 16:9, with audio: typed as a user would.
        type_into(page, '[data-fk="prompt"]', "\n".join(PROMPTS))
        page.click('[data-fk="audio"]')
        page.click('[data-fk="vary"] [data-value="prompts"]')
        gallery = generate_variations(page, 3)
        done = gallery.locator('[data-fk="task"][data-status="completed"]')
        wait_for(lambda: done.count() == 3, GENERATION_MS / 1000, "three completed variations")
        wait_for(
            lambda: len(v := _layout(page)["videos"]) == 3 and all(x["ready"] >= 2 for x in v),
            VIDEO_MS / 1000,
            "three loaded videos",
        )
        assert all(abs(v["shape"] - 16 / 9) < 0.01 for v in _layout(page)["videos"])

        for width in (1000, 620):
            layout = _set_cell_width(page, width)
            gallery.scroll_into_view_if_needed()
            gallery.screenshot(path=str(artifacts / f"gallery-{name}-{width}.png"))
            _check_side_by_side(layout, width)
            if width == 1000:
                # The per-card actions sit in one compact row where the card has the room.
                assert all(len(set(row)) <= 1 for row in layout["actions"]), layout["actions"]
        # Below ~560 px of gallery the clips wrap, and each gets bigger than in the narrow row.
        narrow = _layout(page)["videos"][0]["w"]
        layout = _set_cell_width(page, 480)
        gallery.screenshot(path=str(artifacts / f"gallery-{name}-480.png"))
        videos = layout["videos"]
        assert len({round(v["y"]) for v in videos}) > 1, videos
        assert all(v["w"] > narrow and abs(v["w"] / v["h"] - 16 / 9) < 0.03 for v in videos), videos
        _set_cell_width(page, 1000)

        # Play all: every clip plays, one soundtrack is heard (the first, by default).
        play_all = page.locator('[data-fk="play-all"]').first
        play_all.click()
        wait_for(lambda: all(not v["paused"] for v in _layout(page)["videos"]), 10, "all three playing")
        assert _unmuted(page) == [0]
        sound = gallery.locator('[data-fk="sound-from"]')
        assert [sound.nth(i).get_attribute("aria-pressed") for i in range(3)] == ["true", "false", "false"]

        # The keyboard moves the sound: focus the second card's control, press Enter; the third's, Space.
        sound.nth(1).focus()
        page.keyboard.press("Enter")
        wait_for(lambda: _unmuted(page) == [1], 5, "the sound on the second clip")
        assert [sound.nth(i).get_attribute("aria-pressed") for i in range(3)] == ["false", "true", "false"]
        sound.nth(2).focus()
        page.keyboard.press("Space")
        wait_for(lambda: _unmuted(page) == [2], 5, "the sound on the third clip")
        assert all(not v["paused"] for v in _layout(page)["videos"]), "moving the sound stops no clip"
        gallery.screenshot(path=str(artifacts / f"gallery-{name}-playing.png"))

        # Pause all, then a click on a clip plays the group again, still with one soundtrack.
        play_all.click()
        wait_for(lambda: all(v["paused"] for v in _layout(page)["videos"]), 10, "all three paused")
        gallery.locator('video[data-fk="video"]').first.click()
        wait_for(lambda: all(not v["paused"] for v in _layout(page)["videos"]), 10, "a click on a clip plays all")
        assert _unmuted(page) == [2]
        play_all.click()

        # One clip alone, from the keyboard: the others stay paused.
        gallery.locator('[data-fk="play-one"]').nth(1).focus()
        page.keyboard.press("Enter")
        alone = [True, False, True]
        wait_for(lambda: [v["paused"] for v in _layout(page)["videos"]] == alone, 10, "one clip alone")
        assert _unmuted(page) == [1]  # alone, it is the one heard
