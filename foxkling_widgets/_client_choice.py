"""Which client a studio starts with: live when a key is configured, else the built-in emulator.

The rule itself ("a key set means live") is :func:`.client.wants_emulator`, shared with the
``%%kling`` magic and the CLI; this adds the studio's fallback when the emulator extra is missing.
"""

from __future__ import annotations

from .client import AsyncFoxClient, wants_emulator

__all__ = ["default_client"]


def default_client(emulator: bool | None, *, required: bool = False) -> AsyncFoxClient:
    """Live when a key is configured, else the built-in emulator (``emulator=True`` forces it).

    ``required`` (classroom mode): the emulator or nothing, never a live client. With no key and
    no emulator extra installed, a client of mode ``"none"``: the studio then asks for a key.
    """
    if required or wants_emulator(emulator):
        try:
            return AsyncFoxClient.emulator()
        except ImportError:
            if emulator or required:
                raise
            return AsyncFoxClient(mode="none")
    return AsyncFoxClient()
