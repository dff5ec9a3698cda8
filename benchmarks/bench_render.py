"""Emulator render time per clip vs a baseline measured in the same run: encoding the same number
of plain frames with the same encoder settings and no drawing. Goal: a 10 s clip under 2 s."""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import av
from PIL import Image

from foxkling_widgets.emulator._render import FPS, FRAME_SIZES, render_video


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


def main() -> None:
    out = Path(tempfile.mkdtemp()) / "clip.mp4"
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


if __name__ == "__main__":
    main()
