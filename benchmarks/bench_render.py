"""Emulator render time per clip vs a baseline measured in the same run: encoding the same number
of plain frames with the same encoder settings and no drawing. Goal: a 10 s clip under 2 s.

Then real sizes (``render_video(..., real_size=True)``, ``EmulatorConfig(real_size=True)``): per
resolution tier, the real-size render's time and file size next to the same clip's preview
render in the same run, and the size against the tier's target (``real_size_bytes``).
"""

from __future__ import annotations

import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

# Benchmarks never touch the user's journal or cache (set before the package is imported).
_SCRATCH = tempfile.mkdtemp(prefix="foxkling-bench-")
os.environ["FOXKLING_DATA_DIR"] = f"{_SCRATCH}/data"
os.environ["FOXKLING_CACHE_DIR"] = f"{_SCRATCH}/cache"

import av  # noqa: E402
from PIL import Image  # noqa: E402

from foxkling_widgets.emulator._render import FPS, FRAME_SIZES, REAL_BITRATES, real_size_bytes, render_video  # noqa: E402


def blank(path: Path, size: tuple[int, int], seconds: int) -> None:
    with av.open(str(path), "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuv420p"
        stream.options = {"preset": "ultrafast", "profile": "baseline", "tune": "stillimage", "crf": "28"}
        image = Image.new("RGB", size, (30, 60, 90))
        for n in range(seconds * FPS):
            frame = av.VideoFrame.from_image(image)
            frame.pts = n
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def timed(fn: object, repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()  # type: ignore[operator]
        times.append(time.perf_counter() - start)
    return statistics.median(times)


REPEAT = 5


def real_sizes(out: Path) -> None:
    """Per tier: real-size render time and size vs the same clip's preview render (16:9, audio)."""
    print()
    print(
        f"{'real size':<20}{'preview ms':>11}{'real ms':>9}{'ratio':>7}"
        f"{'preview KB':>12}{'real MB':>9}{'target MB':>11}{'size/target':>13}"
    )
    for resolution in REAL_BITRATES:
        for seconds in (5, 10):
            payload = {
                "model": "kling-v3-text-to-video",
                "prompt": "A red fox trots through fresh snow at dawn, breath steaming in the cold",
                "resolution": resolution,
                "duration": seconds,
                "generate_audio": True,
            }
            # Alternate the two renders so both see the same load on a shared machine.
            previews, reals = [], []
            for _ in range(REPEAT):
                previews.append(timed(lambda p=payload: render_video(p, out), repeat=1))
                preview_size = out.stat().st_size
                reals.append(timed(lambda p=payload: render_video(p, out, real_size=True), repeat=1))
                real_size = out.stat().st_size
            preview, real = statistics.median(previews), statistics.median(reals)
            target = real_size_bytes(resolution, seconds)
            label = f"{resolution} {seconds:>2} s audio"
            print(
                f"{label:<20}{preview * 1000:>11.0f}{real * 1000:>9.0f}{real / preview:>7.2f}"
                f"{preview_size / 1e3:>12.0f}{real_size / 1e6:>9.1f}{target / 1e6:>11.1f}{real_size / target:>13.4f}"
            )
    out.unlink(missing_ok=True)
    print(f"ratio: real-size render time / preview render time, same clip, alternated, median of {REPEAT}")


def main() -> None:
    out = Path(_SCRATCH) / "clip.mp4"
    render_video({"model": "warm-up", "prompt": "warm up", "duration": 5}, out)  # font lookup, codec init
    print(f"{'clip':<34}{'render ms':>10}{'blank ms':>10}{'ratio':>8}")
    for aspect in FRAME_SIZES:
        for seconds in (5, 10):
            for audio in (False, True):
                payload = {
                    "model": "kling-v3-text-to-video",
                    "prompt": "A red fox trots through fresh snow at dawn, breath steaming in the cold",
                    "aspect_ratio": aspect,
                    "duration": seconds,
                    "generate_audio": audio,
                    "multi_prompt": [
                        {"prompt": "wide shot", "duration": seconds - 2},
                        {"prompt": "close-up", "duration": 2},
                    ],
                }
                render = timed(lambda p=payload: render_video(p, out))
                base = timed(lambda a=aspect, s=seconds: blank(out, FRAME_SIZES[a], s))
                label = f"{aspect} {seconds:>2} s {'audio' if audio else 'silent'}"
                print(f"{label:<34}{render * 1000:>10.0f}{base * 1000:>10.0f}{render / base:>8.2f}")
    print("goal: every 10 s clip under 2000 ms")
    real_sizes(out)


if __name__ == "__main__":
    try:
        main()
    finally:
        shutil.rmtree(_SCRATCH, ignore_errors=True)
