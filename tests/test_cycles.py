"""No import cycle anywhere in ``edgekit``, inside sub-packages too (test_layers.py checks the direction between them):
none among the imports that run when a module is imported (top-level statements, not under ``if TYPE_CHECKING:``),
and none even counting lazy imports inside functions and type-only imports -- so no two modules lean on each other
(the ``bench`` run/subjects and report/html circles are gone). An import of a package's own ``__init__`` from inside
the package is not an edge: importing a submodule imports its package by definition."""

from __future__ import annotations

import ast
from pathlib import Path

import edgekit

ROOT = Path(edgekit.__file__).parent


def _module(path: Path) -> str:
    return "edgekit." + ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")


def _imports(path: Path, modules: set[str], *, lazy: bool) -> set[str]:
    """The edgekit modules ``path`` imports at import time, or (``lazy``) anywhere in it; ``from pkg import mod``
    counts as ``pkg.mod``."""
    tree = ast.parse(path.read_text())
    this = _module(path).removeprefix("edgekit.")
    package = this if path.name == "__init__.py" else this.rpartition(".")[0]
    out: set[str] = set()
    nodes = list(ast.walk(tree)) if lazy else tree.body
    for node in nodes:
        if not lazy and isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            continue
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.startswith("edgekit.")}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = ("edgekit." + package).split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
            if not base.startswith("edgekit"):
                continue
            out.add(base)
            out |= {f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in modules}
    return out & modules


def import_graph(*, lazy: bool = False) -> dict[str, set[str]]:
    """Module -> the edgekit modules it imports (minus itself and its ancestor packages)."""
    paths = sorted(ROOT.rglob("*.py"))
    modules = {_module(p) for p in paths}
    graph = {}
    for p in paths:
        name = _module(p)
        ancestors = {name.rsplit(".", k)[0] for k in range(1, name.count(".") + 1)}
        graph[name] = _imports(p, modules, lazy=lazy) - {name} - ancestors
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_module_level_import_cycle() -> None:
    assert cycles(import_graph()) == []


def test_no_import_cycle_even_through_lazy_imports() -> None:
    graph = import_graph(lazy=True)
    assert cycles(graph) == []
    assert "edgekit.bench.subjects" in graph["edgekit.bench.run"]  # the graph does see imports


def test_the_cycle_finder_finds_one() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
