"""The client at three depths: a counting mock transport, the emulator in-process (ASGI), and the
emulator on real loopback HTTP with every fault the contract describes.

The money rule is asserted, not assumed: after an ambiguous submit failure exactly one POST
reached the server, and nothing is re-sent.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from foxkling_widgets import (
    APIConnectionError,
    AsyncFoxClient,
    AuthenticationError,
    BlockedClientError,
    DownloadError,
    FoxClient,
    InsufficientCreditsError,
    InvalidRequestError,
    MissingAPIKeyError,
    NotFoundError,
    ProtocolError,
    RateLimitError,
    ResultExpiredError,
    Segment,
    ServerError,
    SubmitUncertainError,
    TaskFailedError,
    TaskStatus,
    VideoRequest,
    WaitTimeoutError,
)
from foxkling_widgets.client import USER_AGENT, RetryPolicy
from foxkling_widgets.emulator import EmulatorConfig, EmulatorServer, create_app

pytestmark = pytest.mark.timeout(120)

KEY = "sk-test-secret-0123456789abcdef"
REQUEST = VideoRequest(prompt="a red fox in snow")
FAST_RETRY = RetryPolicy(attempts=3, base=0.0, cap=0.0)


async def no_sleep(_seconds: float) -> None:
    return None


# -- depth 1: a counting mock transport ----------------------------------------------------
class Counting:
    """A MockTransport handler that answers from a script and counts requests by method."""

    def __init__(self, *answers: Callable[[httpx.Request], httpx.Response]) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        return answer(request)

    def count(self, method: str) -> int:
        return sum(1 for r in self.requests if r.method == method)


def submit_ok(_request: httpx.Request) -> httpx.Response:
    return httpx.Response(
        200,
        json={
            "id": "task-unified-1700000000-abcd1234",
            "status": "pending",
            "progress": 0,
            "task_info": {"can_cancel": True, "estimated_time": 60},
            "usage": {"credits_reserved": 5},
        },
    )


def status(
    code: int, body: Any = None, headers: dict[str, str] | None = None
) -> Callable[[httpx.Request], httpx.Response]:
    def answer(_request: httpx.Request) -> httpx.Response:
        if isinstance(body, str):
            return httpx.Response(code, text=body, headers=headers)
        return httpx.Response(code, json=body or {"error": {"message": "x", "type": "server_error"}}, headers=headers)

    return answer


def raises(error: Exception) -> Callable[[httpx.Request], httpx.Response]:
    def answer(_request: httpx.Request) -> httpx.Response:
        raise error

    return answer


def mock_client(handler: Counting) -> AsyncFoxClient:
    return AsyncFoxClient(
        KEY, "https://api.example", transport=httpx.MockTransport(handler), sleep=no_sleep, retry=FAST_RETRY
    )


@pytest.mark.parametrize(
    "answer",
    [
        status(500),
        status(503, {"error": {"message": "upstream", "type": "service_unavailable_error"}}),
        status(502, "<html><body>Bad gateway</body></html>"),
        status(200, "not json at all"),
        raises(httpx.ReadTimeout("read timed out")),
        raises(httpx.RemoteProtocolError("peer closed connection")),
        raises(httpx.ReadError("connection reset by peer")),
        raises(httpx.WriteError("broken pipe")),
    ],
    ids=["500", "503", "html-502", "200-not-json", "read-timeout", "dropped", "reset", "write-error"],
)
async def test_ambiguous_submit_failure_sends_exactly_one_post(
    answer: Callable[[httpx.Request], httpx.Response],
) -> None:
    handler = Counting(answer)
    async with mock_client(handler) as client:
        with pytest.raises(SubmitUncertainError) as caught:
            await client.submit(REQUEST)
    assert handler.count("POST") == 1
    assert "NOT re-sent" in caught.value.hint


async def test_submit_retries_429_honouring_retry_after() -> None:
    slept: list[float] = []

    async def record(seconds: float) -> None:
        slept.append(seconds)

    handler = Counting(
        status(429, {"error": {"message": "slow", "type": "rate_limit_error"}}, {"Retry-After": "3"}), submit_ok
    )
    client = AsyncFoxClient(KEY, "https://api.example", transport=httpx.MockTransport(handler), sleep=record)
    async with client:
        task = await client.submit(REQUEST)
    assert task.id.startswith("task-unified-") and handler.count("POST") == 2 and slept == [3.0]


async def test_submit_retries_connect_errors_before_anything_was_sent() -> None:
    handler = Counting(raises(httpx.ConnectError("refused")), submit_ok)
    async with mock_client(handler) as client:
        await client.submit(REQUEST)
    assert handler.count("POST") == 2  # the first never reached a server


async def test_gets_retry_5xx_and_transport_errors() -> None:
    done = {"id": "t", "status": "completed", "progress": 100, "results": [{"url": "https://cdn.example/v.mp4"}]}
    handler = Counting(status(500), raises(httpx.ReadError("reset")), status(200, done))
    async with mock_client(handler) as client:
        task = await client.get_task("t")
    assert task.done and handler.count("GET") == 3


async def test_gets_give_up_with_named_errors() -> None:
    async with mock_client(Counting(status(503))) as client:
        with pytest.raises(ServerError):
            await client.get_task("t")
    async with mock_client(Counting(raises(httpx.ConnectError("refused")))) as client:
        with pytest.raises(APIConnectionError):
            await client.get_task("t")
    async with mock_client(Counting(status(429, {"error": {"message": "no", "type": "rate_limit_error"}}))) as client:
        with pytest.raises(RateLimitError):
            await client.get_task("t")


@pytest.mark.parametrize(
    ("request_", "field"),
    [
        (VideoRequest(prompt=""), "prompt"),
        (VideoRequest(prompt="x" * 2501), "prompt"),
        (VideoRequest(prompt="p", duration=7), "duration"),
        (VideoRequest(prompt="p", resolution="8k"), "resolution"),
        (VideoRequest(prompt="p", aspect_ratio="4:3"), "aspect_ratio"),
        (VideoRequest(prompt="p", voice_ids=["a"]), "voice_ids"),
        (VideoRequest(prompt="p", generate_audio=True, voice_ids=["a", "b", "c"]), "voice_ids"),
        (VideoRequest(prompt="<<<voice_1>>>"), "prompt"),
        (VideoRequest(duration=10, segments=[Segment("a", 6), Segment("b", 3)]), "multi_prompt"),
        (VideoRequest(duration=5, segments=[Segment("", 5)]), "multi_prompt[0].prompt"),
        (VideoRequest(duration=10, segments=[Segment("a", 1)] * 7), "multi_prompt"),
    ],
)
async def test_invalid_requests_send_nothing(request_: VideoRequest, field: str) -> None:
    handler = Counting(submit_ok)
    async with mock_client(handler) as client:
        with pytest.raises(InvalidRequestError) as caught:
            await client.submit(request_)
    assert handler.requests == []
    assert field in {p.field for p in caught.value.problems}


async def test_bad_voice_url_and_missing_key_send_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    handler = Counting(submit_ok)
    async with mock_client(handler) as client:
        with pytest.raises(InvalidRequestError):
            await client.create_voice("ftp://example.com/me.wav")
    monkeypatch.delenv("FOXAPI_API_KEY", raising=False)
    async with AsyncFoxClient(base_url="https://api.example", transport=httpx.MockTransport(handler)) as client:
        with pytest.raises(MissingAPIKeyError) as caught:
            await client.submit(REQUEST)
    assert handler.requests == []
    assert "FOXAPI_API_KEY" in str(caught.value) and isinstance(caught.value, ValueError)


async def test_every_request_sends_our_user_agent_and_bearer_key() -> None:
    handler = Counting(submit_ok)
    async with mock_client(handler) as client:
        await client.submit(REQUEST)
    (sent,) = handler.requests
    assert sent.headers["user-agent"] == USER_AGENT.strip() and USER_AGENT.startswith("foxkling-widgets/")
    assert sent.headers["authorization"] == f"Bearer {KEY}"
    assert json.loads(sent.content) == {"model": "kling-v3-text-to-video", "prompt": "a red fox in snow"}


async def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FOXAPI_API_KEY", KEY)
    monkeypatch.setenv("FOXAPI_BASE_URL", "https://api.aihubmax.com/")
    async with AsyncFoxClient() as client:
        assert client.base_url == "https://api.aihubmax.com" and client.has_key and client.mode == "live"
    async with AsyncFoxClient(api_key="sk-other", base_url="https://api.foxapi.cc") as client:
        assert client.base_url == "https://api.foxapi.cc"


async def test_download_sends_the_key_only_to_the_api_host(tmp_path: Path) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, stream=httpx.ByteStream(b"\x00\x00\x00\x18ftypmp42" + b"x" * 100))

    client = AsyncFoxClient(KEY, "https://api.example", transport=httpx.MockTransport(handler), sleep=no_sleep)
    async with client:
        await client.download("https://cdn.other.example/v.mp4", tmp_path / "a.mp4")
        await client.download("https://api.example/files/v.mp4", tmp_path / "b.mp4")
        with pytest.raises(DownloadError):
            await client.download("file:///etc/passwd", tmp_path / "c.mp4")
    assert "authorization" not in seen[0].headers and seen[1].headers["authorization"] == f"Bearer {KEY}"


async def test_download_caps_size_and_leaves_no_partial_file(tmp_path: Path) -> None:
    def handler(_request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, stream=httpx.ByteStream(b"x" * 5000))

    async with AsyncFoxClient(
        KEY, "https://api.example", transport=httpx.MockTransport(handler), sleep=no_sleep
    ) as client:
        with pytest.raises(DownloadError):
            await client.download("https://api.example/files/v.mp4", tmp_path / "v.mp4", max_bytes=1000)
    assert list(tmp_path.iterdir()) == []


# -- the key never leaks ------------------------------------------------------------------
async def test_key_appears_in_no_repr_error_or_log(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    texts: list[str] = []
    answers = [
        status(401, {"error": {"message": f"bad key {KEY}", "type": "authentication_error"}}),
        status(500),
        status(422, {"error": {"message": "nope", "type": "invalid_request_error", "code": "model_not_found"}}),
    ]
    for answer in answers:
        async with mock_client(Counting(answer)) as client:
            texts += [repr(client), str(client)]
            try:
                await client.submit(REQUEST)
            except Exception as error:  # noqa: BLE001 - every error's text is checked
                import traceback

                texts += [str(error), repr(error), "".join(traceback.format_exception(error))]
    sync = FoxClient(KEY, "https://api.example", transport=httpx.MockTransport(Counting(submit_ok)))
    texts += [repr(sync), str(sync)]
    sync.close()
    texts.append(caplog.text)
    assert caplog.records, "DEBUG logging captured nothing: the check would be vacuous"
    for text in texts:
        assert KEY not in text and KEY[8:] not in text


# -- depth 2: the emulator in-process --------------------------------------------------------
@pytest.fixture(params=["A", "B"])
async def asgi(request: pytest.FixtureRequest) -> AsyncIterator[tuple[AsyncFoxClient, Any]]:
    app = create_app(EmulatorConfig(seconds_per_video=0, render=False, response_shape=request.param))
    client = AsyncFoxClient(
        KEY, "http://emulator", transport=httpx.ASGITransport(app), sleep=no_sleep, retry=FAST_RETRY
    )
    async with client:
        yield client, app.state.emulator
    app.state.emulator.close()


async def _finish(client: AsyncFoxClient, **kwargs: Any) -> Any:
    # Rendering runs in a worker thread; a real sleep between polls lets it finish.
    client._sleep = lambda s: asyncio.sleep(min(s, 0.05))
    return await client.wait(await client.submit(kwargs.pop("request", REQUEST)), **kwargs)


async def test_asgi_full_flow_both_shapes(asgi: tuple[AsyncFoxClient, Any], tmp_path: Path) -> None:
    client, emulator = asgi
    seen: list[float] = []
    task = await _finish(client, on_progress=lambda t: seen.append(t.progress))
    assert task.status is TaskStatus.COMPLETED and task.video_url and task.credits_reserved
    path = await client.download(task, tmp_path)
    assert path.name == f"{task.id}.mp4" and path.read_bytes()[4:8] == b"ftyp"
    assert emulator.stats["posts"] == 1 and seen[-1] == 100


async def test_asgi_race_unknown_status_and_cancel(asgi: tuple[AsyncFoxClient, Any]) -> None:
    client, emulator = asgi
    emulator.inject("completed_without_results", times=2)
    emulator.inject("unknown_status", times=2)
    statuses: list[str] = []
    task = await _finish(client, on_progress=lambda t: statuses.append(t.status_text))
    assert task.done and "queued_upstream" in statuses and statuses.count("completed") >= 3
    emulator.inject("cancelled")
    with pytest.raises(TaskFailedError) as caught:
        await _finish(client)
    assert caught.value.task.status is TaskStatus.CANCELLED


async def test_asgi_task_failures_carry_the_code(asgi: tuple[AsyncFoxClient, Any]) -> None:
    client, _ = asgi
    for marker, code in (
        ("[fail:content_policy]", "content_policy_violation"),
        ("[fail:generation]", "generation_failed"),
    ):
        with pytest.raises(TaskFailedError) as caught:
            await _finish(client, request=VideoRequest(prompt=f"a fox {marker}"))
        assert caught.value.code == code


async def test_asgi_errors_map_to_named_exceptions(asgi: tuple[AsyncFoxClient, Any]) -> None:
    client, emulator = asgi
    app_transport = client._http._transport
    for key, error in (("sk-test-401", AuthenticationError), ("sk-test-402", InsufficientCreditsError)):
        async with AsyncFoxClient(key, "http://emulator", transport=app_transport) as other:
            with pytest.raises(error) as caught:
                await other.submit(REQUEST)
            assert caught.value.status in (401, 402) and caught.value.hint
    with pytest.raises(NotFoundError):
        await client.get_task("task-unified-1-nope0000")
    with pytest.raises(InvalidRequestError) as invalid:
        await client.submit(VideoRequest(prompt="p", model="kling-v9"))
    assert invalid.value.status is None  # caught locally: never sent
    emulator.inject("cloudflare_1010")
    with pytest.raises(BlockedClientError) as blocked:
        await client.submit(REQUEST)
    assert "1010" in str(blocked.value)


async def test_server_side_validation_error_carries_code(asgi: tuple[AsyncFoxClient, Any]) -> None:
    client, _ = asgi
    body = {"model": "kling-v9", "prompt": "p"}
    with pytest.raises(InvalidRequestError) as caught:
        await client._submit_payload(body)
    assert caught.value.status == 422 and caught.value.code == "model_not_found"


async def test_create_voice_returns_an_id(asgi: tuple[AsyncFoxClient, Any]) -> None:
    client, _ = asgi
    client._sleep = lambda s: asyncio.sleep(min(s, 0.05))
    voice = await client.create_voice("https://example.com/narrator.wav", name="Narrator")
    assert voice.startswith("voice-")
    assert {"voice_id": voice, "name": "Narrator"}.items() <= client.voices()[0].items()


async def test_wait_times_out_without_cancelling() -> None:
    app = create_app(EmulatorConfig(seconds_per_video=1000, render=False))
    async with AsyncFoxClient(KEY, "http://e", transport=httpx.ASGITransport(app), sleep=no_sleep) as client:
        task = await client.submit(REQUEST)
        with pytest.raises(WaitTimeoutError) as caught:
            await client.wait(task, timeout=0)
    assert caught.value.task.id == task.id and "still running" in caught.value.hint
    app.state.emulator.close()


# -- depth 3: the emulator on real loopback HTTP ---------------------------------------------
@pytest.fixture(scope="module")
def server() -> Iterator[EmulatorServer]:
    with EmulatorServer(EmulatorConfig(seconds_per_video=0, render=True)) as running:
        yield running


@pytest.fixture
def live(server: EmulatorServer) -> Iterator[FoxClient]:
    server.emulator.reset()
    with FoxClient(KEY, server.url, retry=FAST_RETRY, timeout=httpx.Timeout(2.0, connect=2.0)) as client:
        # Short real sleeps: rendering happens on the server's worker threads.
        client.aio._sleep = lambda s: asyncio.sleep(min(s, 0.1))
        yield client


def test_loopback_generate_download_plays(live: FoxClient, server: EmulatorServer, tmp_path: Path) -> None:
    import av

    request = VideoRequest(
        prompt="a fox",
        aspect_ratio="9:16",
        duration=10,
        generate_audio=True,
        segments=[Segment("wide", 6), Segment("close", 4)],
    )
    task = live.generate(request, tmp_path / "fox.mp4")
    with av.open(str(tmp_path / "fox.mp4")) as container:
        video = container.streams.video[0]
        assert video.codec_context.name == "h264" and len(container.streams.audio) == 1
        assert abs(video.codec_context.width / video.codec_context.height - 9 / 16) < 0.01
        assert abs(container.duration / 1e6 - 10) < 0.1
    assert server.emulator.stats["posts"] == 1 and task.done


@pytest.mark.parametrize(
    "fault",
    ["server_error_post", "server_error_post_after_create", "reset_post_after_create", "timeout_post_after_create"],
)
def test_loopback_post_faults_never_resend(live: FoxClient, server: EmulatorServer, fault: str) -> None:
    server.emulator.inject(fault, delay=5)
    with pytest.raises(SubmitUncertainError):
        live.submit(REQUEST)
    assert server.emulator.stats["posts"] == 1


@pytest.mark.parametrize("fault", ["rate_limit", "rate_limit_no_header"])
def test_loopback_429_is_retried_even_for_post(live: FoxClient, server: EmulatorServer, fault: str) -> None:
    server.emulator.inject(fault, retry_after=0)
    task = live.submit(REQUEST)
    assert task.id and server.emulator.stats["posts"] == 2 and server.emulator.stats["tasks_created"] == 1


@pytest.mark.parametrize("fault", ["server_error_get", "reset_get", "malformed_json", "html_error", "rate_limit"])
def test_loopback_get_faults_are_retried(live: FoxClient, server: EmulatorServer, fault: str) -> None:
    task = live.submit(REQUEST)
    server.emulator.inject(fault, on="get", retry_after=0)
    assert live.wait(task).done
    assert server.emulator.stats["posts"] == 1


def test_loopback_truncated_download_is_retried(live: FoxClient, server: EmulatorServer, tmp_path: Path) -> None:
    task = live.wait(live.submit(REQUEST))
    server.emulator.inject("truncated_download")
    path = live.download(task, tmp_path / "v.mp4")
    assert path.read_bytes()[4:8] == b"ftyp" and server.emulator.stats["downloads"] == 2


def test_loopback_truncated_every_time_raises_and_leaves_nothing(
    live: FoxClient, server: EmulatorServer, tmp_path: Path
) -> None:
    task = live.wait(live.submit(REQUEST))
    server.emulator.inject("truncated_download", times=5)
    with pytest.raises(DownloadError):
        live.download(task, tmp_path / "v.mp4")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("code", [403, 404, 410])
def test_loopback_expired_url(live: FoxClient, server: EmulatorServer, tmp_path: Path, code: int) -> None:
    task = live.wait(live.submit(REQUEST))
    server.emulator.inject("expired_url", status=code)
    with pytest.raises(ResultExpiredError) as caught:
        live.download(task, tmp_path / "v.mp4")
    assert caught.value.status == code and "24 hours" in str(caught.value) and list(tmp_path.iterdir()) == []


def test_loopback_blocked_and_html_pages(live: FoxClient, server: EmulatorServer) -> None:
    server.emulator.inject("cloudflare_1010")
    with pytest.raises(BlockedClientError):
        live.submit(REQUEST)
    server.emulator.inject("html_error", on="get", times=5)
    task_id = "task-unified-1-abcdefgh"
    with pytest.raises(ServerError):
        live.get_task(task_id)
    server.emulator.inject("malformed_json", times=5)
    with pytest.raises((ProtocolError, NotFoundError)):
        live.get_task(task_id)
