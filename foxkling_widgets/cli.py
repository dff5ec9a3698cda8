"""The ``foxkling`` command: run the emulator, generate a clip, check or download a task.

Exit codes: 0 done, 2 bad input (nothing sent), 3 API error, 4 task failed, 5 submit outcome
unknown (may be billed; never re-sent), 130 interrupted.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from ._exceptions import FoxAPIError, InvalidRequestError, SubmitUncertainError, TaskFailedError
from ._types import Segment, Task, VideoRequest

__all__ = ["main"]

EXIT_OK, EXIT_INPUT, EXIT_API, EXIT_FAILED, EXIT_UNCERTAIN, EXIT_INTERRUPTED = 0, 2, 3, 4, 5, 130


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        self.exit(EXIT_INPUT, f"{self.prog}: error: {message}\n")


def segment_argument(text: str) -> Segment:
    """argparse type for ``--segment "what happens:SECONDS"`` (shared with the ``%%kling`` magic)."""
    try:
        return Segment.parse(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def add_request_arguments(parser: argparse.ArgumentParser) -> None:
    """The request flags shared by ``foxkling generate`` and ``%%kling``.

    Values are checked by the validator (not argparse ``choices``) so both report the same
    message, naming the field and the fix.
    """
    parser.add_argument("--resolution", default="720p", help="720p, 1080p or 4k")
    parser.add_argument("--aspect", default="16:9", help="16:9, 9:16 or 1:1")
    parser.add_argument("--duration", type=int, default=5, help="5 or 10 seconds")
    parser.add_argument("--segment", type=segment_argument, action="append", default=[], help='a shot, "text:SECONDS"')
    parser.add_argument("--negative", default="", help="negative prompt")
    parser.add_argument("--audio", action="store_true", help="generate audio")
    parser.add_argument("--voice", action="append", default=[], help="a voice id (repeat, at most 2)")
    parser.add_argument("--emulator", action="store_true", help="use the built-in emulator (no key needed)")


def request_from_args(args: argparse.Namespace, prompt: str) -> VideoRequest:
    """The :class:`VideoRequest` the shared flags describe (voices turn audio on)."""
    return VideoRequest(
        prompt=prompt,
        resolution=args.resolution,
        aspect_ratio=args.aspect,
        duration=args.duration,
        generate_audio=args.audio or bool(args.voice),
        negative_prompt=args.negative,
        voice_ids=args.voice,
        segments=args.segment,
    )


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="foxkling", description="Kling V3 videos through FoxAPI, or its local emulator.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    emulator = commands.add_parser("emulator", help="serve the local FoxAPI emulator")
    emulator.add_argument("--host", default="127.0.0.1", help="interface (loopback unless --allow-remote)")
    emulator.add_argument("--port", type=int, default=8765)
    emulator.add_argument("--allow-remote", action="store_true", help="permit a non-loopback --host")
    emulator.add_argument("--speed", type=float, default=8.0, help="simulated seconds per video (default 8)")
    emulator.add_argument("--shape", choices=["A", "B"], default="A", help="task response shape (contract A or B)")

    generate = commands.add_parser("generate", help="generate a clip and download it")
    generate.add_argument("prompt", nargs="?", default="", help="the clip's prompt (optional with --segment)")
    add_request_arguments(generate)
    generate.add_argument(
        "-o", "--output", type=Path, default=None, help="where to save the MP4 (default <task id>.mp4)"
    )
    generate.add_argument("--timeout", type=float, default=900, help="seconds to wait (default 900)")

    tasks = commands.add_parser("tasks", help="list the task journal (every task submitted from this machine)")
    tasks.add_argument("--limit", type=int, default=30)

    status = commands.add_parser("status", help="show a task's status")
    status.add_argument("task_id")
    status.add_argument("--emulator", action="store_true")

    download = commands.add_parser("download", help="download a finished task's video")
    download.add_argument("task_id")
    download.add_argument("-o", "--output", type=Path, default=None)
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


def _bar(task: Task, out: TextIO) -> None:
    filled = int(30 * task.progress / 100)
    line = f"[{'#' * filled}{'.' * (30 - filled)}] {task.progress:5.1f}% {task.status_text}"
    if out.isatty():
        print("\r" + line, end="\n" if task.terminal else "", file=out, flush=True)
    else:
        print(line, file=out, flush=True)


def _client(use_emulator: bool, err: TextIO) -> object:
    from .client import FoxClient

    if use_emulator:
        print("foxkling: using the built-in emulator (nothing is billed)", file=err)
        return FoxClient.emulator()
    if not os.environ.get("FOXAPI_API_KEY"):
        raise InvalidRequestError(
            "No FoxAPI key: set FOXAPI_API_KEY=sk-... or pass --emulator to try the built-in emulator.", field="api_key"
        )
    return FoxClient()


def main(argv: Sequence[str] | None = None, *, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Run the command line; returns the exit code."""
    out = out or sys.stdout
    err = err or sys.stderr
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exit_:  # bad flags (2) or --help (0): a return code like every other path
        return int(exit_.code or 0)
    try:
        if args.command == "emulator":
            from .emulator import EmulatorConfig, serve

            print(f"foxkling emulator on http://{args.host}:{args.port} (Ctrl-C stops)", file=err, flush=True)
            serve(
                args.host,
                args.port,
                EmulatorConfig(seconds_per_video=args.speed, response_shape=args.shape),
                allow_remote=args.allow_remote,
            )
            return EXIT_OK
        if args.command == "tasks":
            from ._journal import Journal

            journal = Journal.default()
            for entry in journal.entries(limit=args.limit):
                where = entry.local_path or entry.video_url or ""
                print(
                    f"{entry.task_id}  {entry.status:<10} {entry.progress:5.0f}%  {entry.base_url}  {where}", file=out
                )
            for intent in journal.uncertain_submits():
                print(
                    f"possibly billed, id unknown: submit at {intent['created']:.0f} to {intent['base_url']}", file=out
                )
            return EXIT_OK
        client = _client(args.emulator, err)
        from .client import FoxClient

        assert isinstance(client, FoxClient)
        with client:
            if args.command == "generate":
                task = client.submit(request_from_args(args, args.prompt))
                print(f"task {task.id} submitted ({task.credits_reserved or '?'} credits reserved)", file=err)
                task = client.wait(task, on_progress=lambda t: _bar(t, err), timeout=args.timeout)
                path = client.download(task, args.output or Path(f"{task.id}.mp4"))
                print(path, file=out)
            elif args.command == "status":
                task = client.get_task(args.task_id)
                print(f"{task.id} {task.status_text} {task.progress:.0f}% {task.video_url or ''}".rstrip(), file=out)
            elif args.command == "download":
                task = client.get_task(args.task_id)
                if not task.done:
                    print(f"foxkling: task {task.id} is {task.status_text}; nothing to download yet", file=err)
                    return EXIT_FAILED if task.failed else EXIT_API
                print(client.download(task, args.output or Path(f"{task.id}.mp4")), file=out)
        return EXIT_OK
    except (FoxAPIError, ValueError) as error:
        print(f"foxkling: {error}", file=err)
        return next(code for kind, code in _EXIT_CODES if isinstance(error, kind))
    except KeyboardInterrupt:
        print("foxkling: interrupted (a submitted task keeps running at the provider)", file=err)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
