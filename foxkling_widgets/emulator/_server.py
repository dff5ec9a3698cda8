"""Run the emulator as a real HTTP server on loopback: in a background thread, or blocking (CLI).

The widget's no-key default is :func:`shared_emulator`: one server per Python process, started
lazily in a daemon thread on a free loopback port. Nothing listens beyond 127.0.0.1 unless the
caller passes ``allow_remote=True`` explicitly.

The shared emulator keeps its tasks in a store (:mod:`._store`) under the data directory, with
its files in the cache directory, so a kernel started later answers for the tasks an earlier
one created. Its port still changes with every process, on purpose: a fixed port would be one
for every user and every data directory of the machine, a second kernel would find it taken (or
talk to another user's emulator), and a kernel's tasks would stall whenever the kernel holding
the port died. Instead each kernel serves on a free port and all of them share the store; the
client journals their tasks under one host name (``emulator://localhost``), not the port.
``FOXKLING_EMULATOR_STORE=0`` keeps the shared emulator in memory, as before.
"""

from __future__ import annotations

import ipaddress
import os
import threading
import time
from types import TracebackType
from typing import Any

import uvicorn

from ._app import Emulator, EmulatorConfig, create_app

__all__ = ["EmulatorServer", "serve", "shared_emulator"]

#: Simulated seconds per video for the shared (demo) emulator; tests and CI lower it.
SECONDS_ENV = "FOXKLING_EMULATOR_SECONDS"
#: ``1`` makes the shared emulator's files as large as real ones (``EmulatorConfig.real_size``).
REAL_SIZE_ENV = "FOXKLING_EMULATOR_REAL_SIZE"
#: ``0`` keeps the shared emulator's tasks in memory only (no store under the data directory).
STORE_ENV = "FOXKLING_EMULATOR_STORE"
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _uvicorn_config(app: Any, host: str, port: int) -> uvicorn.Config:
    # The emulated resets end in an exception inside the app by design: keep uvicorn quiet about it.
    return uvicorn.Config(app, host=host, port=port, log_level="critical", access_log=False, lifespan="off")


class EmulatorServer:
    """A uvicorn server for the emulator in a daemon thread.

    Use as a context manager or call :meth:`start` / :meth:`stop`. ``port=0`` picks a free port;
    :attr:`url` is known once started.
    """

    def __init__(self, config: EmulatorConfig | None = None, *, host: str = "127.0.0.1", port: int = 0) -> None:
        if not _is_loopback(host):
            raise ValueError(
                f"EmulatorServer listens on loopback only (got {host!r}); use serve(..., allow_remote=True)"
            )
        self.app = create_app(config)
        self.emulator: Emulator = self.app.state.emulator
        self._server = uvicorn.Server(_uvicorn_config(self.app, host, port))
        self._thread: threading.Thread | None = None
        self.host = host
        self.port = port

    @property
    def url(self) -> str:
        """The base URL, e.g. ``http://127.0.0.1:53211``."""
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 30.0) -> EmulatorServer:
        """Start serving and wait until the port accepts connections."""
        if self._thread is not None:
            return self
        self._thread = threading.Thread(target=self._server.run, name="foxkling-emulator", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the emulator server did not start")
            time.sleep(0.01)
        sockets = [s for server in self._server.servers for s in server.sockets]
        self.port = int(sockets[0].getsockname()[1])
        return self

    def stop(self) -> None:
        """Stop serving and release rendered files."""
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        self.emulator.close()

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


_shared: EmulatorServer | None = None
_shared_lock = threading.Lock()


def shared_emulator() -> EmulatorServer:
    """The process-wide emulator, configured from the environment when first started.

    Demo speed, ~8 s per video (``FOXKLING_EMULATOR_SECONDS`` overrides); preview-sized files
    unless ``FOXKLING_EMULATOR_REAL_SIZE=1``, which makes them as large as real ones. Tasks are
    kept under the data directory (``FOXKLING_DATA_DIR``, as the journal) and files under the
    cache directory (``FOXKLING_CACHE_DIR``), both as they are when it starts, so later processes
    answer for them; ``FOXKLING_EMULATOR_STORE=0`` keeps them in memory.
    """
    global _shared
    with _shared_lock:
        if _shared is None:
            from .._paths import cache_dir, data_dir

            seconds = float(os.environ.get(SECONDS_ENV, "8"))
            real_size = os.environ.get(REAL_SIZE_ENV, "").strip().lower() in _TRUE
            config = EmulatorConfig(seconds_per_video=seconds, real_size=real_size)
            if os.environ.get(STORE_ENV, "").strip().lower() not in _FALSE:
                config.store, config.files = data_dir() / "emulator", cache_dir() / "emulator"
            _shared = EmulatorServer(config).start()
        return _shared


def serve(
    host: str = "127.0.0.1", port: int = 8765, config: EmulatorConfig | None = None, *, allow_remote: bool = False
) -> None:
    """Serve the emulator in the foreground until interrupted (``foxkling emulator``)."""
    if not _is_loopback(host) and not allow_remote:
        raise ValueError(f"refusing to listen on {host!r}: the emulator is for this machine; pass allow_remote=True")
    app = create_app(config)
    try:
        uvicorn.Server(_uvicorn_config(app, host, port)).run()
    finally:
        app.state.emulator.close()
