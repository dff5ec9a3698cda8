"""The ``foxkling`` command: run the emulator, generate a clip, check or download a task, list the journal.

Exit codes:

====  ==========================================================================================
0     done
2     bad input: nothing was sent (bad flags, an invalid request, a missing folder for ``-o``,
      no key or a key that cannot be sent)
3     API error (unreachable, refused, unknown task, download failed; a task not done yet)
4     the task failed (``foxkling download`` of a failed task too)
5     the submit's outcome is unknown: it may be billed, and it was never re-sent
130   interrupted (Ctrl-C); a task already submitted keeps running, and the message says its id
      and ``foxkling download ID``
141   the output was closed early (``foxkling tasks | head -1``): stops quietly, like other tools
====  ==========================================================================================

Everything the CLI prints passes through one helper (:meth:`_Console.say`), which makes text a
server wrote terminal-safe (:func:`~foxkling_widgets._terminal.terminal_safe`) and scrubs the key.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shlex
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO
from urllib.parse import urlsplit

from ._exceptions import (
    FoxAPIError,
    GenerationInterrupted,
    InvalidRequestError,
    SubmitUncertainError,
    TaskFailedError,
)
from ._filenames import sanitize_filename
from ._request_flags import add_request_arguments, request_from_args
from ._secrets import scrub
from ._status import TERMINAL
from ._terminal import terminal_safe, truncate
from ._types import Task

if TYPE_CHECKING:
    from ._journal import Journal, JournalEntry
    from .client import FoxClient

__all__ = ["main"]

EXIT_OK, EXIT_INPUT, EXIT_API, EXIT_FAILED, EXIT_UNCERTAIN, EXIT_INTERRUPTED = 0, 2, 3, 4, 5, 130
EXIT_PIPE = 141  # 128 + SIGPIPE: what a shell reports for a tool stopped by a closed pipe

PROMPT_WIDTH = 40  # characters of the prompt shown by ``foxkling tasks``


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        self.exit(EXIT_INPUT, f"{self.prog}: error: {message}\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="foxkling", description="Kling V3 videos through FoxAPI, or its local emulator.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    emulator = commands.add_parser("emulator", help="serve the local FoxAPI emulator")
    emulator.add_argument("--host", default="127.0.0.1", help="interface (loopback unless --allow-remote)")
    emulator.add_argument("--port", type=int, default=8765)
    emulator.add_argument("--allow-remote", action="store_true", help="permit a non-loopback --host")
    emulator.add_argument("--speed", type=float, default=8.0, help="simulated seconds per video (default 8)")
    emulator.add_argument("--shape", choices=["A", "B"], default="A", help="task response shape (contract A or B)")
    emulator.add_argument(
        "--real-size", action="store_true", help="files as large as real clips of their tier (10 s 4k: about 100 MB)"
    )

    generate = commands.add_parser("generate", help="generate a clip and download it")
    generate.add_argument("prompt", nargs="?", default="", help="the clip's prompt (optional with --segment)")
    add_request_arguments(generate)
    generate.add_argument(
        "-o", "--output", type=Path, default=None, help="where to save the MP4 (default <task id>.mp4 here)"
    )
    generate.add_argument("--timeout", type=float, default=900, help="seconds to wait (default 900)")

    tasks = commands.add_parser("tasks", help="list the task journal (every task submitted from this machine)")
    tasks.add_argument("--limit", type=int, default=30)

    status = commands.add_parser("status", help="show a task's status")
    status.add_argument("task_id")
    status.add_argument("--emulator", action="store_true")

    download = commands.add_parser("download", help="download a finished task's video")
    download.add_argument("task_id")
    download.add_argument(
        "-o", "--output", type=Path, default=None, help="where to save the MP4 (default <task id>.mp4 here)"
    )
    download.add_argument("--emulator", action="store_true")
    return parser


# Most specific first: InvalidRequestError is also a FoxAPIError and a ValueError.
_EXIT_CODES: tuple[tuple[type[Exception], int], ...] = (
    (InvalidRequestError, EXIT_INPUT),
    (TaskFailedError, EXIT_FAILED),
    (SubmitUncertainError, EXIT_UNCERTAIN),
    (FoxAPIError, EXIT_API),
    (ValueError, EXIT_INPUT),
)


class _Console:
    """The CLI's two streams. Every line goes through :meth:`say`.

    ``say`` makes each part terminal-safe and scrubs the configured key from it (a key that was
    refused is never registered with :mod:`._secrets`, so it is passed here explicitly). Only the
    console itself adds control characters: the CR and erase-line of a progress bar on a TTY.
    """

    def __init__(self, out: TextIO, err: TextIO) -> None:
        self.out = out
        self.err = err
        self._bar_open = False  # a TTY progress bar is on the current line, without its newline

    def _clean(self, part: object) -> str:
        return terminal_safe(scrub(str(part), os.environ.get("FOXAPI_API_KEY")))

    def say(self, *parts: object, stream: TextIO | None = None) -> None:
        """Print ``parts`` (joined by spaces) as one line, on stderr unless ``stream`` says otherwise."""
        target = stream or self.err
        if self._bar_open and target is self.err:
            print(file=self.err)
            self._bar_open = False
        print(" ".join(self._clean(p) for p in parts), file=target, flush=True)

    def result(self, *parts: object) -> None:
        """Print a result (a path, a status line, a table row) on stdout."""
        self.say(*parts, stream=self.out)

    def bar(self, task: Task) -> None:
        """One progress line; on a TTY it redraws itself in place."""
        if task.failed:
            reason = task.error.message if task.error else "no reason given"
            code = f" ({task.error.code})" if task.error and task.error.code else ""
            text = self._clean(f"failed{code}: {reason}")
        else:
            filled = int(30 * task.progress / 100)
            text = self._clean(f"[{'#' * filled}{'.' * (30 - filled)}] {task.progress:5.1f}% {task.status_text}")
        if self.err.isatty():
            end = "\n" if task.terminal else ""
            print("\r" + text + "\x1b[K", end=end, file=self.err, flush=True)
            self._bar_open = not task.terminal
        else:
            print(text, file=self.err, flush=True)


def _fetch_hint(task_id: str) -> str:
    return f"foxkling download {shlex.quote(task_id)}"


def _default_output(task: Task) -> Path:
    # The id is the server's: sanitized, it can only name a file directly in the current folder.
    return Path(sanitize_filename(task.id, default="video") + ".mp4")


def _check_output(path: Path | None) -> None:
    """Refuse an ``-o`` whose folder does not exist (before anything is sent; nothing is created)."""
    if path is None or path.is_dir():
        return
    folder = path.parent
    if not folder.is_dir():
        raise InvalidRequestError(
            f"there is no folder {folder} for -o {path}: create it first, or choose another path",
            field="output",
            hint="Nothing was sent or billed.",
        )


def _client(use_emulator: bool, console: _Console) -> FoxClient:
    from ._classroom import CLASSROOM_ENV, classroom_setting
    from .client import FoxClient, key_configured

    if not use_emulator and classroom_setting(None):
        # Classroom mode holds for every surface (studio, %%kling, this command): the teacher's
        # key in a student's environment must not make `!foxkling generate` go live.
        console.say(f"foxkling: classroom mode ({CLASSROOM_ENV}) keeps this on the built-in emulator")
        use_emulator = True
    if use_emulator:
        console.say("foxkling: using the built-in emulator (nothing is billed)")
        return FoxClient.emulator()
    if not key_configured():
        raise InvalidRequestError(
            "No FoxAPI key: set FOXAPI_API_KEY=sk-... or pass --emulator to try the built-in emulator.", field="api_key"
        )
    # A key that can never be sent (newline, space, non-ASCII) is refused by FoxClient() itself with
    # an InvalidRequestError that never repeats it: exit 2 like any bad input.
    return FoxClient()


def _host(base_url: str) -> str:
    """Where a journal row's task lives: ``emulator`` for loopback (its port is long gone), else the host."""
    try:
        host = urlsplit(base_url).hostname or base_url
    except ValueError:  # not a URL at all (a row written by something else): show it as it is
        host = base_url
    if host in ("localhost", "::1") or host.startswith("127."):
        return "emulator"
    return host


def _when(seconds: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(seconds))


def _prompt_of(request: dict[str, Any]) -> str:
    if request.get("voice_url"):
        return f"(voice from {request['voice_url']})"
    prompt = str(request.get("prompt") or "")
    shots = request.get("multi_prompt")
    if not prompt and isinstance(shots, list):
        prompt = " | ".join(str(s.get("prompt", "")) for s in shots if isinstance(s, dict))
    return prompt


def _status_of(entry: JournalEntry) -> str:
    if entry.status in TERMINAL:
        return entry.status
    return f"{entry.status} {entry.progress:.0f}%"


def _tasks(journal: Journal, limit: int, console: _Console) -> None:
    header = ("TASK", "CREATED", "STATUS", "HOST", "PROMPT", "FILE")
    rows = [
        (
            terminal_safe(entry.task_id),
            _when(entry.created),
            terminal_safe(_status_of(entry)),
            terminal_safe(_host(entry.base_url)),
            truncate(terminal_safe(" ".join(_prompt_of(entry.request).split())), PROMPT_WIDTH),
            terminal_safe(entry.local_path or "-"),
        )
        for entry in journal.entries(limit=limit)
    ]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header) - 1)]
    for row in [header, *rows]:
        cells = [cell.ljust(width) for cell, width in zip(row[:-1], widths, strict=True)]
        console.result("  ".join([*cells, row[-1]]).rstrip())
    for intent in journal.uncertain_submits():
        console.result(
            f"possibly billed, id unknown: a submit at {_when(intent['created'])} to {_host(intent['base_url'])}"
            " (check the provider's usage page before submitting it again)"
        )


@dataclass
class _Progress:
    """What an interrupt needs to know: whether a submit was sent, and the id of the task in hand."""

    submitting: bool = False
    task_id: str | None = None


def _generate(client: FoxClient, args: argparse.Namespace, console: _Console, progress: _Progress) -> None:
    request = request_from_args(args, args.prompt)
    request.validate()
    _check_output(args.output)
    progress.submitting = True
    task = client.submit(request)
    progress.task_id = task.id
    console.say(f"task {task.id} submitted ({task.credits_reserved or '?'} credits reserved)")
    task = client.wait(task, on_progress=console.bar, timeout=args.timeout)
    console.result(client.download(task, args.output or _default_output(task)))


def _download(client: FoxClient, args: argparse.Namespace, console: _Console, progress: _Progress) -> int:
    _check_output(args.output)
    progress.task_id = args.task_id
    task = client.get_task(args.task_id)
    if not task.done:
        reason = f" ({task.error.message})" if task.failed and task.error else ""
        console.say(f"foxkling: task {task.id} is {task.status_text}{reason}; nothing to download")
        return EXIT_FAILED if task.failed else EXIT_API
    console.result(client.download(task, args.output or _default_output(task)))
    return EXIT_OK


def _status(client: FoxClient, args: argparse.Namespace, console: _Console) -> None:
    task = client.get_task(args.task_id)
    reason = f" ({task.error.message})" if task.failed and task.error else ""
    console.result(f"{task.id} {task.status_text}{reason} {task.progress:.0f}% {task.video_url or ''}".rstrip())


def _interrupted(console: _Console, command: str, progress: _Progress, error: KeyboardInterrupt) -> int:
    if isinstance(error, GenerationInterrupted):
        # The client let a billed submit finish and journaled it: its message says the id and the way back.
        console.say(f"foxkling: {error.message}")
    elif progress.task_id and command == "generate":
        console.say(
            f"foxkling: interrupted. Task {progress.task_id} was submitted (and is billed); it keeps running at "
            "the provider and is kept in the task journal. Fetch it later with:",
            _fetch_hint(progress.task_id),
        )
    elif progress.task_id and command == "download":
        console.say(
            f"foxkling: interrupted; no partial file was left. Task {progress.task_id} stays at the provider "
            "(results are kept 24 hours). Try again with:",
            _fetch_hint(progress.task_id),
        )
    elif progress.submitting and progress.task_id is None:
        # The client lets a sent submit finish and then raises GenerationInterrupted; a plain interrupt
        # here means the submit was refused or never sent. The journal is the word on any doubt.
        console.say(
            "foxkling: interrupted during the submit, before a task id came back: most likely nothing was "
            "sent. `foxkling tasks` lists any submit that may have been billed."
        )
    else:
        console.say("foxkling: interrupted")
    return EXIT_INTERRUPTED


@contextlib.contextmanager
def _parser_streams(out: TextIO, err: TextIO) -> Iterator[None]:
    # argparse writes usage, errors and --help to sys.stdout/sys.stderr; send them to ours.
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        yield


def _quiet_stdout() -> None:
    """After a closed pipe: point stdout at /dev/null, so the interpreter's final flush stays silent.

    The way the Python documentation recommends (signal module, "Note on SIGPIPE"). SIGPIPE is
    not reset to its default instead: that would also kill the process on a write to a closed socket.
    """
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())


def main(argv: Sequence[str] | None = None, *, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Run the command line; returns the exit code (see the module docstring)."""
    console = _Console(out or sys.stdout, err or sys.stderr)
    try:
        return _main(argv, console)
    except BrokenPipeError:
        if console.out is sys.stdout:
            _quiet_stdout()
        return EXIT_PIPE


def _main(argv: Sequence[str] | None, console: _Console) -> int:
    try:
        with _parser_streams(console.out, console.err):
            args = _parser().parse_args(argv)
    except SystemExit as exit_:  # bad flags (2) or --help (0): a return code like every other path
        return int(exit_.code or 0)
    progress = _Progress()
    try:
        code = _run(args, console, progress)
        console.out.flush()  # a closed pipe shows here, inside main, not at interpreter exit
        return code
    except BrokenPipeError:
        raise
    except (FoxAPIError, ValueError) as error:
        console.say(f"foxkling: {error}")
        return next(code for kind, code in _EXIT_CODES if isinstance(error, kind))
    except KeyboardInterrupt as error:
        return _interrupted(console, args.command, progress, error)


def _run(args: argparse.Namespace, console: _Console, progress: _Progress) -> int:
    if args.command == "emulator":
        from .emulator import EmulatorConfig, serve

        console.say(f"foxkling emulator on http://{args.host}:{args.port} (Ctrl-C stops)")
        serve(
            args.host,
            args.port,
            EmulatorConfig(seconds_per_video=args.speed, response_shape=args.shape, real_size=args.real_size),
            allow_remote=args.allow_remote,
        )
        return EXIT_OK
    if args.command == "tasks":
        from ._journal import Journal

        _tasks(Journal.default(), args.limit, console)
        return EXIT_OK
    with _client(args.emulator, console) as client:
        if args.command == "generate":
            _generate(client, args, console, progress)
        elif args.command == "status":
            _status(client, args, console)
        elif args.command == "download":
            return _download(client, args, console, progress)
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
