"""The studio in JupyterLab with a kernel at the lowest supported ipykernel, and at the newest.

``pyproject.toml`` declares ``ipykernel>=6.29``, ``ipywidgets>=8`` and ``anywidget>=0.9``.
``scripts/test`` builds an environment with each of them at its lowest (and this package with
its emulator), and names its interpreter in ``FOXKLING_IPYKERNEL_LOWEST_PYTHON``; the test
environment itself has the newest. The JupyterLab server is always the test environment's
(JupyterLab newest); only the kernel differs. That kernel is registered under its own name in
a kernelspec folder made for this server (``JUPYTER_PATH``), never in the user's folders.

The lowest environment's ``share/jupyter`` is on that path too, after the kernelspec folder:
anywidget registers its front end under its exact version and a kernel asks for exactly its
own, so the page must load the front end of the kernel's anywidget (as it does for anyone who
runs Lab and kernel from one environment). JupyterLab takes the first copy of an extension it
finds, so that environment's anywidget and widget-manager extensions are the ones in the page.

The person's path, as in the other hosts (tests/browser/test_hosts.py): the studio renders, a
two-line prompt is typed key by key (Enter included), Generate starts a clip on the built-in
emulator, the card's status and progress change while it runs, and the video plays.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest
from playwright.sync_api import Page, sync_playwright

from .conftest import Emulator, JupyterServer, _start_jupyter, launch_options
from .helpers import ALLOWED_PAGE_ERRORS, open_notebook, run_all, wait_for_widget
from .test_hosts import _live_scenario
from .timeouts import TEST_TIMEOUT_S

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(TEST_TIMEOUT_S)]

ROOT = Path(__file__).resolve().parents[2]
# The environment with the lowest supported ipykernel, ipywidgets and anywidget; scripts/test
# makes it and names its interpreter here.
LOWEST_PYTHON = os.environ.get("FOXKLING_IPYKERNEL_LOWEST_PYTHON", "")
KERNEL_NAME = "foxkling-lowest"
VERSIONS_CELL = (
    "import importlib.metadata as _md\n"
    "print('versions:', {p: _md.version(p) for p in ('ipykernel', 'ipywidgets', 'anywidget', 'comm', 'ipython')})"
)
# The built-in emulator takes this long per clip: long enough to see progress change.
WIDGET_CELL = (
    "import os\nos.environ['FOXKLING_EMULATOR_SECONDS'] = '4'\n"
    "from foxkling_widgets import KlingWidget\n\nw = KlingWidget(emulator=True)\nw"
)


def _versions(python: str) -> dict[str, str]:
    code = (
        "import importlib.metadata as m, json;"
        "print(json.dumps({p: m.version(p) for p in ('ipykernel', 'ipywidgets', 'anywidget')}))"
    )
    out = subprocess.run([python, "-c", code], check=True, capture_output=True, text=True, timeout=60).stdout
    return dict(json.loads(out))


def _declared_lowest() -> dict[str, str]:
    """The lowest version pyproject.toml allows for each of the three, as pip would resolve ``==``."""
    text = (ROOT / "pyproject.toml").read_text()
    lowest = {}
    for name in ("ipykernel", "ipywidgets", "anywidget"):
        spec = text.split(f'"{name}>=', 1)[1].split('"', 1)[0].split(",", 1)[0]
        parts = [*spec.split("."), "0", "0"][:3]
        lowest[name] = ".".join(parts)
    return lowest


@pytest.fixture(params=["newest", "lowest"])
def kernel_env(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The kernelspec name the notebook asks for; for the lowest, a server-only JUPYTER_PATH."""
    if request.param == "newest":
        yield "python3"  # the server's native kernel: this interpreter
        return
    if not LOWEST_PYTHON:
        if os.environ.get("FOXKLING_REQUIRE_BROWSER"):
            pytest.fail("FOXKLING_IPYKERNEL_LOWEST_PYTHON is not set: scripts/test makes that environment")
        pytest.skip("no environment with the lowest supported ipykernel (FOXKLING_IPYKERNEL_LOWEST_PYTHON)")
    spec_dir = tmp_path / "kernelspecs"
    kernel_dir = spec_dir / "kernels" / KERNEL_NAME
    kernel_dir.mkdir(parents=True)
    (kernel_dir / "kernel.json").write_text(
        json.dumps(
            {
                "argv": [LOWEST_PYTHON, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                "display_name": "Python 3 (lowest supported)",
                "language": "python",
                # This checkout first, whatever checkout the environment was installed from.
                "env": {"PYTHONPATH": str(ROOT)},
            }
        )
    )
    # sys.prefix of the lowest environment: its share/jupyter holds its widget front ends.
    prefix = subprocess.run(
        [LOWEST_PYTHON, "-c", "import sys; print(sys.prefix)"], check=True, capture_output=True, text=True
    ).stdout.strip()
    monkeypatch.setenv("JUPYTER_PATH", os.pathsep.join([str(spec_dir), str(Path(prefix) / "share" / "jupyter")]))
    yield KERNEL_NAME


def _notebook(path: Path, kernel: str) -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(VERSIONS_CELL), nbformat.v4.new_code_cell(WIDGET_CELL)]
    nb.metadata["kernelspec"] = {"name": kernel, "display_name": kernel, "language": "python"}
    nbformat.write(nb, path)


@pytest.fixture
def lab_for_kernel(kernel_env: str, tmp_path: Path, emulator_process: Emulator) -> Iterator[tuple[JupyterServer, str]]:
    for server in _start_jupyter("lab", tmp_path / "lab", emulator_process):
        yield server, kernel_env


def _kernel_versions(page: Page) -> dict[str, str]:
    """What the first cell printed: the kernel's own package versions."""
    stdout = page.locator('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stdout"]').first
    stdout.wait_for(timeout=60_000)
    text = stdout.inner_text().strip()
    assert text.startswith("versions:"), text
    parsed: dict[str, str] = json.loads(text.removeprefix("versions:").strip().replace("'", '"'))
    return parsed


def test_lab_studio_with_kernel(lab_for_kernel: tuple[JupyterServer, str], artifacts: Path) -> None:
    """Render, type two lines, generate on the emulator, watch progress, play: with this kernel."""
    server, kernel = lab_for_kernel
    lowest = kernel == KERNEL_NAME
    expected = _declared_lowest() if lowest else _versions(sys.executable)
    notebook = server.root / "kernel.ipynb"
    _notebook(notebook, kernel)
    errors: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(**launch_options())
        page = browser.new_page(viewport={"width": 1280, "height": 1400})
        page.on("pageerror", lambda error: errors.append(str(error)))
        try:
            open_notebook(page, f"{server.url}/lab/tree/{notebook.name}?token={server.token}")
            run_all(page)
            versions = _kernel_versions(page)
            for name, version in expected.items():
                assert versions[name] == version, (name, versions, expected)
            name = f"lab-ipykernel-{versions['ipykernel']}"
            wait_for_widget(page)
            seen = _live_scenario(page, name, artifacts)
        except BaseException:
            page.screenshot(path=str(artifacts / f"lab-kernel-{kernel}-failure.png"), full_page=True)
            raise
        finally:
            browser.close()
    print(f"JupyterLab with ipykernel {versions['ipykernel']} ({versions}): {seen['states']}")
    unexpected = [e for e in errors if not any(a in e for a in ALLOWED_PAGE_ERRORS)]
    assert not unexpected, unexpected
