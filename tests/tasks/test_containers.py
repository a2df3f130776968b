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


def test_training_containers_get_the_weights_directory(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    from tasks.containers import training_spec

    monkeypatch.setenv("MLOPS_TRAIN_WEIGHTS_DIR", str(tmp_path / "w"))
    reset_settings()
    spec = training_spec(job_id=1, team_id=1, config_uri="s3://b/k", run_id="r")
    assert spec.env["MLOPS_TRAIN_WEIGHTS_DIR"] == str((tmp_path / "w").resolve())
    reset_settings()


def test_evaluation_containers_are_platform_batch_containers_with_the_training_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from infra.runtime.base import ContainerKind
    from infra.settings import reset_settings
    from tasks.containers import container_env, evaluation_spec

    monkeypatch.setenv("MLOPS_RUNTIME_CPU_LIMIT", "1.5")
    reset_settings()
    try:
        spec = evaluation_spec(
            evaluation_id=9,
            team_id=3,
            scenario="anomaly_detection",
            release_uri="s3://b/releases/1/2/v1.zip",
            release_sha256="ab" * 32,
            model_uris=["models:/m/2", "models:/m/1"],
            result_uri="s3://b/evaluations/4/9.json",
        )
        assert spec.name == "eval-9" and spec.kind == ContainerKind.TRAIN and not spec.user_code
        assert spec.command[:3] == ["python", "-m", "algorithms.evaluate"]
        assert spec.command[spec.command.index("--evaluation-id") + 1] == "9"
        assert [spec.command[i + 1] for i, a in enumerate(spec.command) if a == "--model-uri"] == [
            "models:/m/2",
            "models:/m/1",
        ]
        assert dict(spec.env) == container_env() and spec.cpu_limit == 1.5
        assert spec.labels["kind"] == "evaluate" and spec.labels["team-id"] == "3"
    finally:
        reset_settings()
