"""Card updates (``_cards.py``), download names (``_filenames.download_name``) and the message kinds
shared with the front end (``_messages.py`` against ``js/src/protocol.js``): pure parts, no widget."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from foxkling_widgets import _messages
from foxkling_widgets._cards import CARD_LIMIT, FULL_EVERY_S, CardPlanner, progress_changes
from foxkling_widgets._filenames import MAX_DOWNLOAD_NAME, download_name

PROTOCOL_JS = Path(__file__).resolve().parent.parent / "js" / "src" / "protocol.js"
SAFE = re.compile(r"[a-z0-9][a-z0-9.-]*\.mp4")


class Clock:
    """Seconds that move only when the test says so."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def card(key: str, progress: float = 0.0, *, status: str = "processing", watching: bool = True) -> dict[str, Any]:
    """A card with the fields the planner looks at (the others travel unchanged)."""
    return {
        "id": key,
        "status": status,
        "status_text": status,
        "progress": progress,
        "watching": watching,
        "summary": f"clip {key}",
    }


# -- the planner -------------------------------------------------------------------------------
def test_only_progress_goes_as_a_delta_until_the_refresh_is_due() -> None:
    clock = Clock()
    planner = CardPlanner(clock=clock)
    done = card("gen-done", 100.0, status="completed", watching=False)
    first = planner.plan([card("gen-a", 10.0), done], 2)
    assert first is not None and first.progress is None  # the first update is always the cards
    planner.sent(first)
    clock.now += 1
    step = planner.plan([card("gen-a", 20.0), done], 2)
    assert step is not None and step.progress == [{"id": "gen-a", "progress": 20.0, "status_text": "processing"}]
    planner.sent(step)
    assert planner.plan([card("gen-a", 20.0), done], 2) is None  # nothing moved: nothing to send
    clock.now += FULL_EVERY_S
    due = planner.plan([card("gen-a", 30.0), done], 2)
    assert due is not None and due.progress is None  # _tasks is never more than FULL_EVERY_S behind


def test_any_other_change_and_the_final_state_go_as_cards() -> None:
    planner = CardPlanner(clock=Clock())
    planner.sent(planner.plan([card("gen-a", 10.0)], 1))  # type: ignore[arg-type]
    status = planner.plan([card("gen-a", 10.0, status="downloading")], 1)
    assert status is not None and status.progress is None
    added = planner.plan([card("gen-b"), card("gen-a", 10.0)], 2)
    assert added is not None and added.progress is None
    final = planner.plan([card("gen-a", 11.0, watching=False)], 1)  # nothing left running
    assert final is not None and final.progress is None
    counted = planner.plan([card("gen-a", 11.0)], 61)  # the total changed (cards beyond the cap)
    assert counted is not None and counted.progress is None


def test_without_deltas_the_trait_catches_up_with_what_deltas_showed() -> None:
    planner = CardPlanner(clock=Clock())
    planner.sent(planner.plan([card("gen-a", 10.0)], 1))  # type: ignore[arg-type]
    delta = planner.plan([card("gen-a", 20.0)], 1)
    assert delta is not None and delta.progress is not None
    planner.sent(delta)
    assert planner.plan([card("gen-a", 20.0)], 1) is None
    catch_up = planner.plan([card("gen-a", 20.0)], 1, deltas=False)  # e.g. a waiting cell's final publish
    assert catch_up is not None and catch_up.progress is None
    planner.sent(catch_up)
    assert planner.plan([card("gen-a", 20.0)], 1, deltas=False) is None


def test_a_failed_send_makes_the_next_one_full() -> None:
    planner = CardPlanner(clock=Clock())
    planner.sent(planner.plan([card("gen-a", 10.0)], 1))  # type: ignore[arg-type]
    planner.forget()
    again = planner.plan([card("gen-a", 20.0)], 1)
    assert again is not None and again.progress is None


@given(
    st.lists(st.floats(0, 100), min_size=1, max_size=8),
    st.lists(st.tuples(st.integers(0, 7), st.floats(0, 100), st.sampled_from(["processing", "pending"]))),
)
def test_applying_the_deltas_gives_the_new_cards(start: list[float], moves: list[tuple[int, float, str]]) -> None:
    before = [card(f"gen-{i}", p) for i, p in enumerate(start)]
    after = copy.deepcopy(before)
    for index, progress, text in moves:
        if index < len(after):
            after[index]["progress"], after[index]["status_text"] = progress, text
    changes = progress_changes(before, after)
    assert changes is not None
    shown = copy.deepcopy(before)
    by_id = {c["id"]: c for c in shown}
    for entry in changes:  # what a view does with cards-progress
        by_id[entry["id"]].update(progress=entry["progress"], status_text=entry["status_text"])
    assert shown == after


def test_a_reordered_or_reshaped_list_is_not_a_delta() -> None:
    a, b = card("gen-a"), card("gen-b")
    assert progress_changes([a, b], [b, a]) is None
    assert progress_changes([a], [a, b]) is None
    assert progress_changes([a], [{**a, "note": "x"}]) is None
    assert progress_changes([a], [a]) == []
    assert CARD_LIMIT == 50


# -- download names -----------------------------------------------------------------------------
def test_a_download_name_has_the_prompt_tier_date_and_short_id() -> None:
    name = download_name(
        "Red fox runs through snow, at dawn (slow motion)", resolution="1080p", when=1_796_212_800, short_id="ab12cd"
    )
    assert name == "red-fox-runs-through-snow-at-1080p-2026-12-02-ab12cd.mp4"
    assert download_name("", when=0.0) == "clip-1970-01-01.mp4"
    assert download_name("Café <<<voice_1>>> ÉTÉ", resolution="4k", when=0.0, short_id="task-9f") == (
        "cafe-ete-4k-1970-01-01-task9f.mp4"
    )


@given(st.text(), st.text(max_size=30), st.text(max_size=60), st.floats(0, 4e9))
def test_any_prompt_gives_a_safe_short_mp4_name(prompt: str, resolution: str, short_id: str, when: float) -> None:
    name = download_name(prompt, resolution=resolution, when=when, short_id=short_id)
    assert SAFE.fullmatch(name), name
    assert len(name) <= MAX_DOWNLOAD_NAME and name.endswith(".mp4") and ".." not in name


# -- the message kinds, defined once per side ---------------------------------------------------
def _frozen_object(name: str) -> dict[str, str]:
    text = PROTOCOL_JS.read_text(encoding="utf-8")
    match = re.search(rf"export const {name} = Object\.freeze\(\{{(.*?)\}}\);", text, re.DOTALL)
    assert match, f"protocol.js has no {name}"
    return dict(re.findall(r'(\w+): "([a-z-]+)"', match.group(1)))


def test_the_front_ends_kinds_are_the_kernels() -> None:
    assert set(_frozen_object("KIND").values()) == _messages.KINDS
    assert _frozen_object("INCOMING")["cardsProgress"] == _messages.CARDS_PROGRESS


def test_every_kind_has_a_timeout_in_protocol_js() -> None:
    text = PROTOCOL_JS.read_text(encoding="utf-8")
    block = re.search(r"export const TIMEOUT_MS = Object\.freeze\(\{(.*?)\}\);", text, re.DOTALL)
    assert block
    names = set(re.findall(r"\[KIND\.(\w+)\]", block.group(1)))
    assert names == set(_frozen_object("KIND"))


def _message_types() -> dict[str, type]:
    return {
        name: value
        for name in _messages.__all__
        if isinstance(value := getattr(_messages, name), type) and hasattr(value, "__annotations__")
    }


def test_every_kind_has_a_request_shape_and_protocol_js_the_same_typedefs() -> None:
    import typing

    kinds = set()
    for cls in _message_types().values():
        hints = typing.get_type_hints(cls)
        kinds.update(typing.get_args(hints["kind"]) if "kind" in hints else ())
    assert kinds >= _messages.KINDS  # each request kind has its TypedDict
    text = PROTOCOL_JS.read_text(encoding="utf-8")
    typedefs = set(re.findall(r"\}\}\s*(\w+)\s*\*/", text))
    assert set(_message_types()) <= typedefs, sorted(set(_message_types()) - typedefs)


def test_deltas_reach_the_trait_once_the_refresh_is_due_even_if_nothing_moves_again() -> None:
    clock = Clock()
    planner = CardPlanner(clock=clock)
    planner.sent(planner.plan([card("gen-a", 10.0)], 1))  # type: ignore[arg-type]
    delta = planner.plan([card("gen-a", 20.0)], 1)
    assert delta is not None and delta.progress is not None
    planner.sent(delta)
    assert planner.catch_up_due() and planner.plan([card("gen-a", 20.0)], 1) is None  # fresh: wait
    clock.now += FULL_EVERY_S
    catch_up = planner.plan([card("gen-a", 20.0)], 1)  # the progress stalled: the trait catches up
    assert catch_up is not None and catch_up.progress is None
    planner.sent(catch_up)
    assert not planner.catch_up_due() and planner.plan([card("gen-a", 20.0)], 1) is None
