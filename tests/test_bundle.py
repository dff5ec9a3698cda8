"""The front-end bundle: present in the package and within its size budget.

anywidget stores the ``_esm`` source in the notebook once per widget instance, so its size is
paid by every saved notebook.
"""

from __future__ import annotations

from pathlib import Path

import foxkling_widgets

STATIC = Path(foxkling_widgets.__file__).parent / "static"
# Raised from 60 KiB, after trimming, for what users asked for in issues 11 and 13: the task
# history, progress deltas, the gallery's layout and sound, focus that survives folding (~9 KiB),
# and progressive playback (~2 KiB). anywidget saves the bundle once per studio in a notebook, so
# this stays a budget: the smallest round figure the studio fits in.
BUDGET = 72 * 1024


def test_bundle_is_built_and_under_budget() -> None:
    files = [STATIC / "widget.js", STATIC / "widget.css"]
    missing = [f.name for f in files if not f.exists()]
    assert not missing, f"missing {missing}: build with (cd js && npm ci && npm run build)"
    total = sum(f.stat().st_size for f in files)
    assert total < BUDGET, f"bundle is {total} bytes, over the {BUDGET}-byte budget"


def test_bundle_loads_nothing_from_the_network() -> None:
    text = (STATIC / "widget.js").read_text() + (STATIC / "widget.css").read_text()
    # Anything that would fetch at run time: the demo must work with no network.
    for needle in ("fetch(", "XMLHttpRequest", "@import", "url(http", 'import("http', 'from"http', "fonts.googleapis"):
        assert needle not in text, needle
