"""`mlops demo` on real servers (SeaweedFS, Prefect) through the platform API: every scenario's sample data
uploaded (validated by the server) and published as v1 by the publish flow; re-runs skip what is there and
resume what is not."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from catalog.demo_data import demo_datasets
from catalog.scenarios import Scenario

pytestmark = pytest.mark.slow


@pytest.fixture
def mlops(request: pytest.FixtureRequest, platform_env, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    # Set before the API starts: the publish flow runs inline in the API process.
    monkeypatch.setenv("MLOPS_PREFECT_RUN_MODE", "inline")
    request.getfixturevalue("api_server")  # the CLI, on the platform host, reaches it with the operator token
    from cli.main import app

    runner = CliRunner()

    def run(*args: str, ok: bool = True):  # type: ignore[no-untyped-def]
        result = runner.invoke(app, list(args))
        if ok:
            assert result.exit_code == 0, f"mlops {' '.join(args)} → {result.exit_code}: {result.output}"
        return result

    return run


def test_demo_file_names_are_stored_as_they_are() -> None:
    """cli.demo_load matches files to entries by name: the server must store them under the same names."""
    from catalog.uploads import safe_filename

    assert all(safe_filename(f.filename) == f.filename for d in demo_datasets() for f in d.files)


def _json(result) -> dict:  # type: ignore[no-untyped-def]
    return json.loads(result.output)


def _expected_counts() -> dict[str, dict[str, int]]:
    """Samples per split of each demo dataset, counted from the generated files themselves."""
    counts: dict[str, dict[str, int]] = {}
    for demo in demo_datasets():
        per_split = counts.setdefault(demo.name, {})
        for demo_file in demo.files:
            if demo_file.filename.endswith(".zip"):
                with zipfile.ZipFile(io.BytesIO(demo_file.data)) as zf:
                    n = sum(1 for name in zf.namelist() if name.endswith(".png"))
            else:
                n = sum(1 for line in demo_file.data.decode().splitlines() if line.strip())
                n -= 0 if demo_file.filename.endswith(".log") else 1  # CSV header
            for split in demo_file.splits:
                per_split[split] = per_split.get(split, 0) + n
    return counts


def _manifest_and_yaml(release_id: int) -> tuple[dict, dict | None]:
    from catalog.db import session_scope
    from catalog.models import DatasetRelease
    from infra.objectstore import ObjectStore
    from infra.settings import get_settings

    with session_scope() as session:
        release = session.get(DatasetRelease, release_id)
        assert release is not None and release.object_key
        key = release.object_key
    data = ObjectStore.from_settings(get_settings().s3).get_bytes(key)
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        names = zf.namelist()
        manifest = json.loads(zf.read("manifest.json"))
        data_yaml = yaml.safe_load(zf.read("data.yaml")) if "data.yaml" in names else None
    return manifest, data_yaml


@pytest.mark.platform_servers("prefect")
def test_demo_loads_and_publishes_every_scenario_and_reruns_safely(mlops) -> None:  # type: ignore[no-untyped-def]
    # One scenario first: later runs must leave it alone.
    first = _json(mlops("demo", "--scenario", "anomaly_detection", "--json"))
    assert [d["name"] for d in first["datasets"]] == ["demo-server-cpu"]
    cpu = first["datasets"][0]
    assert cpu["created"] and cpu["release_status"] == "published", cpu
    assert cpu["split_counts"] == {"train": 2016, "val": 576, "test": 576}
    # A dataset of the same name already there (say an earlier run stopped after creating it) is resumed.
    logs = _json(mlops("datasets", "create", "demo-app-logs", "--scenario", "log_clustering", "--json"))

    full = _json(mlops("demo", "--json"))
    rows = {d["name"]: d for d in full["datasets"]}
    assert list(rows) == [d.name for d in demo_datasets()]
    assert {Scenario(d["scenario"]) for d in rows.values()} == set(Scenario)
    assert rows["demo-server-cpu"]["skipped"] and rows["demo-server-cpu"]["dataset_id"] == cpu["dataset_id"]
    assert rows["demo-app-logs"]["dataset_id"] == logs["id"] and not rows["demo-app-logs"]["created"]
    assert rows["demo-app-logs"]["uploaded"] == ["app-train.log", "app-test.log"]
    expected = _expected_counts()
    for name, row in rows.items():
        assert row["release_status"] == "published", row
        assert row["split_counts"] == expected[name], name
        assert row["samples"] and all(Path(p).is_file() for p in row["samples"]), row

    manifest, _ = _manifest_and_yaml(rows["demo-product-reviews"]["release_id"])
    assert sorted(manifest["classes"]) == ["negative", "neutral", "positive"]
    manifest, _ = _manifest_and_yaml(rows["demo-shapes"]["release_id"])
    assert manifest["classes"] == ["circle", "square", "triangle"]
    assert set(manifest["splits"]) == {"train", "val", "test"}
    manifest, data_yaml = _manifest_and_yaml(rows["demo-shape-boxes"]["release_id"])
    assert data_yaml is not None and data_yaml["names"] == {0: "circle", 1: "square"}
    assert manifest["splits"]["train"]["boxes"] > 80

    # Again: everything is skipped and nothing is added.
    again = _json(mlops("demo", "--json"))
    assert all(d["skipped"] and not d["uploaded"] for d in again["datasets"])
    for row in again["datasets"]:
        shown = _json(mlops("datasets", "show", str(row["dataset_id"]), "--json"))
        demo = next(d for d in demo_datasets() if d.name == row["name"])
        assert sorted(e["name"] for e in shown["entries"]) == sorted(f.filename for f in demo.files)
        assert [r["version"] for r in shown["releases"]] == ["v1"]
    assert _json(mlops("datasets", "list", "--json"))["count"] == len(demo_datasets())

    text = mlops("demo").output
    assert text.count("already loaded (v1 published), skipped") == len(demo_datasets())
    assert "Next: a first prediction in each scenario" in text and "YOLODetection" in text
    assert "cpu-sample.csv" in text and "./mlops jobs create demo-server-cpu-ecod" in text


@pytest.mark.platform_servers("s3")
def test_demo_without_a_running_platform_says_so_and_resumes(mlops) -> None:  # type: ignore[no-untyped-def]
    # No Prefect server: the data loads, publishing cannot start (and the API creates no release).
    failed = mlops("demo", "-s", "text_classification", ok=False)
    assert failed.exit_code == 5  # cli.common.ExitCode.UNREACHABLE
    assert "could not run the publish flow for demo-product-reviews v1" in failed.output
    assert "Is the platform running (`make up`)?" in failed.output and "Traceback" not in failed.output

    listed = _json(mlops("datasets", "list", "--json"))
    assert [d["name"] for d in listed["items"]] == ["demo-product-reviews"]
    shown = _json(mlops("datasets", "show", str(listed["items"][0]["id"]), "--json"))
    assert shown["releases"] == []
    flags = {e["name"]: (e["is_train"], e["is_val"], e["is_test"]) for e in shown["entries"]}
    assert flags == {"reviews-train.csv": (True, False, False), "reviews-test.csv": (False, False, True)}

    # The rerun uploads nothing again and stops at the same place.
    again = mlops("demo", "-s", "text_classification", ok=False)
    assert "demo-product-reviews: dataset #" in again.output
    assert "found; release v1 not created yet" in again.output
    assert "uploaded" not in again.output
    bad = mlops("demo", "-s", "nope", ok=False)
    assert bad.exit_code == 1 and "unknown scenario 'nope'" in bad.output
