"""Every notebook in notebooks/ executes cleanly in a real kernel, and is committed without outputs."""

from __future__ import annotations

import shutil
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("*.ipynb"))

pytestmark = [pytest.mark.kernel, pytest.mark.slow, pytest.mark.timeout(400)]


def test_there_are_notebooks() -> None:
    assert {p.name for p in NOTEBOOKS} >= {
        "quickstart.ipynb",
        "python-api.ipynb",
        "teaching-demo.ipynb",
        "batch-and-variations.ipynb",
    }


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_is_committed_clean(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, f"{path.name} has saved output"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_executes(path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # No key in the environment: the notebooks run on the built-in emulator, fast.
    monkeypatch.setenv("FOXKLING_EMULATOR_SECONDS", "1")
    work = tmp_path / path.name
    shutil.copy(path, work)
    nb = nbformat.read(work, as_version=4)
    NotebookClient(
        nb, timeout=180, kernel_name="python3", store_widget_state=True, resources={"metadata": {"path": str(tmp_path)}}
    ).execute()
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            assert output.get("output_type") != "error", f"{path.name}: {output.get('ename')}: {output.get('evalue')}"
            assert output.get("name") != "stderr", f"{path.name}: {output.get('text')}"


def test_kling_cell_magic_runs_in_a_kernel(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FOXKLING_EMULATOR_SECONDS", "1")
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell("%load_ext foxkling_widgets"),
        nbformat.v4.new_code_cell(
            '%%kling --emulator --aspect 9:16 --duration 10 --audio --segment "wide:6" --segment "close:4"\n'
            "A red fox trots through fresh snow"
        ),
        nbformat.v4.new_code_cell("%%kling --duration 7\nnot sent"),
    ]
    NotebookClient(nb, timeout=180, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    video = [o for o in nb.cells[1].outputs if "text/html" in o.get("data", {}) and "<video" in o["data"]["text/html"]]
    assert video and "data:video/mp4;base64," in video[0]["data"]["text/html"]
    refused = "".join(o.get("data", {}).get("text/html", "") for o in nb.cells[2].outputs)
    assert "duration" in refused and "5 or 10" in refused
