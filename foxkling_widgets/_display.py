"""``VideoDisplay``: a finished video as an ordinary notebook output (what ``w.video(task)`` returns).

The video is embedded as a base64 data URL in a ``<video>`` element, so it survives in the saved
notebook, in nbconvert's HTML and on GitHub-like viewers without a kernel. That makes the
notebook grow by the file's size (about 4/3 of it), so files over ``max_embed_bytes`` (25 MB)
are shown as their poster and local path instead.
"""

from __future__ import annotations

import base64
import html
from pathlib import Path
from typing import Any

__all__ = ["VideoDisplay"]

MAX_EMBED_BYTES = 25 * 1024 * 1024


class VideoDisplay:
    """An inline, self-contained video output."""

    def __init__(
        self,
        path: str | Path,
        *,
        poster: str = "",
        caption: str = "",
        max_embed_bytes: int = MAX_EMBED_BYTES,
    ) -> None:
        self.path = Path(path)
        self.poster = poster if poster.startswith("data:image/jpeg;base64,") else ""
        self.caption = caption
        self.max_embed_bytes = max_embed_bytes

    def __repr__(self) -> str:
        return f"VideoDisplay({str(self.path)!r})"

    def _repr_html_(self) -> str:
        caption = f"<figcaption>{html.escape(self.caption)}</figcaption>" if self.caption else ""
        poster = f' poster="{html.escape(self.poster)}"' if self.poster else ""
        if not self.path.exists():
            return f"<figure><p>Video file not found: {html.escape(str(self.path))}</p>{caption}</figure>"
        size = self.path.stat().st_size
        if size > self.max_embed_bytes:
            image = f'<img src="{html.escape(self.poster)}" alt="poster">' if self.poster else ""
            return (
                f"<figure>{image}<p>{size / 1e6:.1f} MB video, too large to embed: "
                f"{html.escape(str(self.path))}</p>{caption}</figure>"
            )
        data = base64.b64encode(self.path.read_bytes()).decode("ascii")
        return (
            f'<figure style="margin:0"><video controls playsinline style="max-width:100%;max-height:480px"{poster} '
            f'src="data:video/mp4;base64,{data}"></video>{caption}</figure>'
        )

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, str]:
        return {"text/html": self._repr_html_(), "text/plain": repr(self)}
