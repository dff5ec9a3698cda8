"""The local video cache: one file per task, kept under a size budget, least recently used out first.

Videos outlive the provider's 24-hour URLs here. The budget (default 4 GiB; ``FOXKLING_CACHE_BUDGET``
takes bytes or a suffix such as ``2G``) is enforced after each download. Files that a widget is
showing are passed in as protected and never evicted; downloads in progress are ``.part`` files
and never counted or evicted. Using a file (showing it, sending it to a browser) marks it recent.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterable
from pathlib import Path

from ._filenames import sanitize_filename
from ._paths import video_dir

__all__ = ["DEFAULT_BUDGET", "VideoCache", "parse_size"]

DEFAULT_BUDGET = 4 * 1024**3
_UNITS = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}


def parse_size(text: str) -> int:
    """``"2G"`` -> bytes; plain numbers are bytes."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]?)i?B?\s*", text, re.IGNORECASE)
    if not match:
        raise ValueError(f"not a size: {text!r} (use bytes, or a suffix like 500M or 2G)")
    return int(float(match.group(1)) * _UNITS[match.group(2).upper()])


class VideoCache:
    """Finished videos on disk, named by sanitised task id, under a size budget."""

    def __init__(self, directory: str | os.PathLike[str] | None = None, budget_bytes: int | None = None) -> None:
        self.directory = Path(directory) if directory is not None else video_dir()
        self.directory.mkdir(parents=True, exist_ok=True)
        env = os.environ.get("FOXKLING_CACHE_BUDGET")
        self.budget = budget_bytes if budget_bytes is not None else parse_size(env) if env else DEFAULT_BUDGET

    def path_for(self, task_id: str) -> Path:
        """Where a task's video lives (the name cannot escape the cache directory)."""
        return self.directory / sanitize_filename(f"{task_id}.mp4")

    def touch(self, path: Path) -> None:
        """Mark a file as just used (the LRU order is the files' modification times)."""
        with contextlib.suppress(OSError):
            os.utime(path)

    def files(self) -> list[Path]:
        """Cached videos, least recently used first."""
        entries = []
        for path in self.directory.glob("*.mp4"):
            with contextlib.suppress(OSError):
                entries.append((path.stat().st_mtime, path))
        return [path for _, path in sorted(entries)]

    def size(self) -> int:
        """Bytes used by cached videos."""
        return sum(p.stat().st_size for p in self.files() if p.exists())

    def evict(self, protect: Iterable[Path] = ()) -> list[Path]:
        """Delete least recently used videos until the cache fits its budget; returns what was removed."""
        keep = {Path(p).resolve() for p in protect}
        total = self.size()
        removed: list[Path] = []
        for path in self.files():
            if total <= self.budget:
                break
            if path.resolve() in keep:
                continue
            with contextlib.suppress(OSError):
                size = path.stat().st_size
                path.unlink()
                total -= size
                removed.append(path)
        return removed
