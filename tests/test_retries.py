"""The retry decisions, named once (``should_retry``, ``retry_delay``) and used by requests and downloads alike."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest
from fake_server import FakeServer, Reply, json_reply
from hypothesis import given
from hypothesis import strategies as st

from foxkling_widgets import AsyncFoxClient, DownloadError, FoxAPIError, RateLimitError, ResultExpiredError
from foxkling_widgets.client import RetryPolicy
from foxkling_widgets.client._http import retry_delay, should_retry

pytestmark = pytest.mark.timeout(300)

KEY = "sk-retries-0123456789abcdefghij"
MP4 = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + b"\x00" * 64
POLICY = RetryPolicy(attempts=4, base=0.5, cap=20.0)

# One way of ending each, as the client reports it to the decisions.
NOT_SENT = httpx.ConnectError("refused")
SENT = httpx.ReadTimeout("no answer")
endings = st.one_of(
    st.builds(lambda e: {"error": e}, st.sampled_from([NOT_SENT, SENT, httpx.RemoteProtocolError("dropped")])),
    st.just({"cut": True}),
    st.builds(lambda s: {"status": s}, st.integers(100, 599)),
)


@given(endings, st.booleans())
def test_a_billed_request_is_sent_again_only_when_the_server_cannot_have_acted(ending: dict, named: bool) -> None:
    again = should_retry(billed=True, named=named, **ending)
    assert again == (not named and (ending.get("error") is NOT_SENT or ending.get("status") == 429))


@given(endings)
def test_a_safe_request_is_repeated_unless_the_answer_would_be_the_same(ending: dict) -> None:
    status = ending.get("status")
    same_next_time = status is not None and 300 <= status < 500 and status != 429
    assert should_retry(billed=False, **ending) == (not same_next_time)


@given(st.integers(1, 10), endings, st.booleans(), st.none() | st.floats(0, 200))
def test_retry_delay_is_should_retry_within_the_attempts(
    attempt: int, ending: dict, billed: bool, retry_after: float | None
) -> None:
    delay = retry_delay(POLICY, attempt, billed=billed, retry_after=retry_after, **ending)
    if attempt >= POLICY.attempts or not should_retry(billed=billed, **ending):
        assert delay is None
    else:
        assert delay is not None and 0 <= delay <= POLICY.cap
        if retry_after is not None:
            assert delay == min(POLICY.cap, retry_after)


# -- downloads follow the same decisions ---------------------------------------------------------
def download(server: FakeServer, target: Path, sleeps: list[float]) -> Path:
    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)

    async def go() -> Path:
        async with AsyncFoxClient(KEY, server.url, journal=False, sleep=sleep, retry=POLICY) as client:
            return await client.download(f"{server.url}/files/v.mp4", target)

    return asyncio.run(go())


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        (json_reply({"error": {"message": "bad key"}}, 401), DownloadError),
        (json_reply({"error": {"message": "no"}}, 400), DownloadError),
        (Reply(404, b"gone"), ResultExpiredError),
        (Reply(200, b"<html>not a video</html>"), DownloadError),
    ],
    ids=["401", "400", "404-expired", "not-a-video"],
)
def test_a_download_answer_that_would_be_the_same_is_asked_once(
    server: FakeServer, tmp_path: Path, reply: Reply, error: type[FoxAPIError]
) -> None:
    server.answer = lambda _seen: reply
    sleeps: list[float] = []
    with pytest.raises(error):
        download(server, tmp_path / "v.mp4", sleeps)
    assert server.count("GET") == 1 and sleeps == [] and list(tmp_path.iterdir()) == []


def test_a_download_rate_limit_is_waited_out_as_the_server_asks(server: FakeServer, tmp_path: Path) -> None:
    answers = iter([json_reply({"error": {"message": "slow down"}}, 429, **{"Retry-After": "7"}), Reply(200, MP4)])
    server.answer = lambda _seen: next(answers)
    sleeps: list[float] = []
    assert download(server, tmp_path / "v.mp4", sleeps).read_bytes() == MP4
    assert sleeps == [7.0] and server.count("GET") == 2


def test_a_download_cut_short_is_tried_again_up_to_the_attempts(server: FakeServer, tmp_path: Path) -> None:
    # Says 1000 bytes, sends 88: a transfer cut off on its way, every time.
    server.answer = lambda _seen: Reply(200, MP4, {"Content-Length": "1000", "Connection": "close"})
    sleeps: list[float] = []
    with pytest.raises(DownloadError):
        download(server, tmp_path / "v.mp4", sleeps)
    assert server.count("GET") == POLICY.attempts and len(sleeps) == POLICY.attempts - 1
    assert list(tmp_path.iterdir()) == []


def test_a_download_5xx_is_retried_then_named(server: FakeServer, tmp_path: Path) -> None:
    server.answer = lambda _seen: json_reply({"error": {"message": "busy"}}, 503)
    sleeps: list[float] = []
    with pytest.raises(DownloadError) as caught:
        download(server, tmp_path / "v.mp4", sleeps)
    assert caught.value.status == 503 and server.count("GET") == POLICY.attempts


def test_a_persistent_download_rate_limit_ends_as_a_download_error(server: FakeServer, tmp_path: Path) -> None:
    server.answer = lambda _seen: json_reply({"error": {"message": "slow down"}}, 429, **{"Retry-After": "0"})
    sleeps: list[float] = []
    with pytest.raises(DownloadError) as caught:
        download(server, tmp_path / "v.mp4", sleeps)
    assert not isinstance(caught.value, RateLimitError) and caught.value.status == 429
    assert sleeps == [0.0] * (POLICY.attempts - 1)
