"""The ``_options`` the front end reads: built once in Python, and the front end's fallback copy equal to it."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from foxkling_widgets import _controller, _validation, _variations, _voice_panel
from foxkling_widgets._controller import MAX_CONCURRENCY
from foxkling_widgets._options import FORM_TRAITS, REQUEST_CONTROLS, VARY_TEXTS, front_end_options
from foxkling_widgets._status import TaskStatus
from foxkling_widgets._widget import KlingWidget

PROTOCOL_JS = Path(__file__).resolve().parent.parent / "js" / "src" / "protocol.js"

#: Exactly the keys of the interface (docs/widget-protocol.md, `_options`).
KEYS = {
    "resolutions",
    "aspect_ratios",
    "durations",
    "max_prompt",
    "max_negative_prompt",
    "max_voices",
    "max_segments",
    "segment_prompt_soft_limit",
    "max_voice_name",
    "vary_modes",
    "max_batch",
    "concurrency",
    "audio_extensions",
    "controls",
    "statuses",
}


# -- reading a JS object literal ---------------------------------------------------------------
def _end_of_string(text: str, start: int) -> int:
    """The index just past the JS string literal that opens at ``start``."""
    quote, i = text[start], start + 1
    while i < len(text):
        if text[i] == "\\":
            i += 2
            continue
        if text[i] == quote:
            return i + 1
        i += 1
    raise ValueError("a string literal is not closed")


def _balanced(text: str, start: int) -> int:
    """The index just past the ``{...}`` that opens at ``start`` (strings and comments skipped)."""
    depth, i = 0, start
    while i < len(text):
        char = text[i]
        if char in "\"'`":
            i = _end_of_string(text, i)
            continue
        if text.startswith("//", i):
            newline = text.find("\n", i)
            i = len(text) if newline < 0 else newline
            continue
        if text.startswith("/*", i):
            i = text.index("*/", i) + 2
            continue
        if char in "{[":
            depth += 1
        elif char in "}]":
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    raise ValueError("the object literal is not closed")


def js_literal_to_json(literal: str) -> object:
    """Parse a plain JS object literal: JSON plus comments, bare keys, single quotes, trailing commas, ``1_000``.

    Anything else (a call, a spread, an identifier as a value) is not a plain literal and raises.
    """
    out: list[str] = []
    i = 0
    while i < len(literal):
        char = literal[i]
        if char in "\"'":
            end = _end_of_string(literal, i)
            body = literal[i + 1 : end - 1]
            if char == "'":
                body = body.replace("\\'", "'").replace('"', '\\"')
            out.append(f'"{body}"')
            i = end
        elif literal.startswith("//", i):
            newline = literal.find("\n", i)
            i = len(literal) if newline < 0 else newline
        elif literal.startswith("/*", i):
            i = literal.index("*/", i) + 2
        elif char == "`":
            raise ValueError("template literals are not plain data")
        elif char.isalpha() or char in "_$":
            word = re.match(r"[A-Za-z_$][\w$]*", literal[i:])
            assert word is not None
            name = word.group()
            after = literal[i + len(name) :].lstrip()
            if after.startswith(":"):
                out.append(json.dumps(name))  # a bare key
            elif name in ("true", "false", "null"):
                out.append(name)
            else:
                raise ValueError(f"{name!r} is not plain data (a call or a name instead of a value)")
            i += len(name)
        elif char.isdigit():
            number = re.match(r"[\d_]+(\.[\d_]+)?([eE][+-]?\d+)?", literal[i:])
            assert number is not None
            out.append(number.group().replace("_", ""))
            i += len(number.group())
        else:
            out.append(char)
            i += 1
    text = re.sub(r",(\s*[}\]])", r"\1", "".join(out))  # trailing commas
    return json.loads(text)


def fallback_options(source: str) -> object | None:
    """The value of ``FALLBACK_OPTIONS`` in ``source``, or ``None`` when it declares none.

    The literal may be wrapped in one call (``Object.freeze({...})``, ``deepFreeze({...})``).
    """
    declared = re.search(r"\b(?:const|let|var)\s+FALLBACK_OPTIONS\s*=\s*", source)
    if declared is None:
        return None
    brace = source.find("{", declared.end())
    wrapper = source[declared.end() : brace]
    if brace < 0 or not re.fullmatch(r"([\w$.]+\(\s*)?", wrapper):
        raise ValueError(f"FALLBACK_OPTIONS is not an object literal (it starts with {wrapper[:40]!r})")
    return js_literal_to_json(source[brace : _balanced(source, brace)])


def test_the_literal_reader_reads_what_a_js_file_may_write() -> None:
    source = """
    /** The kernel's options, for an older kernel. */
    export const FALLBACK_OPTIONS = deepFreeze({
      // comments, bare keys, single quotes and trailing commas are all fine
      resolutions: ['720p', "1080p", "4k",],
      "max_prompt": 2_500, /* a numeric separator */
      nested: {ok: true, none: null, text: "a } in a string, and a 'quote'"},
    });
    export const OTHER = 1;
    """
    assert fallback_options(source) == {
        "resolutions": ["720p", "1080p", "4k"],
        "max_prompt": 2500,
        "nested": {"ok": True, "none": None, "text": "a } in a string, and a 'quote'"},
    }
    assert fallback_options("export const NOTHING = {}; // see FALLBACK_OPTIONS === older") is None
    with pytest.raises(ValueError):
        fallback_options("export const FALLBACK_OPTIONS = {a: SOME_CONSTANT};")
    with pytest.raises(ValueError):
        fallback_options("export const FALLBACK_OPTIONS = makeOptions();")


# -- the options -------------------------------------------------------------------------------
def test_the_options_have_exactly_the_interfaces_keys_and_are_json() -> None:
    options = front_end_options()
    assert set(options) == KEYS
    assert json.loads(json.dumps(options)) == options
    assert set(options["concurrency"]) == {"default", "max"}
    assert set(options["statuses"]) == {"active", "finished", "failed"}


def test_the_options_are_the_constants_where_they_are_defined() -> None:
    options = front_end_options()
    assert options["resolutions"] == list(_validation.RESOLUTIONS)
    assert options["aspect_ratios"] == list(_validation.ASPECT_RATIOS)
    assert options["durations"] == list(_validation.DURATIONS)
    assert options["max_prompt"] == _validation.MAX_PROMPT_CHARS
    assert options["max_voice_name"] == _voice_panel.MAX_VOICE_NAME
    assert options["max_batch"] == _variations.MAX_BATCH
    assert [mode["value"] for mode in options["vary_modes"]] == list(_variations.VARY_MODES)
    assert options["concurrency"]["default"] == _controller.DEFAULT_CONCURRENCY
    assert 1 <= options["concurrency"]["default"] <= options["concurrency"]["max"] == MAX_CONCURRENCY


def test_the_controls_are_the_widgets_synced_traits_request_controls_first() -> None:
    controls = front_end_options()["controls"]
    assert controls == list(FORM_TRAITS)
    assert controls[: len(REQUEST_CONTROLS)] == list(REQUEST_CONTROLS) and len(set(controls)) == len(controls)
    synced = set(KlingWidget.class_trait_names(sync=True))
    assert set(controls) <= synced, f"not synced traits of KlingWidget: {set(controls) - synced}"
    assert not any(name.startswith("_") for name in REQUEST_CONTROLS), "the request's controls are public traits"


def test_every_grid_mode_has_its_button_text() -> None:
    assert set(VARY_TEXTS) == set(_variations.VARY_MODES)
    assert VARY_TEXTS["duration"] == "5 s and 10 s"


def test_status_groups_are_wire_statuses() -> None:
    statuses = front_end_options()["statuses"]
    known = {status.value for status in TaskStatus}
    for group in statuses.values():
        assert set(group) <= known and len(set(group)) == len(group)
    assert set(statuses["active"]).isdisjoint(statuses["finished"])


def test_each_call_is_a_fresh_copy() -> None:
    first = front_end_options()
    first["resolutions"].append("8k")
    first["statuses"]["active"].clear()
    assert front_end_options()["resolutions"] == list(_validation.RESOLUTIONS)
    assert front_end_options()["statuses"]["active"]


def test_the_front_ends_fallback_copy_equals_the_kernels_options() -> None:
    if not PROTOCOL_JS.exists():
        pytest.skip("no js/src/protocol.js next to the package (an installed copy): nothing to compare")
    copy = fallback_options(PROTOCOL_JS.read_text(encoding="utf-8"))
    if copy is None:
        pytest.skip(
            "js/src/protocol.js declares no FALLBACK_OPTIONS yet (the front end's copy of the kernel's _options); "
            "once it does, this test checks the copy equals front_end_options()"
        )
    assert copy == front_end_options(), (
        "FALLBACK_OPTIONS in js/src/protocol.js differs from foxkling_widgets._options.front_end_options(): "
        "copy the kernel's value (print it with: python -c 'import json, foxkling_widgets._options as o; "
        "print(json.dumps(o.front_end_options(), indent=2))')"
    )
