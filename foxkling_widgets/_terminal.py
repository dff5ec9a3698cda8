"""Text that is safe to print to a terminal, whoever wrote it.

Task ids, status strings, error messages, URLs and journal rows come from a server, and a
hostile (or broken) one can put terminal controls in them: ESC sequences that clear the screen,
retitle the window or rewrite what the user sees, BEL, a bare CR that overprints the line, C1
controls (some terminals act on a raw U+009B as CSI), and bidi overrides that make
``task-1\u202egpm.exe`` read backwards. :func:`terminal_safe` replaces each such character with a
visible escape (``\\x1b``, ``\\u202e``), so the text stays readable and inert; text without them
comes back unchanged.

This module imports nothing of the package's: every layer that prints may use it.
"""

from __future__ import annotations

import unicodedata

__all__ = ["terminal_safe", "truncate"]

# Unicode categories escaped: Cc (C0, DEL, C1 controls), Cf (format: bidi embeddings, overrides and
# isolates, zero-width marks, BOM), Zl/Zp (line and paragraph separators break a line like LF),
# Cs (lone surrogates, from undecodable bytes: printing them raises UnicodeEncodeError).
_UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs"})
# Harmless format characters kept: the zero-width joiner holds emoji sequences together.
_KEPT = frozenset({"\u200d"})


def _escape(char: str) -> str:
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def _unsafe(char: str) -> bool:
    return char not in _KEPT and unicodedata.category(char) in _UNSAFE_CATEGORIES


def terminal_safe(text: object) -> str:
    """``str(text)`` with every control, format and separator character shown as an escape.

    Tabs and newlines are escaped too: one value prints as one line, so it cannot fake a row of
    a table or a line of our own output.
    """
    value = str(text)
    if value.isascii() and value.isprintable():  # the common case, in one C-speed check
        return value
    return "".join(_escape(c) if _unsafe(c) else c for c in value)


def truncate(text: str, width: int) -> str:
    """``text`` cut to at most ``width`` characters, ending in an ellipsis when it was longer."""
    if width < 1:
        return ""
    return text if len(text) <= width else text[: width - 1] + "\u2026"
