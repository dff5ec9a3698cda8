"""The package as users get it: the public surface, import cost, and the wheel's contents."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import foxkling_widgets

ROOT = Path(__file__).resolve().parent.parent

PUBLIC = {
    # issue 3's names, part of the product
    "FoxClient",
    "AsyncFoxClient",
    "VideoRequest",
    "Segment",
    "Task",
    "TaskStatus",
    "FoxAPIError",
    "AuthenticationError",
    "InsufficientCreditsError",
    "NotFoundError",
    "InvalidRequestError",
    "RateLimitError",
    "ServerError",
    "TaskFailedError",
    "SubmitUncertainError",
    # issue 4
    "KlingWidget",
    # issue 5: what generate_batch returns and create_voice gives back (for type hints)
    "Batch",
    "Generation",
    # the rest of the error hierarchy and helpers
    "APIConnectionError",
    "BlockedClientError",
    "DownloadError",
    "JournalUnavailableError",
    "MissingAPIKeyError",
    "Problem",
    "ProtocolError",
    "ResultExpiredError",
    "TaskError",
    "WaitTimeoutError",
    "__version__",
    "load_ipython_extension",
}


def test_all_is_exactly_the_public_surface() -> None:
    assert set(foxkling_widgets.__all__) == PUBLIC
    for name in PUBLIC:
        assert hasattr(foxkling_widgets, name), name
    public_attrs = {n for n in vars(foxkling_widgets) if not n.startswith("_")} - {"client", "emulator"}
    modules = {n for n in public_attrs if type(getattr(foxkling_widgets, n)).__name__ == "module"}
    assert public_attrs - modules <= PUBLIC | {"annotations"}


def test_errors_form_one_hierarchy() -> None:
    for name in PUBLIC:
        obj = getattr(foxkling_widgets, name)
        if isinstance(obj, type) and issubclass(obj, BaseException):
            assert issubclass(obj, foxkling_widgets.FoxAPIError), name
    assert issubclass(foxkling_widgets.InvalidRequestError, ValueError)


def test_py_typed_is_shipped() -> None:
    assert (Path(foxkling_widgets.__file__).parent / "py.typed").exists()


def test_import_does_not_load_heavy_optional_dependencies() -> None:
    code = (
        "import sys, json, foxkling_widgets;"
        "heavy = ('av', 'PIL', 'starlette', 'uvicorn', 'nest_asyncio');"
        "print(json.dumps(sorted(m for m in heavy if m in sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    assert json.loads(out) == []


@pytest.mark.slow
def test_wheel_contains_the_bundle(tmp_path: Path) -> None:
    bundle = ROOT / "foxkling_widgets" / "static" / "widget.js"
    assert bundle.exists(), "build the front end first: (cd js && npm ci && npm run build)"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("foxkling_widgets-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {"foxkling_widgets/static/widget.js", "foxkling_widgets/static/widget.css"} <= names
    assert "foxkling_widgets/py.typed" in names
    assert not any("node_modules" in n or n.startswith("tests/") for n in names)
