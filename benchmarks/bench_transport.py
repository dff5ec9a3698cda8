"""Video transport in real JupyterLab: the chunked transport vs the old single buffer, same run.

For 5, 30 and 100 MB clips (a real emulator MP4 grown with a top-level ``free`` box), each in a
fresh notebook and kernel, it measures:

- transport time: from the first message out (the probe, for the chunked transport) to a
  ``blob:`` URL on the video, in the page's own clock;
- kernel memory added by the send: the kernel process's peak RSS during the transfer, above its
  RSS just before (sampled every 5 ms from outside the kernel, ``_sampling.py``); the same for
  the Jupyter server;
- the tab's JS heap added: peak ``Runtime.getHeapUsage`` (used + ArrayBuffer backing stores)
  during the transfer, above the figure before it (after a forced GC).

The baseline is the old path reimplemented here (the kernel read the whole file and sent it
as one buffer; the page made one Blob of it). Goal: kernel memory added by a send <= 16 MB at
any size. Prints a table; never asserts. Uses a scratch journal, cache and Jupyter config.

    .venv/bin/python benchmarks/bench_transport.py   # FOXKLING_BENCH_SIZES_MB=5,30 for fewer
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import nbformat
import psutil
from _emulator import free_port
from _sampling import MB, TransferWatch
from playwright.sync_api import Page, sync_playwright

SIZES_MB = [int(s) for s in os.environ.get("FOXKLING_BENCH_SIZES_MB", "5,30,100").split(",")]
CHROMIUM = os.environ.get("FOXKLING_CHROMIUM", "/usr/bin/chromium")

# Both cells build a widget on a clip made before the kernel starts (its writing is not measured).
CHUNKED_CELL = """
from foxkling_widgets import FoxClient, KlingWidget, VideoRequest
from foxkling_widgets._controller import Generation
# A client that is never used: the clip is already here, shown as a finished task.
w = KlingWidget(client=FoxClient("sk-bench-unused", "http://127.0.0.1:9"))
w._controller.add_finished(Generation(
    VideoRequest(prompt="bench"), id="task-bench-1", status="completed", progress=100.0,
    path=__import__("pathlib").Path(__PATH__), watching=False,
))
w
"""

# The transport this replaces, as it was: the whole file read and sent as one buffer, one Blob.
SINGLE_BUFFER_CELL = '''
import pathlib
import anywidget
import traitlets

class SingleBuffer(anywidget.AnyWidget):
    _esm = """
    export default { render({ model, el }) {
      const video = document.createElement("video");
      video.setAttribute("data-bench", "single");
      el.append(video);
      window.__fkBench = { start: performance.timeOrigin + performance.now() };
      model.on("msg:custom", (msg, buffers) => {
        if (msg.kind !== "bench-video-response") return;
        video.src = URL.createObjectURL(new Blob([buffers[0]], { type: "video/mp4" }));
        window.__fkBench.end = performance.timeOrigin + performance.now();
      });
      model.send({ kind: "bench-video" });
    } };
    """
    path = traitlets.Unicode().tag(sync=True)

    def __init__(self, path):
        super().__init__(path=path)
        self.on_msg(self._answer)

    def _answer(self, _widget, content, _buffers):
        data = pathlib.Path(self.path).read_bytes()  # what _send_video did before the chunks
        self.send({"kind": "bench-video-response"}, [data])

SingleBuffer(__PATH__)
'''

# Records, in the page's clock, when the chunked transport starts (its probe goes out) and when
# the card's video gets its blob: URL.
PAGE_TIMING = """
window.__fkBench = {};
const NativeSend = WebSocket.prototype.send;
WebSocket.prototype.send = function (data) {
  if (window.__fkBench.start === undefined) {
    const text = typeof data === "string" ? data : new TextDecoder().decode(data);
    if (text.includes("video-probe")) window.__fkBench.start = performance.timeOrigin + performance.now();
  }
  return NativeSend.call(this, data);
};
new MutationObserver(() => {
  const video = document.querySelector('video[data-fk="video"]');
  if (video && window.__fkBench.end === undefined && (video.getAttribute("src") || "").startsWith("blob:")) {
    window.__fkBench.end = performance.timeOrigin + performance.now();
  }
}).observe(document, { subtree: true, attributes: true, childList: true, attributeFilter: ["src"] });
"""

# Colab's widget manager drops binary buffers: the page turns each binary kernel frame back into
# its JSON alone (JupyterLab then uses the default websocket protocol, where a message is a binary
# frame exactly when it has buffers), so the view's probe fails and it asks for base64 chunks.
DROP_BUFFERS = """
(() => {
  const Native = window.WebSocket;
  const strip = (event) => {
    if (!(event.data instanceof ArrayBuffer)) return event;
    const view = new DataView(event.data);
    const start = view.getUint32(4);
    const end = view.getUint32(0) > 1 ? view.getUint32(8) : event.data.byteLength;
    return { data: new TextDecoder().decode(new Uint8Array(event.data, start, end - start)) };
  };
  class Dropping extends Native {
    constructor(url, protocols) {
      const kernel = String(url).includes("/api/kernels/");
      super(url, kernel ? undefined : protocols);
      this.__fkKernel = kernel;
    }
    set onmessage(handler) {
      super.onmessage = this.__fkKernel && handler ? (event) => handler.call(this, strip(event)) : handler;
    }
    get onmessage() {
      return super.onmessage;
    }
  }
  window.WebSocket = Dropping;
})();
"""

KERNEL_WATCH = """
window.__fkKernelBusy = false;
new MutationObserver(() => {
  const el = document.querySelector('.jp-Notebook-ExecutionIndicator');
  if (el && el.getAttribute('data-status') !== 'idle') window.__fkKernelBusy = true;
}).observe(document, {subtree: true, attributes: true, childList: true});
"""


# (name, cell, drop buffers): the baseline last.
PATHS = [
    ("chunked, binary", CHUNKED_CELL, False),
    ("chunked, base64 (no bufs)", CHUNKED_CELL, True),
    ("single buffer (old)", SINGLE_BUFFER_CELL, False),
]


def make_clip(directory: Path, size: int) -> Path:
    """An emulator MP4 grown to ``size`` bytes with a top-level ``free`` box, written in 1 MB pieces."""
    from foxkling_widgets.emulator._render import render_video

    path = directory / f"clip-{size // MB}mb.mp4"
    render_video({"model": "kling-v3-text-to-video", "prompt": "a fox in the snow", "duration": 5}, path)
    extra = size - path.stat().st_size
    with path.open("ab") as out:
        out.write(extra.to_bytes(4, "big") + b"free")
        left = extra - 8
        while left:
            out.write(bytes(min(left, MB)))
            left -= min(left, MB)
    return path


class Lab:
    """A JupyterLab server in a scratch home (journal, cache, config all temporary)."""

    def __init__(self, home: Path) -> None:
        self.root = home / "root"
        self.root.mkdir()
        settings = home / "lab-settings"
        (settings / "@jupyterlab" / "apputils-extension").mkdir(parents=True)
        (settings / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings").write_text(
            json.dumps({"fetchNews": "false"})
        )
        self.token = secrets.token_hex(16)
        self.url = f"http://127.0.0.1:{free_port()}"
        env = {
            **os.environ,
            "JUPYTER_CONFIG_DIR": str(home / "jupyter"),
            "JUPYTER_DATA_DIR": str(home / "data"),
            "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
            "IPYTHONDIR": str(home / "ipython"),
            "JUPYTERLAB_SETTINGS_DIR": str(settings),
            "JUPYTERLAB_WORKSPACES_DIR": str(home / "workspaces"),
            "FOXKLING_DATA_DIR": str(home / "fk-data"),
            "FOXKLING_CACHE_DIR": str(home / "fk-cache"),
        }
        env.pop("FOXAPI_API_KEY", None)
        self.log = (home / "jupyter.log").open("wb")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "jupyter",
                "lab",
                "--no-browser",
                "--ip=127.0.0.1",
                f"--port={self.url.rsplit(':', 1)[1]}",
                "--ServerApp.port_retries=0",
                "--allow-root",
                f"--IdentityProvider.token={self.token}",
                f"--ServerApp.root_dir={self.root}",
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError("jupyter lab exited; see its log")
            try:
                with urllib.request.urlopen(f"{self.url}/api/status?token={self.token}", timeout=2):  # noqa: S310
                    return
            except OSError:
                time.sleep(0.2)
        raise TimeoutError("jupyter lab did not start")

    def api(self, path: str, method: str = "GET") -> Any:
        request = urllib.request.Request(f"{self.url}{path}?token={self.token}", method=method)  # noqa: S310
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            body = response.read()
            return json.loads(body) if body else None

    def kernel_pid(self) -> int | None:
        for child in psutil.Process(self.process.pid).children(recursive=True):
            try:
                if any("ipykernel" in part for part in child.cmdline()):
                    return child.pid
            except psutil.Error:
                continue
        return None

    def shutdown_kernels(self) -> None:
        for session in self.api("/api/sessions") or []:
            self.api(f"/api/sessions/{session['id']}", method="DELETE")
        deadline = time.monotonic() + 30
        while self.kernel_pid() is not None and time.monotonic() < deadline:
            time.sleep(0.2)

    def stop(self) -> None:
        try:
            self.shutdown_kernels()
        finally:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=30)
            self.log.close()


def run_one(lab: Lab, page: Page, name: str, cell: str) -> dict[str, float]:
    notebook = lab.root / f"{name}.ipynb"
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(cell)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, notebook)
    page.goto(f"{lab.url}/lab/tree/{notebook.name}?token={lab.token}&reset", timeout=90_000)
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=90_000)
    page.wait_for_function(
        "() => window.__fkKernelBusy && "
        "document.querySelector('.jp-Notebook-ExecutionIndicator[data-status=\"idle\"]')",
        timeout=120_000,
    )
    pid = lab.kernel_pid()
    assert pid is not None, "no kernel process"
    watch = TransferWatch(page, pid, lab.process.pid)
    page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
    page.locator('li.lm-Menu-item[data-command="runmenu:run-all"]').click()
    deadline = time.monotonic() + 600
    timing: dict[str, float] = {}
    while time.monotonic() < deadline:
        watch.tick()
        timing = page.evaluate("window.__fkBench || {}")
        if "end" in timing and "start" in timing:
            break
        time.sleep(0.05)
    else:
        raise TimeoutError(f"{name}: the video never arrived")
    watch.stop()
    start, end = timing["start"] / 1000, timing["end"] / 1000
    lab.shutdown_kernels()
    return {"seconds": end - start, **watch.added(start, end)}


def main() -> None:
    home = Path(tempfile.mkdtemp(prefix="fk-bench-transport-"))
    clips = {mb: make_clip(home, mb * MB) for mb in SIZES_MB}
    rows: list[tuple[int, str, dict[str, float]]] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-sync"],
        )
        for mb, path in clips.items():
            for number, (name, template, drop) in enumerate(PATHS):
                # A fresh server for each run: one that has already held a 100 MB message keeps
                # that memory, and the next run's rise would read too low.
                lab = Lab(Path(tempfile.mkdtemp(prefix=f"run-{mb}-{number}-", dir=home)))
                try:
                    page = browser.new_page()
                    page.add_init_script(KERNEL_WATCH)
                    if drop:
                        page.add_init_script(DROP_BUFFERS)
                    page.add_init_script(PAGE_TIMING)
                    cell = template.replace("__PATH__", repr(str(path)))
                    rows.append((mb, name, run_one(lab, page, f"run-{mb}-{number}", cell)))
                    page.close()
                finally:
                    lab.stop()
            print(f"  measured {mb} MB", file=sys.stderr)
        browser.close()
    header = f"{'clip':>6} | {'path':<26} | {'time s':>7} | {'kernel +MB':>10} | {'server +MB':>10} | "
    header += f"{'JS heap +MB':>11}"
    print(header)
    print("-" * len(header))
    for mb, name, result in rows:
        base = next(r for m, n, r in rows if m == mb and n == PATHS[-1][0])
        ratio = f"({result['seconds'] / base['seconds']:.2f}x)" if base["seconds"] > 0 else ""
        figures = " | ".join(f"{result[k]:{w}.1f}" for k, w in (("seconds", 7), ("kernel", 10), ("server", 10)))
        note = ratio if name != PATHS[-1][0] else "(baseline)"
        print(f"{mb:>4}MB | {name:<26} | {figures} | {result['heap']:11.1f}  {note}")
    print("time ratios are against the single buffer of the same size, same run")
    print("goal: kernel memory added by a send <= 16 MB at any size")


if __name__ == "__main__":
    main()
