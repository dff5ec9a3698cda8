"""The request flags shared by ``foxkling generate`` and the ``%%kling`` magic.

One parser definition and one translation into a :class:`VideoRequest`, so both front ends accept
the same flags and refuse the same mistakes with the same words. Two refusals are the flags' own,
made before the validator runs, because their remedy is a flag:

- ``--voice`` without ``--audio``: voices only speak in a clip with audio, and audio changes the
  price, so it is never switched on behind the user's back.
- shot durations that do not add up to ``--duration``: the remedy names the seconds to change and
  ``--even-out``, which shares the clip's length among the shots as the widget's button does.
"""

from __future__ import annotations

import argparse

from ._exceptions import InvalidRequestError, Problem
from ._types import Segment, VideoRequest

__all__ = ["add_request_arguments", "even_split", "request_from_args", "segment_argument"]


def segment_argument(text: str) -> Segment:
    """argparse type for ``--segment "what happens:SECONDS"``."""
    try:
        return Segment.parse(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def add_request_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the request flags to ``parser``.

    Values are checked by the validator (not argparse ``choices``) so both front ends report the
    same message, naming the field and the fix.
    """
    parser.add_argument("--resolution", default="720p", help="720p, 1080p or 4k")
    parser.add_argument("--aspect", default="16:9", help="16:9, 9:16 or 1:1")
    parser.add_argument("--duration", type=int, default=5, help="5 or 10 seconds")
    parser.add_argument("--segment", type=segment_argument, action="append", default=[], help='a shot, "text:SECONDS"')
    parser.add_argument(
        "--even-out", action="store_true", help="share --duration evenly among the shots (ignores their seconds)"
    )
    parser.add_argument("--negative", default="", help="negative prompt")
    parser.add_argument("--audio", action="store_true", help="generate audio (needed by --voice)")
    parser.add_argument("--voice", action="append", default=[], help="a voice id (repeat, at most 2; needs --audio)")
    parser.add_argument("--emulator", action="store_true", help="use the built-in emulator (no key needed)")


def even_split(seconds: int, count: int) -> list[int]:
    """``seconds`` in ``count`` whole parts as equal as possible, larger first (10 over 3: 4, 3, 3).

    The same split as the widget's "Even out" button (``evenSplit`` in ``js/src/segments.js``).
    """
    if count <= 0:
        return []
    base, extra = divmod(seconds, count)
    return [base + (1 if i < extra else 0) for i in range(count)]


def _flag_problems(args: argparse.Namespace, segments: list[Segment]) -> list[Problem]:
    problems: list[Problem] = []
    if args.voice and not args.audio:
        problems.append(
            Problem("voice_ids", "A voice only speaks in a clip with audio: add --audio (audio changes the price).")
        )
    durations = [s.duration for s in segments]
    # Shots under 1 s or a clip length the validator refuses: it names those; the sum would only add noise.
    if segments and all(d >= 1 for d in durations) and args.duration >= 1 and sum(durations) != args.duration:
        total, clip = sum(durations), args.duration
        fix = "shorten" if total > clip else "lengthen"
        shares = " + ".join(str(d) for d in even_split(clip, len(segments)))
        problems.append(
            Problem(
                "multi_prompt",
                f"The shots' durations add up to {total} s but the clip is {clip} s: {fix} a shot by "
                f"{abs(total - clip)} s, or add --even-out to share the {clip} s as {shares} s.",
            )
        )
    return problems


def request_from_args(args: argparse.Namespace, prompt: str) -> VideoRequest:
    """The :class:`VideoRequest` the shared flags describe.

    Raises :class:`InvalidRequestError` (nothing sent) for ``--voice`` without ``--audio`` and
    for shots that do not add up to the clip's duration; everything else is the validator's.
    """
    segments: list[Segment] = list(args.segment)
    if args.even_out and segments:
        shares = even_split(args.duration, len(segments))
        segments = [Segment(s.prompt, d) for s, d in zip(segments, shares, strict=True)]
    problems = _flag_problems(args, segments)
    if problems:
        raise InvalidRequestError.from_problems(problems)
    return VideoRequest(
        prompt=prompt,
        resolution=args.resolution,
        aspect_ratio=args.aspect,
        duration=args.duration,
        generate_audio=args.audio,
        negative_prompt=args.negative,
        voice_ids=args.voice,
        segments=segments,
    )
