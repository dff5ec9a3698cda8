"""Variations: one set of controls expanded into a batch of requests (pure; no I/O).

The widget's grid mode sets ``vary`` to one of :data:`VARY_MODES`; :func:`expand` turns the
controls' request into the batch and :func:`problems` says what is wrong with it, using the
same validator as a single generation. :func:`labels` names the members of any batch by what
differs between them, so a gallery can caption each clip ("9:16", "10 s", "a fox…").
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from ._exceptions import Problem
from ._types import VideoRequest
from ._validation import ASPECT_RATIOS, DURATIONS, validate_payload

__all__ = ["MAX_BATCH", "VARY_MODES", "expand", "labels", "problems"]

#: "" = no variations; otherwise the one setting that varies across the batch.
VARY_MODES = ("", "aspect_ratio", "duration", "prompts")
#: The most generations one batch may start (each is billed).
MAX_BATCH = 8


def prompt_lines(text: str) -> list[str]:
    """The non-blank lines of a prompt box, trimmed: one prompt each in ``prompts`` mode."""
    return [line.strip() for line in text.splitlines() if line.strip()]


def expand(base: VideoRequest, vary: str) -> list[tuple[str, VideoRequest]]:
    """The batch ``vary`` makes of ``base``, as (label, request) pairs; ``[]`` when not varying."""
    if vary == "aspect_ratio":
        return [(aspect, dataclasses.replace(base, aspect_ratio=aspect)) for aspect in ASPECT_RATIOS]
    if vary == "duration":
        return [(f"{seconds} s", dataclasses.replace(base, duration=seconds)) for seconds in DURATIONS]
    if vary == "prompts":
        lines = prompt_lines(base.prompt)
        return [(head, dataclasses.replace(base, prompt=line)) for head, line in zip(_heads(lines), lines, strict=True)]
    return []


def problems(base: VideoRequest, vary: str) -> list[Problem]:
    """Everything wrong with the batch ``vary`` makes of ``base`` (empty: it can be sent)."""
    if vary not in VARY_MODES:
        return [
            Problem(
                "vary", f"The variation mode {vary!r} is unknown; use one of {', '.join(repr(m) for m in VARY_MODES)}."
            )
        ]
    if vary == "duration" and base.segments:
        return [Problem("vary", "Durations cannot vary with a shot timeline, whose shots add up to one length.")]
    if vary == "prompts":
        if base.segments:
            return [Problem("vary", "A prompt list needs single-prompt mode: turn the shot timeline off.")]
        count = len(prompt_lines(base.prompt))
        if count < 2:
            return [Problem("prompt", "Put one prompt per line, at least two, to compare them.")]
        if count > MAX_BATCH:
            return [
                Problem(
                    "prompt",
                    f"The prompt box has {count} prompts; a batch takes at most {MAX_BATCH}. "
                    f"Remove {count - MAX_BATCH}.",
                )
            ]
    found: list[Problem] = []
    for label, request in expand(base, vary):
        for problem in validate_payload(request.to_payload()):
            # The same finding for every member is said once; a prompt line's own is labelled.
            text = f"{label}: {problem.message}" if vary == "prompts" and problem.field == "prompt" else problem.message
            item = Problem(problem.field, text, problem.level)
            if item not in found:
                found.append(item)
    return found


def labels(requests: Sequence[VideoRequest]) -> list[str]:
    """Caption each request by the settings that differ across the batch (``#N`` if none do)."""
    parts: list[list[str]] = [[] for _ in requests]
    texts = [r.prompt or " / ".join(s.prompt for s in r.shots) for r in requests]
    columns = (
        [r.aspect_ratio for r in requests],
        [f"{r.duration} s" for r in requests],
        [r.resolution for r in requests],
        ["audio" if r.generate_audio else "silent" for r in requests],
        _heads(texts) if len(set(texts)) > 1 else texts,
    )
    for values in columns:
        if len(set(values)) > 1:
            for part, value in zip(parts, values, strict=True):
                part.append(value)
    return [" · ".join(p) if p else f"#{i + 1}" for i, p in enumerate(parts)]


def _head(text: str, limit: int = 32) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _heads(texts: Sequence[str]) -> list[str]:
    """Short captions for texts, skipping the words they all start with (so they tell apart)."""
    words = [t.split() for t in texts]
    shared = 0
    if len(words) > 1:
        while all(len(w) > shared + 1 for w in words) and len({w[shared] for w in words}) == 1:
            shared += 1
    if shared < 2:
        return [_head(t) for t in texts]
    return [_head("…" + " ".join(w[shared:])) for w in words]
