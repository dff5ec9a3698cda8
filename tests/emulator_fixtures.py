"""An emulator on loopback per test module, and a way to slow it down for one test.

Registered in ``conftest.py``; a module that needs another configuration defines its own
``emulator`` fixture, which takes precedence.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from foxkling_widgets.emulator import EmulatorConfig, EmulatorServer

#: Seconds per emulated video: quick, yet long enough for a test to see a task running.
SECONDS_PER_VIDEO = 0.5


@pytest.fixture(scope="module")
def emulator() -> Iterator[EmulatorServer]:
    with EmulatorServer(EmulatorConfig(seconds_per_video=SECONDS_PER_VIDEO)) as running:
        yield running


@pytest.fixture
def slow(emulator: EmulatorServer) -> Iterator[Callable[[float], None]]:
    """Set the emulator's generation time for this test (progress is computed from it live)."""

    def set_seconds(seconds: float) -> None:
        emulator.emulator.config.seconds_per_video = seconds

    yield set_seconds
    set_seconds(SECONDS_PER_VIDEO)
