"""The API key by value: checked once, remembered, and scrubbed from every text that leaves the process.

Keys are not always ``sk-...``: a pattern misses keys of other shapes and damages ordinary text
("the ring bearer smiles"). So every client registers its key here, and :func:`scrub` replaces
that exact value, the forms it takes inside JSON or a URL, and any run of half of it (twelve
characters at least: a server that echoes part of a key), wherever text is stored or shown: exceptions,
logs, CLI output, widget state, the journal. Text that holds no key comes back unchanged.

:func:`check_key` rejects, before anything is sent or recorded, keys that could never be sent
as a header (control characters, spaces, non-ASCII) and keys too short to be told apart from
ordinary words. It never repeats the key in its message.

This module imports nothing of the package's: every layer may use it.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import threading
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote, quote_plus

__all__ = [
    "FRAGMENT",
    "MIN_KEY_LENGTH",
    "ScrubFilter",
    "check_key",
    "forget_all",
    "key_problem",
    "register_secret",
    "scrub",
    "scrub_data",
]

#: A key shorter than this is refused: scrubbing it would blank ordinary words.
MIN_KEY_LENGTH = 8
MAX_KEY_LENGTH = 1024
#: Runs of at least this many characters of a key (and at least half of it) are scrubbed too: an
#: echo of part of a key. Shorter runs would match ordinary text ("emulator", "01234567").
FRAGMENT = 12
MASK = "***"

_lock = threading.Lock()
_secrets: set[str] = set()
_grams: dict[str, frozenset[str]] = {}


def key_problem(key: str) -> str | None:
    """Why ``key`` cannot be an API key, in words that never repeat it; ``None`` when it can."""
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in key):
        return "The API key contains a control character (a newline, tab or NUL): paste it again on one line."
    if any(c.isspace() for c in key):
        return "The API key contains a space: paste only the key itself."
    if not key.isascii():
        return "The API key contains a character that is not plain ASCII: paste it again from your dashboard."
    if len(key) < MIN_KEY_LENGTH:
        return f"The API key is {len(key)} characters long; keys are longer. Paste the whole key."
    if len(key) > MAX_KEY_LENGTH:
        return f"The API key is {len(key)} characters long, more than any key; paste only the key."
    return None


def check_key(key: str) -> str:
    """Return ``key`` if it can be sent; raise ``ValueError`` (without the key in it) if not."""
    problem = key_problem(key)
    if problem is not None:
        raise ValueError(problem)
    return key


def _forms(secret: str) -> Iterable[str]:
    # The shapes a server (or a proxy in front of it) has been known to echo a credential in.
    yield secret
    escaped = json.dumps(secret)[1:-1]
    yield escaped
    yield escaped.replace("/", "\\/")  # JSON may escape "/" too
    yield "".join(f"\\u{ord(c):04x}" for c in secret)  # every character \u-escaped
    yield "".join(f"\\u{ord(c):04X}" for c in secret)
    for safe in ("", "/"):
        encoded = quote(secret, safe=safe)
        yield encoded
        yield re.sub(r"%[0-9A-F]{2}", lambda m: m.group(0).lower(), encoded)
        yield encoded.lower()
    yield quote_plus(secret)
    yield secret.replace("+", " ")  # a form decoder turned "+" into spaces
    for text in (secret, secret + ":", ":" + secret):  # Basic auth echoes base64("key:")
        yield base64.b64encode(text.encode()).decode().rstrip("=")


def register_secret(secret: str | None) -> None:
    """Scrub ``secret`` (and its JSON and URL-encoded forms) from all text from now on.

    Registrations last for the life of the process: a key that was once in memory may still be
    echoed back by a late answer or sit in an old message.
    """
    if not secret or len(secret) < MIN_KEY_LENGTH:
        return
    with _lock:
        for form in _forms(secret):
            if form not in _secrets:
                _secrets.add(form)
                _grams[form] = _windows(form)


def forget_all() -> None:
    """Drop every registration (the test suite's isolation between tests; never needed in use)."""
    with _lock:
        _secrets.clear()
        _grams.clear()


def _width(secret: str) -> int:
    return min(len(secret), max(FRAGMENT, len(secret) // 2))


def _windows(secret: str) -> frozenset[str]:
    width = _width(secret)
    return frozenset(secret[i : i + width] for i in range(len(secret) - width + 1))


def _spans(text: str, secrets: Iterable[str]) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    for secret in secrets:
        grams = _grams.get(secret) or _windows(secret)
        width = _width(secret)
        for i in range(len(text) - width + 1):
            if text[i : i + width] in grams:
                spans.append((i, i + width))
    spans.sort()
    merged: list[tuple[int, int]] = []
    for start, end in spans:
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def scrub(text: str, *extra: str | None) -> str:
    """``text`` with every registered secret (and ``extra`` ones) and their fragments masked."""
    if not text:
        return text
    with _lock:
        secrets = set(_secrets)
    secrets.update(form for secret in extra if secret and len(secret) >= MIN_KEY_LENGTH for form in _forms(secret))
    if not secrets:
        return text
    spans = _spans(text, secrets)
    if not spans:
        return text
    out, last = [], 0
    for start, end in spans:
        out.append(text[last:start])
        out.append(MASK)
        last = end
    out.append(text[last:])
    return "".join(out)


def scrub_data(value: Any) -> Any:
    """:func:`scrub` applied to every string inside a JSON-like value (dict keys included)."""
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, dict):
        return {scrub_data(k): scrub_data(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [scrub_data(v) for v in value]
    return value


_FORMATTER = logging.Formatter()


class ScrubFilter(logging.Filter):
    """Scrubs every registered key from a log record before any handler formats it."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Replace the record's message with its scrubbed text (arguments folded in first)."""
        message = record.getMessage()
        cleaned = scrub(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and not record.exc_text:
            # A traceback is formatted later, by the handler: format it now, scrubbed, and the
            # handler uses this text instead of formatting the exception again.
            record.exc_text = scrub(_FORMATTER.formatException(record.exc_info))
        return True


# The package logs through this one logger (never a child), so one filter covers every line.
logging.getLogger("foxkling_widgets").addFilter(ScrubFilter())
