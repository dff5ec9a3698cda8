"""The ``%%kling`` cell magic in-process: flags, refusals that send nothing, progress, the video.

``IPython.display.display`` is replaced by a recorder, so these tests see exactly what the cell's
output would show. The magic in a real kernel is covered by ``test_notebooks.py``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from foxkling_widgets._display import VideoDisplay
from foxkling_widgets._exceptions import GenerationInterrupted
from foxkling_widgets._journal import Journal
from foxkling_widgets._magic import kling, parse, register
from foxkling_widgets._types import Task
from foxkling_widgets.client import FoxClient
from foxkling_widgets.emulator import EmulatorConfig, EmulatorServer

pytestmark = pytest.mark.timeout(120)


class Handle:
    """Stands in for IPython's DisplayHandle: remembers every update."""

    def __init__(self, outputs: list[str], first: Any) -> None:
        self.outputs = outputs
        self.outputs.append(first.data)

    def update(self, obj: Any) -> None:
        self.outputs.append(obj.data)


@pytest.fixture
def outputs(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    import IPython.display

    shown: list[str] = []

    def display(obj: Any, display_id: Any = None, **_: Any) -> Any:
        if display_id:
            return Handle(shown, obj)
        shown.append(obj.data)
        return None

    monkeypatch.setattr(IPython.display, "display", display)
    return shown


@pytest.fixture(scope="module")
def server() -> Iterator[EmulatorServer]:
    with EmulatorServer(EmulatorConfig(seconds_per_video=0.5)) as running:
        yield running


@pytest.fixture
def live_at_emulator(server: EmulatorServer, monkeypatch: pytest.MonkeyPatch) -> EmulatorServer:
    # A key and a base URL: the magic takes the "live" path, which here is a loopback emulator
    # whose request counters tell whether anything was sent.
    monkeypatch.setenv("FOXAPI_API_KEY", "sk-magic-test")
    monkeypatch.setenv("FOXAPI_BASE_URL", server.url)
    return server


def test_every_flag_parses() -> None:
    request, emulator = parse(
        '--aspect 9:16 --duration 10 --resolution 1080p --audio --negative "blur, text" '
        '--voice v1 --voice v2 --segment "wide shot: fox:6" --segment "close-up:4" --emulator',
        "  a red fox in snow \n",
    )
    assert emulator
    assert request.prompt == "a red fox in snow"
    assert (request.aspect_ratio, request.duration, request.resolution) == ("9:16", 10, "1080p")
    assert request.generate_audio and request.negative_prompt == "blur, text"
    assert list(request.voice_ids) == ["v1", "v2"]
    assert [(s.prompt, s.duration) for s in request.shots] == [("wide shot: fox", 6), ("close-up", 4)]


def test_defaults_without_flags() -> None:
    request, emulator = parse("", "a fox")
    assert not emulator
    assert (request.aspect_ratio, request.duration, request.resolution, request.generate_audio) == (
        "16:9",
        5,
        "720p",
        False,
    )


@pytest.mark.parametrize(
    ("line", "cell", "says"),
    [
        ("--duration 7", "a fox", "duration"),
        ("--duration ten", "a fox", "ten"),
        ("--segment nocolon", "a fox", "nocolon"),
        ("--bogus", "a fox", "--bogus"),
        ('--negative "unclosed', "a fox", "quotation"),
        ("--aspect 4:3", "a fox", "aspect_ratio"),
        ("--duration 10 --segment a:6 --segment b:3", "", "--even-out"),
        ("--voice v1", "a fox", "add --audio"),
        ("", "   ", "prompt"),
    ],
)
def test_bad_input_says_why_and_sends_nothing(
    line: str, cell: str, says: str, outputs: list[str], live_at_emulator: EmulatorServer
) -> None:
    posts = live_at_emulator.emulator.stats["posts"]
    assert kling(line, cell) is None
    assert len(outputs) == 1 and "%%kling:" in outputs[0] and says in outputs[0]
    assert live_at_emulator.emulator.stats["posts"] == posts


def test_a_cell_shows_progress_then_the_video(
    outputs: list[str], live_at_emulator: EmulatorServer, tmp_path: Path
) -> None:
    posts = live_at_emulator.emulator.stats["posts"]
    shown = kling("--aspect 9:16 --audio", "a <b>bold</b> fox")
    assert isinstance(shown, VideoDisplay)
    assert live_at_emulator.emulator.stats["posts"] == posts + 1
    assert outputs[0].startswith("<div>submitting") and any("<progress" in o for o in outputs)
    assert "done:" in outputs[-1] and "(live)" in outputs[-1]
    # The file is in the shared video cache, and the journal knows where.
    assert shown.path.exists() and shown.path.parent.name == "videos"
    entry = next((e for e in Journal.default().entries() if e.task_id == shown.path.stem), None)
    assert entry is not None and entry.local_path == str(shown.path)
    page = shown._repr_html_()
    assert page.startswith("<figure") and "data:video/mp4;base64," in page
    assert "<b>bold</b>" not in page and "&lt;b&gt;bold" in page  # the caption is escaped


def test_a_failed_task_says_so(outputs: list[str], live_at_emulator: EmulatorServer) -> None:
    assert kling("", "a fox [fail:content_policy]") is None
    assert "failed (content_policy_violation)" in outputs[-1]


def test_the_emulator_flag_needs_no_key(outputs: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    import foxkling_widgets.emulator as emulator_package

    with EmulatorServer(EmulatorConfig(seconds_per_video=0)) as server:
        monkeypatch.setattr(emulator_package, "shared_emulator", lambda: server)
        monkeypatch.setenv("FOXAPI_API_KEY", "sk-should-not-be-used")
        shown = kling("--emulator", "a fox")
        assert isinstance(shown, VideoDisplay) and "(emulator)" in outputs[-1]
        assert server.emulator.stats["posts"] == 1


def test_register_adds_the_cell_magic() -> None:
    registered: list[tuple[Any, str, str]] = []

    class Shell:
        def register_magic_function(self, func: Any, magic_kind: str, magic_name: str) -> None:
            registered.append((func, magic_kind, magic_name))

    register(Shell())
    assert registered == [(kling, "cell", "kling")]


def test_even_out_shares_the_duration() -> None:
    request, _ = parse("--duration 10 --segment a:6 --segment b:3 --segment c:9 --even-out", "")
    assert [s.duration for s in request.shots] == [4, 3, 3]  # the widget's "Even out": larger parts first


def test_voices_need_the_audio_flag() -> None:
    request, _ = parse("--voice v1 --audio", "a fox")
    assert request.generate_audio and list(request.voice_ids) == ["v1"]


def test_an_error_shows_its_hint_once(
    outputs: list[str], live_at_emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FOXAPI_API_KEY", "sk-test-402")  # the emulator answers 402
    assert kling("", "a fox") is None
    assert "Top up your FoxAPI balance" in outputs[-1]
    assert outputs[-1].count("Top up your FoxAPI balance") == 1
    assert "\nTop up" in outputs[-1] and "\\x0a" not in outputs[-1]  # on a line of its own


def test_hostile_server_text_is_shown_escaped(
    outputs: list[str], live_at_emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    def watch(self: FoxClient, task: Task, **kwargs: Any) -> Any:
        yield Task.from_json({"id": "task-\u202eevil", "status": "failed", "error": {"message": "no\x1b[2J"}})

    monkeypatch.setattr(FoxClient, "watch", watch)
    assert kling("", "a fox") is None
    shown = "".join(outputs)
    assert "\u202e" not in shown and "\x1b" not in shown and "\\u202e" in shown and "\\x1b" in shown


def _interrupt(monkeypatch: pytest.MonkeyPatch, method: str, error: KeyboardInterrupt) -> None:
    def raising(self: FoxClient, *args: Any, **kwargs: Any) -> Any:
        raise error

    monkeypatch.setattr(FoxClient, method, raising)


def test_an_interrupted_submit_says_the_task_id(
    outputs: list[str], live_at_emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    _interrupt(monkeypatch, "submit", GenerationInterrupted("task-unified-1-interrupt"))
    with pytest.raises(KeyboardInterrupt) as raised:
        kling("", "a fox")
    assert "task-unified-1-interrupt" in outputs[-1]
    assert "foxkling download task-unified-1-interrupt" in outputs[-1]
    # The note says how to fetch the task; the interrupt raised on (shown as the traceback) does not repeat it.
    assert "foxkling download" not in str(raised.value)


def test_an_uncertain_interrupted_submit_says_so(
    outputs: list[str], live_at_emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    _interrupt(monkeypatch, "submit", GenerationInterrupted(None, uncertain=True))
    with pytest.raises(KeyboardInterrupt):
        kling("", "a fox")
    assert "outcome is unknown" in outputs[-1] and "foxkling tasks" in outputs[-1]


@pytest.mark.parametrize("method", ["watch", "download"])
def test_an_interrupt_after_the_submit_names_the_task_once(
    outputs: list[str], live_at_emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch, method: str
) -> None:
    _interrupt(monkeypatch, method, KeyboardInterrupt())
    with pytest.raises(KeyboardInterrupt) as raised:
        kling("", "a fox")
    task_id = Journal.default().entries(limit=1)[0].task_id
    assert f"foxkling download {task_id}" in outputs[-1]
    assert outputs[-1].count("foxkling download") == 1 and "foxkling download" not in str(raised.value)


def test_an_interrupt_before_the_submit_was_sent(
    outputs: list[str], live_at_emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    _interrupt(monkeypatch, "submit", KeyboardInterrupt())  # the client's word for "refused or never sent"
    with pytest.raises(KeyboardInterrupt):
        kling("", "a fox")
    assert "most likely nothing was sent" in outputs[-1] and "foxkling tasks" in outputs[-1]
