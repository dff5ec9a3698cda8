"""The poll schedule: pure tests of :class:`PollPolicy`, property tests at its input boundary, and
``watch()`` against the in-process emulator (its prior reaches the policy; the completed-without-
result race backs off instead of polling every 0.5 s).

No test waits on a real clock: the emulator and the client share a virtual one.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Sequence
from typing import Any

import httpx
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from foxkling_widgets import AsyncFoxClient, Task, TaskStatus, VideoRequest
from foxkling_widgets.client import FixedPolicy, PollPolicy
from foxkling_widgets.client._polling import Snapshot
from foxkling_widgets.emulator import EmulatorConfig, create_app

pytestmark = pytest.mark.timeout(120)

RUNNING = Task(id="task-unified-1-running0", status=TaskStatus.PROCESSING)
RACE = Task(id="task-unified-1-racing00", status=TaskStatus.COMPLETED, progress=100)
EXACT = PollPolicy(jitter=0.0)


def stuck(until: float, every: float = 3.0, progress: float = 0.0) -> list[Snapshot]:
    """A history polled every ``every`` seconds up to ``until``, progress never moving."""
    return [(n * every, progress) for n in range(int(until / every) + 1)]


# -- pure schedule --------------------------------------------------------------------------
def test_nothing_known_polls_at_the_steady_pace() -> None:
    assert EXACT.next_delay(stuck(120), RUNNING, None) == EXACT.steady
    # Younger than any realistic task: sparser, but never more than twice as sparse.
    assert EXACT.next_delay([(0.0, 0.0)], RUNNING, None) == 2 * EXACT.steady
    assert EXACT.steady <= EXACT.next_delay(stuck(24), RUNNING, None) < 2 * EXACT.steady


def test_an_overrun_estimate_does_not_back_off() -> None:
    # The defect: estimated_time always 45 and progress stuck at 0 made main wait a quarter of the
    # overrun (up to the 15 s ceiling). Past its estimate a task is likely to end soon.
    assert EXACT.next_delay(stuck(200), RUNNING, 45.0) == EXACT.steady
    assert EXACT.next_delay(stuck(200), RUNNING, 10.0) == EXACT.steady


def test_before_the_estimate_it_waits_longer_then_tightens() -> None:
    early = EXACT.next_delay([(0.0, 0.0)], RUNNING, 120.0)
    late = EXACT.next_delay(stuck(80), RUNNING, 120.0)
    assert early == EXACT.ceiling
    assert EXACT.floor <= late <= EXACT.steady < early


def test_stuck_progress_is_no_information() -> None:
    # Progress at 0 throughout carries no rate; the schedule is the one with no progress at all.
    without = [(t, 0.0) for t, _ in stuck(90)]
    assert EXACT.next_delay(stuck(90), RUNNING, None) == EXACT.next_delay(without, RUNNING, None)
    # Stuck at 99 for a minute: the rate's predicted end has passed, so no polling at the floor.
    history = [(float(t), float(t)) for t in range(0, 100, 3)] + [(99.0 + n * 3, 99.0) for n in range(1, 20)]
    assert EXACT.window(history, None) is None
    assert EXACT.next_delay(history, RUNNING, None) == EXACT.steady


def test_moving_progress_converges_on_the_predicted_end() -> None:
    # 1 % a second: the end is at 100 s. Far from it the wait is long, close to it short.
    far = EXACT.next_delay([(0.0, 0.0), (10.0, 10.0), (20.0, 20.0)], RUNNING, None)
    near = EXACT.next_delay([(0.0, 0.0), (50.0, 50.0), (98.0, 98.0)], RUNNING, None)
    assert far > 20 or far == EXACT.ceiling
    assert EXACT.floor <= near <= 1.0


def test_coarse_steps_predict_from_the_step_time() -> None:
    # 0 -> 50 seen between 57 and 60 s: the end is expected near 120 s, not at the steady pace.
    history = [*stuck(57), (60.0, 50.0)]
    lo, hi, _ = EXACT.window(history, 45.0) or (0.0, 0.0, 0.0)
    assert 110 <= lo <= 120 <= hi <= 140
    assert EXACT.next_delay(history, RUNNING, 45.0) > EXACT.steady


def test_prior_is_used() -> None:
    # The journal says this tier takes 200 s: early on, wait long; near 200 s, poll often.
    assert EXACT.next_delay([(0.0, 0.0)], RUNNING, None, prior=200.0) == EXACT.ceiling
    assert EXACT.next_delay(stuck(150), RUNNING, None, prior=200.0) == EXACT.near
    # The prior outranks a constant estimate that has already passed.
    assert EXACT.next_delay(stuck(60), RUNNING, 45.0, prior=200.0) > EXACT.steady
    # Far past the prior it is discredited too: steady, not backed off.
    assert EXACT.next_delay(stuck(400, 4), RUNNING, None, prior=200.0) == pytest.approx(EXACT.steady * 400 / 300)


def test_floor_and_ceiling_are_respected() -> None:
    policy = PollPolicy(floor=2.0, ceiling=4.0, jitter=0.0)
    assert policy.next_delay([(0.0, 0.0)], RUNNING, 10_000.0) == 4.0
    assert policy.next_delay([(0.0, 0.0), (50.0, 50.0), (99.5, 99.5)], RUNNING, None) == 2.0
    assert policy.next_delay([(0.0, 0.0)], RACE, None) == 2.0
    with pytest.raises(ValueError):
        PollPolicy(floor=5.0, ceiling=1.0)
    with pytest.raises(ValueError):
        PollPolicy(floor=0.0)
    with pytest.raises(ValueError):
        PollPolicy(jitter=1.5)


def test_jitter_is_bounded() -> None:
    policy = PollPolicy(jitter=0.1)
    delays = {policy.next_delay(stuck(60), RUNNING, None) for _ in range(200)}
    assert len(delays) > 1  # it does spread
    assert all(policy.steady * 0.9 <= d <= policy.steady * 1.1 for d in delays)


def test_completed_without_result_backs_off() -> None:
    policy = PollPolicy(jitter=0.0)
    delays = [policy.next_delay([(0.0, 0.0)], RACE, None) for _ in range(8)]
    assert delays == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0, 4.0, 4.0]
    # Each task backs off on its own, and a task that leaves the race starts over.
    other = Task(id="task-unified-1-racing11", status=TaskStatus.COMPLETED)
    assert policy.next_delay([(0.0, 0.0)], other, None) == 0.5
    policy.next_delay([(0.0, 0.0)], Task(id=RACE.id, status=TaskStatus.PROCESSING), None)
    assert policy.next_delay([(0.0, 0.0)], RACE, None) == 0.5


def test_race_memory_is_bounded() -> None:
    policy = PollPolicy(jitter=0.0)
    for n in range(1000):
        policy.next_delay([], Task(id=f"task-unified-1-{n:08d}", status=TaskStatus.COMPLETED), None)
    assert len(policy._races) <= 256


def test_fixed_policy_accepts_and_ignores_a_prior() -> None:
    assert FixedPolicy(5.0).next_delay(stuck(30), RUNNING, 45.0, prior=100.0) == 5.0


# -- properties at the boundary ---------------------------------------------------------------
ANY_FLOAT = st.floats(allow_nan=True, allow_infinity=True) | st.sampled_from([0.0, -1.0, 1e308, -1e308, 1e-308])
MAYBE = st.none() | ANY_FLOAT
HISTORIES = st.lists(st.tuples(ANY_FLOAT, ANY_FLOAT), max_size=30) | st.lists(
    st.tuples(st.floats(0, 1e6), st.floats(0, 100)).map(tuple), max_size=30
).map(lambda h: sorted(h))
TASKS = st.builds(
    Task,
    id=st.sampled_from(["task-unified-1-aaaaaaaa", "task-unified-1-bbbbbbbb", ""]),
    status=st.sampled_from(list(TaskStatus)),
    video_url=st.none() | st.just("https://cdn.example/v.mp4"),
)
POLICIES = st.builds(
    lambda floor, span, jitter: PollPolicy(floor=floor, ceiling=floor + span, jitter=jitter),
    st.floats(0.01, 10),
    st.floats(0, 100),
    st.floats(0, 0.9),
) | st.just(PollPolicy())


@given(POLICIES, HISTORIES, TASKS, MAYBE, MAYBE)
@example(PollPolicy(), [(0.0, 0.0), (1.0, 1e-300), (1e300, 2e-300)], RUNNING, None, None)  # rate underflows to 0
@example(PollPolicy(), [(0.0, 0.0), (1e12, 1e-294)], RUNNING, float("nan"), float("-inf"))  # extrapolation overflows
def test_next_delay_is_finite_and_bounded(
    policy: PollPolicy, history: Sequence[Snapshot], task: Task, estimate: float | None, prior: float | None
) -> None:
    delay = policy.next_delay(history, task, estimate, prior=prior)
    assert isinstance(delay, float) and math.isfinite(delay)
    assert policy.floor <= delay <= policy.ceiling


@given(HISTORIES, MAYBE, MAYBE)
def test_remaining_is_none_or_non_negative(
    history: Sequence[Snapshot], estimate: float | None, prior: float | None
) -> None:
    remaining = PollPolicy().remaining(history, estimate, prior=prior)
    assert remaining is None or (math.isfinite(remaining) and remaining >= 0)


# -- through watch() and the emulator ----------------------------------------------------------
class VirtualClock:
    """One clock for the emulator and the client: sleeping advances it instantly."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)


class Recording(PollPolicy):
    """A PollPolicy that remembers the prior each call was given."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        object.__setattr__(self, "priors", [])

    def next_delay(
        self, history: Sequence[Snapshot], task: Task, estimated_time: float | None, *, prior: float | None = None
    ) -> float:
        self.priors.append(prior)  # type: ignore[attr-defined]
        return super().next_delay(history, task, estimated_time, prior=prior)


async def _watch(seconds: float, policy: PollPolicy, faults: int = 0, **watch: Any) -> tuple[list[Task], VirtualClock]:
    clock = VirtualClock()
    app = create_app(EmulatorConfig(seconds_per_video=seconds, render=False, clock=clock))
    emulator = app.state.emulator
    if faults:
        emulator.inject("completed_without_results", times=faults)
    client = AsyncFoxClient(
        "sk-test-polling",
        "http://emulator",
        transport=httpx.ASGITransport(app),
        sleep=clock.sleep,
        clock=clock,
        poll=policy,
        journal=False,
    )
    async with client:
        task = await client.submit(VideoRequest(prompt="a fox"))
        await asyncio.to_thread(emulator._tasks[task.id].render.result)  # only simulated time remains
        snapshots = [snapshot async for snapshot in client.watch(task, **watch)]
    emulator.close()
    return snapshots, clock


async def test_watch_passes_expected_to_the_policy_as_prior() -> None:
    policy = Recording(jitter=0.0)
    snapshots, _ = await _watch(40, policy, expected=42.0)
    assert snapshots[-1].done
    assert policy.priors and set(policy.priors) == {42.0}
    policy = Recording(jitter=0.0)
    await _watch(5, policy)
    assert set(policy.priors) == {None}


async def test_watch_backs_off_while_completed_without_result() -> None:
    snapshots, clock = await _watch(10, PollPolicy(jitter=0.0), faults=6)
    assert snapshots[-1].done
    races = sum(1 for s in snapshots if s.status is TaskStatus.COMPLETED and not s.done)
    assert races == 6
    assert clock.sleeps[-6:] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
