"""The widget's kernel-side worker: submit, poll, download, poster, and publish progress.

It owns every asyncio task of a widget, one per generation, keyed by task id (the lonboard
pattern), on a private loop thread (see :mod:`._loop` for why not the kernel's loop). State goes
out through a single ``publish`` callback, coalesced to at most ``max_rate`` calls per second
whatever the number of tasks in flight. Errors end up on the generation's record (and so on its
card); they never escape into whichever cell happens to run next.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import itertools
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._cache import VideoCache
from ._exceptions import FoxAPIError, SubmitUncertainError, TaskFailedError
from ._filenames import sanitize_filename
from ._loop import LoopThread
from ._types import Task, TaskStatus, VideoRequest
from .client import AsyncFoxClient

__all__ = ["Controller", "Generation", "request_code", "request_summary"]

STOP_NOTE = (
    "Stopped watching. FoxAPI has no cancel endpoint: the provider may keep running this task and "
    "bill it. Its id is kept, so it can be resumed later."
)


def request_summary(request: VideoRequest) -> str:
    """One line describing a request, for cards and the HTML fallback."""
    parts = [request.aspect_ratio, f"{request.duration} s", request.resolution]
    if request.generate_audio:
        parts.append("audio")
    if request.voice_ids:
        parts.append(f"{len(request.voice_ids)} voice{'s' if len(request.voice_ids) > 1 else ''}")
    if request.segments:
        parts.append(f"{len(request.segments)} shots")
    text = request.prompt or " / ".join(s.prompt for s in request.shots)
    head = text if len(text) <= 80 else text[:79] + "…"
    return " · ".join(parts) + (f" — {head}" if head else "")


def request_code(request: VideoRequest) -> str:
    """A Python snippet that reproduces ``request`` with the plain client ("copy as code")."""
    args = []
    if request.prompt:
        args.append(f"prompt={request.prompt!r}")
    for name, default in (
        ("resolution", "720p"),
        ("aspect_ratio", "16:9"),
        ("duration", 5),
        ("generate_audio", False),
        ("negative_prompt", ""),
    ):
        value = getattr(request, name)
        if value != default:
            args.append(f"{name}={value!r}")
    if request.voice_ids:
        args.append(f"voice_ids={list(request.voice_ids)!r}")
    if request.shots:
        shots = ", ".join(f"Segment({s.prompt!r}, {s.duration})" for s in request.shots)
        args.append(f"segments=[{shots}]")
    body = ",\n    ".join(args)
    return (
        "from foxkling_widgets import FoxClient, Segment, VideoRequest\n\n"
        f"request = VideoRequest(\n    {body},\n)\n"
        "with FoxClient() as client:  # reads FOXAPI_API_KEY\n"
        '    task = client.generate(request, "video.mp4")\n'
    )


_local_ids = itertools.count(1)


@dataclass
class Generation:
    """One generation as this widget knows it (what ``w.tasks`` lists).

    ``id`` is the provider's task id once submitted (``local-N`` before). ``status`` is the
    task's status, or one of the widget's own: ``submitting``, ``downloading``, ``stopped``,
    ``uncertain`` (the submit may have been billed without an id).
    """

    request: VideoRequest
    id: str = field(default_factory=lambda: f"local-{next(_local_ids)}")
    status: str = "submitting"
    progress: float = 0.0
    task: Task | None = None
    submitted_at: float = field(default_factory=lambda: time.time() * 1000)
    finished_at: float | None = None
    error: dict[str, Any] | None = None
    path: Path | None = None
    poster: str = ""
    watching: bool = True
    note: str = ""
    restored: bool = False  # from the journal of an earlier session (not this session's spending)

    @property
    def done(self) -> bool:
        """Finished with a local video file."""
        return self.status == "completed" and self.path is not None

    def fail(self, error: BaseException) -> None:
        """Record ``error`` on this generation."""
        self.watching = False
        self.finished_at = time.time() * 1000
        if isinstance(error, FoxAPIError):
            self.error = {"code": error.code, "message": error.message, "hint": error.hint}
            self.status = "uncertain" if isinstance(error, SubmitUncertainError) else "failed"
            if isinstance(error, TaskFailedError) and error.task is not None:
                self.status = error.task.status.value
        else:
            self.error = {"code": type(error).__name__, "message": str(error), "hint": ""}
            self.status = "failed"

    def to_card(self) -> dict[str, Any]:
        """The TaskCard sent to the front end (docs/widget-protocol.md)."""
        task = self.task
        size = self.path.stat().st_size if self.path is not None and self.path.exists() else 0
        return {
            "id": self.id,
            "status": self.status,
            "status_text": task.status_text if task else self.status,
            "progress": round(self.progress, 1),
            "created": task.created if task else None,
            "submitted_at": self.submitted_at,
            "finished_at": self.finished_at,
            "estimated_time": task.estimated_time if task else None,
            "credits_reserved": task.credits_reserved if task else None,
            "request": self.request.to_payload(),
            "summary": request_summary(self.request),
            "error": self.error,
            "video": {"name": sanitize_filename(f"{self.id}.mp4"), "size": size, "mime": "video/mp4"}
            if self.done
            else None,
            "poster": self.poster,
            "watching": self.watching,
            "code": request_code(self.request),
            "audio_requested": self.request.generate_audio,
            "note": self.note,
        }


class Controller:
    """Runs generations for one widget and publishes their state.

    Args:
        client: the async client; its coroutines run on ``runner``'s loop.
        runner: the loop thread that owns all of this controller's work.
        publish: called (on the loop thread) with the cards, newest first.
        video_dir: where finished videos are kept.
        max_rate: the most ``publish`` calls per second.
    """

    def __init__(
        self,
        client: AsyncFoxClient,
        runner: LoopThread,
        publish: Callable[[list[dict[str, Any]]], None],
        *,
        video_dir: Path,
        max_rate: float = 10.0,
        cache: VideoCache | None = None,
    ) -> None:
        self.client = client
        self.runner = runner
        self._publish = publish
        self.video_dir = video_dir
        self.cache = cache or VideoCache(video_dir)
        self._interval = 1.0 / max_rate
        self._lock = threading.Lock()
        self._generations: list[Generation] = []
        self._jobs: dict[str, asyncio.Task[Task]] = {}
        self._next_publish = 0.0
        self._flush_scheduled = False
        self.on_finished: Callable[[Generation], None] | None = None

    # -- state ----------------------------------------------------------------------------
    @property
    def generations(self) -> list[Generation]:
        """Every generation, newest first."""
        with self._lock:
            return list(reversed(self._generations))

    def find(self, task_id: str) -> Generation | None:
        """The generation with this task (or local) id."""
        with self._lock:
            return next((g for g in self._generations if g.id == task_id), None)

    def changed(self) -> None:
        """Note that state changed; publishes at most ``max_rate`` times a second. Thread-safe."""
        self.runner.loop.call_soon_threadsafe(self._schedule_flush)

    def _schedule_flush(self) -> None:
        if self._flush_scheduled:
            return
        self._flush_scheduled = True
        delay = max(0.0, self._next_publish - time.monotonic())
        self.runner.loop.call_later(delay, self._flush)

    def _flush(self) -> None:
        self._flush_scheduled = False
        self._next_publish = time.monotonic() + self._interval
        self._publish([g.to_card() for g in self.generations])

    # -- work -----------------------------------------------------------------------------
    def start(self, request: VideoRequest) -> tuple[Generation, concurrent.futures.Future[Task]]:
        """Start a generation (the request must already be valid); returns its record and a future."""
        generation = Generation(request)
        with self._lock:
            self._generations.append(generation)
        self.changed()
        future = self.runner.submit(self._track(generation, lambda: self._run(generation)))
        return generation, future

    async def _track(self, generation: Generation, work: Callable[[], Awaitable[Task]]) -> Task:
        job = asyncio.current_task()
        assert job is not None
        self._jobs[generation.id] = job
        try:
            return await work()
        except asyncio.CancelledError:
            generation.status, generation.watching, generation.note = "stopped", False, STOP_NOTE
            raise
        except BaseException as error:
            generation.fail(error)
            raise
        finally:
            self._jobs.pop(generation.id, None)
            self.changed()
            if self.on_finished is not None and generation.status != "stopped":
                self.on_finished(generation)

    async def _run(self, generation: Generation) -> Task:
        client = self.client
        task = await client.submit(generation.request)
        with self._lock:
            self._jobs[task.id] = self._jobs.pop(generation.id)
            generation.id, generation.task, generation.status = task.id, task, task.status.value
        self.changed()
        return await self._follow(generation, task)

    async def _follow(self, generation: Generation, task: Task) -> Task:
        last = task
        async for snapshot in self.client.watch(task):
            last = snapshot
            generation.task = snapshot
            generation.progress = snapshot.progress
            generation.status = snapshot.status.value if snapshot.status is not TaskStatus.UNKNOWN else "unknown"
            self.changed()
        if last.failed:
            error = last.error
            raise TaskFailedError(
                f"Task {last.id} {last.status.value}: {error.message if error else 'no reason given'}",
                task=last,
                code=error.code if error else None,
            )
        generation.status = "downloading"
        self.changed()
        path = await self.client.download(last, self.cache.path_for(last.id))
        from ._poster import poster_data_url

        loop = asyncio.get_running_loop()
        generation.poster = await loop.run_in_executor(None, poster_data_url, path)
        generation.path = path
        generation.progress = 100.0
        generation.status = "completed"
        generation.watching = False
        generation.finished_at = time.time() * 1000
        # Keep the cache under budget, never evicting a video this widget shows.
        self.cache.evict(protect=[g.path for g in self.generations if g.path is not None])
        return last

    def resume(self, generation: Generation) -> concurrent.futures.Future[Task]:
        """Follow an already-submitted task (e.g. from the journal after a restart)."""
        assert generation.task is not None
        with self._lock:
            self._generations.append(generation)
        self.changed()
        task = generation.task
        return self.runner.submit(self._track(generation, lambda: self._follow(generation, task)))

    def add_finished(self, generation: Generation) -> None:
        """Show a generation that needs no work (e.g. a finished task found in the cache)."""
        with self._lock:
            self._generations.append(generation)
        self.changed()

    def stop_watching(self, task_id: str) -> bool:
        """Stop polling a task (the provider keeps running it). Returns whether it was being watched."""
        job = self._jobs.get(task_id)
        if job is None:
            return False
        self.runner.loop.call_soon_threadsafe(job.cancel)
        return True

    @property
    def in_flight(self) -> int:
        """How many generations are being worked on."""
        return len(self._jobs)

    def close(self) -> None:
        """Stop watching everything (tasks keep running at the provider)."""
        for task_id in list(self._jobs):
            self.stop_watching(task_id)
