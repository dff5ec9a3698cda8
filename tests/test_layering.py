"""Who may import whom: a lower layer never imports a higher one (imports inside functions included).

Layers, lowest first (README "Develop"): the pure base (secrets, errors, status, validation,
types); then the client, the journal, the cache, the loop and the emulator, which know no widget
and not each other (the emulator is an independent server); then the widget's workers; then the
widget and the magic; then the CLI. The few places where a lower layer reaches up on purpose
are public seams, listed below with their reason and the names they take: anything else fails.

Layers meet at public names only: no module imports another layer's private name (``_apply``),
a subpackage's private module (``client._http``) from outside it, or reads a client's private
attribute (``client._journal``, ``getattr(client, "_api_key")``): those ask for a public seam.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

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
    "_fragment": 5,
    "_classroom": 5,
    "_client_choice": 5,
    "_voice_panel": 5,
    "_batch_requests": 5,
    "_budget": 5,
    "_restore": 5,
    "_video_requests": 5,
    "_dispatch": 5,
    "_fallback": 5,
    "_session_credits": 5,
    "_widget": 6,
    "_magic": 6,
    "cli": 7,
    "__init__": 8,
}
#: Same-rank groups that must not import each other.
INDEPENDENT = {"client", "_journal", "_cache", "emulator"}
#: Deliberate upward or sideways imports, each a public seam with its reason and the names it may take.
SEAMS: dict[tuple[str, str], frozenset[str]] = {
    # FoxClient.emulator() / AsyncFoxClient.emulator(): a client for the built-in emulator is
    # part of the client's public API; the emulator itself never imports the client.
    ("client", "emulator"): frozenset({"shared_emulator"}),
    # journal=True (the default) opens the user's journal; the journal knows no client.
    ("client", "_journal"): frozenset({"Journal"}),
    # the client's loop thread is the shared private loop (the sync face runs on it).
    ("client", "_loop"): frozenset({"LoopThread"}),
}
#: Subpackages whose ``_`` modules are theirs alone: others use what the package exports.
SUBPACKAGES = {"client", "emulator"}
#: Known breaches in files this suite's owners may not edit, each waiting for the change named
#: beside it. A test fails once one is gone: then take its line out.
PENDING: set[str] = set()  # breaches waiting for a fix elsewhere, each with the line to change


def _layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _is_module(dotted: str) -> bool:
    """Whether ``dotted`` (``foxkling_widgets.x.y``) names a module or package of ours."""
    path = PACKAGE.parent.joinpath(*dotted.split("."))
    return path.with_suffix(".py").exists() or (path / "__init__.py").exists()


def _imports(module: str, is_package: bool, tree: ast.AST) -> Iterator[tuple[str, str | None]]:
    """Every ``(module imported, name taken from it or None)`` of ours in ``tree``, in functions too."""
    package = module if is_package else module.rsplit(".", 1)[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            if not target.startswith("foxkling_widgets"):
                continue
            for alias in node.names:
                submodule = f"{target}.{alias.name}"
                if node.module is None or _is_module(submodule):
                    yield submodule, None  # `from . import _remux`: the module itself
                else:
                    yield target, alias.name
        elif isinstance(node, ast.Import):
            yield from ((a.name, None) for a in node.names if a.name.startswith("foxkling_widgets"))


def _names_a_client(node: ast.expr) -> bool:
    """``client``, ``aclient``, ``self.client``, ``self._controller.client``: an expression that holds a client."""
    name = node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute) else ""
    return "client" in name.lower()


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _private_reads(tree: ast.AST) -> Iterator[str]:
    """``x._y`` and ``getattr(x, "_y")`` (also setattr, hasattr) where ``x`` holds a client."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and _private(node.attr) and _names_a_client(node.value):
            yield node.attr
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in ("getattr", "setattr", "hasattr")
            and len(node.args) >= 2
            and _names_a_client(node.args[0])
            and isinstance(node.args[1], ast.Constant)
            and isinstance(node.args[1].value, str)
            and _private(node.args[1].value)
        ):
            yield node.args[1].value


def check(module: str, source: str, *, is_package: bool = False) -> list[str]:
    """Everything wrong with how ``module`` (dotted name, whose text is ``source``) reaches other layers."""
    tree = ast.parse(source)
    mine = _layer(module)
    wrong = []
    for target, name in _imports(module, is_package, tree):
        theirs = _layer(target)
        what = f"{target}.{name}" if name else target
        parts = target.split(".")
        if theirs != mine and len(parts) > 2 and parts[1] in SUBPACKAGES and any(map(_private, parts[2:])):
            wrong.append(f"{module} imports {target}, private to {parts[1]}")
        if theirs == mine:
            continue
        if name is not None and _private(name):
            wrong.append(f"{module} imports the private name {what}")
        seam = SEAMS.get((mine, theirs))
        if seam is not None:
            if name is None or name not in seam:
                wrong.append(f"{module} imports {what}: the seam {mine} -> {theirs} takes only {sorted(seam)}")
            continue
        if RANKS[theirs] > RANKS[mine] or (RANKS[theirs] == RANKS[mine] and {mine, theirs} <= INDEPENDENT):
            wrong.append(f"{module} imports {what}, a higher or independent layer")
    if mine != "client":
        wrong.extend(f"{module} reads client.{attr}" for attr in sorted(set(_private_reads(tree))))
    return wrong


def _package_modules() -> Iterator[tuple[str, Path]]:
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.name == "__main__.py":
            continue  # `python -m ...` entry points sit above every layer, like the CLI they start
        module = "foxkling_widgets." + ".".join(path.relative_to(PACKAGE).with_suffix("").parts)
        yield module.removesuffix(".__init__"), path


def _package_violations() -> set[str]:
    return {
        problem
        for module, path in _package_modules()
        for problem in check(module, path.read_text(encoding="utf-8"), is_package=path.name == "__init__.py")
    }


def test_every_module_has_a_layer() -> None:
    missing = {
        _layer("foxkling_widgets." + ".".join(p.relative_to(PACKAGE).with_suffix("").parts))
        for p in PACKAGE.rglob("*.py")
    }
    assert missing <= set(RANKS), sorted(missing - set(RANKS))


def test_layers_meet_only_at_public_names() -> None:
    wrong = sorted(_package_violations() - PENDING)
    assert not wrong, "\n".join(wrong)


def test_pending_breaches_are_still_there() -> None:
    fixed = sorted(PENDING - _package_violations())
    assert not fixed, "fixed now: take these out of PENDING in tests/test_layering.py:\n" + "\n".join(fixed)


@pytest.mark.parametrize(
    ("module", "source", "expected"),
    [
        # a lower layer importing a higher one, at the top or inside a function
        ("foxkling_widgets.client._async", "from .._widget import KlingWidget", "a higher or independent layer"),
        ("foxkling_widgets._magic", "def f():\n    from .cli import main", "a higher or independent layer"),
        ("foxkling_widgets._journal", "import foxkling_widgets._controller", "a higher or independent layer"),
        # independent layers of one rank
        ("foxkling_widgets.emulator._app", "from ..client import FoxClient", "a higher or independent layer"),
        # a seam taking more than its names
        ("foxkling_widgets.client._async", "from .._journal import JournalEntry", "takes only ['Journal']"),
        # private names and private modules across layers
        ("foxkling_widgets._controller", "from ._journal import _apply", "the private name"),
        ("foxkling_widgets._widget", "from .client._http import resolve_settings", "private to client"),
        ("foxkling_widgets.cli", "from .client import _sync", "private to client"),
        # a client's private attributes
        ("foxkling_widgets._controller", "client.journaled(1)\nclient._journal.update(t)", "reads client._journal"),
        ("foxkling_widgets._widget", "runner = client._runner", "reads client._runner"),
        ("foxkling_widgets._widget", "k = getattr(self._controller.client, '_api_key', None)", "reads client._api_key"),
    ],
)
def test_the_check_catches_each_kind_of_breach(module: str, source: str, expected: str) -> None:
    problems = check(module, source)
    assert any(expected in problem for problem in problems), problems


@pytest.mark.parametrize(
    ("module", "source"),
    [
        ("foxkling_widgets._widget", "from .client import AsyncFoxClient, FoxClient\nr = client.runner"),
        ("foxkling_widgets._controller", "from ._journal import Journal\nclient.journaled('x', f)"),
        ("foxkling_widgets.client._async", "from .._journal import Journal\nfrom ._http import retry_delay"),
        ("foxkling_widgets._widget", "from . import _remux, _transport\nself._controller.close()"),
    ],
)
def test_the_check_lets_public_use_through(module: str, source: str) -> None:
    assert check(module, source) == []


# -- the README's layout section names every module, and nothing that is gone -------------------
README = PACKAGE.parent / "README.md"
JS_SRC = PACKAGE.parent / "js" / "src"
#: Named in the layout before they land (another branch adds them): absent is fine, listed is required.
ANNOUNCED = {"history.js"}


def _layout_names() -> set[str]:
    import re

    text = README.read_text(encoding="utf-8")
    start = text.index("Layout, lowest layer first")
    section = text[start : text.index("\n## ", start)]
    return set(re.findall(r"`([\w.-]+\.(?:py|js|css)|\w+/)`", section))


def test_the_readme_layout_names_every_module_and_no_missing_one() -> None:
    if not README.exists() or not JS_SRC.exists():
        pytest.skip("no README.md or js/src next to the package (an installed copy)")
    expected = {p.name for p in PACKAGE.glob("*.py")}
    for sub in (p.parent for p in PACKAGE.glob("*/__init__.py")):
        expected |= {f"{sub.name}/"} | {p.name for p in sub.glob("*.py") if p.name != "__init__.py"}
    expected |= {p.name for p in JS_SRC.iterdir() if p.suffix in (".js", ".css")} | ANNOUNCED
    named = _layout_names()
    assert expected - named == set(), "modules the README's layout does not name"
    folders = {f"{p.name}/" for p in PACKAGE.parent.iterdir() if p.is_dir()}  # `benchmarks/`
    assert named - expected - folders == set(), "names in the README's layout that are no module"
