"""The contract's request rules, as one pure function over a wire payload.

The client (before any request leaves the machine), the widget (live, next to each control)
and the emulator (on every request it receives) all call :func:`validate_payload`, so the three
can never disagree. It does no I/O and raises nothing: it returns :class:`Problem` objects,
errors and warnings alike, and callers decide what to do with them.

Rules come from ``docs/foxapi-contract.md``. Where the contract calls a bound a *guess* (segment
count 1-6, segment prompt length) we validate the hard bound and warn at the soft one.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from ._exceptions import Problem, errors_only

__all__ = [
    "ASPECT_RATIOS",
    "AUDIO_EXTENSIONS",
    "DURATIONS",
    "MAX_PROMPT_CHARS",
    "MAX_SEGMENTS",
    "MAX_VOICES",
    "MODEL_CREATE_VOICE",
    "MODEL_IMAGE_TO_VIDEO",
    "MODEL_TEXT_TO_VIDEO",
    "RESOLUTIONS",
    "SEGMENT_PROMPT_SOFT_LIMIT",
    "VOICE_TOKEN",
    "errors_only",
    "price_tier",
    "validate_payload",
    "validate_voice_url",
]

MODEL_TEXT_TO_VIDEO = "kling-v3-text-to-video"
MODEL_IMAGE_TO_VIDEO = "kling-v3-image-to-video"
MODEL_CREATE_VOICE = "kling-video-create-voice"
VIDEO_MODELS = (MODEL_TEXT_TO_VIDEO, MODEL_IMAGE_TO_VIDEO)

RESOLUTIONS = ("720p", "1080p", "4k")
ASPECT_RATIOS = ("16:9", "9:16", "1:1")
DURATIONS = (5, 10)
MAX_PROMPT_CHARS = 2500
MAX_NEGATIVE_PROMPT_CHARS = 2500  # not documented; Kling front ends use the prompt's bound
MAX_VOICES = 2
MAX_SEGMENTS = 6  # contract: "guess for FoxAPI", used by other Kling front ends
SEGMENT_PROMPT_SOFT_LIMIT = 512  # contract: validate <= 2500 hard, warn above 512
AUDIO_EXTENSIONS = ("mp3", "ogg", "wav", "m4a", "aac")
IMAGE_EXTENSIONS = ("jpg", "jpeg", "png")

#: How prompts refer to attached voices: ``<<<voice_1>>>``, ``<<<voice_2>>>``.
VOICE_TOKEN = re.compile(r"<<<voice_(\d+)>>>")

_VIDEO_FIELDS = {
    "model",
    "prompt",
    "resolution",
    "generate_audio",
    "negative_prompt",
    "aspect_ratio",
    "duration",
    "voice_ids",
    "multi_prompt",
    "image_url",
    "image_tail_url",
}


def _is_int(value: object) -> bool:
    # bool is a subclass of int in Python; JSON true must not pass as a duration of 1.
    return isinstance(value, int) and not isinstance(value, bool)


#: What each URL field is called in a message (its subject).
_URL_NAMES = {"voice_url": "The voice's audio URL", "image_url": "The image URL", "image_tail_url": "The end image URL"}


def _article(word: str) -> str:
    """``word`` with its indefinite article: "an audio file", "a JPG or PNG image file"."""
    return f"{'an' if word[:1].lower() in 'aeiou' else 'a'} {word}"


def _one_of(words: tuple[str, ...] | list[str], last: str = "or") -> str:
    """'a, b or c': a list as a sentence says it."""
    return words[0] if len(words) < 2 else f"{', '.join(words[:-1])} {last} {words[-1]}"


def _http_url_problem(field: str, url: object, extensions: tuple[str, ...], kind: str) -> Problem | None:
    name = _URL_NAMES.get(field, f"The {field}")
    allowed = _one_of([f".{e}" for e in extensions])  # the allowed types, listed once per message
    if not isinstance(url, str) or not url.strip():
        return Problem(field, f"{name} is empty: give the http(s) address of {_article(kind)} file ({allowed}).")
    try:
        parts = urlsplit(url.strip())
    except ValueError:  # e.g. "http://[x/": an unreadable host
        return Problem(field, f"{name} cannot be read as a URL: check the host part.")
    if parts.scheme not in ("http", "https") or not parts.netloc:
        got = f"it starts with {parts.scheme}:" if parts.scheme else "it has no scheme"
        return Problem(field, f"{name} must start with http:// or https:// ({got}).")
    extension = parts.path.rsplit(".", 1)[-1].lower() if "." in parts.path.rsplit("/", 1)[-1] else ""
    if extension not in extensions:
        return Problem(field, f"{name} must point to {_article(kind)} file ending in {allowed}.")
    return None


def validate_voice_url(url: object, field: str = "voice_url") -> list[Problem]:
    """Check a create-voice source: an http(s) URL of an mp3/ogg/wav/m4a/aac file."""
    problem = _http_url_problem(field, url, AUDIO_EXTENSIONS, "audio")
    return [problem] if problem else []


def _check_text(field: str, value: object, limit: int, *, required: bool, what: str) -> list[Problem]:
    """``what`` names the text as a sentence's subject ("the prompt", "shot 2's prompt")."""
    subject = what[:1].upper() + what[1:]
    if value is None:
        return [Problem(field, f"{subject} is required.")] if required else []
    if not isinstance(value, str):
        return [Problem(field, f"{subject} must be text, not {type(value).__name__}.")]
    if required and not value.strip():
        return [Problem(field, f"{subject} is empty: describe what should happen.")]
    if len(value) > limit:
        over = len(value) - limit
        return [
            Problem(
                field,
                f"{subject} is {len(value)} characters long; the limit is {limit}. "
                f"Shorten it by {over} character{'s' if over != 1 else ''}.",
            )
        ]
    return []


def _voice_refs(text: object) -> set[int]:
    return {int(n) for n in VOICE_TOKEN.findall(text)} if isinstance(text, str) else set()


def _validate_segments(payload: Mapping[str, Any], duration: object) -> list[Problem]:
    segments = payload["multi_prompt"]
    if not isinstance(segments, list):
        return [Problem("multi_prompt", "The shots (multi_prompt) must be a list of {prompt, duration} objects.")]
    problems: list[Problem] = []
    if not segments:
        problems.append(Problem("multi_prompt", "The shot list is empty: add a shot, or turn multi-shot off."))
    if len(segments) > MAX_SEGMENTS:
        problems.append(
            Problem(
                "multi_prompt", f"The clip has {len(segments)} shots; at most {MAX_SEGMENTS} are allowed. Merge some."
            )
        )
    total = 0
    sums_checkable = True
    for index, segment in enumerate(segments):
        name = f"multi_prompt[{index}]"
        if not isinstance(segment, Mapping):
            problems.append(Problem(name, f"Shot {index + 1} must be an object with a prompt and a duration."))
            sums_checkable = False
            continue
        problems += _check_text(
            f"{name}.prompt", segment.get("prompt"), MAX_PROMPT_CHARS, required=True, what=f"shot {index + 1}'s prompt"
        )
        text = segment.get("prompt")
        if isinstance(text, str) and SEGMENT_PROMPT_SOFT_LIMIT < len(text) <= MAX_PROMPT_CHARS:
            problems.append(
                Problem(
                    f"{name}.prompt",
                    f"Shot {index + 1}'s prompt is {len(text)} characters long; Kling front ends keep shot prompts "
                    f"under {SEGMENT_PROMPT_SOFT_LIMIT}, so it may be truncated or refused.",
                    "warning",
                )
            )
        seconds = segment.get("duration")
        if not isinstance(seconds, int) or isinstance(seconds, bool):
            problems.append(
                Problem(f"{name}.duration", f"Shot {index + 1}'s length must be a whole number of seconds.")
            )
            sums_checkable = False
        elif seconds < 1:
            problems.append(
                Problem(f"{name}.duration", f"Shot {index + 1} lasts {seconds} s; each shot lasts at least 1 s.")
            )
            sums_checkable = False
        else:
            total += seconds
    if (
        sums_checkable
        and segments
        and isinstance(duration, int)
        and not isinstance(duration, bool)
        and total != duration
    ):
        fix = "shorten" if total > duration else "lengthen"
        # Every surface (widget, Python, CLI) reads this, so the remedy is the arithmetic, not a button.
        share = ""
        if duration >= len(segments):
            base, extra = divmod(duration, len(segments))
            parts = [base + 1] * extra + [base] * (len(segments) - extra)
            share = f", or share the {duration} s evenly ({' + '.join(map(str, parts))} s)"
        problems.append(
            Problem(
                "multi_prompt",
                f"The shots' durations add up to {total} s but the clip is {duration} s: {fix} a shot by "
                f"{abs(total - duration)} s{share}.",
            )
        )
    return problems


def validate_payload(payload: Mapping[str, Any]) -> list[Problem]:
    """Return every problem with a submit body (errors and warnings), in field order.

    ``payload`` is the JSON object sent to ``POST /v1/videos/generations``. An empty list means
    the request is valid and carries no warning.
    """
    model = payload.get("model")
    if model == MODEL_CREATE_VOICE:
        return validate_voice_url(payload.get("voice_url"))
    if model not in VIDEO_MODELS:
        known = ", ".join((*VIDEO_MODELS, MODEL_CREATE_VOICE))
        return [Problem("model", f"The model {model!r} is unknown; use one of {known}.")]

    problems: list[Problem] = []
    for key, value in payload.items():
        if value is None and key in _VIDEO_FIELDS:
            # The contract: "never send nulls"; omit the field instead.
            problems.append(Problem(key, f"The field {key} must be left out rather than sent as null."))
    present = {k: v for k, v in payload.items() if v is not None}
    has_segments = "multi_prompt" in present

    # Top-level prompt: required unless segments carry the story (see _types.PROMPT_WITH_SEGMENTS).
    problems += _check_text(
        "prompt", present.get("prompt"), MAX_PROMPT_CHARS, required=not has_segments, what="the prompt"
    )
    problems += _check_text(
        "negative_prompt",
        present.get("negative_prompt"),
        MAX_NEGATIVE_PROMPT_CHARS,
        required=False,
        what="the negative prompt",
    )

    resolution = present.get("resolution", "720p")
    if resolution not in RESOLUTIONS:
        problems.append(
            Problem("resolution", f"The resolution {resolution!r} is not offered; choose {_one_of(RESOLUTIONS)}.")
        )
    elif resolution == "4k":
        problems.append(
            Problem(
                "resolution",
                "4k is billed at its own, higher price tier (audio and voices do not change it).",
                "warning",
            )
        )

    if model == MODEL_IMAGE_TO_VIDEO:
        if "aspect_ratio" in present:
            problems.append(
                Problem("aspect_ratio", "Image-to-video takes the image's shape: leave the aspect ratio out.")
            )
        for field, required in (("image_url", True), ("image_tail_url", False)):
            if field in present or required:
                problem = _http_url_problem(field, present.get(field), IMAGE_EXTENSIONS, "JPG or PNG image")
                problems += [problem] if problem else []
    else:
        aspect = present.get("aspect_ratio", "16:9")
        if aspect not in ASPECT_RATIOS:
            problems.append(
                Problem("aspect_ratio", f"The aspect ratio {aspect!r} is not offered; choose {_one_of(ASPECT_RATIOS)}.")
            )

    duration = present.get("duration", 5)
    if not _is_int(duration) or duration not in DURATIONS:
        seconds = _one_of([str(d) for d in DURATIONS])
        problems.append(Problem("duration", f"The clip's length must be {seconds} seconds (it is {duration!r})."))

    audio = present.get("generate_audio", False)
    if not isinstance(audio, bool):
        problems.append(Problem("generate_audio", "The audio switch (generate_audio) must be true or false."))
        audio = False

    voices = present.get("voice_ids", [])
    voice_count = 0
    if not isinstance(voices, list) or not all(isinstance(v, str) and v.strip() for v in voices):
        problems.append(Problem("voice_ids", "The voices (voice_ids) must be a list of voice id strings."))
    else:
        voice_count = len(voices)
        if voice_count > MAX_VOICES:
            problems.append(
                Problem("voice_ids", f"The clip has {voice_count} voices; at most {MAX_VOICES} can be used.")
            )
        if len(set(voices)) != voice_count:
            problems.append(Problem("voice_ids", "The same voice is attached twice."))
        if voice_count and not audio:
            problems.append(
                Problem("voice_ids", "Voices need audio: turn audio (generate_audio) on, or remove the voices.")
            )

    if has_segments:
        problems += _validate_segments(present, duration)

    texts: list[tuple[str, object]] = [("prompt", present.get("prompt"))]
    if has_segments and isinstance(present["multi_prompt"], list):
        texts += [
            (f"multi_prompt[{i}].prompt", s.get("prompt"))
            for i, s in enumerate(present["multi_prompt"])
            if isinstance(s, Mapping)
        ]
    for field, text in texts:
        shot = re.match(r"multi_prompt\[(\d+)\]", field)
        subject = f"Shot {int(shot.group(1)) + 1}'s prompt" if shot else "The prompt"
        for n in sorted(_voice_refs(text)):
            if n < 1 or n > voice_count:
                if not voice_count:
                    have = "no voice is attached"
                elif voice_count == 1:
                    have = "only 1 voice is attached"
                else:
                    have = f"only {voice_count} voices are attached"
                problems.append(
                    Problem(field, f"{subject} names <<<voice_{n}>>> but {have}: attach a voice, or remove the name.")
                )
    return problems


def price_tier(request: Mapping[str, Any]) -> tuple[Any, ...]:
    """A request's price (and speed) tier: model, resolution, duration, audio on/off, voices used or not.

    The journal's credit estimate and typical duration, and the widget's credit book, all group
    past tasks by it, so it is defined once, here.
    """
    return (
        request.get("model", MODEL_TEXT_TO_VIDEO),
        request.get("resolution", "720p"),
        request.get("duration", 5),
        bool(request.get("generate_audio")),
        bool(request.get("voice_ids")),
    )
