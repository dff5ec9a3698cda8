"""``KlingWidget``: the studio's model. A thin layer of synced traits over the controller.

The wire protocol (trait names, task cards, message kinds) is documented in
``docs/widget-protocol.md``; keep it in sync with ``js/src/protocol.js``. Traits carry state,
messages carry one-shot commands and the video bytes. The API key is never a trait: a
``set-key`` message hands it to the kernel, which keeps it in memory only.
"""

from __future__ import annotations

import asyncio
import logging
import pathlib
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import anywidget
import traitlets

from . import _transport, _variations
from ._batch_requests import checked_batch
from ._budget import BudgetGuard
from ._classroom import CLASSROOM_KEY_REFUSED, budget_setting, classroom_setting, emulator_for
from ._client_choice import default_client
from ._controller import DEFAULT_CONCURRENCY, Batch, Controller, Generation
from ._dispatch import Dispatcher, Handler
from ._display import VideoDisplay
from ._exceptions import InvalidRequestError, Problem
from ._fallback import FallbackOutputs, fallback_html, plain_text
from ._loop import LoopThread
from ._messages import (  # the kinds are defined once there (keep in sync with js/src/protocol.js)
    CLEAR_FINISHED,
    CLEAR_KEY,
    CREATE_VOICE,
    GENERATE,
    LOAD_TASK,
    RESUME,
    SET_KEY,
    STOP_WATCHING,
    VIDEO_ACK,
    VIDEO_CANCEL,
    VIDEO_PROBE,
    VIDEO_REQUEST,
    CardProgress,
    cards_progress,
)
from ._options import REQUEST_CONTROLS, front_end_options
from ._paths import video_dir
from ._restore import restore_from_journal
from ._session_credits import SessionCredits
from ._types import Segment, Task, VideoRequest
from ._validation import MAX_VOICES, MODEL_CREATE_VOICE, errors_only, validate_payload, validate_voice_url
from ._video_requests import VideoTransfers
from ._voice_panel import chip_of, merge_chip, voice_name_from_url, voice_problems
from .client import AsyncFoxClient, FoxClient

__all__ = ["KlingWidget"]

logger = logging.getLogger("foxkling_widgets")

_STATIC = pathlib.Path(__file__).parent / "static"

MAX_ID = 200  # longer ids and kinds are not echoed back: the front end's are short
T = TypeVar("T")


class KlingWidget(anywidget.AnyWidget):  # type: ignore[misc]
    """A Kling V3 video studio for notebooks.

    ``KlingWidget()`` uses the live API when ``FOXAPI_API_KEY`` is set and the built-in emulator
    otherwise (the widget shows which). ``KlingWidget(emulator=True)`` forces the emulator;
    ``KlingWidget(client=FoxClient(...))`` uses a client of yours. Every control is a synced trait.

    For a class: ``budget=50`` (or ``FOXKLING_BUDGET=50``; the argument wins) caps the credits this
    studio may reserve in its kernel session: work that would pass it is refused with an
    :class:`InvalidRequestError` (field ``budget``) before anything is sent, and the studio shows
    what is left (the rule for unknown prices is in ``_budget.py``). ``classroom=True`` (or
    ``FOXKLING_CLASSROOM=1``) keeps the studio on the emulator whatever keys are set, hides the
    key field and refuses a pasted key.
    """

    _esm = _STATIC / "widget.js"
    _css = _STATIC / "widget.css"

    prompt = traitlets.Unicode("", help="What the clip shows (at most 2500 characters).").tag(sync=True)
    negative_prompt = traitlets.Unicode("", help="Comma-separated things to keep out of the clip.").tag(sync=True)
    resolution = traitlets.Unicode("720p", help='"720p", "1080p" or "4k" (4k is its own price tier).').tag(sync=True)
    aspect_ratio = traitlets.Unicode("16:9", help='"16:9", "9:16" or "1:1".').tag(sync=True)
    duration = traitlets.Int(5, help="Clip length in seconds: 5 or 10.").tag(sync=True)
    generate_audio = traitlets.Bool(False, help="Add AI sound (required for voices).").tag(sync=True)
    voice_ids = traitlets.List(
        traitlets.Unicode(), help="Up to two voice ids; prompts refer to them as <<<voice_N>>>."
    ).tag(sync=True)
    multishot = traitlets.Bool(False, help="Use the shot timeline (segments) instead of a single prompt.").tag(
        sync=True
    )
    segments = traitlets.List(
        traitlets.Dict(), help="Shots: [{prompt, duration}], durations adding up to duration."
    ).tag(sync=True)
    vary = traitlets.Unicode(
        "",
        help='Grid mode: "" (one clip), "aspect_ratio" (all three), "duration" (5 and 10 s) or '
        '"prompts" (one clip per line of the prompt box).',
    ).tag(sync=True)
    concurrency = traitlets.Int(
        DEFAULT_CONCURRENCY, help="How many generations run at once; the rest wait as queued (avoids 429s)."
    ).tag(sync=True)
    voice_url = traitlets.Unicode("", help="Voices panel: an http(s) audio URL (mp3/ogg/wav/m4a/aac).").tag(sync=True)
    voice_name = traitlets.Unicode("", help="Voices panel: the new voice's name (default: the file's name).").tag(
        sync=True
    )

    # Kernel-owned state: read-only for the front end (``kernel_owned`` metadata; see set_state).
    _mode = traitlets.Unicode("emulator", help='"emulator", "live", or "none" (no key: ask for one).').tag(
        sync=True, kernel_owned=True
    )
    _problems = traitlets.List(traitlets.Dict(), help="Validation of the controls: [{field, message, level}].").tag(
        sync=True, kernel_owned=True
    )
    _tasks = traitlets.List(traitlets.Dict(), help="Task cards, newest first (docs/widget-protocol.md).").tag(
        sync=True, kernel_owned=True
    )
    # Posters once, and the card cap (docs/widget-protocol.md).
    _posters = traitlets.Dict(
        help="Posters by card id ('data:image/jpeg;base64,...'): sent once each, not with every card update."
    ).tag(sync=True, kernel_owned=True)
    _tasks_total = traitlets.Int(
        0,
        help="How many generations the studio knows (_tasks: the newest 50, and older ones that need the user).",
    ).tag(sync=True, kernel_owned=True)
    _credits = traitlets.Dict(
        help="Credits: {estimate (median of past same-tier tasks, or null), session, journal} for this API host."
    ).tag(sync=True, kernel_owned=True)
    _variations = traitlets.List(
        traitlets.Unicode(), help="Labels of the batch the current controls would start ([] = one clip)."
    ).tag(sync=True, kernel_owned=True)
    _voices = traitlets.List(
        traitlets.Dict(), help="Known voices, newest first: [{voice_id, name}] (journal and this session)."
    ).tag(sync=True, kernel_owned=True)
    _voice_problems = traitlets.List(traitlets.Dict(), help="Validation of voice_url / voice_name.").tag(
        sync=True, kernel_owned=True
    )
    _has_key = traitlets.Bool(
        False, help="A key was entered in the widget (the key itself never leaves the kernel)."
    ).tag(sync=True, kernel_owned=True)
    _budget = traitlets.Dict(
        help="The spending guard: {cap (credits, or null: no cap), reserved (this session, in flight "
        "included), left (or null), refused (why the current controls would be refused, or '')}."
    ).tag(sync=True, kernel_owned=True)
    _options = traitlets.Dict(
        help="The front end's choices and limits, defined once in Python (_options.front_end_options()); set once."
    ).tag(sync=True, kernel_owned=True)
    _classroom = traitlets.Bool(
        False, help="Classroom mode: always the emulator; the key field is hidden and set-key is refused."
    ).tag(sync=True, kernel_owned=True)

    def __init__(
        self,
        *,
        client: AsyncFoxClient | FoxClient | None = None,
        emulator: bool | None = None,
        concurrency: int = DEFAULT_CONCURRENCY,
        budget: float | None = None,
        classroom: bool | None = None,
        **kwargs: Any,
    ) -> None:
        # Settings first: a bad budget or a live client in classroom mode fails before any thread starts.
        cap, in_classroom = budget_setting(budget), classroom_setting(classroom)
        given_mode, given_url = (client.mode, client.base_url) if client is not None else (None, None)
        emulator = emulator_for(in_classroom, emulator, given_mode, given_url)
        super().__init__(concurrency=max(1, int(concurrency)), **kwargs)  # the observer below comes later
        if isinstance(client, FoxClient):
            self._runner = client.runner
            aclient = client.aio
        else:
            self._runner = LoopThread("foxkling-widget")
            aclient = client if client is not None else default_client(emulator, required=in_classroom)
        self._emulator_choice = emulator
        self._fallbacks = FallbackOutputs()
        # self.send is looked up per call, not bound now: tests and hosts may wrap it later.
        send = lambda content, buffers: self.send(content, buffers)  # noqa: E731  (self.send looked up per call)
        self._transfers = VideoTransfers(send, self._reply, lambda: self._controller.cache)
        self._dispatcher = Dispatcher(send, self._handlers())
        self._spending = SessionCredits(lambda: self.tasks)
        self._budget_guard = BudgetGuard(cap, self._spending.book, lambda: self.tasks, self._spending.session)
        self._budget_lock = threading.Lock()  # a budget check and the start it allows are one step
        self._controller = Controller(
            aclient,
            self._runner,
            self._publish,
            video_dir=video_dir(),
            concurrency=self.concurrency,
            send_progress=self._send_progress,
        )
        self._reload_credits()  # before any card is published: the cards' credits update the book
        self._controller.on_finished = self._generation_finished
        self._controller.on_voice = self._voice_created
        self._controller.on_settle = self._settle
        self._mode = aclient.mode
        self._classroom = in_classroom
        self._options = front_end_options()
        restore_from_journal(self._controller)
        self._load_voices()
        self.observe(self._controls_changed, names=list(REQUEST_CONTROLS))
        self.observe(self._voice_controls_changed, names=["voice_url", "voice_name"])
        self.observe(self._on_concurrency, names=["concurrency"])
        self._controls_changed()
        self._voice_controls_changed()
        self.on_msg(self._on_custom_message)

    # -- state ----------------------------------------------------------------------------
    @property
    def client(self) -> AsyncFoxClient:
        """The async client generations go through."""
        return self._controller.client

    @property
    def generations(self) -> list[Generation]:
        """Every generation this studio knows, newest first (cleared ones excepted)."""
        return self._controller.generations

    @property
    def tasks(self) -> list[Generation]:
        """The same list as :attr:`generations` (its first name, kept so existing notebooks run)."""
        return self._controller.generations

    def request(self) -> VideoRequest:
        """The controls as a :class:`VideoRequest` (segments only when multi-shot is on)."""
        segments: Sequence[Segment] = ()
        if self.multishot:
            segments = [Segment(str(s.get("prompt", "")), s.get("duration")) for s in self.segments]  # type: ignore[arg-type]
        return VideoRequest(
            prompt=self.prompt,
            resolution=self.resolution,
            aspect_ratio=self.aspect_ratio,
            duration=self.duration,
            generate_audio=self.generate_audio,
            negative_prompt=self.negative_prompt,
            voice_ids=list(self.voice_ids),
            segments=segments,
        )

    def variations(self) -> list[tuple[str, VideoRequest]]:
        """The (label, request) pairs Generate starts in grid mode (``vary``); ``[]`` for one clip."""
        return _variations.expand(self.request(), self.vary)

    def problems(self) -> list[Problem]:
        """Errors and warnings for the current controls (the same rules the client enforces)."""
        if self.vary:
            problems = _variations.problems(self.request(), self.vary)
        else:
            problems = validate_payload(self.request().to_payload())
        return problems + self._key_problems()

    def _key_problems(self) -> list[Problem]:
        # No key and no emulator: there is nothing to send to, so nothing may start.
        if self._mode != "none":
            return []
        return [Problem("api_key", "No API key: paste one below, or set FOXAPI_API_KEY before starting Jupyter.")]

    def _controls_changed(self, change: Any = None) -> None:
        self._problems = [p.to_dict() for p in self.problems()]
        self._variations = (
            [label for label, _request in self.variations()] if self.vary in _variations.VARY_MODES else []
        )
        self._update_credits()

    def _on_concurrency(self, change: Any) -> None:
        if self.concurrency < 1:
            self.concurrency = 1  # re-enters with a valid value
            return
        self._controller.concurrency = self.concurrency

    def _generation_finished(self, _generation: Generation) -> None:
        # On the controller's thread: refresh what depends on finished tasks.
        self._refresh_fallback()
        self._update_credits()

    def _reload_credits(self) -> None:
        # When the widget is built and when the client changes (a key pasted or cleared).
        self._spending.reload(self.client.journal, self.client.journal_host)

    def _update_credits(self) -> None:
        batch = [r for _label, r in self.variations()] if self.vary else [self.request()]
        self._credits = self._spending.figures(batch)
        self._budget = self._budget_guard.state(self._spending.session(), batch)

    def _learn_credits(self, cards: list[dict[str, Any]]) -> None:
        if self._spending.learn(cards):
            self._update_credits()

    def _publish(self, cards: list[dict[str, Any]]) -> None:
        # Runs on the controller's loop thread; ipykernel sends IOPub messages from any thread.
        # Posters first (a Dict trait re-sends only when one is added or removed), so a
        # card never arrives before its poster; then the cards and their count.
        self._posters = self._controller.posters([card["id"] for card in cards])
        self._tasks_total = self._controller.total_published
        self._tasks = cards
        self._learn_credits(cards)

    def _send_progress(self, cards: list[CardProgress]) -> None:
        # Only progress moved (the controller's CardPlanner decides): every view gets it.
        self.send(cards_progress(cards))

    # -- generation -----------------------------------------------------------------------
    def generate_nowait(self) -> str:
        """Start a generation from the current controls (what the Generate button does).

        Returns the generation's id. Raises :class:`InvalidRequestError` without sending anything
        when the controls are invalid.
        """
        request = self.request()
        errors = errors_only(self.problems())
        if errors:
            raise InvalidRequestError.from_problems(errors)
        if self.vary:
            return self.generate_batch().id
        generation, _future = self._within_budget([request], lambda: self._controller.start(request))
        self._update_credits()  # its expected price is held against the budget from now on
        return generation.key  # stable for the generation's life

    def _within_budget(self, requests: Sequence[VideoRequest | Mapping[str, Any]], start: Callable[[], T]) -> T:
        """Check ``requests`` against the budget and, if they fit, ``start()`` them, as one step.

        Why one step: checked, then started, two threads (a thread pool's batches) could both
        pass the check before either was counted, and pass the budget together. The start only
        records the work and hands it to the loop, so the lock is held for moments.
        """
        with self._budget_lock:
            problems = self._budget_guard.problems(requests)
            if problems:
                raise InvalidRequestError.from_problems(problems)
            return start()

    def generate_batch(
        self,
        requests: Sequence[VideoRequest | Mapping[str, Any]] | None = None,
        *,
        labels: Sequence[str] | None = None,
    ) -> Batch:
        """Start several generations at once, shown side by side as one gallery.

        ``requests`` are :class:`VideoRequest` objects or dicts of its fields; without them, the
        variations the controls describe (``vary``, what Generate starts in grid mode). Every request is
        validated first: if any is invalid, :class:`InvalidRequestError` names it and nothing is
        sent. They run ``concurrency`` at a time (the rest show as queued). Returns a
        :class:`Batch`: ``batch.wait()`` blocks until all finish, ``await batch`` does not block.
        """
        if requests is None:
            errors = errors_only(self.problems())
            if not self.vary:
                errors.append(
                    Problem("vary", 'The grid mode (vary) is "": set it (e.g. "aspect_ratio"), or pass the requests.')
                )
            if errors:
                raise InvalidRequestError.from_problems(errors)
            pairs = self.variations()
            built, names = [r for _l, r in pairs], [label for label, _r in pairs]
            batch = self._within_budget(built, lambda: self._controller.start_batch(built, names))  # before any POST
            self._update_credits()
            return batch
        built, names = checked_batch(requests, labels, self._key_problems())
        batch = self._within_budget(built, lambda: self._controller.start_batch(built, names))  # before any POST
        self._update_credits()
        return batch

    # -- voices ---------------------------------------------------------------------------
    def voice_problems(self) -> list[Problem]:
        """What is wrong with the voices panel's URL and name (nothing is sent while any exist)."""
        return voice_problems(self.voice_url, self.voice_name)

    def _voice_controls_changed(self, change: Any = None) -> None:
        self._voice_problems = [p.to_dict() for p in self.voice_problems()]

    def create_voice(self, url: str | None = None, name: str | None = None) -> Generation:
        """Create a voice from an audio URL (default: the panel's fields), with its own card.

        Returns at once; ``w.wait(generation)`` blocks until it is done, after which
        ``generation.voice["voice_id"]`` is set and the voice shows as a chip (and is kept in the
        journal for later sessions). Raises :class:`InvalidRequestError` before sending anything.
        """
        url = (self.voice_url if url is None else url).strip()
        name = (self.voice_name if name is None else name).strip()
        problems = validate_voice_url(url) + voice_problems("", name) + self._key_problems()
        if problems:
            raise InvalidRequestError.from_problems(problems)
        if not name:
            name = voice_name_from_url(url)
        voice = {"model": MODEL_CREATE_VOICE, "voice_url": url}  # a voice is billed too
        generation, _future = self._within_budget([voice], lambda: self._controller.start_voice(url, name))
        self._update_credits()
        return generation

    def attach_voice(self, voice_id: str) -> None:
        """Use a voice in the next generation (turns audio on; prompts call it ``<<<voice_N>>>``)."""
        if voice_id in self.voice_ids:
            return
        if len(self.voice_ids) >= MAX_VOICES:
            raise InvalidRequestError.from_problems(
                [Problem("voice_ids", f"A clip takes at most {MAX_VOICES} voices: detach one first.")]
            )
        with self.hold_trait_notifications():
            self.voice_ids = [*self.voice_ids, voice_id]
            self.generate_audio = True

    def detach_voice(self, voice_id: str) -> None:
        """Stop using a voice (audio stays as it is)."""
        self.voice_ids = [v for v in self.voice_ids if v != voice_id]

    def _load_voices(self) -> None:
        known = self.client.voices()  # the journal's reads warn and return [] on a bad journal
        self._voices = [chip_of(v) for v in known]

    def _voice_created(self, voice: dict[str, Any]) -> None:
        # On the controller's thread, after the journal recorded the voice.
        self._voices = merge_chip(self._voices, voice)

    async def generate(self) -> Task:
        """Generate from the current controls and return the finished :class:`Task`.

        The card in the widget follows along; the video is downloaded before this returns.
        Raises the client's errors (e.g. :class:`InvalidRequestError`, sending nothing). In grid
        mode (``vary`` set) it raises too: a grid is several clips, so use ``generate_batch()``.
        """
        request = self.request()
        errors = errors_only(self.problems())
        if self.vary:
            errors.append(
                Problem(
                    "vary",
                    f"The grid mode (vary) is {self.vary!r}: await w.generate_batch() for the grid, "
                    "or set vary = '' first.",
                )
            )
        if errors:
            raise InvalidRequestError.from_problems(errors)
        _generation, future = self._within_budget([request], lambda: self._controller.start(request))
        self._update_credits()
        # Shielded: cancelling this await (a timeout, an interrupted cell) must not cut off a
        # submit in flight; the generation carries on, and stop_watching() stops it.
        try:
            return await asyncio.shield(asyncio.wrap_future(future))
        finally:
            if future.done():
                self._settle()

    def wait(self, task_id: str | Task | Generation | None = None, timeout: float | None = None) -> Generation:
        """Block until a generation (default: the newest) finishes; prefer ``await w.generate()``."""
        import concurrent.futures
        import time

        generation = self._find(task_id) if task_id else (self.tasks[0] if self.tasks else None)
        if generation is None:
            raise LookupError("no generation to wait for")
        deadline = None if timeout is None else time.monotonic() + timeout
        while generation.watching:
            if deadline is not None and time.monotonic() > deadline:
                raise concurrent.futures.TimeoutError(f"{generation.id} is still {generation.status}")
            time.sleep(0.1)
        self._settle()
        return generation

    def _settle(self) -> None:
        """Send the final state from the thread that waited (``generate()``, ``wait()``, a batch's).

        The controller publishes from its own thread, coalesced and a moment later; ipykernel
        may tag those messages with an earlier cell, and a headless run (nbclient with the
        widget state stored) records a widget's updates only under the cell it is executing.
        Sent from here, within the waiting cell, the saved notebook has the finished cards
        instead of one stuck at "downloading". Sent even when unchanged: the thread's copy of
        the same value may be the one that was not recorded.
        """
        self._controller.publish_now(full=True)
        self.send_state(key=["_posters", "_tasks_total", "_tasks", "_credits", "_voices"])
        self._refresh_fallback()

    def _find(self, task: str | Task | Generation) -> Generation | None:
        task_id = task if isinstance(task, str) else task.id
        return self._controller.find(task_id)

    def stop_watching(self, task: str | Task | Generation) -> bool:
        """Stop polling a task. FoxAPI has no cancel: the provider may keep running and billing it."""
        generation = self._find(task)
        return bool(generation and self._controller.stop_watching(generation.key))

    # -- resume, clear finished ---------------------------------------------------------
    def resume(self, task: str | Task | Generation) -> bool:
        """Follow a stopped generation again (by card id, provider id, task or generation).

        Only one stopped by ``stop_watching`` that has a provider task (card ``resumable``):
        it is polled and downloaded as before; nothing is submitted again. Returns whether it is
        being followed again.
        """
        generation = self._find(task)
        return bool(generation and self._controller.resume_watching(generation.key))

    def clear_finished(self) -> int:
        """Drop finished generations (and their posters) from the studio; returns how many.

        Completed, failed, cancelled and expired ones that are not being watched. They stay in
        the task journal (``FoxClient().history()``, ``foxkling tasks``); their credits still
        count as spent in this session.
        """
        gone = self._controller.clear_finished()
        self._spending.cleared(gone)
        self._update_credits()
        self._refresh_fallback()
        return len(gone)

    def video(self, task: str | Task | Generation | None = None) -> VideoDisplay:
        """The finished video as an inline output that stays in the saved notebook."""
        generation = self._find(task) if task is not None else next((g for g in self.tasks if g.done), None)
        if generation is None or generation.path is None:
            raise LookupError(f"no finished video for {task!r}")
        return VideoDisplay(generation.path, poster=generation.poster, caption=generation.to_card()["summary"])

    # -- messages -------------------------------------------------------------------------
    def set_state(self, sync_data: Any) -> None:
        """Apply a state update from the front end, except to kernel-owned traits.

        Kernel-owned traits (``kernel_owned`` metadata: ``_problems``, ``_tasks``, ``_mode``...)
        are computed here; a front end that writes one back (marimo before 0.23.15 echoes
        them with a value that is stale by then) would otherwise overwrite the kernel's, and
        e.g. leave Generate disabled by problems fixed long ago. Such writes are dropped and the
        kernel's value is sent again, so the front end's copy is corrected too.
        """
        if not isinstance(sync_data, dict):
            logger.warning("ignored a state update that is not a dict (%s)", type(sync_data).__name__)
            return
        owned = [name for name in sync_data if name in self.keys and self.trait_metadata(name, "kernel_owned")]
        if owned:
            logger.debug("ignored a front-end write to kernel-owned %s", ", ".join(owned))
            sync_data = {name: value for name, value in sync_data.items() if name not in owned}
        if sync_data:
            super().set_state(sync_data)
        if owned:
            self.send_state(key=owned)

    def _reply(self, message: dict[str, Any], buffers: list[bytes] | None = None, **fields: Any) -> None:
        self._dispatcher.reply(message, buffers, **fields)

    def _on_custom_message(self, _widget: Any, content: Any, buffers: list[bytes]) -> None:
        # Never name this _handle_msg: that would replace ipywidgets' own comm handler.
        self._dispatcher(content)

    def _handlers(self) -> dict[str, Handler]:
        """One small handler per message kind; each answers its message (docs/widget-protocol.md).

        Methods are looked up when a message comes, not bound here, so a wrapped method is used.
        """

        def task_of(message: dict[str, Any]) -> str:
            return str(message.get("task_id") or "")

        def resume(message: dict[str, Any]) -> None:
            refusal = self._controller.resume_refusal(task_of(message))  # a refusal says why
            if not refusal and not self.resume(task_of(message)):
                refusal = "try again"
            self._reply(message, **({"ok": False, "error": refusal} if refusal else {"ok": True}))

        def clear_key(message: dict[str, Any]) -> None:
            self._clear_key()
            self._reply(message, ok=True, mode=self._mode)

        def create_voice(message: dict[str, Any]) -> None:
            generation = self.create_voice()
            self.voice_url, self.voice_name = "", ""
            self._reply(message, ok=True, task_id=generation.key)

        def probe(message: dict[str, Any]) -> None:
            # A known buffer: a host that drops binary buffers (Colab's widget manager,
            # googlecolab/colab-cdn-widget-manager#33) delivers this answer without it, and
            # the view then asks for base64 chunks instead.
            self._reply(message, [_transport.PROBE_BYTES], ok=True, size=len(_transport.PROBE_BYTES))

        return {
            GENERATE: lambda m: self._reply(m, ok=True, task_id=self.generate_nowait()),
            STOP_WATCHING: lambda m: self._reply(m, ok=self.stop_watching(task_of(m))),
            RESUME: resume,
            CLEAR_FINISHED: lambda m: self._reply(m, ok=True, cleared=self.clear_finished()),
            VIDEO_REQUEST: lambda m: self._transfers.request(m, self._find(task_of(m)), self._mode),
            VIDEO_ACK: lambda m: self._transfers.ack(m),
            VIDEO_CANCEL: lambda m: self._reply(m, ok=self._transfers.cancel(m.get("transfer"))),
            VIDEO_PROBE: probe,
            SET_KEY: lambda m: self._set_key(m),
            CLEAR_KEY: clear_key,
            LOAD_TASK: lambda m: self._reply(m, ok=self.load(task_of(m))),
            CREATE_VOICE: create_voice,
        }

    def _set_key(self, message: dict[str, Any]) -> None:
        if self._classroom:
            # Refused before the key is even read: on a projector nothing pasted may go live.
            self._reply(message, ok=False, error=CLASSROOM_KEY_REFUSED, field="api_key", mode=self._mode)
            return
        raw = message.get("key")
        key = raw.strip() if isinstance(raw, str) else ""
        if not key:
            self._reply(message, ok=False, error="The key is empty.", mode=self._mode)
            return
        # A new client holds the key in memory only; the old one's pending work keeps its own.
        self._controller.client = AsyncFoxClient(api_key=key, mode="live")
        self._mode, self._has_key = "live", True
        self._reload_credits()  # another API host: its journal figures
        self._controls_changed()
        self._reply(message, ok=True, mode=self._mode)

    def _clear_key(self) -> None:
        self._controller.client = default_client(self._emulator_choice if self._emulator_choice else None)
        self._mode, self._has_key = self._controller.client.mode, False
        self._reload_credits()
        self._controls_changed()

    def load(self, task: str | Task | Generation) -> bool:
        """Load a generation's settings back into the controls ("edit and re-run")."""
        generation = self._find(task)
        if generation is None or generation.request is None:
            return False
        request = generation.request
        with self.hold_trait_notifications():
            self.prompt, self.negative_prompt = request.prompt, request.negative_prompt
            self.resolution, self.aspect_ratio, self.duration = (
                request.resolution,
                request.aspect_ratio,
                request.duration,
            )
            self.generate_audio, self.voice_ids = request.generate_audio, list(request.voice_ids)
            self.multishot = bool(request.shots)
            self.vary = ""  # one clip's settings: re-running it makes that clip, not a new grid
            self.segments = [{"prompt": s.prompt, "duration": s.duration} for s in request.shots]
        return True

    # -- display --------------------------------------------------------------------------
    def _fallback_html(self) -> str:
        return fallback_html(self.tasks, self._mode)

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        # anywidget returns (data, metadata); add the kernel-less HTML fallback to the data.
        bundle = super()._repr_mimebundle_(**kwargs)
        if bundle is None:
            return None
        data = bundle[0] if isinstance(bundle, tuple) else bundle
        data["text/plain"] = self._plain_text()
        data["text/html"] = self._fallback_html()
        return bundle

    def _plain_text(self) -> str:
        return plain_text(len(self.tasks), self._mode)

    def _ipython_display_(self) -> None:
        # The widget itself (text/plain and the widget view), then the kernel-less fallback as
        # an output of its own (see _fallback.py for why).
        from IPython.display import display

        data, metadata = self._repr_mimebundle_()
        display({k: v for k, v in data.items() if k != "text/html"}, metadata=metadata, raw=True)
        self._fallbacks.show(self._fallback_html())

    def _refresh_fallback(self) -> None:
        self._fallbacks.refresh(self._fallback_html)

    def close(self) -> None:
        """Stop watching all tasks (they keep running at the provider) and close the widget."""
        # Either may be missing: the constructor refused a budget/classroom setting before making them.
        transfers = getattr(self, "_transfers", None)
        if transfers is not None:
            transfers.close()
        controller = getattr(self, "_controller", None)
        if controller is not None:
            controller.close()
        super().close()
