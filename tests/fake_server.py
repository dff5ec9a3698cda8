"""A loopback HTTP server whose every answer the test scripts: the hostile-but-plausible FoxAPI.

Real sockets and real HTTP/1.1 (the standard library's threading server), so the client is
tested over the same path as in the field; each request is recorded (method, path, headers,
body) and answered by ``server.answer(request)``, which a test replaces at will. An answer can
delay itself (a POST whose reply is still on its way) or cut the connection.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from foxkling_widgets._journal import Journal


@dataclass
class Seen:
    """One request as the server received it."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Reply:
    """What the server sends back. ``delay`` waits before answering; ``drop`` closes without answering."""

    status: int = 200
    body: bytes = b"{}"
    headers: dict[str, str] = field(default_factory=lambda: {"Content-Type": "application/json"})
    delay: float = 0.0
    drop: bool = False


def json_reply(value: Any, status: int = 200, **headers: str) -> Reply:
    """A JSON answer (NaN and Infinity allowed, as a sloppy server might send them)."""
    return Reply(status, json.dumps(value, allow_nan=True).encode(), {"Content-Type": "application/json", **headers})


class FakeServer:
    """The server, its record of requests, and the current script."""

    def __init__(self) -> None:
        self.requests: list[Seen] = []
        self.answer: Callable[[Seen], Reply] = lambda _seen: Reply(404, b'{"error": {"message": "no script"}}')
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go in two writes: no 40 ms delayed-ACK stall

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                return None

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                seen = Seen(self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                with fake._lock:
                    fake.requests.append(seen)
                reply = fake.answer(seen)
                if reply.delay:
                    time.sleep(reply.delay)
                if reply.drop:
                    self.close_connection = True
                    self.connection.close()
                    return
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                if "content-length" not in {k.lower() for k in reply.headers}:
                    self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                self.wfile.write(reply.body)

            do_GET = _serve
            do_POST = _serve

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self._thread.start()

    def count(self, method: str) -> int:
        """How many requests of ``method`` arrived."""
        with self._lock:
            return sum(1 for r in self.requests if r.method == method)

    def reset(self) -> None:
        """Forget the requests seen so far."""
        with self._lock:
            self.requests.clear()

    def close(self) -> None:
        """Stop serving."""
        self.httpd.shutdown()
        self.httpd.server_close()


@contextmanager
def fake_server() -> Iterator[FakeServer]:
    """A running :class:`FakeServer` for the ``with`` block."""
    server = FakeServer()
    try:
        yield server
    finally:
        server.close()


# Fixtures for the suites that talk to it (registered by tests/conftest.py): one server per
# module, its record of requests cleared before each test.
@pytest.fixture(scope="module")
def _fake_server_process() -> Iterator[FakeServer]:
    with fake_server() as server:
        yield server


@pytest.fixture
def server(_fake_server_process: FakeServer) -> FakeServer:
    """The module's :class:`FakeServer`, with no requests recorded yet."""
    _fake_server_process.reset()
    return _fake_server_process


async def instant(_seconds: float) -> None:
    """An async sleep that does not wait (retries and polls in tests)."""
    await asyncio.sleep(0)


def scratch_journal(prefix: str = "fk-journal-") -> Journal:
    """A journal in a fresh temp folder (hypothesis examples cannot take per-test fixtures)."""
    return Journal(Path(tempfile.mkdtemp(prefix=prefix)) / "journal.sqlite3")
