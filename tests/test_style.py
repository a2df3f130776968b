"""The tree is as `make lint` wants it: `ruff check` clean and `ruff format` applied, with the line length
pyproject.toml declares. Run by the suite so that CI (which runs the README's test command) checks it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("command", [["check", "."], ["format", "--check", "."]], ids=["check", "format"])
def test_ruff_is_clean(command: list[str]) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "ruff", *command],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, f"`ruff {' '.join(command)}` (run `make lint`):\n{result.stdout[-3000:]}"
