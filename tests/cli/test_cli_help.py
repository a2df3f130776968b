"""Every command, sub-app, argument and option of `mlops` says what it is for in `--help`: walks the command
tree typer builds from cli.main."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import typer.main

from cli.main import app


def commands(command: Any, path: tuple[str, ...] = ("mlops",)) -> Iterator[tuple[str, Any]]:
    yield " ".join(path), command
    for name, sub in getattr(command, "commands", {}).items():
        yield from commands(sub, (*path, name))


def test_every_command_and_parameter_has_help() -> None:
    tree = list(commands(typer.main.get_command(app)))
    assert {"mlops jobs create", "mlops datasets list", "mlops servings start", "mlops predict"} <= {
        path for path, _ in tree
    }
    missing = []
    for path, command in tree:
        if not (command.help or "").strip():
            missing.append(path)
        for param in command.params:
            if "--help" not in param.opts and not (getattr(param, "help", None) or "").strip():
                missing.append(f"{path} {'/'.join(param.opts)}")
    assert not missing, "without help text:\n" + "\n".join(missing)
