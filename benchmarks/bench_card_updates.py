"""Bytes per task-card update: progress deltas and posters-once vs the whole ``_tasks`` each tick.

A studio with 20 finished cards (each with a poster of ~10 KB of base64, the size of a real
320-px JPEG frame) and 2 clips running on the emulator. Every update the kernel sends for the
cards is recorded as it goes to the comm (``_tasks``, ``_posters``, ``_tasks_total`` trait
updates and ``cards-progress`` messages, JSON-encoded as ipykernel encodes them). At each of the
same moments the old wire's message is computed too: ``_tasks`` whole, every card carrying its
poster. Prints bytes per update for both and their ratio; asserts nothing.
"""

from __future__ import annotations

import base64
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from _emulator import emulator_process

from foxkling_widgets import FoxClient, KlingWidget, VideoRequest
from foxkling_widgets._controller import Generation

FINISHED = 20
RUNNING = 2
POSTER_BYTES = 7_500  # ~10 KB once base64-encoded, as a 320-px JPEG poster is
CARD_TRAITS = {"_tasks", "_posters", "_tasks_total"}


def size(message: dict[str, Any]) -> int:
    return len(json.dumps(message, separators=(",", ":")).encode())


def main() -> None:
    with emulator_process(12) as url:
        client = FoxClient("sk-bench", url)
        widget = KlingWidget(client=client, concurrency=RUNNING)
        scratch = Path(tempfile.mkdtemp(prefix="foxkling-bench-cards-"))
        for i in range(FINISHED):
            clip = scratch / f"clip-{i}.mp4"
            clip.write_bytes(b"\0" * 1024)
            poster = "data:image/jpeg;base64," + base64.b64encode(os.urandom(POSTER_BYTES)).decode()
            widget._controller.add_finished(
                Generation(
                    VideoRequest(prompt=f"finished clip number {i}: a fox in the snow at dawn"),
                    id=f"task-finished-{i}",
                    status="completed",
                    progress=100.0,
                    watching=False,
                    path=clip,
                    poster=poster,
                )
            )
        widget._controller.publish_now(full=True)
        time.sleep(0.5)

        new_bytes: list[int] = []  # every card message the new wire sends
        old_bytes: list[int] = []  # the old wire's message at each update (a _tasks update or a delta)
        delta_pairs: list[tuple[int, int]] = []  # (new, old) bytes of each progress tick
        fulls = 0
        original_send = widget._send

        def recording_send(msg: dict[str, Any], buffers: Any = None) -> None:
            # What goes to the comm: trait updates for the cards, and the cards-progress messages.
            # A _posters or _tasks_total change alone has no counterpart on the old wire.
            nonlocal fulls
            if msg.get("method") == "update" and set(msg.get("state", {})) & CARD_TRAITS:
                new_bytes.append(size(msg))
                if "_tasks" in msg["state"]:
                    fulls += 1
                    old_bytes.append(old_update())
            elif msg.get("method") == "custom" and msg.get("content", {}).get("kind") == "cards-progress":
                new_bytes.append(size(msg))
                old_bytes.append(old_update())
                delta_pairs.append((new_bytes[-1], old_bytes[-1]))
            return original_send(msg, buffers)

        def old_update() -> int:
            # The old wire at this moment: every card, each with its poster, in one trait update.
            mode = widget._controller.client.mode
            cards = [{**g.to_card(mode), "poster": g.poster} for g in widget._controller.generations]
            return size({"method": "update", "state": {"_tasks": cards}, "buffer_paths": []})

        widget._send = recording_send  # type: ignore[method-assign]
        widget.prompt = "a fox runs through the snow"
        started = time.monotonic()
        keys = [widget.generate_nowait() for _ in range(RUNNING)]
        for key in keys:
            widget.wait(key, timeout=120)
        took = time.monotonic() - started

        # One update = a _tasks update or a cards-progress message; the new wire may spend a
        # second message on it (a _posters or _tasks_total change goes beside _tasks).
        updates = len(old_bytes)
        total_new, total_old = sum(new_bytes), sum(old_bytes)
        print(
            f"{FINISHED} finished cards (~{len(base64.b64encode(bytes(POSTER_BYTES))) // 1000} KB posters), "
            f"{RUNNING} running for {took:.1f} s: {updates} card updates"
        )
        print(f"{'':<34}{'messages':>9}{'bytes':>11}{'bytes/update':>14}")
        print(
            f"{'before: whole _tasks, posters in':<34}{updates:>9}{total_old:>11}{total_old / max(updates, 1):>14.0f}"
        )
        print(
            f"{'after: deltas + _posters once':<34}{len(new_bytes):>9}{total_new:>11}"
            f"{total_new / max(updates, 1):>14.0f}"
        )
        print(f"  of which {len(delta_pairs)} cards-progress messages and {fulls} _tasks updates")
        print(f"bytes ratio over the run (before / after): {total_old / max(total_new, 1):.1f}x")
        if delta_pairs:
            tick_new = sum(n for n, _o in delta_pairs) / len(delta_pairs)
            tick_old = sum(o for _n, o in delta_pairs) / len(delta_pairs)
            print(
                f"per progress tick: {tick_new:.0f} bytes vs {tick_old:.0f} the old way "
                f"(ratio {tick_old / tick_new:.0f}x)"
            )
        widget.close()
        client.close()


if __name__ == "__main__":
    main()
