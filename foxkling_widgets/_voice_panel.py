"""The studio's voices panel: checking a new voice's URL and name, and the list of voice chips.

Voices are created from an audio URL (``kling-video-create-voice``) and then attached to clips by
id; prompts call them ``<<<voice_N>>>``. The chips come from the journal (earlier sessions) and
from voices created in this one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from ._exceptions import Problem
from ._validation import validate_voice_url

__all__ = ["MAX_VOICE_NAME", "chip_of", "merge_chip", "voice_name_from_url", "voice_problems"]

MAX_VOICE_NAME = 40  # characters: a chip's label must stay one short line


def voice_name_from_url(url: str) -> str:
    """A voice's default name: its audio file's name without the extension."""
    return Path(url.split("?", 1)[0].rstrip("/")).stem or "voice"


def voice_problems(url: str, name: str) -> list[Problem]:
    """What is wrong with a voice's URL (when given) and name; nothing is sent while any exist."""
    url, name = url.strip(), name.strip()
    problems = validate_voice_url(url) if url else []
    if len(name) > MAX_VOICE_NAME:
        problems.append(
            Problem("voice_name", f"The voice name is {len(name)} characters long; the limit is {MAX_VOICE_NAME}.")
        )
    return problems


def chip_of(voice: Mapping[str, Any]) -> dict[str, str]:
    """A ``_voices`` chip ``{voice_id, name}`` from a journal row or a created voice."""
    name = voice.get("name") or voice_name_from_url(str(voice.get("source_url") or ""))
    return {"voice_id": str(voice["voice_id"]), "name": str(name)}


def merge_chip(chips: Iterable[Mapping[str, str]], voice: Mapping[str, Any]) -> list[dict[str, str]]:
    """``chips`` with ``voice`` first (newest first), replacing an older chip of the same id."""
    entry = {"voice_id": str(voice["voice_id"]), "name": str(voice.get("name") or voice["voice_id"])}
    return [entry, *(dict(c) for c in chips if c["voice_id"] != entry["voice_id"])]
