"""The client against a hostile-but-plausible server, over real loopback HTTP.

Properties, not examples, where the field can vary: any 200 submit answer that carries an id
string leaves that id in the journal; nothing but a ``FoxAPIError`` (or ``ValueError`` for
input) escapes the public API; a random key of any shape never appears in any output; exactly
one POST per user action, whatever the server answers and whenever the user interrupts.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import json
import logging
import os
import signal
import tempfile
import threading
import traceback
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import httpx
import pytest
from fake_server import FakeServer, Reply, Seen, instant, json_reply, scratch_journal
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from foxkling_widgets import (
    AsyncFoxClient,
    DownloadError,
    FoxAPIError,
    FoxClient,
    InvalidRequestError,
    ProtocolError,
    Segment,
    SubmitUncertainError,
    TaskFailedError,
    TaskStatus,
    VideoRequest,
)
from foxkling_widgets._exceptions import GenerationInterrupted
from foxkling_widgets._journal import Journal
from foxkling_widgets._secrets import forget_all
from foxkling_widgets.client import RetryPolicy
from foxkling_widgets.client._async import RESULT_GRACE, looks_like_video
from foxkling_widgets.client._http import parse_retry_after, same_origin, task_path

pytestmark = pytest.mark.timeout(300)

KEY = "sk-hostile-0123456789abcdefghij"
FAST = RetryPolicy(attempts=3, base=0.0, cap=0.0)
MP4 = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + b"\x00" * 64
SLOW = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def client_for(server: FakeServer, journal: Journal | bool = False, key: str = KEY, **kwargs: Any) -> AsyncFoxClient:
    return AsyncFoxClient(key, server.url, journal=journal, sleep=instant, retry=FAST, **kwargs)


def task_ids(journal: Journal) -> set[str]:
    return {e.task_id for e in journal.entries(limit=1000)}


# -- submit answers: the id survives anything ---------------------------------------------------
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=10,
)
odd_fields = st.dictionaries(
    st.sampled_from(["created", "output", "results", "progress", "status", "task_info", "usage", "error", "model"]),
    json_values,
    max_size=6,
)
ids = st.text(min_size=1, max_size=60).filter(lambda s: s.strip() != "")


@SLOW
@given(task_id=ids, fields=odd_fields, splice=st.sampled_from(["", "1e999", "-1e999", "NaN", '"nan"']))
def test_any_200_submit_answer_with_an_id_leaves_the_id_in_the_journal(
    server: FakeServer, task_id: str, fields: dict[str, Any], splice: str
) -> None:
    body = json.dumps({**fields, "id": task_id}, allow_nan=True)
    if splice:  # numbers JSON cannot carry in Python, put in by hand
        body = body[:-1] + f', "created": {splice}, "progress": {splice}}}'
    server.answer = lambda _seen: Reply(200, body.encode())
    journal = scratch_journal()
    posts = server.count("POST")

    async def go() -> None:
        async with client_for(server, journal) as client:
            try:
                task = await client.submit(VideoRequest(prompt="a fox"))
                assert task.id == task_id.strip()
            except FoxAPIError as error:
                assert error.task_id == task_id.strip(), error

    asyncio.run(go())
    assert server.count("POST") == posts + 1
    assert task_id.strip() in task_ids(journal)


@pytest.mark.parametrize(
    "body",
    [
        b'{"id": "task-big", "junk": "' + b"x" * (2 * 1024 * 1024) + b'"}',
        b'{"id": "task-deep", "x": ' + b"[" * 50_000 + b"]" * 50_000 + b"}",
        b'{"id": "task-cut", "status": "pend',
        b'{"id": "task-list", "output": {"urls": 5}, "results": "nope", "created": "nan"}',
    ],
    ids=["2MB", "deep", "truncated", "wrong-types"],
)
def test_odd_submit_answers_keep_the_id(server: FakeServer, body: bytes) -> None:
    server.answer = lambda _seen: Reply(200, body)
    journal = scratch_journal()
    expected = body.split(b'"')[3].decode()
    with FoxClient(KEY, server.url, journal=journal, retry=FAST) as client:
        try:
            task = client.submit(VideoRequest(prompt="a fox"))
            assert task.id == expected
        except ProtocolError as error:
            assert error.task_id == expected and expected in str(error)
    assert expected in task_ids(journal) and server.count("POST") == 1


@pytest.mark.parametrize(
    "reply",
    [
        Reply(200, b"[1, 2, 3]"),
        Reply(200, b"<html>hello</html>", {"Content-Type": "text/html"}),
        json_reply({"status": "pending"}),
        json_reply({"id": {"nested": "object"}}),
        Reply(500, b'{"error": {"message": "upstream"}}'),
        Reply(302, b"", {"Location": "/elsewhere"}),
        Reply(drop=True),
    ],
    ids=["list", "html", "no-id", "object-id", "500", "redirect", "dropped"],
)
def test_submit_answers_without_an_id_are_uncertain_and_never_resent(server: FakeServer, reply: Reply) -> None:
    server.answer = lambda _seen: reply
    journal = scratch_journal()
    with FoxClient(KEY, server.url, journal=journal, retry=FAST) as client, pytest.raises(SubmitUncertainError):
        client.submit(VideoRequest(prompt="a fox"))
    assert server.count("POST") == 1
    assert [i["state"] for i in journal.uncertain_submits()] == ["uncertain"]


# -- statuses, polling ------------------------------------------------------------------------
@pytest.mark.parametrize("word", ["error", "failure", "canceled", "expired", "timeout", "ERROR", "timed-out"])
@pytest.mark.parametrize("with_error", [True, False])
def test_terminal_looking_statuses_end_the_task(server: FakeServer, word: str, with_error: bool) -> None:
    body: dict[str, Any] = {"id": "t-1", "status": word}
    if with_error:
        body["error"] = {"message": "the upstream gave up", "code": "upstream_error"}
    server.answer = lambda _seen: json_reply(body)

    async def go() -> TaskFailedError:
        async with client_for(server) as client:
            with pytest.raises(TaskFailedError) as caught:
                await client.wait("t-1", timeout=None)
            return caught.value

    error = asyncio.run(go())
    assert server.count("GET") == 1
    assert error.task_id == "t-1"
    if with_error:
        assert error.code == "upstream_error" and "upstream gave up" in error.message


@given(st.text(max_size=30))
def test_any_status_string_parses(word: str) -> None:
    assert isinstance(TaskStatus.parse(word), TaskStatus)


def test_completed_without_a_result_gives_up_after_a_bound_and_keeps_the_id(server: FakeServer) -> None:
    server.answer = lambda _seen: json_reply({"id": "t-late", "status": "completed", "progress": 100, "results": None})
    now = [0.0]

    async def sleep(seconds: float) -> None:
        now[0] += seconds
        await asyncio.sleep(0)

    async def go() -> ProtocolError:
        async with AsyncFoxClient(
            KEY, server.url, journal=False, sleep=sleep, clock=lambda: now[0], retry=FAST
        ) as client:
            with pytest.raises(ProtocolError) as caught:
                await client.wait("t-late", timeout=None)
            return caught.value

    error = asyncio.run(go())
    assert error.task_id == "t-late" and "resume" in error.hint
    assert RESULT_GRACE <= now[0] <= RESULT_GRACE + 60
    # The old schedule polled every 0.5 s forever (1,200 GETs in 10 minutes); it backs off now.
    assert server.count("GET") <= RESULT_GRACE / 3


@SLOW
@given(task_id=st.text(min_size=1, max_size=40).filter(lambda s: s.strip() != ""))
def test_task_ids_travel_as_one_path_segment(server: FakeServer, task_id: str) -> None:
    server.reset()
    server.answer = lambda seen: json_reply({"id": task_id, "status": "processing"})

    async def go() -> None:
        async with client_for(server) as client:
            await client.get_task(task_id)

    asyncio.run(go())
    path = server.requests[-1].path
    assert path.startswith("/v1/tasks/")
    segment = path[len("/v1/tasks/") :]
    assert "/" not in segment and "?" not in segment and "#" not in segment
    assert unquote(segment) == task_id
    assert task_path(task_id) == "/v1/tasks/" + segment


# -- Retry-After ------------------------------------------------------------------------------
@given(st.text(max_size=40) | st.sampled_from(["soon", "60s", "-5", "1e999", "nan", "Wed, 21 Oct 2015 07:28:00 GMT"]))
def test_retry_after_in_any_form_never_raises(value: str) -> None:
    seconds = parse_retry_after(value)
    assert seconds is None or 0.0 <= seconds <= 120.0


def test_junk_retry_after_on_a_get_is_retried(server: FakeServer) -> None:
    replies = iter([Reply(429, b"{}", {"Retry-After": "soon"}), json_reply({"id": "t", "status": "processing"})])
    server.answer = lambda _seen: next(replies)

    async def go() -> None:
        async with client_for(server) as client:
            assert (await client.get_task("t")).status is TaskStatus.PROCESSING

    asyncio.run(go())
    assert server.count("GET") == 2


# -- downloads --------------------------------------------------------------------------------
def download(server: FakeServer, url: str, target: Path, base_url: str | None = None) -> Path:
    async def go() -> Path:
        async with AsyncFoxClient(KEY, base_url or server.url, journal=False, sleep=instant, retry=FAST) as client:
            return await client.download(url, target)

    return asyncio.run(go())


def test_gzip_encoded_result_is_saved_decoded(server: FakeServer, tmp_path: Path) -> None:
    server.answer = lambda _seen: Reply(200, gzip.compress(MP4), {"Content-Encoding": "gzip"})
    path = download(server, f"{server.url}/files/v.mp4", tmp_path / "v.mp4")
    assert path.read_bytes() == MP4
    assert server.requests[-1].headers["accept-encoding"] == "identity"


@pytest.mark.parametrize(
    "reply",
    [
        Reply(200, b"<html>not a video</html>"),
        Reply(200, b'{"error": "nope"}'),
        Reply(302, b"", {"Location": "/loop"}),
        Reply(200, b""),
        Reply(302, b"", {"Location": "http://[broken/v.mp4"}),
        Reply(302, b"", {"Location": "file:///etc/passwd"}),
    ],
    ids=["html", "json", "redirect-loop", "empty", "broken-location", "file-location"],
)
def test_non_videos_and_redirect_loops_are_never_saved(server: FakeServer, tmp_path: Path, reply: Reply) -> None:
    server.answer = lambda _seen: reply
    with pytest.raises(DownloadError) as caught:
        download(server, f"{server.url}/files/v.mp4", tmp_path / "v.mp4")
    assert list(tmp_path.iterdir()) == []
    assert caught.value.code in ("not_a_video", "bad_redirect", None)


@SLOW
@given(hops=st.integers(0, 5), status=st.sampled_from([301, 302, 303, 307, 308]))
def test_redirects_are_followed_without_the_key(server: FakeServer, hops: int, status: int) -> None:
    server.reset()

    def answer(seen: Seen) -> Reply:
        n = int(seen.path.rsplit("/", 1)[-1].split(".")[0])
        if n < hops:
            return Reply(status, b"", {"Location": f"{server.url}/files/{n + 1}.mp4"})
        return Reply(200, MP4)

    server.answer = answer
    target = Path(tempfile.mkdtemp()) / "v.mp4"
    download(server, f"{server.url}/files/0.mp4", target)
    assert target.read_bytes() == MP4
    seen = server.requests
    assert len(seen) == hops + 1
    assert seen[0].headers.get("authorization") == f"Bearer {KEY}"  # the API's own origin, first hop
    assert all("authorization" not in s.headers for s in seen[1:])


def test_the_key_goes_only_to_the_api_origin(server: FakeServer, tmp_path: Path) -> None:
    server.answer = lambda _seen: Reply(200, MP4)
    other_port = f"http://127.0.0.1:{server.port + 1 if server.port < 65535 else server.port - 1}"
    download(server, f"{server.url}/a.mp4", tmp_path / "a.mp4", base_url=f"http://localhost:{server.port}")
    download(server, f"{server.url}/b.mp4", tmp_path / "b.mp4", base_url=other_port)
    download(server, f"{server.url}/c.mp4", tmp_path / "c.mp4")
    keys = [s.headers.get("authorization") for s in server.requests]
    assert keys == [None, None, f"Bearer {KEY}"]


def test_an_https_base_never_sends_the_key_over_http(tmp_path: Path) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, stream=httpx.ByteStream(MP4))

    async def go() -> None:
        async with AsyncFoxClient(
            KEY, "https://api.example", journal=False, transport=httpx.MockTransport(handler), retry=FAST
        ) as client:
            await client.download("http://api.example/files/v.mp4", tmp_path / "a.mp4")
            await client.download("https://api.example:8443/files/v.mp4", tmp_path / "b.mp4")
            await client.download("https://api.example/files/v.mp4", tmp_path / "c.mp4")

    asyncio.run(go())
    assert [r.headers.get("authorization") for r in seen] == [None, None, f"Bearer {KEY}"]


@given(st.from_regex(r"(https?|ftp|file)://[a-z.]{1,12}(:[0-9]{1,5})?/x", fullmatch=True))
def test_same_origin_needs_scheme_host_and_port(url: str) -> None:
    base = "https://api.example"
    assert same_origin(url, base) == (url in ("https://api.example/x", "https://api.example:443/x"))


def test_bodies_that_do_not_decode_are_named_errors(server: FakeServer, tmp_path: Path) -> None:
    server.answer = lambda _seen: Reply(200, b"this is not gzip at all", {"Content-Encoding": "gzip"})
    with pytest.raises(DownloadError):
        download(server, f"{server.url}/v.mp4", tmp_path / "v.mp4")
    assert list(tmp_path.iterdir()) == []

    async def poll() -> None:
        async with client_for(server) as client:
            await client.get_task("t")

    with pytest.raises(FoxAPIError):
        asyncio.run(poll())
    with FoxClient(KEY, server.url, journal=False, retry=FAST) as client, pytest.raises(SubmitUncertainError):
        client.submit(VideoRequest(prompt="a fox"))


def test_stale_part_files_are_cleaned_up(server: FakeServer, tmp_path: Path) -> None:
    stale = tmp_path / ".v.mp4.abc123.part"
    stale.write_bytes(b"half a video")
    os.utime(stale, (1_000_000, 1_000_000))
    fresh = tmp_path / ".v.mp4.live99.part"  # another process downloading right now
    fresh.write_bytes(b"in progress")
    server.answer = lambda _seen: Reply(200, MP4)
    download(server, f"{server.url}/v.mp4", tmp_path / "v.mp4")
    assert not stale.exists() and fresh.exists() and (tmp_path / "v.mp4").read_bytes() == MP4


def test_video_signatures() -> None:
    assert looks_like_video(MP4[:12]) and looks_like_video(b"\x1a\x45\xdf\xa3" + b"\x00" * 8)
    assert not looks_like_video(b"<html><body>") and not looks_like_video(b"")


# -- inputs -----------------------------------------------------------------------------------
any_value = st.none() | st.booleans() | st.integers() | st.text(max_size=5) | st.lists(st.integers(), max_size=2)


@SLOW
@given(
    voice_ids=any_value | st.just("v1"),
    segments=any_value | st.lists(any_value, max_size=2),
    duration=any_value,
    generate_audio=any_value,
)
def test_wrong_input_types_are_invalid_requests_that_send_nothing(
    server: FakeServer, voice_ids: Any, segments: Any, duration: Any, generate_audio: Any
) -> None:
    server.reset()
    server.answer = lambda _seen: json_reply({"id": "t", "status": "pending"})

    async def go() -> None:
        async with client_for(server) as client:
            request = VideoRequest(
                prompt="a fox", voice_ids=voice_ids, segments=segments, duration=duration, generate_audio=generate_audio
            )
            try:
                await client.submit(request)
            except InvalidRequestError:
                return
            # Sent: then it was valid, and what went on the wire is what the user meant.
            sent = json.loads(server.requests[-1].body)
            if isinstance(voice_ids, str) and voice_ids:
                raise AssertionError(f"a bare string was sent as voice ids: {sent}")

    asyncio.run(go())
    assert server.count("POST") <= 1


def test_a_string_of_voice_ids_is_not_split() -> None:
    request = VideoRequest(prompt="hi", generate_audio=True, voice_ids="v1")
    assert request.to_payload()["voice_ids"] == "v1"
    with pytest.raises(InvalidRequestError) as caught:
        request.validate()
    assert caught.value.field == "voice_ids"
    with pytest.raises(InvalidRequestError):
        VideoRequest(prompt="hi", segments=[5]).validate()  # type: ignore[list-item]
    assert VideoRequest(prompt="", segments=[("a", 5)], duration=5).shots == (Segment("a", 5),)


# -- the key ----------------------------------------------------------------------------------
keys = st.text(min_size=1, max_size=60)


def echoing(key_seen: list[str]) -> Any:
    def answer(seen: Seen) -> Reply:
        auth = seen.headers.get("authorization", "")
        key_seen.append(auth)
        echo = auth.removeprefix("Bearer ")
        body = {"error": {"message": f"bad key {auth}", "type": echo, "code": echo, "param": echo}, "key": echo}
        return Reply(
            401,
            json.dumps(body).encode(),
            {"Content-Type": "application/json", "X-Request-Id": echo.encode("latin-1", "replace").decode("latin-1")},
        )

    return answer


def outputs_with_key(server: FakeServer, key: str, caplog: pytest.LogCaptureFixture) -> tuple[list[str], list[str]]:
    """Everything a user could see after a submit with ``key`` that the server echoes back, and what it saw."""
    forget_all()
    caplog.clear()
    server.reset()
    seen: list[str] = []
    server.answer = echoing(seen)
    journal = scratch_journal()
    texts: list[str] = []
    try:
        with FoxClient(key, server.url, journal=journal, retry=FAST) as client:
            texts += [repr(client), str(client)]
            try:
                client.submit(VideoRequest(prompt="a fox"))
            except FoxAPIError as error:
                texts += [str(error), repr(error), json.dumps(error.to_dict()), json.dumps(error.body, default=str)]
                texts += ["".join(traceback.format_exception(error))]
    except InvalidRequestError as error:  # a key that can never be sent: refused before anything
        texts += [str(error), repr(error), "".join(traceback.format_exception(error))]
        assert seen == [] and error.field == "api_key"
    texts.append(caplog.text)
    journal.close()
    texts.append(journal.path.read_bytes().decode("latin-1"))
    return texts, seen


@SLOW
@given(key=keys)
def test_a_random_key_never_appears_in_any_output(
    server: FakeServer, key: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="foxkling_widgets")
    # What the same flow shows with another key: a "key" that is part of our own text (a key
    # "FoxClien" is in every repr) cannot tell a leak apart, so such keys are passed over.
    corpus = "\n".join(outputs_with_key(server, "sk-corpus-key-00000000", caplog)[0])
    stripped = key.strip()
    assume(stripped not in corpus)
    texts, _seen = outputs_with_key(server, key, caplog)
    if len(stripped) >= 8:
        for text in texts:
            assert stripped not in text


@pytest.mark.parametrize(
    "key", ["sk-abc\ndef-0123456789", "sk-abc\rdef-0123456789", "sk-abc\x00def-01234", "sk-ключ-0123456789"]
)
def test_keys_that_cannot_be_sent_are_refused_up_front(server: FakeServer, key: str) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        FoxClient(key, server.url, journal=scratch_journal())
    assert caught.value.field == "api_key" and key not in str(caught.value)
    assert server.requests == []


def test_userinfo_in_the_base_url_is_refused_and_never_shown(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FOXAPI_BASE_URL", "http://fox:hunter2-password@127.0.0.1:9")
    with pytest.raises(InvalidRequestError) as caught:
        AsyncFoxClient(KEY)
    text = str(caught.value) + repr(caught.value)
    assert "hunter2" not in text and "user name or password" in text


# -- interrupts -------------------------------------------------------------------------------
def interrupt_after(seconds: float) -> threading.Timer:
    # A real SIGINT, as Ctrl-C sends: it interrupts the main thread's blocking wait.
    timer = threading.Timer(seconds, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    return timer


@pytest.mark.parametrize("presses", [1, 2])
def test_ctrl_c_during_the_post_lets_it_finish_and_names_the_task(server: FakeServer, presses: int) -> None:
    server.answer = lambda seen: (
        json_reply({"id": "t-paid", "status": "pending"}) if seen.method == "POST" else json_reply({"id": "t-paid"})
    )
    slow = server.answer
    server.answer = lambda seen: Reply(**{**slow(seen).__dict__, "delay": 1.0})
    journal = scratch_journal()
    timers = [interrupt_after(0.3 + 0.2 * n) for n in range(presses)]
    with (
        FoxClient(KEY, server.url, journal=journal, retry=FAST) as client,
        pytest.raises(GenerationInterrupted) as caught,
    ):
        client.submit(VideoRequest(prompt="a fox"))
    for timer in timers:
        timer.join()
    assert caught.value.task_id == "t-paid" and "foxkling download t-paid" in str(caught.value)
    assert server.count("POST") == 1 and "t-paid" in task_ids(journal)


def test_ctrl_c_while_waiting_names_the_task(server: FakeServer) -> None:
    server.answer = lambda seen: json_reply(
        {"id": "t-wait", "status": "processing" if seen.method == "GET" else "pending"}
    )
    journal = scratch_journal()
    timer = interrupt_after(0.5)
    with (
        FoxClient(KEY, server.url, journal=journal, retry=FAST) as client,
        pytest.raises(GenerationInterrupted) as caught,
    ):
        client.generate(VideoRequest(prompt="a fox"), timeout=30)
    timer.join()
    assert caught.value.task_id == "t-wait" and server.count("POST") == 1 and "t-wait" in task_ids(journal)


def test_cancelling_an_async_submit_does_not_cut_off_the_post(server: FakeServer) -> None:
    server.answer = lambda seen: Reply(**{**json_reply({"id": "t-async", "status": "pending"}).__dict__, "delay": 0.5})
    journal = scratch_journal()

    async def go() -> None:
        async with client_for(server, journal) as client:
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(client.submit(VideoRequest(prompt="a fox")), 0.1)
            await asyncio.sleep(1.0)  # the shielded POST lands meanwhile

    asyncio.run(go())
    assert server.count("POST") == 1 and "t-async" in task_ids(journal)


def test_a_submit_whose_intent_cannot_be_written_is_not_sent(server: FakeServer) -> None:
    from foxkling_widgets import JournalUnavailableError

    class Full(Journal):
        def record_intent(self, payload: dict[str, Any], base_url: str) -> int | None:
            raise JournalUnavailableError("disk full")

    journal = Full(Path(tempfile.mkdtemp()) / "j.sqlite3")
    with FoxClient(KEY, server.url, journal=journal, retry=FAST) as client, pytest.raises(JournalUnavailableError):
        client.submit(VideoRequest(prompt="a fox"))
    assert server.count("POST") == 0


def test_an_echoed_key_reaches_no_widget_state_or_saved_output(server: FakeServer) -> None:
    from foxkling_widgets import KlingWidget

    key = "Zq9-odd_shape.key~with+chars"  # not sk-...: only scrubbing by value can catch it
    server.answer = echoing([])
    client = AsyncFoxClient(key, server.url, journal=scratch_journal(), sleep=instant, retry=FAST)
    widget = KlingWidget(client=client)
    widget.prompt = "a fox"
    generation, future = widget._controller.start(widget.request())
    with pytest.raises(FoxAPIError):
        future.result(timeout=30)
    widget._controller._flush()
    state = json.dumps(widget.get_state(), default=str)
    assert generation.error and "bad key" in generation.error["message"]
    for text in (state, widget._fallback_html(), repr(widget.tasks)):
        assert key not in text
    widget.close()


replies = st.builds(
    Reply,
    status=st.sampled_from([200, 201, 204, 301, 302, 304, 400, 401, 402, 403, 404, 410, 422, 429, 500, 503, 599]),
    body=st.binary(max_size=64) | json_values.map(lambda v: json.dumps(v, allow_nan=True).encode()),
    headers=st.fixed_dictionaries(
        {},
        optional={
            "Content-Encoding": st.sampled_from(["gzip", "deflate", "br", "identity", "x-junk"]),
            # Header values travel as latin-1: what an HTTP server can send at all.
            "Retry-After": st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=12),
            "Location": st.sampled_from(["/x", "http://[bad/", "file:///etc/passwd", "", "//other/x.mp4"]),
            "Content-Type": st.sampled_from(["application/json", "text/html", "video/mp4"]),
        },
    ),
)


@SLOW
@given(reply=replies)
def test_nothing_but_named_errors_escape_whatever_the_server_answers(server: FakeServer, reply: Reply) -> None:
    server.reset()
    server.answer = lambda _seen: reply
    target = Path(tempfile.mkdtemp()) / "v.mp4"

    async def go() -> None:
        async with client_for(server, scratch_journal()) as client:
            for call in (
                lambda: client.submit(VideoRequest(prompt="a fox")),
                lambda: client.get_task("t-1"),
                lambda: client.wait("t-1", timeout=5),
                lambda: client.download(f"{server.url}/v.mp4", target),
            ):
                with contextlib.suppress(FoxAPIError):  # anything else fails the test
                    await call()

    asyncio.run(go())
    # Exactly one, whatever it was answered; only a 429 (refused before any work) is tried again.
    assert server.count("POST") == (FAST.attempts if reply.status == 429 else 1)
