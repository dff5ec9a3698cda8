"""The emulator as an HTTP service (raw httpx, no client of ours), its renderer, and its agreement
with the client-side validator on every request (property-based)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import av
import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from foxkling_widgets._validation import errors_only, validate_payload
from foxkling_widgets.emulator import FAULTS, EmulatorConfig, create_app
from foxkling_widgets.emulator._render import render_video

pytestmark = pytest.mark.timeout(120)
AUTH = {"Authorization": "Bearer sk-anything"}


@pytest.fixture
async def http() -> AsyncIterator[tuple[httpx.AsyncClient, Any]]:
    app = create_app(EmulatorConfig(seconds_per_video=0, render=False))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://emu", headers=AUTH) as client:
        yield client, app.state.emulator
    app.state.emulator.close()


async def _until_done(client: httpx.AsyncClient, task_id: str) -> dict[str, Any]:
    for _ in range(200):
        body = (await client.get(f"/v1/tasks/{task_id}")).json()
        if body["status"] in ("completed", "failed", "cancelled"):
            return dict(body)
        await asyncio.sleep(0.02)
    raise AssertionError("task never finished")


async def test_submit_response_matches_the_contract(http: tuple[httpx.AsyncClient, Any]) -> None:
    client, _ = http
    body = (await client.post("/v1/videos/generations", json={"model": "kling-v3-text-to-video", "prompt": "p"})).json()
    assert re.fullmatch(r"task-unified-\d+-[a-z0-9]{8}", body["id"])
    assert body["object"] == "video.generation.task" and body["status"] == "pending" and body["progress"] == 0
    assert body["task_info"]["can_cancel"] is True and body["task_info"]["estimated_time"] >= 1
    assert body["type"] == "video" and body["usage"]["credits_reserved"] > 0


async def test_progress_rises_over_simulated_time() -> None:
    now = [0.0]
    app = create_app(EmulatorConfig(seconds_per_video=100, render=False, clock=lambda: now[0]))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://e", headers=AUTH) as client:
        task_id = (
            await client.post("/v1/videos/generations", json={"model": "kling-v3-text-to-video", "prompt": "p"})
        ).json()["id"]
        seen = []
        for t in (0, 5, 50, 99):
            now[0] = t
            body = (await client.get(f"/v1/tasks/{task_id}")).json()
            seen.append((body["status"], body["progress"]))
        assert [s for s, _ in seen] == ["pending", "pending", "processing", "processing"]
        assert [p for _, p in seen] == sorted(p for _, p in seen)
        now[0] = 100
        app.state.emulator._tasks[task_id].render.result(timeout=30)
        assert (await client.get(f"/v1/tasks/{task_id}")).json()["status"] == "completed"
    app.state.emulator.close()


async def test_auth_and_test_keys(http: tuple[httpx.AsyncClient, Any]) -> None:
    client, _ = http
    body = {"model": "kling-v3-text-to-video", "prompt": "p"}
    assert (await client.post("/v1/videos/generations", json=body, headers={"Authorization": ""})).status_code == 401
    for key, code in (("sk-test-401", 401), ("sk-test-402", 402)):
        response = await client.post("/v1/videos/generations", json=body, headers={"Authorization": f"Bearer {key}"})
        assert response.status_code == code and set(response.json()["error"]) >= {"message", "type"}


async def test_bad_bodies(http: tuple[httpx.AsyncClient, Any]) -> None:
    client, _ = http
    assert (
        await client.post("/v1/videos/generations", content=b"{nope", headers={"content-type": "application/json"})
    ).status_code == 400
    assert (
        await client.post("/v1/videos/generations", content=b"x", headers={"content-type": "text/plain"})
    ).status_code == 400
    response = await client.post("/v1/videos/generations", json={"model": "kling-v3-text-to-video", "prompt": ""})
    assert response.status_code == 422 and response.json()["error"]["type"] == "invalid_request_error"
    response = await client.post("/v1/videos/generations", json={"model": "nope"})
    assert response.status_code == 422 and response.json()["error"]["code"] == "model_not_found"


async def test_shape_b_and_create_voice() -> None:
    app = create_app(EmulatorConfig(seconds_per_video=0, render=False, response_shape="B"))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://e", headers=AUTH) as client:
        task_id = (
            await client.post("/v1/videos/generations", json={"model": "kling-v3-text-to-video", "prompt": "p"})
        ).json()["id"]
        body = await _until_done(client, task_id)
        assert body["output"]["url"].endswith(".mp4") and body["output"]["urls"] and "task_info" in body
        voice = await client.post(
            "/v1/videos/generations", json={"model": "kling-video-create-voice", "voice_url": "https://e.com/anna.mp3"}
        )
        done = await _until_done(client, voice.json()["id"])
        voice_id = done["results"][0]["voice_id"]
        assert voice_id.startswith("voice-") and app.state.emulator.voices[voice_id] == "anna"
    app.state.emulator.close()


@pytest.mark.parametrize(
    ("marker", "code"),
    [("[fail:content_policy]", "content_policy_violation"), ("[fail:generation]", "generation_failed")],
)
async def test_documented_failures(http: tuple[httpx.AsyncClient, Any], marker: str, code: str) -> None:
    client, _ = http
    task_id = (
        await client.post("/v1/videos/generations", json={"model": "kling-v3-text-to-video", "prompt": f"x {marker}"})
    ).json()["id"]
    body = await _until_done(client, task_id)
    assert body["status"] == "failed" and body["error"]["code"] == code


async def test_fault_control_endpoint(http: tuple[httpx.AsyncClient, Any]) -> None:
    client, _ = http
    assert (await client.post("/_emulator/faults", json={"fault": "nope"})).status_code == 400
    assert (
        await client.post("/_emulator/faults", json={"fault": "rate_limit", "times": 2, "retry_after": 7})
    ).status_code == 200
    for _ in range(2):
        response = await client.get("/v1/tasks/x")
        assert response.status_code == 429 and response.headers["retry-after"] == "7"
    assert (await client.get("/v1/tasks/x")).status_code == 404
    stats = (await client.get("/_emulator/stats")).json()
    assert stats["gets"] == 3 and stats["pending_faults"] == []
    assert set(FAULTS) >= {"truncated_download", "expired_url", "completed_without_results", "unknown_status"}


def test_emulator_refuses_non_loopback_without_the_flag() -> None:
    from foxkling_widgets.emulator import EmulatorServer, serve

    with pytest.raises(ValueError):
        EmulatorServer(host="0.0.0.0")
    with pytest.raises(ValueError):
        serve("0.0.0.0", 0)


# -- rendering -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("payload", "ratio", "audio"),
    [
        ({"prompt": "wide", "aspect_ratio": "16:9", "duration": 5}, 16 / 9, False),
        (
            {
                "aspect_ratio": "9:16",
                "duration": 10,
                "generate_audio": True,
                "voice_ids": ["voice-x"],
                "multi_prompt": [{"prompt": "one", "duration": 6}, {"prompt": "two", "duration": 4}],
            },
            9 / 16,
            True,
        ),
        ({"prompt": "一只红狐狸在雪地里奔跑，黎明时分", "aspect_ratio": "1:1", "duration": 5}, 1.0, False),  # noqa: RUF001
    ],
)
def test_render_is_a_real_playable_mp4(tmp_path: Path, payload: dict[str, Any], ratio: float, audio: bool) -> None:
    path = tmp_path / "clip.mp4"
    info = render_video({"model": "kling-v3-text-to-video", **payload}, path, voices={"voice-x": "Narrator"})
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        assert video.codec_context.name == "h264" and video.codec_context.pix_fmt == "yuv420p"
        assert abs(video.codec_context.width / video.codec_context.height - ratio) < 0.01
        assert abs(container.duration / 1e6 - payload["duration"]) < 0.1
        assert (len(container.streams.audio) == 1) is audio
        frames = sum(1 for _ in container.decode(video=0))
    assert frames == payload["duration"] * 24 and info.has_audio is audio and not list(tmp_path.glob("*.part"))


async def test_real_size_config_serves_files_of_the_tier_size() -> None:
    from foxkling_widgets.emulator._render import real_size_bytes

    app = create_app(EmulatorConfig(seconds_per_video=0, real_size=True))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://e", headers=AUTH) as client:
        sizes = {}
        for real in (True, False):
            app.state.emulator.config.real_size = real
            body = {"model": "kling-v3-text-to-video", "prompt": "p", "resolution": "720p", "duration": 5}
            task_id = (await client.post("/v1/videos/generations", json=body)).json()["id"]
            url = (await _until_done(client, task_id))["results"][0]["url"]
            sizes[real] = len((await client.get(url)).content)
    app.state.emulator.close()
    target = real_size_bytes("720p", 5)
    assert 0.85 * target <= sizes[True] <= 1.15 * target and sizes[False] < target / 10


async def test_reset_deletes_the_forgotten_files(http: tuple[httpx.AsyncClient, Any]) -> None:
    client, emulator = http
    task_id = (
        await client.post("/v1/videos/generations", json={"model": "kling-v3-text-to-video", "prompt": "p"})
    ).json()["id"]
    url = (await _until_done(client, task_id))["results"][0]["url"]
    file = emulator.get(task_id).file
    assert file.exists()
    emulator.reset()
    assert not file.exists() and (await client.get(url)).status_code == 404


@pytest.mark.parametrize(("value", "real"), [("1", True), ("true", True), ("0", False), ("", False), (None, False)])
def test_shared_emulator_reads_real_size_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, value: str | None, real: bool
) -> None:
    from foxkling_widgets.emulator import _server

    if value is None:
        monkeypatch.delenv(_server.REAL_SIZE_ENV, raising=False)
    else:
        monkeypatch.setenv(_server.REAL_SIZE_ENV, value)
    monkeypatch.setenv(_server.SECONDS_ENV, "0")
    monkeypatch.setattr(_server, "_shared", None)  # a fresh one for this test; restored after
    server = _server.shared_emulator()
    try:
        assert server.emulator.config.real_size is real and server.emulator.config.seconds_per_video == 0
        assert _server.shared_emulator() is server
    finally:
        server.stop()


# -- the validator and the emulator agree --------------------------------------------------
texts = st.one_of(st.text(max_size=30), st.just(""), st.just("x" * 2501), st.just("hi <<<voice_1>>>"), st.integers())
segment = st.fixed_dictionaries(
    {"prompt": texts, "duration": st.one_of(st.integers(-1, 11), st.booleans(), st.floats(0, 10))}
)
payloads = st.fixed_dictionaries(
    {"model": st.sampled_from(["kling-v3-text-to-video", "kling-v3-text-to-video", "kling-v9"])},
    optional={
        "prompt": texts,
        "resolution": st.sampled_from(["720p", "1080p", "4k", "8k"]),
        "aspect_ratio": st.sampled_from(["16:9", "9:16", "1:1", "4:3"]),
        "duration": st.one_of(st.sampled_from([5, 10]), st.integers(0, 12), st.booleans(), st.just("5")),
        "generate_audio": st.one_of(st.booleans(), st.just("yes")),
        "negative_prompt": texts,
        "voice_ids": st.lists(st.sampled_from(["v1", "v2", "v3", ""]), max_size=3),
        "multi_prompt": st.lists(segment, max_size=7),
    },
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(payload=payloads)
def test_validator_and_emulator_agree(payload: dict[str, Any]) -> None:
    app = create_app(EmulatorConfig(seconds_per_video=1000, render=False))
    try:
        with httpx.Client(transport=_SyncASGI(app), base_url="http://e", headers=AUTH) as client:
            response = client.post("/v1/videos/generations", json=payload)
    finally:
        app.state.emulator.close()
    client_says_ok = not errors_only(validate_payload(payload))
    assert (response.status_code == 200) is client_says_ok, (payload, response.text)


class _SyncASGI(httpx.BaseTransport):
    """Run the ASGI app for a sync client (hypothesis tests are sync)."""

    def __init__(self, app: Any) -> None:
        self.transport = httpx.ASGITransport(app)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        async def go() -> httpx.Response:
            response = await self.transport.handle_async_request(request)
            content = b"".join([chunk async for chunk in response.stream])  # type: ignore[union-attr]
            return httpx.Response(response.status_code, headers=response.headers, content=content)

        return asyncio.run(go())
