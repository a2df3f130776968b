"""Seeding for the dashboard page tests: an initialised catalog (admin, default team, presets), rows inserted in
bulk (thousands of datasets in one statement), jobs, releases and servings in given states, models' versions and
the gate's decisions on them (through the services), and a page script rendered as a given user."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import insert
from streamlit.testing.v1 import AppTest

from catalog.scoping import Actor

ADMIN_PASSWORD = "dash-admin-pass"


@dataclass(frozen=True)
class Catalog:
    admin: Actor
    team_id: int


def init_catalog(monkeypatch: pytest.MonkeyPatch) -> Catalog:
    """The catalog as `mlops init` leaves it (callers hash passwords cheaply: the ``cheap_hashing`` fixture)."""
    from catalog.db import session_scope
    from catalog.services import teams
    from catalog.services.init import initialize

    monkeypatch.delenv("MLOPS_USER", raising=False)
    initialize(admin_password=ADMIN_PASSWORD, echo=lambda *a, **k: None)
    with session_scope() as session:
        admin = teams.actor_for(session, username="admin")
    return Catalog(admin=admin, team_id=min(admin.team_ids))


def bulk_datasets(
    team_id: int, count: int, *, scenario: str = "anomaly_detection", prefix: str = "ds"
) -> None:
    """``count`` datasets named ``{prefix}-00000``… in one INSERT (the services' per-row audit is not tested)."""
    from catalog.db import session_scope
    from catalog.models import Dataset
    from catalog.models.base import utcnow

    now = utcnow()
    rows = [
        {
            "team_id": team_id,
            "scenario": scenario,
            "name": f"{prefix}-{i:05d}",
            "description": "",
            "created_at": now,
            "updated_at": now,
        }
        for i in range(count)
    ]
    with session_scope() as session:
        session.execute(insert(Dataset), rows)


def add_row(model: type[Any], **values: Any) -> Any:
    """One row of any table, as given (states a flow would have written)."""
    from catalog.db import session_scope

    with session_scope() as session:
        row = model(**values)
        session.add(row)
        session.flush()
        session.refresh(row)
        return row


def job(team_id: int, release_id: int, name: str, status: str, *, model: Any = None, **values: Any) -> Any:
    """A training job in ``status``, registering its versions in ``model`` (a ``Model`` row), else in a model of
    its own named after it, as ``training.create_job`` makes one."""
    from catalog.db import session_scope
    from catalog.models import Model, TrainJob
    from catalog.services import algorithms

    with session_scope() as session:
        algo = algorithms.get_algorithm(session, scenario="anomaly_detection", name="ECOD")
    if model is None:
        model = add_row(
            Model,
            team_id=team_id,
            scenario="anomaly_detection",
            name=name,
            mlflow_name=f"test-model-{team_id}-{name}",
        )
    return add_row(
        TrainJob,
        team_id=team_id,
        scenario="anomaly_detection",
        name=name,
        algorithm_id=algo.id,
        release_id=release_id,
        status=status,
        model_id=model.id,
        model_name=model.mlflow_name,
        **values,
    )


def versions(
    trained: Any,
    metrics: list[dict[str, float]],
    *,
    first: int = 1,
    run_ids: list[str] | None = None,
    experiment_id: str = "0",
    status: str = "FINISHED",
) -> list[int]:
    """Versions ``first``, ``first`` + 1, … of the job's model with these metrics, registered by runs recorded as
    the job's (as the training flow records a run, then the versions MLflow reports for it:
    ``models.record_versions``)."""
    from catalog.db import session_scope
    from catalog.models import JobRun
    from catalog.services.models import RegisteredVersion, record_versions

    numbers = range(first, first + len(metrics))
    ids = run_ids or [f"run-{trained.id}-{n}" for n in numbers]
    with session_scope() as session:
        for run_id in ids:
            session.add(JobRun(run_id=run_id, job_id=trained.id, experiment_id=experiment_id))
        session.flush()
        rows = record_versions(
            session,
            job_id=trained.id,
            versions=[
                RegisteredVersion(version=n, run_id=run_id, run_status=status, metrics=values, params={})
                for n, run_id, values in zip(numbers, ids, metrics, strict=True)
            ],
        )
        return [row.version for row in rows]


def published_release(team_id: int, name: str = "cpu") -> Any:
    from catalog.models import Dataset, DatasetRelease

    dataset = add_row(Dataset, team_id=team_id, scenario="anomaly_detection", name=name)
    return add_row(DatasetRelease, dataset_id=dataset.id, version="v1", status="published")


@dataclass(frozen=True)
class Lineup:
    release_id: int
    job_id: int
    model_id: int


def lineup(catalog: Catalog, name: str = "ecod-a", metrics: list[dict[str, float]] | None = None) -> Lineup:
    """A published release, a completed job trained on it, and its model's versions (v1 f1 0.8, v2 f1 0.6)."""
    release = published_release(catalog.team_id)
    trained = job(catalog.team_id, release.id, name, "completed")
    versions(trained, metrics or [{"f1": 0.8, "precision": 0.7}, {"f1": 0.6, "recall": 0.5}])
    return Lineup(release.id, trained.id, trained.model_id)


def decided(who: Any, model_id: int, version: int, candidate: dict[str, float]) -> int:
    """The gate asked for ``version``, claimed by a flow run, and decided against the champion's metrics."""
    from catalog.db import session_scope
    from catalog.model_gate import Gate, decide
    from catalog.models import Model, ModelVersion
    from catalog.services import model_promotion as promo

    with session_scope() as session:
        evaluation_id = promo.request_promotion(session, actor=who, model_id=model_id, version=version).id
    with session_scope() as session:
        assert promo.claim_evaluation(session, evaluation_id=evaluation_id, flow_run_id="gate-run")  # type: ignore[arg-type]
        model = session.get(Model, model_id)
        assert model is not None
        champion = model.champion_version
        reference = None
        if champion is not None:
            reference = (
                session.query(ModelVersion).filter_by(model_id=model_id, version=champion).one().metrics
            )
        decision = decide(
            model.scenario,
            Gate(model.gate_metric, model.gate_threshold, model.gate_tolerance),
            candidate_version=version,
            candidate=candidate,
            champion_version=champion,
            champion=reference,
        )
        promo.finish_evaluation(
            session,
            evaluation_id=evaluation_id,  # type: ignore[arg-type]
            decision=decision,
            champion_version=champion,
            candidate_metrics=candidate,
            champion_metrics=reference,
        )
    return evaluation_id  # type: ignore[return-value]


def page(module: str, scenario: str | None = "anomaly_detection", *, timeout: float = 60) -> AppTest:
    """A page rendered on its own (as the operator's user, MLOPS_USER or the admin), not yet run."""
    call = f"{module}.render({scenario!r})" if scenario else f"{module}.render()"
    return AppTest.from_string(f"from dashboard.views import {module}\n{call}\n", default_timeout=timeout)


SIGNED_IN_PAGE = """
import time

import streamlit as st

from dashboard import auth
from dashboard.views import {module}

if auth.LOGIN_KEY not in st.session_state:  # signed in (the password: test_login)
    now = time.time()
    st.session_state[auth.LOGIN_KEY] = auth.Login({username!r}, {team_id!r}, now, now + 3600)
st.session_state[auth.GATE_KEY] = True
{module}.render({args})
"""


def signed_in_page(
    module: str,
    username: str,
    team_id: int,
    scenario: str | None = "anomaly_detection",
    *,
    timeout: float = 60,
) -> AppTest:
    """A page rendered for ``username`` signed in with ``team_id`` as the current team: it acts as the app's
    pages do, through ``auth.session_actor`` (the user restricted to that team and its sub-teams)."""
    script = SIGNED_IN_PAGE.format(
        module=module, username=username, team_id=team_id, args=repr(scenario) if scenario else ""
    )
    return AppTest.from_string(script, default_timeout=timeout)


def captions(at: AppTest) -> list[str]:
    return [c.value for c in at.caption]


def errors(at: AppTest) -> list[str]:
    return [e.value for e in at.error]


def tables(at: AppTest) -> str:
    return "\n".join(df.value.to_csv() for df in at.dataframe)


def no_exception(at: AppTest) -> AppTest:
    assert not at.exception, [e.message for e in at.exception]
    return at
