"""Safe file names from untrusted text (task ids, prompts): nothing outside [A-Za-z0-9._-]."""

from __future__ import annotations

import re
import time
import unicodedata
from typing import Final

__all__ = ["MAX_DOWNLOAD_NAME", "download_name", "sanitize_filename"]

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
MAX_NAME = 120
#: The longest name ``download_name`` gives (with ``.mp4``): short enough for any file system and
#: for a browser's download bar, long enough for six prompt words, the tier, the date and an id.
MAX_DOWNLOAD_NAME: Final = 100
PROMPT_WORDS: Final = 6
_WORD = re.compile(r"[a-z0-9]+")
_VOICE_TAG = re.compile(r"<<<\s*voice_\d+\s*>>>", re.IGNORECASE)  # a voice's place in a prompt, not a word
_MAX_WORD = 24


def sanitize_filename(name: str, default: str = "video") -> str:
    """Return ``name`` reduced to a safe, non-hidden, length-capped file name.

    Path separators, ``..``, control and non-ASCII characters cannot survive, so the result
    always names a file directly inside whatever directory it is joined to.
    """
    cleaned = _UNSAFE.sub("-", name).strip(".-_")
    cleaned = re.sub(r"\.{2,}", ".", cleaned)
    if len(cleaned) > MAX_NAME:
        stem, dot, suffix = cleaned.rpartition(".")
        cleaned = (
            (stem[: MAX_NAME - len(suffix) - 1] + dot + suffix) if dot and len(suffix) <= 8 else cleaned[:MAX_NAME]
        )
    return cleaned or default


def _words(text: str) -> list[str]:
    # Accents folded to their letters ("café" -> "cafe") so a name stays readable in ASCII.
    folded = unicodedata.normalize("NFKD", _VOICE_TAG.sub(" ", text)).encode("ascii", "ignore").decode("ascii")
    return [word[:_MAX_WORD] for word in _WORD.findall(folded.lower())]


def download_name(prompt: str, *, resolution: str = "", when: float | None = None, short_id: str = "") -> str:
    """A video's download name a person recognises, e.g. ``red-fox-runs-through-snow-1080p-2026-12-02-ab12cd.mp4``.

    The prompt's first ``PROMPT_WORDS`` words (lowercase ASCII), the tier, the UTC date of
    ``when`` (unix seconds; default now) and the last six letters or digits of ``short_id``,
    hyphenated. Always a safe name (``sanitize_filename``), at most ``MAX_DOWNLOAD_NAME``
    characters, ending ``.mp4`` and never empty, whatever the prompt holds.
    """
    day = time.strftime("%Y-%m-%d", time.gmtime(time.time() if when is None else when))
    tail = [*_words(resolution)[:1], day]
    ident = "".join(_words(short_id))[-6:]
    if ident:
        tail.append(ident)
    suffix = "-".join(tail)
    room = MAX_DOWNLOAD_NAME - len(".mp4") - len(suffix) - 1
    head = ""
    for word in _words(prompt)[:PROMPT_WORDS]:
        candidate = f"{head}-{word}" if head else word
        if len(candidate) > room:
            break
        head = candidate
    stem = f"{head or 'clip'}-{suffix}"
    return sanitize_filename(f"{stem}.mp4", default="clip.mp4")
