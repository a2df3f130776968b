"""Layers import one way only: algorithms ← nothing of the platform; catalog ← no Prefect, tasks, flows;
tasks ← no flows; infra ← no catalog, tasks, flows. Checked statically on every module's imports.

Module by module, the rules are the tables of "Who may import what" in docs/architecture.md, read from the
document itself: which platform module may import which, and where the client libraries of the platform's
servers may be imported. Changing a rule means changing the document.
"""

from __future__ import annotations

import ast
import re
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "architecture.md"
SECTION = "### Who may import what"
PACKAGES = ("algorithms", "infra", "catalog", "tasks", "flows", "cli", "dashboard", "api", "mlops_lite")
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


# -- module-level rules, read from docs/architecture.md --------------------------------------------------------


@cache
def documented_tables() -> tuple[dict[str, frozenset[str]], dict[str, frozenset[str]]]:
    """(importer → platform modules it may import, client library → modules that may import it)."""
    text = DOC.read_text()
    assert SECTION in text, f"{DOC.relative_to(ROOT)} lost its {SECTION!r} section"
    section = text.split(SECTION, 1)[1].split("\n#", 1)[0]
    tables: list[dict[str, frozenset[str]]] = []
    for line in section.splitlines():
        if not line.startswith("|"):
            continue
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if set(cells[0]) <= set("-: "):
            continue  # the line under a header
        names = [re.findall(r"`([\w.]+)`", cell) for cell in cells]
        if not names[0]:  # a header row starts the next table
            tables.append({})
            continue
        assert len(names) == 2 and len(names[0]) == 1 and tables, f"unreadable row: {line}"
        tables[-1][names[0][0]] = frozenset(names[1])
    assert len(tables) == 2, f"expected two tables under {SECTION!r}, found {len(tables)}"
    return tables[0], tables[1]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def is_module(name: str) -> bool:
    base = ROOT.joinpath(*name.split("."))
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def platform_modules() -> list[tuple[str, Path]]:
    return [
        (module_name(path), path) for package in PACKAGES for path in sorted((ROOT / package).rglob("*.py"))
    ]


def imported_modules(path: Path, module: str) -> set[str]:
    """Every module ``path`` imports, by full name: ``from infra import tracking`` is ``infra.tracking``,
    ``from catalog.models import Team`` is ``catalog.models``; relative imports are resolved."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            for alias in node.names:
                candidate = f"{base}.{alias.name}"
                names.add(candidate if is_module(candidate) else base)
    return names


def covered(name: str, prefixes: frozenset[str] | set[str]) -> bool:
    return any(name == prefix or name.startswith(prefix + ".") for prefix in prefixes)


def rule_for(module: str, rules: dict[str, frozenset[str]]) -> frozenset[str]:
    matching = [importer for importer in rules if covered(module, {importer})]
    assert matching, f"{module}: no row of {SECTION!r} applies to it"
    return rules[max(matching, key=len)]


def test_the_documented_rules_name_real_modules_and_cover_every_package() -> None:
    rules, libraries = documented_tables()
    assert set(PACKAGES) <= set(rules), f"packages without a row: {sorted(set(PACKAGES) - set(rules))}"
    named = set(rules) | {name for allowed in rules.values() for name in allowed}
    named |= {name for users in libraries.values() for name in users}
    assert sorted(name for name in named if not is_module(name)) == []
    assert sorted(lib for lib in libraries if lib.split(".")[0] in PACKAGES) == []


@pytest.mark.parametrize("package", PACKAGES)
def test_modules_import_only_what_the_architecture_allows(package: str) -> None:
    rules, _ = documented_tables()
    offenders = []
    for module, path in platform_modules():
        if module.split(".")[0] != package:
            continue
        allowed = rule_for(module, rules)
        bad = sorted(
            name
            for name in imported_modules(path, module)
            if name.split(".")[0] in PACKAGES and not covered(name, allowed)
        )
        if bad:
            offenders.append(f"{path.relative_to(ROOT)} imports {bad}")
    assert not offenders, "\n".join(offenders)


def test_server_client_libraries_are_imported_only_where_the_architecture_allows() -> None:
    _, libraries = documented_tables()
    offenders = []
    for module, path in platform_modules():
        for library in sorted(
            {name.split(".")[0] for name in imported_modules(path, module)} & set(libraries)
        ):
            if not covered(module, libraries[library]):
                offenders.append(f"{path.relative_to(ROOT)} imports {library}")
    assert not offenders, "\n".join(offenders)
