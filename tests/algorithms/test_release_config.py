"""Job config parsing and release reading from local files (the S3 path is covered by test_train_e2e)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from algorithms.base.config import ReleaseRef, load_config
from algorithms.base.release import ReleaseError, fetch_release
from algorithms.base.storage import parse_s3_uri
from tests.algorithms.conftest import make_series
from tests.algorithms.test_train_e2e import release_zip


def write_release(tmp_path: Path) -> tuple[Path, str]:
    data = release_zip({"train": [make_series(100, 1), make_series(50, 2)], "test": [make_series(30, 3)]})
    path = tmp_path / "v1.zip"
    path.write_bytes(data)
    return path, hashlib.sha256(data).hexdigest()


def test_release_splits_concatenate_their_csvs(tmp_path: Path) -> None:
    path, sha = write_release(tmp_path)
    release = fetch_release(ReleaseRef(uri=str(path), sha256=sha), tmp_path / "work")
    assert release.splits == ["train", "test"] and release.scenario == "anomaly_detection"
    assert not release.has_split("val")
    train = release.read_table("train")
    assert len(train) == 150 and list(train.columns) == ["timestamp", "value", "label"]


def test_release_checksum_is_verified(tmp_path: Path) -> None:
    path, _ = write_release(tmp_path)
    with pytest.raises(ReleaseError, match="checksum mismatch"):
        fetch_release(ReleaseRef(uri=str(path), sha256="0" * 64), tmp_path / "work")


def test_config_loads_and_names_missing_fields(tmp_path: Path) -> None:
    good = {
        "job_id": 12,
        "scenario": "anomaly_detection",
        "algorithm": "ECOD",
        "params": {"contamination": 0.1},
        "model_name": "m",
        "experiment_name": "mlops/anomaly_detection",
        "release": {"uri": "s3://mlops/releases/3/v1.zip", "sha256": "AB" * 32, "version": "v1"},
    }
    (tmp_path / "c.json").write_text(json.dumps(good))
    config = load_config(str(tmp_path / "c.json"))
    assert config.algorithm == "ECOD" and config.params == {"contamination": 0.1}
    assert config.release.sha256 == "ab" * 32 and config.max_evals == 0
    (tmp_path / "bad.json").write_text(json.dumps({k: v for k, v in good.items() if k != "model_name"}))
    with pytest.raises(ValueError, match="model_name"):
        load_config(str(tmp_path / "bad.json"))


def test_s3_uri_parsing() -> None:
    assert parse_s3_uri("s3://mlops/jobs/1/config-2.json") == ("mlops", "jobs/1/config-2.json")
    with pytest.raises(ValueError):
        parse_s3_uri("http://mlops/x")
