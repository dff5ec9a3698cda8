"""Promises an adversarial review broke, each kept as a test that failed before its fix.

Decided and left as they are (see the closing notes): a task id or voice id that itself contains
the key is stored and used as sent, since scrubbing it would lose the paid task; a gzip answer
corrupt in the same chunk as its id cannot be partly decoded, so that submit is "uncertain".

Over real loopback HTTP (``fake_server``), like ``test_hostile_server``. Promises: a billed
submit's task id is never lost; the API key never appears in any output; nothing raw escapes.
"""

from __future__ import annotations

import asyncio
import base64
import json
import tempfile
from typing import Any
from urllib.parse import quote

import pytest
from fake_server import FakeServer, Reply, Seen, instant, json_reply, scratch_journal

from foxkling_widgets import AsyncFoxClient, FoxAPIError, SubmitUncertainError, TaskFailedError, VideoRequest
from foxkling_widgets._journal import Journal
from foxkling_widgets.client import RetryPolicy

pytestmark = pytest.mark.timeout(120)

FAST = RetryPolicy(attempts=3, base=0.0, cap=0.0)
#: A key of a common shape that is not ``sk-...`` (base64-ish, with ``+``, ``/`` and ``=``).
ODD_KEY = "Ab1+Cd2/Ef3+Gh4/Ij5+Kl6/Mn7+Op8="
PLAIN_KEY = "foxlive0123456789abcdefghij"


def client_for(server: FakeServer, key: str, journal: Journal | bool = False) -> AsyncFoxClient:
    return AsyncFoxClient(key, server.url, journal=journal, sleep=instant, retry=FAST)


def journal_text(journal: Journal) -> str:
    return json.dumps([vars(e) if hasattr(e, "__dict__") else repr(e) for e in journal.entries(limit=100)], default=str)


def error_of(server: FakeServer, key: str, call: str = "submit") -> FoxAPIError:
    async def go() -> FoxAPIError:
        async with client_for(server, key) as client:
            try:
                if call == "submit":
                    await client.submit(VideoRequest(prompt="a fox"))
                else:
                    await client.get_task("t-1")
            except FoxAPIError as error:
                return error
        raise AssertionError("no error raised")

    return asyncio.run(go())


def all_text(error: FoxAPIError) -> str:
    return " ".join([str(error), repr(error), json.dumps(error.to_dict(), default=str), repr(vars(error))])


# -- promise 1: a task id the server returned is never lost ------------------------------------
def test_a_5xx_submit_answer_that_names_its_task_id_keeps_the_id(server: FakeServer) -> None:
    """A gateway 500/502 whose body still carries the created task's id: the id is dropped.

    ``_call`` maps a billed 5xx to ``SubmitUncertainError`` without looking at
    ``decoded.task_id``; the journal gets only an "uncertain" row, the exception no ``task_id``.
    """
    server.answer = lambda _seen: json_reply(
        {"id": "task-paid-500", "status": "pending", "error": {"message": "upstream timeout"}}, status=502
    )
    journal = scratch_journal()

    async def go() -> FoxAPIError:
        async with client_for(server, PLAIN_KEY, journal) as client:
            try:
                await client.submit(VideoRequest(prompt="a fox"))
            except FoxAPIError as error:
                return error
        raise AssertionError("no error")

    error = asyncio.run(go())
    assert server.count("POST") == 1
    assert isinstance(error, SubmitUncertainError)
    ids = {e.task_id for e in journal.entries(limit=100)}
    assert "task-paid-500" in ids or error.task_id == "task-paid-500", (ids, error.to_dict())


def test_a_429_that_names_a_task_id_is_not_resent(server: FakeServer) -> None:
    """A 429 that carries a task id (a gateway that rate-limits after creating) is POSTed again.

    The first answer's id is discarded and a second billed POST goes out for one user action.
    """
    answers = iter([json_reply({"id": "task-first", "status": "pending"}, status=429)])

    def answer(_seen: Seen) -> Reply:
        return next(answers, json_reply({"id": "task-second", "status": "pending"}))

    server.answer = answer
    journal = scratch_journal()

    async def go() -> None:
        async with client_for(server, PLAIN_KEY, journal) as client:
            # An error answer that names a task is a possibly billed submit: named, never re-sent.
            with pytest.raises(SubmitUncertainError) as caught:
                await client.submit(VideoRequest(prompt="a fox"))
            assert caught.value.task_id == "task-first"

    asyncio.run(go())
    ids = {e.task_id for e in journal.entries(limit=100)}
    assert server.count("POST") == 1 and "task-first" in ids, (server.count("POST"), ids)


# -- promise 2: the key never leaves in any output ------------------------------------------------
def test_task_failed_error_task_field_holds_no_key(server: FakeServer) -> None:
    """``TaskFailedError.task`` (and ``WaitTimeoutError.task``) is the raw Task: never scrubbed.

    Its repr (shown by any debugger, ``%debug``, or ``logger.error("%r", err.task)``) and its
    ``raw`` and ``to_dict()`` carry an echoed key in the failure message.
    """

    def answer(seen: Seen) -> Reply:
        if seen.method == "POST":
            return json_reply({"id": "t-fail", "status": "pending"})
        return json_reply({"id": "t-fail", "status": "failed", "error": {"code": "x", "message": f"bad {PLAIN_KEY}"}})

    server.answer = answer

    async def go() -> TaskFailedError:
        async with client_for(server, PLAIN_KEY) as client:
            task = await client.submit(VideoRequest(prompt="a fox"))
            with pytest.raises(TaskFailedError) as caught:
                await client.wait(task, timeout=30)
            return caught.value

    error = asyncio.run(go())
    assert PLAIN_KEY not in str(error)  # the message itself is scrubbed ...
    leaks = [repr(error.task), json.dumps(error.task.to_dict()), json.dumps(dict(error.task.raw))]
    assert not any(PLAIN_KEY in text for text in leaks), leaks  # ... its task is not


def test_a_unicode_escaped_key_in_an_error_body_is_scrubbed(server: FakeServer) -> None:
    """A JSON error body with no ``message`` falls back to its raw text, JSON escapes and all.

    ``{"detail": "\\u0066\\u006f..."}`` is the key to any reader (``json.loads`` gives it back),
    yet it is kept verbatim in the exception's message.
    """
    escaped = "".join(f"\\u{ord(c):04x}" for c in PLAIN_KEY)
    body = ('{"detail": "invalid key ' + escaped + '"}').encode()
    server.answer = lambda _seen: Reply(401, body)
    error = error_of(server, PLAIN_KEY)
    text = all_text(error)
    decoded = text.encode().decode("unicode_escape")
    assert PLAIN_KEY not in decoded, text


def test_a_json_slash_escaped_key_is_scrubbed(server: FakeServer) -> None:
    r"""JSON may write ``/`` as ``\/``; ``_forms`` knows only ``json.dumps``'s form (``/`` kept)."""
    body = ('{"detail": "invalid key ' + ODD_KEY.replace("/", "\\/") + '"}').encode()
    server.answer = lambda _seen: Reply(401, body)
    error = error_of(server, ODD_KEY)
    assert ODD_KEY.replace("/", "\\/") not in all_text(error), all_text(error)


@pytest.mark.parametrize(
    "form",
    [
        quote(ODD_KEY),  # urllib's default (safe="/"), what most servers and proxies use
        quote(ODD_KEY, safe="").lower(),  # lowercase hex escapes
        ODD_KEY.replace("+", " "),  # form decoding turned the plus signs into spaces
    ],
    ids=["safe-slash", "lower-hex", "plus-as-space"],
)
def test_other_url_encodings_of_the_key_are_scrubbed(server: FakeServer, form: str) -> None:
    """Only ``quote(key, safe="")`` is registered; a key broken into short runs by ``+``/``/``
    escapes the fragment net too (no run of half the key stays intact)."""
    page = f"<html><body>502 Bad Gateway: upstream https://up.example/v1?key={form}</body></html>".encode()
    server.answer = lambda _seen: Reply(502, page, {"Content-Type": "text/html"})
    error = error_of(server, ODD_KEY, call="get")
    assert form not in all_text(error), all_text(error)


def test_a_base64_encoded_key_is_scrubbed(server: FakeServer) -> None:
    """A gateway that echoes the credential as Basic auth (base64) puts the key in the error."""
    echoed = base64.b64encode(f"{PLAIN_KEY}:".encode()).decode()
    page = f"<html>401: Authorization: Basic {echoed} rejected</html>".encode()
    server.answer = lambda _seen: Reply(401, page, {"Content-Type": "text/html"})
    error = error_of(server, PLAIN_KEY)
    assert echoed not in all_text(error), all_text(error)


def test_an_echoed_key_in_a_status_text_reaches_no_widget_state(server: FakeServer) -> None:
    """The task card's ``status_text`` is the server's string, unscrubbed, published to ``_tasks``."""
    from foxkling_widgets import KlingWidget

    status = f"rendering for {PLAIN_KEY}"

    def answer(seen: Seen) -> Reply:
        return json_reply({"id": "t-status", "status": status, "progress": 10})

    server.answer = answer
    client = AsyncFoxClient(PLAIN_KEY, server.url, journal=scratch_journal(), retry=FAST)
    widget = KlingWidget(client=client)
    try:
        widget.prompt = "a fox"
        generation, _future = widget._controller.start(widget.request())
        for _ in range(400):  # until the submit's answer is on the card (a condition, not a deadline)
            if generation.task is not None:
                break
            asyncio.run(asyncio.sleep(0.05))
        assert generation.task is not None
        widget._controller.publish_now()
        state = json.dumps(widget.get_state(), default=str)
        assert PLAIN_KEY not in state, [c.get("status_text") for c in widget._tasks]
    finally:
        widget.close()


def test_ctrl_c_during_a_post_answered_with_an_unreadable_body_names_the_billed_task(server: FakeServer) -> None:
    """Ctrl-C while the POST is in flight, then a 200 whose body is cut off after the id.

    The task exists and is billed (``ProtocolError`` with ``task_id``), but ``FoxClient._billed``
    treats every non-uncertain exception as "refused (nothing billed)" and raises a bare
    ``KeyboardInterrupt``: the user is not told a paid task is running, nor its id.
    """
    import os
    import signal
    import threading

    from foxkling_widgets import FoxClient
    from foxkling_widgets._exceptions import GenerationInterrupted

    server.answer = lambda _seen: Reply(200, b'{"id": "t-cut", "status": "pend', delay=1.0)
    journal = scratch_journal()
    timer = threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    with FoxClient(PLAIN_KEY, server.url, journal=journal, retry=FAST) as client:
        try:
            client.submit(VideoRequest(prompt="a fox"))
        except GenerationInterrupted as interrupted:
            caught: BaseException = interrupted
        except KeyboardInterrupt as interrupted:
            caught = interrupted
    timer.join()
    assert "t-cut" in {e.task_id for e in journal.entries(limit=10)}  # the journal has it ...
    assert isinstance(caught, GenerationInterrupted) and caught.task_id == "t-cut", repr(caught)  # ... the user not


def test_kling_magic_output_holds_no_echoed_key(server: FakeServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """``%%kling`` writes the provider's failure reason and status text into the cell output
    (saved with the notebook) through ``_safe``, which escapes HTML but does not scrub the key."""
    import IPython.display

    from foxkling_widgets._magic import kling

    def answer(seen: Seen) -> Reply:
        if seen.method == "POST":
            return json_reply({"id": "t-magic", "status": "pending"})
        return json_reply({"id": "t-magic", "status": "failed", "error": {"code": "x", "message": f"no {PLAIN_KEY}"}})

    server.answer = answer
    shown: list[str] = []

    class Handle:
        def update(self, obj: Any) -> None:
            shown.append(getattr(obj, "data", repr(obj)))

    def display(obj: Any, display_id: bool = False, **_kw: Any) -> Handle | None:
        shown.append(getattr(obj, "data", repr(obj)))
        return Handle() if display_id else None

    monkeypatch.setattr(IPython.display, "display", display)
    monkeypatch.setenv("FOXAPI_API_KEY", PLAIN_KEY)
    monkeypatch.setenv("FOXAPI_BASE_URL", server.url)
    assert kling("", "a fox") is None
    assert server.count("POST") == 1
    assert not any(PLAIN_KEY in text for text in shown), shown


def test_create_voice_with_a_malformed_url_raises_a_named_error(server: FakeServer) -> None:
    """``validate_voice_url`` lets ``urlsplit``'s raw ``ValueError("Invalid IPv6 URL")`` escape."""

    async def go() -> None:
        async with client_for(server, PLAIN_KEY) as client:
            await client.create_voice("http://[x/voice.mp3")

    with pytest.raises(FoxAPIError):
        asyncio.run(go())
    assert server.count("POST") == 0


def test_a_download_to_an_impossible_path_raises_a_named_error(server: FakeServer) -> None:
    """After a paid task completed, ``download`` to a path under a file raises a raw OSError
    (``mkdir``/``mkstemp`` are outside every ``except``), not ``DownloadError`` with the task id."""
    not_a_dir = tempfile.NamedTemporaryFile(delete=False).name  # noqa: SIM115 - a file, kept on purpose
    from foxkling_widgets._types import Task

    async def go() -> None:
        async with client_for(server, PLAIN_KEY) as client:
            await client.download(Task(id="t-done", video_url=f"{server.url}/v.mp4"), f"{not_a_dir}/sub/v.mp4")

    with pytest.raises(FoxAPIError):
        asyncio.run(go())


def _submit_outcome(server: FakeServer, journal: Journal) -> FoxAPIError | None:
    async def go() -> FoxAPIError | None:
        async with AsyncFoxClient(PLAIN_KEY, server.url, journal=journal, sleep=instant, retry=FAST) as client:
            try:
                await client.submit(VideoRequest(prompt="a fox"))
            except FoxAPIError as error:
                return error
        return None

    return asyncio.run(go())


def test_a_200_cut_off_mid_body_keeps_the_id_it_already_carried(server: FakeServer) -> None:
    """The status line and the id arrived, then the connection closed before Content-Length bytes.

    ``read_answer`` raises ``RemoteProtocolError`` inside ``_exchange``, the partial bytes are
    dropped, and the submit becomes an "uncertain" with no id, although the id was received.
    """
    partial = b'{"id": "t-partial", "status": "pending", "model": "kling'
    server.answer = lambda _seen: Reply(
        200, partial, {"Content-Type": "application/json", "Content-Length": "4096", "Connection": "close"}
    )
    journal = scratch_journal()
    error = _submit_outcome(server, journal)
    assert server.count("POST") == 1
    ids = {e.task_id for e in journal.entries(limit=10)}
    assert "t-partial" in ids, (ids, error and error.to_dict())


def test_the_scrub_filter_also_covers_a_logged_traceback(caplog: pytest.LogCaptureFixture) -> None:
    """``ScrubFilter`` rewrites ``msg``/``args`` only; ``exc_info`` is formatted later, unscrubbed.

    The package logs with ``logger.exception`` (controller hooks, publishing), so any exception
    text holding the key reaches every handler's output.
    """
    import logging

    from foxkling_widgets._secrets import register_secret

    register_secret(PLAIN_KEY)
    logger = logging.getLogger("foxkling_widgets")
    with caplog.at_level(logging.ERROR, logger="foxkling_widgets"):
        try:
            raise RuntimeError(f"upstream said: bad key {PLAIN_KEY}")
        except RuntimeError:
            logger.exception("on_finished hook failed for %s", "t-1")
    assert PLAIN_KEY not in caplog.text


def test_a_client_whose_data_directory_cannot_be_made_raises_a_named_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """``Journal.default()`` -> ``data_dir()`` -> ``mkdir`` raises a raw OSError out of the
    client's constructor (a read-only home): not ``JournalUnavailableError``, no warning-and-spool."""
    not_a_dir = tempfile.NamedTemporaryFile(delete=False).name  # noqa: SIM115 - a file, kept on purpose
    monkeypatch.setenv("FOXKLING_DATA_DIR", f"{not_a_dir}/data")
    with pytest.raises(FoxAPIError):
        AsyncFoxClient(PLAIN_KEY, "http://127.0.0.1:9")


def test_a_200_that_wraps_the_id_in_a_data_envelope_keeps_the_id(server: FakeServer) -> None:
    """Gateways often answer ``{"code": 0, "data": {"id": ...}}``: a 200 (billed) whose id is one
    level down becomes an id-less "uncertain", and neither the journal nor the error keeps the body."""
    server.answer = lambda _seen: json_reply({"code": 0, "data": {"id": "t-wrapped", "status": "pending"}})
    journal = scratch_journal()
    error = _submit_outcome(server, journal)
    ids = {e.task_id for e in journal.entries(limit=10)}
    kept = json.dumps(journal.uncertain_submits(), default=str) + (str(error) if error else "")
    assert "t-wrapped" in ids or "t-wrapped" in kept, (ids, kept)


def test_closing_the_client_after_an_interrupted_slow_submit_still_journals_its_id(
    server: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C, the grace period for the POST runs out (``GenerationInterrupted(uncertain)``), and
    leaving ``with FoxClient(...)`` closes the pool and stops the loop under the POST still in
    flight: the server answers with the billed id, which never reaches the journal.

    The grace is shortened from 60 s to keep the test short; a gateway slower than 60 s does it too.
    """
    import os
    import signal
    import threading
    import time

    from foxkling_widgets import FoxClient
    from foxkling_widgets._exceptions import GenerationInterrupted
    from foxkling_widgets.client import _sync

    monkeypatch.setattr(_sync, "SUBMIT_GRACE", 0.5)
    server.answer = lambda _seen: Reply(200, b'{"id": "t-slow", "status": "pending"}', delay=1.5)
    journal = scratch_journal()
    timer = threading.Timer(0.2, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    with pytest.raises(GenerationInterrupted), FoxClient(PLAIN_KEY, server.url, journal=journal, retry=FAST) as client:
        client.submit(VideoRequest(prompt="a fox"))
    timer.join()
    for _ in range(60):  # the server has answered by now; give the id every chance to land
        if server.count("POST") and "t-slow" in {e.task_id for e in journal.entries(limit=10)}:
            break
        time.sleep(0.1)
    assert "t-slow" in {e.task_id for e in journal.entries(limit=10)}
