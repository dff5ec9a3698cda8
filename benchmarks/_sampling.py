"""Shared by the browser benchmarks: memory sampled around one video transfer.

The kernel's and the Jupyter server's RSS are read from outside the processes every 5 ms (a
thread per process, so the measured processes do no extra work), and the tab's JS heap through
the DevTools protocol each time the benchmark's wait loop calls :meth:`TransferWatch.tick`.
``bench_transport.py`` and ``bench_hosts_first_frame.py`` both measure with this, so their
figures are taken the same way.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

import psutil
from playwright.sync_api import Page

MB = 1024 * 1024
#: How long after the transfer's end memory is still counted: a peak can land just after the
#: page marks the end (the last chunk's Blob, the server's write buffer).
AFTER_S = 0.5
#: How long the watch keeps sampling after the end before it stops (a little over AFTER_S).
SETTLE_S = 0.6


@dataclass
class Sampler:
    """RSS of one process every 5 ms, on a thread: (time.time(), rss) pairs."""

    pid: int
    samples: list[tuple[float, int]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)

    def start(self) -> None:
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        process = psutil.Process(self.pid)
        while not self._stop.is_set():
            try:
                self.samples.append((time.time(), process.memory_info().rss))
            except psutil.Error:
                return
            time.sleep(0.005)

    def stop(self) -> None:
        self._stop.set()

    def added(self, start: float, end: float) -> int:
        """Peak RSS in [start, end + AFTER_S] above the last sample before ``start``."""
        before = [rss for t, rss in self.samples if t <= start]
        during = [rss for t, rss in self.samples if start <= t <= end + AFTER_S]
        if not before or not during:
            return -1
        return max(0, max(during) - before[-1])


def heap(cdp: Any) -> int:
    """The tab's JS heap in bytes: used plus ArrayBuffer backing stores."""
    usage = cdp.send("Runtime.getHeapUsage")
    return int(usage["usedSize"]) + int(usage.get("backingStorageSize", 0))


class TransferWatch:
    """Memory around one transfer: start it before the cell runs, ``tick()`` while waiting, then ``stop()``.

    The kernel's and the server's RSS are sampled from the start; the JS heap is read once at the
    start (after a forced GC, so the figure before is not inflated by garbage) and at each tick.
    """

    def __init__(self, page: Page, kernel_pid: int, server_pid: int) -> None:
        self.kernel, self.server = Sampler(kernel_pid), Sampler(server_pid)
        self.kernel.start()
        self.server.start()
        self._cdp = page.context.new_cdp_session(page)
        self._cdp.send("HeapProfiler.collectGarbage")
        self.heaps: list[tuple[float, int]] = [(time.time(), heap(self._cdp))]

    def tick(self) -> None:
        """Read the JS heap now (call it from the loop that waits for the transfer's end)."""
        self.heaps.append((time.time(), heap(self._cdp)))

    def stop(self) -> None:
        """Sample a moment past the end, then stop every sampler and close the DevTools session."""
        time.sleep(SETTLE_S)
        self.tick()
        self.kernel.stop()
        self.server.stop()
        self._cdp.detach()

    def added(self, start: float, end: float) -> dict[str, float]:
        """MB added over [start, end] (``time.time()`` seconds): ``kernel``, ``server`` and ``heap``."""
        before = [h for t, h in self.heaps if t <= start] or [self.heaps[0][1]]
        during = [h for t, h in self.heaps if start <= t <= end + SETTLE_S] or [self.heaps[-1][1]]
        return {
            "kernel": self.kernel.added(start, end) / MB,
            "server": self.server.added(start, end) / MB,
            "heap": max(0, max(during) - before[-1]) / MB,
        }
