"""The packages form layers: ``schemas`` < ``synth`` < ``critic`` < ``critic.rl`` < ``benchmark`` <
``pipelines``. A module imports only from its own layer or below (``critic.rl`` sits on ``critic`` and
``synth``; ``critic`` never imports ``critic.rl``), and no modules import each other in a circle.

Imports are read with :mod:`ast` from the source, function-local ones included, so an import
hidden inside a function to dodge a circle still counts.
"""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("schemas", "synth", "critic", "benchmark", "pipelines")
LAYERS = ("schemas", "synth", "critic", "critic.rl", "benchmark", "pipelines")


def _modules() -> dict[str, Path]:
    """Dotted module name -> source file, for every module of :data:`PACKAGES` (a package is its ``__init__``)."""
    out = {}
    for pkg in PACKAGES:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def _imported(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The project modules that module ``name`` (source ``path``) imports anywhere in its source."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module
            found.add(target)
            found.update(f"{target}.{a.name}" for a in node.names)   # ``from pkg import module``
    return {m for m in found if m in modules and m != name}


def import_graph() -> dict[str, set[str]]:
    """Every project module -> the project modules it imports."""
    modules = _modules()
    return {name: _imported(name, path, modules) for name, path in modules.items()}


def layer(module: str) -> int:
    """Index in :data:`LAYERS` of the deepest layer ``module`` belongs to."""
    return max(i for i, prefix in enumerate(LAYERS) if module == prefix or module.startswith(prefix + "."))


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []

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
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_import_walker_sees_top_level_relative_and_function_local_imports():
    graph = import_graph()
    assert "critic.api" in graph["critic.rl.adapt"]                 # top level, absolute
    assert "critic.config" in graph["critic.model"]                 # top level, relative
    assert "pipelines.run" in graph["pipelines.cli"]                # inside a function


def test_no_module_imports_a_higher_layer():
    graph = import_graph()
    upward = [f"{m} -> {d}" for m in sorted(graph) for d in sorted(graph[m]) if layer(d) > layer(m)]
    assert not upward, "imports from a lower layer to a higher one: " + ", ".join(upward)


def test_module_imports_have_no_cycle():
    assert not cycles(import_graph()), f"modules importing each other in a circle: {cycles(import_graph())}"


def test_the_cycle_finder_reports_a_circle_and_ignores_a_chain():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": {"c"}, "c": set()}) == []
