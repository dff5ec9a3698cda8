"""A small JPEG poster frame from a video, as a data URL (kept in widget state and the HTML fallback).

Imported only when a video is ready: PyAV and Pillow come with the ``emulator`` extra, and a
poster is a nicety, so any failure here yields ``""`` rather than an error.

Cheap at any size: it seeks to the keyframe at or before the wanted time, decodes that one frame
on one thread, and lets the scaler shrink it straight from the decoder's YUV to the poster's
size, so a full-size RGB image never exists. A 4k frame costs one decoded picture (~12 MB of
YUV), where decoding up to the wanted time and converting each frame to a full-size image held
hundreds of megabytes (see ``benchmarks/bench_poster.py``).
"""

from __future__ import annotations

import base64
import contextlib
import io
import logging
from pathlib import Path

__all__ = ["poster_data_url"]

logger = logging.getLogger("foxkling_widgets")


def poster_data_url(path: str | Path, *, width: int = 240, at: float = 0.5) -> str:
    """Return ``data:image/jpeg;base64,...`` of the keyframe at or before ``at`` seconds, ``width`` px wide.

    Never raises: an unreadable or video-less file gives ``""``.
    """
    try:
        import av

        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            # Frame threads would each decode (and hold) a full-size picture of their own ahead
            # of the one we want; one frame needs one thread.
            stream.thread_type = "NONE"
            stream.thread_count = 1
            if at > 0 and stream.time_base:
                # Backward, keyframes only: the decoder's first frame after it is a whole picture.
                # A stream that cannot seek just starts from its first frame.
                with contextlib.suppress(av.FFmpegError):
                    container.seek(int(at / stream.time_base), stream=stream, backward=True, any_frame=False)
            frame = next(iter(container.decode(stream)), None)
            if frame is None or frame.width <= 0 or frame.height <= 0:
                return ""
            height = max(2, round(frame.height * width / frame.width))
            # AREA averages every source pixel: a 16x shrink without the aliasing of bilinear.
            image = frame.reformat(width=width, height=height, format="rgb24", interpolation="AREA").to_image()
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG", quality=70, optimize=True)
        return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")
    except Exception as error:  # noqa: BLE001 - a missing poster must never fail a generation
        logger.info("no poster for %s: %s", path, error)
        return ""
