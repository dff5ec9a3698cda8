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


def _modules_loaded_by(code: str) -> set[str]:
    """The top-level modules a fresh interpreter has loaded after running ``code``."""
    probe = f"{code}\nimport sys, json\nprint(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}})))"
    out = subprocess.run([sys.executable, "-c", probe], check=True, capture_output=True, text=True).stdout
    return set(json.loads(out.splitlines()[-1]))


#: What the package and the CLI's --help must not pay for: the HTTP stack, the event loop, the
#: journal's database, the widget's stack.
STARTUP_HEAVY = {"httpx", "httpcore", "ssl", "asyncio", "sqlite3", "anywidget", "ipywidgets", "IPython", "traitlets"}


def test_import_and_help_start_without_the_http_stack_or_the_widget() -> None:
    assert _modules_loaded_by("import foxkling_widgets") & STARTUP_HEAVY == set()
    help_run = "import contextlib, io\nfrom foxkling_widgets.cli import main\n"
    help_run += "with contextlib.redirect_stdout(io.StringIO()): main(['--help'])"
    assert _modules_loaded_by(help_run) & STARTUP_HEAVY == set()


def test_the_client_imports_httpx_only_when_one_is_built() -> None:
    assert "httpx" not in _modules_loaded_by("from foxkling_widgets import AsyncFoxClient, FoxClient")
    built = "from foxkling_widgets import AsyncFoxClient\nAsyncFoxClient(api_key='sk-test-0123456789', journal=False)"
    assert "httpx" in _modules_loaded_by(built)


def test_lazy_names_are_the_same_objects_as_their_modules() -> None:
    from foxkling_widgets import client

    assert foxkling_widgets.FoxClient is client.FoxClient and foxkling_widgets.AsyncFoxClient is client.AsyncFoxClient
    assert foxkling_widgets.client is client
    assert set(foxkling_widgets.__all__) <= set(dir(foxkling_widgets))
