"""``AsyncFoxClient``: the one implementation of talking to FoxAPI (the sync client wraps it).

Submit (validated first, never re-sent when its outcome is unknown), query, adaptive waiting,
streamed downloads and voices. The client knows nothing of widgets or notebooks; it records
each submit in a journal (when given one) before returning, so a paid task id is never lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import glob
import logging
import os
import tempfile
import time
from collections.abc import AsyncGenerator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import replace
from functools import partial
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, BinaryIO, Literal, Protocol, TypeVar
from urllib.parse import urljoin, urlsplit

from .._exceptions import (
    APIConnectionError,
    DownloadError,
    FoxAPIError,
    InvalidRequestError,
    JournalUnavailableError,
    MissingAPIKeyError,
    ProtocolError,
    RateLimitError,
    ResultExpiredError,
    SubmitUncertainError,
    TaskFailedError,
    WaitTimeoutError,
)
from .._filenames import sanitize_filename
from .._paths import video_dir
from .._types import Task, TaskStatus, VideoRequest
from .._validation import MODEL_CREATE_VOICE, validate_voice_url
from ._answers import Decoded, decode
from ._http import (
    EMULATOR_KEY,
    KEY_ENV,
    USER_AGENT,
    Answer,
    RetryPolicy,
    configured_base_url,
    default_timeout,
    error_from_answer,
    not_sent_errors,
    parse_retry_after,
    read_answer,
    resolve_settings,
    retry_delay,
    same_origin,
    task_path,
    transport_errors,
    web_scheme,
)
from ._polling import PollPolicy, Snapshot

if TYPE_CHECKING:
    import httpx  # imported when a client is built (AsyncFoxClient.__init__), not with the package

__all__ = [
    "EMULATOR_HOST",
    "AsyncFoxClient",
    "JournalLike",
    "KeySource",
    "ProgressCallback",
    "failure_of",
    "is_loopback_url",
    "looks_like_video",
]

logger = logging.getLogger("foxkling_widgets")

T = TypeVar("T")
ProgressCallback = Callable[[Task], object]
#: Where a client's key comes from (:meth:`AsyncFoxClient.key_source`).
KeySource = Literal["emulator", "env", "given", "none"]
Sleep = Callable[[float], Awaitable[object]]
DEFAULT_MAX_DOWNLOAD = 2 * 1024**3  # Kling clips are tens of MB; 2 GB stops a runaway stream.
SUBMIT_PATH = "/v1/videos/generations"
#: How long a task may say "completed" without its result URL before watch() gives up on it.
RESULT_GRACE = 300.0
MAX_REDIRECTS = 5
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
#: Download failures that another try cannot fix.
FINAL_DOWNLOAD_CODES = frozenset({"too_large", "not_a_video", "bad_redirect", "not_writable"})
#: A ".part" file untouched for this long belongs to a download that was killed.
STALE_PART_SECONDS = 600.0
_CHUNK = 256 * 1024
#: The journal's name for the built-in emulator: its port changes with every process, while its
#: tasks outlive them (the emulator keeps them under the data directory). "localhost" so that
#: anything showing a journal row's host by its loopback name shows "emulator".
EMULATOR_HOST = "emulator://localhost"


class JournalLike(Protocol):
    """What the client (and the widget through it) asks of a journal; see ``foxkling_widgets._journal.Journal``.

    A journal is a safety net: apart from :meth:`record_intent` (whose ``JournalUnavailableError``
    stops a submit from being sent), the client treats any exception from it as a warning.
    """

    def record_intent(self, payload: dict[str, Any], base_url: str) -> int | None: ...
    def record_submitted(self, intent_id: int | None, task: Task, payload: dict[str, Any], base_url: str) -> None: ...
    def record_uncertain(self, intent_id: int | None, error: BaseException) -> None: ...
    def record_rejected(self, intent_id: int | None) -> None: ...
    def update(self, task: Task) -> None: ...
    def record_download(self, task_id: str, path: str | os.PathLike[str]) -> None: ...
    def record_voice(self, voice_id: str, name: str | None, source_url: str, base_url: str) -> None: ...
    def record_voice_name(self, task_id: str, name: str) -> None: ...
    def voice_name(self, task_id: str) -> str | None: ...
    def record_batch(self, task_id: str, batch: dict[str, Any]) -> None: ...
    def batches(self) -> dict[str, dict[str, Any]]: ...
    def entries(self, *, base_url: str | None = None, limit: int = 200) -> list[Any]: ...
    def unfinished(self, *, base_url: str | None = None) -> list[Any]: ...
    def uncertain_submits(self, *, base_url: str | None = None) -> list[dict[str, Any]]: ...
    def voices(self, *, base_url: str | None = None) -> list[dict[str, Any]]: ...
    def typical_duration(self, payload: dict[str, Any], *, base_url: str | None = None) -> float | None: ...


class _Policy(Protocol):
    def next_delay(
        self, history: list[Snapshot], task: Task, estimated_time: float | None, *, prior: float | None = None
    ) -> float: ...


def is_loopback_url(url: str) -> bool:
    """Whether ``url`` points at this machine (where every emulator runs), by its host name or address."""
    try:
        host = urlsplit(url).hostname or ""
    except ValueError:
        return False
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
        mode: what the client talks to, as the studio shows it: ``"emulator"``, ``"live"``, or
            ``"none"`` (no key and no emulator: nothing can be sent; the studio asks for a key).
            Default: ``"emulator"`` for a loopback ``base_url``, else ``"live"``.
        journal_host: the name tasks are journaled (and history, voices and credits read) under;
            defaults to ``base_url``. The built-in emulator's is :data:`EMULATOR_HOST`.
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
        journal_host: str | None = None,
    ) -> None:
        import httpx

        self._api_key, self.base_url = resolve_settings(api_key, base_url)
        self.journal_host = journal_host or self.base_url
        self._http = httpx.AsyncClient(
            base_url=self.base_url,
            timeout=timeout if timeout is not None else default_timeout(),
            transport=transport,
            headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
            follow_redirects=False,
        )
        self._sleep: Sleep = sleep or asyncio.sleep
        self._clock = clock or time.monotonic
        if journal is True:
            from .._journal import Journal

            try:
                journal = Journal.default()
            except OSError as error:  # e.g. a home directory that cannot be written
                raise JournalUnavailableError(
                    f"The task journal's folder cannot be made ({type(error).__name__}); nothing was sent."
                ) from None
        self.journal: JournalLike | None = journal if journal is not None and journal is not False else None
        self.retry = retry or RetryPolicy()
        self.poll: _Policy = poll or PollPolicy()
        self.mode = mode or ("emulator" if is_loopback_url(self.base_url) else "live")

    @classmethod
    def emulator(cls, **kwargs: Any) -> AsyncFoxClient:
        """A client for this process's built-in emulator (started on first use; needs the ``emulator`` extra).

        Requests go to this process's port; the journal knows the emulator as :data:`EMULATOR_HOST`,
        so history, voices and credits carry over from earlier kernels (whose emulators' tasks the
        new one answers for).
        """
        from ..emulator import shared_emulator

        kwargs.setdefault("journal_host", EMULATOR_HOST)
        return cls(api_key=EMULATOR_KEY, base_url=shared_emulator().url, mode="emulator", **kwargs)

    @property
    def has_key(self) -> bool:
        """Whether a key is configured (the key itself is never exposed)."""
        return self._api_key is not None

    def key_source(self) -> KeySource:
        """Where this client's key comes from, told without exposing it (for code that rebuilds the client).

        ``"emulator"``: the emulators' public key; ``"env"``: the key ``FOXAPI_API_KEY`` holds now
        (so ``FoxClient()`` finds it); ``"given"``: another one (passed in, or pasted into the
        studio); ``"none"``: no key.
        """
        if self._api_key is None:
            return "none"
        if self._api_key == EMULATOR_KEY:
            return "emulator"
        return "env" if os.environ.get(KEY_ENV, "").strip() == self._api_key else "given"

    def base_url_from_environment(self) -> bool:
        """Whether a client built without ``base_url`` (``FoxClient()``) reaches this client's base URL."""
        return configured_base_url(None) == self.base_url

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

    def journaled(self, what: str, call: Callable[[JournalLike], T]) -> T | None:
        """``call(journal)``, or ``None`` without a journal or when it fails (logged as a warning).

        The journal is a safety net: it must never be the reason a generation fails. ``what``
        names the operation in the warning ("recording a batch").
        """
        if self.journal is None:
            return None
        try:
            return call(self.journal)
        except Exception as error:  # noqa: BLE001 - any journal failure is logged and ignored
            logger.warning("journal %s failed: %s", what, error)
            return None

    async def _record(self, what: str, call: Callable[[JournalLike], object]) -> None:
        # Off the event loop: a journal waiting on another process's lock must not hold up
        # the polling of every other generation on this loop.
        if self.journal is not None:
            await asyncio.to_thread(self.journaled, what, call)

    async def _exchange(self, method: str, url: str, *, json: Any = None, headers: dict[str, str]) -> Answer:
        async with self._http.stream(method, url, json=json, headers=headers) as response:
            return await read_answer(response)

    async def _call(self, method: str, url: str, *, json: Any = None, billed: bool = False) -> tuple[Answer, Decoded]:
        """Send a request under the retry decisions (:func:`should_retry`); return a 2xx answer, decoded.

        A billed submit's answer is returned even when it is not usable JSON, so the caller can
        keep a task id found in it; any other unusable answer raises once retries are spent.
        """
        headers = self._auth()
        attempt = 0
        while True:
            attempt += 1
            try:
                answer = await self._exchange(method, url, json=json, headers=headers)
            except transport_errors() as error:
                delay = retry_delay(self.retry, attempt, billed=billed, error=error)
                if delay is None:
                    raise self._transport_error(method, url, error, billed) from None
                await self._sleep(delay)
                continue
            status = answer.status
            decoded = decode(answer.data, truncated=answer.truncated or answer.cut is not None)
            if answer.cut is not None:
                # Cut off mid-body: a safe request is asked again; a billed one's answer is kept
                # below (what arrived may name the paid task).
                delay = retry_delay(self.retry, attempt, billed=billed, cut=True)
                if delay is not None:
                    await self._sleep(delay)
                    continue
            if 200 <= status < 300 and (decoded.body is not None or billed):
                return answer, decoded
            named = billed and bool(decoded.task_id)  # a paid task exists: never sent again (should_retry)
            retry_after = parse_retry_after(answer.headers.get("retry-after"))
            delay = retry_delay(self.retry, attempt, billed=billed, status=status, named=named, retry_after=retry_after)
            if delay is not None:
                logger.info("%s %s answered %s; retrying", method, url, status)
                await self._sleep(delay)
                continue
            if 200 <= status < 300:
                raise ProtocolError(f"{method} {url} answered with a body that is not FoxAPI JSON.", status=status)
            mapped = error_from_answer(answer)
            if billed and (status >= 500 or status < 400 or named):
                raise SubmitUncertainError(
                    f"The submit got HTTP {status} ({mapped.message}); the task may still have been created.",
                    status=status,
                    type=mapped.type,
                    code=mapped.code,
                    request_id=mapped.request_id,
                    task_id=decoded.task_id or None,
                )
            raise mapped

    def _transport_error(self, method: str, url: str, error: BaseException, billed: bool) -> FoxAPIError:
        name = type(error).__name__
        if isinstance(error, not_sent_errors()):
            # Nothing reached the server: not billed, even for the submit.
            return APIConnectionError(f"Could not connect to {self.base_url}: {name}")
        if billed:
            return SubmitUncertainError(f"The connection failed after the submit was sent ({name}).")
        return APIConnectionError(f"{method} {url} failed: {name}")

    # -- tasks ----------------------------------------------------------------------------
    async def submit(self, request: VideoRequest) -> Task:
        """Validate and submit a generation; returns the pending :class:`Task` (billed from here on).

        Raises :class:`InvalidRequestError` or :class:`MissingAPIKeyError` before any request is
        sent, and :class:`SubmitUncertainError` when the outcome is unknown (never re-sent).
        Cancelling the caller does not cut the POST off: it finishes and its id is journaled.
        """
        for warning in request.validate():
            logger.info("%s: %s", warning.field, warning.message)
        return await self._submit_shielded(request.to_payload())

    async def _submit_shielded(self, payload: dict[str, Any]) -> Task:
        # A POST cut off mid-flight may still be billed, with its id lost: it always runs to the
        # end (its id reaches the journal) even when the awaiting code is cancelled.
        work = asyncio.ensure_future(self._submit_payload(payload))
        try:
            return await asyncio.shield(work)
        except asyncio.CancelledError:
            work.add_done_callback(_log_orphaned_submit)
            raise

    async def _submit_payload(self, payload: dict[str, Any]) -> Task:
        self._auth()  # a missing key is an input error: raise it before anything is recorded or sent
        intent: int | None = None
        if self.journal is not None:
            # Not guarded: a submit whose trace could be written nowhere is not sent (nothing billed).
            journal = self.journal
            intent = await asyncio.to_thread(journal.record_intent, payload, self.journal_host)
        try:
            answer, decoded = await self._call("POST", SUBMIT_PATH, json=payload, billed=True)
        except SubmitUncertainError as uncertain:
            named = uncertain.task_id
            if named:
                # The answer was an error, yet it named a task: that task may be billed, so it is
                # journaled like any other (resume() and the widget follow it).
                await self._record(
                    "recording a task", lambda j: j.record_submitted(intent, Task(id=named), payload, self.journal_host)
                )
            else:
                await self._record("recording an uncertain submit", partial(_uncertain, intent=intent, error=uncertain))
            raise
        except FoxAPIError:
            await self._record("recording a refused submit", lambda j: j.record_rejected(intent))
            raise
        task_id = decoded.task_id
        if not task_id:
            why = decoded.problem or "it carried no task id"
            missing = SubmitUncertainError(f"The submit was answered (HTTP {answer.status}), but {why}.")
            await self._record("recording an uncertain submit", partial(_uncertain, intent=intent, error=missing))
            raise missing
        # The id goes to disk before anything else of the answer is looked at.
        await self._record(
            "recording a task", lambda j: j.record_submitted(intent, Task(id=task_id), payload, self.journal_host)
        )
        if answer.cut is not None:
            # The connection dropped mid-answer, after naming the task: billed, and now journaled.
            raise SubmitUncertainError(
                f"The submit's answer was cut off ({answer.cut}) after naming task {task_id}.",
                status=answer.status,
                task_id=task_id,
                hint=f"The task is kept in the journal: wait('{task_id}') or client.resume() follows it.",
            )
        if decoded.body is None:
            raise ProtocolError(
                f"Task {task_id} was created, but {decoded.problem}.",
                status=answer.status,
                task_id=task_id,
                hint=f"The task id is kept in the journal: wait('{task_id}') or client.resume() follows it.",
            )
        task = _parse_task(decoded.body, task_id)
        await self._record("updating a task", lambda j: j.update(task))
        return task

    async def get_task(self, task_id: str) -> Task:
        """One snapshot of a task (``GET /v1/tasks/{id}``), retried when safe."""
        if not isinstance(task_id, str) or not task_id.strip():
            raise InvalidRequestError(f"not a task id: {task_id!r}", field="task_id")
        _answer, decoded = await self._call("GET", task_path(task_id))
        assert decoded.body is not None  # _call raises for unusable answers to a GET
        return _parse_task(decoded.body, task_id)

    def typical_duration(self, request: VideoRequest | dict[str, Any]) -> float | None:
        """How long tasks of this tier took before (the journal's median), to pace polling; ``None`` if unknown."""
        payload = request.to_payload() if isinstance(request, VideoRequest) else request
        return self.journaled("reading durations", lambda j: j.typical_duration(payload, base_url=self.journal_host))

    async def watch(
        self, task: str | Task, *, timeout: float | None = None, expected: float | None = None
    ) -> AsyncGenerator[Task, None]:
        """Yield snapshots of a task until it is terminal (done, failed or cancelled).

        Polls adaptively (see :class:`PollPolicy`); ``expected`` is how long such a task usually
        takes (e.g. :meth:`typical_duration`), passed to the policy as ``prior``. Raises
        :class:`WaitTimeoutError` after ``timeout`` seconds, and :class:`ProtocolError` when a task
        says it is completed but brings no result for :data:`RESULT_GRACE` seconds (its id stays in
        the journal for :meth:`resume`).
        Stopping early leaves the task running at the provider.
        """
        task_id = task.id if isinstance(task, Task) else task
        estimated = task.estimated_time if isinstance(task, Task) else None
        start = self._clock()
        history: list[Snapshot] = []
        completed_since: float | None = None
        while True:
            snapshot = await self.get_task(task_id)
            await self._record("updating a task", lambda j, s=snapshot: j.update(s))  # type: ignore[misc]
            estimated = snapshot.estimated_time or estimated
            now = self._clock()
            history.append((now - start, snapshot.progress))
            yield snapshot
            if snapshot.terminal:
                return
            if snapshot.status is TaskStatus.COMPLETED:
                # Completed without its result: a seen race, but not one to wait out forever.
                completed_since = now if completed_since is None else completed_since
                if now - completed_since >= RESULT_GRACE:
                    raise ProtocolError(
                        f"Task {task_id} has said it is completed for {now - completed_since:.0f} s "
                        "without a result URL.",
                        task_id=task_id,
                        hint="The provider has not attached the video yet. The task id is kept in the journal: "
                        "client.resume() (or a new KlingWidget) tries again later.",
                    )
            else:
                completed_since = None
            if timeout is not None and now - start >= timeout:
                raise WaitTimeoutError(
                    f"Task {task_id} was still {snapshot.status_text} after {timeout:g} s.",
                    task=snapshot,
                    task_id=task_id,
                )
            delay = self.poll.next_delay(history, snapshot, estimated, prior=expected)
            if timeout is not None:
                delay = min(delay, max(0.0, timeout - (self._clock() - start)))
            await self._sleep(delay)

    async def wait(
        self,
        task: str | Task,
        *,
        on_progress: ProgressCallback | None = None,
        timeout: float | None = 600,
        expected: float | None = None,
    ) -> Task:
        """Poll until the task is done; return it, or raise :class:`TaskFailedError` (with ``.code``)."""
        last: Task | None = None
        async for snapshot in self.watch(task, timeout=timeout, expected=expected):
            last = snapshot
            if on_progress is not None:
                on_progress(snapshot)
        assert last is not None
        if last.failed:
            raise failure_of(last)
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
        return await self.finish(task, request, path, on_progress=on_progress, timeout=timeout)

    async def finish(
        self,
        task: Task,
        request: VideoRequest | None = None,
        path: str | os.PathLike[str] | None = None,
        *,
        on_progress: ProgressCallback | None = None,
        timeout: float | None = 600,
    ) -> Task:
        """The rest of :meth:`generate` once ``task`` is submitted: wait, then download to ``path``."""
        if on_progress is not None:
            on_progress(task)
        expected = await asyncio.to_thread(self.typical_duration, request) if request is not None else None
        done = await self.wait(task, on_progress=on_progress, timeout=timeout, expected=expected)
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
        ``Content-Length``, ``max_bytes`` and a video signature (MP4 or WebM), then renamed into
        place atomically. Cut-off transfers are retried. The key is sent only to the API's own
        origin (scheme, host and port), never after a redirect; redirects are followed at most
        :data:`MAX_REDIRECTS` times. A 403/404/410 on the result URL raises :class:`ResultExpiredError`.
        """
        url = task.video_url if isinstance(task, Task) else task
        task_id = task.id if isinstance(task, Task) else None
        if not url:
            raise DownloadError(
                f"Task {task_id} has no result URL yet; wait() for it to complete first.", task_id=task_id
            )
        if web_scheme(url) is None:
            raise DownloadError("Refusing to download from a URL that is not http(s).", task_id=task_id)
        destination = Path(path)
        try:
            if destination.is_dir():
                destination = destination / sanitize_filename(f"{task_id or 'video'}.mp4")
            destination.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise DownloadError(
                f"Cannot write the video to {destination}: {type(error).__name__}.",
                task_id=task_id,
                hint="Choose a folder you can write to; the task and its URL stay in the journal.",
            ) from None
        _remove_stale_parts(destination)
        attempt = 0
        while True:
            attempt += 1
            try:
                await self._download_once(url, destination, max_bytes)
                break
            except FoxAPIError as error:
                delay = self._download_retry_delay(attempt, error)
                if delay is None:
                    if isinstance(error, DownloadError):
                        error.task_id = error.task_id or task_id
                        raise
                    raise (
                        error
                        if isinstance(error, ResultExpiredError)
                        else DownloadError(f"Download failed: {error.message}", status=error.status, task_id=task_id)
                    ) from None
                await self._sleep(delay)
        if task_id:
            await self._record("recording a download", lambda j: j.record_download(task_id, destination))
        return destination

    def _download_retry_delay(self, attempt: int, error: FoxAPIError) -> float | None:
        """How long to wait before fetching the result again after ``error``, or ``None``: give up.

        The request rules (:func:`retry_delay`, never billed) decide, once the download's own
        verdicts are set aside: a file that is too large, is not a video, redirects badly or
        cannot be written is the same on the next try. A failure with an HTTP status is that
        answer (403/404/410, the expired URL, are not retried like any other 4xx); one without
        was a transfer cut off on its way (dropped, short of its length, or not decoding).
        """
        if error.code in FINAL_DOWNLOAD_CODES:
            return None
        if error.status is None:
            return retry_delay(self.retry, attempt, billed=False, cut=True)
        retry_after = error.retry_after if isinstance(error, RateLimitError) else None
        return retry_delay(self.retry, attempt, billed=False, status=error.status, retry_after=retry_after)

    async def _open_result(self, url: str) -> tuple[httpx.Response, AbstractAsyncContextManager[httpx.Response]]:
        """Open the result URL, following redirects by hand: the key goes to the API's origin only, first hop only."""
        headers = {"Accept-Encoding": "identity", "Accept": "video/*, */*"}
        if same_origin(url, self.base_url):
            headers.update(self._auth())
        for _hop in range(MAX_REDIRECTS + 1):
            context = self._http.stream("GET", url, headers=headers)
            response = await context.__aenter__()
            if response.status_code not in REDIRECT_STATUSES:
                return response, context
            location = response.headers.get("location", "")
            await context.__aexit__(None, None, None)
            try:
                url = urljoin(url, location)
            except ValueError:  # a Location httpx and urllib cannot read (e.g. "http://[x/")
                url = ""
            if web_scheme(url) is None:
                raise DownloadError("The result URL redirected to a URL that is not http(s).", code="bad_redirect")
            # Never the key after a redirect: the next hop is a CDN or anyone the server named.
            headers = {k: v for k, v in headers.items() if k != "Authorization"}
        raise DownloadError(f"The result URL redirected more than {MAX_REDIRECTS} times.", code="bad_redirect")

    async def _download_once(self, url: str, destination: Path, max_bytes: int) -> None:
        try:
            fd, temp_name = tempfile.mkstemp(prefix=f".{destination.name}.", suffix=".part", dir=destination.parent)
        except OSError as error:
            raise DownloadError(
                f"Cannot write beside {destination}: {type(error).__name__}.", code="not_writable"
            ) from None
        received = 0
        try:
            with os.fdopen(fd, "wb") as handle:
                try:
                    response, context = await self._open_result(url)
                    try:
                        received = await self._save(response, handle, max_bytes)
                    finally:
                        await context.__aexit__(None, None, None)
                except transport_errors() as error:
                    raise DownloadError(
                        f"The transfer was cut off after {received} bytes ({type(error).__name__})."
                    ) from None
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temp_name, destination)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temp_name)
            raise

    async def _save(self, response: httpx.Response, handle: BinaryIO, max_bytes: int) -> int:
        status = response.status_code
        if status in (403, 404, 410):
            raise ResultExpiredError(
                f"The result URL answered {status}: results are kept for 24 hours only.", status=status
            )
        if not 200 <= status < 300:
            raise error_from_answer(await read_answer(response))
        encoded = response.headers.get("content-encoding", "identity").strip().lower() not in ("", "identity")
        expected = response.headers.get("content-length", "")
        # Content-Length counts encoded bytes: only a plain body can be checked against it.
        length = int(expected) if expected.isdigit() and not encoded else None
        if length is not None and length > max_bytes:
            raise DownloadError(f"The file is {length} bytes, over the {max_bytes}-byte limit.", code="too_large")
        # Asked for identity; a server that compresses anyway is decoded (bounded by max_bytes).
        chunks = response.aiter_bytes(_CHUNK) if encoded else response.aiter_raw(_CHUNK)
        received = 0
        head = b""
        async for chunk in chunks:
            received += len(chunk)
            if received > max_bytes:
                raise DownloadError(f"The download passed the {max_bytes}-byte limit.", code="too_large")
            if len(head) < _SIGNATURE_BYTES:
                head += chunk[: _SIGNATURE_BYTES - len(head)]
                if len(head) >= _SIGNATURE_BYTES and not looks_like_video(head):
                    raise DownloadError("The result is not a video (no MP4 or WebM signature).", code="not_a_video")
            handle.write(chunk)
        if length is not None and received != length:
            raise DownloadError(f"The transfer was cut off: {received} of {length} bytes.")
        if not looks_like_video(head):
            raise DownloadError("The result is not a video (no MP4 or WebM signature).", code="not_a_video")
        return received

    # -- history ----------------------------------------------------------------------------
    def history(self, limit: int = 200) -> list[Any]:
        """Tasks journaled for this API host (:attr:`journal_host`), newest first (``JournalEntry`` objects)."""
        return self.journaled("reading tasks", lambda j: j.entries(base_url=self.journal_host, limit=limit)) or []

    def voices(self) -> list[dict[str, Any]]:
        """Voices created from this machine for this API host, with their names (from the journal)."""
        return self.journaled("reading voices", lambda j: j.voices(base_url=self.journal_host)) or []

    async def resume(self, directory: str | os.PathLike[str] | None = None) -> list[Task]:
        """Finish what an earlier session left: poll unfinished tasks (under 24 h old) and download them.

        Returns the tasks that are now done. Failures are recorded in the journal, not raised.
        """
        unfinished = self.journaled("reading tasks", lambda j: j.unfinished(base_url=self.journal_host)) or []
        target = Path(directory) if directory is not None else video_dir()
        finished = []
        for entry in unfinished:
            try:
                expected = await asyncio.to_thread(self.typical_duration, entry.request)
                task = await self.wait(entry.task_id, expected=expected)
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
        return await self.finish_voice(task, voice_url, name=name, on_progress=on_progress, timeout=timeout)

    async def finish_voice(
        self,
        task: Task,
        voice_url: str,
        *,
        name: str | None = None,
        on_progress: ProgressCallback | None = None,
        timeout: float | None = 600,
    ) -> str:
        """The rest of :meth:`create_voice` once ``task`` is submitted: wait, then remember the voice."""
        done = await self.wait(task, on_progress=on_progress, timeout=timeout)
        return self.remember_voice(done, voice_url, name=name)

    async def submit_voice(self, voice_url: str, *, name: str | None = None) -> Task:
        """Validate and submit a create-voice task (billed); returns it pending. See :meth:`create_voice`.

        ``name`` is journaled with the task id, so a voice finished by a later kernel keeps it.
        """
        problems = validate_voice_url(voice_url)
        if problems:
            raise InvalidRequestError.from_problems(problems)
        task = await self._submit_shielded({"model": MODEL_CREATE_VOICE, "voice_url": voice_url})
        if name:
            await self._record("recording a voice name", lambda j: j.record_voice_name(task.id, name))
        return task

    def remember_voice(self, done: Task, voice_url: str, *, name: str | None = None) -> str:
        """Record a completed voice task's id and name in the journal; returns the voice id.

        Without ``name``, the name journaled at submit (if any) is used.
        """
        if not done.voice_id:
            raise ProtocolError(f"Voice task {done.id} completed without a voice id.", task_id=done.id)
        voice_id = done.voice_id
        name = name or self.journaled("reading a voice name", lambda j: j.voice_name(done.id))
        self.journaled("recording a voice", lambda j: j.record_voice(voice_id, name, voice_url, self.journal_host))
        return voice_id


def _uncertain(journal: JournalLike, *, intent: int | None, error: BaseException) -> None:
    journal.record_uncertain(intent, error)


def failure_of(task: Task) -> TaskFailedError:
    """The :class:`TaskFailedError` for a task that ended in failure, with the provider's code and message."""
    reason = task.error
    return TaskFailedError(
        f"Task {task.id} {task.status.value}: {reason.message if reason else 'no reason given'}",
        task=task,
        task_id=task.id,
        code=reason.code if reason else None,
        type=reason.type if reason else None,
    )


def _parse_task(body: dict[str, Any], task_id: str) -> Task:
    # Task.from_json is lenient and never raises for an object; should it ever, the caller still
    # learns which task it was (the id is in the journal already).
    try:
        task = Task.from_json(body)
    except Exception as error:  # noqa: BLE001 - any parsing failure becomes a named error with the id
        raise ProtocolError(
            f"The answer for task {task_id} could not be read ({type(error).__name__}).", task_id=task_id
        ) from None
    return task if task.id else replace(task, id=task_id)


def _log_orphaned_submit(work: asyncio.Future[Task]) -> None:
    # The caller stopped waiting (cancelled) but the submit ran on: say where its task went.
    if work.cancelled():
        return
    error = work.exception()
    if error is None:
        logger.warning("a cancelled caller's submit finished: task %s is in the task journal", work.result().id)
    else:
        logger.warning("a cancelled caller's submit ended with %s", type(error).__name__)


#: Top-level MP4 box types that may open a file, and WebM's EBML magic.
_MP4_BOXES = (b"ftyp", b"moov", b"mdat", b"free", b"skip", b"wide", b"pnot", b"styp")
_SIGNATURE_BYTES = 12


def looks_like_video(head: bytes) -> bool:
    """Whether a file's first bytes are those of an MP4/QuickTime or WebM/Matroska file."""
    return head[4:8] in _MP4_BOXES or head.startswith(b"\x1a\x45\xdf\xa3")


def _remove_stale_parts(destination: Path) -> None:
    # A killed download leaves ".<name>.XXXX.part"; one that has not been written to for a while
    # is dead (a live one writes every few milliseconds), so it is removed.
    cutoff = time.time() - STALE_PART_SECONDS
    for part in destination.parent.glob(f".{glob.escape(destination.name)}.*.part"):
        with contextlib.suppress(OSError):
            if part.stat().st_mtime < cutoff:
                part.unlink()
