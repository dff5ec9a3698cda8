"""What the batch concurrency limit costs and buys: time to finish a batch vs load on the API.

A batch of 8 clips runs against the emulator (its own process, 4 s per video) with the limit at
1, 2 (the default), 4 and 8 (no limit for 8 clips). For each: wall time until every clip is
downloaded, as a ratio to the limit-1 baseline measured in the same run; the most tasks the
provider had running at once (sampled every 10 ms); and the API requests per second. The limit
exists because rate limits (429s) count requests and running tasks per account: the figures show
how much sooner a bigger limit finishes, and how much more load it puts on the account to do it.
"""

from __future__ import annotations

import threading
import time

from _emulator import emulator_process, stats

from foxkling_widgets import FoxClient, KlingWidget

CLIPS = 8
SECONDS_PER_VIDEO = 4


def run(widget: KlingWidget, url: str, limit: int) -> tuple[float, int, float]:
    widget.concurrency = limit
    before = stats(url)
    peak = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, widget._controller._running)
            time.sleep(0.01)

    sampler = threading.Thread(target=sample)
    sampler.start()
    started = time.monotonic()
    batch = widget.generate_batch([{"prompt": f"benchmark clip {i}"} for i in range(CLIPS)])
    finished = batch.wait(timeout=600)
    took = time.monotonic() - started
    done.set()
    sampler.join()
    assert all(g.done for g in finished), [g.status for g in finished]
    after = stats(url)
    requests = sum(after[k] - before[k] for k in ("posts", "gets"))
    return took, peak, requests / took


def main() -> None:
    with emulator_process(SECONDS_PER_VIDEO) as url:
        client = FoxClient("sk-bench", url)
        widget = KlingWidget(client=client)
        print(f"batch of {CLIPS} clips, emulator at {SECONDS_PER_VIDEO} s per video")
        print(f"{'limit':>5}{'wall s':>9}{'x limit 1':>11}{'peak running':>14}{'requests/s':>12}")
        baseline = None
        for limit in (1, 2, 4, 8):
            took, peak, rate = run(widget, url, limit)
            baseline = baseline or took
            print(f"{limit:>5}{took:>9.1f}{took / baseline:>11.2f}{peak:>14}{rate:>12.1f}")
        widget.close()
        client.close()


if __name__ == "__main__":
    main()
