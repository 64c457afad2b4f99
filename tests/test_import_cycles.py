"""No import cycles among faceprint's modules.

Every module under ``src/faceprint`` is parsed with :mod:`ast`; the graph has an edge from a
module to each faceprint module it imports when it is executed: imports at module level (also
inside module-level ``if``/``try``/``with`` blocks and class bodies). Imports inside functions
and under ``if TYPE_CHECKING:`` are left out: they do not run at import time. ``from pkg import
name`` is an edge to ``pkg.name`` when that is a module, else to ``pkg``; a package is not
implied by importing its submodules (that edge exists for every submodule and says nothing).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import faceprint

SRC = Path(faceprint.__file__).resolve().parent


def modules() -> dict[str, tuple[Path, bool]]:
    """Dotted name → (file, is a package) for every module of faceprint."""
    found: dict[str, tuple[Path, bool]] = {}
    for path in sorted(SRC.rglob("*.py")):
        parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
        package = parts[-1] == "__init__"
        found[".".join(parts[:-1] if package else parts)] = (path, package)
    return found


def _type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def executed_imports(body: list[ast.stmt]) -> Iterator[ast.Import | ast.ImportFrom]:
    """The import statements run when ``body`` (a module's) is executed."""
    for node in body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        elif isinstance(node, ast.If):
            if not _type_checking(node.test):
                yield from executed_imports(node.body)
            yield from executed_imports(node.orelse)
        elif isinstance(node, ast.Try):
            for block in (node.body, node.orelse, node.finalbody):
                yield from executed_imports(block)
            for handler in node.handlers:
                yield from executed_imports(handler.body)
        elif isinstance(node, ast.With | ast.ClassDef):
            yield from executed_imports(node.body)


def _targets(node: ast.Import | ast.ImportFrom, package: str, known: set[str]) -> set[str]:
    if isinstance(node, ast.Import):
        return {a.name for a in node.names if a.name in known}
    base = node.module or ""
    if node.level:
        parts = package.split(".")
        parts = parts[: len(parts) - (node.level - 1)]
        base = ".".join([*parts, *([node.module] if node.module else [])])
    out = set()
    for alias in node.names:
        if f"{base}.{alias.name}" in known:
            out.add(f"{base}.{alias.name}")
        elif base in known:
            out.add(base)
    return out


def import_graph() -> dict[str, set[str]]:
    """Module → the faceprint modules it imports at import time."""
    mods = modules()
    known = set(mods)
    graph: dict[str, set[str]] = {}
    for name, (path, is_package) in mods.items():
        package = name if is_package else name.rpartition(".")[0]
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        deps: set[str] = set()
        for node in executed_imports(tree.body):
            deps |= _targets(node, package, known)
        graph[name] = deps - {name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each as one
    concrete cycle ``a -> b -> ... -> a``."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(_one_cycle(graph, set(component)))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def _one_cycle(graph: dict[str, set[str]], component: set[str]) -> list[str]:
    """A shortest cycle through the alphabetically first module of ``component``."""
    start = min(component)
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        nxt = []
        for v in frontier:
            for w in sorted(graph[v] & component):
                if w == start:
                    return [*paths[v], start]
                if w not in paths:
                    paths[w] = [*paths[v], w]
                    nxt.append(w)
        frontier = nxt
    raise AssertionError(f"no cycle through {start}")  # pragma: no cover - SCC guarantees one


def test_no_import_cycles() -> None:
    graph = import_graph()
    found = cycles(graph)
    lines = [
        f"{' -> '.join(c)}   (modules on a cycle with {c[0]}: {', '.join(_component(graph, c[0]))})"
        for c in found
    ]
    assert not found, "import cycles:\n" + "\n".join(lines)


def _component(graph: dict[str, set[str]], start: str) -> list[str]:
    """The modules that both reach ``start`` and are reached from it."""

    def reach(edges: dict[str, set[str]]) -> set[str]:
        seen, todo = {start}, [start]
        while todo:
            for w in edges[todo.pop()] - seen:
                seen.add(w)
                todo.append(w)
        return seen

    back: dict[str, set[str]] = {v: set() for v in graph}
    for v, ws in graph.items():
        for w in ws:
            back[w].add(v)
    return sorted(reach(graph) & reach(back))


def test_the_checker_finds_a_cycle_and_ignores_what_does_not_run() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c", "a"]]
    tree = ast.parse(
        "import os\n"
        "from faceprint import errors\n"
        "if TYPE_CHECKING:\n    from faceprint.packs import registry\n"
        "try:\n    from faceprint import types\nexcept ImportError:\n    pass\n"
        "def f():\n    from faceprint import pipeline\n"
        "class C:\n    from faceprint import compare\n"
    )
    known = {"faceprint", "faceprint.errors", "faceprint.types", "faceprint.compare"}
    known |= {"faceprint.packs.registry", "faceprint.pipeline"}
    found = set().union(*(_targets(n, "faceprint", known) for n in executed_imports(tree.body)))
    assert found == {"faceprint.errors", "faceprint.types", "faceprint.compare"}


def test_the_leaf_modules_stay_leaves() -> None:
    graph = import_graph()
    assert graph["faceprint._hashing"] == set()
    assert graph["faceprint.errors"] == set()
    assert graph["faceprint.packs.spec"] <= {
        "faceprint._hashing",
        "faceprint.align",
        "faceprint.errors",
    }
    assert "faceprint.packs.registry" not in graph["faceprint._onnx"]
