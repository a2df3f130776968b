"""Layers import one way only: algorithms ← nothing of the platform; catalog ← no Prefect, tasks, flows;
tasks ← no flows; infra ← no catalog, tasks, flows. Checked statically on every module's imports."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FORBIDDEN: dict[str, set[str]] = {
    "algorithms": {"infra", "catalog", "tasks", "flows", "cli", "dashboard"},
    "infra": {"catalog", "tasks", "flows", "cli", "dashboard"},
    "catalog": {"prefect", "tasks", "flows", "cli", "dashboard"},
    "tasks": {"flows", "cli", "dashboard"},
    "flows": {"cli", "dashboard"},
}


def imported_roots(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    roots: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_imports_go_one_way(package: str) -> None:
    offenders = []
    for path in sorted((ROOT / package).rglob("*.py")):
        bad = imported_roots(path) & FORBIDDEN[package]
        if bad:
            offenders.append(f"{path.relative_to(ROOT)} imports {sorted(bad)}")
    assert not offenders, "\n".join(offenders)


def test_modules_open_with_a_docstring() -> None:
    missing = []
    for package in (*FORBIDDEN, "cli", "dashboard"):
        for path in sorted((ROOT / package).rglob("*.py")):
            if path.name == "__main__.py" or "migrations" in path.parts:
                continue
            if not ast.get_docstring(ast.parse(path.read_text())):
                missing.append(str(path.relative_to(ROOT)))
    assert not missing, f"modules without a docstring: {missing}"
