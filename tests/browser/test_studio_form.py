"""The studio's form in real JupyterLab 4 (headless Chromium), typed key by key, against the emulator.

- A fresh studio is quiet: no red box, no error, until the user touches a field or tries to
  Generate; Generate is off meanwhile and says why (title, aria-describedby). A multi-line
  prompt typed with the keyboard reaches the kernel; Multi-shot on adds no error; the timeline's
  boundary moves with the arrow keys and the pointer; the form folds to one line.
- A kernel restart while the studio is open: the view says so and turns Generate off. The cell
  run again brings back the cards, the voice and the estimate from the journal, and works.
- Classroom mode shows no key field; a budget of 0 refuses a batch with no POST at the emulator.
- "Copy as code" run in the same kernel sends the same request and succeeds on the emulator.

One JupyterLab server serves the whole module (each test opens its own notebook and kernel, and
ends that kernel's session), so the shared machine starts one server, not five.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from playwright.sync_api import Page

from .conftest import Emulator, JupyterServer, _start_jupyter
from .helpers import (
    WIDGET_CELL,
    KernelClient,
    notebook_page,
    run_all,
    screenshots_dir,
    type_lines,
    wait_for_widget,
)
from .timeouts import GENERATION_MS, KERNEL_IDLE_MS, TEST_TIMEOUT_S, WIDGET_MS

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(TEST_TIMEOUT_S)]

KERNEL_LOST = "The kernel restarted or stopped: run the cell again."

# The studio's visible error messages: shown ones only, and not Generate's reason (read by its
# title and aria-describedby, and drawn nowhere).
VISIBLE_ERRORS = """
(root) => [...root.querySelectorAll('.fk-msg-error')]
  .filter((e) => !e.closest('[hidden]') && e.getClientRects().length && e.textContent.trim())
  .map((e) => e.textContent)
"""
VISIBLE_TEXT = """
(root) => { const copy = root.cloneNode(true);
  copy.querySelectorAll('[data-fk="generate-reason"], [hidden]').forEach((e) => e.remove());
  return copy.textContent; }
"""


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory, emulator_process: Emulator) -> Iterator[JupyterServer]:
    yield from _start_jupyter("lab", tmp_path_factory.mktemp("form-lab"), emulator_process)


@contextmanager
def _studio(server: JupyterServer, name: str, *cells: str) -> Iterator[Page]:
    """A page with notebook `name` (its cells run, the studio shown), closed and its kernel ended afterwards."""
    with notebook_page(
        server,
        name,
        *cells,
        failure_shot=screenshots_dir() / f"form-{name}-failure.png",
        permissions=["clipboard-read", "clipboard-write"],
        end_kernel=True,
    ) as page:
        wait_for_widget(page)
        yield page


def _generate_off(page: Page, root_index: int = 0) -> bool:
    value = page.locator('[data-fk="generate"]').nth(root_index).get_attribute("aria-disabled")
    return value == "true"


def _wait_generate(page: Page, off: bool, root_index: int = 0) -> None:
    page.wait_for_function(
        "([i, off]) => document.querySelectorAll('[data-fk=\"generate\"]')[i]"
        "?.getAttribute('aria-disabled') === String(off)",
        arg=[root_index, off],
        timeout=30_000,
    )


def test_fresh_studio_is_quiet_until_touched_then_typed_with_the_keyboard(lab: JupyterServer) -> None:
    with _studio(lab, "fresh", WIDGET_CELL) as page:
        kernel = KernelClient(lab)
        try:
            root = page.locator('[data-fk="root"]').first
            # The kernel's verdict on the empty prompt has arrived: Generate is off...
            kernel.wait_for("[p['field'] for p in w._problems if p['level'] == 'error']", ["prompt"])
            _wait_generate(page, off=True)
            # ...but nothing is red: the user has done nothing wrong yet.
            assert root.evaluate(VISIBLE_ERRORS) == []
            assert page.locator('[data-fk="prompt"]').get_attribute("aria-invalid") != "true"
            generate = page.locator('[data-fk="generate"]').first
            reason = page.locator(f"#{generate.get_attribute('aria-describedby')}")
            assert "prompt" in reason.text_content().lower()  # type: ignore[union-attr]
            assert generate.get_attribute("title") == reason.text_content()
            page.screenshot(path=str(screenshots_dir() / "form-fresh.png"), full_page=True)

            # Leaving the empty prompt: its problem shows beside it, once.
            page.locator('[data-fk="prompt"]').first.click()
            page.keyboard.press("Tab")
            message = kernel.value("w._problems[0]['message']")
            page.locator('[data-fk-field="prompt"] .fk-msg-error').first.wait_for(timeout=10_000)
            assert root.evaluate(VISIBLE_ERRORS) == [message]
            assert root.evaluate(VISIBLE_TEXT).count(message) == 1

            # A two-line prompt, typed key by key with Enter and Shift+Enter.
            type_lines(page, '[data-fk="prompt"]', ["A fox at dawn", "A fox at noon"], ["Enter"])
            page.keyboard.press("Shift+Enter")
            page.keyboard.type("A fox at dusk")
            typed = "A fox at dawn\nA fox at noon\nA fox at dusk"
            assert page.locator('[data-fk="prompt"]').first.input_value() == typed
            kernel.wait_for("w.prompt", typed)
            _wait_generate(page, off=False)
            assert root.evaluate(VISIBLE_ERRORS) == []

            # Multi-shot on: empty shots are errors for the kernel, not for the user (yet).
            page.check('[data-fk="multishot"]')
            kernel.wait_for(
                "sorted({p['field'] for p in w._problems if p['level'] == 'error'})",
                [
                    "multi_prompt[0].prompt",
                    "multi_prompt[1].prompt",
                ],
            )
            _wait_generate(page, off=True)
            assert root.evaluate(VISIBLE_ERRORS) == []
            assert page.locator('[data-fk="prompt-relation"]').is_visible()

            # The boundary between the two shots (3 s + 2 s): the arrow keys move it a second.
            boundary = page.locator('[data-fk="boundary"]').first
            assert boundary.get_attribute("role") == "separator" and boundary.get_attribute("aria-valuenow") == "3"
            boundary.focus()
            page.keyboard.press("ArrowRight")
            kernel.wait_for("[s['duration'] for s in w.segments]", [4, 1])
            page.keyboard.press("ArrowLeft")
            page.keyboard.press("ArrowLeft")
            kernel.wait_for("[s['duration'] for s in w.segments]", [2, 3])
            assert boundary.get_attribute("aria-valuenow") == "2"
            # ...and the pointer drags it (to about 4/5 of the timeline: 4 s).
            box = page.locator('[data-fk="timeline"]').first.bounding_box()
            handle = boundary.bounding_box()
            assert box and handle
            page.mouse.move(handle["x"] + handle["width"] / 2, handle["y"] + handle["height"] / 2)
            page.mouse.down()
            page.mouse.move(box["x"] + box["width"] * 0.8, handle["y"] + handle["height"] / 2, steps=8)
            page.mouse.up()
            kernel.wait_for("[s['duration'] for s in w.segments]", [4, 1])
            assert page.locator('[data-fk="segment-sum"]').inner_text() == "Shots add up to 5 s of 5 s"
            page.screenshot(path=str(screenshots_dir() / "form-timeline.png"), full_page=True)

            # A shot touched: its problem shows; the other shot's does not.
            page.locator('[data-fk="segment-prompt"]').nth(1).click()
            page.keyboard.press("Tab")
            page.locator('[data-fk="segment"][data-index="1"] .fk-msg-error').wait_for(timeout=10_000)
            assert page.locator('[data-fk="segment"][data-index="0"] .fk-msg-error').count() == 0

            # Generate pressed with problems left: every one shows, none twice, nothing sent.
            page.locator('[data-fk="generate"]').first.click(force=True)  # aria-disabled: still pressable
            page.locator('[data-fk="segment"][data-index="0"] .fk-msg-error').wait_for(timeout=10_000)
            shown = root.evaluate(VISIBLE_ERRORS)
            assert len(shown) == len(set(shown)) == 2, shown
            assert kernel.value("len(w.tasks)") == 0
            page.uncheck('[data-fk="multishot"]')
            _wait_generate(page, off=False)

            # The form folds to one line (the prompt's start); Generate stays in reach.
            page.click('[data-fk="collapse"]')
            folded = page.locator('[data-fk="folded"]').first
            folded.wait_for(state="visible")
            assert folded.inner_text().startswith("A fox at dawn")
            assert not page.locator('[data-fk="prompt"]').first.is_visible()
            assert page.locator('[data-fk="generate"]').first.is_visible()
            page.screenshot(path=str(screenshots_dir() / "form-folded.png"), full_page=True)
            folded.click()
            page.locator('[data-fk="prompt"]').first.wait_for(state="visible")
            assert page.locator('[data-fk="collapse"]').get_attribute("aria-expanded") == "true"
        finally:
            kernel.close()


def test_a_kernel_restart_is_noticed_and_the_cell_run_again_brings_everything_back(
    lab: JupyterServer, emulator_process: Emulator
) -> None:
    prompt = "A lantern drifts over a dark lake"
    with _studio(lab, "restart", WIDGET_CELL) as page:
        # A clip and a voice, so the journal has a card, a voice and a price to bring back.
        type_lines(page, '[data-fk="prompt"]', [prompt])
        page.locator('[data-fk="prompt"]').first.press("Control+Enter")  # at once: the kernel judges the new text
        page.locator('[data-fk="task"][data-status="completed"]', has_text=prompt).first.wait_for(timeout=GENERATION_MS)
        page.click('[data-fk="voices"] > summary')
        type_lines(page, '[data-fk="voice-url"]', ["https://example.com/audio/narrator.mp3"])
        type_lines(page, '[data-fk="voice-name"]', ["Narrator"])
        page.locator('[data-fk="voice-url"]').first.click()
        page.wait_for_function("() => !document.querySelector('[data-fk=\"create-voice\"]').disabled", timeout=30_000)
        page.click('[data-fk="create-voice"]')
        note = page.locator('[data-fk="voice-note"]').first
        page.locator('[data-fk="voice-chip"]', has_text="Narrator").first.wait_for(timeout=GENERATION_MS)
        # The voice arrived: the note that promised it is replaced.
        page.wait_for_function(
            "() => /is ready/.test(document.querySelector('[data-fk=\"voice-note\"]').textContent)", timeout=10_000
        )
        assert "Narrator" in note.inner_text()
        posts = emulator_process.stats()["posts"]

        # Restart through Lab's own menu and dialog, as a person does.
        page.locator(".lm-MenuBar-itemLabel", has_text="Kernel").first.click()
        page.locator('li.lm-Menu-item[data-command="kernelmenu:restart"]').click()
        page.locator(".jp-Dialog-button.jp-mod-accept").click()
        notice = page.locator('[data-fk="notice"]').first
        notice.wait_for(state="visible", timeout=60_000)
        assert notice.inner_text() == KERNEL_LOST
        _wait_generate(page, off=True)
        assert page.locator('[data-fk="generate"]').first.get_attribute("title") == KERNEL_LOST
        page.screenshot(path=str(screenshots_dir() / "form-kernel-restarted.png"), full_page=True)
        page.wait_for_function(
            "() => document.querySelector('.jp-Notebook-ExecutionIndicator[data-status=\"idle\"]')",
            timeout=KERNEL_IDLE_MS,
        )

        # The cell run again: a new studio, with the journal's card, voice and estimate.
        run_all(page)
        page.wait_for_function(
            "() => { const n = document.querySelector('[data-fk=\"notice\"]');"
            " return document.querySelectorAll('[data-fk=\"root\"]').length === 1 && n && n.hidden; }",
            timeout=WIDGET_MS,
        )
        page.locator('[data-fk="task"][data-status="completed"]', has_text=prompt).first.wait_for(timeout=WIDGET_MS)
        page.click('[data-fk="voices"] > summary')
        page.locator('[data-fk="voice-chip"]', has_text="Narrator").first.wait_for(timeout=WIDGET_MS)
        page.wait_for_function(
            "() => /≈ .* credits/.test(document.querySelector('[data-fk=\"credits\"]').textContent)", timeout=30_000
        )
        # ...and it works: a new clip starts and finishes.
        cards = page.locator('[data-fk="task"]').count()
        type_lines(page, '[data-fk="prompt"]', ["A heron lifts off the water"])
        _wait_generate(page, off=False)
        page.click('[data-fk="generate"]')
        page.wait_for_function(
            f"() => document.querySelectorAll('[data-fk=\"task\"]').length === {cards + 1}", timeout=30_000
        )
        page.locator('[data-fk="task"][data-status="completed"]', has_text="heron").first.wait_for(
            timeout=GENERATION_MS
        )
        assert emulator_process.stats()["posts"] == posts + 1
        page.screenshot(path=str(screenshots_dir() / "form-after-restart.png"), full_page=True)


def test_classroom_mode_has_no_key_field_and_a_budget_refuses_a_batch_without_a_post(
    lab: JupyterServer, emulator_process: Emulator
) -> None:
    cells = (
        "from foxkling_widgets import KlingWidget\n\nc = KlingWidget(classroom=True)\nc",
        "b = KlingWidget(budget=0)\nb",
    )
    with _studio(lab, "teacher", *cells) as page:
        page.wait_for_function("() => document.querySelectorAll('[data-fk=\"root\"]').length === 2", timeout=WIDGET_MS)
        classroom, budget = page.locator('[data-fk="root"]').nth(0), page.locator('[data-fk="root"]').nth(1)
        page.wait_for_function(
            "() => document.querySelectorAll('[data-fk=\"root\"]')[0].hasAttribute('data-classroom')", timeout=30_000
        )
        assert not classroom.locator('[data-fk="api-key"]').is_visible()
        assert classroom.locator(".fk-key").count() == 1 and not classroom.locator(".fk-key").is_visible()
        assert budget.locator(".fk-key").is_visible()  # an ordinary studio has one

        posts = emulator_process.stats()["posts"]
        budget.locator('[data-fk="prompt"]').click()
        page.keyboard.type("A paper boat on a puddle")
        budget.locator('[data-fk="vary"] [data-value="aspect_ratio"]').click()
        page.wait_for_function(
            "() => document.querySelectorAll('[data-fk=\"generate\"]')[1].textContent === 'Generate 3 variations'",
            timeout=30_000,
        )
        line = budget.locator('[data-fk="budget"]')
        page.wait_for_function(
            "() => /refused/.test(document.querySelectorAll('[data-fk=\"budget\"]')[1]?.textContent ?? '')",
            timeout=30_000,
        )
        assert "Budget: 0 of 0 credits left" in line.inner_text()
        _wait_generate(page, off=True, root_index=1)
        title = budget.locator('[data-fk="generate"]').get_attribute("title") or ""
        assert title.startswith("Over the budget"), title
        budget.locator('[data-fk="generate"]').click(force=True)
        budget.locator('[data-fk="prompt"]').press("Control+Enter")
        time.sleep(1.0)  # a POST would have been made by now; none may be
        assert emulator_process.stats()["posts"] == posts
        page.screenshot(path=str(screenshots_dir() / "form-teacher.png"), full_page=True)


def test_copied_code_sends_the_same_request_in_the_same_kernel(lab: JupyterServer, emulator_process: Emulator) -> None:
    with _studio(lab, "copy", WIDGET_CELL) as page:
        kernel = KernelClient(lab)
        try:
            type_lines(page, '[data-fk="prompt"]', ["A kite over the dunes", "wind in the grass"], ["Shift+Enter"])
            page.click('[data-fk="aspect"] [data-value="9:16"]')
            kernel.wait_for("(w.prompt, w.aspect_ratio)", ("A kite over the dunes\nwind in the grass", "9:16"))
            page.click('[data-fk="generate"]')
            # The module's journal has other tests' cards too: this test's card is the kite's.
            card = page.locator('[data-fk="task"][data-status="completed"]', has_text="A kite over the dunes").first
            card.wait_for(timeout=GENERATION_MS)
            card.locator('[data-fk="copy-code"]').click()
            shown = card.locator(".fk-code")
            shown.wait_for(state="visible")
            code = shown.input_value()
            try:
                copied = page.evaluate("() => navigator.clipboard.readText()")
            except Exception:  # noqa: BLE001 - a page without clipboard access still shows the code
                copied = code
            assert copied == code and "client.generate(request" in code, code
            posts = emulator_process.stats()["posts"]
            kernel.run(code, timeout_s=GENERATION_MS / 1000)
            assert kernel.value("task.status.value") == "completed"
            mine = "next(t for t in w.tasks if t.request and t.request.prompt.startswith('A kite'))"
            assert kernel.value(f"request.to_payload() == {mine}.request.to_payload()") is True
            assert kernel.value("request.to_payload()['aspect_ratio']") == "9:16"
            assert emulator_process.stats()["posts"] == posts + 1
        finally:
            kernel.close()
