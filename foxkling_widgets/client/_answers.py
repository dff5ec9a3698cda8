"""Reading a server's answer safely: capped in size and nesting, with the task id found first.

A billed submit's id must survive whatever else the answer holds. So the id is read from the
raw text by a small scanner before the body is parsed as a whole: a body that is too large,
nested too deeply for Python's ``json`` (``RecursionError``) or not JSON at all still yields
its top-level ``"id"`` when one is there. :func:`decode` never raises.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from .._types import MAX_ID, task_id_of

__all__ = ["MAX_ANSWER_BYTES", "MAX_DEPTH", "Decoded", "decode"]

#: The longest JSON answer read. FoxAPI's answers are under a few KB; an error page is under 100 KB.
MAX_ANSWER_BYTES = 1024 * 1024
#: The deepest nesting accepted. FoxAPI nests three levels; Python's json recurses per level.
MAX_DEPTH = 64
_ID_KEYS = ("id", "task_id")


@dataclass(frozen=True)
class Decoded:
    """A decoded answer: the object (or ``None``), why it could not be used, and the raw task id."""

    body: dict[str, Any] | None
    problem: str | None
    task_id: str


def _scan(text: str) -> tuple[int, str]:
    """The maximum nesting depth of ``text`` and the first top-level ``id``/``task_id`` string value.

    A single pass over the characters, aware of strings and escapes; stops early once the depth
    passes :data:`MAX_DEPTH` (the id, when it came first, is already known by then).
    """
    depth = max_depth = 0
    found = ""
    i, n = 0, len(text)
    expecting_key = False
    last_key: str | None = None
    after_colon = False
    while i < n:
        c = text[i]
        if c == '"':
            j = i + 1
            chunk: list[str] = []
            while j < n and text[j] != '"':
                if text[j] == "\\" and j + 1 < n:
                    chunk.append(text[j : j + 2])
                    j += 2
                    continue
                chunk.append(text[j])
                j += 1
            raw = "".join(chunk)
            if depth == 1 and expecting_key:
                last_key, expecting_key = _unescape(raw), False
            elif depth == 1 and after_colon and last_key in _ID_KEYS and not found:
                value = _unescape(raw).strip()
                if value and len(value) <= MAX_ID:
                    found = value
            after_colon = False
            i = j + 1
            continue
        if c in "{[":
            depth += 1
            max_depth = max(max_depth, depth)
            if max_depth > MAX_DEPTH:
                return max_depth, found
            expecting_key = c == "{" and depth == 1
            after_colon = False
        elif c in "}]":
            depth -= 1
            after_colon = False
        elif c == ",":
            expecting_key = depth == 1
            after_colon = False
        elif c == ":":
            after_colon = depth == 1
        elif not c.isspace():
            after_colon = False  # a number, true, false or null: not a string id
        i += 1
    return max_depth, found


def _unescape(raw: str) -> str:
    try:
        value = json.loads(f'"{raw}"')
    except ValueError:
        return raw
    return value if isinstance(value, str) else raw


def decode(data: bytes, *, truncated: bool = False) -> Decoded:
    """Decode an answer's bytes. ``truncated`` means the body passed :data:`MAX_ANSWER_BYTES`."""
    text = data.decode("utf-8", errors="replace")
    depth, task_id = _scan(text)
    if truncated:
        return Decoded(None, f"the answer is larger than {MAX_ANSWER_BYTES} bytes", task_id)
    if depth > MAX_DEPTH:
        return Decoded(None, f"the answer is nested more than {MAX_DEPTH} levels deep", task_id)
    try:
        body = json.loads(text)
    except (ValueError, RecursionError):
        return Decoded(None, "the answer is not JSON", task_id)
    if not isinstance(body, dict):
        return Decoded(None, "the answer is not a JSON object", task_id)
    return Decoded(body, None, task_id_of(body) or task_id)
