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
import logging
import threading
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Sequence
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import _transport
from ._cache import VideoCache
from ._cards import FULL_EVERY_S, CardPlanner, in_sight
from ._exceptions import FoxAPIError, SubmitUncertainError, TaskFailedError
from ._filenames import download_name
from ._loop import LoopThread
from ._messages import CardProgress
from ._secrets import scrub
from ._status import FINISHED, TaskStatus
from ._types import Task, VideoRequest
from ._validation import MODEL_CREATE_VOICE
from .client import EMULATOR_KEY, AsyncFoxClient, is_loopback_url

__all__ = ["Batch", "CodeSession", "Controller", "Generation", "request_code", "request_summary", "voice_code"]

logger = logging.getLogger("foxkling_widgets")

STOP_NOTE = (
    "Stopped watching. FoxAPI has no cancel endpoint: the provider may keep running this task and "
    "bill it. Its id is kept, so it can be resumed later."
)
UNQUEUED_NOTE = "Taken out of the queue before it was sent: nothing was billed."
CUT_OFF_NOTE = (
    "Stopped while its submit was in flight: it may have been billed. The submit was left to finish: "
    "its task id, once answered, is in the task journal (foxkling tasks, client.history()), "
    "and an unanswered one is listed there as possibly billed."
)
NAMED_NOTE = (
    "The submit's answer was an error, but it named this task, so the task exists and may be billed. "
    "It is followed like any other; the submit was not sent again."
)
DEFAULT_CONCURRENCY = 2
#: The front end's concurrency box offers 1 to this. Python callers may set more (a researcher's
#: batch of 20 on a generous rate limit); the box is the classroom's guard against 429s.
MAX_CONCURRENCY = 8


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


@dataclass(frozen=True)
class CodeSession:
    """How copied code opens a client that reaches what the generation reached ("copy as code").

    ``emulator``: this kernel's built-in emulator (``FoxClient.emulator()``). Otherwise a plain
    ``FoxClient(...)``: ``base_url`` is passed when ``FoxClient()`` would not find it in the
    environment, and ``key`` says where the key comes from: ``"env"`` (``FOXAPI_API_KEY``),
    ``"emulator"`` (the emulators' public key, safe to write down) or ``"ask"`` (pasted into the
    studio: the code asks for it with ``getpass``, since a key is never written into code).
    """

    emulator: bool = False
    base_url: str | None = None
    key: str = "env"

    @classmethod
    def of(cls, client: AsyncFoxClient) -> CodeSession:
        """The session ``client`` belongs to."""
        if client.mode == "emulator" and client.base_url == _shared_emulator_url():
            return cls(emulator=True)
        how = {"emulator": "emulator", "env": "env"}.get(client.key_source(), "ask")
        return cls(base_url=None if client.base_url_from_environment() else client.base_url, key=how)

    def opener(self) -> tuple[list[str], str]:
        """The imports the opener needs (besides ``FoxClient``) and the ``with`` line."""
        if self.emulator:
            return [], "with FoxClient.emulator() as client:  # this kernel's built-in emulator: nothing is billed"
        args, imports = [], []
        if self.key == "emulator":
            args.append(f"api_key={EMULATOR_KEY!r}")
        elif self.key == "ask":
            imports.append("from getpass import getpass")
            args.append('api_key=getpass("FoxAPI key: ")')
        if self.base_url is not None:
            args.append(f"base_url={self.base_url!r}")
        note = "  # reads FOXAPI_API_KEY" if self.key == "env" else ""
        return imports, f"with FoxClient({', '.join(args)}) as client:{note}"


def _shared_emulator_url() -> str | None:
    # The process-wide emulator's URL if it is running; never starts one (nor imports the
    # emulator's web stack just to find out that it is not running).
    import sys

    server = sys.modules.get("foxkling_widgets.emulator._server")
    shared = getattr(server, "_shared", None) if server is not None else None
    return str(shared.url) if shared is not None else None


def request_code(request: VideoRequest, session: CodeSession | None = None) -> str:
    """A Python snippet that makes the same request with the plain client ("copy as code").

    It runs as-is in the session it came from (``session``; default: ``FoxClient()``, which reads
    ``FOXAPI_API_KEY``), imports only what it uses, and sends the same payload.
    """
    session = session or CodeSession()
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
    names = ["FoxClient", "VideoRequest"]
    if request.shots:
        names.insert(1, "Segment")
        shots = ", ".join(f"Segment({s.prompt!r}, {s.duration})" for s in request.shots)
        args.append(f"segments=[{shots}]")
    extra, opener = session.opener()
    body = ",\n    ".join(args)
    note = ""
    if request.voice_ids and session.emulator:
        # The emulator's voices live in this kernel's emulator: the same ids work here, and
        # only here (a restarted kernel's emulator, or the live API, does not know them).
        note = "# The voice ids were made by this kernel's emulator: they work in this kernel only.\n"
    return (
        "".join(f"{line}\n" for line in extra)
        + f"from foxkling_widgets import {', '.join(names)}\n\n"
        + note
        + f"request = VideoRequest(\n    {body},\n)\n"
        + f"{opener}\n"
        + '    task = client.generate(request, "video.mp4")\n'
    )


def voice_code(url: str, name: str, session: CodeSession | None = None) -> str:
    """A Python snippet that creates the same voice with the plain client, in the same session."""
    extra, opener = (session or CodeSession()).opener()
    return (
        "".join(f"{line}\n" for line in extra)
        + "from foxkling_widgets import FoxClient\n\n"
        + f"{opener}\n"
        + f"    voice_id = client.create_voice({url!r}, name={name!r})\n"
    )


def new_key() -> str:
    """A new generation's stable key: ``gen-<10 hex>``, unique across sessions."""
    return f"gen-{uuid.uuid4().hex[:10]}"


@dataclass
class Generation:
    """One generation as this widget knows it (what ``w.tasks`` lists).

    ``key`` names it for its whole life (the card's ``id``): ``gen-<10 hex>`` for a new one, the
    provider's task id for one restored from the journal. ``task_id`` is the provider's task
    id, ``None`` until the submit is answered. ``id`` is the provider's id once known and the
    key before (what ``id`` always meant; prefer ``key`` to hold on to a generation). Passing
    ``id=`` names a generation that is already submitted: key and task id are both that id.

    ``status`` is the task's status, or one of the widget's own: ``submitting``,
    ``downloading``, ``stopped``, ``uncertain`` (the submit may have been billed without an
    id), ``queued`` (waiting for one of the controller's ``concurrency`` slots; nothing sent yet).

    A voice job (``voice`` set: ``{url, name, voice_id}``) has no video ``request``. A batch
    member has ``batch``: ``{id, index, count, label}``.
    """

    request: VideoRequest | None
    id: str = ""
    status: TaskStatus = TaskStatus.SUBMITTING
    progress: float = 0.0
    task: Task | None = None
    submitted_at: float = field(default_factory=lambda: time.time() * 1000)
    finished_at: float | None = None
    error: dict[str, Any] | None = None
    path: Path | None = None
    poster: str = field(default="", repr=False)  # ~10 KB of base64: not in every repr (a cell's output)
    watching: bool = True
    note: str = ""
    restored: bool = False  # from the journal of an earlier session (not this session's spending)
    batch: dict[str, Any] | None = None
    voice: dict[str, Any] | None = None
    code_session: CodeSession | None = None  # where "copy as code" sends (set when the controller adopts it)
    key: str = ""
    task_id: str | None = None
    stopped_at: float | None = None  # ms since epoch when watching was stopped (the card's clock stops there)
    # Set on the controller's loop only: the POST is on the wire / a stop came before the work began.
    sending: bool = field(default=False, repr=False, compare=False)
    stop_requested: bool = field(default=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.id:  # already submitted (restored, or a test's): the provider's id names it for good
            self.key = self.key or self.id
            self.task_id = self.task_id or self.id
        else:
            self.key = self.key or new_key()
            self.id = self.task_id or self.key

    def answered(self, task: Task) -> None:
        """The submit was answered: ``task`` is the provider's (the key stays as it was)."""
        self.task_id, self.id, self.task, self.status = task.id, task.id, task, task.status

    def names(self, name: str) -> bool:
        """Whether ``name`` is this generation's key or its provider task id."""
        return bool(name) and name in (self.key, self.task_id)

    @property
    def done(self) -> bool:
        """Finished with a local video file."""
        return self.status == TaskStatus.COMPLETED and self.path is not None

    @property
    def resumable(self) -> bool:
        """Stopped by the user before it finished, with a provider task to follow again."""
        return (
            self.status == TaskStatus.STOPPED
            and not self.watching
            and self.task is not None
            and self.task_id is not None
        )

    @property
    def needs_sight(self) -> bool:
        """Whether its card must stay in ``_tasks`` however many newer cards there are.

        Work going on here (submitting, followed, downloading), a stop that can be resumed, or a
        submit that may have been billed: the user can still act on these. Queued ones are not
        kept (a batch of hundreds would undo the cap): they have sent nothing, and come into
        sight as they start.
        """
        if self.status == TaskStatus.UNCERTAIN or self.resumable:
            return True
        return self.watching and self.status != TaskStatus.QUEUED

    def direct_url(self, mode: str) -> str | None:
        """The provider's URL the browser may play itself now (see ``_transport.direct_play_url``)."""
        return _transport.direct_play_url(self.task, mode) if self.request is not None else None

    def download_name(self) -> str:
        """The name a downloaded video gets (``_filenames.download_name``)."""
        request = self.request
        prompt = (request.prompt or " ".join(s.prompt for s in request.shots)) if request else ""
        created = self.task.created if self.task is not None else None
        when = float(created) if created is not None else self.submitted_at / 1000
        return download_name(
            prompt,
            resolution=request.resolution if request else "",
            when=when,
            short_id=self.task_id or self.key.removeprefix("gen-"),
        )

    def fail(self, error: BaseException) -> None:
        """Record ``error`` on this generation."""
        self.watching = False
        self.finished_at = time.time() * 1000
        if isinstance(error, FoxAPIError):
            self.error = {"code": error.code, "message": error.message, "hint": error.hint}
            self.status = TaskStatus.UNCERTAIN if isinstance(error, SubmitUncertainError) else TaskStatus.FAILED
            if isinstance(error, TaskFailedError) and error.task is not None:
                self.status = error.task.status
        else:
            self.error = {"code": type(error).__name__, "message": scrub(str(error)), "hint": ""}
            self.status = TaskStatus.FAILED

    def to_card(self, mode: str = "") -> dict[str, Any]:
        """The TaskCard sent to the front end (docs/widget-protocol.md).

        ``mode`` is the client's (``"live"``, ``"emulator"``): whether a provider URL may be
        played directly depends on it. The poster is not in the card: it travels once, in
        the widget's ``_posters``. ``emulated``: the generation went to an emulator, told by the
        session it was made in (this kernel's emulator, or the emulators' key) so that cards made
        before a key was set keep saying so, or by the client's mode (an emulator on another
        loopback port).
        """
        task, session = self.task, self.code_session
        present = self.path is not None and self.path.exists()
        size = self.path.stat().st_size if self.path is not None and present else 0
        if self.request is None:
            voice = self.voice or {}
            url, name = str(voice.get("url", "")), str(voice.get("name") or "")
            request: dict[str, Any] = {"model": MODEL_CREATE_VOICE, "voice_url": url}
            summary = f"voice “{name}” from {url.rsplit('/', 1)[-1]}" if name else f"voice from {url}"
            code, audio = voice_code(url, name, self.code_session), False
        else:
            request, summary = self.request.to_payload(), request_summary(self.request)
            code, audio = request_code(self.request, self.code_session), self.request.generate_audio
        # The session it was made in says whether it went to an emulator (a key set later changes
        # `mode`, not the past); a session whose host came from the environment has only `mode`.
        emulated = mode == "emulator"
        if session is not None and (session.emulator or session.key == "emulator"):
            emulated = True
        elif session is not None and session.base_url is not None:
            emulated = is_loopback_url(session.base_url)
        return {
            "id": self.key,
            "task_id": self.task_id,
            "status": self.status,
            "status_text": task.status_text if task else self.status,
            "progress": round(self.progress, 1),
            "created": task.created if task else None,
            "submitted_at": self.submitted_at,
            "finished_at": self.finished_at,
            "estimated_time": task.estimated_time if task else None,
            "credits_reserved": task.credits_reserved if task else None,
            "request": request,
            "summary": summary,
            "error": self.error,
            "video": {"name": self.download_name(), "size": size, "mime": "video/mp4"} if self.done else None,
            "poster": "",
            "watching": self.watching,
            "resumable": self.resumable,
            "stopped_at": self.stopped_at,
            "playable": (self.done and present) or self.direct_url(mode) is not None,
            "code": code,
            "audio_requested": audio,
            "note": self.note,
            "emulated": emulated,
            "kind": "voice" if self.request is None else "video",
            "batch": self.batch,
            "voice": self.voice,
        }


@dataclass
class Batch:
    """Generations started together (``KlingWidget.generate_batch``), shown as one gallery.

    ``wait()`` blocks until all are finished (or failed) and returns them in request order;
    ``await batch`` does the same without blocking. Failures stay on each generation, so one
    failed variation does not hide the others.
    """

    id: str
    generations: list[Generation]
    futures: list[concurrent.futures.Future[Task]]
    # Run on the waiting thread once all are finished (the widget sends its final state from there).
    settle: Callable[[], None] | None = field(default=None, repr=False, compare=False)

    @property
    def ids(self) -> list[str]:
        """The generations' ids (provider task ids once submitted; see ``keys`` for stable ones)."""
        return [g.id for g in self.generations]

    @property
    def keys(self) -> list[str]:
        """The generations' stable keys (their cards' ids), in request order."""
        return [g.key for g in self.generations]

    def wait(self, timeout: float | None = None) -> list[Generation]:
        """Block until every generation has finished; raises ``TimeoutError`` after ``timeout`` s."""
        _done, pending = concurrent.futures.wait(self.futures, timeout=timeout)
        if pending:
            raise TimeoutError(f"{len(pending)} of {len(self.futures)} generations in batch {self.id} still running")
        if self.settle is not None:
            self.settle()
        return list(self.generations)

    def __await__(self) -> Generator[Any, None, list[Generation]]:
        async def gather() -> list[Generation]:
            # Shielded: cancelling the await (a timeout, an interrupted cell) must not cancel the
            # work itself, which may be mid-POST. Stop generations with stop_watching() instead.
            futures = (asyncio.shield(asyncio.wrap_future(f)) for f in self.futures)
            await asyncio.gather(*futures, return_exceptions=True)
            if self.settle is not None:
                self.settle()
            return list(self.generations)

        return gather().__await__()

    def __repr__(self) -> str:
        states = ", ".join(f"{g.batch['label'] if g.batch else g.id}: {g.status}" for g in self.generations)
        return f"<Batch {self.id} [{states}]>"


class Controller:
    """Runs generations for one widget and publishes their state.

    Args:
        client: the async client; its coroutines run on ``runner``'s loop.
        runner: the loop thread that owns all of this controller's work.
        publish: called (on the loop thread) with the cards, newest first (the newest ``CARD_LIMIT``
            and older ones that need the user, ``_cards.in_sight``; ``total_published`` is how
            many generations there are).
        video_dir: where finished videos are kept.
        max_rate: the most ``publish`` calls per second.
        send_progress: when given, called instead of ``publish`` when only the cards' progress
            moved (``_cards.CardPlanner`` decides), with ``[{id, progress, status_text}]``.
        full_every: while only progress moves, ``publish`` still runs this often (seconds).
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
        concurrency: int = DEFAULT_CONCURRENCY,
        send_progress: Callable[[list[CardProgress]], None] | None = None,
        full_every: float = FULL_EVERY_S,
    ) -> None:
        self.client = client
        self.runner = runner
        self._publish = publish
        self._send_progress = send_progress
        self._planner = CardPlanner(full_every=full_every)
        self._catch_up_armed = False  # a publish is due after deltas (on the loop thread only)
        self.total_published = 0  # how many generations the last publish knew (``_tasks_total``)
        self.video_dir = video_dir
        self.cache = cache or VideoCache(video_dir)
        self._interval = 1.0 / max_rate
        self._lock = threading.Lock()
        self._publish_lock = threading.Lock()  # cards are computed and published as one step
        self._generations: list[Generation] = []
        self._jobs: dict[str, asyncio.Task[Task]] = {}
        # The client each generation was submitted (or restored) with, by key: a resume follows
        # the task on that API, not on the one a key pasted since points to.
        self._clients: dict[str, AsyncFoxClient] = {}
        self._next_publish = 0.0
        self._flush_scheduled = False
        self._concurrency = max(1, int(concurrency))
        self._running = 0
        self._closed = False  # after close(), work not yet begun never begins
        self._slots: asyncio.Condition | None = None  # made on the loop thread, which alone uses it
        self.on_finished: Callable[[Generation], None] | None = None
        self.on_voice: Callable[[dict[str, Any]], None] | None = None
        # Called by a batch's waiter when the batch is done (see Batch.settle).
        self.on_settle: Callable[[], None] | None = None

    # -- state ----------------------------------------------------------------------------
    @property
    def generations(self) -> list[Generation]:
        """Every generation, newest first."""
        with self._lock:
            return list(reversed(self._generations))

    def find(self, name: str) -> Generation | None:
        """The generation with this key (its card's ``id``) or this provider task id."""
        with self._lock:
            return next((g for g in self._generations if g.names(name)), None)

    def posters(self, keys: Sequence[str]) -> dict[str, str]:
        """The posters of the generations with these keys (those that have one), by key."""
        with self._lock:
            wanted = set(keys)
            return {g.key: g.poster for g in self._generations if g.key in wanted and g.poster}

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
        if self.publish_now():
            self._next_publish = time.monotonic() + self._interval

    def publish_now(self, *, full: bool = False) -> bool:
        """Publish the cards as they are now, on the calling thread; returns whether they changed.

        Thread-safe. The coalesced flush runs on the loop thread, up to ``1/max_rate`` s after
        the last change; whoever waits for a generation calls this (``full=True``: the whole
        cards, never a progress delta) to have the final state go out before it returns (from
        the kernel's thread, within the cell that waited). Cards are computed and published
        under one lock, so an older set never overwrites a newer.
        """
        with self._publish_lock:
            generations, mode = self.generations, self.client.mode
            cards = [g.to_card(mode) for g in in_sight(generations, lambda g: g.needs_sight)]
            plan = self._planner.plan(cards, len(generations), deltas=self._send_progress is not None and not full)
            if plan is None:
                return False  # nothing visible changed (a poll that saw the same progress)
            try:
                if plan.progress is not None and self._send_progress is not None:
                    self._send_progress(plan.progress)
                    self.runner.loop.call_soon_threadsafe(self._arm_catch_up)
                else:
                    self.total_published = plan.total
                    self._publish(cards)
                self._planner.sent(plan)
            except Exception:  # a failed publish must not stop the loop; the next change retries
                logger.exception("publishing task cards failed")
                self._planner.forget()
            return True

    def _arm_catch_up(self) -> None:
        # On the loop thread. Deltas went out: _tasks must catch up within full_every even if
        # nothing changes any more (progress that stalls at the provider), for a view rendered
        # later and for a saved notebook's state.
        if self._catch_up_armed:
            return

        def fire() -> None:
            self._catch_up_armed = False
            if self._closed:
                return
            with self._publish_lock:
                due = self._planner.catch_up_due()
            if due:
                self._schedule_flush()
                self._arm_catch_up()  # again: a full publish since the deltas may make this one wait

        self._catch_up_armed = True
        self.runner.loop.call_later(self._planner.full_every, fire)

    # -- the concurrency limit ------------------------------------------------------------
    @property
    def concurrency(self) -> int:
        """How many generations may be submitted and followed at once; the rest wait as ``queued``."""
        return self._concurrency

    @concurrency.setter
    def concurrency(self, value: int) -> None:
        self._concurrency = max(1, int(value))
        self.runner.loop.call_soon_threadsafe(lambda: self.runner.loop.create_task(self._wake()))

    async def _wake(self) -> None:
        if self._slots is not None:
            async with self._slots:
                self._slots.notify_all()

    @asynccontextmanager
    async def _slot(self, generation: Generation) -> AsyncIterator[None]:
        # A small limit keeps a batch from tripping the account's rate limit (429s); queued
        # items have sent nothing, so taking them out of the queue costs nothing.
        if self._slots is None:
            self._slots = asyncio.Condition()
        async with self._slots:
            if self._running >= self._concurrency:
                generation.status = TaskStatus.QUEUED
                self.changed()
                await self._slots.wait_for(lambda: self._running < self._concurrency)
            self._running += 1
        generation.status = TaskStatus.SUBMITTING
        self.changed()
        try:
            yield
        finally:
            async with self._slots:
                self._running -= 1
                self._slots.notify_all()

    # -- work -----------------------------------------------------------------------------
    def start(self, request: VideoRequest) -> tuple[Generation, concurrent.futures.Future[Task]]:
        """Start a generation (the request must already be valid); returns its record and a future."""
        generation, client = Generation(request), self.client
        return generation, self._launch(generation, client, lambda: self._run(generation, client))

    def start_batch(self, requests: Sequence[VideoRequest], labels: Sequence[str]) -> Batch:
        """Start several generations as one gallery; they run ``concurrency`` at a time, in order."""
        batch_id = f"batch-{uuid.uuid4().hex[:10]}"  # unique across sessions: restored batches regroup
        generations = [
            Generation(request, batch={"id": batch_id, "index": i, "count": len(requests), "label": label})
            for i, (request, label) in enumerate(zip(requests, labels, strict=True))
        ]
        client = self.client  # the whole batch goes to the API it was started on, even if the key changes
        futures = [self._launch(g, client, lambda g=g: self._run(g, client)) for g in generations]  # type: ignore[misc]
        return Batch(batch_id, generations, futures, settle=self.on_settle)

    def start_voice(self, url: str, name: str) -> tuple[Generation, concurrent.futures.Future[Task]]:
        """Create a voice from an audio URL (already validated), with its own card."""
        generation, client = Generation(None, voice={"url": url, "name": name, "voice_id": None}), self.client
        return generation, self._launch(generation, client, lambda: self._run_voice(generation, client))

    def _launch(
        self, generation: Generation, client: AsyncFoxClient, work: Callable[[], Awaitable[Task]]
    ) -> concurrent.futures.Future[Task]:
        generation.code_session = generation.code_session or CodeSession.of(client)
        with self._lock:
            self._generations.append(generation)
            self._clients[generation.key] = client
        self.changed()
        return self.runner.submit(self._track(generation, work))

    async def _track(self, generation: Generation, work: Callable[[], Awaitable[Task]]) -> Task:
        job = asyncio.current_task()
        assert job is not None
        self._jobs[generation.key] = job
        try:
            if generation.stop_requested or self._closed:  # stopped before its work began
                raise asyncio.CancelledError
            return await work()
        except asyncio.CancelledError:
            if generation.sending:
                generation.status, generation.note = TaskStatus.UNCERTAIN, CUT_OFF_NOTE
                generation.sending = False
            else:
                generation.status = TaskStatus.STOPPED
                generation.note = STOP_NOTE if generation.task is not None else UNQUEUED_NOTE
            generation.watching = False
            generation.stopped_at = time.time() * 1000
            raise
        except BaseException as error:
            generation.fail(error)
            raise
        finally:
            self._jobs.pop(generation.key, None)
            self.changed()
            if self.on_finished is not None and generation.status != TaskStatus.STOPPED:
                try:
                    self.on_finished(generation)
                except Exception:  # a refresh hook must not replace the task's own outcome
                    logger.exception("on_finished hook failed for %s", generation.id)

    async def _submit(self, generation: Generation, post: Awaitable[Task], client: AsyncFoxClient) -> Task:
        generation.sending = True
        try:
            task = await post
        except asyncio.CancelledError:
            raise  # still ``sending``: _track reports the cut-off POST as uncertain, never as unbilled
        except FoxAPIError as error:
            generation.sending = False
            if not error.task_id:
                raise
            # The answer was an error (a 5xx, cut off, not usable JSON) yet named its task: the
            # task exists and is billed, and the client has journaled it. Follow it like any
            # other (polling is safe); the submit is never sent again.
            logger.warning("the submit's answer was an error but named task %s: following it", error.task_id)
            task = Task(id=error.task_id)
            generation.note = NAMED_NOTE
        except BaseException:
            generation.sending = False
            raise
        generation.sending = False
        with self._lock:  # the key stays: whoever holds it (a caller, a view's card) still finds it
            generation.answered(task)
        batch = generation.batch
        if batch is not None:
            await asyncio.to_thread(client.journaled, "recording a batch", lambda j: j.record_batch(task.id, batch))
        self.changed()
        return task

    async def _run(self, generation: Generation, client: AsyncFoxClient) -> Task:
        assert generation.request is not None
        async with self._slot(generation):
            task = await self._submit(generation, client.submit(generation.request), client)
            return await self._follow(generation, task, client)

    async def _run_voice(self, generation: Generation, client: AsyncFoxClient) -> Task:
        voice = generation.voice
        assert voice is not None
        async with self._slot(generation):
            post = client.submit_voice(voice["url"], name=voice["name"] or None)
            task = await self._submit(generation, post, client)
            return await self._follow_voice(generation, task, client)

    async def _follow_voice(self, generation: Generation, task: Task, client: AsyncFoxClient) -> Task:
        voice = generation.voice
        assert voice is not None
        last = await self._poll(generation, task, client)
        voice["voice_id"] = client.remember_voice(last, voice["url"], name=voice["name"] or None)
        generation.progress, generation.status, generation.watching = 100.0, TaskStatus.COMPLETED, False
        generation.finished_at = time.time() * 1000
        if self.on_voice is not None:
            try:
                self.on_voice(dict(voice))
            except Exception:  # the voice exists (and is journaled): a hook must not make it look failed
                logger.exception("on_voice hook failed for %s", generation.id)
        return last

    async def _poll(self, generation: Generation, task: Task, client: AsyncFoxClient) -> Task:
        """Follow ``task`` until it is terminal, updating the card; raise if it failed."""
        last = task
        # How long this tier took before (the journal's memory) paces the polls better than a
        # constant estimated_time from the provider.
        request = generation.request
        expected = await asyncio.to_thread(client.typical_duration, request) if request is not None else None
        async for snapshot in client.watch(task, expected=expected):
            last = snapshot
            generation.task = snapshot
            generation.progress = snapshot.progress
            generation.status = snapshot.status
            self.changed()
        if last.failed:
            error = last.error
            raise TaskFailedError(
                f"Task {last.id} {last.status.value}: {error.message if error else 'no reason given'}",
                task=last,
                code=error.code if error else None,
            )
        return last

    async def _follow(self, generation: Generation, task: Task, client: AsyncFoxClient) -> Task:
        last = await self._poll(generation, task, client)
        generation.status = TaskStatus.DOWNLOADING
        self.changed()
        path = await client.download(last, self.cache.path_for(last.id))
        # Shown (so protected from eviction) from the moment it exists: another generation's
        # evict() may run while this one's poster is made.
        generation.path = path
        from ._poster import poster_data_url

        loop = asyncio.get_running_loop()
        generation.poster = await loop.run_in_executor(None, poster_data_url, path)
        generation.progress = 100.0
        generation.status = TaskStatus.COMPLETED
        generation.watching = False
        generation.finished_at = time.time() * 1000
        # Keep the cache under budget, never evicting a video this widget shows.
        self.cache.evict(protect=[g.path for g in self.generations if g.path is not None])
        return last

    def resume(self, generation: Generation) -> concurrent.futures.Future[Task]:
        """Follow an already-submitted task (e.g. from the journal after a restart)."""
        assert generation.task is not None
        task, client = generation.task, self.client
        generation.code_session = generation.code_session or CodeSession.of(client)
        with self._lock:
            self._generations.append(generation)
            self._clients[generation.key] = client
        self.changed()
        follow = self._follow_voice if generation.voice is not None else self._follow
        return self.runner.submit(self._track(generation, lambda: follow(generation, task, client)))

    def resume_watching(self, name: str) -> bool:
        """Follow a stopped generation again (poll, download), by key or provider id.

        Only a :attr:`Generation.resumable` one: stopped by the user with a provider task to
        follow. Nothing is submitted again (the provider kept running the task). Returns whether
        it is being followed again.
        """
        try:
            return self.runner.call(lambda: self._resume(name))
        except RuntimeError:  # the loop has stopped
            return False

    def resume_refusal(self, name: str) -> str:
        """Why the generation ``name`` cannot be resumed now, or ``""`` when it can."""
        generation = self.find(name) if name else None
        if generation is None:
            return "no such generation in this kernel"
        if not generation.resumable:
            return f"it is {generation.status}: only a stopped task with a task id can be resumed"
        return ""

    def _resume(self, name: str) -> bool:
        # On the loop thread only: checked and relaunched in one step, so no stop comes between.
        generation = self.find(name)
        if self._closed or generation is None or not generation.resumable or generation.key in self._jobs:
            return False  # (still in _jobs: the stop is being processed; resume after it landed)
        task = generation.task
        assert task is not None  # resumable
        generation.watching, generation.stop_requested = True, False
        generation.status = task.status
        generation.note, generation.stopped_at = "", None
        with self._lock:
            client = self._clients.get(generation.key, self.client)  # where it was submitted
        follow = self._follow_voice if generation.voice is not None else self._follow
        self.changed()
        # Its own job, like resume(): not through a concurrency slot, since nothing is submitted
        # (the slots keep POSTs from tripping the rate limit). A stop that comes before the job
        # begins sets stop_requested, which _track honours. The future holds the outcome (which
        # is also on the generation), so an error is never reported as unretrieved.
        self.runner.submit(self._track(generation, lambda: follow(generation, task, client)))
        return True

    def clear_finished(self) -> list[Generation]:
        """Drop finished generations (completed, failed, cancelled, expired; not watched) from the list.

        They stay in the journal (``FoxClient().history()``). Returns the ones dropped.
        """
        with self._lock:
            gone = [g for g in self._generations if g.status in FINISHED and not g.watching]
            dropped = {id(g) for g in gone}
            self._generations = [g for g in self._generations if id(g) not in dropped]
            for generation in gone:
                self._clients.pop(generation.key, None)
        if gone:
            self.changed()
        return gone

    def add_finished(self, generation: Generation) -> None:
        """Show a generation that needs no work (e.g. a finished task found in the cache)."""
        generation.code_session = generation.code_session or CodeSession.of(self.client)
        with self._lock:
            self._generations.append(generation)
        self.changed()

    def stop_watching(self, task_id: str) -> bool:
        """Stop polling a task (the provider keeps running it). Returns whether it was being watched."""
        try:
            # Checked and cancelled on the loop thread in one step: checked from the kernel's
            # thread, a queued item could take its slot and start its POST before the cancel
            # landed, and the cancel would then abandon a billed request.
            return self.runner.call(lambda: self._stop(task_id))
        except RuntimeError:  # the loop has stopped: nothing is being watched any more
            return False

    def _stop(self, task_id: str) -> bool:
        # On the loop thread only.
        generation = self.find(task_id)
        if generation is None or not generation.watching or generation.sending:
            # Mid-submit: abandoning the billed POST could leave a paid task whose id nobody
            # learns (docs/foxapi-contract.md, "Money rule"). Queued items have sent nothing: fine.
            return False
        job = self._jobs.get(generation.key)
        if job is None:  # launched, but its work has not begun on the loop yet
            generation.stop_requested = True
        else:
            job.cancel()
        return True

    @property
    def in_flight(self) -> int:
        """How many generations are being worked on."""
        return len(self._jobs)

    def close(self) -> None:
        """Stop watching everything (tasks keep running at the provider); nothing queued is sent."""

        def stop_all() -> None:
            self._closed = True  # work launched but not yet begun will not begin
            for generation in self.generations:
                self._stop(generation.key)

        with suppress(RuntimeError):  # the loop has stopped already
            self.runner.call(stop_all)
