"""The ``foxkling`` command for real: in-process ``main()`` and ``python -m`` subprocesses, over loopback.

Two servers: the emulator (honest, with injected faults) and :class:`FakeAPI`, a tiny
``http.server`` on 127.0.0.1 that answers whatever a test sets: hostile text, ids that are paths,
a task that never finishes.
"""

from __future__ import annotations

import io
import json
import os
import re
import signal
import subprocess
import sys
import threading
import unicodedata
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from foxkling_widgets._exceptions import GenerationInterrupted
from foxkling_widgets._journal import Journal
from foxkling_widgets._types import Task
from foxkling_widgets.cli import main
from foxkling_widgets.client import FoxClient
from foxkling_widgets.emulator import EmulatorConfig, EmulatorServer

pytestmark = pytest.mark.timeout(120)

# Everything a terminal acts on: CSI clear screen, OSC retitle ended by BEL, a bare CR, a C1 CSI,
# a right-to-left override, a line separator, and a tab that would break the table's columns.
HOSTILE = "\x1b[2J\x1b]0;owned\x07\rfake\x9b31m\u202egpm.exe\u2028x\ty\x00"
MP4 = b"\x00\x00\x00\x18ftypmp42" + bytes(200)


def assert_terminal_safe(text: str) -> None:
    """No character a terminal would act on, except the newlines that end our own lines."""
    bad = [c for c in text if c != "\n" and unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp", "Cs")]
    assert not bad, f"raw control characters reached the terminal: {bad!r} in {text!r}"


class FakeAPI:
    """A loopback FoxAPI whose answers the test sets.

    ``submit`` is the POST's answer (``submit_status`` its HTTP status); ``task`` is every GET
    ``/v1/tasks/...``'s answer, with ``{url}`` in strings replaced by this server's URL; the
    video is served at ``/files/video.mp4``.
    """

    def __init__(self) -> None:
        self.submit: dict[str, Any] = {"id": "task-fake-1", "status": "pending", "usage": {"credits_reserved": 10}}
        self.submit_status = 200
        self.task: dict[str, Any] = {
            "id": "task-fake-1",
            "status": "completed",
            "progress": 100,
            "results": [{"url": "{url}/files/video.mp4"}],
        }
        self.posts = 0
        self.gets = 0
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # quiet: no access log on stderr
                pass

            def _json(self, status: int, body: Any) -> None:
                data = json.dumps(body).replace("{url}", fake.url).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                fake.posts += 1
                self._json(fake.submit_status, fake.submit)

            def do_GET(self) -> None:
                if self.path.startswith("/files/"):
                    self.send_response(200)
                    self.send_header("Content-Type", "video/mp4")
                    self.send_header("Content-Length", str(len(MP4)))
                    self.end_headers()
                    self.wfile.write(MP4)
                    return
                fake.gets += 1
                self._json(200, fake.task)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> FakeAPI:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


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


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeAPI]:
    with FakeAPI() as api:
        monkeypatch.setenv("FOXAPI_BASE_URL", api.url)
        monkeypatch.setenv("FOXAPI_API_KEY", "sk-cli-fake-key")
        yield api


def cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def run_cli(*argv: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    """``python -m foxkling_widgets.cli ARGV`` in a real process (the environment is inherited)."""
    return subprocess.run(
        [sys.executable, "-m", "foxkling_widgets.cli", *argv], capture_output=True, text=True, timeout=90, **kwargs
    )


def table(out: str) -> list[list[str]]:
    """``foxkling tasks`` rows, split on the two-space column gaps."""
    return [re.split(r"\s{2,}", line) for line in out.splitlines()]


# -- the happy paths --------------------------------------------------------------------------


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
    task_id = table(cli("tasks")[1])[1][0]  # the journal's newest entry, under the header
    assert code == 0 and task_id.startswith("task-unified-")
    code, out, _ = cli("status", task_id)
    assert code == 0 and "completed" in out and "100%" in out
    code, out, _ = cli("download", task_id, "-o", str(tmp_path / "b.mp4"))
    assert code == 0 and (tmp_path / "b.mp4").exists()


def test_a_real_process_generates_and_downloads(live: EmulatorServer, tmp_path: Path) -> None:
    result = run_cli("generate", "a fox", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    saved = tmp_path / result.stdout.strip()
    assert saved.parent == tmp_path and saved.read_bytes()[4:8] == b"ftyp"


@pytest.mark.parametrize(
    ("argv", "code"),
    [
        (("generate", "a fox", "--duration", "7"), 2),
        (("generate", "a fox", "--aspect", "4:3"), 2),
        (("generate", "a fox", "--segment", "no seconds"), 2),
        (("generate", "", "--duration", "10", "--segment", "a:6", "--segment", "b:3"), 2),
        (("generate", "a fox", "--voice", "v1", "--voice", "v2", "--voice", "v3", "--audio"), 2),
        (("generate", "a fox", "--voice", "v1"), 2),
        (("generate", "a fox", "-o", "no/such/folder/x.mp4"), 2),
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


def test_classroom_mode_keeps_the_command_on_the_emulator_whatever_key_is_set(
    live: EmulatorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FOXKLING_CLASSROOM", "1")
    monkeypatch.setenv("FOXKLING_EMULATOR_SECONDS", "0")
    posts = live.emulator.stats["posts"]  # the "live" API of this test: nothing may reach it
    code, _, err = cli("generate", "a fox", "-o", str(tmp_path / "c.mp4"))
    assert code == 0 and "classroom mode" in err and (tmp_path / "c.mp4").exists(), err
    assert live.emulator.stats["posts"] == posts


def test_bad_flags_report_on_the_given_stream() -> None:
    code, out, err = cli("generate", "--duration", "ten")
    assert code == 2 and out == "" and "invalid int value" in err


# -- 1. server text never reaches the terminal raw ----------------------------------------------


def test_status_shows_hostile_server_text_escaped(fake: FakeAPI) -> None:
    fake.task = {
        "id": "task-" + HOSTILE,
        "status": "processing" + HOSTILE,
        "progress": 40,
        "results": [{"url": "{url}/files/" + HOSTILE}],
    }
    code, out, err = cli("status", "task-fake-1")
    assert code == 0, err
    assert_terminal_safe(out + err)
    assert "\\x1b[2J" in out and "\\u202e" in out  # shown as visible escapes, not dropped


def test_a_failed_task_with_hostile_reason(fake: FakeAPI, tmp_path: Path) -> None:
    fake.task = {
        "id": "task-fake-1",
        "status": "failed",
        "progress": 100,
        "error": {"code": "policy" + HOSTILE, "message": "refused" + HOSTILE},
    }
    code, out, err = cli("generate", "a fox", "-o", str(tmp_path / "x.mp4"))
    assert code == 4
    assert_terminal_safe(out + err)
    # 5. the bar says "failed" and why, not "100.0% failed"
    assert "100.0%" not in err and "failed (policy\\x1b[2J" in err and "refused\\x1b[2J" in err


def test_a_hostile_error_response(fake: FakeAPI) -> None:
    fake.submit_status = 400
    fake.submit = {"error": {"message": "bad" + HOSTILE, "code": "c" + HOSTILE, "type": "t" + HOSTILE}}
    code, out, err = cli("generate", "a fox")
    assert code == 2 and "bad\\x1b[2J" in err
    assert_terminal_safe(out + err)


def test_a_hostile_submit_id_and_interrupt_message(fake: FakeAPI, monkeypatch: pytest.MonkeyPatch) -> None:
    fake.submit = {"id": "task-" + HOSTILE, "status": "pending"}

    def interrupted(self: FoxClient, *args: Any, **kwargs: Any) -> Task:
        raise KeyboardInterrupt

    monkeypatch.setattr(FoxClient, "wait", interrupted)
    code, out, err = cli("generate", "a fox")
    assert code == 130 and "task-\\x1b[2J" in err
    assert_terminal_safe(out + err)


def test_tasks_lists_hostile_journal_rows_escaped(fake: FakeAPI) -> None:
    task = Task.from_json({"id": "task-" + HOSTILE, "status": "processing" + HOSTILE, "progress": 10})
    Journal.default().record_submitted(None, task, {"prompt": "a fox" + HOSTILE}, "http://evil" + HOSTILE)
    code, out, err = cli("tasks")
    assert code == 0, err
    assert_terminal_safe(out + err)
    assert "task-\\x1b[2J" in out


# -- 2. a server's id names a file in the current folder, never a path ---------------------------


@pytest.mark.parametrize("hostile_id", ["../../x", "a/b", "..", "x\x1b[2J"])
@pytest.mark.parametrize("command", ["generate", "download"])
def test_files_named_after_server_ids_stay_in_the_current_folder(
    fake: FakeAPI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, hostile_id: str, command: str
) -> None:
    work = tmp_path / "outer" / "inner" / "work"
    work.mkdir(parents=True)
    monkeypatch.chdir(work)
    fake.task["id"] = hostile_id  # the task the server reports back, polled or fetched
    code, out, err = cli(*(("generate", "a fox") if command == "generate" else ("download", "task-fake-1")))
    assert code == 0, err
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert [p.parent for p in written] == [work], written
    assert Path(out.strip()).resolve() == written[0] and written[0].read_bytes() == MP4
    assert_terminal_safe(out + err)


# -- 3. interrupts say which task keeps running and how to fetch it ---------------------------


def test_interrupt_during_wait_names_the_task(live: EmulatorServer, monkeypatch: pytest.MonkeyPatch) -> None:
    submitted: list[str] = []
    real_submit = FoxClient.submit

    def submit(self: FoxClient, request: Any) -> Task:
        task = real_submit(self, request)
        submitted.append(task.id)
        return task

    def wait(self: FoxClient, *args: Any, **kwargs: Any) -> Task:
        raise KeyboardInterrupt

    monkeypatch.setattr(FoxClient, "submit", submit)
    monkeypatch.setattr(FoxClient, "wait", wait)
    code, _, err = cli("generate", "a fox")
    assert code == 130 and submitted
    assert submitted[0] in err and f"foxkling download {submitted[0]}" in err


class TTY(io.StringIO):
    """stderr as a terminal: the bar redraws itself in place."""

    def isatty(self) -> bool:
        return True


def test_a_tty_bar_redraws_in_place_and_an_interrupt_starts_a_new_line(
    live: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    def wait(self: FoxClient, task: Task, *, on_progress: Any, **kwargs: Any) -> Task:
        on_progress(Task.from_json({"id": task.id, "status": "processing", "progress": 40}))
        raise KeyboardInterrupt

    monkeypatch.setattr(FoxClient, "wait", wait)
    err = TTY()
    assert main(["generate", "a fox"], out=io.StringIO(), err=err) == 130
    text = err.getvalue()
    assert "\r[############" in text and " 40.0% processing\x1b[K\nfoxkling: interrupted. Task " in text


def test_interrupt_during_the_download_of_generate(live: EmulatorServer, monkeypatch: pytest.MonkeyPatch) -> None:
    def download(self: FoxClient, task: Task, *args: Any, **kwargs: Any) -> Path:
        raise KeyboardInterrupt

    monkeypatch.setattr(FoxClient, "download", download)
    code, _, err = cli("generate", "a fox")
    assert code == 130
    task_id = Journal.default().entries(limit=1)[0].task_id
    assert f"foxkling download {task_id}" in err


def test_interrupt_during_download_says_how_to_retry(live: EmulatorServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(FoxClient, "get_task", lambda self, task_id: (_ for _ in ()).throw(KeyboardInterrupt))
    code, _, err = cli("download", "task-unified-1-abcdefgh")
    assert code == 130 and "foxkling download task-unified-1-abcdefgh" in err


@pytest.mark.parametrize(
    ("error", "says"),
    [
        (GenerationInterrupted("task-gi-1"), "foxkling download task-gi-1"),
        (GenerationInterrupted(None, uncertain=True), "foxkling tasks"),
        (KeyboardInterrupt(), "foxkling tasks"),  # the client before it let submits finish
    ],
)
def test_interrupt_during_the_submit(
    live: EmulatorServer, monkeypatch: pytest.MonkeyPatch, error: KeyboardInterrupt, says: str
) -> None:
    def submit(self: FoxClient, request: Any) -> Task:
        raise error

    monkeypatch.setattr(FoxClient, "submit", submit)
    code, _, err = cli("generate", "a fox")
    assert code == 130 and says in err and "Traceback" not in err


def test_sigint_while_a_real_process_waits(fake: FakeAPI, tmp_path: Path) -> None:
    fake.task = {"id": "task-fake-1", "status": "processing", "progress": 10}  # never finishes
    process = subprocess.Popen(
        [sys.executable, "-m", "foxkling_widgets.cli", "generate", "a fox"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stderr is not None
        first = process.stderr.readline()  # printed once the submit returned, just before waiting
        assert "task task-fake-1 submitted" in first
        process.send_signal(signal.SIGINT)
        _, rest = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 130, rest
    assert "foxkling download task-fake-1" in rest and "Traceback" not in rest
    assert fake.posts == 1


# -- 4. foxkling tasks --------------------------------------------------------------------------


def test_tasks_has_a_header_dates_hosts_and_prompts(live: EmulatorServer, tmp_path: Path) -> None:
    long_prompt = "a red fox trots through fresh snow at dawn, the camera low, breath steaming in the cold"
    assert cli("generate", long_prompt, "-o", str(tmp_path / "a.mp4"))[0] == 0
    Journal.default().record_submitted(
        None, Task.from_json({"id": "task-remote-1", "status": "processing", "progress": 30}),
        {"multi_prompt": [{"prompt": "wide", "duration": 3}, {"prompt": "close", "duration": 2}]},
        "https://api.example.test",
    )  # fmt: skip
    code, out, err = cli("tasks")
    assert code == 0, err
    rows = table(out)
    assert rows[0] == ["TASK", "CREATED", "STATUS", "HOST", "PROMPT", "FILE"]
    remote, local = rows[1], rows[2]  # newest first
    assert remote[:4] == ["task-remote-1", remote[1], "processing 30%", "api.example.test"]
    assert remote[4] == "wide | close" and remote[5] == "-"
    assert local[2:4] == ["completed", "emulator"]  # a loopback port means nothing later
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d", local[1])
    assert local[4].endswith("\u2026") and long_prompt.startswith(local[4][:-1]) and len(local[4]) == 40
    assert local[5] == str(tmp_path / "a.mp4")


def test_tasks_into_a_closed_pipe_stops_quietly(live: EmulatorServer) -> None:
    read, write = os.pipe()
    os.close(read)  # every write now fails with EPIPE, as after `| head -1` has exited
    try:
        result = subprocess.run(
            [sys.executable, "-m", "foxkling_widgets.cli", "tasks"], stdout=write, stderr=subprocess.PIPE, timeout=90
        )
    finally:
        os.close(write)
    assert result.returncode == 141 and result.stderr == b""


def test_tasks_piped_into_head(live: EmulatorServer) -> None:
    journal = Journal.default()
    for i in range(300):  # more than a pipe buffer holds, so the writer meets the closed pipe
        task = Task.from_json({"id": f"task-many-{i:04d}", "status": "completed", "progress": 100})
        journal.record_submitted(None, task, {"prompt": "x" * 200}, "https://api.example.test")
    command = f"{sys.executable} -m foxkling_widgets.cli tasks --limit 1000 | head -1"
    result = subprocess.run(["sh", "-c", command], capture_output=True, text=True, timeout=90)
    assert result.stdout.split() == ["TASK", "CREATED", "STATUS", "HOST", "PROMPT", "FILE"]
    assert result.stderr == ""


# -- 5. small honesty fixes -----------------------------------------------------------------------


@pytest.mark.parametrize("command", [("generate", "a fox"), ("download", "task-unified-1-abcdefgh")])
def test_output_into_a_missing_folder_is_refused_before_sending(
    live: EmulatorServer, tmp_path: Path, command: tuple[str, ...]
) -> None:
    target = tmp_path / "missing" / "x.mp4"
    code, _, err = cli(*command, "-o", str(target))
    assert code == 2 and "no folder" in err and str(tmp_path / "missing") in err
    assert not target.parent.exists()
    assert live.emulator.stats["posts"] == 0 and live.emulator.stats["gets"] == 0


def test_voice_without_audio_is_refused(live: EmulatorServer) -> None:
    code, _, err = cli("generate", "a fox", "--voice", "v1")
    assert code == 2 and "add --audio" in err and live.emulator.stats["posts"] == 0


def test_shots_that_do_not_add_up_name_the_cli_fix(live: EmulatorServer, tmp_path: Path) -> None:
    code, _, err = cli("generate", "", "--duration", "10", "--segment", "a:6", "--segment", "b:3")
    assert code == 2 and "lengthen a shot by 1 s" in err and "--even-out" in err and "'even out'" not in err
    code, _, err = cli(
        "generate", "", "--duration", "10", "--segment", "a:6", "--segment", "b:3", "--even-out",
        "-o", str(tmp_path / "even.mp4"),
    )  # fmt: skip
    assert code == 0, err
    assert Journal.default().entries(limit=1)[0].request["multi_prompt"] == [
        {"prompt": "a", "duration": 5},
        {"prompt": "b", "duration": 5},
    ]


# -- 6. a key that cannot be sent ---------------------------------------------------------------


@pytest.mark.parametrize("key", ["sk-abcdefgh\nijklmnop", "sk-abcdéfghijklmnop"])
def test_a_key_that_cannot_be_sent_exits_2_and_is_never_printed(
    fake: FakeAPI, monkeypatch: pytest.MonkeyPatch, key: str
) -> None:
    monkeypatch.setenv("FOXAPI_API_KEY", key)
    code, out, err = cli("generate", "a fox")
    assert code == 2, err
    assert "api key" in err.lower() and fake.posts == 0
    for fragment in (key, *key.split("\n"), "abcdefgh", "ijklmnop", "fghijklmnop"):
        assert fragment not in out + err
