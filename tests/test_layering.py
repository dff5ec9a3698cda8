"""Who may import whom: a lower layer never imports a higher one (imports inside functions included).

Layers, lowest first (README "Develop"): the pure base (secrets, errors, validation, types);
then the client, the journal, the cache, the loop and the emulator, which know no widget and
not each other (the emulator is an independent server); then the widget's workers; then the
widget and the magic; then the CLI. The few places where a lower layer reaches up on purpose
are public seams, listed below with their reason: anything else fails this test.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "foxkling_widgets"

RANKS = {
    "_secrets": 0,
    "_version": 0,
    "_exceptions": 1,
    "_status": 1,
    "_validation": 2,
    "_types": 3,
    "_filenames": 3,
    "_messages": 3,
    "_paths": 3,
    "_terminal": 3,
    "client": 4,
    "_journal": 4,
    "_cache": 4,
    "_loop": 4,
    "emulator": 4,
    "_poster": 5,
    "_cards": 5,
    "_controller": 5,
    "_variations": 5,
    "_options": 5,
    "_credits": 5,
    "_display": 5,
    "_request_flags": 5,
    "_transport": 5,
    "_remux": 5,
    "_classroom": 5,
    "_client_choice": 5,
    "_voice_panel": 5,
    "_batch_requests": 5,
    "_budget": 5,
    "_restore": 5,
    "_video_requests": 5,
    "_dispatch": 5,
    "_fallback": 5,
    "_widget": 6,
    "_magic": 6,
    "cli": 7,
    "__init__": 8,
}
#: Same-rank groups that must not import each other.
INDEPENDENT = {"client", "_journal", "_cache", "emulator"}
#: Deliberate upward or sideways imports, each a public seam with its reason.
SEAMS = {
    # FoxClient.emulator() / AsyncFoxClient.emulator(): a client for the built-in emulator is
    # part of the client's public API; the emulator itself never imports the client.
    ("client", "emulator"),
    # journal=True (the default) opens the user's journal; the journal knows no client.
    ("client", "_journal"),
    # the client's loop thread is the shared private loop (the sync face runs on it).
    ("client", "_loop"),
}


def _layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _imports(path: Path) -> set[str]:
    relative = path.relative_to(PACKAGE.parent).with_suffix("")
    module = ".".join(relative.parts)
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            names = [f"{target}.{alias.name}" for alias in node.names] if not node.module else [target]
            found.update(n for n in names if n.startswith("foxkling_widgets"))
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("foxkling_widgets"))
    return found


def test_every_module_has_a_layer() -> None:
    missing = {
        _layer("foxkling_widgets." + ".".join(p.relative_to(PACKAGE).with_suffix("").parts))
        for p in PACKAGE.rglob("*.py")
    }
    assert missing <= set(RANKS), sorted(missing - set(RANKS))


def test_no_lower_layer_imports_a_higher_one() -> None:
    wrong = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.name == "__main__.py":
            continue  # `python -m ...` entry points sit above every layer, like the CLI they start
        source = "foxkling_widgets." + ".".join(path.relative_to(PACKAGE).with_suffix("").parts)
        source = source.removesuffix(".__init__")
        mine = _layer(source)
        for target in _imports(path):
            theirs = _layer(target)
            if theirs == mine or (mine, theirs) in SEAMS:
                continue
            if RANKS[theirs] > RANKS[mine] or (RANKS[theirs] == RANKS[mine] and {mine, theirs} <= INDEPENDENT):
                wrong.append(f"{source} imports {target}")
    assert not wrong, "\n".join(wrong)
