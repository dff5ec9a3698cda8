"""``AsyncFoxClient``: the one implementation of talking to FoxAPI (the sync client wraps it).

Submit (validated first, never re-sent when its outcome is unknown), query, adaptive waiting,
streamed downloads and voices. The client knows nothing of widgets or notebooks; it records
each submit in a journal (when given one) before returning, so a paid task id is never lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import tempfile
import time
from collections.abc import AsyncGenerator, Awaitable, Callable
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol
from urllib.parse import urlsplit

import httpx

from .._exceptions import (
    APIConnectionError,
    DownloadError,
    FoxAPIError,
    InvalidRequestError,
    MissingAPIKeyError,
    ProtocolError,
    RateLimitError,
    ResultExpiredError,
    ServerError,
    SubmitUncertainError,
    TaskFailedError,
    WaitTimeoutError,
)
from .._types import Task, VideoRequest
from .._validation import MODEL_CREATE_VOICE, validate_voice_url
from ._http import (
    DEFAULT_TIMEOUT,
    NOT_SENT_ERRORS,
    USER_AGENT,
    RetryPolicy,
    error_from_response,
    parse_retry_after,
    resolve_settings,
)
from ._polling import PollPolicy, Snapshot

__all__ = ["AsyncFoxClient", "JournalLike", "ProgressCallback"]

logger = logging.getLogger("foxkling_widgets")

ProgressCallback = Callable[[Task], object]
Sleep = Callable[[float], Awaitable[object]]
DEFAULT_MAX_DOWNLOAD = 2 * 1024**3  # Kling clips are tens of MB; 2 GB stops a runaway stream.
_CHUNK = 256 * 1024


class JournalLike(Protocol):
    """What the client tells a journal (see :class:`foxkling_widgets._journal.Journal`)."""

    def record_intent(self, payload: dict[str, Any], base_url: str) -> int | None: ...
    def record_submitted(self, intent_id: int | None, task: Task, payload: dict[str, Any], base_url: str) -> None: ...
    def record_uncertain(self, intent_id: int | None, error: BaseException) -> None: ...
    def record_rejected(self, intent_id: int | None) -> None: ...
    def update(self, task: Task) -> None: ...
    def record_download(self, task_id: str, path: str | os.PathLike[str]) -> None: ...


class _Policy(Protocol):
    def next_delay(
        self, history: list[Snapshot], task: Task, estimated_time: float | None, *, prior: float | None = None
    ) -> float: ...


def _is_loopback_url(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    return host in ("localhost", "::1") or host.startswith("127.")


class AsyncFoxClient:
    """Async FoxAPI client. One long-lived ``httpx.AsyncClient`` per instance; use ``async with``.

    Args:
        api_key: overrides ``FOXAPI_API_KEY``. Kept in memory only; never in reprs, errors or logs.
        base_url: overrides ``FOXAPI_BASE_URL`` (default ``https://api.foxapi.cc``).
        timeout: an ``httpx.Timeout`` (default 10 s connect, 30 s read).
        transport: an httpx transport (tests: ``httpx.MockTransport``, ``httpx.ASGITransport``).
        sleep: the async sleep used between polls and retries (tests inject a fake one).
        clock: monotonic seconds used to time polling (benchmarks inject a virtual one).
        journal: where submits are recorded before ``submit`` returns: ``True`` (default) is the
            user's journal (see :mod:`foxkling_widgets._journal`), ``False``/``None`` records nothing.
        retry: backoff for safe requests; poll: the schedule used by :meth:`watch`.
    """

    def __init__(
        self,
        api_key: str | None = None,
        base_url: str | None = None,
        *,
        timeout: httpx.Timeout | float | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Sleep | None = None,
        clock: Callable[[], float] | None = None,
        journal: JournalLike | bool | None = True,
        retry: RetryPolicy | None = None,
        poll: _Policy | None = None,
        mode: str | None = None,
    ) -> None:
        self._api_key, self.base_url = resolve_settings(api_key, base_url)
        self._http = httpx.AsyncClient(
            base_url=self.base_url,
            timeout=timeout if timeout is not None else DEFAULT_TIMEOUT,
            transport=transport,
            headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
            follow_redirects=False,
        )
        self._sleep: Sleep = sleep or asyncio.sleep
        self._clock = clock or time.monotonic
        if journal is True:
            from .._journal import Journal

            journal = Journal.default()
        self.journal: JournalLike | None = journal or None
        self.retry = retry or RetryPolicy()
        self.poll: _Policy = poll or PollPolicy()
        self.mode = mode or ("emulator" if _is_loopback_url(self.base_url) else "live")

    @classmethod
    def emulator(cls, **kwargs: Any) -> AsyncFoxClient:
        """A client for this process's built-in emulator (started on first use; needs the ``emulator`` extra)."""
        from ..emulator import shared_emulator

        return cls(api_key="sk-emulator", base_url=shared_emulator().url, mode="emulator", **kwargs)

    @property
    def has_key(self) -> bool:
        """Whether a key is configured (the key itself is never exposed)."""
        return self._api_key is not None

    def __repr__(self) -> str:
        key = "set" if self.has_key else "missing"
        return f"{type(self).__name__}(base_url={self.base_url!r}, mode={self.mode!r}, key={key})"

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()

    async def __aenter__(self) -> AsyncFoxClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    # -- plumbing -------------------------------------------------------------------------
    def _auth(self) -> dict[str, str]:
        if self._api_key is None:
            raise MissingAPIKeyError("No FoxAPI key is configured.", field="api_key")
        return {"Authorization": f"Bearer {self._api_key}"}

    def _journal(self, method: str, *args: Any) -> Any:
        # The journal is a safety net: it must never be the reason a generation fails.
        target = getattr(self.journal, method, None) if self.journal is not None else None
        if target is None:
            return None
        try:
            return target(*args)
        except Exception as error:  # noqa: BLE001 - any journal failure is logged and ignored
            logger.warning("journal %s failed: %s", method, error)
            return None

    async def _request(self, method: str, url: str, *, json: Any = None, billed: bool = False) -> dict[str, Any]:
        headers = self._auth()
        attempt = 0
        while True:
            attempt += 1
            try:
                response = await self._http.request(method, url, json=json, headers=headers)
            except NOT_SENT_ERRORS as error:
                # Nothing reached the server: even the billed submit may be retried.
                if attempt < self.retry.attempts:
                    await self._sleep(self.retry.backoff(attempt))
                    continue
                raise APIConnectionError(f"Could not connect to {self.base_url}: {type(error).__name__}") from None
            except (httpx.TransportError, OSError) as error:
                if billed:
                    raise SubmitUncertainError(
                        f"The connection failed after the submit was sent ({type(error).__name__})."
                    ) from None
                if attempt < self.retry.attempts:
                    await self._sleep(self.retry.backoff(attempt))
                    continue
                raise APIConnectionError(f"{method} {url} failed: {type(error).__name__}") from None
            status = response.status_code
            if status == 429 or (status >= 500 and not billed):
                retry_after = parse_retry_after(response.headers.get("retry-after"))
                if attempt < self.retry.attempts:
                    logger.info("%s %s answered %s; retrying", method, url, status)
                    await self._sleep(self.retry.backoff(attempt, retry_after))
                    continue
                raise error_from_response(response)
            if status >= 500:
                mapped = error_from_response(response)
                raise SubmitUncertainError(
                    f"The submit got HTTP {status} ({mapped.message}); the task may still have been created.",
                    status=status,
                    type=mapped.type,
                    code=mapped.code,
                    request_id=mapped.request_id,
                )
            if status >= 400:
                raise error_from_response(response)
            try:
                body = response.json()
            except ValueError:
                body = None
            if not isinstance(body, dict):
                if billed:
                    raise SubmitUncertainError("The submit was answered with a body that is not JSON.", status=status)
                if attempt < self.retry.attempts:
                    await self._sleep(self.retry.backoff(attempt))
                    continue
                raise ProtocolError(f"{method} {url} answered with a body that is not JSON.", status=status)
            return body

    # -- tasks ----------------------------------------------------------------------------
    async def submit(self, request: VideoRequest) -> Task:
        """Validate and submit a generation; returns the pending :class:`Task` (billed from here on).

        Raises :class:`InvalidRequestError` or :class:`MissingAPIKeyError` before any request is
        sent, and :class:`SubmitUncertainError` when the outcome is unknown (never re-sent).
        """
        for warning in request.validate():
            logger.info("%s: %s", warning.field, warning.message)
        return await self._submit_payload(request.to_payload())

    async def _submit_payload(self, payload: dict[str, Any]) -> Task:
        self._auth()  # a missing key is an input error: raise it before anything is recorded or sent
        intent = self._journal("record_intent", payload, self.base_url)
        try:
            body = await self._request("POST", "/v1/videos/generations", json=payload, billed=True)
        except SubmitUncertainError as error:
            self._journal("record_uncertain", intent, error)
            raise
        except FoxAPIError:
            self._journal("record_rejected", intent)
            raise
        task = Task.from_json(body)
        if not task.id:
            missing = SubmitUncertainError("The submit was accepted but no task id came back.")
            self._journal("record_uncertain", intent, missing)
            raise missing
        self._journal("record_submitted", intent, task, payload, self.base_url)
        return task

    async def get_task(self, task_id: str) -> Task:
        """One snapshot of a task (``GET /v1/tasks/{id}``), retried when safe."""
        if not task_id or "/" in task_id:
            raise InvalidRequestError(f"not a task id: {task_id!r}", field="task_id")
        return Task.from_json(await self._request("GET", f"/v1/tasks/{task_id}"))

    async def watch(
        self, task: str | Task, *, timeout: float | None = None, expected: float | None = None
    ) -> AsyncGenerator[Task, None]:
        """Yield snapshots of a task until it is terminal (done, failed or cancelled).

        Polls adaptively (see :class:`PollPolicy`; ``expected`` is how many seconds such a task
        usually takes, passed to it as ``prior``); raises :class:`WaitTimeoutError` after
        ``timeout`` seconds. Stopping early leaves the task running at the provider.
        """
        task_id = task.id if isinstance(task, Task) else task
        estimated = task.estimated_time if isinstance(task, Task) else None
        start = self._clock()
        history: list[Snapshot] = []
        while True:
            snapshot = await self.get_task(task_id)
            self._journal("update", snapshot)
            estimated = snapshot.estimated_time or estimated
            history.append((self._clock() - start, snapshot.progress))
            yield snapshot
            if snapshot.terminal:
                return
            if timeout is not None and self._clock() - start >= timeout:
                raise WaitTimeoutError(
                    f"Task {task_id} was still {snapshot.status_text} after {timeout:g} s.", task=snapshot
                )
            delay = self.poll.next_delay(history, snapshot, estimated, prior=expected)
            if timeout is not None:
                delay = min(delay, max(0.0, timeout - (self._clock() - start)))
            await self._sleep(delay)

    async def wait(
        self, task: str | Task, *, on_progress: ProgressCallback | None = None, timeout: float | None = 600
    ) -> Task:
        """Poll until the task is done; return it, or raise :class:`TaskFailedError` (with ``.code``)."""
        last: Task | None = None
        async for snapshot in self.watch(task, timeout=timeout):
            last = snapshot
            if on_progress is not None:
                on_progress(snapshot)
        assert last is not None
        if last.failed:
            reason = last.error
            raise TaskFailedError(
                f"Task {last.id} {last.status.value}: {reason.message if reason else 'no reason given'}",
                task=last,
                code=reason.code if reason else None,
                type=reason.type if reason else None,
            )
        return last

    async def generate(
        self,
        request: VideoRequest,
        path: str | os.PathLike[str] | None = None,
        *,
        on_progress: ProgressCallback | None = None,
        timeout: float | None = 600,
    ) -> Task:
        """Submit, wait, and (when ``path`` is given) download: the whole job in one call."""
        task = await self.submit(request)
        if on_progress is not None:
            on_progress(task)
        done = await self.wait(task, on_progress=on_progress, timeout=timeout)
        if path is not None:
            await self.download(done, path)
        return done

    # -- downloads ------------------------------------------------------------------------
    async def download(
        self,
        task: Task | str,
        path: str | os.PathLike[str],
        *,
        max_bytes: int = DEFAULT_MAX_DOWNLOAD,
    ) -> Path:
        """Stream a result to ``path`` and return it; the file is complete or absent, never partial.

        The bytes go to a temporary file beside the destination, are checked against
        ``Content-Length`` and ``max_bytes``, then renamed into place atomically. Cut-off
        transfers are retried. A 403/404/410 on the result URL raises :class:`ResultExpiredError`.
        """
        url = task.video_url if isinstance(task, Task) else task
        task_id = task.id if isinstance(task, Task) else None
        if not url:
            raise DownloadError(f"Task {task_id} has no result URL yet; wait() for it to complete first.")
        scheme = urlsplit(url).scheme
        if scheme not in ("http", "https"):
            raise DownloadError(f"Refusing to download from a {scheme or 'relative'} URL; only http(s) is accepted.")
        destination = Path(path)
        if destination.is_dir():
            from .._filenames import sanitize_filename

            destination = destination / sanitize_filename(f"{task_id or 'video'}.mp4")
        destination.parent.mkdir(parents=True, exist_ok=True)
        # Result files may live on a CDN: the key goes only to the API's own host.
        same_host = urlsplit(url).netloc == urlsplit(self.base_url).netloc
        headers = self._auth() if same_host else {}
        attempt = 0
        while True:
            attempt += 1
            try:
                await self._download_once(url, destination, headers, max_bytes)
                break
            except (DownloadError, ServerError, RateLimitError, APIConnectionError) as error:
                if attempt >= self.retry.attempts or (isinstance(error, DownloadError) and error.code == "too_large"):
                    if isinstance(error, DownloadError):
                        raise
                    raise DownloadError(f"Download failed: {error.message}", status=error.status) from None
                await self._sleep(self.retry.backoff(attempt, getattr(error, "retry_after", None)))
        if task_id:
            self._journal("record_download", task_id, destination)
        return destination

    async def _download_once(self, url: str, destination: Path, headers: dict[str, str], max_bytes: int) -> None:
        fd, temp_name = tempfile.mkstemp(prefix=f".{destination.name}.", suffix=".part", dir=destination.parent)
        received = 0
        try:
            with os.fdopen(fd, "wb") as handle:
                try:
                    async with self._http.stream("GET", url, headers=headers) as response:
                        status = response.status_code
                        if status in (403, 404, 410):
                            raise ResultExpiredError(
                                f"The result URL answered {status}: results are kept for 24 hours only.", status=status
                            )
                        if status >= 400:
                            await response.aread()
                            raise error_from_response(response)
                        expected = response.headers.get("content-length")
                        length = int(expected) if expected and expected.isdigit() else None
                        if length is not None and length > max_bytes:
                            raise DownloadError(
                                f"The file is {length} bytes, over the {max_bytes}-byte limit.", code="too_large"
                            )
                        async for chunk in response.aiter_raw(_CHUNK):
                            received += len(chunk)
                            if received > max_bytes:
                                raise DownloadError(
                                    f"The download passed the {max_bytes}-byte limit.", code="too_large"
                                )
                            handle.write(chunk)
                except (httpx.TransportError, OSError) as error:
                    raise DownloadError(
                        f"The transfer was cut off after {received} bytes ({type(error).__name__})."
                    ) from None
                if length is not None and received != length:
                    raise DownloadError(f"The transfer was cut off: {received} of {length} bytes.")
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temp_name, destination)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temp_name)
            raise

    # -- history ----------------------------------------------------------------------------
    def history(self, limit: int = 200) -> list[Any]:
        """Tasks recorded in the journal for this API host, newest first (``JournalEntry`` objects)."""
        entries = getattr(self.journal, "entries", None)
        return list(entries(base_url=self.base_url, limit=limit)) if entries else []

    def voices(self) -> list[dict[str, Any]]:
        """Voices created from this machine for this API host, with their names (from the journal)."""
        voices = getattr(self.journal, "voices", None)
        return list(voices(base_url=self.base_url)) if voices else []

    async def resume(self, directory: str | os.PathLike[str] | None = None) -> list[Task]:
        """Finish what an earlier session left: poll unfinished tasks (under 24 h old) and download them.

        Returns the tasks that are now done. Failures are recorded in the journal, not raised.
        """
        unfinished = getattr(self.journal, "unfinished", None)
        if unfinished is None:
            return []
        from .._filenames import sanitize_filename
        from .._paths import video_dir

        target = Path(directory) if directory is not None else video_dir()
        finished = []
        for entry in unfinished(base_url=self.base_url):
            try:
                task = await self.wait(entry.task_id)
                if entry.request.get("model") == MODEL_CREATE_VOICE:
                    # A voice made while the last kernel died: remember it, under the name it was given.
                    self.remember_voice(task, str(entry.request.get("voice_url", "")))
                else:
                    await self.download(task, target / sanitize_filename(f"{task.id}.mp4"))
                finished.append(task)
            except FoxAPIError as error:
                logger.warning("could not resume %s: %s", entry.task_id, error)
        return finished

    # -- voices ---------------------------------------------------------------------------
    async def create_voice(
        self,
        voice_url: str,
        *,
        name: str | None = None,
        on_progress: ProgressCallback | None = None,
        timeout: float | None = 600,
    ) -> str:
        """Create a voice from an http(s) audio URL (mp3/ogg/wav/m4a/aac); returns its voice id."""
        task = await self.submit_voice(voice_url, name=name)
        done = await self.wait(task, on_progress=on_progress, timeout=timeout)
        return self.remember_voice(done, voice_url, name=name)

    async def submit_voice(self, voice_url: str, *, name: str | None = None) -> Task:
        """Validate and submit a create-voice task (billed); returns it pending. See :meth:`create_voice`.

        ``name`` is journaled with the task id, so a voice finished by a later kernel keeps it.
        """
        problems = validate_voice_url(voice_url)
        if problems:
            raise InvalidRequestError.from_problems(problems)
        task = await self._submit_payload({"model": MODEL_CREATE_VOICE, "voice_url": voice_url})
        if name:
            self._journal("record_voice_name", task.id, name)
        return task

    def remember_voice(self, done: Task, voice_url: str, *, name: str | None = None) -> str:
        """Record a completed voice task's id and name in the journal; returns the voice id.

        Without ``name``, the name journaled at submit (if any) is used.
        """
        if not done.voice_id:
            raise ProtocolError(f"Voice task {done.id} completed without a voice id.")
        name = name or self._journal("voice_name", done.id)
        self._journal("record_voice", done.voice_id, name, voice_url, self.base_url)
        return done.voice_id
