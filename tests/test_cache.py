"""The video cache: safe names, least-recently-used eviction under a budget, protected files kept."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from foxkling_widgets._cache import VideoCache, parse_size
from foxkling_widgets._filenames import sanitize_filename


def put(cache: VideoCache, task_id: str, size: int, age: float) -> Path:
    path = cache.path_for(task_id)
    path.write_bytes(b"x" * size)
    stamp = time.time() - age
    os.utime(path, (stamp, stamp))
    return path


def test_least_recently_used_goes_first_and_protected_files_stay(tmp_path: Path) -> None:
    cache = VideoCache(tmp_path, budget_bytes=250)
    oldest, shown, newer = put(cache, "a", 100, 300), put(cache, "b", 100, 200), put(cache, "c", 100, 100)
    partial = tmp_path / ".d.mp4.abc.part"
    partial.write_bytes(b"x" * 1000)  # a download in progress: not counted, never evicted
    assert cache.evict(protect=[shown]) == [oldest]
    assert shown.exists() and newer.exists() and partial.exists() and cache.size() == 200


def test_touch_makes_a_file_recent(tmp_path: Path) -> None:
    cache = VideoCache(tmp_path, budget_bytes=150)
    first, second = put(cache, "a", 100, 300), put(cache, "b", 100, 200)
    cache.touch(first)
    assert cache.evict() == [second] and first.exists()


def test_budget_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FOXKLING_CACHE_BUDGET", "2G")
    assert VideoCache(tmp_path).budget == 2 * 1024**3
    assert parse_size("500M") == 500 * 1024**2 and parse_size("1024") == 1024 and parse_size("1.5KiB") == 1536
    with pytest.raises(ValueError):
        parse_size("lots")


@pytest.mark.parametrize("task_id", ["../../etc/passwd", "", "..", "a/b\\c", "ta sk\x00id", "é" * 300, ".hidden"])
def test_names_cannot_escape_the_cache(tmp_path: Path, task_id: str) -> None:
    path = VideoCache(tmp_path).path_for(task_id)
    assert path.parent == tmp_path and not path.name.startswith(".") and len(path.name) <= 120


@given(st.text())
def test_any_text_becomes_a_safe_file_name(text: str) -> None:
    name = sanitize_filename(text)
    assert name and "/" not in name and "\\" not in name and not name.startswith(".") and len(name) <= 120
    assert set(name) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-")
