"""Settings: every field described, every variable under MLOPS_*, environment and .env honoured."""

from __future__ import annotations

from pathlib import Path

import pytest

from infra.settings import Settings, get_settings, reset_settings


def _groups() -> list[tuple[str, type]]:
    return [(name, field.annotation) for name, field in Settings.model_fields.items()]  # type: ignore[misc]


@pytest.mark.parametrize(("group", "cls"), _groups())
def test_every_field_is_described_and_prefixed(group: str, cls: type) -> None:
    prefix = cls.model_config.get("env_prefix", "")  # type: ignore[attr-defined]
    assert prefix.startswith("MLOPS_"), f"{cls.__name__} reads {prefix}*"
    for name, field in cls.model_fields.items():  # type: ignore[attr-defined]
        assert field.description, f"{cls.__name__}.{name} ({prefix}{name.upper()}) has no description"


def test_environment_and_dotenv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("MLOPS_NATS_NAMESPACE=from-dotenv\nMLOPS_PREDICT_MAX_BATCH_SIZE=123\n")
    monkeypatch.setenv("MLOPS_ENV_FILE", str(env_file))
    monkeypatch.setenv("MLOPS_PREDICT_MAX_BATCH_SIZE", "456")  # the environment beats the file
    monkeypatch.setenv("MLOPS_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("MLOPS_DATABASE_URL", raising=False)
    reset_settings()
    try:
        s = get_settings()
        assert s.nats.namespace == "from-dotenv"
        assert s.predict.max_batch_size == 456
        assert s.database.url == f"sqlite:///{tmp_path / 'data' / 'catalog.db'}"
        assert s.platform.data_dir == (tmp_path / "data").resolve()
    finally:
        reset_settings()


def test_defaults_are_the_embedded_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in (
        "MLOPS_S3_EMBEDDED",
        "MLOPS_MLFLOW_EMBEDDED",
        "MLOPS_PREFECT_EMBEDDED",
        "MLOPS_NATS_EMBEDDED",
        "MLOPS_RUNTIME_NAME",
        "MLOPS_TRAIN_POLL_SECONDS",
        "MLOPS_TRAIN_POLL_MAX",
    ):
        monkeypatch.delenv(key, raising=False)
    reset_settings()
    try:
        s = get_settings()
        assert s.s3.embedded and s.mlflow.embedded and s.prefect.embedded and s.nats.embedded
        assert s.runtime.name == "process"
        assert (s.training.poll_seconds, s.training.poll_max) == (30.0, 360)
        assert (s.predict.max_batch_size, s.predict.max_images, s.predict.max_image_bytes) == (
            10_000,
            100,
            10 * 1024 * 1024,
        )
        assert s.nats.max_page_size == 500
    finally:
        reset_settings()


def test_invalid_value_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLOPS_PREDICT_MAX_IMAGES", "0")
    reset_settings()
    try:
        with pytest.raises(ValueError, match="max_images"):
            get_settings()
    finally:
        reset_settings()
