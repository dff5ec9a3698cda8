"""The widget's controller on its own: a scripted fake client, a virtual clock, no server and no widget.

``Controller`` is driven through its public surface only (``start``, ``start_batch``,
``start_voice``, ``resume``, ``resume_watching``, ``clear_finished``, ``add_finished``,
``stop_watching``, ``close``, ``concurrency``, ``generations``, ``find``, ``in_flight``,
``total_published``, the ``on_finished``/``on_voice`` hooks and the ``publish`` and
``send_progress`` callbacks). The fake client has exactly the methods the controller calls on
``AsyncFoxClient`` (two tests keep it so), counts every call ("exactly one submit per
generation" is an assertion), can hold any call at a :class:`Gate` until the test opens it, and
can fail in each phase. Its ``watch`` sleeps on a :class:`VirtualClock`, so hours of polling
take no real time. Waits for the loop thread are bounded by a generous hang guard, never
asserted on: slowness can only make a test slower, not fail it.
"""

from __future__ import annotations

import ast
import asyncio
import concurrent.futures
import functools
import inspect
import itertools
import json
import logging
import os
import re
import threading
import time
from collections.abc import AsyncGenerator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar, Union, cast

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from waits import until

import foxkling_widgets._controller as controller_module
from foxkling_widgets import (
    APIConnectionError,
    DownloadError,
    InvalidRequestError,
    ProtocolError,
    SubmitUncertainError,
    Task,
    TaskFailedError,
    TaskStatus,
    VideoRequest,
)
from foxkling_widgets._cache import VideoCache
from foxkling_widgets._controller import (
    CUT_OFF_NOTE,
    STOP_NOTE,
    UNQUEUED_NOTE,
    Batch,
    Controller,
    Generation,
    request_summary,
)
from foxkling_widgets._exceptions import WaitTimeoutError
from foxkling_widgets._loop import LoopThread
from foxkling_widgets._messages import CardProgress
from foxkling_widgets._secrets import register_secret
from foxkling_widgets._types import TaskError
from foxkling_widgets._validation import MODEL_CREATE_VOICE
from foxkling_widgets.client import AsyncFoxClient
from foxkling_widgets.client._async import DEFAULT_MAX_DOWNLOAD, JournalLike

pytestmark = pytest.mark.timeout(120)

T = TypeVar("T")

#: How long a test waits for the loop thread before it calls the run hung (never a speed check).
HANG_GUARD = 30.0
DOCS = Path(__file__).resolve().parent.parent / "docs"


# -- the fake's parts ---------------------------------------------------------------------
class Gate:
    """A point where a fake call waits until the test opens it; the test can wait for arrivals.

    Thread-safe: calls arrive on the controller's loop thread, the test opens from its own.
    """

    def __init__(self, name: str = "gate") -> None:
        self.name = name
        self._condition = threading.Condition()
        self._arrivals = 0
        self._open = False
        self._waiting: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = []

    async def passage(self) -> None:
        """Wait here (on the loop) until the gate is open."""
        event = asyncio.Event()
        with self._condition:
            self._arrivals += 1
            self._condition.notify_all()
            if self._open:
                return
            self._waiting.append((asyncio.get_running_loop(), event))
        await event.wait()

    def open(self) -> None:
        """Let everyone through, now and later."""
        with self._condition:
            self._open = True
            waiting, self._waiting = self._waiting, []
        for loop, event in waiting:
            loop.call_soon_threadsafe(event.set)

    @property
    def arrivals(self) -> int:
        """How many calls have reached the gate so far."""
        with self._condition:
            return self._arrivals

    def wait_reached(self, count: int = 1) -> None:
        """Block until ``count`` calls have reached the gate (in all)."""
        with self._condition:
            if not self._condition.wait_for(lambda: self._arrivals >= count, timeout=HANG_GUARD):
                raise AssertionError(f"{self.name}: {self._arrivals} of {count} calls arrived")


class VirtualClock:
    """Monotonic seconds that move only when a fake poll sleeps: an hour of polling takes no real time."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps = 0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        """Advance virtual time, then let the loop run others (as a real sleep would)."""
        self.now += seconds
        self.sleeps += 1
        await asyncio.sleep(0)


Snap = Callable[[str], Task]  # a snapshot of the task with this id
Step = Union[Snap, Gate, BaseException]  # what the fake watch does next


def at(progress: float, status: str = "processing") -> Snap:
    """A running snapshot (``status`` as the server spells it)."""
    return lambda task_id: Task(
        id=task_id,
        status=TaskStatus.parse(status),
        status_text=status,
        progress=progress,
        created=1_700_000_000,
        estimated_time=60.0,
        credits_reserved=12.5,
    )


def finished(url: bool = True) -> Snap:
    """A completed snapshot carrying its result URL (or, ``url=False``, a voice id)."""

    def snap(task_id: str) -> Task:
        return Task(
            id=task_id,
            status=TaskStatus.COMPLETED,
            status_text="succeeded",
            progress=100.0,
            created=1_700_000_000,
            estimated_time=60.0,
            credits_reserved=12.5,
            video_url=f"http://127.0.0.1:9/results/{task_id}.mp4" if url else None,
            voice_id=None if url else f"voice-of-{task_id}",
        )

    return snap


def failed_at_provider(code: str = "content_policy", message: str = "the prompt was refused") -> Snap:
    """A terminal failure as the provider reports it."""
    return lambda task_id: Task(
        id=task_id, status=TaskStatus.FAILED, status_text="failed", error=TaskError(code=code, message=message)
    )


@dataclass
class Script:
    """What the fake does for one request (found by its prompt) or voice (by its URL)."""

    task_id: str | None = None
    hold_submit: Gate | None = None  # the POST is "on the wire" until the test opens this
    submit_error: BaseException | None = None
    steps: list[Step] | None = None  # default: processing 50 %, then completed
    hold_download: Gate | None = None
    download_error: BaseException | None = None
    payload: bytes | None = None  # default: the tiny MP4
    poll_every: float = 5.0  # virtual seconds between two snapshots
    real_pause: float = 0.0  # real seconds too (only to spread changes over several publish windows)


@dataclass
class FakeJournal:
    """The one journal call the controller makes (through ``client.journaled``)."""

    batches: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def record_batch(self, task_id: str, batch: dict[str, Any]) -> None:
        """Remember a batch membership."""
        self.batches.append((task_id, dict(batch)))


class FakeClient:
    """Exactly what ``Controller`` calls on ``AsyncFoxClient``, scripted per test, counting every call.

    ``submit`` is shielded as the real one is ("cancelling the caller does not cut the POST off"):
    the controller relies on that contract, so the fake keeps it. ``posted`` lists the POSTs
    that ran to their end (a task id was made); ``submits`` every submit call.
    """

    #: Read by the controller to tell where "copy as code" sends (``CodeSession.of``).
    mode = "live"
    base_url = "http://127.0.0.1:9"

    def __init__(self, clip: bytes) -> None:
        self.clip = clip
        self.clock = VirtualClock()
        self.journal = FakeJournal()
        self.scripts: dict[str, Script] = {}
        self.expected: float | None = None  # what typical_duration answers
        self._ids = iter(range(1, 1_000_000))
        self._lock = threading.Lock()
        self.submits: list[VideoRequest] = []
        self.voice_submits: list[tuple[str, str | None]] = []
        self.posted: list[str] = []
        self.watches: list[tuple[str, float | None, float | None]] = []
        self.downloads: list[tuple[str, Path]] = []
        self.remembered: list[tuple[str, str, str | None]] = []
        self.journaled_what: list[str] = []
        self.typical_calls = 0
        # Generations between their submit and their last call (download, or remember_voice):
        # what the controller's concurrency limit bounds.
        self.active = 0
        self.max_active = 0
        self._holding: set[str] = set()  # task ids of submitted generations still active
        self.posts_running = 0  # POSTs not yet at their end (some may have lost their caller)

    def key_source(self) -> str:
        return "given"  # copied code asks for the key

    def base_url_from_environment(self) -> bool:
        return False

    def script(self, key: str, **kwargs: Any) -> Script:
        """Script what happens to the request with this prompt (or the voice with this URL)."""
        self.scripts[key] = Script(**kwargs)
        return self.scripts[key]

    def _script_of(self, key: str) -> Script:
        return self.scripts.get(key) or Script()

    def _enter(self) -> None:
        with self._lock:
            self.active += 1
            self.max_active = max(self.max_active, self.active)

    def _leave(self, task_id: str | None = None) -> None:
        """One generation is no longer active (``task_id``: only if it was submitted here)."""
        with self._lock:
            if task_id is None or task_id in self._holding:
                self._holding.discard(task_id or "")
                self.active -= 1

    # -- AsyncFoxClient's surface, as the controller uses it ------------------------------
    async def submit(self, request: VideoRequest) -> Task:
        """Count the call, then "POST" (shielded, like the real client)."""
        self.submits.append(request)
        return await self._shielded(self._script_of(request.prompt), request.model)

    async def submit_voice(self, voice_url: str, *, name: str | None = None) -> Task:
        """Count the call, then "POST" a create-voice task (shielded)."""
        self.voice_submits.append((voice_url, name))
        return await self._shielded(self._script_of(voice_url), MODEL_CREATE_VOICE)

    async def _shielded(self, script: Script, model: str) -> Task:
        self._enter()
        self.posts_running += 1  # on the loop thread only, like the callback below
        work = asyncio.ensure_future(self._post(script, model))
        work.add_done_callback(lambda _work: setattr(self, "posts_running", self.posts_running - 1))
        try:
            task = await asyncio.shield(work)
        except BaseException:  # failed, or the caller gave up (the POST runs on; its slot is freed)
            self._leave()
            raise
        with self._lock:
            self._holding.add(task.id)
        return task

    async def _post(self, script: Script, model: str) -> Task:
        if script.hold_submit is not None:
            await script.hold_submit.passage()
        if script.submit_error is not None:
            raise script.submit_error
        task_id = script.task_id or f"task-{next(self._ids)}"
        self.scripts.setdefault(task_id, script)  # watch and download find the script by task id
        self.posted.append(task_id)
        return Task(id=task_id, status=TaskStatus.PENDING, status_text="pending", model=model, created=1_700_000_000)

    async def watch(
        self, task: str | Task, *, timeout: float | None = None, expected: float | None = None
    ) -> AsyncGenerator[Task, None]:
        """Yield the scripted snapshots, sleeping virtual time between them."""
        task_id = task.id if isinstance(task, Task) else task
        self.watches.append((task_id, timeout, expected))
        script = self._script_of(task_id)
        steps = script.steps if script.steps is not None else [at(50.0), finished()]
        start = self.clock()
        try:
            for step in steps:
                if isinstance(step, Gate):
                    await step.passage()
                    continue
                if isinstance(step, BaseException):
                    raise step
                snapshot = step(task_id)
                yield snapshot
                if snapshot.terminal:
                    if snapshot.failed:
                        self._leave(task_id)
                    return
                if timeout is not None and self.clock() - start >= timeout:
                    raise WaitTimeoutError(f"Task {task_id} still running", task=snapshot, task_id=task_id)
                await self.clock.sleep(script.poll_every)
                if script.real_pause:
                    await asyncio.sleep(script.real_pause)
        except BaseException:
            self._leave(task_id)
            raise

    async def download(
        self, task: Task | str, path: str | os.PathLike[str], *, max_bytes: int = DEFAULT_MAX_DOWNLOAD
    ) -> Path:
        """Write the scripted bytes (the tiny MP4 by default) to ``path``."""
        task_id = task.id if isinstance(task, Task) else task
        destination = Path(path)
        self.downloads.append((task_id, destination))
        script = self._script_of(task_id)
        try:
            if script.hold_download is not None:
                await script.hold_download.passage()
            if script.download_error is not None:
                raise script.download_error
            destination.parent.mkdir(parents=True, exist_ok=True)
            destination.write_bytes(script.payload if script.payload is not None else self.clip)
            return destination
        finally:
            self._leave(task_id)

    def remember_voice(self, done: Task, voice_url: str, *, name: str | None = None) -> str:
        """Like the real one: a completed voice task without a voice id is a protocol error."""
        self.remembered.append((done.id, voice_url, name))
        self._leave(done.id)
        if not done.voice_id:
            raise ProtocolError(f"Voice task {done.id} completed without a voice id.", task_id=done.id)
        return done.voice_id

    def journaled(self, what: str, call: Callable[[JournalLike], T]) -> T | None:
        """``call(journal)``; any failure is swallowed, as the real client does."""
        self.journaled_what.append(what)
        try:
            return call(cast(JournalLike, self.journal))
        except Exception:  # noqa: BLE001 - the real client logs and ignores journal failures
            return None

    def typical_duration(self, request: VideoRequest | dict[str, Any]) -> float | None:
        """The scripted median duration (``None``: unknown)."""
        self.typical_calls += 1
        return self.expected


# -- the harness ---------------------------------------------------------------------------
class Published:
    """Every ``publish`` call: when (monotonic s) and with which cards."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.calls: list[tuple[float, list[dict[str, Any]]]] = []
        self.fail_next = 0  # raise from this many publishes (a broken front end)

    def __call__(self, cards: list[dict[str, Any]]) -> None:
        with self._lock:
            self.calls.append((time.monotonic(), cards))
            if self.fail_next:
                self.fail_next -= 1
                raise RuntimeError("the front end is gone")

    @property
    def last(self) -> list[dict[str, Any]]:
        """The most recent cards published (``[]`` before any)."""
        with self._lock:
            return self.calls[-1][1] if self.calls else []

    def count(self) -> int:
        """How many publishes so far."""
        with self._lock:
            return len(self.calls)

    def since(self, index: int) -> list[tuple[float, list[dict[str, Any]]]]:
        """The publishes from ``index`` on."""
        with self._lock:
            return list(self.calls[index:])


def wait_until(condition: Callable[[], bool], what: str) -> None:
    """Block until ``condition()`` holds (polled finely: the virtual clock moves fast)."""
    until(condition, what, timeout_s=HANG_GUARD, every_s=0.002)


def outcome(future: concurrent.futures.Future[Task]) -> Task | BaseException | None:
    """What a generation's future ended with: its task, its exception, or ``None`` if cancelled."""
    try:
        return future.result(timeout=HANG_GUARD)
    except concurrent.futures.CancelledError:
        return None
    except Exception as error:  # noqa: BLE001 - the test inspects it
        return error


@dataclass
class Harness:
    """One controller on its own loop thread, with its fake client and publish recorder."""

    controller: Controller
    fake: FakeClient
    published: Published
    runner: LoopThread
    finished: list[Generation]
    voices: list[dict[str, Any]]
    progress: list[list[CardProgress]] = field(default_factory=list)  # cards-progress sends (with deltas)

    def request(self, prompt: str, **fields: Any) -> VideoRequest:
        """A valid request (the controller expects one)."""
        return VideoRequest(prompt=prompt, **fields)

    def card(self, generation: Generation) -> dict[str, Any] | None:
        """The generation's card in the last publish."""
        return next((c for c in self.published.last if c["id"] == generation.key), None)

    def wait_published(self, generation: Generation, **expected: Any) -> dict[str, Any]:
        """Block until a published card of ``generation`` has these values; return it."""

        def matches() -> bool:
            card = self.card(generation)
            return card is not None and all(card.get(k) == v for k, v in expected.items())

        wait_until(matches, f"a card of {generation.id} with {expected}")
        card = self.card(generation)
        assert card is not None
        return card


@pytest.fixture(scope="session")
def tiny_mp4(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """A real, tiny H.264 MP4 (three 32x32 frames) for the download and poster steps."""
    import av

    path = tmp_path_factory.mktemp("clip") / "tiny.mp4"
    with av.open(str(path), "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = 32, 32, "yuv420p"
        for index in range(3):
            frame = av.VideoFrame(32, 32, "yuv420p")
            for plane in frame.planes:
                plane.update(bytes([40 * index + 20]) * plane.buffer_size)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return path.read_bytes()


@pytest.fixture
def make(tmp_path: Path, tiny_mp4: bytes) -> Iterator[Callable[..., Harness]]:
    """Build a controller (``concurrency``, ``max_rate``) around a fresh fake client."""
    made: list[Harness] = []

    def build(*, concurrency: int = 2, max_rate: float = 50.0, deltas: bool = False) -> Harness:
        runner = LoopThread("controller-test")
        fake = FakeClient(tiny_mp4)
        published = Published()
        progress: list[list[CardProgress]] = []
        controller = Controller(
            cast(AsyncFoxClient, fake),
            runner,
            published,
            video_dir=tmp_path / "videos",
            max_rate=max_rate,
            cache=VideoCache(tmp_path / "videos", budget_bytes=10**9),
            concurrency=concurrency,
            send_progress=progress.append if deltas else None,
        )
        harness = Harness(controller, fake, published, runner, [], [], progress)
        controller.on_finished = harness.finished.append
        controller.on_voice = harness.voices.append
        made.append(harness)
        return harness

    yield build
    for harness in made:
        harness.controller.close()
        for script in list(harness.fake.scripts.values()):  # let any held call end before the loop stops
            for gate in (script.hold_submit, script.hold_download, *(script.steps or [])):
                if isinstance(gate, Gate):
                    gate.open()
        wait_until(lambda h=harness: h.controller.in_flight == 0, "every job ended")  # type: ignore[misc]
        wait_until(lambda h=harness: h.fake.posts_running == 0, "every POST ended")  # type: ignore[misc]
        harness.runner.close()


# -- the fake stays the client's double ----------------------------------------------------
def _client_calls_in_controller() -> set[str]:
    """Names the controller calls on a client (``client.x(...)``, ``self.client.x(...)``)."""
    tree = ast.parse(Path(inspect.getfile(controller_module)).read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            owner = node.value
            if (isinstance(owner, ast.Name) and owner.id == "client") or (
                isinstance(owner, ast.Attribute) and owner.attr == "client"
            ):
                names.add(node.attr)
    return names


def _public_methods(cls: type) -> set[str]:
    return {name for name, value in vars(cls).items() if callable(value) and not name.startswith("_")}


def _public_attributes(cls: type) -> set[str]:
    return {name for name, value in vars(cls).items() if not callable(value) and not name.startswith("_")}


def test_the_fake_has_everything_the_controller_uses_on_a_client() -> None:
    used = _client_calls_in_controller()
    assert {"submit", "watch", "download", "submit_voice", "remember_voice", "journaled"} <= used
    fake = _public_methods(FakeClient) | _public_attributes(FakeClient)
    assert used <= fake, f"the fake client lacks {sorted(used - fake)}, which the controller now uses"


def test_the_fake_client_has_the_real_signatures() -> None:
    real_client = AsyncFoxClient(api_key=None, base_url="http://127.0.0.1:9", journal=False)
    try:
        for name in _public_attributes(FakeClient):
            assert hasattr(real_client, name), name
    finally:
        asyncio.run(real_client.aclose())
    for name in _public_methods(FakeClient) - {"script"}:
        real, fake = getattr(AsyncFoxClient, name), getattr(FakeClient, name)
        shape = [(p.name, p.kind, p.default) for p in inspect.signature(real).parameters.values()]
        assert [(p.name, p.kind, p.default) for p in inspect.signature(fake).parameters.values()] == shape, name
        for kind in (inspect.iscoroutinefunction, inspect.isasyncgenfunction):
            assert kind(fake) == kind(real), name


# -- one generation ------------------------------------------------------------------------
def test_a_generation_is_submitted_once_followed_downloaded_and_shown(make: Callable[..., Harness]) -> None:
    h = make()
    request = h.request("a fox in the snow", duration=10, generate_audio=True)
    h.fake.expected = 90.0  # the journal says such clips took 90 s
    on_the_wire = h.fake.script("a fox in the snow", hold_submit=Gate("POST")).hold_submit
    assert on_the_wire is not None
    generation, future = h.controller.start(request)
    on_the_wire.wait_reached()
    key = generation.key  # the card's id, given before the provider answers, for good
    assert re.fullmatch(r"gen-[0-9a-f]{10}", key) and h.controller.find(key) is generation
    assert generation.task_id is None and generation.id == key
    on_the_wire.open()

    task = outcome(future)
    assert isinstance(task, Task) and task.done
    assert [r.prompt for r in h.fake.submits] == ["a fox in the snow"] and h.fake.posted == [task.id]
    assert h.fake.watches == [(task.id, None, 90.0)]  # polling paced by the tier's past, no timeout
    assert h.fake.downloads == [(task.id, h.controller.cache.path_for(task.id))]
    assert generation.id == task.id and h.controller.find(task.id) is generation
    assert generation.key == key and generation.task_id == task.id
    assert h.controller.find(key) is generation  # the first id still names it: one thing, one key
    assert generation.status == "completed" and generation.progress == 100.0 and not generation.watching
    assert generation.done and generation.path is not None and generation.path.read_bytes() == h.fake.clip
    assert generation.poster.startswith("data:image/jpeg;base64,")  # a real frame of the tiny MP4
    assert generation.finished_at is not None and generation.finished_at >= generation.submitted_at
    assert h.finished == [generation] and h.controller.in_flight == 0
    card = h.wait_published(generation, status="completed")
    assert card == generation.to_card()


def test_the_card_follows_each_snapshot(make: Callable[..., Harness]) -> None:
    h = make()
    pauses = [Gate(f"after {n}") for n in range(3)]
    steps: list[Step] = [at(0, "queued"), pauses[0], at(30, "running"), pauses[1], at(60, "thinking"), pauses[2]]
    h.fake.script("odd statuses", steps=[*steps, finished()])
    generation, future = h.controller.start(h.request("odd statuses"))
    for gate, (status, text, progress) in zip(
        pauses, [("pending", "queued", 0), ("processing", "running", 30), ("unknown", "thinking", 60)], strict=True
    ):
        gate.wait_reached()
        card = h.wait_published(generation, status=status, status_text=text, progress=progress)
        assert card["watching"] and card["video"] is None and card["credits_reserved"] == 12.5
        gate.open()
    assert isinstance(outcome(future), Task)
    h.wait_published(generation, status="completed", status_text="succeeded", progress=100.0)


def test_a_file_that_is_not_a_video_still_completes_without_a_poster(make: Callable[..., Harness]) -> None:
    h = make()
    h.fake.script("not a video", payload=b"\x00\x00\x00\x18ftypmp42 but nothing decodable")
    generation, future = h.controller.start(h.request("not a video"))
    assert isinstance(outcome(future), Task)
    assert generation.status == "completed" and generation.poster == "" and generation.done


# -- time and publishing -------------------------------------------------------------------
def test_hours_of_polling_take_virtual_time_and_a_burst_of_changes_is_coalesced(
    make: Callable[..., Harness],
) -> None:
    max_rate = 5.0
    h = make(max_rate=max_rate)
    start_line, burst_over = Gate("before the burst"), Gate("after the burst")
    steps: list[Step] = [start_line, *(at(p) for p in range(1, 100)), at(99.5), burst_over, finished()]
    h.fake.script("a long clip", steps=steps, poll_every=60.0)
    generation, future = h.controller.start(h.request("a long clip"))
    start_line.wait_reached()
    h.wait_published(generation, status="pending")
    before, began = h.published.count(), time.monotonic()
    start_line.open()
    burst_over.wait_reached()  # 100 visible changes, an hour and forty minutes of virtual polling
    h.wait_published(generation, progress=99.5)  # the last state of the burst always goes out
    elapsed = time.monotonic() - began
    burst = h.published.since(before)
    burst_over.open()
    assert isinstance(outcome(future), Task)

    assert h.fake.clock.now == pytest.approx(100 * 60.0) and h.fake.clock.sleeps == 100
    # The rate limit itself: consecutive publishes are about 1/max_rate apart or more (a slow
    # run only widens the gaps; half of it leaves room for a thread preempted mid-publish), so
    # a burst of 100 changes costs a handful of publishes.
    gaps = [later - earlier for (earlier, _), (later, _) in itertools.pairwise(burst)]
    assert all(gap >= 0.5 / max_rate for gap in gaps), gaps
    assert len(burst) <= 2 + elapsed * max_rate, (len(burst), elapsed)
    h.wait_published(generation, status="completed")


def test_a_stream_of_changes_is_published_at_most_max_rate_times_a_second(make: Callable[..., Harness]) -> None:
    max_rate = 20.0
    h = make(max_rate=max_rate)
    start_line = Gate("before the stream")
    steps: list[Step] = [start_line, *(at(p) for p in range(1, 61)), finished()]
    h.fake.script("a stream", steps=steps, real_pause=0.005)  # 60 changes over at least 0.3 s
    generation, future = h.controller.start(h.request("a stream"))
    start_line.wait_reached()
    h.wait_published(generation, status="pending")
    before, began = h.published.count(), time.monotonic()
    start_line.open()
    assert isinstance(outcome(future), Task)
    h.wait_published(generation, status="completed")
    elapsed = time.monotonic() - began
    stream = h.published.since(before)
    gaps = [later - earlier for (earlier, _), (later, _) in itertools.pairwise(stream)]
    assert len(stream) >= 2 and all(gap >= 0.5 / max_rate for gap in gaps), gaps
    assert len(stream) <= 2 + elapsed * max_rate, (len(stream), elapsed)
    progress = [next(c["progress"] for c in cards if c["id"] == generation.key) for _, cards in stream]
    assert progress == sorted(progress)  # never an older state after a newer one


def test_unchanged_snapshots_publish_nothing_new(make: Callable[..., Harness]) -> None:
    h = make()
    seen, done = Gate("seen"), Gate("done")
    h.fake.script("steady", steps=[at(40), seen, *(at(40) for _ in range(50)), done, finished()])
    generation, future = h.controller.start(h.request("steady"))
    seen.wait_reached()
    h.wait_published(generation, progress=40)
    before = h.published.count()
    seen.open()
    done.wait_reached()
    time.sleep(0.1)  # let any (wrongly) scheduled publish of the same cards happen
    assert h.published.count() == before
    done.open()
    assert isinstance(outcome(future), Task)


def test_a_failing_publish_is_retried_by_the_next_change(
    make: Callable[..., Harness], caplog: pytest.LogCaptureFixture
) -> None:
    h = make()
    h.published.fail_next = 1
    polling = Gate("polling")
    h.fake.script("a fox", steps=[at(10), polling, finished()])
    with caplog.at_level(logging.ERROR, logger="foxkling_widgets"):
        generation, future = h.controller.start(h.request("a fox"))
        polling.wait_reached()
        wait_until(lambda: h.published.count() >= 1, "a first (failing) publish")
        polling.open()
        assert isinstance(outcome(future), Task)
        h.wait_published(generation, status="completed")
    assert "publishing task cards failed" in caplog.text


# -- the concurrency limit -----------------------------------------------------------------
def test_at_most_concurrency_run_the_rest_queue_in_order_and_raising_it_wakes_them(
    make: Callable[..., Harness],
) -> None:
    h = make(concurrency=2)
    held = Gate("submits")
    prompts = [f"clip {n}" for n in range(6)]
    for prompt in prompts:
        h.fake.script(prompt, hold_submit=held)
    started = [h.controller.start(h.request(p)) for p in prompts]
    held.wait_reached(2)
    wait_until(lambda: [g.status for g, _ in started].count("queued") == 4, "four queued")
    assert [g.status for g, _ in started] == ["submitting"] * 2 + ["queued"] * 4
    assert [r.prompt for r in h.fake.submits] == prompts[:2]
    assert h.controller.in_flight == 6  # queued ones are jobs too (stop_watching finds them)
    for generation, _ in started[2:]:
        h.wait_published(generation, status="queued", watching=True, video=None)

    h.controller.concurrency = 4
    assert h.controller.concurrency == 4
    held.wait_reached(4)
    wait_until(lambda: [g.status for g, _ in started].count("queued") == 2, "two queued after raising")
    held.open()
    assert all(isinstance(outcome(f), Task) for _, f in started)
    assert [r.prompt for r in h.fake.submits] == prompts  # in order, each exactly once
    assert len(h.fake.posted) == len(set(h.fake.posted)) == 6
    assert h.fake.max_active <= 4 and h.fake.active == 0
    assert h.controller.in_flight == 0


def test_lowering_concurrency_holds_new_work_until_enough_have_finished(make: Callable[..., Harness]) -> None:
    h = make(concurrency=3)
    polling = Gate("polling")
    for prompt in ("one", "two", "three"):
        h.fake.script(prompt, steps=[at(10), polling, finished()])
    running = [h.controller.start(h.request(p)) for p in ("one", "two", "three")]
    polling.wait_reached(3)
    h.controller.concurrency = 1
    later, later_future = h.controller.start(h.request("later"))
    wait_until(lambda: later.status == "queued", "queued below the new limit")
    polling.open()
    assert all(isinstance(outcome(f), Task) for _, f in [*running, (later, later_future)])
    assert [r.prompt for r in h.fake.submits] == ["one", "two", "three", "later"]
    assert later.status == "completed"


def test_a_concurrency_below_one_is_one(make: Callable[..., Harness]) -> None:
    h = make(concurrency=0)
    assert h.controller.concurrency == 1
    h.controller.concurrency = -3
    assert h.controller.concurrency == 1


# -- stopping and the money rule -----------------------------------------------------------
def test_stop_watching_a_queued_generation_sends_nothing(make: Callable[..., Harness]) -> None:
    h = make(concurrency=1)
    held = Gate("first submit")
    h.fake.script("first", hold_submit=held)
    first, first_future = h.controller.start(h.request("first"))
    second, second_future = h.controller.start(h.request("second"))
    held.wait_reached()
    wait_until(lambda: second.status == "queued", "the second queued")

    assert h.controller.stop_watching(second.id) is True
    assert outcome(second_future) is None  # cancelled
    assert (second.status, second.note, second.watching) == ("stopped", UNQUEUED_NOTE, False)
    assert h.controller.stop_watching(second.id) is False  # no longer watched
    held.open()
    assert isinstance(outcome(first_future), Task)
    assert [r.prompt for r in h.fake.submits] == ["first"]  # the stopped one was never sent
    assert h.finished == [first]  # a stop is not a finish
    h.wait_published(second, status="stopped", note=UNQUEUED_NOTE)


def test_stop_watching_before_the_work_began_sends_nothing(make: Callable[..., Harness]) -> None:
    h = make()

    def start_and_stop() -> tuple[Generation, concurrent.futures.Future[Task], bool]:
        # On the loop thread, in one step: the generation's work cannot have begun yet.
        generation, future = h.controller.start(h.request("never sent"))
        return generation, future, h.controller.stop_watching(generation.id)

    generation, future, stopped = h.runner.call(start_and_stop)
    assert stopped is True
    assert outcome(future) is None
    assert (generation.status, generation.note) == ("stopped", UNQUEUED_NOTE)
    assert h.fake.submits == []


def test_stop_watching_is_refused_while_the_submit_is_in_flight(make: Callable[..., Harness]) -> None:
    h = make()
    on_the_wire = Gate("POST")
    h.fake.script("billed", hold_submit=on_the_wire)
    generation, future = h.controller.start(h.request("billed"))
    on_the_wire.wait_reached()
    wait_until(lambda: generation.status == "submitting", "submitting")

    assert h.controller.stop_watching(generation.id) is False  # the money rule
    assert generation.watching and generation.status == "submitting" and not future.done()
    on_the_wire.open()
    task = outcome(future)
    assert isinstance(task, Task) and generation.status == "completed"
    assert len(h.fake.submits) == 1 and h.fake.posted == [task.id]
    assert h.controller.stop_watching(task.id) is False  # finished: nothing to stop


def test_stop_watching_while_polling_keeps_the_id_and_downloads_nothing(make: Callable[..., Harness]) -> None:
    h = make()
    polling = Gate("polling")
    h.fake.script("long", task_id="task-long", steps=[at(10), polling, finished()])
    generation, future = h.controller.start(h.request("long"))
    polling.wait_reached()

    assert h.controller.stop_watching("task-long") is True
    assert outcome(future) is None
    assert (generation.id, generation.status, generation.note) == ("task-long", "stopped", STOP_NOTE)
    assert not generation.watching and generation.task is not None
    assert len(h.fake.submits) == 1 and h.fake.downloads == [] and h.finished == []
    h.wait_published(generation, status="stopped", watching=False, note=STOP_NOTE)


def test_stop_watching_while_downloading_stops_it(make: Callable[..., Harness]) -> None:
    h = make()
    fetching = Gate("download")
    h.fake.script("big", task_id="task-big", hold_download=fetching)
    generation, future = h.controller.start(h.request("big"))
    fetching.wait_reached()
    assert generation.status == "downloading" and generation.watching
    assert h.controller.stop_watching("task-big") is True
    assert outcome(future) is None
    assert (generation.status, generation.note, generation.done) == ("stopped", STOP_NOTE, False)


def test_cancelling_the_wait_for_a_batch_does_not_cut_off_its_submit(make: Callable[..., Harness]) -> None:
    h = make()
    on_the_wire = Gate("POST")
    h.fake.script("billed", hold_submit=on_the_wire)
    batch = h.controller.start_batch([h.request("billed")], ["only"])

    async def wait_then_give_up() -> None:
        waiting = asyncio.ensure_future(_await(batch))
        await asyncio.to_thread(on_the_wire.wait_reached)
        waiting.cancel()  # e.g. an interrupted cell, or asyncio.wait_for running out
        with pytest.raises(asyncio.CancelledError):
            await waiting

    asyncio.run(wait_then_give_up())
    generation = batch.generations[0]
    assert generation.status == "submitting" and generation.watching  # still going
    on_the_wire.open()
    assert [g.status for g in batch.wait(timeout=HANG_GUARD)] == ["completed"]
    assert len(h.fake.submits) == 1 and len(h.fake.posted) == 1


def test_waiting_for_a_batch_can_time_out_without_stopping_it(make: Callable[..., Harness]) -> None:
    h = make()
    on_the_wire = Gate("POST")
    h.fake.script("held", hold_submit=on_the_wire)
    batch = h.controller.start_batch([h.request("held"), h.request("free")], ["held", "free"])
    on_the_wire.wait_reached()
    with pytest.raises(TimeoutError, match="of 2 generations"):
        batch.wait(timeout=0.01)
    on_the_wire.open()
    assert [g.status for g in batch.wait(timeout=HANG_GUARD)] == ["completed", "completed"]


async def _await(batch: Batch) -> list[Generation]:
    return await batch


def test_cancelling_a_generation_mid_submit_says_it_may_be_billed(make: Callable[..., Harness]) -> None:
    h = make()
    on_the_wire = Gate("POST")
    h.fake.script("billed", hold_submit=on_the_wire)
    generation, future = h.controller.start(h.request("billed"))
    on_the_wire.wait_reached()
    wait_until(lambda: generation.status == "submitting", "submitting")

    future.cancel()  # whoever holds the future gives up on it while the POST is on the wire
    assert outcome(future) is None
    wait_until(lambda: h.finished == [generation], "the generation ended")
    # The POST may have created (and billed) a task: never "nothing was billed".
    assert (generation.status, generation.note, generation.watching) == ("uncertain", CUT_OFF_NOTE, False)
    on_the_wire.open()
    wait_until(lambda: len(h.fake.posted) == 1, "the shielded POST ran to its end")
    assert len(h.fake.submits) == 1 and h.fake.watches == []
    h.wait_published(generation, status="uncertain", note=CUT_OFF_NOTE)


def test_close_sends_nothing_queued_and_lets_the_submit_in_flight_end(make: Callable[..., Harness]) -> None:
    h = make(concurrency=1)
    on_the_wire = Gate("POST")
    h.fake.script("in flight", task_id="task-in-flight", hold_submit=on_the_wire)
    first, first_future = h.controller.start(h.request("in flight"))
    queued = [h.controller.start(h.request(f"queued {n}")) for n in range(3)]
    on_the_wire.wait_reached()
    wait_until(lambda: all(g.status == "queued" for g, _ in queued), "three queued")

    h.controller.close()
    for generation, future in queued:
        assert outcome(future) is None
        assert (generation.status, generation.note, generation.watching) == ("stopped", UNQUEUED_NOTE, False)
    assert first.status == "submitting" and first.watching  # the money rule: not cut off
    on_the_wire.open()
    # As it stands (and as tests/test_widget.py's close test expects), the task paid for is
    # followed to its video even after close.
    assert isinstance(outcome(first_future), Task) and first.id == "task-in-flight" and first.done
    assert [r.prompt for r in h.fake.submits] == ["in flight"] and h.fake.posted == ["task-in-flight"]

    late, late_future = h.controller.start(h.request("after close"))
    assert outcome(late_future) is None and late.status == "stopped"
    assert len(h.fake.submits) == 1
    h.controller.close()  # twice is fine


def test_stop_watching_after_the_loop_stopped_is_false(make: Callable[..., Harness]) -> None:
    h = make()
    generation, future = h.controller.start(h.request("a fox"))
    assert isinstance(outcome(future), Task)
    h.runner.close()
    assert h.controller.stop_watching(generation.id) is False
    h.controller.close()  # no error either


# -- batches ---------------------------------------------------------------------------------
def test_a_failing_batch_member_leaves_the_others_running(make: Callable[..., Harness]) -> None:
    h = make(concurrency=3)
    h.fake.script("refused", submit_error=APIConnectionError("Could not connect"))
    h.fake.script("blocked", steps=[at(20), failed_at_provider()])
    requests = [h.request(p) for p in ("ok one", "refused", "blocked", "ok two")]
    batch = h.controller.start_batch(requests, ["A", "B", "C", "D"])
    assert batch.id.startswith("batch-") and len(batch.generations) == 4

    generations = batch.wait(timeout=HANG_GUARD)
    assert [g.status for g in generations] == ["completed", "failed", "failed", "completed"]
    assert [g.batch for g in generations] == [
        {"id": batch.id, "index": i, "count": 4, "label": label} for i, label in enumerate("ABCD")
    ]
    refused, blocked = generations[1], generations[2]
    assert refused.error is not None and "Could not connect" in refused.error["message"] and refused.task is None
    assert blocked.error is not None and blocked.error["code"] == "content_policy"
    assert "the prompt was refused" in blocked.error["message"]
    assert isinstance(outcome(batch.futures[1]), APIConnectionError)
    assert batch.ids == [g.id for g in generations]
    assert len(h.fake.submits) == 4 and len(h.fake.downloads) == 2
    # Membership is journaled for each task that exists (a restored gallery regroups).
    assert sorted(t for t, _ in h.fake.journal.batches) == sorted(h.fake.posted)
    assert all(b["id"] == batch.id for _, b in h.fake.journal.batches)
    assert set(map(id, h.finished)) == set(map(id, generations))
    assert "B: failed" in repr(batch)


def test_a_batch_with_a_label_missing_starts_nothing(make: Callable[..., Harness]) -> None:
    h = make()
    with pytest.raises(ValueError):
        h.controller.start_batch([h.request("one"), h.request("two")], ["only one label"])
    assert h.controller.generations == [] and h.fake.submits == []


def test_a_batch_runs_concurrency_at_a_time_in_order(make: Callable[..., Harness]) -> None:
    h = make(concurrency=1)
    prompts = [f"variation {n}" for n in range(5)]
    batch = h.controller.start_batch([h.request(p) for p in prompts], prompts)

    async def both() -> list[Generation]:
        return await batch

    generations = asyncio.run(both())
    assert all(g.status == "completed" for g in generations)
    assert [r.prompt for r in h.fake.submits] == prompts and h.fake.max_active == 1


# -- voices ----------------------------------------------------------------------------------
def test_a_voice_ends_with_on_voice_called_with_its_id_and_name(make: Callable[..., Harness]) -> None:
    h = make()
    url = "https://example.com/audio/narrator.mp3"
    h.fake.script(url, task_id="task-voice", steps=[at(50), finished(url=False)])
    generation, future = h.controller.start_voice(url, "Narrator")
    assert isinstance(outcome(future), Task)

    assert h.fake.voice_submits == [(url, "Narrator")] and h.fake.submits == []
    assert h.fake.watches == [("task-voice", None, None)]  # no tier to take a pace from
    assert h.fake.remembered == [("task-voice", url, "Narrator")]
    assert h.voices == [{"url": url, "name": "Narrator", "voice_id": "voice-of-task-voice"}]
    assert generation.status == "completed" and generation.progress == 100.0 and not generation.watching
    assert h.fake.downloads == [] and generation.path is None
    card = h.wait_published(generation, status="completed")
    assert card["kind"] == "voice" and card["video"] is None
    assert card["request"] == {"model": MODEL_CREATE_VOICE, "voice_url": url}
    assert card["voice"] == {"url": url, "name": "Narrator", "voice_id": "voice-of-task-voice"}
    assert "Narrator" in card["summary"] and "create_voice" in card["code"]


def test_stop_watching_a_voice_is_refused_while_its_submit_is_in_flight(make: Callable[..., Harness]) -> None:
    h = make()
    url = "https://example.com/audio/held.mp3"
    on_the_wire = Gate("voice POST")
    h.fake.script(url, hold_submit=on_the_wire, steps=[finished(url=False)])
    generation, future = h.controller.start_voice(url, "Held")
    on_the_wire.wait_reached()
    assert h.controller.stop_watching(generation.id) is False and generation.watching
    on_the_wire.open()
    assert isinstance(outcome(future), Task) and generation.status == "completed"
    assert len(h.fake.voice_submits) == 1 and len(h.voices) == 1


def test_a_voice_without_a_name_sends_none(make: Callable[..., Harness]) -> None:
    h = make()
    url = "https://example.com/a.wav"
    h.fake.script(url, steps=[finished(url=False)])
    _generation, future = h.controller.start_voice(url, "")
    assert isinstance(outcome(future), Task)
    assert h.fake.voice_submits == [(url, None)] and h.voices[0]["name"] == ""


def test_a_voice_that_completes_without_an_id_fails_on_its_card(make: Callable[..., Harness]) -> None:
    h = make()
    url = "https://example.com/b.wav"
    h.fake.script(url, steps=[finished(url=True)])  # a result URL, but no voice id
    generation, future = h.controller.start_voice(url, "B")
    assert isinstance(outcome(future), ProtocolError)
    assert generation.status == "failed" and generation.error is not None and h.voices == []


def test_a_failing_on_voice_hook_does_not_fail_the_voice(
    make: Callable[..., Harness], caplog: pytest.LogCaptureFixture
) -> None:
    h = make()
    url = "https://example.com/c.wav"
    h.fake.script(url, steps=[finished(url=False)])

    def broken(_voice: dict[str, Any]) -> None:
        raise RuntimeError("the chips could not be redrawn")

    h.controller.on_voice = broken
    with caplog.at_level(logging.ERROR, logger="foxkling_widgets"):
        generation, future = h.controller.start_voice(url, "C")
        assert isinstance(outcome(future), Task)
    assert generation.status == "completed" and generation.error is None
    assert "on_voice hook failed" in caplog.text
    assert generation.voice is not None and generation.voice["voice_id"] is not None


# -- resume and add_finished -----------------------------------------------------------------
def test_resume_follows_a_submitted_task_without_a_new_submit(make: Callable[..., Harness]) -> None:
    h = make()
    h.fake.script("task-from-yesterday", steps=[at(70), finished()])
    request = h.request("restored")
    generation = Generation(
        request,
        id="task-from-yesterday",
        status="processing",
        task=Task(id="task-from-yesterday", status=TaskStatus.PROCESSING, progress=60.0),
        restored=True,
    )
    future = h.controller.resume(generation)
    assert isinstance(outcome(future), Task)
    assert h.fake.submits == [] and h.fake.voice_submits == [] and h.fake.posted == []
    assert [w[0] for w in h.fake.watches] == ["task-from-yesterday"]
    assert h.fake.downloads == [("task-from-yesterday", h.controller.cache.path_for("task-from-yesterday"))]
    assert generation.status == "completed" and generation.done and generation.restored
    assert h.controller.generations == [generation] and h.finished == [generation]


def test_resume_of_a_voice_calls_on_voice(make: Callable[..., Harness]) -> None:
    h = make()
    url = "https://example.com/d.mp3"
    h.fake.script("task-voice-old", steps=[finished(url=False)])
    generation = Generation(
        None,
        id="task-voice-old",
        status="pending",
        task=Task(id="task-voice-old"),
        voice={"url": url, "name": "D", "voice_id": None},
    )
    assert isinstance(outcome(h.controller.resume(generation)), Task)
    assert h.fake.voice_submits == [] and h.voices == [{"url": url, "name": "D", "voice_id": "voice-of-task-voice-old"}]


def test_stop_watching_a_resumed_task_keeps_its_id(make: Callable[..., Harness]) -> None:
    h = make()
    polling = Gate("polling")
    h.fake.script("task-old", steps=[polling, finished()])
    generation = Generation(h.request("old"), id="task-old", status="processing", task=Task(id="task-old"))
    future = h.controller.resume(generation)
    polling.wait_reached()
    assert h.controller.stop_watching("task-old") is True
    assert outcome(future) is None and (generation.status, generation.note) == ("stopped", STOP_NOTE)


def test_add_finished_shows_a_card_and_does_no_work(make: Callable[..., Harness]) -> None:
    h = make()
    generation = Generation(h.request("from the cache"), id="task-cached", status="completed", watching=False)
    h.controller.add_finished(generation)
    assert h.controller.find("task-cached") is generation and h.controller.in_flight == 0
    h.wait_published(generation, status="completed")
    assert h.controller.stop_watching("task-cached") is False
    assert h.fake.submits == [] and h.fake.watches == []


def test_generations_are_newest_first(make: Callable[..., Harness]) -> None:
    h = make()
    older = Generation(h.request("older"), id="task-a", status="completed", watching=False)
    newer = Generation(h.request("newer"), id="task-b", status="completed", watching=False)
    h.controller.add_finished(older)
    h.controller.add_finished(newer)
    assert h.controller.generations == [newer, older]
    wait_until(lambda: [c["id"] for c in h.published.last] == ["task-b", "task-a"], "cards newest first")


def test_a_video_just_downloaded_is_never_evicted_by_another_generation(
    make: Callable[..., Harness], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Two downloads at once (the default concurrency) with a cache over budget: the one that
    # finishes second evicts what it does not protect. The first one's file, downloaded but
    # still having its poster made, must count as shown.
    from foxkling_widgets import _poster

    h = make(concurrency=2)
    h.controller.cache.budget = len(h.fake.clip) * 3 // 2  # room for one clip
    first_poster, real_poster = threading.Event(), _poster.poster_data_url
    first_poster_reached = threading.Event()

    def held_poster(path: str | Path, **kwargs: Any) -> str:
        if Path(path).name == "task-first.mp4":
            first_poster_reached.set()
            first_poster.wait(HANG_GUARD)
        return real_poster(path, **kwargs)

    monkeypatch.setattr(_poster, "poster_data_url", held_poster)
    second_download = Gate("second download")
    h.fake.script("first", task_id="task-first")
    h.fake.script("second", task_id="task-second", hold_download=second_download)
    first, first_future = h.controller.start(h.request("first"))
    second, second_future = h.controller.start(h.request("second"))
    assert first_poster_reached.wait(HANG_GUARD)  # the first is downloaded; its poster is on the way
    second_download.open()
    assert isinstance(outcome(second_future), Task) and second.done
    first_poster.set()
    assert isinstance(outcome(first_future), Task) and first.done
    assert first.path is not None and first.path.exists(), "a video the widget shows was evicted"
    assert second.path is not None and second.path.exists()


# -- errors end on the generation ------------------------------------------------------------
PHASE_FAILURES: dict[str, tuple[dict[str, Any], type[BaseException], str]] = {
    "invalid": (
        {"submit_error": InvalidRequestError("prompt is empty", field="prompt")},
        InvalidRequestError,
        "failed",
    ),
    "uncertain submit": ({"submit_error": SubmitUncertainError("HTTP 502")}, SubmitUncertainError, "uncertain"),
    "poll": ({"steps": [at(10), APIConnectionError("GET failed")]}, APIConnectionError, "failed"),
    "provider": ({"steps": [at(10), failed_at_provider()]}, TaskFailedError, "failed"),
    "cancelled by provider": (
        {"steps": [lambda i: Task(id=i, status=TaskStatus.CANCELLED, status_text="aborted")]},
        TaskFailedError,
        "cancelled",
    ),
    "download": ({"download_error": DownloadError("The transfer was cut off")}, DownloadError, "failed"),
    "not ours": ({"steps": [RuntimeError("a bug in a library")]}, RuntimeError, "failed"),
}


@pytest.mark.parametrize("phase", list(PHASE_FAILURES))
def test_an_error_in_any_phase_ends_on_the_generation(make: Callable[..., Harness], phase: str) -> None:
    h = make()
    script, error_type, status = PHASE_FAILURES[phase]
    h.fake.script("doomed", **script)
    generation, future = h.controller.start(h.request("doomed"))  # never raises
    error = outcome(future)
    assert isinstance(error, error_type)
    assert generation.status == status and not generation.watching and generation.finished_at is not None
    assert generation.error is not None and set(generation.error) == {"code", "message", "hint"}
    assert not generation.done and generation.poster == ""
    assert h.finished == [generation] and len(h.fake.submits) == 1
    card = h.wait_published(generation, status=status)
    assert card["error"] == generation.error and card["video"] is None
    # The controller carries on.
    after, after_future = h.controller.start(h.request("next"))
    assert isinstance(outcome(after_future), Task) and after.status == "completed"


def test_an_error_message_never_shows_a_key(make: Callable[..., Harness]) -> None:
    key = "sk-controller-test-0123456789abcdef"
    register_secret(key)
    h = make()
    h.fake.script("leaky", steps=[RuntimeError(f"upstream said: bad key {key}")])
    generation, future = h.controller.start(h.request("leaky"))
    assert isinstance(outcome(future), RuntimeError)
    assert generation.error is not None and key not in json.dumps(generation.to_card())
    assert generation.error["code"] == "RuntimeError"


def test_a_failing_on_finished_hook_keeps_the_outcome(
    make: Callable[..., Harness], caplog: pytest.LogCaptureFixture
) -> None:
    h = make()

    def broken(_generation: Generation) -> None:
        raise RuntimeError("the fallback could not be redrawn")

    h.controller.on_finished = broken
    with caplog.at_level(logging.ERROR, logger="foxkling_widgets"):
        generation, future = h.controller.start(h.request("a fox"))
        assert isinstance(outcome(future), Task)
    assert generation.status == "completed" and "on_finished hook failed" in caplog.text


# -- the card --------------------------------------------------------------------------------
@functools.cache
def _task_card_keys() -> frozenset[str]:
    """The top-level keys of TaskCard as docs/widget-protocol.md lists them."""
    text = (DOCS / "widget-protocol.md").read_text(encoding="utf-8")
    match = re.search(r"^TaskCard: `\{(.*)\}`", text, re.MULTILINE)
    assert match, "docs/widget-protocol.md has no TaskCard line"
    keys, depth, current = [], 0, ""
    for char in match.group(1):
        if char in "({[":
            depth += 1
        elif char in ")}]":
            depth -= 1
        if char == "," and depth == 0:
            keys.append(current)
            current = ""
        else:
            current += char
    keys.append(current)
    return frozenset(re.match(r"\s*(\w+)", k).group(1) for k in keys)  # type: ignore[union-attr]


def _check_card(card: dict[str, Any]) -> None:
    assert set(card) == _task_card_keys()
    json.dumps(card, allow_nan=False)  # travels as a trait: plain JSON
    assert isinstance(card["id"], str) and isinstance(card["status"], str) and isinstance(card["status_text"], str)
    assert 0 <= card["progress"] <= 100
    assert isinstance(card["submitted_at"], (int, float)) and card["kind"] in ("video", "voice")
    assert card["error"] is None or set(card["error"]) == {"code", "message", "hint"}
    assert card["video"] is None or set(card["video"]) == {"name", "size", "mime"}
    assert card["batch"] is None or set(card["batch"]) == {"id", "index", "count", "label"}
    assert card["voice"] is None or set(card["voice"]) == {"url", "name", "voice_id"}
    assert isinstance(card["watching"], bool) and isinstance(card["audio_requested"], bool)
    assert isinstance(card["poster"], str) and isinstance(card["note"], str) and isinstance(card["code"], str)


def test_to_card_has_the_documented_shape(make: Callable[..., Harness]) -> None:
    h = make()
    request = h.request("a fox", duration=10, resolution="1080p", generate_audio=True)
    batch = h.controller.start_batch([request], ["wide"])
    (generation,) = batch.wait(timeout=HANG_GUARD)
    card = generation.to_card()
    _check_card(card)
    assert card["id"] == generation.key and card["task_id"] == generation.id
    assert card["status"] == "completed" and card["status_text"] == "succeeded"
    assert card["progress"] == 100.0 and card["created"] == 1_700_000_000
    assert card["estimated_time"] == 60.0 and card["credits_reserved"] == 12.5
    assert card["request"] == request.to_payload() and card["summary"] == request_summary(request)
    assert card["video"] == {"name": generation.download_name(), "size": len(h.fake.clip), "mime": "video/mp4"}
    assert card["video"]["name"].startswith("a-fox-1080p-") and card["video"]["name"].endswith(".mp4")
    assert card["poster"] == "" and generation.poster.startswith("data:image/jpeg;base64,")  # posters: _posters
    assert card["audio_requested"] is True and card["playable"] is True and card["resumable"] is False
    assert card["kind"] == "video" and card["voice"] is None and card["error"] is None
    assert card["batch"] == {"id": batch.id, "index": 0, "count": 1, "label": "wide"}
    assert "VideoRequest(" in card["code"] and card["watching"] is False
    assert card["finished_at"] is not None and card["finished_at"] >= card["submitted_at"]

    pending = Generation(request).to_card()
    _check_card(pending)
    assert pending["status"] == "submitting" and pending["created"] is None and pending["video"] is None


_texts = st.text(max_size=40)


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    status_text=_texts,
    progress=st.floats(0, 100),
    credits=st.none() | st.floats(0, 1e6),
    estimated=st.none() | st.floats(0, 1e5),
    prompt=st.text(min_size=1, max_size=200),
    error=st.none() | _texts,
)
def test_any_snapshot_makes_a_card_of_the_documented_shape(
    status_text: str, progress: float, credits: float | None, estimated: float | None, prompt: str, error: str | None
) -> None:
    task = Task.from_json(
        {
            "id": "task-x",
            "status": status_text,
            "progress": progress,
            "usage": {"credits_reserved": credits},
            "task_info": {"estimated_time": estimated},
        }
    )
    generation = Generation(VideoRequest(prompt=prompt), id=task.id, task=task, progress=task.progress)
    generation.status = task.status.value
    if error is not None:
        generation.fail(RuntimeError(error))
    _check_card(generation.to_card())


# -- stable keys, resume, clear, cap, progress deltas (docs/widget-protocol.md) ----------------
def test_the_key_names_the_generation_before_and_after_its_submit_is_answered(make: Callable[..., Harness]) -> None:
    h = make()
    polling = Gate("polling")
    on_the_wire = Gate("POST")
    h.fake.script("held", task_id="task-held", hold_submit=on_the_wire, steps=[at(10), polling, finished()])
    generation, future = h.controller.start(h.request("held"))
    key = generation.key
    on_the_wire.wait_reached()
    assert h.wait_published(generation, task_id=None)["id"] == key  # the card, before the answer
    on_the_wire.open()
    polling.wait_reached()
    card = h.wait_published(generation, task_id="task-held")
    assert card["id"] == key and h.controller.find("task-held") is h.controller.find(key) is generation
    assert h.controller.stop_watching(key) is True  # the first id still stops it
    assert outcome(future) is None and generation.key == key


def test_a_stopped_generation_resumes_and_completes(make: Callable[..., Harness]) -> None:
    h = make()
    polling = Gate("polling")
    h.fake.script("long", task_id="task-long", steps=[at(10), polling, finished()])
    generation, future = h.controller.start(h.request("long"))
    polling.wait_reached()
    assert h.controller.stop_watching(generation.key) is True and outcome(future) is None
    card = h.wait_published(generation, status="stopped", resumable=True)
    assert isinstance(card["stopped_at"], float) and card["stopped_at"] >= card["submitted_at"]
    assert h.finished == []
    polling.open()
    assert h.controller.resume_watching("task-long") is True  # by provider id; the key works too
    assert h.controller.resume_watching(generation.key) is False  # followed already
    wait_until(lambda: not generation.watching, "the resumed generation finished")
    assert generation.status == "completed" and generation.done and generation.note == ""
    assert len(h.fake.submits) == 1 and [w[0] for w in h.fake.watches] == ["task-long", "task-long"]
    card = h.wait_published(generation, status="completed", resumable=False, stopped_at=None, playable=True)
    assert h.finished == [generation] and h.controller.resume_watching(generation.key) is False


def test_what_cannot_be_resumed_is_refused(make: Callable[..., Harness]) -> None:
    h = make(concurrency=1)
    first_download = Gate("first download")
    h.fake.script("first", hold_download=first_download)
    first, _first_future = h.controller.start(h.request("first"))
    queued, queued_future = h.controller.start(h.request("queued"))
    first_download.wait_reached()
    assert h.controller.stop_watching(queued.key) is True and outcome(queued_future) is None
    assert queued.status == "stopped" and queued.task_id is None and not queued.resumable  # nothing was sent
    assert h.controller.resume_watching(queued.key) is False
    assert h.controller.resume_watching(first.key) is False  # being watched
    assert h.controller.resume_watching("no-such-id") is False
    first_download.open()
    wait_until(lambda: first.done, "the first finished")
    assert h.controller.resume_watching(first.key) is False and h.fake.submits[1:] == []


def test_clear_finished_drops_only_what_is_over(make: Callable[..., Harness]) -> None:
    h = make()
    polling = Gate("polling")
    h.fake.script("running", steps=[at(10), polling, finished()])
    done, done_future = h.controller.start(h.request("done"))
    assert isinstance(outcome(done_future), Task)
    h.fake.script("refused", steps=[failed_at_provider()])
    refused, refused_future = h.controller.start(h.request("refused"))
    assert isinstance(outcome(refused_future), TaskFailedError)
    running, _running_future = h.controller.start(h.request("running"))
    polling.wait_reached()
    assert [g.key for g in h.controller.clear_finished()] == [done.key, refused.key]
    assert h.controller.generations == [running] and h.controller.find(done.key) is None
    wait_until(lambda: [c["id"] for c in h.published.last] == [running.key], "the cleared cards left")
    assert h.controller.clear_finished() == []
    polling.open()


def test_cards_are_capped_at_the_newest_fifty(make: Callable[..., Harness]) -> None:
    from foxkling_widgets._cards import CARD_LIMIT

    h = make()
    made = [Generation(h.request(f"clip {i}"), id=f"task-{i}", status="completed", watching=False) for i in range(60)]
    for generation in made:
        h.controller.add_finished(generation)
    wait_until(lambda: h.controller.total_published == 60, "all sixty counted")
    cards = h.published.last
    assert CARD_LIMIT == 50 and len(cards) == CARD_LIMIT and len(h.controller.generations) == 60
    assert [c["id"] for c in cards] == [f"task-{i}" for i in range(59, 9, -1)]  # newest first


def test_progress_alone_goes_as_deltas_and_the_final_state_as_cards(make: Callable[..., Harness]) -> None:
    h = make(deltas=True)
    start_line = Gate("before the stream")
    h.fake.script("a stream", steps=[start_line, *(at(p) for p in range(1, 41)), finished()], real_pause=0.005)
    generation, future = h.controller.start(h.request("a stream"))
    start_line.wait_reached()
    h.wait_published(generation, status="pending")
    start_line.open()
    assert isinstance(outcome(future), Task)
    h.wait_published(generation, status="completed", progress=100.0)
    deltas = [entry for sent in h.progress for entry in sent]
    assert deltas, "no progress went as a delta"  # 40 ticks over more than a publish window
    assert {entry["id"] for entry in deltas} == {generation.key}
    assert all(set(entry) == {"id", "progress", "status_text"} for entry in deltas)
    moved = [entry["progress"] for entry in deltas]
    assert moved == sorted(moved) and moved[-1] < 100  # the end came as full cards, not as a delta
    # Every full publish in between shows a status change (submitting, pending, processing,
    # downloading, completed) or the periodic refresh: far fewer than the ticks.
    assert h.published.count() < 40


def test_a_new_card_goes_as_full_cards_even_while_another_ticks(make: Callable[..., Harness]) -> None:
    h = make(deltas=True)
    polling = Gate("polling")
    h.fake.script("first", steps=[at(10), polling, finished()])
    first, _future = h.controller.start(h.request("first"))
    h.wait_published(first, progress=10.0)
    second = Generation(h.request("second"), id="task-second", status="completed", watching=False)
    h.controller.add_finished(second)
    wait_until(lambda: [c["id"] for c in h.published.last] == ["task-second", first.key], "the new card")
    polling.open()


def test_a_stalled_progress_reaches_the_cards_after_the_refresh_interval(tmp_path: Path, tiny_mp4: bytes) -> None:
    # Deltas went out, then the provider's progress stood still: _tasks still catches up.
    runner = LoopThread("controller-test")
    fake, published, progress = FakeClient(tiny_mp4), Published(), []
    controller = Controller(
        cast(AsyncFoxClient, fake),
        runner,
        published,
        video_dir=tmp_path / "videos",
        max_rate=50.0,
        send_progress=progress.append,
        full_every=0.2,
    )
    stalled, real_pause = Gate("stalled"), 0.05
    fake.script("stalls", steps=[at(10), at(20), at(30), stalled, finished()], real_pause=real_pause)
    try:
        generation, _future = controller.start(VideoRequest(prompt="stalls"))
        stalled.wait_reached()

        def shows_thirty() -> bool:
            card = next((c for c in published.last if c["id"] == generation.key), None)
            return card is not None and card["progress"] == 30.0

        wait_until(shows_thirty, "the cards caught up with the last delta")
    finally:
        controller.close()
        stalled.open()
        wait_until(lambda: controller.in_flight == 0, "the job ended")
        runner.close()
