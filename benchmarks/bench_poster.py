"""Poster extraction from a genuine 3840x2160 clip: the one-frame poster (seek to a keyframe,
decode one frame, scale in the decoder) vs the former approach (decode every frame up to 0.5 s,
each converted to a full-size image, then shrink), measured in the same run.

Each approach runs in a fresh process; the figures are the rise of peak RSS above the process's
RSS just before the call (after imports and a warm-up poster of a small clip) and the median time
of a few calls. The peak is the larger of a psutil sampler's and, on Linux, the kernel's
high-water mark reset just before the call (``ru_maxrss`` would not do: it starts at the parent's
RSS). Goal: the one-frame poster's peak stays near one decoded 4k picture (~12 MB of YUV).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import av
import numpy as np

# Benchmarks never touch the user's journal or cache.
_SCRATCH = tempfile.mkdtemp(prefix="foxkling-bench-")
os.environ["FOXKLING_DATA_DIR"] = f"{_SCRATCH}/data"
os.environ["FOXKLING_CACHE_DIR"] = f"{_SCRATCH}/cache"

SIZE = (3840, 2160)
FRAMES = 48  # 2 s at 24 fps
GOP = 12  # a keyframe every 0.5 s, as a real encoder might place them

#: Measures a block's peak RSS above the RSS at its start; shared by the child scripts.
PEAK = textwrap.dedent(
    """
    import threading
    import psutil

    def _high_water():
        # Linux's VmHWM, reset by writing 5 to clear_refs; 0 where there is no /proc.
        try:
            with open("/proc/self/status") as status:
                return next(int(l.split()[1]) * 1024 for l in status if l.startswith("VmHWM"))
        except (OSError, StopIteration):
            return 0

    class Peak:
        def __enter__(self):
            try:
                with open("/proc/self/clear_refs", "w") as refs:
                    refs.write("5")
            except OSError:
                pass  # the high-water mark then includes earlier peaks: an overestimate, never less
            self.process = psutil.Process()
            self.before = self.peak = self.process.memory_info().rss
            self._stop = threading.Event()
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()
            return self

        def _sample(self):
            while not self._stop.wait(0.002):
                self.peak = max(self.peak, self.process.memory_info().rss)

        def __exit__(self, *exc):
            self._stop.set()
            self._thread.join()
            self.peak = max(self.peak, self.process.memory_info().rss, _high_water())
            self.growth = self.peak - self.before
    """
)

CHILD = PEAK + textwrap.dedent(
    """
    import base64, io, json, statistics, sys, time
    from PIL import Image

    def old_poster(path, *, width=240, at=0.5):
        # The former foxkling_widgets._poster.poster_data_url, verbatim apart from the name.
        import av
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            image = None
            for frame in container.decode(stream):
                image = frame.to_image()
                if frame.time is not None and frame.time >= at:
                    break
        if image is None:
            return ""
        height = max(2, round(image.height * width / image.width))
        image = image.resize((width, height))
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG", quality=70, optimize=True)
        return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")

    from foxkling_widgets._poster import poster_data_url

    mode, clip, warm = sys.argv[1], sys.argv[2], sys.argv[3]
    fn = old_poster if mode == "old" else poster_data_url
    fn(warm)  # codec and scaler set-up, off the books
    with Peak() as peak:
        url = fn(clip)
    times = []
    for _ in range(3):
        start = time.perf_counter()
        fn(clip)
        times.append(time.perf_counter() - start)
    image = Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1])))
    print(json.dumps({"growth": peak.growth, "seconds": statistics.median(times), "size": image.size}))
    """
)


def make_clip(path: Path, size: tuple[int, int], frames: int, gop: int) -> None:
    """Encode a genuine ``size`` H.264 clip: a gradient with a moving block (not a still)."""
    width, height = size
    with av.open(str(path), "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=24)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"preset": "ultrafast", "profile": "baseline", "crf": "28", "g": str(gop)}
        x = np.linspace(0, 255, width, dtype=np.float32)[None, :]
        y = np.linspace(0, 255, height, dtype=np.float32)[:, None]
        base = np.stack(
            [np.broadcast_to(x, (height, width)), np.broadcast_to(y, (height, width)), np.full((height, width), 96.0)],
            axis=-1,
        ).astype(np.uint8)
        for n in range(frames):
            pixels = base.copy()
            left = (100 + n * 60) % (width - 200)
            pixels[height // 3 : height // 3 + 200, left : left + 200] = 255
            frame = av.VideoFrame.from_ndarray(pixels, format="rgb24")
            frame.pts = n
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def run(mode: str, clip: Path, warm: Path) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, mode, str(clip), str(warm)], capture_output=True, text=True, check=True
    ).stdout
    return dict(json.loads(out.strip().splitlines()[-1]))


def main() -> None:
    folder = Path(_SCRATCH)
    clip, warm = folder / "uhd.mp4", folder / "warm.mp4"
    make_clip(clip, SIZE, FRAMES, GOP)
    make_clip(warm, (320, 180), 4, GOP)
    print(f"clip: {SIZE[0]}x{SIZE[1]}, {FRAMES} frames, keyframe every {GOP}, {clip.stat().st_size / 1e6:.2f} MB")
    results = {mode: run(mode, clip, warm) for mode in ("old", "new")}
    old = results["old"]
    print(f"{'approach':<44}{'peak RSS +MB':>14}{'ms':>8}{'poster':>10}")
    for mode, label in (
        ("old", "decode to 0.5 s, full-size images (old)"),
        ("new", "one keyframe, scaled in decoder (new)"),
    ):
        r = results[mode]
        size = "x".join(str(v) for v in r["size"])  # type: ignore[attr-defined]
        print(f"{label:<44}{r['growth'] / 1e6:>14.1f}{r['seconds'] * 1000:>8.0f}{size:>10}")
    new = results["new"]
    print(
        f"new/old: peak RSS growth {new['growth'] / max(old['growth'], 1):.2f}x, "
        f"time {new['seconds'] / max(old['seconds'], 1e-9):.2f}x"
    )


if __name__ == "__main__":
    try:
        main()
    finally:
        shutil.rmtree(_SCRATCH, ignore_errors=True)
