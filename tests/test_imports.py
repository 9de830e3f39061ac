"""The project's modules import each other in one direction: no import circle anywhere.

Every `import` counts, also those inside functions: a late import is how a circle hides.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("rolellm", "dataset_builder", "training", "cards")


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _project_modules() -> dict[str, Path]:
    return {_module_name(p): p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")}


def _imports(path: Path, modules: dict[str, Path], own: str) -> set[str]:
    """Project modules that `path` imports (`from pkg import mod` resolves to pkg.mod)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names = [f"{node.module}.{alias.name}" for alias in node.names]
            names = [name if name in modules else node.module for name in names]
        else:
            continue
        found.update(_closest_module(name, modules) for name in names)
    found.discard(None)
    found.discard(own)
    return found


def _closest_module(name: str, modules: dict[str, Path]) -> str | None:
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def import_graph() -> dict[str, set[str]]:
    modules = _project_modules()
    return {name: _imports(path, modules, name) for name, path in modules.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle as a list of modules (first == last), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for dep in sorted(graph.get(node, ())):
            if state.get(dep) == 1:
                return path[path.index(dep) :] + [dep]
            if dep not in state and (cycle := visit(dep)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (cycle := visit(start)):
            return cycle
    return None


def test_no_import_cycle_among_project_modules():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import circle: " + " -> ".join(cycle)


def test_cycle_finder_sees_a_late_import_circle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert find_cycle(graph) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) is None


def test_graph_counts_imports_inside_functions(tmp_path):
    modules = {"pkg.low": tmp_path / "low.py", "pkg.high": tmp_path / "high.py"}
    modules["pkg.low"].write_text("def f():\n    from pkg.high import thing\n")
    assert _imports(modules["pkg.low"], modules, "pkg.low") == {"pkg.high"}


def test_params_sit_above_every_stage():
    graph = import_graph()
    importers = sorted(name for name, deps in graph.items() if "rolellm.config" in deps)
    assert importers == ["rolellm.commands.options"], importers  # the verbs load params there
