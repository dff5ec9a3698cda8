"""Adaptive polling vs a fixed 1 s poll, on the same simulated tasks, on a virtual clock.

Each task takes 30-300 s (like real Kling tasks); the emulator runs in-process on the same
virtual clock the client sleeps on, so a run takes seconds. Reported per policy: detection
latency after the server finished (median, p90) and GETs per task. Scenarios: the provider's
``estimated_time`` exact, 50 % too low, and 50 % too high.
"""

from __future__ import annotations

import asyncio
import random
import statistics
import sys
from typing import Any

import httpx

from foxkling_widgets import AsyncFoxClient, VideoRequest
from foxkling_widgets.client import FixedPolicy, PollPolicy
from foxkling_widgets.emulator import EmulatorConfig, create_app
from foxkling_widgets.emulator._app import _placeholder


class VirtualClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds
        await asyncio.sleep(0)


async def one_task(duration: float, policy: Any, estimate_factor: float) -> tuple[float, int]:
    clock = VirtualClock()
    app = create_app(EmulatorConfig(seconds_per_video=duration, render=False, clock=clock))
    emulator = app.state.emulator
    emulator.estimated_time = lambda: max(1, round(duration * estimate_factor))  # type: ignore[method-assign]
    transport = httpx.ASGITransport(app)
    async with AsyncFoxClient(
        "sk-bench", "http://e", transport=transport, sleep=clock.sleep, clock=clock, poll=policy
    ) as client:
        task = await client.submit(VideoRequest(prompt="bench"))
        emulator._tasks[task.id].render.result()  # the file exists; only simulated time remains
        gets_before = emulator.stats["gets"]
        await client.wait(task, timeout=None)
        latency = clock.now - duration
        gets = emulator.stats["gets"] - gets_before
    emulator.close()
    return latency, gets


async def run(policy: Any, durations: list[float], factor: float) -> tuple[list[float], list[int]]:
    latencies, gets = [], []
    for duration in durations:
        latency, count = await one_task(duration, policy, factor)
        latencies.append(latency)
        gets.append(count)
    return latencies, gets


def main() -> None:
    tasks = int(sys.argv[1]) if len(sys.argv) > 1 else 40
    rng = random.Random(7)
    durations = [rng.uniform(30, 300) for _ in range(tasks)]
    _placeholder()
    print(f"{tasks} simulated tasks of 30-300 s; latency = seconds from server completion to the client noticing")
    print(f"{'scenario':<22}{'policy':<12}{'median s':>10}{'p90 s':>8}{'GETs/task':>11}{'GET ratio':>11}")
    for label, factor in (("estimate exact", 1.0), ("estimate 50% low", 0.5), ("estimate 50% high", 1.5)):
        fixed_lat, fixed_gets = asyncio.run(run(FixedPolicy(1.0), durations, factor))
        adapt_lat, adapt_gets = asyncio.run(run(PollPolicy(), durations, factor))
        for name, lat, gets in (("fixed 1 s", fixed_lat, fixed_gets), ("adaptive", adapt_lat, adapt_gets)):
            ratio = statistics.mean(gets) / statistics.mean(fixed_gets)
            p90 = statistics.quantiles(lat, n=10)[-1]
            print(
                f"{label:<22}{name:<12}{statistics.median(lat):>10.2f}{p90:>8.2f}{statistics.mean(gets):>11.1f}{ratio:>11.2f}"
            )
    print("goal: adaptive median latency <= 1 s with a GET ratio <= 0.33 against fixed 1 s")


if __name__ == "__main__":
    main()
