"""Adaptive polling vs fixed 1, 2, 5 and 16 s polls, on the same simulated tasks, on a virtual clock.

Each task takes 30-300 s (like real Kling tasks); the emulator runs in-process on the same
virtual clock the client sleeps on, so a run takes a minute or two, not hours. Every policy sees
the same tasks (one seed) in the same run. Scenarios vary what the provider reports:

* progress linear, with ``estimated_time`` exact, 50 % too low and 50 % too high;
* progress stuck at 0 until done, with a constant ``estimated_time`` of 45 s;
* progress jumping 0 -> 50 -> 100, with a constant ``estimated_time`` of 45 s;
* progress stuck at 0, with ``estimated_time`` far too low (a constant 10 s);

and each again with a prior: how long this tier took before, as the journal would know it
(the task's own duration times a log-normal factor with sigma 0.2, i.e. typically 20 % off).

Reported per scenario and policy: detection latency (seconds from server completion to the
client noticing; median, p90), GETs per task, and the GET ratio against the fixed 1 s poll.
Per scenario: whether some fixed interval is both faster (median) and cheaper than adaptive
("dominated"), and whether the goal holds: median <= 2 s with <= 1/3 of the 1 s poll's GETs.

The journal and video cache point at a scratch folder and clients run with ``journal=False``:
a benchmark never writes into the user's own history.
"""

from __future__ import annotations

import os
import tempfile

# Before any foxkling_widgets import, so nothing can resolve the user's own folders.
_SCRATCH = tempfile.mkdtemp(prefix="foxkling-bench-")
os.environ["FOXKLING_DATA_DIR"] = f"{_SCRATCH}/data"
os.environ["FOXKLING_CACHE_DIR"] = f"{_SCRATCH}/cache"

import asyncio  # noqa: E402
import random  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
from collections.abc import Callable  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from typing import Any  # noqa: E402

import httpx  # noqa: E402

from foxkling_widgets import AsyncFoxClient, VideoRequest  # noqa: E402
from foxkling_widgets.client import FixedPolicy, PollPolicy  # noqa: E402
from foxkling_widgets.emulator import EmulatorConfig, create_app  # noqa: E402
from foxkling_widgets.emulator._app import _placeholder  # noqa: E402

FIXED = (1.0, 2.0, 5.0, 16.0)


@dataclass(frozen=True)
class Scenario:
    label: str
    progress: Callable[[float], float]  # the emulator's linear progress -> what it reports
    estimate: Callable[[float], float]  # the task's true duration -> the reported estimated_time
    prior: bool = False  # whether watch() gets a prior from the journal


def linear(progress: float) -> float:
    return progress


def stuck(progress: float) -> float:
    return 0.0


def steps(progress: float) -> float:
    return 0.0 if progress < 50 else 50.0


BASE = (
    Scenario("linear, est exact", linear, lambda d: d),
    Scenario("linear, est 50% low", linear, lambda d: d * 0.5),
    Scenario("linear, est 50% high", linear, lambda d: d * 1.5),
    Scenario("stuck at 0, est 45", stuck, lambda d: 45.0),
    Scenario("0/50/100, est 45", steps, lambda d: 45.0),
    Scenario("stuck at 0, est 10", stuck, lambda d: 10.0),
)
SCENARIOS = BASE + tuple(Scenario(f"{s.label} +prior", s.progress, s.estimate, True) for s in BASE)


class VirtualClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds
        await asyncio.sleep(0)


async def one_task(duration: float, prior: float | None, policy: Any, scenario: Scenario) -> tuple[float, int]:
    clock = VirtualClock()
    app = create_app(EmulatorConfig(seconds_per_video=duration, render=False, clock=clock))
    emulator = app.state.emulator
    emulator.estimated_time = lambda: max(1, round(scenario.estimate(duration)))
    original = emulator.progress

    def progress(task: Any) -> tuple[str, float]:
        status, value = original(task)
        return (status, scenario.progress(value)) if status in ("pending", "processing") else (status, value)

    emulator.progress = progress
    transport = httpx.ASGITransport(app)
    async with AsyncFoxClient(
        "sk-bench", "http://e", transport=transport, sleep=clock.sleep, clock=clock, poll=policy, journal=False
    ) as client:
        task = await client.submit(VideoRequest(prompt="bench"))
        emulator._tasks[task.id].render.result()  # the file exists; only simulated time remains
        gets_before = emulator.stats["gets"]
        async for snapshot in client.watch(task, expected=prior if scenario.prior else None):
            assert not snapshot.failed, snapshot
        latency = clock.now - duration
        gets = emulator.stats["gets"] - gets_before
    emulator.close()
    return latency, gets


async def run(
    policy: Any, durations: list[float], priors: list[float], scenario: Scenario
) -> tuple[list[float], list[int]]:
    random.seed(1)  # the policy's jitter: the same draws for every scenario and run
    latencies, gets = [], []
    for duration, prior in zip(durations, priors, strict=True):
        latency, count = await one_task(duration, prior, policy, scenario)
        latencies.append(latency)
        gets.append(count)
    return latencies, gets


def main() -> None:
    tasks = int(sys.argv[1]) if len(sys.argv) > 1 else 40
    rng = random.Random(int(sys.argv[2]) if len(sys.argv) > 2 else 7)
    durations = [rng.uniform(30, 300) for _ in range(tasks)]
    priors = [d * rng.lognormvariate(0, 0.2) for d in durations]
    _placeholder()
    policies: list[tuple[str, Any]] = [(f"fixed {s:g} s", FixedPolicy(s)) for s in FIXED]
    policies.append(("adaptive", PollPolicy()))
    print(f"{tasks} simulated tasks of 30-300 s; latency = seconds from server completion to the client noticing")
    print(f"{'scenario':<30}{'policy':<12}{'median s':>9}{'p90 s':>8}{'GETs/task':>11}{'GET ratio':>11}")
    held = 0
    for scenario in SCENARIOS:
        figures: dict[str, tuple[float, float, float]] = {}
        for name, policy in policies:
            latencies, gets = asyncio.run(run(policy, durations, priors, scenario))
            figures[name] = (
                statistics.median(latencies),
                statistics.quantiles(latencies, n=10)[-1],
                statistics.mean(gets),
            )
        baseline = figures["fixed 1 s"][2]
        for name, (median, p90, gets_per_task) in figures.items():
            ratio = gets_per_task / baseline
            print(f"{scenario.label:<30}{name:<12}{median:>9.2f}{p90:>8.2f}{gets_per_task:>11.1f}{ratio:>11.2f}")
        median, _, gets_per_task = figures["adaptive"]
        dominated = [n for n, f in figures.items() if n != "adaptive" and f[0] < median and f[2] < gets_per_task]
        goal = median <= 2.0 and gets_per_task <= baseline / 3
        held += goal
        print(
            f"{'':<30}dominated: {'yes (' + ', '.join(dominated) + ')' if dominated else 'no'}; "
            f"goal (median <= 2 s, GETs <= 1/3 of fixed 1 s): {'holds' if goal else 'MISSED'}"
        )
    print(f"goal held in {held} of {len(SCENARIOS)} scenarios")


if __name__ == "__main__":
    main()
