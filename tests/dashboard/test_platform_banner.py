"""The dashboard's banner: every page warns while `mlops up` is restarting a component (as its state file
says), and says nothing when all run normally."""

from __future__ import annotations

import os
import time

import psutil
import pytest
from streamlit.testing.v1 import AppTest

from infra.embedded.components import ComponentSpec
from infra.embedded.process import RunningComponent
from infra.embedded.restarts import ComponentLife, RestartPolicy, on_exit
from infra.embedded.statefile import write_state
from tests.fixtures.accounts import ADMIN_PASSWORD

pytestmark = pytest.mark.platform_servers("s3")


def _signed_in(admin: str) -> AppTest:
    at = AppTest.from_file("../../dashboard/app.py", default_timeout=60).run()
    at.text_input(key="login_username").input(admin)
    at.text_input(key="login_password").input(ADMIN_PASSWORD)
    at.button[0].click()
    return at.run()


def _state(settings, life: ComponentLife) -> None:  # type: ignore[no-untyped-def]
    me = psutil.Process()
    spec = ComponentSpec(
        name="mlflow",
        label="MLflow UI",
        argv=["-"],
        env={},
        health=lambda: True,
        url="-",
        log_file=settings.platform.data_dir / "logs" / "mlflow.log",
    )
    write_state(
        settings,
        [RunningComponent(spec=spec, pid=me.pid, create_time=me.create_time())],
        os.getpid(),
        {"mlflow": life},
    )


def test_banner_while_a_component_restarts(platform_env, platform_admin: str) -> None:  # type: ignore[no-untyped-def]
    _state(platform_env, ComponentLife(started_at=time.time()))
    at = _signed_in(platform_admin)
    assert not at.exception, [e.message for e in at.exception]
    assert not at.warning  # everything runs: no banner

    dead = on_exit(
        ComponentLife(started_at=time.time()), now=time.time(), exit_code=1, policy=RestartPolicy()
    )
    _state(platform_env, dead)
    at.run()
    text = " ".join(w.value for w in at.warning)
    assert "Platform components are not running normally" in text
    assert "mlflow: exited with code 1; restarting in" in text
