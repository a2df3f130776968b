"""Pretrained weights of YOLO jobs (catalog.weights, applied by the training service on create and update):
only .pt files inside MLOPS_TRAIN_WEIGHTS_DIR — /etc/passwd, '..' escapes and symbolic links pointing out
are refused, naming the field, and a refused job leaves no row and no config object; a file inside is stored
relative to the directory."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.platform_servers("s3")


@pytest.fixture
def ctx(platform_env: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    from catalog.db import session_scope
    from catalog.models import Dataset, DatasetRelease
    from catalog.services.init import initialize
    from catalog.services.teams import actor_for
    from infra.settings import reset_settings

    root, outside = tmp_path / "weights", tmp_path / "elsewhere"
    (root / "sub").mkdir(parents=True)
    outside.mkdir()
    (root / "sub" / "start.pt").write_bytes(b"weights")
    (root / "notes.txt").write_bytes(b"not weights")
    (outside / "secret.pt").write_bytes(b"not yours")
    (root / "link.pt").symlink_to(outside / "secret.pt")
    (root / "passwd.pt").symlink_to("/etc/passwd")
    monkeypatch.setenv("MLOPS_TRAIN_WEIGHTS_DIR", str(root))
    reset_settings()
    initialize(admin_password="weights-pass-1", echo=lambda *a, **k: None)
    with session_scope() as session:
        admin = actor_for(session, username="admin")
        dataset = Dataset(team_id=min(admin.team_ids), scenario="object_detection", name="shapes")
        session.add(dataset)
        session.flush()
        release = DatasetRelease(
            dataset_id=dataset.id, version="v1", status="published", object_key="r/v1.zip"
        )
        session.add(release)
        session.flush()
        return {
            "admin": admin,
            "team_id": min(admin.team_ids),
            "release_id": release.id,
            "root": root,
            "outside": outside,
        }


def create(ctx: dict[str, Any], name: str, weights: str) -> Any:
    from catalog.db import session_scope
    from catalog.services import training as tr

    with session_scope() as session:
        job, _ = tr.create_job(
            session,
            actor=ctx["admin"],
            team_id=ctx["team_id"],
            name=name,
            scenario="object_detection",
            algorithm="YOLODetection",
            release_id=ctx["release_id"],
            params={"weights": weights, "epochs": 1},
        )
        return job


def stored() -> tuple[list[Any], list[str]]:
    from sqlmodel import select

    from catalog.db import session_scope
    from catalog.models import TrainJob
    from infra.objectstore import ObjectStore

    with session_scope() as session:
        jobs = [(j.name, j.params.get("weights")) for j in session.exec(select(TrainJob)).all()]
    return jobs, [o.key for o in ObjectStore.from_settings().list("jobs/")]


def escapes(ctx: dict[str, Any]) -> list[str]:
    return [
        "/etc/passwd",
        "../elsewhere/secret.pt",
        "sub/../../elsewhere/secret.pt",
        str(ctx["outside"] / "secret.pt"),
        "link.pt",
        "passwd.pt",
    ]


def test_weights_outside_the_directory_are_refused_and_nothing_is_saved(ctx: dict[str, Any]) -> None:
    from catalog.forms import FormValidationError

    for i, weights in enumerate(escapes(ctx)):
        with pytest.raises(FormValidationError) as refused:
            create(ctx, f"job-{i}", weights)
        assert set(refused.value.errors) == {"weights"}
        assert "outside the weights directory" in str(refused.value) and "MLOPS_TRAIN_WEIGHTS_DIR" in str(
            refused.value
        )
    for weights, fragment in (("notes.txt", "not a .pt file"), ("missing.pt", "not a file in the weights")):
        with pytest.raises(FormValidationError, match=fragment):
            create(ctx, "other", weights)
    assert stored() == ([], [])


def test_weights_inside_the_directory_are_stored_relative(ctx: dict[str, Any]) -> None:
    from catalog.db import session_scope
    from catalog.forms import FormValidationError
    from catalog.services import training as tr
    from infra.objectstore import ObjectStore

    job = create(ctx, "inside", str(ctx["root"] / "sub" / "start.pt"))
    assert job.params["weights"] == "sub/start.pt"
    assert b'"weights": "sub/start.pt"' in ObjectStore.from_settings().get_bytes(job.config_key)
    assert create(ctx, "relative", "sub/./start.pt").params["weights"] == "sub/start.pt"
    assert create(ctx, "none", "").params["weights"] == ""
    # An edit is held to the same rule; a refused one changes nothing.
    for weights in escapes(ctx):
        with (
            pytest.raises(FormValidationError, match="outside the weights directory"),
            session_scope() as session,
        ):
            tr.update_job(session, actor=ctx["admin"], job_id=job.id, params={"weights": weights})
    jobs, keys = stored()
    assert ("inside", "sub/start.pt") in jobs and keys.count(job.config_key) == 1 and len(keys) == 3
