"""Shared test setup: every test runs isolated from the user's key, journal and cache."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

# The scriptable loopback server's fixtures (``server``) and a loopback emulator per module
# (``emulator``, ``slow``) for the suites that use them.
pytest_plugins = ["fake_server", "emulator_fixtures"]


@pytest.fixture(autouse=True)
def _isolated_environment(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    # A developer's real FOXAPI_API_KEY must never reach a test (it would make tests live and billed),
    # and tests must never write into the user's real journal or video cache.
    home = Path(tmp_path_factory.mktemp("foxkling-home"))
    for name in ("FOXAPI_API_KEY", "FOXAPI_BASE_URL", "FOXKLING_JOURNAL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("FOXKLING_DATA_DIR", str(home / "data"))
    monkeypatch.setenv("FOXKLING_CACHE_DIR", str(home / "cache"))
    yield
    # Keys registered for scrubbing by one test must not mask text in the next.
    from foxkling_widgets._secrets import forget_all

    forget_all()
