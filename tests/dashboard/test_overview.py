"""Overview page (Streamlit AppTest): counts, the running training jobs and servings, and the recent failures
with their reasons — of the viewer's team only."""

from __future__ import annotations

from typing import Any

import pytest

from tests.dashboard.seed import (
    Catalog,
    add_row,
    job,
    no_exception,
    page,
    published_release,
    tables,
)

pytestmark = pytest.mark.platform_servers("s3")


def metrics(at: Any) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def test_counts_running_work_and_failures(catalog: Catalog, monkeypatch: pytest.MonkeyPatch) -> None:
    from catalog.db import session_scope
    from catalog.models import DatasetRelease, Serving
    from catalog.scoping import SYSTEM
    from catalog.services import team_tree, teams

    release = published_release(catalog.team_id)
    add_row(
        DatasetRelease,
        dataset_id=release.dataset_id,
        version="v2",
        status="failed",
        error="ChecksumError: entry 3 changed in S3",
    )
    job(catalog.team_id, release.id, "train-now", "running")
    job(catalog.team_id, release.id, "train-bad", "failed", error="ValueError: no train split")
    done = job(catalog.team_id, release.id, "train-ok", "completed")
    add_row(
        Serving,
        team_id=catalog.team_id,
        scenario="anomaly_detection",
        name="live-one",
        train_job_id=done.id,
        observed_state="running",
        observed_port=8123,
    )
    add_row(
        Serving,
        team_id=catalog.team_id,
        scenario="anomaly_detection",
        name="dead-one",
        train_job_id=done.id,
        observed_state="exited",
        error="container exited with code 137",
    )
    # Another team's trouble, seen only by its own members and administrators.
    with session_scope() as session:
        other = team_tree.create_team(session, actor=SYSTEM, name="other")
        user = teams.create_user(session, actor=SYSTEM, username="olga", password="olga-pass-123")
        teams.add_member(session, actor=SYSTEM, team_id=other.id, user_id=user.id)  # type: ignore[arg-type]
    other_release = published_release(other.id, name="theirs")  # type: ignore[arg-type]
    job(other.id, other_release.id, "their-bad", "failed", error="theirs failed")  # type: ignore[arg-type]

    monkeypatch.setenv("MLOPS_USER", "admin")
    at = no_exception(page("overview", None).run())
    assert metrics(at) == {"Datasets": "2", "Published releases": "2", "Training jobs": "4", "Servings": "2"}
    shown = tables(at)
    assert "train-now" in shown and "live-one" in shown
    assert ",cpu v2," in shown, "a failed release is named as dataset and version"
    for reason in (
        "ValueError: no train split",
        "ChecksumError: entry 3 changed in S3",
        "container exited with code 137",
        "theirs failed",
    ):
        assert reason in shown, reason

    from catalog.services import quotas

    with session_scope() as session:
        quotas.set_quota(session, actor=SYSTEM, team_id=other.id, trainings=1, servings=0)  # type: ignore[arg-type]
    monkeypatch.setenv("MLOPS_USER", "olga")
    at = no_exception(page("overview", None).run())
    assert metrics(at) == {"Datasets": "1", "Published releases": "1", "Training jobs": "1", "Servings": "0"}
    shown = tables(at)
    assert "theirs failed" in shown and "ValueError" not in shown and "train-now" not in shown
    # The team's usage against its quotas: none of its trainings runs (of 1 allowed), no serving may run.
    assert "concurrent trainings (jobs starting or running),0,1,other,0.0" in shown
    assert "running servings (desired state running),0,0,other,0.0" in shown
    assert [w.value for w in at.warning if "At the limit" in w.value] == [
        "At the limit: running servings (desired state running) (set on other) — what would exceed it is refused."
    ]


def test_first_steps_point_a_new_user_onwards(catalog: Catalog, monkeypatch: pytest.MonkeyPatch) -> None:
    """Nothing yet: the demo datasets are one command away. Releases but nothing trained: the click path to a
    first prediction. Once something trained: no hint."""
    monkeypatch.setenv("MLOPS_USER", "admin")
    at = no_exception(page("overview", None).run())
    assert len(at.info) == 1 and "`./mlops demo`" in at.info[0].value
    release = published_release(catalog.team_id)
    no_exception(at.run())
    assert len(at.info) == 1 and "**Training** → *New training job*" in at.info[0].value
    assert "**Sandbox**" in at.info[0].value
    job(catalog.team_id, release.id, "first", "created")
    no_exception(at.run())
    assert not at.info
