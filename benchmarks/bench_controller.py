"""The kernel stays responsive while generations run, and progress messages stay coalesced.

1. Event-loop lag: a coroutine on the main asyncio loop (where a kernel runs cells) sleeps 5 ms
   at a time and records how late it wakes. Baseline: no generation; then 20 in flight from
   submit to downloaded video and poster. Goal: p99 under 50 ms.
2. State messages: ``_tasks`` publishes per second per widget with 50 generations in flight.
   Goal: at most 10 in any one-second window.

The emulator runs as its own process (like the live API, its rendering is not our cost).
"""

from __future__ import annotations

import asyncio
import statistics
import time
from typing import Any

from _emulator import emulator_process

from foxkling_widgets import FoxClient, KlingWidget


async def measure_lag(until: Any, step: float = 0.005) -> list[float]:
    lags = []
    while not until():
        start = time.perf_counter()
        await asyncio.sleep(step)
        lags.append(time.perf_counter() - start - step)
    return lags


def p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100)[-1] * 1000


def main() -> None:
    with emulator_process(6) as url:
        client = FoxClient("sk-bench", url)
        # No queue: this measures many generations truly in flight (the default limit is 2).
        widget = KlingWidget(client=client, concurrency=50)
        widget.prompt = "benchmark"
        publishes: list[float] = []
        original = widget._controller._publish
        widget._controller._publish = lambda cards: (publishes.append(time.monotonic()), original(cards))  # type: ignore[method-assign]

        deadline = time.monotonic() + 4
        base = asyncio.run(measure_lag(lambda: time.monotonic() > deadline))

        def run(count: int) -> tuple[list[float], float]:
            publishes.clear()
            started = time.monotonic()
            for _ in range(count):
                widget.generate_nowait()
            in_flight = lambda: widget._controller.in_flight > 0 or time.monotonic() - started < 1  # noqa: E731
            lags = asyncio.run(measure_lag(lambda: not in_flight()))
            return lags, time.monotonic() - started

        lags20, took20 = run(20)
        done = sum(1 for g in widget.tasks if g.status == "completed")
        print(f"event-loop lag on the main loop (5 ms sleeps), {done} of 20 generations completed in {took20:.1f} s")
        print(f"{'':<26}{'median ms':>10}{'p99 ms':>9}{'max ms':>9}")
        print(f"{'baseline, idle':<26}{statistics.median(base) * 1000:>10.2f}{p99(base):>9.2f}{max(base) * 1000:>9.2f}")
        print(
            f"{'20 generations in flight':<26}{statistics.median(lags20) * 1000:>10.2f}"
            f"{p99(lags20):>9.2f}{max(lags20) * 1000:>9.2f}"
        )
        print(f"p99 ratio (in flight / idle): {p99(lags20) / max(p99(base), 1e-6):.1f}; goal: p99 under 50 ms")

        _, took50 = run(50)
        windows: dict[int, int] = {}
        start = publishes[0] if publishes else 0.0
        for t in publishes:
            windows[int(t - start)] = windows.get(int(t - start), 0) + 1
        busiest = max(windows.values()) if windows else 0
        print(
            f"state messages with 50 generations in flight: {len(publishes)} over {took50:.1f} s, "
            f"busiest second {busiest}"
        )
        print(f"per-second rate: mean {len(publishes) / took50:.1f}, max {busiest}; goal: at most 10")
        widget.close()
        client.close()


if __name__ == "__main__":
    main()
