"""Fixtures of the flow tests.

- ``deployment_server``   flows/serve_all.py as `mlops up` runs it (a real Prefect runner process serving every
                          deployment of prefect.yaml), against ``platform_env``'s servers; yields the process.
- ``DeploymentServer(tmp_path, **env)``   the same as a context manager, with extra environment (schedule
                          overrides, poll periods) and ``.log()`` for assertion messages.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from infra.net import wait_until


class DeploymentServer:
    def __init__(self, tmp_path: Path, **env: str) -> None:
        self.ready = tmp_path / "deployments.ready"
        self.log_path = tmp_path / "serve_all.log"
        self.env = {**os.environ, "MLOPS_DEPLOYMENTS_READY_FILE": str(self.ready), "MLOPS_PREFECT_POLL_SECONDS": "0.5",
                    "PREFECT_RUNNER_POLL_FREQUENCY": "1", **env}
        self.proc: subprocess.Popen[bytes] | None = None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]

    def __enter__(self) -> subprocess.Popen[bytes]:
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen([sys.executable, "-m", "flows.serve_all"], env=self.env, stdout=log,
                                         stderr=subprocess.STDOUT, start_new_session=True)
        proc = self.proc
        try:
            wait_until(lambda: self.ready.exists() or proc.poll() is not None, timeout=120, interval=0.2,
                       description="deployments ready")
        except BaseException:
            self.stop()
            raise
        assert proc.poll() is None, self.log()
        return proc

    def stop(self) -> None:
        proc = self.proc
        if proc is None:
            return
        # Prefect's runner finishes in-flight runs on the first SIGTERM and exits on the second.
        for _ in range(2):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    continue
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)

    def __exit__(self, *exc: object) -> None:
        self.stop()


@pytest.fixture
def deployment_server(platform_env, tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:  # type: ignore[no-untyped-def]
    with DeploymentServer(tmp_path) as proc:
        yield proc
