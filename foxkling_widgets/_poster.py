"""A small JPEG poster frame from a video, as a data URL (kept in widget state and the HTML fallback).

Imported only when a video is ready: PyAV and Pillow come with the ``emulator`` extra, and a
poster is a nicety, so any failure here yields ``""`` rather than an error.
"""

from __future__ import annotations

import base64
import io
import logging
from pathlib import Path

__all__ = ["poster_data_url"]

logger = logging.getLogger("foxkling_widgets")


def poster_data_url(path: str | Path, *, width: int = 240, at: float = 0.5) -> str:
    """Return ``data:image/jpeg;base64,...`` of the frame near ``at`` seconds, ``width`` px wide."""
    try:
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
    except Exception as error:  # noqa: BLE001 - a missing poster must never fail a generation
        logger.info("no poster for %s: %s", path, error)
        return ""
