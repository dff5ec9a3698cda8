"""The studio in a stand-in for VS Code's notebook widget renderer, against a real kernel.

VS Code renders ipywidgets with the npm package ``@vscode/jupyter-ipywidgets8`` inside a
notebook webview, fed by the Jupyter extension, which owns the kernel connection and relays
every kernel frame to the webview (a binary frame as a plain JSON array of byte values).
``tests/browser/vscode/`` rebuilds that path on one page (its README says what is real and what
is not): the package's real dist, require.js and jQuery as globals, anywidget's nbextension as
the ``anywidget`` module, and a real kernel behind a Jupyter server started here, whose static
handler serves the page.

One scenario runs once per wire protocol (a person's path: render ``KlingWidget(emulator=True)`` from
a cell, type a multi-line prompt with real keys, press Generate, watch progress, play the video)
and several tests check what it saw. A benchmark (``FOXKLING_BENCH_VSCODE=1``) prints
Generate-to-first-frame and the JS heap in the stand-in against JupyterLab from the same run;
``benchmarks/bench_hosts_first_frame.py`` measures 5/30/100 MB clips there, with server and kernel memory.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jupyter_core.paths import jupyter_path
from playwright.sync_api import ConsoleMessage, Page, sync_playwright

from .conftest import LAUNCH_ARGS, Emulator, JupyterServer, _start_jupyter, launch_options
from .helpers import check_video, open_notebook, run_all, type_into, wait_for_widget, write_notebook
from .timeouts import GENERATION_MS, PAGE_LOAD_MS, TEST_TIMEOUT_S, WIDGET_MS

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(TEST_TIMEOUT_S)]

ROOT = Path(__file__).resolve().parents[2]
HARNESS = Path(__file__).resolve().parent / "vscode"
NODE_MODULES = ROOT / "js" / "node_modules"
# Files the page loads, from the npm packages in js/package.json (devDependencies).
PACKAGE_FILES = {
    "ipywidgets8.js": "@vscode/jupyter-ipywidgets8/dist/ipywidgets.js",
    "require.js": "requirejs/require.js",
    "jquery.min.js": "jquery/dist/jquery.min.js",
}
# Each run starts from an empty journal and emulator store: the built-in emulator keeps its tasks
# across kernels, so a second run would otherwise show the first run's card as well.
WIDGET_CELL = (
    "import os, tempfile\n"
    "_home = tempfile.mkdtemp(prefix='fk-vscode-')\n"
    "os.environ['FOXKLING_DATA_DIR'] = os.path.join(_home, 'data')\n"
    "os.environ['FOXKLING_CACHE_DIR'] = os.path.join(_home, 'cache')\n"
    "from foxkling_widgets import KlingWidget\n\nw = KlingWidget(emulator=True)\nw"
)
PROMPT_LINES = ["A red fox trots through fresh snow", "at dawn, breath steaming", "wide shot, soft light"]

# Set before any page script: when Generate was clicked and when a studio video first had a
# frame to show (loadeddata: the first frame is decoded). Media events do not bubble, so the
# listeners capture on document. The same script runs in the stand-in and in JupyterLab.
FIRST_FRAME_WATCH = """
window.__fkTimes = {};
document.addEventListener('click', (event) => {
  const target = event.target;
  if (target && target.closest && target.closest('[data-fk="generate"]') && !window.__fkTimes.generate) {
    window.__fkTimes.generate = performance.now();
  }
}, true);
// The JS heap's peak from Generate on, sampled (precise with --enable-precise-memory-info).
window.__fkHeapPeak = 0;
setInterval(() => {
  if (window.__fkTimes.generate && performance.memory) {
    window.__fkHeapPeak = Math.max(window.__fkHeapPeak, performance.memory.usedJSHeapSize);
  }
}, 25);
document.addEventListener('loadeddata', (event) => {
  const target = event.target;
  if (target && target.matches && target.matches('video[data-fk="video"]') && !window.__fkTimes.firstFrame) {
    window.__fkTimes.firstFrame = performance.now();
  }
}, true);
"""

# Console errors that are not the studio's, each with why.
# None seen so far (the page logs nothing as errors on a clean run); add each with its reason.
ALLOWED_CONSOLE_ERRORS: tuple[str, ...] = ()


def _missing_packages() -> list[str]:
    return [name for name in PACKAGE_FILES.values() if not (NODE_MODULES / name).exists()] + (
        [] if (NODE_MODULES / ".bin" / "esbuild").exists() else ["esbuild"]
    )


def _anywidget_nbextension() -> Path:
    """anywidget's classic-notebook extension, as the Jupyter extension finds it in the kernel's env."""
    for folder in jupyter_path("nbextensions"):
        candidate = Path(folder) / "anywidget" / "index.js"
        if candidate.exists():
            return candidate
    raise FileNotFoundError("anywidget's nbextension (share/jupyter/nbextensions/anywidget) is not installed")


def build_static(target: Path) -> Path:
    """Lay out the page's files under ``target/vscode`` (the server serves them at /static/vscode/)."""
    out = target / "vscode"
    (out / "anywidget").mkdir(parents=True, exist_ok=True)
    shutil.copy(HARNESS / "harness.html", out / "harness.html")
    for name, source in PACKAGE_FILES.items():
        shutil.copy(NODE_MODULES / source, out / name)
    shutil.copy(_anywidget_nbextension(), out / "anywidget" / "index.js")
    # The two halves of the stand-in and @jupyterlab/services, bundled for the page.
    subprocess.run(
        [
            str(NODE_MODULES / ".bin" / "esbuild"),
            str(HARNESS / "src" / "index.js"),
            "--bundle",
            "--format=iife",
            "--platform=browser",
            "--target=es2020",
            '--define:process.env.NODE_ENV="production"',
            f"--outfile={out / 'harness.js'}",
            "--log-level=warning",
        ],
        check=True,
        timeout=180,
        env={**os.environ, "NODE_PATH": str(NODE_MODULES)},
    )
    return out


@pytest.fixture(scope="module")
def vscode_server(tmp_path_factory: pytest.TempPathFactory, emulator_process: Emulator) -> Iterator[JupyterServer]:
    """A Jupyter server whose static handler also serves the stand-in page."""
    missing = _missing_packages()
    if missing:
        message = f"npm packages for the VS Code stand-in are missing ({', '.join(missing)}): npm install in js/"
        if os.environ.get("FOXKLING_REQUIRE_BROWSER"):
            pytest.fail(message)
        pytest.skip(message)
    tmp = tmp_path_factory.mktemp("vscode")
    static = tmp / "static"
    build_static(static)
    config = tmp / "config" / "jupyter"
    config.mkdir(parents=True)
    (config / "jupyter_server_config.json").write_text(json.dumps({"ServerApp": {"extra_static_paths": [str(static)]}}))
    yield from _start_jupyter("server", tmp, emulator_process)


def _console_errors(page: Page) -> list[str]:
    errors: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            errors.append(f"console: {message.text} @ {message.location.get('url', '')}")

    page.on("console", on_console)
    page.on("pageerror", lambda error: errors.append(f"pageerror: {error} {error.stack}"))
    return errors


def _heap(page: Page) -> dict[str, float]:
    """The page's JS heap after a garbage collection (CDP), and performance.memory's figure."""
    cdp = page.context.new_cdp_session(page)
    cdp.send("HeapProfiler.enable")
    cdp.send("HeapProfiler.collectGarbage")
    cdp.send("Performance.enable")
    metrics = {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}
    cdp.detach()
    return {
        "cdp_used_mb": metrics["JSHeapUsedSize"] / 1e6,
        "cdp_total_mb": metrics["JSHeapTotalSize"] / 1e6,
        "performance_memory_mb": page.evaluate("performance.memory.usedJSHeapSize") / 1e6,
        "peak_since_generate_mb": page.evaluate("window.__fkHeapPeak || 0") / 1e6,
    }


def _watch_progress(page: Page) -> tuple[str | None, list[int]]:
    """Poll the first task card until it ends; the progress values it showed, in order."""
    card = page.locator('[data-fk="task"]').first
    card.wait_for(timeout=30_000)
    seen: list[int] = []
    deadline = time.monotonic() + GENERATION_MS / 1000
    status = card.get_attribute("data-status")
    while time.monotonic() < deadline:
        status = card.get_attribute("data-status")
        progress = card.get_attribute("data-progress")
        if progress is not None and (not seen or seen[-1] != int(progress)):
            seen.append(int(progress))
        if status in ("completed", "failed", "uncertain", "stopped"):
            break
        time.sleep(0.2)
    return status, seen


def _press_field_keys(page: Page) -> dict[str, Any]:
    """Type a multi-line prompt with real keys, and Enter-family keys in a one-line field."""
    page.evaluate("window.__vscodeForwardedKeydowns.length = 0")
    prompt = page.locator('[data-fk="prompt"]').first
    prompt.click()
    page.keyboard.press("Control+a")
    prompt.press_sequentially(PROMPT_LINES[0])
    page.keyboard.press("Enter")
    prompt.press_sequentially(PROMPT_LINES[1])
    page.keyboard.press("Shift+Enter")
    prompt.press_sequentially(PROMPT_LINES[2])
    negative = page.locator('[data-fk="negative-prompt"]').first
    negative.click()
    negative.press_sequentially("blurry")
    for key in ("Enter", "Shift+Enter", "Control+Enter"):
        page.keyboard.press(key)
    forwarded: list[dict[str, Any]] = page.evaluate("window.__vscodeForwardedKeydowns.slice()")
    return {"prompt_value": prompt.input_value(), "forwarded": forwarded}


def _background(page: Page) -> dict[str, Any]:
    return dict(
        page.evaluate(
            """() => {
              const probe = document.createElement('div');
              probe.style.background = 'var(--vscode-editor-background)';
              document.body.appendChild(probe);
              const expected = getComputedStyle(probe).backgroundColor;
              probe.remove();
              const root = document.querySelector('[data-fk="root"]');
              const css = getComputedStyle(document.documentElement);
              // The renderer's own box around the output (white, !important, in VS Code).
              const box = root.closest('.cell-output-ipywidget-background');
              const r = root.getBoundingClientRect();
              const b = box.getBoundingClientRect();
              return {
                box: getComputedStyle(box).backgroundColor,
                // How far the renderer's box shows beyond the studio root, px per side.
                box_margin: [r.left - b.left, r.top - b.top, b.right - r.right, b.bottom - r.bottom].map(Math.round),
                root_radius: getComputedStyle(root).borderTopLeftRadius,
                root: getComputedStyle(root).backgroundColor,
                vscode_editor_background: expected,
                jp_layout_color1: css.getPropertyValue('--jp-layout-color1').trim(),
                body_class: document.body.className,
              };
            }"""
        )
    )


def _set_theme(page: Page, kind: str, colours: dict[str, str]) -> None:
    """Switch theme the way VS Code does in a live webview: body class and --vscode-* values."""
    page.evaluate(
        """([kind, colours]) => {
          document.body.classList.remove('vscode-dark', 'vscode-light', 'vscode-high-contrast');
          document.body.classList.add(kind);
          document.body.dataset.vscodeThemeKind = kind;
          for (const [name, value] of Object.entries(colours)) {
            document.documentElement.style.setProperty('--vscode-' + name, value);
          }
        }""",
        [kind, colours],
    )


LIGHT = {
    "editor-background": "#ffffff",
    "editor-foreground": "#3b3b3b",
    "foreground": "#3b3b3b",
    "button-background": "#005fb8",
    "input-background": "#ffffff",
    "input-foreground": "#3b3b3b",
    "input-border": "#cecece",
    "focusBorder": "#005fb8",
    "widget-border": "#e5e5e5",
}


def _run_stand_in(server: JupyterServer, shots: Path, protocol: str) -> dict[str, Any]:
    seen: dict[str, Any] = {"protocol_mode": protocol}
    name = "vscode" if protocol == "legacy" else f"vscode-{protocol}"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(**launch_options())
        page = browser.new_page(viewport={"width": 1100, "height": 1300})
        errors = _console_errors(page)
        page.add_init_script(FIRST_FRAME_WATCH)
        try:
            page.goto(
                f"{server.url}/static/vscode/harness.html?token={server.token}&theme=dark&protocol={protocol}",
                timeout=PAGE_LOAD_MS,
            )
            page.wait_for_function("() => document.body && document.body.dataset.vscReady", timeout=PAGE_LOAD_MS)
            if page.evaluate("document.body.dataset.vscReady") != "true":
                raise AssertionError("stand-in did not start:\n" + str(page.evaluate("document.body.dataset.vscError")))
            seen["execute"] = page.evaluate("(code) => window.vscodeStandIn.execute(code)", WIDGET_CELL)
            failed = 'pre[data-vsc-output="error"], pre[data-vsc-stream="stderr"]'
            page.wait_for_selector(f'[data-fk="root"], {failed}', timeout=WIDGET_MS)
            if page.locator(failed).count():
                raise AssertionError("the cell failed:\n" + page.locator(failed).first.inner_text())
            root = page.locator('[data-fk="root"]').first
            seen["mode"] = root.get_attribute("data-mode")
            seen["keys"] = _press_field_keys(page)
            seen["background_dark"] = _background(page)
            page.screenshot(path=str(shots / f"{name}-dark-1-typed.png"), full_page=True)

            page.wait_for_function("() => !document.querySelector('[data-fk=\"generate\"]').disabled", timeout=30_000)
            page.click('[data-fk="generate"]')
            seen["status"], seen["progress"] = _watch_progress(page)
            seen["tasks"] = page.locator('[data-fk="task"]').count()
            page.screenshot(path=str(shots / f"{name}-dark-2-done.png"), full_page=True)
            seen["video"] = check_video(page)
            seen["times"] = page.evaluate("window.__fkTimes")
            seen["heap"] = _heap(page)
            seen["wire"] = page.evaluate("window.vscodeStandIn.stats()")
            page.locator('[data-fk="task"]').first.scroll_into_view_if_needed()
            page.screenshot(path=str(shots / f"{name}-dark-3-playing.png"), full_page=True)

            _set_theme(page, "vscode-light", LIGHT)
            seen["background_light"] = _background(page)
            page.screenshot(path=str(shots / f"{name}-light.png"), full_page=True)
            seen["errors"] = [e for e in errors if not any(a in e for a in ALLOWED_CONSOLE_ERRORS)]
            seen["allowed_errors"] = [e for e in errors if any(a in e for a in ALLOWED_CONSOLE_ERRORS)]
        except BaseException:
            page.screenshot(path=str(shots / f"{name}-failure.png"), full_page=True)
            raise
        finally:
            browser.close()
    return seen


# The kernel socket's wire protocol, as the extension reports it to the webview: legacy ('') for
# a local kernel (the extension's raw socket; only messages with buffers are binary frames), the
# v1 subprotocol for a kernel on a Jupyter server (every frame binary, so every one a byte array).
PROTOCOLS = {"legacy": "", "v1": "v1.kernel.websocket.jupyter.org"}


@pytest.fixture(scope="module", params=list(PROTOCOLS))
def stand_in_run(request: pytest.FixtureRequest, vscode_server: JupyterServer, artifacts: Path) -> dict[str, Any]:
    """The scenario, run once per wire protocol; what it saw, for the tests below (also saved
    beside the screenshots)."""
    protocol = str(request.param)
    seen = _run_stand_in(vscode_server, artifacts, protocol)
    (artifacts / f"vscode-{protocol}-observations.json").write_text(json.dumps(seen, indent=1))
    return seen


def test_vscode_renders_generates_and_plays(stand_in_run: dict[str, Any]) -> None:
    """The studio renders from a kernel cell, takes a multi-line prompt, shows progress, plays."""
    seen = stand_in_run
    assert seen["execute"]["status"] == "ok", seen["execute"]
    assert seen["mode"] == "emulator"
    assert seen["keys"]["prompt_value"] == "\n".join(PROMPT_LINES), seen["keys"]["prompt_value"]
    assert seen["status"] == "completed", seen
    assert seen["tasks"] == 1, seen["tasks"]  # the Enter-family presses in the fields started nothing
    progress = seen["progress"]
    assert progress[-1] == 100 and len(progress) >= 2 and progress == sorted(progress), progress
    video = seen["video"]
    assert video["scheme"] == "blob"
    assert video["width"] > 0 and video["height"] > 0, video
    assert video["t1"] > video["t0"], video
    # The buffers really crossed the boundary as JSON byte arrays (and the package's CSS is in).
    wire = seen["wire"]
    assert wire["protocol"] == PROTOCOLS[seen["protocol_mode"]] and wire["frames"]["binary"] >= 1, wire
    if seen["protocol_mode"] == "v1":
        assert wire["frames"]["text"] == 0, wire
    assert seen["background_dark"]["jp_layout_color1"], seen["background_dark"]
    assert not seen["errors"], "\n".join(seen["errors"])


def test_vscode_field_keys_do_not_reach_window(stand_in_run: dict[str, Any]) -> None:
    """VS Code's webview forwards every keydown that bubbles to window to the workbench, where
    Enter, Shift+Enter and Ctrl+Enter run or leave the cell: the studio's fields must stop them."""
    enters = [k for k in stand_in_run["keys"]["forwarded"] if k["key"] == "Enter"]
    shown = [f"{'Ctrl+' if k['ctrlKey'] else ''}{'Shift+' if k['shiftKey'] else ''}Enter in {k['fk']}" for k in enters]
    assert not enters, f"reached window (VS Code would act on them): {shown}"


def test_vscode_dark_background_follows_editor(stand_in_run: dict[str, Any]) -> None:
    """In vscode-dark the studio's root takes --vscode-editor-background, not the light
    --jp-layout-color1 that the package's injected labvariables.css defines."""
    dark = stand_in_run["background_dark"]
    assert dark["root"] == dark["vscode_editor_background"], dark
    light = stand_in_run["background_light"]
    assert light["root"] == light["vscode_editor_background"], light


def test_vscode_dark_no_white_box_around_studio(stand_in_run: dict[str, Any]) -> None:
    """In vscode-dark nothing of the renderer's white output box shows around the studio: either the
    box takes the editor background or the studio covers it exactly, square-cornered."""
    dark = stand_in_run["background_dark"]
    box_matches = dark["box"] == dark["vscode_editor_background"]
    covered = max(dark["box_margin"]) <= 0 and dark["root_radius"] in ("0px", "")
    assert box_matches or covered, dark


# The benchmark's clips: the emulator's small preview, and a file as large as a real 5 s 1080p
# clip (~6 MB), where the JSON byte-array encoding of the buffer costs most.
BENCH_CLIPS = {
    "preview-720p": ("", "720p"),
    "real-size-1080p": ("import os\nos.environ['FOXKLING_EMULATOR_REAL_SIZE'] = '1'\n", "1080p"),
}


def _generate_once(page: Page, resolution: str) -> dict[str, Any]:
    """From a rendered studio: a prompt, a resolution, Generate; then the video plays."""
    type_into(page, '[data-fk="prompt"]', PROMPT_LINES[0])
    page.click(f'[data-fk="resolution"] [data-value="{resolution}"]')
    page.wait_for_function("() => !document.querySelector('[data-fk=\"generate\"]').disabled", timeout=30_000)
    page.click('[data-fk="generate"]')
    status, _ = _watch_progress(page)
    assert status == "completed", page.locator('[data-fk="task"]').first.inner_text()
    video = check_video(page)
    assert video["t1"] > video["t0"], video
    return {"times": page.evaluate("window.__fkTimes"), "heap": _heap(page), "video": video}


def _bench_launch_options() -> dict[str, Any]:
    """The usual browser, with exact (not bucketed) performance.memory figures."""
    return {**launch_options(), "args": [*LAUNCH_ARGS, "--enable-precise-memory-info"]}


def _bench_stand_in(server: JupyterServer, shots: Path, clip: str) -> dict[str, Any]:
    setup, resolution = BENCH_CLIPS[clip]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(**_bench_launch_options())
        page = browser.new_page(viewport={"width": 1100, "height": 1300})
        page.add_init_script(FIRST_FRAME_WATCH)
        try:
            page.goto(f"{server.url}/static/vscode/harness.html?token={server.token}&theme=dark", timeout=PAGE_LOAD_MS)
            page.wait_for_function("() => document.body.dataset.vscReady === 'true'", timeout=PAGE_LOAD_MS)
            page.evaluate("(code) => window.vscodeStandIn.execute(code)", setup + WIDGET_CELL)
            page.wait_for_selector('[data-fk="root"]', timeout=WIDGET_MS)
            result = _generate_once(page, resolution)
            result["wire"] = page.evaluate("window.vscodeStandIn.stats()")
            return result
        except BaseException:
            page.screenshot(path=str(shots / f"vscode-bench-{clip}-failure.png"), full_page=True)
            raise
        finally:
            browser.close()


def _bench_lab(server: JupyterServer, shots: Path, clip: str) -> dict[str, Any]:
    setup, resolution = BENCH_CLIPS[clip]
    write_notebook(server.root / "bench.ipynb", setup + WIDGET_CELL)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(**_bench_launch_options())
        page = browser.new_page(viewport={"width": 1100, "height": 1300})
        page.add_init_script(FIRST_FRAME_WATCH)
        try:
            open_notebook(page, f"{server.url}/lab/tree/bench.ipynb?token={server.token}")
            run_all(page)
            wait_for_widget(page)
            return _generate_once(page, resolution)
        except BaseException:
            page.screenshot(path=str(shots / f"vscode-bench-lab-{clip}-failure.png"), full_page=True)
            raise
        finally:
            browser.close()


# About two minutes of two browsers and two servers: run on request, not with every suite run.
@pytest.mark.skipif(
    not os.environ.get("FOXKLING_BENCH_VSCODE"), reason="benchmark: set FOXKLING_BENCH_VSCODE=1 to run it"
)
@pytest.mark.parametrize("clip", list(BENCH_CLIPS))
def test_benchmark_first_frame_vscode_vs_lab(
    clip: str, vscode_server: JupyterServer, jupyter_lab: JupyterServer, artifacts: Path
) -> None:
    """Prints Generate-to-first-frame and the JS heap, stand-in against JupyterLab (no asserts on them)."""
    vsc = _bench_stand_in(vscode_server, artifacts, clip)
    lab = _bench_lab(jupyter_lab, artifacts, clip)
    vsc_ms = vsc["times"]["firstFrame"] - vsc["times"]["generate"]
    lab_ms = lab["times"]["firstFrame"] - lab["times"]["generate"]
    wire = vsc["wire"]
    vsc_heap, lab_heap = vsc["heap"], lab["heap"]
    print(
        f"\n[{clip}] generate-to-first-frame: vscode stand-in {vsc_ms:.0f} ms, JupyterLab {lab_ms:.0f} ms"
        f" (ratio {vsc_ms / lab_ms:.2f})"
        f"\n[{clip}] JS heap after the video loaded (CDP, after GC): vscode stand-in {vsc_heap['cdp_used_mb']:.1f} MB,"
        f" JupyterLab {lab_heap['cdp_used_mb']:.1f} MB (ratio {vsc_heap['cdp_used_mb'] / lab_heap['cdp_used_mb']:.2f});"
        f" performance.memory {vsc_heap['performance_memory_mb']:.1f} MB vs {lab_heap['performance_memory_mb']:.1f} MB;"
        f" peak from Generate to loaded {vsc_heap['peak_since_generate_mb']:.1f} MB vs"
        f" {lab_heap['peak_since_generate_mb']:.1f} MB"
        f" (ratio {vsc_heap['peak_since_generate_mb'] / lab_heap['peak_since_generate_mb']:.2f})"
        f"\n[{clip}] stand-in wire: {wire['frames']['binary']} binary kernel frames"
        f" of {wire['frames']['binaryBytes']} bytes,"
        f" posted to the webview as {wire['channel']['toWebviewBytes']} bytes of JSON"
        f" in {wire['channel']['toWebviewMessages']} messages"
    )
