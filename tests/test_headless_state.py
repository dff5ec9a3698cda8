"""A notebook run headless (nbclient, widget state stored) saves the studio as it ended.

The controller publishes from its own thread, and ipykernel tags a thread's messages with the
cell that was running when the thread started (here: the widget's own cell). nbclient records
a widget update only under the cell it is executing, so without a final publish from the cell
that waited, the saved state kept the card at "downloading". Also: the widget's ``text/plain``
is a sentence, not ``<...KlingWidget object at 0x...>``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient

pytestmark = [pytest.mark.kernel, pytest.mark.slow, pytest.mark.timeout(300)]

WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def _run(tmp_path: Path, cells: list[str]) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(source) for source in cells]
    NotebookClient(
        nb, timeout=180, kernel_name="python3", store_widget_state=True, resources={"metadata": {"path": str(tmp_path)}}
    ).execute()
    for cell in nb.cells:
        for output in cell.outputs:
            assert output.get("output_type") != "error", f"{output.get('ename')}: {output.get('evalue')}"
    return nb


def _studio_state(nb: nbformat.NotebookNode) -> dict[str, Any]:
    view = next(o for o in nb.cells[0].outputs if WIDGET_VIEW in o.get("data", {}))
    model_id = view["data"][WIDGET_VIEW]["model_id"]
    state: dict[str, Any] = nb.metadata["widgets"][WIDGET_STATE]["state"][model_id]["state"]
    return state


@pytest.fixture(autouse=True)
def _fast_emulator(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FOXKLING_EMULATOR_SECONDS", "1")


SETUP = 'from foxkling_widgets import KlingWidget\nw = KlingWidget(emulator=True)\nw.prompt = "A red fox in snow"\nw'


@pytest.mark.parametrize(
    "wait",
    [
        "task = await w.generate()",
        "w.generate_nowait()\nw.wait()",
        "batch = w.generate_batch([{'prompt': 'a'}, {'prompt': 'b'}])\nawait batch",
        "w.generate_batch([{'prompt': 'a'}]).wait()",
    ],
    ids=["await-generate", "wait", "await-batch", "batch-wait"],
)
def test_saved_state_has_the_finished_card(tmp_path: Path, wait: str) -> None:
    nb = _run(tmp_path, [SETUP, wait])
    cards = _studio_state(nb)["_tasks"]
    assert cards, "no task cards in the saved widget state"
    assert [c["status"] for c in cards] == ["completed"] * len(cards)
    assert all(c["video"] is not None and c["progress"] == 100 for c in cards)
    # Each poster is saved once in the whole notebook: in _posters, not in the cards nor the fallback.
    posters = _studio_state(nb)["_posters"]
    assert set(posters) == {c["id"] for c in cards} and all(c["poster"] == "" for c in cards)
    saved = nbformat.writes(nb)
    for poster in posters.values():
        assert saved.count(poster.removeprefix("data:image/jpeg;base64,")) == 1
    # The kernel-less fallback (a display of its own) was refreshed from the waiting cell too.
    fallback = "".join(o.get("data", {}).get("text/html", "") for o in nb.cells[0].outputs)
    assert "completed" in fallback and "downloading" not in fallback


def test_text_plain_is_a_sentence(tmp_path: Path) -> None:
    nb = _run(tmp_path, [SETUP, "task = await w.generate()", "w"])
    first = next(o for o in nb.cells[0].outputs if WIDGET_VIEW in o.get("data", {}))
    assert first["data"]["text/plain"] == "Kling video studio (emulator) — no generations yet"
    again = next(o for o in nb.cells[2].outputs if WIDGET_VIEW in o.get("data", {}))
    assert again["data"]["text/plain"] == "Kling video studio (emulator) — 1 generation"
    for cell in nb.cells:
        for output in cell.outputs:
            assert "object at 0x" not in str(output.get("data", {}).get("text/plain", ""))
