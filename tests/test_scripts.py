"""scripts/demo as a new user meets it, with stand-ins for npm, pip and Jupyter (no installs, no server).

The stand-ins record how they were called, so the tests see what the demo would do: which URL it
opens, whether the key reaches Jupyter, and that the checkout stays clean (`git status`).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
RECORD = """#!/bin/sh
# A stand-in: note the call (tool, arguments, whether a key is set) and succeed.
printf '%s %s key=%s\\n' "$(basename "$0")" "$*" "${FOXAPI_API_KEY:+set}" >> "$FOXKLING_TEST_LOG"
"""

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="needs git")


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """A git checkout holding the scripts, notebooks and lock file, with stand-in tools."""
    repo = tmp_path / "repo"
    for part in ("scripts", "notebooks"):
        shutil.copytree(ROOT / part, repo / part)
    (repo / "js").mkdir()
    for name in ("package.json", "package-lock.json"):
        shutil.copy(ROOT / "js" / name, repo / "js" / name)
    shutil.copy(ROOT / ".gitignore", repo / ".gitignore")
    bin_dir = repo / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    tools = tmp_path / "tools"
    tools.mkdir()
    for path in (bin_dir / "python", bin_dir / "jupyter", tools / "npm"):
        path.write_text(RECORD)
        path.chmod(0o755)
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", "-C", str(repo)]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "checkout"], check=True)
    return repo


def _demo(repo: Path, *args: str, key: str | None = None) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    log = repo.parent / "calls.log"
    log.unlink(missing_ok=True)
    env = {k: v for k, v in os.environ.items() if k != "FOXAPI_API_KEY"}
    env.update(PATH=f"{repo.parent / 'tools'}{os.pathsep}{env['PATH']}", FOXKLING_TEST_LOG=str(log))
    if key is not None:
        env["FOXAPI_API_KEY"] = key
    done = subprocess.run(
        [str(repo / "scripts" / "demo"), *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    return done, log.read_text().splitlines() if log.exists() else []


def _status(repo: Path) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), "status", "--porcelain"], capture_output=True, text=True, check=True
    ).stdout


def test_the_demo_opens_the_quickstart_and_leaves_the_checkout_clean(checkout: Path) -> None:
    done, calls = _demo(checkout, "--no-browser", key="sk-should-not-reach-jupyter")
    assert done.returncode == 0, done.stderr
    npm = [c for c in calls if c.startswith("npm ")]
    assert npm[0].startswith("npm ci ")  # installs the lock as it is: never rewrites it
    jupyter = next(c for c in calls if c.startswith("jupyter "))
    assert "--LabApp.default_url=/lab/tree/notebooks/quickstart.ipynb" in jupyter and "--no-browser" in jupyter
    assert f"--ServerApp.root_dir={checkout / '.demo'}" in jupyter
    assert jupyter.endswith("key=")  # the emulator demo never passes the key on
    if os.geteuid() == 0:
        assert "--allow-root" in jupyter
    # Running the notebooks saves them in the working copies, not in notebooks/.
    copy = checkout / ".demo" / "notebooks" / "quickstart.ipynb"
    nb = nbformat.read(copy, as_version=4)
    nb.cells[1].outputs = [nbformat.v4.new_output("stream", text="ran")]
    nbformat.write(nb, copy)
    assert _status(checkout) == ""
    # A second run keeps the user's edited copy, and the checkout stays clean.
    done, _calls = _demo(checkout)
    assert done.returncode == 0, done.stderr
    assert json.loads(copy.read_text())["cells"][1]["outputs"] and _status(checkout) == ""


def test_the_live_demo_keeps_the_key_and_refuses_without_one(checkout: Path) -> None:
    done, calls = _demo(checkout, "--live", "--no-browser", key="sk-live-demo-key-1234")
    assert done.returncode == 0, done.stderr
    jupyter = next(c for c in calls if c.startswith("jupyter "))
    assert jupyter.endswith("key=set") and "--live" not in jupyter and "LIVE" in done.stdout
    done, calls = _demo(checkout, "--live")
    assert done.returncode == 2 and "export FOXAPI_API_KEY" in done.stderr and calls == []


def _shell_commands(text: str) -> list[str]:
    commands, inside = [], False
    for line in text.splitlines():
        if line.startswith("```"):
            inside = line.strip() == "```bash" if not inside else False
            continue
        if inside and line.strip() and not line.lstrip().startswith("#"):
            commands.append(line.strip())
    return commands


def test_the_quickstart_gives_commands_that_work_after_the_demo() -> None:
    # After scripts/demo nothing is on PATH: a bare `jupyter` or `foxkling` fails as written.
    nb = nbformat.read(ROOT / "notebooks" / "quickstart.ipynb", as_version=4)
    commands = [c for cell in nb.cells if cell.cell_type == "markdown" for c in _shell_commands(cell.source)]
    assert commands
    for command in commands:
        program = command.split()[0]
        assert program in ("export", "scripts/demo", "source") or program.startswith(".venv/bin/"), command
