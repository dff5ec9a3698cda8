"""Shared by the benchmarks: the emulator as its own process, and a scratch journal and cache."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def stats(url: str) -> dict[str, int]:
    """The emulator's request counters (posts, gets, downloads, tasks_created)."""
    with urllib.request.urlopen(f"{url}/_emulator/stats", timeout=5) as response:  # noqa: S310 - loopback
        return dict(json.load(response))


@contextmanager
def emulator_process(seconds_per_video: float) -> Iterator[str]:
    """Run ``foxkling_widgets.emulator`` in its own process (its rendering is not our cost); yields its URL.

    Also points the journal and video cache at a scratch folder, so a benchmark's tasks never
    land in the user's own history.
    """
    scratch = tempfile.mkdtemp(prefix="foxkling-bench-")
    os.environ["FOXKLING_DATA_DIR"] = f"{scratch}/data"
    os.environ["FOXKLING_CACHE_DIR"] = f"{scratch}/cache"
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "foxkling_widgets.emulator", "--port", str(port), "--speed", str(seconds_per_video)]
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                stats(url)
                break
            except OSError:
                time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait()
