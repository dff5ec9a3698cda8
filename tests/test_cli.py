"""The ``foxkling`` command against a loopback emulator: results, exit codes and messages."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest

from foxkling_widgets.cli import main
from foxkling_widgets.emulator import EmulatorConfig, EmulatorServer

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def server() -> Iterator[EmulatorServer]:
    with EmulatorServer(EmulatorConfig(seconds_per_video=0.3)) as running:
        yield running


@pytest.fixture
def live(server: EmulatorServer, monkeypatch: pytest.MonkeyPatch) -> EmulatorServer:
    monkeypatch.setenv("FOXAPI_BASE_URL", server.url)
    monkeypatch.setenv("FOXAPI_API_KEY", "sk-cli-test")
    server.emulator.reset()
    return server


def cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def test_generate_multi_shot_with_audio(live: EmulatorServer, tmp_path: Path) -> None:
    target = tmp_path / "out.mp4"
    code, out, err = cli(
        "generate", "a fox", "--resolution", "1080p", "--aspect", "9:16", "--duration", "10",
        "--segment", "shot one:6", "--segment", "shot two: with a colon:4", "--audio", "-o", str(target),
    )  # fmt: skip
    assert code == 0, err
    assert out.strip() == str(target) and target.read_bytes()[4:8] == b"ftyp"
    assert "100.0%" in err and "credits reserved" in err
    assert live.emulator.stats["posts"] == 1


def test_status_download_and_tasks(live: EmulatorServer, tmp_path: Path) -> None:
    code, _, _ = cli("generate", "a fox", "-o", str(tmp_path / "a.mp4"))
    task_id = cli("tasks")[1].split()[0]  # the journal's newest entry
    assert code == 0 and task_id.startswith("task-unified-")
    code, out, _ = cli("status", task_id)
    assert code == 0 and "completed" in out and "100%" in out
    code, out, _ = cli("download", task_id, "-o", str(tmp_path / "b.mp4"))
    assert code == 0 and (tmp_path / "b.mp4").exists()


@pytest.mark.parametrize(
    ("argv", "code"),
    [
        (("generate", "a fox", "--duration", "7"), 2),
        (("generate", "a fox", "--aspect", "4:3"), 2),
        (("generate", "a fox", "--segment", "no seconds"), 2),
        (("generate", "", "--duration", "10", "--segment", "a:6", "--segment", "b:3"), 2),
        (("generate", "a fox", "--voice", "v1", "--voice", "v2", "--voice", "v3"), 2),
        (("generate", "a fox [fail:content_policy]"), 4),
        (("status", "task-unified-1-missing0"), 3),
    ],
)
def test_exit_codes(
    live: EmulatorServer, tmp_path: Path, argv: tuple[str, ...], code: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    got, _, err = cli(*argv)
    assert got == code, err
    assert live.emulator.stats["posts"] == (1 if code == 4 else 0)


def test_uncertain_submit_exits_5_and_is_not_resent(live: EmulatorServer, tmp_path: Path) -> None:
    live.emulator.inject("server_error_post_after_create")
    code, _, err = cli("generate", "a fox", "-o", str(tmp_path / "x.mp4"))
    assert code == 5 and "NOT re-sent" in err and live.emulator.stats["posts"] == 1


def test_no_key_says_how_to_set_one(monkeypatch: pytest.MonkeyPatch) -> None:
    code, _, err = cli("generate", "a fox")
    assert code == 2 and "FOXAPI_API_KEY" in err and "--emulator" in err


def test_emulator_flag_needs_no_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FOXKLING_EMULATOR_SECONDS", "0")
    code, _, err = cli("generate", "a fox", "--emulator", "-o", str(tmp_path / "e.mp4"))
    assert code == 0 and "emulator" in err
