"""The emulated FoxAPI service: an ASGI (Starlette) app honouring ``docs/foxapi-contract.md``.

Endpoints: ``POST /v1/videos/generations`` (text-to-video, image-to-video, create-voice),
``GET /v1/tasks/{task_id}`` (either response shape), ``GET /files/{name}`` (the result file),
and the test controls ``POST /_emulator/faults``, ``GET /_emulator/stats``, ``POST /_emulator/reset``.

Requests are checked by the same validator the client uses (:mod:`foxkling_widgets._validation`),
so the two cannot disagree. Generation time is simulated on an injectable clock; the video is
rendered in a worker thread as soon as the task is submitted, and the task completes once both
the simulated time has passed and the file exists. ``GET /files/{name}`` streams the file from
disk in 64 KB pieces (uvicorn waits for the socket to drain between them), so a real-size file
(``EmulatorConfig(real_size=True)``, up to ~100 MB at 4k) is served with flat memory. Note that
``httpx.ASGITransport`` collects a whole response body before returning it: fetch real-size files
from a loopback server (:class:`EmulatorServer`), not in-process.

With ``EmulatorConfig(store=...)`` (the shared, built-in emulator) tasks outlive the process:
each is recorded in a :class:`~._store.TaskStore`, and a task this emulator does not hold in
memory is looked up there (*adopted*). Its progress runs from its wall-clock creation time on
this emulator's speed; its file is served if still on disk, and rendered again from its request
when the process that was rendering it died (same id, same timeline). A task first reported
completed stays completed.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import secrets
import shutil
import string
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

from .._validation import MODEL_CREATE_VOICE, errors_only, validate_payload
from ._faults import Fault, FaultQueue
from ._store import StoredTask, TaskStore, process_alive

__all__ = ["TEST_KEYS", "Emulator", "EmulatorConfig", "create_app"]

#: Documented keys that trigger authentication and quota errors; any other non-empty key works.
TEST_KEYS = {"sk-test-401": 401, "sk-test-402": 402}
#: Prompt markers that make a task fail at completion, with the provider's error code.
FAILURE_MARKERS = {"[fail:content_policy]": "content_policy_violation", "[fail:generation]": "generation_failed"}
_RATES = {"720p": 1.0, "1080p": 1.5, "4k": 3.0}  # credits per second; the real prices are unpublished
_ID_ALPHABET = string.ascii_lowercase + string.digits
_FILE_NAME = re.compile(r"^(task-unified-\d+-[a-z0-9]{8})\.mp4$")
#: A render still unfinished this long after its task was due is taken over even if its process
#: seems alive (the id may have been reused by another program).
STALE_RENDER_SECONDS = 600.0


@dataclass
class EmulatorConfig:
    """How the emulator behaves.

    Attributes:
        seconds_per_video: simulated generation time per task (0 = as fast as rendering allows).
        response_shape: ``"A"`` (``results: [{url}]``, current docs) or ``"B"`` (``output: {...}``).
        render: ``False`` serves one small cached placeholder MP4 instead of rendering each request.
        real_size: make each rendered file as large as a real clip of its resolution tier
            (about 4, 10 and 80 Mbit/s for 720p, 1080p and 4k: a 10 s 4k clip is ~100 MB; see
            ``_render.REAL_BITRATES``), so downloads, the cache and the video transport can be
            tried at real sizes. The frames stay preview-sized and render about as fast; the extra bytes
            are H.264 filler spread through the stream. No effect with ``render=False``.
        clock: monotonic clock in seconds; benchmarks inject a virtual one.
        user_group: reported in ``usage.user_group``.
        store: a directory to keep tasks and voices in, shared with every emulator (in any
            process) given the same one, so tasks outlive the process (see the module
            docstring); ``None`` keeps them in memory and deletes the files on close.
        files: where a store's rendered files go (default ``store/files``); they stay on close.
    """

    seconds_per_video: float = 8.0
    response_shape: str = "A"
    render: bool = True
    real_size: bool = False
    clock: Callable[[], float] = time.monotonic
    user_group: str = "default"
    store: str | os.PathLike[str] | None = None
    files: str | os.PathLike[str] | None = None


@dataclass
class _Task:
    id: str
    model: str
    payload: dict[str, Any]
    created: int
    started: float
    credits: float
    failure: str | None = None
    file: Path | None = None
    render: Future[Any] | None = None
    voice_id: str | None = None
    cancelled: bool = False
    extra: dict[str, Any] = field(default_factory=dict)
    created_wall: float = 0.0  # time.time() at creation: the timeline a later process continues
    completed_at: float | None = None  # first reported completed (wall clock); never undone
    owner: int | None = None  # with a store: the process rendering the file


def _error(status: int, message: str, type_: str, code: str | None = None, **extra: Any) -> JSONResponse:
    body: dict[str, Any] = {"message": message, "type": type_}
    if code:
        body["code"] = code
    body.update(extra)
    return JSONResponse({"error": body}, status_code=status)


def _credits(payload: dict[str, Any]) -> float:
    if payload.get("model") == MODEL_CREATE_VOICE:
        return 1.0
    resolution = str(payload.get("resolution", "720p"))
    duration = int(payload.get("duration", 5))
    rate = _RATES.get(resolution, 1.0)
    # Contract: 4k is its own tier, and audio/voices do not change its price.
    if resolution != "4k" and payload.get("generate_audio"):
        rate += 0.5
    return round(rate * duration, 2)


def _all_prompts(payload: dict[str, Any]) -> str:
    texts = [str(payload.get("prompt") or "")]
    texts += [str(s.get("prompt") or "") for s in payload.get("multi_prompt") or [] if isinstance(s, dict)]
    return "\n".join(texts)


class Emulator:
    """The emulator's state: tasks, voices, faults, counters, and rendered files."""

    def __init__(self, config: EmulatorConfig | None = None) -> None:
        self.config = config or EmulatorConfig()
        self.faults = FaultQueue()
        self._lock = threading.Lock()
        self._tasks: dict[str, _Task] = {}
        self.voices: dict[str, str] = {}
        self._stats = {"posts": 0, "gets": 0, "downloads": 0, "tasks_created": 0}
        self._executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="foxkling-render")
        self._adopt_lock = threading.Lock()
        self._store = TaskStore(self.config.store, self.config.files) if self.config.store is not None else None
        if self._store is not None and not self._store.usable:  # logged: carry on in memory
            self._store.close()
            self._store = None
        if self._store is not None:
            self._files = self._store.files
            self.voices.update(self._store.voices())
        else:
            self._files = Path(tempfile.mkdtemp(prefix="foxkling-emulator-"))

    # -- controls -------------------------------------------------------------------------
    def inject(self, name: str, times: int = 1, **params: Any) -> None:
        """Queue a fault (see :mod:`._faults` for the names)."""
        self.faults.add(name, times, **params)

    @property
    def stats(self) -> dict[str, int]:
        """Request counters: ``posts`` (every submit that reached the app), ``gets``, ``downloads``,
        ``tasks_created``."""
        with self._lock:
            return dict(self._stats)

    def reset(self) -> None:
        """Forget tasks, voices, faults and counters, and delete the forgotten tasks' files."""
        with self._lock:
            forgotten = [task.file for task in self._tasks.values() if task.file is not None]
            self._tasks.clear()
            self.voices.clear()
            self._stats = dict.fromkeys(self._stats, 0)
        self.faults.clear()
        if self._store is not None:
            self._store.clear()
        # No URL reaches them any more, and real-size files are up to ~100 MB each: a benchmark
        # that resets between rounds must not fill the disk. (A render still running finishes
        # its file afterwards; close() removes it.)
        for path in forgotten:
            path.unlink(missing_ok=True)

    def close(self) -> None:
        """Stop the render workers and delete rendered files (a store's files stay, for later processes)."""
        self._executor.shutdown(wait=False, cancel_futures=True)
        if self._store is not None:
            self._store.close()
        else:
            shutil.rmtree(self._files, ignore_errors=True)

    def count(self, name: str) -> None:
        with self._lock:
            self._stats[name] += 1

    # -- tasks ----------------------------------------------------------------------------
    def create_task(self, payload: dict[str, Any]) -> _Task:
        wall = time.time()
        now = int(wall)
        task_id = f"task-unified-{now}-{''.join(secrets.choice(_ID_ALPHABET) for _ in range(8))}"
        prompts = _all_prompts(payload)
        failure = next((code for marker, code in FAILURE_MARKERS.items() if marker in prompts), None)
        task = _Task(task_id, str(payload["model"]), payload, now, self.config.clock(), _credits(payload), failure)
        task.created_wall = wall
        renders = payload["model"] != MODEL_CREATE_VOICE and failure is None
        if self._store is not None:
            # On disk before the render starts: a process that dies from here on leaves a task
            # that a later emulator renders again.
            task.owner = os.getpid()
            self._store.add(
                StoredTask(task_id, task.model, payload, wall, task.credits, failure, task.owner, None, False, None)
            )
        if renders:
            task.file = self._files / f"{task_id}.mp4"
            task.render = self._executor.submit(self._render, task)
        with self._lock:
            self._tasks[task_id] = task
            self._stats["tasks_created"] += 1
        return task

    def _render(self, task: _Task) -> None:
        assert task.file is not None
        if self.config.render:
            from ._render import render_video

            if self._store is not None:
                self.voices.update(self._store.voices())  # voices another kernel created since
            render_video(task.payload, task.file, voices=self.voices, real_size=self.config.real_size)
        else:
            shutil.copyfile(_placeholder(), task.file)

    def get(self, task_id: str) -> _Task | None:
        """A task by id: this emulator's, or (with a store) one an earlier or other process created."""
        with self._lock:
            task = self._tasks.get(task_id)
        if task is None and self._store is not None:
            task = self._adopt(task_id)
        return task

    def _adopt(self, task_id: str) -> _Task | None:
        """Take a stored task into memory, continuing its timeline; render it if nobody else does."""
        assert self._store is not None
        with self._adopt_lock:  # two requests for one unknown task adopt it once
            with self._lock:
                known = self._tasks.get(task_id)
            if known is not None:
                return known
            stored = self._store.get(task_id)
            if stored is None:
                return None
            # Progress comes from the wall-clock age mapped onto this emulator's clock, so a task
            # due before the restart is due now, and one half-way keeps going from half-way.
            started = self.config.clock() - max(0.0, time.time() - stored.created)
            task = _Task(
                stored.id, stored.model, stored.payload, int(stored.created), started, stored.credits, stored.failure
            )
            task.created_wall, task.completed_at, task.owner = stored.created, stored.completed, stored.owner
            task.cancelled, task.voice_id = stored.cancelled, stored.voice_id
            if stored.model != MODEL_CREATE_VOICE and stored.failure is None:
                task.file = self._store.file_for(task_id)
                self._take_over_if_orphaned(task)
            with self._lock:
                self._tasks[task_id] = task
            return task

    def _take_over_if_orphaned(self, task: _Task) -> None:
        """Render an adopted task's missing file when the process that was rendering it is gone."""
        if self._store is None or task.file is None or task.render is not None or task.file.exists():
            return
        owner = task.owner if task.owner is not None else 0
        overdue = time.time() - task.created_wall > self.config.seconds_per_video + STALE_RENDER_SECONDS
        # Another live process renders it: wait for its file. A task recorded by this process
        # but unknown to this emulator belongs to an emulator that was closed: take it over.
        if owner != os.getpid() and process_alive(owner) and not overdue:
            return
        if not self._store.claim(task.id, owner):
            stored = self._store.get(task.id)  # another process took it over first: follow its file
            task.owner = stored.owner if stored is not None else owner
            return
        task.owner = os.getpid()
        task.render = self._executor.submit(self._render, task)

    def _rendered(self, task: _Task) -> bool:
        if task.render is not None:
            return task.render.done()
        if task.file is None or task.file.exists():
            return True
        self._take_over_if_orphaned(task)  # its renderer may have died since it was adopted
        return False

    def _report_completed(self, task: _Task) -> None:
        if task.completed_at is None:
            task.completed_at = time.time()
            if self._store is not None:
                self._store.mark_completed(task.id, task.completed_at)

    def cancel(self, task: _Task) -> None:
        """Cancel a task (the ``cancelled`` fault); terminal, and kept in the store."""
        task.cancelled = True
        if self._store is not None:
            self._store.mark_cancelled(task.id)

    async def file_ready(self, task: _Task) -> None:
        """Wait for a render in progress (a completed task's file being rendered again after a restart)."""
        if task.render is not None and not task.render.done():
            # asyncio.wait, not await: a failed or cancelled render must end in a 404, not an exception here.
            await asyncio.wait([asyncio.wrap_future(task.render)])

    def estimated_time(self) -> int:
        return max(1, round(self.config.seconds_per_video))

    def progress(self, task: _Task) -> tuple[str, float]:
        """Status and progress of ``task`` now, on the simulated clock."""
        if task.cancelled:
            return "cancelled", 0.0
        total = self.config.seconds_per_video
        elapsed = self.config.clock() - task.started
        fraction = 1.0 if total <= 0 else max(0.0, min(1.0, elapsed / total))
        # Once reported completed, a task stays so (its file may be rendered again on download).
        if task.completed_at is not None or (fraction >= 1.0 and self._rendered(task)):
            render = task.render
            if render is not None and render.done() and not render.cancelled() and render.exception() is not None:
                return "failed", 100.0
            self._report_completed(task)
            return ("failed", 100.0) if task.failure else ("completed", 100.0)
        if fraction < 0.1:
            return "pending", round(fraction * 100, 1)
        return "processing", min(99.0, round(fraction * 100, 1))

    def task_body(
        self, task: _Task, base_url: str, *, race: bool = False, status_override: str | None = None
    ) -> dict[str, Any]:
        """The task query response, in the configured shape."""
        status, progress = self.progress(task)
        if status_override:
            status = status_override
        body: dict[str, Any] = {
            "id": task.id,
            "object": "video.generation.task",
            "model": task.model,
            "status": status,
            "progress": int(progress) if progress == int(progress) else progress,
            "created": task.created,
            "type": "video",
            "usage": {"credits_reserved": task.credits, "user_group": self.config.user_group},
        }
        url = f"{base_url.rstrip('/')}/files/{task.id}.mp4"
        completed = status == "completed" and not race
        if task.model == MODEL_CREATE_VOICE and completed:
            if task.voice_id is None:
                voice_id = f"voice-{''.join(secrets.choice(_ID_ALPHABET) for _ in range(8))}"
                name = Path(urlsplit(str(task.payload.get("voice_url", ""))).path).stem or voice_id
                if self._store is not None:
                    voice_id = self._store.set_voice(task.id, voice_id, name)  # another process may have named it
                task.voice_id = voice_id
                with self._lock:
                    self.voices.setdefault(voice_id, name)
            body["results"] = [{"voice_id": task.voice_id}]
        elif self.config.response_shape == "B":
            from ._render import FRAME_SIZES

            width, height = FRAME_SIZES.get(str(task.payload.get("aspect_ratio", "16:9")), (640, 360))
            body["output"] = (
                {
                    "url": url,
                    "urls": [url],
                    "duration": task.payload.get("duration", 5),
                    "width": width,
                    "height": height,
                }
                if completed
                else None
            )
            body["task_info"] = {"can_cancel": True, "estimated_time": self.estimated_time()}
        else:
            body["results"] = [{"url": url}] if completed else None
        if race:
            body["progress"] = 50
        if status == "failed":
            if task.failure:
                message = {
                    "content_policy_violation": "The prompt was refused by the content policy.",
                    "generation_failed": "The upstream model failed to generate this video.",
                }[task.failure]
                body["error"] = {"code": task.failure, "message": message, "type": "task_error"}
            else:
                body["error"] = {"code": "generation_failed", "message": "Rendering failed.", "type": "task_error"}
        elif status == "cancelled":
            body["error"] = {"code": "cancelled", "message": "The task was cancelled.", "type": "task_error"}
        return body


_placeholder_lock = threading.Lock()
_placeholder_path: Path | None = None


def _placeholder() -> Path:
    """A small real MP4, rendered once per process (for ``render=False``)."""
    global _placeholder_path
    with _placeholder_lock:
        if _placeholder_path is None or not _placeholder_path.exists():
            from ._render import render_video

            path = Path(tempfile.mkdtemp(prefix="foxkling-placeholder-")) / "placeholder.mp4"
            render_video({"model": "placeholder", "prompt": "emulator placeholder", "duration": 5}, path)
            _placeholder_path = path
        return _placeholder_path


class _EmulatedReset(ConnectionResetError):
    """Raised after a partial response so the server drops the connection, as a network would."""


def _check_auth(request: Request) -> Response | None:
    header = request.headers.get("authorization", "")
    scheme, _, key = header.partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        return _error(401, "Missing or invalid Authorization header; expected 'Bearer sk-...'.", "authentication_error")
    status = TEST_KEYS.get(key.strip())
    if status == 401:
        return _error(401, "Invalid API key.", "authentication_error", "invalid_api_key")
    if status == 402:
        return _error(402, "Insufficient balance for this request.", "insufficient_quota", "insufficient_quota")
    return None


def _fault_response(emulator: Emulator, kind: str, *, skip: frozenset[str] = frozenset()) -> Response | Fault | None:
    """Apply a generic fault for this request kind: a ready response, a fault the endpoint handles, or None."""
    fault = emulator.faults.take(kind, skip=skip)
    if fault is None:
        return None
    name = fault.name
    if name == "rate_limit":
        response = _error(429, "Too many requests, slow down.", "rate_limit_error")
        response.headers["Retry-After"] = str(fault.params.get("retry_after", 1))
        return response
    if name == "rate_limit_no_header":
        return _error(429, "Too many requests, slow down.", "rate_limit_error")
    if name == "html_error":
        html = (
            "<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head>"
            "<body><h1>502 Bad Gateway</h1></body></html>"
        )
        return Response(html, status_code=502, media_type="text/html")
    if name == "cloudflare_1010":
        return PlainTextResponse("error code: 1010", status_code=403)
    if name == "server_error_get":
        return _error(500, "Internal server error.", "server_error")
    if name == "server_error_post":
        return _error(503, "Upstream service unavailable.", "service_unavailable_error", "no_compatible_channel")
    return fault  # handled by the endpoint (after-create faults, resets, races...)


async def _partial_then_reset(body: bytes, status: int = 200, media_type: str = "application/json") -> Response:
    async def chunks() -> AsyncIterator[bytes]:
        yield body[: max(1, len(body) // 2)]
        raise _EmulatedReset("emulated connection reset")

    return StreamingResponse(
        chunks(), status_code=status, media_type=media_type, headers={"content-length": str(len(body))}
    )


def create_app(config: EmulatorConfig | None = None) -> Starlette:
    """Build the ASGI app; its :class:`Emulator` is ``app.state.emulator``."""
    emulator = Emulator(config)

    async def submit(request: Request) -> Response:
        emulator.count("posts")
        denied = _check_auth(request)
        if denied:
            return denied
        outcome = _fault_response(emulator, "post")
        if isinstance(outcome, Response):
            return outcome
        fault = outcome.name if outcome else None
        if "json" not in request.headers.get("content-type", ""):
            return _error(400, "Content-Type must be application/json.", "invalid_request_error")
        try:
            payload = await request.json()
        except ValueError:
            return _error(400, "The request body is not valid JSON.", "invalid_request_error")
        if not isinstance(payload, dict):
            return _error(400, "The request body must be a JSON object.", "invalid_request_error")
        problems = errors_only(validate_payload(payload))
        if problems:
            if problems[0].field == "model":
                return _error(
                    422, f"Model not found: {payload.get('model')!r}.", "invalid_request_error", "model_not_found"
                )
            message = "; ".join(f"{p.field}: {p.message}" for p in problems)
            return _error(422, message, "invalid_request_error", "invalid_parameters", param=problems[0].field)
        task = emulator.create_task(payload)
        body = {
            "created": task.created,
            "id": task.id,
            "model": task.model,
            "object": "video.generation.task",
            "progress": 0,
            "status": "pending",
            "task_info": {"can_cancel": True, "estimated_time": emulator.estimated_time()},
            "type": "video",
            "usage": {"credits_reserved": task.credits, "user_group": emulator.config.user_group},
        }
        if fault == "server_error_post_after_create":
            return _error(500, "Internal server error.", "server_error")
        if fault == "reset_post_after_create":
            return await _partial_then_reset(json.dumps(body).encode())
        if fault == "timeout_post_after_create" and outcome is not None:
            await asyncio.sleep(float(outcome.params.get("delay", 30.0)))
        return JSONResponse(body)

    async def get_task(request: Request) -> Response:
        emulator.count("gets")
        denied = _check_auth(request)
        if denied:
            return denied
        task = emulator.get(request.path_params["task_id"])
        completed_now = task is not None and emulator.progress(task)[0] == "completed"
        skip = frozenset() if completed_now else frozenset({"completed_without_results"})
        outcome = _fault_response(emulator, "get", skip=skip)
        if isinstance(outcome, Response):
            return outcome
        fault = outcome.name if outcome else None
        if task is None:
            return _error(404, f"Task {request.path_params['task_id']!r} not found.", "not_found", "task_not_found")
        if fault == "cancelled":
            emulator.cancel(task)
        base = str(request.base_url)
        if fault == "malformed_json":
            return Response('{"id": "' + task.id + '", "status": "proc', media_type="application/json")
        if fault == "reset_get":
            return await _partial_then_reset(json.dumps(emulator.task_body(task, base)).encode())
        body = emulator.task_body(
            task,
            base,
            race=fault == "completed_without_results",
            status_override="queued_upstream" if fault == "unknown_status" else None,
        )
        return JSONResponse(body)

    async def download(request: Request) -> Response:
        emulator.count("downloads")
        match = _FILE_NAME.match(request.path_params["name"])
        task = emulator.get(match.group(1)) if match else None
        outcome = _fault_response(emulator, "download")
        if isinstance(outcome, Response):
            return outcome
        fault = outcome.name if outcome else None
        if fault == "expired_url" and outcome is not None:
            status = int(outcome.params.get("status", 410))
            return PlainTextResponse(
                "This result has expired.", status_code=status if status in (403, 404, 410) else 410
            )
        if task is None or task.file is None or emulator.progress(task)[0] != "completed":
            return PlainTextResponse("Not found.", status_code=404)
        await emulator.file_ready(task)
        if not task.file.exists():
            return PlainTextResponse("Not found.", status_code=404)
        size = task.file.stat().st_size
        path = task.file

        async def stream() -> AsyncIterator[bytes]:
            sent = 0
            limit = size // 2 if fault == "truncated_download" else size
            with path.open("rb") as handle:
                while sent < limit:
                    chunk = handle.read(min(64 * 1024, limit - sent))
                    if not chunk:
                        break
                    sent += len(chunk)
                    yield chunk
            if fault == "truncated_download":
                raise _EmulatedReset("emulated truncated download")

        return StreamingResponse(stream(), media_type="video/mp4", headers={"content-length": str(size)})

    async def faults(request: Request) -> Response:
        try:
            body = await request.json()
            params = {k: v for k, v in body.items() if k not in ("fault", "times")}
            emulator.inject(str(body["fault"]), int(body.get("times", 1)), **params)
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            return _error(400, f"bad fault request: {error}", "invalid_request_error")
        return JSONResponse({"ok": True, "pending": emulator.faults.pending()})

    async def stats(request: Request) -> Response:
        return JSONResponse({**emulator.stats, "pending_faults": emulator.faults.pending()})

    async def reset(request: Request) -> Response:
        emulator.reset()
        return JSONResponse({"ok": True})

    app = Starlette(
        routes=[
            Route("/v1/videos/generations", submit, methods=["POST"]),
            Route("/v1/tasks/{task_id}", get_task, methods=["GET"]),
            Route("/files/{name}", download, methods=["GET"]),
            Route("/_emulator/faults", faults, methods=["POST"]),
            Route("/_emulator/stats", stats, methods=["GET"]),
            Route("/_emulator/reset", reset, methods=["POST"]),
        ]
    )
    app.state.emulator = emulator
    return app
