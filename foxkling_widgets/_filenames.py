"""Safe file names from untrusted text (task ids, prompts): nothing outside [A-Za-z0-9._-]."""

from __future__ import annotations

import re

__all__ = ["sanitize_filename"]

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
MAX_NAME = 120


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
