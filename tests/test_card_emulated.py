"""A card says whether its generation went to an emulator (``emulated``), from the kernel's truth.

The studio's ``_mode`` changes when a key is set; a clip made on the emulator before that stays an
emulator storyboard, so the card's field comes from the session the generation was made in.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from foxkling_widgets import FoxClient, KlingWidget, VideoRequest
from foxkling_widgets._controller import CodeSession, Generation
from foxkling_widgets.emulator import EmulatorConfig, EmulatorServer

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def server() -> Iterator[EmulatorServer]:
    with EmulatorServer(EmulatorConfig(seconds_per_video=0.5)) as running:
        yield running


def test_a_clip_made_on_the_emulator_stays_emulated_after_a_key_is_set(server: EmulatorServer) -> None:
    client = FoxClient("sk-emulated-test-key", server.url)
    w = KlingWidget(client=client)
    w.send = lambda content, buffers=None: None  # type: ignore[method-assign]
    try:
        w.prompt = "a lighthouse at night"

        async def run() -> Any:
            return await w.generate()

        asyncio.run(run())
        assert w._mode == "emulator" and [c["emulated"] for c in w._tasks] == [True]
        w._on_custom_message(w, {"id": "m1", "kind": "set-key", "key": "sk-typed-later-12345"}, [])
        assert w._mode == "live"
        w._controller.publish_now(full=True)
        assert [c["emulated"] for c in w._tasks] == [True]
    finally:
        w.close()
        client.close()


@pytest.mark.parametrize(
    ("session", "mode", "emulated"),
    [
        (CodeSession(emulator=True), "live", True),  # this kernel's emulator, then a key was set
        (CodeSession(key="emulator", base_url="http://127.0.0.1:9"), "live", True),  # the emulators' key
        (CodeSession(key="ask", base_url="http://127.0.0.1:9"), "live", True),  # a loopback host
        (CodeSession(key="ask", base_url="https://api.example.com"), "emulator", False),  # the live API
        (CodeSession(key="env"), "emulator", True),  # host from the environment: the client's mode says
        (CodeSession(key="env"), "live", False),
        (None, "emulator", True),
        (None, "live", False),
    ],
)
def test_emulated_follows_the_session_the_generation_was_made_in(
    session: CodeSession | None, mode: str, emulated: bool
) -> None:
    generation = Generation(VideoRequest(prompt="a fox"), code_session=session)
    assert generation.to_card(mode)["emulated"] is emulated
