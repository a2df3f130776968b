"""What `mlops up` prints once the platform is healthy: how to sign in, where the data lives, how to load the
sample datasets (a new user's next step, when the dashboard runs) and how to stop."""

from __future__ import annotations

from pathlib import Path

import pytest

from infra.settings import get_settings, reset_settings


def test_ready_lines_say_how_to_sign_in_and_where_the_sample_data_comes_from(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cli.platform import ready_lines

    monkeypatch.setenv("MLOPS_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("MLOPS_ENV_FILE", str(tmp_path / "absent.env"))
    reset_settings()
    try:
        text = "\n".join(ready_lines(get_settings(), None))
        assert "Login:        admin (password: MLOPS_ADMIN_PASSWORD" in text
        assert f"Data dir:     {tmp_path / 'data'}" in text
        assert "`./mlops demo`" in text and "Stop with Ctrl-C" in text
        # Without the dashboard there is nowhere to train the samples: no hint.
        assert "mlops demo" not in "\n".join(ready_lines(get_settings(), ["s3", "mlflow"]))
        assert "mlops demo" in "\n".join(ready_lines(get_settings(), ["dashboard"]))
    finally:
        reset_settings()
