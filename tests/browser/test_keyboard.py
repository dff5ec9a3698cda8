"""Real keys in real JupyterLab 4 and Notebook 7 (headless Chromium), and VS Code's theme.

Typing goes through the keyboard, key by key (``fill()`` would bypass the host's keyboard
handling, which is what these tests are about): Enter and Shift+Enter in the prompt and in a shot
prompt insert newlines that reach the kernel, no cell runs and none is added, Enter presses an
option button, and Ctrl+Enter still generates. Then, in Lab's page, VS Code's theme is simulated
the way VS Code marks a page (a theme class on <body>, --vscode-* variables): the studio follows
it, although JupyterLab's light --jp-* variables are on the page too, as VS Code injects them.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from playwright.sync_api import Page

from .conftest import JupyterServer
from .helpers import WIDGET_CELL, KernelClient, notebook_page, type_lines, wait_for_widget
from .timeouts import TEST_TIMEOUT_S

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(TEST_TIMEOUT_S)]

# What the notebook shows of its cells: how many, and each one's execution prompt ("[1]:").
CELLS_STATE = """
() => [...document.querySelectorAll('.jp-Notebook .jp-Cell')].map(
  (c) => (c.querySelector('.jp-InputPrompt') || {}).textContent || '')
"""

# Resolve a CSS colour expression to what the browser computes (rgb(...)), on a probe inside `root`.
RESOLVE = """
([root, value]) => {
  const probe = document.createElement('span');
  probe.style.color = value;
  root.append(probe);
  const out = getComputedStyle(probe).color;
  probe.remove();
  return out;
}
"""

# What VS Code's webview does: a bubble-phase keydown listener on the window that forwards every
# key reaching it to the workbench (no target check). Here it records the keys from the studio.
FORWARDER = """
window.__fkForwarded = [];
window.addEventListener('keydown', (e) => {
  if (e.target instanceof Element && e.target.closest('[data-fk="root"]')) {
    window.__fkForwarded.push((e.ctrlKey ? 'Ctrl+' : '') + (e.shiftKey ? 'Shift+' : '') + e.key);
  }
});
"""

STYLE = """
(el) => { const s = getComputedStyle(el); return {bg: s.backgroundColor, fg: s.color, border: s.borderTopColor}; }
"""

# A dark VS Code theme's variables (Dark Modern's values), set on <body> as VS Code does.
VSCODE_DARK = {
    "--vscode-editor-background": "#1f1f1f",
    "--vscode-editor-foreground": "#cccccc",
    "--vscode-editorWidget-background": "#202020",
    "--vscode-descriptionForeground": "#9d9d9d",
    "--vscode-panel-border": "#2b2b2b",
    "--vscode-input-background": "#313131",
    "--vscode-input-foreground": "#cccccc",
    "--vscode-input-border": "#3c3c3c",
    "--vscode-button-background": "#0078d4",
    "--vscode-button-foreground": "#ffffff",
    "--vscode-focusBorder": "#0078d4",
    "--vscode-errorForeground": "#f85149",
}


def _keyboard_flow(page: Page, server: JupyterServer, notebook: Path, shots: Path, name: str) -> None:
    wait_for_widget(page)
    cells = page.evaluate(CELLS_STATE)
    assert len(cells) == 1 and "1" in cells[0], cells
    kernel = KernelClient(server)
    try:
        # The prompt: Enter and Shift+Enter are newlines, not the notebook's.
        type_lines(
            page, '[data-fk="prompt"]', ["A fox at dawn", "A fox at noon", "A fox at dusk"], ["Enter", "Shift+Enter"]
        )
        typed = "A fox at dawn\nA fox at noon\nA fox at dusk"
        assert page.locator('[data-fk="prompt"]').first.input_value() == typed
        kernel.wait_for("w.prompt", typed)
        assert page.evaluate(CELLS_STATE) == cells  # no cell added, none run
        page.click('[data-fk="vary"] [data-value="prompts"]')
        page.wait_for_function(
            "() => document.querySelector('[data-fk=\"generate\"]').textContent === 'Generate 3 variations'",
            timeout=30_000,
        )
        page.click('[data-fk="vary"] [data-value=""]')

        # Enter presses a focused option button (the notebook does not take it).
        page.locator('[data-fk="duration"] [data-value="10"]').focus()
        page.keyboard.press("Enter")
        kernel.wait_for("w.duration", 10)
        assert page.locator('[data-fk="duration"] [data-value="10"]').get_attribute("aria-pressed") == "true"

        # A shot prompt of the segment editor.
        page.check('[data-fk="multishot"]')
        page.locator('[data-fk="segment-prompt"]').first.wait_for()
        type_lines(page, '[data-fk="segment-prompt"]', ["Wide shot", "the harbour at dawn"], ["Enter"])
        assert page.locator('[data-fk="segment-prompt"]').first.input_value() == "Wide shot\nthe harbour at dawn"
        kernel.wait_for("w.segments[0]['prompt']", "Wide shot\nthe harbour at dawn")
        # The shot's seconds field: digits typed and Enter pressed stay in the studio.
        seconds = page.locator('[data-fk="segment-duration"]').first
        seconds.click()
        page.keyboard.press("Control+a")
        page.keyboard.type("4")
        page.keyboard.press("Enter")
        kernel.wait_for("w.segments[0]['duration']", 4)
        page.uncheck('[data-fk="multishot"]')
        assert page.evaluate(CELLS_STATE) == cells
        page.screenshot(path=str(shots / f"{name}-typed.png"), full_page=True)

        # Ctrl+Enter in the prompt still generates, and runs no cell.
        page.locator('[data-fk="prompt"]').first.click()
        page.keyboard.press("Control+Enter")
        page.locator('[data-fk="task"]').first.wait_for(timeout=30_000)
        assert page.locator('[data-fk="prompt"]').first.input_value() == typed  # no newline for the shortcut
        assert page.evaluate(CELLS_STATE) == cells
        assert page.locator('[data-fk="root"]').count() == 1

        # Not one of those keys reached a VS Code-like forwarder on the window.
        assert page.evaluate("window.__fkForwarded") == []

        # The host keeps its own chords: Ctrl+S in the prompt saves the notebook.
        before = notebook.stat().st_mtime
        page.locator('[data-fk="prompt"]').first.click()
        page.keyboard.press("Control+s")
        deadline = time.monotonic() + 30
        while notebook.stat().st_mtime == before and time.monotonic() < deadline:
            time.sleep(0.2)
        assert notebook.stat().st_mtime != before, "Ctrl+S in the prompt did not save the notebook"

        # Escape is the host's too: the keyboard user's way out of the widget (VS Code).
        page.keyboard.press("Escape")
        assert page.evaluate("window.__fkForwarded") == ["Escape"]

        # Shift+Enter on a focused button runs the cell (the host's key), and does not press the button.
        kernel.run("_fk_before = w")
        page.locator('[data-fk="aspect"] [data-value="1:1"]').first.focus()
        page.keyboard.press("Shift+Enter")
        page.wait_for_function(f"() => ({CELLS_STATE})()[0] !== {json.dumps(cells[0])}", timeout=30_000)
        assert kernel.value("_fk_before.aspect_ratio") == "16:9"
        assert kernel.value("_fk_before is not w")
    finally:
        kernel.close()


def _vscode_theme(page: Page, shots: Path) -> None:
    """The studio follows JupyterLab's variables in Lab, and VS Code's when the page is VS Code's."""
    root = page.locator('[data-fk="root"]').first
    handle = root.element_handle()
    # The re-run widget's prompt is empty, so it shows an error border: check the other text field.
    field_el = page.locator('[data-fk="negative-prompt"]').first
    lab = root.evaluate(STYLE)
    assert lab["bg"] == page.evaluate(RESOLVE, [handle, "var(--jp-layout-color1)"]), lab
    assert lab["fg"] == page.evaluate(RESOLVE, [handle, "var(--jp-ui-font-color1)"]), lab
    assert lab["bg"] == "rgb(255, 255, 255)", lab  # the light Lab theme
    root.screenshot(path=str(shots / "theme-lab-light.png"))

    # VS Code's page: its theme class and variables on <body>, Lab's light --jp-* still defined.
    page.evaluate(
        "(vars) => { document.body.classList.add('vscode-dark');"
        " for (const [k, v] of Object.entries(vars)) document.body.style.setProperty(k, v); }",
        VSCODE_DARK,
    )
    dark = root.evaluate(STYLE)
    assert dark["bg"] == "rgb(31, 31, 31)" and dark["fg"] == "rgb(204, 204, 204)", dark
    field = field_el.evaluate(STYLE)
    assert field["bg"] == "rgb(49, 49, 49)" and field["border"] == "rgb(60, 60, 60)", field
    generate = page.locator('[data-fk="generate"]').first.evaluate(STYLE)
    assert generate["bg"] == "rgb(0, 120, 212)", generate
    assert root.evaluate("(el) => getComputedStyle(el).colorScheme") == "dark"
    root.screenshot(path=str(shots / "theme-vscode-dark.png"))

    # High contrast: edges in the theme's contrast colour.
    page.evaluate(
        "() => { document.body.classList.replace('vscode-dark', 'vscode-high-contrast');"
        " document.body.style.setProperty('--vscode-contrastBorder', '#6fc3df');"
        " document.body.style.setProperty('--vscode-editor-background', '#000000');"
        " document.body.style.setProperty('--vscode-editor-foreground', '#ffffff'); }"
    )
    contrast = root.evaluate(STYLE)
    assert contrast["bg"] == "rgb(0, 0, 0)" and contrast["border"] == "rgb(111, 195, 223)", contrast
    assert field_el.evaluate(STYLE)["border"] == "rgb(111, 195, 223)"
    root.screenshot(path=str(shots / "theme-vscode-high-contrast.png"))

    # A light VS Code theme: VS Code's light colours, not Lab's.
    page.evaluate(
        "() => { document.body.classList.replace('vscode-high-contrast', 'vscode-light');"
        " document.body.style.setProperty('--vscode-editor-background', '#fafafa');"
        " document.body.style.setProperty('--vscode-editor-foreground', '#3b3b3b'); }"
    )
    light = root.evaluate(STYLE)
    assert light["bg"] == "rgb(250, 250, 250)" and light["fg"] == "rgb(59, 59, 59)", light


def _run(server: JupyterServer, url_path: str, artifacts: Path, name: str, theme: bool) -> None:
    with notebook_page(
        server,
        name,
        WIDGET_CELL,
        failure_shot=artifacts / f"{name}-failure.png",
        url_path=url_path,
        viewport=(1200, 1100),
        init_script=FORWARDER,
    ) as page:
        _keyboard_flow(page, server, server.root / f"{name}.ipynb", artifacts, name)
        if theme:
            _vscode_theme(page, artifacts)


def test_keys_in_jupyterlab(jupyter_lab: JupyterServer, artifacts: Path) -> None:
    _run(jupyter_lab, "lab/tree", artifacts, "keys-lab", theme=True)


def test_keys_in_notebook7(jupyter_notebook7: JupyterServer, artifacts: Path) -> None:
    _run(jupyter_notebook7, "notebooks", artifacts, "keys-nb7", theme=False)


def test_lab_dark_theme(jupyter_lab_dark: JupyterServer, artifacts: Path) -> None:
    """JupyterLab's dark theme still reaches the studio (its --jp-* variables), native parts dark too."""
    with notebook_page(
        jupyter_lab_dark,
        "dark",
        WIDGET_CELL,
        failure_shot=artifacts / "lab-dark-failure.png",
        viewport=(1200, 900),
        check_page_errors=False,  # this test is about colours; the others check the page's errors
    ) as page:
        root = wait_for_widget(page)
        style = root.evaluate(STYLE)
        assert style["bg"] == page.evaluate(RESOLVE, [root.element_handle(), "var(--jp-layout-color1)"]), style
        assert style["bg"] != "rgb(255, 255, 255)", style
        assert root.evaluate("(el) => getComputedStyle(el).colorScheme") == "dark"
        root.screenshot(path=str(artifacts / "theme-lab-dark.png"))
