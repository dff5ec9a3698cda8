"""Peak memory of downloading a 200 MB file: the client's streamed download vs reading the whole
body into memory (httpx ``.content``), each in a fresh process against a loopback server.

The figure is the rise of the process's peak RSS during the download, above the peak after a
1 MB warm-up download through the same code path. Goal: under 32 MB for the streamed download.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

SIZE = int(os.environ.get("FOXKLING_BENCH_BYTES", 200 * 1024 * 1024))

SERVER = textwrap.dedent(
    """
    import sys, uvicorn
    from starlette.applications import Starlette
    from starlette.responses import StreamingResponse
    from starlette.routing import Route
    CHUNK = b"\\x5a" * (1 << 20)
    async def blob(request):
        size = int(request.path_params["size"])
        async def body():
            sent = 0
            while sent < size:
                piece = CHUNK[: min(len(CHUNK), size - sent)]
                sent += len(piece)
                yield piece
        return StreamingResponse(body(), media_type="video/mp4", headers={"content-length": str(size)})
    app = Starlette(routes=[Route("/files/{size}", blob)])
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="critical")
    """
)

CHILD = textwrap.dedent(
    """
    import json, resource, sys, tempfile, httpx
    from pathlib import Path
    from foxkling_widgets import FoxClient
    url, size, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    out = Path(tempfile.mkdtemp())
    peak = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    with FoxClient("sk-bench", url.rsplit("/files", 1)[0], journal=False) as client:  # never the user's journal
        client.download(f"{url.rsplit('/', 1)[0]}/{1 << 20}", out / "warm.mp4")
        before = peak()
        if mode == "streamed":
            client.download(f"{url.rsplit('/', 1)[0]}/{size}", out / "big.mp4")
        else:
            (out / "big.mp4").write_bytes(httpx.get(f"{url.rsplit('/', 1)[0]}/{size}", timeout=120).content)
        after = peak()
    assert (out / "big.mp4").stat().st_size == size
    print(json.dumps({"before": before, "after": after}))
    """
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def main() -> None:
    port = free_port()
    server = subprocess.Popen([sys.executable, "-c", SERVER, str(port)])
    try:
        url = f"http://127.0.0.1:{port}/files/{SIZE}"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.1)
        child = Path(tempfile.mkdtemp()) / "child.py"
        child.write_text(CHILD)
        results = {}
        for mode in ("in-memory", "streamed"):
            out = subprocess.run(
                [sys.executable, str(child), url, str(SIZE), mode], capture_output=True, text=True, check=True
            )
            figures = json.loads(out.stdout.strip().splitlines()[-1])
            results[mode] = (figures["after"] - figures["before"]) / 1e6
        print(f"download of {SIZE / 1e6:.0f} MB; peak RSS rise above a 1 MB warm-up download")
        print(f"{'in-memory (baseline)':<24}{results['in-memory']:>10.1f} MB")
        print(f"{'streamed (client)':<24}{results['streamed']:>10.1f} MB")
        print(
            f"ratio streamed / in-memory: {results['streamed'] / max(results['in-memory'], 1e-9):.3f}; "
            "goal: streamed < 32 MB"
        )
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()
