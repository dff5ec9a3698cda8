"""The client's public seams for code above it: where its key and base URL come from, without the key."""

from __future__ import annotations

import asyncio
import itertools

import pytest

from foxkling_widgets._controller import CodeSession
from foxkling_widgets.client import EMULATOR_KEY, AsyncFoxClient

ENV_KEY = "sk-env-0123456789abcdefghij"
OTHER_KEY = "sk-other-0123456789abcdefghij"
CUSTOM_URL = "https://gateway.example/api"


def _client(key: str | None, base_url: str | None) -> AsyncFoxClient:
    return AsyncFoxClient(api_key=key, base_url=base_url, journal=False)


def _close(client: AsyncFoxClient) -> None:
    asyncio.run(client.aclose())


@pytest.mark.parametrize(
    ("env_key", "key", "source"),
    [
        (ENV_KEY, None, "env"),  # FOXAPI_API_KEY read at construction
        (ENV_KEY, ENV_KEY, "env"),  # passed, but the same as the environment's: FoxClient() finds it
        (ENV_KEY, OTHER_KEY, "given"),
        (None, OTHER_KEY, "given"),
        (None, None, "none"),
        (ENV_KEY, EMULATOR_KEY, "emulator"),
    ],
)
def test_key_source_says_where_the_key_is_found(
    monkeypatch: pytest.MonkeyPatch, env_key: str | None, key: str | None, source: str
) -> None:
    if env_key is not None:
        monkeypatch.setenv("FOXAPI_API_KEY", env_key)
    client = _client(key, None)
    try:
        assert client.key_source() == source
        assert ENV_KEY not in repr(client) and OTHER_KEY not in repr(client)
    finally:
        _close(client)


def test_key_source_follows_the_environment_as_it_is_now(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FOXAPI_API_KEY", ENV_KEY)
    client = _client(None, None)
    try:
        monkeypatch.setenv("FOXAPI_API_KEY", OTHER_KEY)  # changed since: FoxClient() would get another key
        assert client.key_source() == "given"
    finally:
        _close(client)


def test_base_url_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    default, custom = _client(OTHER_KEY, None), _client(OTHER_KEY, CUSTOM_URL + "/")
    try:
        assert default.base_url_from_environment() and not custom.base_url_from_environment()
        monkeypatch.setenv("FOXAPI_BASE_URL", f" {CUSTOM_URL}/ ")
        assert custom.base_url_from_environment() and not default.base_url_from_environment()
    finally:
        _close(default)
        _close(custom)


def _code_session_from_seams(client: AsyncFoxClient) -> CodeSession:
    """``CodeSession.of`` as it reads once built on the seams (the change the controller is to make)."""
    how = {"emulator": "emulator", "env": "env"}.get(client.key_source(), "ask")
    return CodeSession(base_url=None if client.base_url_from_environment() else client.base_url, key=how)


@pytest.mark.parametrize(
    ("env_key", "env_url", "key", "url"),
    list(
        itertools.product(
            [None, ENV_KEY], [None, CUSTOM_URL], [None, ENV_KEY, OTHER_KEY, EMULATOR_KEY], [None, CUSTOM_URL]
        )
    ),
)
def test_the_seams_tell_copy_as_code_what_it_reads_today(
    monkeypatch: pytest.MonkeyPatch, env_key: str | None, env_url: str | None, key: str | None, url: str | None
) -> None:
    for name, value in (("FOXAPI_API_KEY", env_key), ("FOXAPI_BASE_URL", env_url)):
        if value is not None:
            monkeypatch.setenv(name, value)
    client = _client(key, url)
    try:
        assert _code_session_from_seams(client) == CodeSession.of(client)
    finally:
        _close(client)
