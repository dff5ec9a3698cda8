"""What the front end offers and enforces, built once from the constants where they are defined.

The studio's choices (resolutions, aspect ratios, durations, grid modes), its limits (prompt and
name lengths, voices, shots, batch size, concurrency) and the status groups are sent to the front
end as the kernel-owned trait ``_options`` (``docs/widget-protocol.md``), so the front end never
declares them itself. ``js/src/protocol.js`` keeps one frozen copy, ``FALLBACK_OPTIONS``, for a
kernel too old to send them; ``tests/test_options.py`` checks that copy equals
:func:`front_end_options`.

Each value is read from its home: request rules from :mod:`._validation`, grid modes and the
batch size from :mod:`._variations`, the voice name's bound from :mod:`._voice_panel`, the
concurrency default from :mod:`._controller`, the status groups from :mod:`._status`. Only the
grid modes' button texts and the lists of control traits are written here: the texts are the one
thing the front end shows that no rule in the kernel needs, and the traits are the widget's, which
imports this module (so they cannot live in ``_widget.py`` without an import cycle).
"""

from __future__ import annotations

from typing import Any

from ._controller import DEFAULT_CONCURRENCY, MAX_CONCURRENCY
from ._status import ACTIVE, FAILURES, FINISHED, ordered
from ._validation import (
    ASPECT_RATIOS,
    AUDIO_EXTENSIONS,
    DURATIONS,
    MAX_NEGATIVE_PROMPT_CHARS,
    MAX_PROMPT_CHARS,
    MAX_SEGMENTS,
    MAX_VOICES,
    RESOLUTIONS,
    SEGMENT_PROMPT_SOFT_LIMIT,
)
from ._variations import MAX_BATCH, VARY_MODES
from ._voice_panel import MAX_VOICE_NAME

__all__ = ["FORM_TRAITS", "REQUEST_CONTROLS", "VARY_TEXTS", "front_end_options"]

#: The traits the user edits that make up the request: a change to one re-checks it (``_problems``).
REQUEST_CONTROLS: tuple[str, ...] = (
    "prompt",
    "negative_prompt",
    "resolution",
    "aspect_ratio",
    "duration",
    "generate_audio",
    "voice_ids",
    "multishot",
    "segments",
    "vary",
)

#: Every trait whose change redraws the front end's form: the request's controls, then the
#: studio's own (the batch size, the voices panel, the voices known and the batch's labels).
FORM_TRAITS: tuple[str, ...] = (
    *REQUEST_CONTROLS,
    "concurrency",
    "voice_url",
    "voice_name",
    "_voices",
    "_variations",
)

#: The grid modes' button texts, by mode (``_variations.VARY_MODES``: every mode has one).
VARY_TEXTS: dict[str, str] = {
    "": "One clip",
    "aspect_ratio": "Each aspect ratio",
    "duration": " and ".join(f"{seconds} s" for seconds in DURATIONS),  # "5 s and 10 s"
    "prompts": "One per prompt line",
}


def front_end_options() -> dict[str, Any]:
    """The ``_options`` trait: a fresh, JSON-ready dict with exactly the keys the front end reads.

    Lists are in a fixed order (status groups in :class:`~._status.TaskStatus` order), so the
    value is the same in every kernel and can be compared with the front end's fallback copy.
    """
    return {
        "resolutions": list(RESOLUTIONS),
        "aspect_ratios": list(ASPECT_RATIOS),
        "durations": list(DURATIONS),
        "max_prompt": MAX_PROMPT_CHARS,
        "max_negative_prompt": MAX_NEGATIVE_PROMPT_CHARS,
        "max_voices": MAX_VOICES,
        "max_segments": MAX_SEGMENTS,
        "segment_prompt_soft_limit": SEGMENT_PROMPT_SOFT_LIMIT,
        "max_voice_name": MAX_VOICE_NAME,
        # A mode without a text (a test catches it) shows its own name rather than breaking the view.
        "vary_modes": [{"value": mode, "text": VARY_TEXTS.get(mode, mode)} for mode in VARY_MODES],
        "max_batch": MAX_BATCH,
        "concurrency": {"default": DEFAULT_CONCURRENCY, "max": MAX_CONCURRENCY},
        "audio_extensions": list(AUDIO_EXTENSIONS),
        "controls": list(FORM_TRAITS),
        "statuses": {"active": ordered(ACTIVE), "finished": ordered(FINISHED), "failed": ordered(FAILURES)},
    }
