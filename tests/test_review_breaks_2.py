"""Promises a second adversarial review (of stable keys, resume, the card cap, clear-finished, the
budget and the widget's split) broke, each kept as a test that failed before its fix.

Over the real emulator on loopback, and ``fake_server`` where a host must answer nothing useful.
Waits are bounded polls, never timing assertions.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
import types
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fake_server import FakeServer, Reply, instant, json_reply, scratch_journal
from waits import until
from widget_messages import message, recording_widget

from foxkling_widgets import (
    AsyncFoxClient,
    FoxClient,
    InvalidRequestError,
    KlingWidget,
    SubmitUncertainError,
    TaskStatus,
    VideoRequest,
)
from foxkling_widgets._cards import CARD_LIMIT
from foxkling_widgets._controller import Generation
from foxkling_widgets._restore import RESTORE_LIMIT
from foxkling_widgets.emulator import EmulatorConfig, EmulatorServer

pytestmark = pytest.mark.timeout(120)
HANG_GUARD = 60.0


@pytest.fixture
def widget(emulator: EmulatorServer) -> Iterator[KlingWidget]:
    with recording_widget("sk-review-two-test-key", emulator.url) as w:
        yield w


def card_ids(w: KlingWidget) -> list[str]:
    return [str(c["id"]) for c in w._tasks]


def started(w: KlingWidget, prompt: str) -> Generation:
    """A generation started from the controls, once its submit was answered."""
    w.prompt = prompt
    generation = w._find(w.generate_nowait())
    assert generation is not None
    until(lambda: generation.task_id is not None, "the submit was answered")
    return generation


# -- finding 1: the card cap hides work that still needs the user --------------------------------
def test_the_card_cap_never_hides_a_running_stopped_or_uncertain_generation(
    widget: KlingWidget, slow: Callable[[float], None]
) -> None:
    """``_tasks`` held the newest 50 whatever their state.

    A generation still running (or stopped and resumable, or "uncertain": maybe billed) behind
    50 newer cards (a finished batch, or the first members of a big batch, which run first and
    are the oldest) dropped out of ``_tasks``: the views could neither see it nor stop, resume or
    play it, though it was being billed.
    """
    slow(60)
    running = started(widget, "a fox still running")
    stopped = started(widget, "a fox stopped by the user")
    assert widget.stop_watching(stopped.key)
    until(lambda: stopped.resumable, "stopped")
    uncertain = Generation(VideoRequest(prompt="a fox maybe billed"), status=TaskStatus.UNCERTAIN, watching=False)
    widget._controller.add_finished(uncertain)
    for i in range(CARD_LIMIT + 5):
        widget._controller.add_finished(
            Generation(VideoRequest(prompt=f"clip {i}"), id=f"task-done-{i}", status="failed", watching=False)
        )
    widget._settle()
    shown = card_ids(widget)
    assert widget._tasks_total == CARD_LIMIT + 8
    for generation in (running, stopped, uncertain):
        assert generation.key in shown, f"{generation.status} card dropped out of sight"
    assert shown[:CARD_LIMIT] == [g.key for g in widget.tasks[:CARD_LIMIT]]  # the newest, newest first
    assert next(c for c in widget._tasks if c["id"] == running.key)["watching"] is True
    assert message(widget, kind="stop-watching", task_id=running.key)["ok"] is True


# -- finding 2: resume follows the task on whatever API the studio uses now ----------------------
def test_resume_after_the_key_changed_follows_the_task_where_it_was_submitted(
    widget: KlingWidget,
    emulator: EmulatorServer,
    server: FakeServer,
    slow: Callable[[float], None],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``_resume`` polled with ``self.client``: the client of the key pasted since.

    A clip submitted on one API, stopped, then resumed after a key was pasted (or cleared) was
    polled on the other API, which does not know the task: the card turned "failed" although the
    provider kept running (and billing) it, and its task id went to a host that never had it.
    A batch already stays on the API it was started on; so must a resumed generation.
    """
    slow(60)
    generation = started(widget, "a fox on the first API")
    assert widget.stop_watching(generation.key)
    until(lambda: generation.resumable, "stopped")
    monkeypatch.setenv("FOXAPI_BASE_URL", server.url)  # where a pasted key's client goes
    assert message(widget, kind="set-key", key="sk-pasted-review-key-0123456789")["ok"] is True
    posts = emulator.emulator.stats["posts"]

    slow(0.5)
    assert message(widget, kind="resume", task_id=generation.key)["ok"] is True
    done = widget.wait(generation.key, timeout=HANG_GUARD)
    assert done.status == "completed" and done.done, (done.status, done.error)
    assert server.requests == []  # the other API never heard of this task
    assert emulator.emulator.stats["posts"] == posts


# -- finding 3: a submitted task whose price the server never said slipped out of the budget -----
def unpriced_server(server: FakeServer) -> None:
    """A server whose answers carry no ``usage`` (the contract only says it was seen there)."""
    count = 0

    def answer(seen: Any) -> Reply:
        nonlocal count
        if seen.method == "POST":
            count += 1
            return json_reply(
                {
                    "id": f"task-unified-1700000000-unpriced{count}",
                    "status": "pending",
                    "progress": 0,
                    "created": int(time.time()),
                }
            )
        task_id = seen.path.rsplit("/", 1)[-1].split("?")[0]
        return json_reply({"id": task_id, "status": "processing", "progress": 10, "created": int(time.time())})

    server.answer = answer


def test_a_stopped_task_of_unknown_price_still_counts_against_the_budget(server: FakeServer) -> None:
    """``BudgetGuard._pending`` held only generations still watched (or uncertain).

    One stopped by the user before its price was known (the server said none yet) keeps running,
    and billing, at the provider, yet counted for nothing: with no price to go on, "one clip of
    unknown price at a time" let the next one start, and the next, each stopped in turn, so a
    budget of 10 let any number of clips be billed.
    """
    unpriced_server(server)
    client = FoxClient("sk-review-budget-key-0123456789", server.url)
    w = KlingWidget(client=client, budget=10)
    w.send = lambda content, buffers=None: None  # type: ignore[method-assign]
    try:
        first = started(w, "a fox of unknown price")
        assert first.task is not None and first.task.credits_reserved is None
        assert w.stop_watching(first.key)
        until(lambda: not first.watching, "stopped")
        w.prompt = "a second fox"
        with pytest.raises(InvalidRequestError) as refused:
            w.generate_nowait()
        assert refused.value.field == "budget"
        assert server.count("POST") == 1  # the second clip was never sent
    finally:
        w.close()
        client.close()


# -- finding 4: two batches started at once from two threads both passed the budget's check -----
def test_two_batches_started_at_once_never_pass_the_budget_together(emulator: EmulatorServer) -> None:
    """``generate_batch`` checked the budget, then started the batch, with nothing held between.

    Two threads (a notebook's thread pool, or a helper thread beside the kernel's) starting a
    batch each both passed the check before either batch was counted, so together they reserved
    more than the cap. The check and the start must be one step.
    """
    client = FoxClient("sk-review-budget-race-key", emulator.url)
    try:
        first = KlingWidget(client=client)  # one priced clip in the journal: prices are known
        first.send = lambda content, buffers=None: None  # type: ignore[method-assign]
        first.prompt = "a fox that sets the price"
        priced = first.wait(first.generate_nowait(), timeout=HANG_GUARD)
        price = priced.task.credits_reserved if priced.task else None
        assert price
        first.close()

        w = KlingWidget(client=client, budget=3 * price)  # one batch of two fits, two do not
        w.send = lambda content, buffers=None: None  # type: ignore[method-assign]
        both_checked = threading.Barrier(2, timeout=2.0)
        check = w._budget_guard.problems

        def slow_check(*args: Any, **kwargs: Any) -> Any:
            answer = check(*args, **kwargs)
            # Widen the window between the check and the start (a lock makes it wait alone).
            with contextlib.suppress(threading.BrokenBarrierError):
                both_checked.wait()
            return answer

        w._budget_guard.problems = slow_check  # type: ignore[method-assign]
        outcomes: list[str] = []

        def start(label: str) -> None:
            try:
                w.generate_batch([{"prompt": f"{label} fox"}, {"prompt": f"{label} owl"}])
                outcomes.append("started")
            except InvalidRequestError as error:
                outcomes.append(f"refused:{error.field}")

        threads = [threading.Thread(target=start, args=(name,)) for name in ("left", "right")]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(HANG_GUARD)
        assert sorted(outcomes) == ["refused:budget", "started"]
        assert len([g for g in w.tasks if not g.restored]) == 2  # the first studio's clip shows restored
        w.close()
    finally:
        client.close()


# -- finding 5: a restart followed only the newest 20 journaled tasks -----------------------------
def test_a_restart_follows_every_unfinished_task_not_only_the_newest_twenty(
    emulator: EmulatorServer, slow: Callable[[float], None]
) -> None:
    """``restore_from_journal`` read ``history(RESTORE_LIMIT)`` and nothing more.

    A kernel that restarted while more than 20 clips ran (a Python caller's loop, at a generous
    concurrency) showed and followed only the newest 20: the oldest members, which
    had started first and were billed like the others, were neither followed nor downloaded in
    the new studio, and no card said they existed.
    """
    count = RESTORE_LIMIT + 2
    client = FoxClient("sk-review-restart-key", emulator.url)
    try:
        slow(60)
        before = KlingWidget(client=client, concurrency=count)
        before.send = lambda content, buffers=None: None  # type: ignore[method-assign]
        generations = [started(before, f"clip {i}") for i in range(count)]  # batches take 8: one by one
        task_ids = [str(g.task_id) for g in generations]
        before.close()  # the kernel goes away; the provider keeps running them
        slow(0.5)

        after = KlingWidget(client=client)  # the new kernel's studio
        after.send = lambda content, buffers=None: None  # type: ignore[method-assign]
        known = {g.task_id for g in after.tasks}
        assert [t for t in task_ids if t not in known] == [], "unfinished tasks not restored"
        for task_id in task_ids:
            assert after.wait(task_id, timeout=HANG_GUARD).done
        after.close()
    finally:
        client.close()


# -- finding 6: classroom mode took a client that only said it was the emulator ------------------
def test_classroom_mode_refuses_a_client_marked_emulator_that_sends_elsewhere() -> None:
    """``emulator_for`` trusted the client's ``mode`` label alone.

    ``FoxClient(key, "https://<the live API>", mode="emulator")`` (a label, not where it sends)
    was accepted in classroom mode: the studio said "emulator · nothing is billed" and every
    student's clip went to the live API with the key. Every emulator runs on this machine.
    """
    labelled = FoxClient("sk-a-real-looking-key-123", "https://api.example", mode="emulator")
    try:
        with pytest.raises(ValueError, match="classroom"):
            KlingWidget(classroom=True, client=labelled)
    finally:
        labelled.close()


# -- finding 7: a video-request could get two answers ---------------------------------------------
def test_a_video_request_whose_sender_cannot_start_gets_one_answer_and_a_video_error(
    widget: KlingWidget, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``VideoTransfers.request`` sent the header (the answer), then started the sender's thread.

    When the thread could not start (a process out of threads: ``RuntimeError: can't start new
    thread``), the error escaped to the dispatcher, which answered the same request a second
    time; the view ignores a second answer, so it waited for chunks that never came until its
    timeout, and the open file and the registered transfer stayed behind.
    """
    from foxkling_widgets import _transport

    widget.prompt = "a fox to play"
    done = widget.wait(widget.generate_nowait(), timeout=HANG_GUARD)
    assert done.done

    class NoThread(threading.Thread):
        def start(self) -> None:
            raise RuntimeError("can't start new thread")

    # Only the transport module's threads: everything else keeps starting its own.
    monkeypatch.setattr(_transport, "threading", types.SimpleNamespace(Thread=NoThread, Condition=threading.Condition))
    widget._on_custom_message(widget, {"id": "v1", "kind": "video-request", "task_id": done.key}, [])
    sent: list[tuple[dict[str, Any], Any]] = widget.sent  # type: ignore[attr-defined]
    answers = [c for c, _b in sent if c.get("id") == "v1" and c.get("kind") in ("video-response", "error-response")]
    errors = [c for c, _b in sent if c.get("id") == "v1" and c.get("kind") == "video-error"]
    assert len(answers) == 1, answers
    assert len(errors) == 1 and errors[0]["ok"] is False
    assert len(widget._transfers) == 0  # nothing left registered


# -- finding 8: FOXKLING_CLASSROOM=1 kept studios on the emulator, but not the %%kling magic -------
def test_classroom_mode_keeps_the_kling_magic_on_the_emulator_too(
    server: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The magic chose live whenever a key was set, ignoring ``FOXKLING_CLASSROOM``.

    A teacher sets ``FOXKLING_CLASSROOM=1`` so nothing in the class goes live; with
    ``FOXAPI_API_KEY`` also in the environment (the teacher's own), a ``%%kling`` cell in a
    student's notebook submitted, and billed, on the live API with that key.
    """
    import IPython.display

    import foxkling_widgets.emulator as emulator_package
    from foxkling_widgets._magic import kling

    class Handle:
        def update(self, _obj: Any) -> None:
            return None

    monkeypatch.setattr(IPython.display, "display", lambda *_a, display_id=None, **_k: Handle() if display_id else None)
    monkeypatch.setenv("FOXKLING_CLASSROOM", "1")
    monkeypatch.setenv("FOXAPI_API_KEY", "sk-the-teachers-own-key-0123456789")
    monkeypatch.setenv("FOXAPI_BASE_URL", server.url)  # stands for the live API: it records what it gets
    with EmulatorServer(EmulatorConfig(seconds_per_video=0)) as local:
        monkeypatch.setattr(emulator_package, "shared_emulator", lambda: local)
        kling("", "a fox in class")
        assert server.requests == []  # nothing reached the "live" API
        assert local.emulator.stats["posts"] == 1


# -- finding 9: a submit whose error answer named its task: the studio dropped the id ------------
def named_by_a_502(server: FakeServer) -> str:
    """A gateway 502 whose body names the task it created; polls say the task is running."""
    task_id = "task-unified-1700000000-paid502x"

    def answer(seen: Any) -> Reply:
        if seen.method == "POST":
            return json_reply({"id": task_id, "status": "pending", "error": {"message": "upstream timeout"}}, 502)
        return json_reply({"id": task_id, "status": "processing", "progress": 40, "created": int(time.time())})

    server.answer = answer
    return task_id


def test_a_task_named_by_an_error_answer_is_followed_by_the_studio(server: FakeServer) -> None:
    """``Controller._submit`` let every error through to ``Generation.fail``.

    A submit answered with an error that still named its task (a 502 with the id, an answer cut
    off after the id, a body that was not usable JSON) is journaled with that id by the client,
    whose docstring says "resume() and the widget follow it". The studio did not: the card said
    "uncertain" with ``task_id: null``, nothing polled the task the provider was running and
    billing, and it could be neither resumed nor played in this session.
    """
    task_id = named_by_a_502(server)
    client = FoxClient("sk-review-named-key-0123456789", server.url)
    w = KlingWidget(client=client)
    w.send = lambda content, buffers=None: None  # type: ignore[method-assign]
    try:
        w.prompt = "a fox behind a flaky gateway"
        generation = w._find(w.generate_nowait())
        assert generation is not None
        until(lambda: generation.task_id is not None or not generation.watching, "the submit ended")
        assert generation.task_id == task_id, (generation.status, generation.error)
        until(lambda: generation.status == "processing", "the task is followed")
        assert generation.watching and server.count("POST") == 1  # followed, never re-sent
        assert w.stop_watching(generation.key)
        until(lambda: generation.resumable, "stopped, and resumable")
    finally:
        w.close()
        client.close()


# -- finding 10: a task named by an error answer was journaled under the wrong host --------------
def test_a_task_named_by_an_error_answer_is_journaled_under_the_clients_journal_host(server: FakeServer) -> None:
    """``_submit_payload`` recorded such a task under ``base_url``, every other task under ``journal_host``.

    For a client whose two differ (the built-in emulator, journaled as one host across kernels
    whose ports change; a proxy named by ``journal_host``), the task sat in the journal under a
    host nothing reads: ``history()``, a new studio's restore and ``resume()`` never found it,
    so after a restart it was neither shown nor followed.
    """
    task_id = named_by_a_502(server)
    journal = scratch_journal()

    async def go() -> list[str]:
        async with AsyncFoxClient(
            "sk-review-host-key-0123456789", server.url, journal=journal, journal_host="foxapi-main", sleep=instant
        ) as client:
            with pytest.raises(SubmitUncertainError):
                await client.submit(VideoRequest(prompt="a fox behind a flaky gateway"))
            return [entry.task_id for entry in client.history()]

    assert asyncio.run(go()) == [task_id]
