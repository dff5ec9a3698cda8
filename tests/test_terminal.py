"""``terminal_safe``: nothing a terminal acts on survives, and ordinary text is left alone."""

from __future__ import annotations

import unicodedata

from hypothesis import given
from hypothesis import strategies as st

from foxkling_widgets._request_flags import even_split
from foxkling_widgets._terminal import terminal_safe, truncate

UNSAFE = ("Cc", "Cf", "Zl", "Zp", "Cs")


@given(st.text(st.characters(codec=None)))
def test_no_control_format_or_separator_character_survives(text: str) -> None:
    shown = terminal_safe(text)
    assert all(c == "\u200d" or unicodedata.category(c) not in UNSAFE for c in shown)
    shown.encode("utf-8")  # lone surrogates are escaped too, so printing cannot fail


@given(st.text(st.characters(exclude_categories=UNSAFE)))
def test_text_without_controls_is_unchanged(text: str) -> None:
    assert terminal_safe(text) == text


def test_escapes_are_visible() -> None:
    assert terminal_safe("a\x1b[2Jb\x07\r\x9b\u202e\U000e0001") == "a\\x1b[2Jb\\x07\\x0d\\x9b\\u202e\\U000e0001"
    assert terminal_safe(42) == "42"


@given(st.text(), st.integers(min_value=1, max_value=50))
def test_truncate_fits_and_keeps_the_start(text: str, width: int) -> None:
    cut = truncate(text, width)
    assert len(cut) <= width
    assert cut == text or (cut.endswith("\u2026") and text.startswith(cut[:-1]))


@given(st.integers(min_value=0, max_value=100), st.integers(min_value=1, max_value=12))
def test_even_split_is_even_and_complete(seconds: int, count: int) -> None:
    parts = even_split(seconds, count)
    assert sum(parts) == seconds and len(parts) == count
    assert max(parts) - min(parts) <= 1 and parts == sorted(parts, reverse=True)
