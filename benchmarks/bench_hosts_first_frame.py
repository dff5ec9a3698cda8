"""First frame of real-size clips in JupyterLab and in the VS Code stand-in, and a gallery of four.

Two parts, each against a baseline from the same run (prints; never asserts):

``first-frame``: for 5, 30 and 100 MB clips (the emulator's real-size renders: 720p 10 s, 4k 3 s,
4k 10 s), a finished card is shown in a fresh server, notebook and kernel, once in JupyterLab
(the baseline) and once in the VS Code stand-in of ``tests/browser/vscode/`` (every binary
kernel frame crosses the extension/webview boundary as a JSON array of byte values; the legacy
wire protocol, VS Code's for a local kernel). Per run:

- time to first frame: from the view's video probe going out (the transport's first message,
  in the page's own clock) to the card's ``<video>`` firing ``loadeddata``, and to the first
  ``requestVideoFrameCallback`` after a muted ``play()`` (the frame is on screen);
- time until every byte is here (``done``: no card says "Loading video" any more; a progressive
  clip plays long before);
- kernel and Jupyter server memory added by the send: each process's peak RSS from the probe
  to the frame or the last byte, whichever is later (+0.5 s), above its RSS just before
  (sampled every 5 ms from outside);
- the tab's JS heap added: peak ``Runtime.getHeapUsage`` (used + ArrayBuffer backing stores)
  over the same window above the figure before it (after a forced GC), and the page's own
  ``performance.memory`` peak (exact figures: ``--enable-precise-memory-info``) above its start.

Goals: the stand-in's first frame of 30 MB <= 3x JupyterLab's; kernel and server memory added by
a send <= 16 MB.

``gallery``: in JupyterLab, one 77 MB clip (8 s of 4k at 77 Mbit/s) alone as a card (the
baseline), then a batch of four such clips in one gallery: the time from the probe until all
four have played a frame. Goal: four <= 2x one.

    .venv/bin/python benchmarks/bench_hosts_first_frame.py
    FOXKLING_BENCH_PARTS=gallery FOXKLING_BENCH_SIZES_MB=5,30 .venv/bin/python benchmarks/bench_hosts_first_frame.py

``FOXKLING_BENCH_WARM_AV=1`` imports PyAV in the kernel before the send, as a kernel that has made
a poster or rendered a clip has: PyAV's one-time import (~25 MB of libraries) is then not counted
as the send's memory (progressive playback remuxes with PyAV while it sends).

Needs the front end built and js/node_modules (the stand-in's npm packages and esbuild).
Clips are rendered before any server starts (not measured); each run gets its own server,
since one that has held a 100 MB transfer keeps that memory and the next rise would read low.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _sampling import MB, TransferWatch
from bench_transport import CHROMIUM, KERNEL_WATCH, Lab
from playwright.sync_api import Browser, Page, sync_playwright

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))  # the browser helpers import tests/waits.py as pytest runs them
from tests.browser.test_vscode import build_static  # noqa: E402 - the stand-in's page, as its test builds it

SIZES_MB = [int(s) for s in os.environ.get("FOXKLING_BENCH_SIZES_MB", "5,30,100").split(",")]
PARTS = os.environ.get("FOXKLING_BENCH_PARTS", "first-frame,gallery").split(",")
WARM_AV = os.environ.get("FOXKLING_BENCH_WARM_AV") == "1"
# Real-size renders per size: (resolution, seconds). The tiers' rates make these sizes
# (720p 4 Mbit/s, 4k 80 Mbit/s): 5, 30 and 100 MB (10^6 bytes).
CLIPS = {5: ("720p", 10), 30: ("4k", 3), 100: ("4k", 10)}
GALLERY_SECONDS, GALLERY_BYTES = 8, 77_000_000
TRANSFER_S = 600  # from running the cell until every clip has shown a frame
RENDER_S = 180  # from running the cell until the view's probe goes out
ARTIFACTS = Path(os.environ.get("FOXKLING_ARTIFACTS", ROOT / "test-artifacts"))

# A studio on clips that are already here, shown as finished tasks (a client that is never used).
CELL = """
from pathlib import Path
from foxkling_widgets import FoxClient, KlingWidget, VideoRequest
from foxkling_widgets._controller import Generation
w = KlingWidget(client=FoxClient("sk-bench-unused", "http://127.0.0.1:9"))
_paths = __PATHS__
for _i, _p in enumerate(_paths):
    _batch = {"id": "batch-bench", "index": _i, "count": len(_paths), "label": f"clip {_i + 1}"}
    w._controller.add_finished(Generation(
        VideoRequest(prompt=f"bench {_i}"), id=f"task-bench-{_i}", status="completed", progress=100.0,
        path=Path(_p), watching=False, batch=_batch if len(_paths) > 1 else None,
    ))
w
"""

# In the page's clock (performance.timeOrigin + now, ms): when the view's probe went out (hooked
# on the real WebSocket, which both hosts use under their kernel connections), and per studio
# video, its loadeddata and its first presented frame after a muted play(). The page's JS heap
# is sampled from here too.
PAGE_TIMING = """
window.__fkBench = { videos: [], memStart: 0, memPeak: 0 };
const now = () => performance.timeOrigin + performance.now();
const NativeSend = WebSocket.prototype.send;
WebSocket.prototype.send = function (data) {
  if (window.__fkBench.start === undefined) {
    const text = typeof data === "string" ? data : new TextDecoder().decode(data);
    if (text.includes("video-probe")) window.__fkBench.start = now();
  }
  return NativeSend.call(this, data);
};
setInterval(() => {
  if (!performance.memory) return;
  const used = performance.memory.usedJSHeapSize;
  if (window.__fkBench.start === undefined) window.__fkBench.memStart = used;
  else window.__fkBench.memPeak = Math.max(window.__fkBench.memPeak, used);
}, 25);
document.addEventListener("loadeddata", (event) => {
  const video = event.target;
  if (!video.matches || !video.matches('video[data-fk="video"]') || video.__fkSeen) return;
  video.__fkSeen = true;
  const entry = { loaded: now(), frame: null };
  window.__fkBench.videos.push(entry);
  video.requestVideoFrameCallback(() => { entry.frame = now(); });
  video.muted = true;
  video.play().catch(() => {});
}, true);
"""


def _fresh_lab(home: Path, static: Path | None) -> Lab:
    if static is not None:  # the stand-in's page, served by the server's static handler
        (home / "jupyter").mkdir(parents=True)
        (home / "jupyter" / "jupyter_server_config.json").write_text(
            json.dumps({"ServerApp": {"extra_static_paths": [str(static)]}})
        )
    return Lab(home)


def _stop(lab: Lab) -> None:
    # The stand-in starts its kernel without a session: shut every kernel down by id.
    try:
        for kernel in lab.api("/api/kernels") or []:
            lab.api(f"/api/kernels/{kernel['id']}", method="DELETE")
    finally:
        lab.stop()


def _open_lab(lab: Lab, page: Page, cell: str) -> None:
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(cell)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, lab.root / "bench.ipynb")
    page.add_init_script(KERNEL_WATCH)
    page.goto(f"{lab.url}/lab/tree/bench.ipynb?token={lab.token}&reset", timeout=90_000)
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=90_000)
    page.wait_for_function(
        "() => window.__fkKernelBusy && "
        "document.querySelector('.jp-Notebook-ExecutionIndicator[data-status=\"idle\"]')",
        timeout=120_000,
    )


def _run_lab_cell(page: Page, _cell: str) -> None:
    page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
    page.locator('li.lm-Menu-item[data-command="runmenu:run-all"]').click()


def _open_stand_in(lab: Lab, page: Page, _cell: str) -> None:
    page.goto(f"{lab.url}/static/vscode/harness.html?token={lab.token}&theme=dark", timeout=90_000)
    page.wait_for_function("() => document.body && document.body.dataset.vscReady", timeout=120_000)
    if page.evaluate("document.body.dataset.vscReady") != "true":
        raise RuntimeError(f"stand-in did not start: {page.evaluate('document.body.dataset.vscError')}")


def _run_stand_in_cell(page: Page, cell: str) -> None:
    page.evaluate("(code) => { window.vscodeStandIn.execute(code); }", cell)


HOSTS = {
    "JupyterLab": (_open_lab, _run_lab_cell),
    "VS Code stand-in": (_open_stand_in, _run_stand_in_cell),
}


def measure(browser: Browser, lab: Lab, host: str, paths: list[Path]) -> dict[str, float]:
    """One run: open the host, run the cell, wait until every clip has shown a frame."""
    opener, runner = HOSTS[host]
    cell = CELL.replace("__PATHS__", repr([str(p) for p in paths]))
    if WARM_AV:
        cell = "import av\n" + cell
    page = browser.new_page(viewport={"width": 1280, "height": 1400})
    console: list[str] = []
    page.on("console", lambda m: console.append(f"{m.type}: {m.text}") if m.type in ("error", "warning") else None)
    page.on("pageerror", lambda error: console.append(f"pageerror: {error}"))
    page.add_init_script(PAGE_TIMING)
    opener(lab, page, cell)
    pid = lab.kernel_pid()
    assert pid is not None, "no kernel process"
    watch = TransferWatch(page, pid, lab.process.pid)
    runner(page, cell)
    ran = time.monotonic()
    timing: dict[str, Any] = {}
    while True:
        watch.tick()
        timing = page.evaluate("window.__fkBench")
        videos = timing["videos"]
        if len(videos) == len(paths) and all(v["frame"] for v in videos) and "start" in timing:
            break
        waited = time.monotonic() - ran
        if waited > TRANSFER_S or ("start" not in timing and waited > RENDER_S):
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            shot = ARTIFACTS / f"bench-hosts-{host.split()[0].lower()}-{len(paths)}-timeout.png"
            page.screenshot(path=str(shot), full_page=True)
            raise TimeoutError(
                f"{host}: {len(paths)} clip(s) never all showed a frame in {waited:.0f} s: {timing}\n"
                + "\n".join(console[-20:])
                + f"\nscreenshot: {shot}"
            )
        time.sleep(0.05)
    # A progressive clip plays before its last byte: memory is measured until every byte is here
    # too (the card's loading note hides), so "added by the send" covers the whole send.
    while page.locator('[data-fk="video-loading"]:not([hidden])').count() and time.monotonic() - ran < TRANSFER_S:
        watch.tick()
        time.sleep(0.05)
    done = time.time()
    watch.stop()
    page.close()
    start = timing["start"] / 1000
    loaded = max(v["loaded"] for v in timing["videos"]) / 1000
    framed = max(v["frame"] for v in timing["videos"]) / 1000
    return {
        "loaded": loaded - start,
        "frame": framed - start,
        "done": max(done, framed) - start,
        **watch.added(start, max(done, framed)),
        "page_heap": max(0, timing["memPeak"] - timing["memStart"]) / MB,
    }


def render_clip(directory: Path, name: str, resolution: str, seconds: int, prompt: str) -> Path:
    """An emulator real-size render (its packets padded to the tier's rate throughout)."""
    from foxkling_widgets.emulator._render import render_video

    path = directory / f"{name}.mp4"
    payload = {"model": "kling-v3-text-to-video", "prompt": prompt, "duration": seconds, "resolution": resolution}
    render_video(payload, path, real_size=True)
    return path


def _row(label: str, result: dict[str, float], note: str) -> str:
    figures = " | ".join(
        f"{result[k]:{w}.{d}f}"
        for k, w, d in (
            ("loaded", 8, 2),
            ("frame", 8, 2),
            ("done", 8, 2),
            ("kernel", 10, 1),
            ("server", 10, 1),
            ("heap", 9, 1),
        )
    )
    return f"{label} | {figures} | {result['page_heap']:9.1f}  {note}"


HEADER = (
    f"{'':<32} | {'loaded s':>8} | {'frame s':>8} | {'done s':>8} | {'kernel +MB':>10} | {'server +MB':>10}"
    f" | {'heap +MB':>9} | {'perf +MB':>9}"
)


def first_frame(browser: Browser, home: Path, static: Path) -> None:
    clips = {mb: render_clip(home, f"clip-{mb}mb", *CLIPS[mb], prompt="a fox in the snow") for mb in SIZES_MB}
    rows: list[tuple[int, str, dict[str, float]]] = []
    for mb, path in clips.items():
        for number, host in enumerate(HOSTS):
            lab = _fresh_lab(Path(tempfile.mkdtemp(prefix=f"ff-{mb}-{number}-", dir=home)), static)
            try:
                rows.append((mb, host, measure(browser, lab, host, [path])))
            finally:
                _stop(lab)
        print(f"  measured {mb} MB ({path.stat().st_size} bytes)", file=sys.stderr)
    print("first frame of one clip: probe to loadeddata / to the first presented frame; memory added by the send")
    print(HEADER)
    print("-" * len(HEADER))
    for mb, host, result in rows:
        base = next(r for m, h, r in rows if m == mb and h == "JupyterLab")
        note = "(baseline)" if host == "JupyterLab" else f"(frame {result['frame'] / base['frame']:.2f}x Lab)"
        print(_row(f"{mb:>4} MB {host:<24}", result, note))
    print("goals: stand-in's first frame of 30 MB <= 3x JupyterLab's; kernel and server +MB <= 16")


def gallery(browser: Browser, home: Path) -> None:
    from foxkling_widgets.emulator import _render

    # 8 s of 4k at the tier's 80 Mbit/s is 80 MB; the gallery's clips are 77 MB.
    _render.REAL_BITRATES["4k"] = GALLERY_BYTES * 8 // GALLERY_SECONDS
    clips = [render_clip(home, f"gallery-{i}", "4k", GALLERY_SECONDS, prompt=f"fox number {i}") for i in range(4)]
    results: dict[str, dict[str, float]] = {}
    for label, paths in (("one 77 MB clip alone", clips[:1]), ("gallery of four 77 MB clips", clips)):
        lab = _fresh_lab(Path(tempfile.mkdtemp(prefix="gallery-", dir=home)), None)
        try:
            results[label] = measure(browser, lab, "JupyterLab", paths)
        finally:
            _stop(lab)
        print(f"  measured {label}", file=sys.stderr)
    print(f"gallery in JupyterLab ({clips[0].stat().st_size} bytes a clip): probe until every clip played a frame")
    print(HEADER)
    print("-" * len(HEADER))
    base = results["one 77 MB clip alone"]
    for label, result in results.items():
        note = "(baseline)" if result is base else f"(frame {result['frame'] / base['frame']:.2f}x one)"
        print(_row(f"{label:<32}", result, note))
    print("goal: four <= 2x one")


def main() -> None:
    home = Path(tempfile.mkdtemp(prefix="fk-bench-hosts-"))
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-sync",
                "--autoplay-policy=no-user-gesture-required",
                "--enable-precise-memory-info",
            ],
        )
        try:
            if "first-frame" in PARTS:
                build_static(home / "static")  # served at /static/vscode/
                first_frame(browser, home, home / "static")
            if "gallery" in PARTS:
                gallery(browser, home)
        finally:
            browser.close()
            shutil.rmtree(home, ignore_errors=True)  # ~450 MB of clips


if __name__ == "__main__":
    main()
