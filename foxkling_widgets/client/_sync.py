"""``FoxClient``: the blocking face of :class:`AsyncFoxClient`, with no logic of its own.

Each ``FoxClient`` owns a private event loop on a daemon thread and runs the async client's
coroutines there. That keeps one implementation (no drifting sync copy), and it works inside
Jupyter, where the kernel's own loop is already running and ``asyncio.run`` would fail.
Ctrl-C (KeyboardInterrupt) during a blocking call cancels the coroutine (a cancelled wait
leaves the task running at the provider), except during a billed submit: a POST cut off
mid-flight may be billed with its id lost, so the submit is allowed to finish (for at most
:data:`SUBMIT_GRACE` seconds, further Ctrl-Cs included), its id is journaled, and
:class:`GenerationInterrupted` says which task now runs and how to pick it up.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import os
import time
from collections.abc import Coroutine, Iterator
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from .._exceptions import FoxAPIError, GenerationInterrupted, SubmitUncertainError
from .._loop import LoopThread
from .._types import Task, VideoRequest
from ._async import EMULATOR_HOST, AsyncFoxClient, JournalLike, KeySource, ProgressCallback
from ._http import EMULATOR_KEY

__all__ = ["SUBMIT_GRACE", "FoxClient"]

T = TypeVar("T")
#: The longest close() waits for a billed submit an interrupt left on the wire.
CLOSE_GRACE = 60.0

#: The longest a Ctrl-C waits for a billed submit in flight to be answered (connect + read timeouts).
SUBMIT_GRACE = 60.0


class FoxClient:
    """Blocking FoxAPI client; the same arguments and methods as :class:`AsyncFoxClient`.

    ``FoxClient()`` reads ``FOXAPI_API_KEY`` and ``FOXAPI_BASE_URL``; ``FoxClient.emulator()``
    uses the built-in emulator. Use it as a context manager, or call :meth:`close`.
    """

    def __init__(self, api_key: str | None = None, base_url: str | None = None, **kwargs: Any) -> None:
        self._runner = LoopThread("foxkling-client")
        self._billing: set[concurrent.futures.Future[Task]] = set()  # submits still on the wire
        self._async = AsyncFoxClient(api_key, base_url, **kwargs)

    @classmethod
    def emulator(cls, **kwargs: Any) -> FoxClient:
        """A client for this process's built-in emulator (needs the ``emulator`` extra).

        Journaled under :data:`EMULATOR_HOST` (see :meth:`AsyncFoxClient.emulator`).
        """
        from ..emulator import shared_emulator

        kwargs.setdefault("journal_host", EMULATOR_HOST)
        return cls(api_key=EMULATOR_KEY, base_url=shared_emulator().url, mode="emulator", **kwargs)

    @property
    def runner(self) -> LoopThread:
        """The loop thread this client's coroutines run on (a widget given this client shares it)."""
        return self._runner

    @property
    def aio(self) -> AsyncFoxClient:
        """The async client underneath (its coroutines must run on this client's loop)."""
        return self._async

    @property
    def base_url(self) -> str:
        """The API base URL."""
        return self._async.base_url

    @property
    def journal_host(self) -> str:
        """The name this client's tasks are journaled under (see :class:`AsyncFoxClient`)."""
        return self._async.journal_host

    @property
    def mode(self) -> str:
        """``"emulator"``, ``"live"``, or ``"none"`` (no key and no emulator: nothing can be sent)."""
        return self._async.mode

    def key_source(self) -> KeySource:
        """See :meth:`AsyncFoxClient.key_source`."""
        return self._async.key_source()

    def base_url_from_environment(self) -> bool:
        """See :meth:`AsyncFoxClient.base_url_from_environment`."""
        return self._async.base_url_from_environment()

    @property
    def journal(self) -> JournalLike | None:
        """The journal submits are recorded in, if any."""
        return self._async.journal

    def __repr__(self) -> str:
        return repr(self._async).replace("AsyncFoxClient", "FoxClient", 1)

    def close(self) -> None:
        """Close connections and stop the private loop, once billed submits still in flight have ended.

        A submit an interrupt left running (see :class:`GenerationInterrupted`) is waited for, at
        most :data:`CLOSE_GRACE` seconds: closing the pool under it would lose the paid task's id.
        """
        deadline = time.monotonic() + CLOSE_GRACE
        for future in list(self._billing):
            with contextlib.suppress(BaseException):
                future.result(timeout=max(0.0, deadline - time.monotonic()))
        if not self._runner.closed:
            self._runner.run(self._async.aclose())
            self._runner.close()

    def __enter__(self) -> FoxClient:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _billed(self, submit: Coroutine[Any, Any, Task]) -> Task:
        """Run a billed submit to its end even through Ctrl-C (see the module docstring)."""
        future = self._runner.submit(submit)
        self._billing.add(future)
        future.add_done_callback(self._billing.discard)
        try:
            return future.result()
        except KeyboardInterrupt:
            pass
        deadline = time.monotonic() + SUBMIT_GRACE
        while True:
            try:
                task = future.result(timeout=max(0.0, deadline - time.monotonic()))
            except KeyboardInterrupt:
                continue  # a second Ctrl-C: the POST is on the wire; cutting it off could lose a paid id
            except concurrent.futures.TimeoutError:
                raise GenerationInterrupted(None, uncertain=True) from None
            except FoxAPIError as error:
                if error.task_id:  # answered oddly, but it named the paid task (journaled)
                    raise GenerationInterrupted(error.task_id) from None
                if isinstance(error, SubmitUncertainError):
                    raise GenerationInterrupted(None, uncertain=True) from None
                raise KeyboardInterrupt from None  # refused: nothing billed, an ordinary interrupt
            except Exception:  # noqa: BLE001 - not sent at all: an ordinary interrupt
                raise KeyboardInterrupt from None
            raise GenerationInterrupted(task.id)

    def _after_submit(self, task: Task, work: Coroutine[Any, Any, T]) -> T:
        # Past the submit a Ctrl-C only stops watching; say which task keeps running.
        try:
            return self._runner.run(work)
        except GenerationInterrupted:
            raise
        except KeyboardInterrupt:
            raise GenerationInterrupted(task.id) from None

    def submit(self, request: VideoRequest) -> Task:
        """See :meth:`AsyncFoxClient.submit`; Ctrl-C lets the POST end, then raises :class:`GenerationInterrupted`."""
        return self._billed(self._async.submit(request))

    def get_task(self, task_id: str) -> Task:
        """See :meth:`AsyncFoxClient.get_task`."""
        return self._runner.run(self._async.get_task(task_id))

    def wait(
        self, task: str | Task, *, on_progress: ProgressCallback | None = None, timeout: float | None = 600
    ) -> Task:
        """See :meth:`AsyncFoxClient.wait` (``on_progress`` runs on the client's thread)."""
        return self._runner.run(self._async.wait(task, on_progress=on_progress, timeout=timeout))

    def watch(self, task: str | Task, *, timeout: float | None = None) -> Iterator[Task]:
        """Blocking iterator of snapshots; see :meth:`AsyncFoxClient.watch`."""
        agen = self._async.watch(task, timeout=timeout)

        async def step() -> Task:
            return await agen.__anext__()

        try:
            while True:
                try:
                    yield self._runner.run(step())
                except StopAsyncIteration:
                    return
        finally:
            self._runner.run(agen.aclose())

    def generate(
        self,
        request: VideoRequest,
        path: str | os.PathLike[str] | None = None,
        *,
        on_progress: ProgressCallback | None = None,
        timeout: float | None = 600,
    ) -> Task:
        """See :meth:`AsyncFoxClient.generate`. Ctrl-C raises :class:`GenerationInterrupted` naming the task."""
        task = self.submit(request)
        return self._after_submit(
            task, self._async.finish(task, request, path, on_progress=on_progress, timeout=timeout)
        )

    def download(self, task: Task | str, path: str | os.PathLike[str], *, max_bytes: int | None = None) -> Path:
        """See :meth:`AsyncFoxClient.download`."""
        kwargs = {"max_bytes": max_bytes} if max_bytes is not None else {}
        return self._runner.run(self._async.download(task, path, **kwargs))

    def history(self, limit: int = 200) -> list[Any]:
        """See :meth:`AsyncFoxClient.history`."""
        return self._async.history(limit)

    def voices(self) -> list[dict[str, Any]]:
        """See :meth:`AsyncFoxClient.voices`."""
        return self._async.voices()

    def resume(self, directory: str | os.PathLike[str] | None = None) -> list[Task]:
        """See :meth:`AsyncFoxClient.resume`."""
        return self._runner.run(self._async.resume(directory))

    def create_voice(
        self,
        voice_url: str,
        *,
        name: str | None = None,
        on_progress: ProgressCallback | None = None,
        timeout: float | None = 600,
    ) -> str:
        """See :meth:`AsyncFoxClient.create_voice`. Ctrl-C raises :class:`GenerationInterrupted` naming the task."""
        task = self._billed(self._async.submit_voice(voice_url, name=name))
        return self._after_submit(
            task, self._async.finish_voice(task, voice_url, name=name, on_progress=on_progress, timeout=timeout)
        )
