"""A private asyncio loop on a daemon thread, shared by the sync client and the widget controller.

Why a thread: ipykernel 7 stops running asyncio tasks created in a cell once the cell finishes
(ipython/ipykernel#1510), and widget updates from them are held back (jupyter-widgets/ipywidgets#4012).
Work that must keep going between cells (polling, downloads) therefore runs on a loop we own.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

__all__ = ["LoopThread"]

T = TypeVar("T")


class LoopThread:
    """An asyncio event loop running forever on a daemon thread."""

    def __init__(self, name: str = "foxkling-loop") -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name=name, daemon=True)
        self._thread.start()

    def submit(self, coroutine: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Schedule ``coroutine`` on the loop; returns a thread-safe future."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop)

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run ``coroutine`` on the loop and block until it finishes (Ctrl-C cancels it)."""
        future = self.submit(coroutine)
        try:
            return future.result()
        except KeyboardInterrupt:
            future.cancel()
            raise

    def call(self, function: Callable[[], T]) -> T:
        """Run a plain ``function`` on the loop thread, between two steps of its tasks, and return its result.

        What it reads and does happens with no task running in between: a check-then-act
        on task state cannot be overtaken by the loop (unlike the same check made from another thread).
        """
        if threading.current_thread() is self._thread:
            return function()
        if not self._thread.is_alive():
            raise RuntimeError("the loop thread has stopped")
        future: concurrent.futures.Future[T] = concurrent.futures.Future()

        def run() -> None:
            try:
                future.set_result(function())
            except BaseException as error:  # noqa: BLE001  (handed to the caller, which re-raises it)
                future.set_exception(error)

        self.loop.call_soon_threadsafe(run)
        return future.result()

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self.loop.is_closed()

    def close(self) -> None:
        """Stop the loop and its thread."""
        if self.loop.is_closed():
            return
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=5)
        if not self.loop.is_running():
            self.loop.close()
