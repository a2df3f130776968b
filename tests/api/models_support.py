"""Helpers of the model tests over HTTP (API, CLI, the isolation and permission matrices): versions of a job's model
recorded as the training flow records them (``record_versions`` with a run the catalog recorded for the job),
and a champion set by the gate's own service calls (``finish_evaluation``) without running the gate."""

from __future__ import annotations

from typing import Any

from sqlmodel import col, select

from catalog.db import session_scope
from catalog.model_gate import Decision
from catalog.models import AliasEvent, Model, ModelEvaluation, ModelVersion, TrainJob
from catalog.scoping import SYSTEM
from catalog.services import model_promotion
from catalog.services.models import RegisteredVersion, record_versions


def model_of(job_id: int) -> int:
    """The model a job feeds."""
    with session_scope() as s:
        job = s.get(TrainJob, job_id)
        assert job is not None and job.model_id is not None
        return job.model_id


def record_version(
    job_id: int,
    run_id: str,
    *,
    status: str = "FINISHED",
    metrics: dict[str, float] | None = None,
    version: int | None = None,
) -> int:
    """The next version of the job's model (or ``version``), registered by ``run_id`` (one of the job's recorded
    runs: ``tests.catalog.isolation_world.add_run``); its number."""
    model_id = model_of(job_id)
    with session_scope() as s:
        if version is None:
            numbers = s.exec(select(ModelVersion.version).where(ModelVersion.model_id == model_id)).all()
            version = max(numbers, default=0) + 1
        found = RegisteredVersion(version, run_id, status, metrics or {"f1": 0.8}, {"contamination": "0.1"})
        assert record_versions(s, job_id=job_id, versions=[found]), "the run is not one of the job's"
    return version


def make_champion(model_id: int, version: int) -> int:
    """``version`` promoted through the gate's service calls (no flow): the evaluation's id."""
    with session_scope() as s:
        model = s.get(Model, model_id)
        assert model is not None
        champion = model.champion_version
        evaluation = model_promotion.request_promotion(s, actor=SYSTEM, model_id=model_id, version=version)
        assert model_promotion.claim_evaluation(s, evaluation_id=evaluation.id, flow_run_id=None)  # type: ignore[arg-type]
        outcome = model_promotion.finish_evaluation(
            s,
            evaluation_id=evaluation.id,  # type: ignore[arg-type]
            decision=Decision(True, f"v{version} passed", "f1", "max", 0.9, None),
            champion_version=champion,
            candidate_metrics={"f1": 0.9},
            champion_metrics=None,
        )
        assert outcome.promoted
        return int(evaluation.id or 0)


def model_world(job_id: int, run_id: str) -> dict[str, Any]:
    """The job's model with versions 1 and 2 (both of ``run_id``), champion moved by hand to 1 then 2 (so a
    rollback has somewhere to go), and one pending evaluation of v1; made once, read back after. Its ids."""
    model_id = model_of(job_id)
    with session_scope() as s:
        seeded = s.exec(select(AliasEvent.id).where(AliasEvent.model_id == model_id)).first() is not None
        evaluated = s.exec(select(ModelEvaluation.id).where(ModelEvaluation.model_id == model_id)).first()
        known = set(s.exec(select(ModelVersion.version).where(ModelVersion.model_id == model_id)).all())
    if not seeded:
        # The world's team resources may have recorded version 1 already, and the permission world asked for
        # an evaluation (tests/catalog/isolation_world.py, permission_world.py).
        for version in sorted({1, 2} - known):
            record_version(job_id, run_id, version=version)
        with session_scope() as s:
            for version in (1, 2):
                model_promotion.set_alias(
                    s, actor=SYSTEM, model_id=model_id, alias="champion", version=version
                )
            if evaluated is None:
                model_promotion.request_promotion(s, actor=SYSTEM, model_id=model_id, version=1)
    with session_scope() as s:
        first = s.exec(
            select(ModelEvaluation.id)
            .where(ModelEvaluation.model_id == model_id)
            .order_by(col(ModelEvaluation.id))
        ).first()
    return {"model_id": model_id, "evaluation_id": first}
