"""Algorithm catalog services: listing, enable/disable with the running-job guard, form edits."""

from __future__ import annotations

import pytest
from sqlmodel import Session, select

from catalog.errors import ConflictError, NotFoundError, PermissionDeniedError, ValidationError
from catalog.models import AuditEvent, Dataset, DatasetRelease, JobStatus, Team, TrainJob
from catalog.permissions import BUILTIN_ROLES
from catalog.presets import import_presets
from catalog.scoping import Actor
from catalog.services import algorithms as svc

MEMBER_PERMISSIONS = BUILTIN_ROLES["member"].permissions

MEMBER_PERMISSIONS = BUILTIN_ROLES["member"].permissions

ADMIN = Actor(user_id=1, username="root", is_superuser=True)
MEMBER = Actor(user_id=2, username="alice", grants={1: MEMBER_PERMISSIONS}, current_team_id=1)


@pytest.fixture
def catalog(session: Session) -> Session:
    import_presets(session)
    session.commit()
    return session


def add_job(session: Session, *, algorithm: str, name: str, status: JobStatus, team: str = "t1") -> TrainJob:
    team_row = session.exec(select(Team).where(Team.name == team)).first()
    if team_row is None:
        team_row = Team(name=team)
        session.add(team_row)
        session.flush()
    dataset = Dataset(team_id=team_row.id, scenario="anomaly_detection", name=f"ds-{name}")
    session.add(dataset)
    session.flush()
    release = DatasetRelease(dataset_id=dataset.id, version="v1", status="published")
    session.add(release)
    session.flush()
    algo = svc.get_algorithm(session, scenario="anomaly_detection", name=algorithm)
    job = TrainJob(
        team_id=team_row.id,
        scenario="anomaly_detection",
        name=name,
        algorithm_id=algo.id,
        release_id=release.id,
        status=status,
    )
    session.add(job)
    session.commit()
    return job


def test_list_filters_by_scenario_and_enabled(catalog: Session) -> None:
    assert len(svc.list_algorithms(catalog)) == 10
    names = [a.name for a in svc.list_algorithms(catalog, scenario="anomaly_detection")]
    assert names == ["ECOD", "EWMA", "PELT"]
    svc.set_enabled(catalog, actor=ADMIN, scenario="anomaly_detection", name="EWMA", enabled=False)
    catalog.commit()
    enabled = [a.name for a in svc.list_algorithms(catalog, scenario="anomaly_detection", enabled_only=True)]
    assert enabled == ["ECOD", "PELT"]
    with pytest.raises(ValidationError, match="unknown scenario 'speech'"):
        svc.list_algorithms(catalog, scenario="speech")


def test_get_by_name_and_id(catalog: Session) -> None:
    ecod = svc.get_algorithm(catalog, scenario="anomaly_detection", name="ECOD")
    assert svc.get_algorithm_by_id(catalog, algorithm_id=ecod.id).name == "ECOD"
    with pytest.raises(NotFoundError, match="algorithm 'anomaly_detection/Nope' not found"):
        svc.get_algorithm(catalog, scenario="anomaly_detection", name="Nope")
    with pytest.raises(NotFoundError):
        svc.get_algorithm_by_id(catalog, algorithm_id=9999)


def test_disable_then_enable(catalog: Session) -> None:
    row = svc.set_enabled(catalog, actor=ADMIN, scenario="anomaly_detection", name="ECOD", enabled=False)
    catalog.commit()
    assert row.enabled is False
    catalog.expire_all()
    assert svc.get_algorithm(catalog, scenario="anomaly_detection", name="ECOD").enabled is False
    row = svc.set_enabled(catalog, actor=ADMIN, scenario="anomaly_detection", name="ECOD", enabled=True)
    catalog.commit()
    assert row.enabled is True
    actions = [e.action for e in catalog.exec(select(AuditEvent).order_by(AuditEvent.id)).all()]
    assert actions == ["algorithm.disable", "algorithm.enable"]


def test_disable_refused_while_jobs_run_and_names_them(catalog: Session) -> None:
    add_job(catalog, algorithm="ECOD", name="cpu-nightly", status=JobStatus.RUNNING)
    add_job(catalog, algorithm="ECOD", name="disk-hourly", status=JobStatus.STARTING, team="t2")
    add_job(catalog, algorithm="ECOD", name="old-done", status=JobStatus.COMPLETED)
    add_job(catalog, algorithm="EWMA", name="other-algo", status=JobStatus.RUNNING)

    with pytest.raises(ConflictError) as info:
        svc.set_enabled(catalog, actor=ADMIN, scenario="anomaly_detection", name="ECOD", enabled=False)
    message = str(info.value)
    assert "cannot disable ECOD" in message
    assert "'cpu-nightly'" in message and "running" in message
    assert "'disk-hourly'" in message and "starting" in message
    assert "old-done" not in message and "other-algo" not in message
    catalog.rollback()
    assert svc.get_algorithm(catalog, scenario="anomaly_detection", name="ECOD").enabled is True


def test_disable_allowed_once_jobs_finished(catalog: Session) -> None:
    job = add_job(catalog, algorithm="PELT", name="cp", status=JobStatus.RUNNING)
    with pytest.raises(ConflictError):
        svc.set_enabled(catalog, actor=ADMIN, scenario="anomaly_detection", name="PELT", enabled=False)
    catalog.rollback()
    job.status = JobStatus.FAILED
    catalog.add(job)
    catalog.commit()
    row = svc.set_enabled(catalog, actor=ADMIN, scenario="anomaly_detection", name="PELT", enabled=False)
    assert row.enabled is False


def test_non_admin_may_not_enable_disable_or_edit(catalog: Session) -> None:
    with pytest.raises(PermissionDeniedError, match="only an administrator may enable or disable algorithms"):
        svc.set_enabled(catalog, actor=MEMBER, scenario="anomaly_detection", name="ECOD", enabled=False)
    ecod = svc.get_algorithm(catalog, scenario="anomaly_detection", name="ECOD")
    with pytest.raises(PermissionDeniedError, match="edit algorithm forms"):
        svc.update_form_config(
            catalog, actor=MEMBER, algorithm_id=ecod.id, form_config=ecod.form_config, search_space={}
        )
    catalog.expire_all()
    assert svc.get_algorithm(catalog, scenario="anomaly_detection", name="ECOD").enabled is True


def test_update_form_config_validates_form_and_space(catalog: Session) -> None:
    ecod = svc.get_algorithm(catalog, scenario="anomaly_detection", name="ECOD")
    form = {
        "fields": [{"name": "contamination", "type": "float", "default": "0.05", "min": 0.01, "max": 0.2}]
    }
    with pytest.raises(ValidationError, match="high 0.5 is above the parameter's maximum 0.2"):
        svc.update_form_config(
            catalog,
            actor=ADMIN,
            algorithm_id=ecod.id,
            form_config=form,
            search_space={"contamination": {"type": "uniform", "low": 0.01, "high": 0.5}},
        )
    with pytest.raises(ValidationError, match="unknown key\\(s\\) maxi"):
        svc.update_form_config(
            catalog,
            actor=ADMIN,
            algorithm_id=ecod.id,
            form_config={"fields": [{"name": "a", "type": "int", "maxi": 3}]},
            search_space={},
        )
    catalog.rollback()
    row = svc.update_form_config(
        catalog,
        actor=ADMIN,
        algorithm_id=ecod.id,
        form_config=form,
        search_space={"contamination": {"type": "uniform", "low": 0.01, "high": 0.1}},
    )
    catalog.commit()
    catalog.expire_all()
    stored = svc.get_algorithm_by_id(catalog, algorithm_id=row.id)
    assert stored.form_config["fields"][0]["default"] == 0.05  # normalised from the string
    assert stored.search_space == {"contamination": {"type": "uniform", "low": 0.01, "high": 0.1}}
    assert catalog.exec(select(AuditEvent).where(AuditEvent.action == "algorithm.update_form")).one()
