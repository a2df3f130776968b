"""The dataset commands on a platform run as a user runs it (`mlops init`, `mlops up` with the API and the flow
runner, `mlops` processes talking to the local API with the operator token): create, upload, publish (the
flow run by the runner, followed through the API), download verified, a presigned link, show."""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import pytest

from tests.flows.test_walking_skeleton import make_series

pytestmark = pytest.mark.slow


def test_datasets_on_a_running_platform(platform_process: Any, tmp_path: Path) -> None:
    p = platform_process
    p.init()
    p.up()
    dataset = p.cli_json("datasets", "create", "cpu", "--scenario", "anomaly_detection")
    series = make_series(tmp_path / "train.csv", n=300, seed=1, anomalies=[5])
    uploaded = p.cli("datasets", "upload", str(dataset["id"]), str(series))
    assert uploaded.code == 0, uploaded.err
    # Deployment mode: the runner publishes while the CLI follows the progress through the API, to the end.
    release = p.cli_json("datasets", "publish", str(dataset["id"]))
    assert release["status"] == "published" and release["split_counts"] == {"train": 300}, release
    assert release["flow_run"] and release["error"] is None

    target = tmp_path / "release.zip"
    downloaded = p.cli("datasets", "download", str(release["id"]), "-o", str(target))
    assert downloaded.code == 0 and "sha256 verified" in downloaded.out, downloaded
    with zipfile.ZipFile(target) as zf:
        assert "manifest.json" in zf.namelist()
    link = p.cli("datasets", "download", str(release["id"]), "--url")
    assert link.code == 0 and link.out.startswith("http") and "Signature=" in link.out, link
    shown = p.cli_json("datasets", "show", str(dataset["id"]))
    assert [e["name"] for e in shown["entries"]] == ["train.csv"]
    assert [r["status"] for r in shown["releases"]] == ["published"]
