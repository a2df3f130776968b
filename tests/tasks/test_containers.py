"""What the platform hands its inference containers: every ``MLOPS_PREDICT_*`` limit of the settings, read back
by the server (``Limits.from_env``) as the same limits the platform's own predict call checks."""

from __future__ import annotations

import dataclasses

import pytest

from algorithms.base.contracts import Limits
from infra.settings import reset_settings


def test_every_predict_limit_reaches_the_server_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from tasks.containers import container_env
    from tasks.predict import limits

    reset_settings()
    assert limits() == Limits()  # the platform's defaults are the server's
    values = {field.name: 1000 + i for i, field in enumerate(dataclasses.fields(Limits))}
    for name, value in values.items():
        monkeypatch.setenv(f"MLOPS_PREDICT_{name.upper()}", str(value))
    reset_settings()
    env = container_env()
    for name in values:
        monkeypatch.delenv(f"MLOPS_PREDICT_{name.upper()}")
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert Limits.from_env() == Limits(**values) == limits()
    reset_settings()
