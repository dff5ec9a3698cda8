"""Where foxkling-widgets keeps things on disk: the journal (data dir) and downloaded videos (cache dir).

``FOXKLING_DATA_DIR`` and ``FOXKLING_CACHE_DIR`` override the platform defaults from platformdirs
(e.g. ``~/.local/share/foxkling-widgets`` and ``~/.cache/foxkling-widgets`` on Linux).
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

__all__ = ["cache_dir", "data_dir", "video_dir"]

APP = "foxkling-widgets"


def data_dir() -> Path:
    """The directory for the task journal, created on demand."""
    path = Path(os.environ.get("FOXKLING_DATA_DIR") or platformdirs.user_data_dir(APP))
    path.mkdir(parents=True, exist_ok=True)
    return path


def cache_dir() -> Path:
    """The cache root, created on demand."""
    path = Path(os.environ.get("FOXKLING_CACHE_DIR") or platformdirs.user_cache_dir(APP))
    path.mkdir(parents=True, exist_ok=True)
    return path


def video_dir() -> Path:
    """Where finished videos are kept (one file per task, named by sanitised task id)."""
    path = cache_dir() / "videos"
    path.mkdir(parents=True, exist_ok=True)
    return path
