"""A local FoxAPI: the whole product works with no key and no network.

It implements the contract's endpoints with the same validation and error bodies, renders each
video as a real, playable H.264 MP4 storyboard of the request (preview-sized frames: it never
renders 1080p or 4k pixels), and can inject every failure the contract describes.

Files are small previews (~100 KB) by default. ``EmulatorConfig(real_size=True)`` (for the shared
emulator: ``FOXKLING_EMULATOR_REAL_SIZE=1``) makes each file as large as a real clip of its
resolution tier (a 10 s 4k clip ~100 MB), still playable and with ``moov`` first, for trying
downloads, the cache and the video transport at real sizes.

Runs three ways:

- in-process: ``httpx.AsyncClient(transport=httpx.ASGITransport(create_app(config)))``;
- in a background thread on loopback: ``EmulatorServer(config)`` or the shared :func:`shared_emulator`;
- as a server: ``foxkling emulator --port 8765`` (or ``python -m foxkling_widgets.emulator``).

The built-in (shared) emulator keeps its tasks under the data directory and its files under the
cache directory, so a later kernel's emulator answers for them, serves their files and finishes
renders a killed kernel left (``EmulatorConfig(store=...)``; ``FOXKLING_EMULATOR_STORE=0`` turns
it off). The others keep everything in memory, as before.

Keys: any non-empty Bearer key is accepted, except the documented test keys ``sk-test-401``
and ``sk-test-402``, which answer 401 and 402. A prompt containing ``[fail:content_policy]``
fails with ``content_policy_violation``; ``[fail:generation]`` fails with ``generation_failed``.
Faults: see :mod:`foxkling_widgets.emulator._faults`.

Needs the ``emulator`` extra (PyAV, Pillow, NumPy, Starlette, uvicorn).
"""

from ._app import FAILURE_MARKERS, TEST_KEYS, Emulator, EmulatorConfig, create_app
from ._faults import FAULTS
from ._server import EmulatorServer, serve, shared_emulator

__all__ = [
    "FAILURE_MARKERS",
    "FAULTS",
    "TEST_KEYS",
    "Emulator",
    "EmulatorConfig",
    "EmulatorServer",
    "create_app",
    "serve",
    "shared_emulator",
]
