"""The data flow stays one-directional: core modules never reach into providers or sandbox.

Core stages must be pure and testable without any live system; only the orchestration
modules (`cli`, `commands`, `__main__`) and the providers themselves may import I/O code.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ENGINE = Path(__file__).resolve().parents[2] / "engine"
ORCHESTRATION = {"cli.py", "commands.py", "targets.py", "__main__.py"}
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
