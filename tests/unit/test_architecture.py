"""The data flow stays one-directional: core modules never reach into providers or sandbox.

Core stages must be pure and testable without any live system; only the orchestration
modules (`cli`, `commands`, `__main__`) and the providers themselves may import I/O code.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ENGINE = Path(__file__).resolve().parents[2] / "engine"
ORCHESTRATION = {
    "cli.py",
    "commands.py",
    "commands_apply.py",
    "commands_import.py",
    "commands_lock.py",
    "commands_session.py",
    "targets.py",
    "__main__.py",
}
FORBIDDEN = ("engine.providers", "engine.sandbox")
CORE_MODULES = sorted(
    p for p in ENGINE.glob("*.py") if p.name not in ORCHESTRATION and p.name != "__init__.py"
)


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def test_core_modules_exist() -> None:
    names = {p.name for p in CORE_MODULES}
    assert {"model.py", "naming.py", "load.py", "spec.py"} <= names


@pytest.mark.parametrize("module", CORE_MODULES, ids=lambda p: p.name)
def test_core_module_imports_no_provider_or_sandbox(module: Path) -> None:
    bad = sorted(name for name in imported_modules(module) if name.startswith(FORBIDDEN))
    assert bad == [], f"{module.name} imports {bad}"


def test_checker_sees_a_forbidden_import(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text("from engine.providers import aws\nimport engine.sandbox.x\n")
    assert {"engine.providers", "engine.sandbox.x"} <= imported_modules(sample)


# --- no import cycles ------------------------------------------------------------------------
# A cycle (even through an import inside a function, which only hides it from Python's
# loader) means two modules cannot be read, tested or changed apart, as `sandbox/serve` and
# `sandbox/world` once could not. Every import counts here: top-level, lazy and
# TYPE_CHECKING-only ones.


def module_name(path: Path, *, root: Path) -> str:
    parts = path.relative_to(root.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph(root: Path) -> dict[str, set[str]]:
    """Module → the modules of `root`'s package it imports (`from p import m` imports the
    package `p` and, when `m` is a module, `p.m`). A module's own ancestor packages are
    left out: Python imports them before the module, whatever it says."""
    modules = {module_name(p, root=root): p for p in root.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        parts = name.split(".")
        ancestors = {".".join(parts[:i]) for i in range(1, len(parts) + 1)}
        graph[name] = (imported_modules(path) & modules.keys()) - ancestors
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a path that starts and ends at the same module, or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state:
            found = visit(start)
            if found:
                return found
    return None


def test_no_import_cycle_in_the_engine() -> None:
    assert find_cycle(import_graph(ENGINE)) is None


def test_serve_and_world_do_not_import_each_other() -> None:
    graph = import_graph(ENGINE)
    assert "engine.sandbox.serve" in graph["engine.sandbox.world"]  # world.serve delegates
    assert "engine.sandbox.world" not in graph["engine.sandbox.serve"]


def test_cycle_finder_sees_a_lazy_and_a_type_checking_cycle(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("def f():\n    from pkg.b import g\n")
    (package / "b.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.a import f\n"
    )
    (package / "c.py").write_text("from pkg import a\n")
    graph = import_graph(package)
    assert graph["pkg.c"] == {"pkg.a"}  # the package itself is an ancestor
    assert find_cycle(graph) == ["pkg.a", "pkg.b", "pkg.a"]
    (package / "b.py").write_text("X = 1\n")
    assert find_cycle(import_graph(package)) is None
