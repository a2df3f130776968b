"""`mlops init` on a fresh install: the data dir is the platform user's alone, the catalog and the secrets file
are 0600, and every install gets secrets of its own (no fixed default credentials anywhere)."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

from infra.settings.secrets import GENERATORS


def _init(data_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLOPS_", "AWS_", "MLFLOW_TRACKING_"))}
    env |= {
        "MLOPS_DATA_DIR": str(data_dir),
        "MLOPS_ENV_FILE": "/nonexistent",
        "MLOPS_ADMIN_PASSWORD": "init-pass-1",
    }
    return subprocess.run(
        [sys.executable, "-m", "cli", "init"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_fresh_install_is_private_and_has_its_own_secrets(tmp_path: Path) -> None:
    old_umask = os.umask(0o022)  # a usual login umask: files would be world-readable unless made otherwise
    try:
        first = _init(tmp_path / "one")
        second = _init(tmp_path / "two")
    finally:
        os.umask(old_umask)
    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    for data_dir in (tmp_path / "one", tmp_path / "two"):
        assert _mode(data_dir) == 0o700
        assert _mode(data_dir / "catalog.db") == 0o600
        assert _mode(data_dir / "secrets.json") == 0o600
    assert "secrets:" in first.stdout and "generated" in first.stdout
    one = json.loads((tmp_path / "one" / "secrets.json").read_text())
    two = json.loads((tmp_path / "two" / "secrets.json").read_text())
    assert set(one) == set(two) == set(GENERATORS)
    assert all(one[name] != two[name] for name in GENERATORS)  # nothing shared between installs
    assert all(len(value) >= 20 for value in one.values())

    again = _init(tmp_path / "one")  # idempotent: the secrets stay what the servers were started with
    assert again.returncode == 0
    assert json.loads((tmp_path / "one" / "secrets.json").read_text()) == one
    assert "already present" in again.stdout or "generated" not in again.stdout
