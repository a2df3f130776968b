"""Custom training jobs in the catalog: the spec's rules (``mlops_lite.schemas.custom_jobs.CustomSpec``, pure), the
service on a real S3 (row, config in S3, audit; bad input stores nothing; the kind shares the name space, claim
and edits of presets), and migration 0005 (existing jobs become presets; each kind keeps what it runs)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from catalog.errors import ConflictError, NotFoundError, PermissionDeniedError, ValidationError
from catalog.permissions import BUILTIN_ROLES
from mlops_lite.schemas.custom_jobs import (
    MAX_ARG_CHARS,
    MAX_COMMAND_ARGS,
    MAX_ENV_VARS,
    CustomSpec,
    env_pairs,
    parse_memory,
)

MEMBER_PERMISSIONS = BUILTIN_ROLES["member"].permissions


@pytest.fixture(autouse=True)
def _custom_jobs_on_the_process_runtime(
    monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    """These tests run custom jobs on the process runtime, which refuses them unless told (secure default)."""
    from infra.settings import reset_settings

    if "platform_env" in request.fixturenames:
        request.getfixturevalue("platform_env")  # it sets the test's environment afresh: set this after it
    monkeypatch.setenv("MLOPS_TRAIN_CUSTOM_JOBS_ON_PROCESS", "true")
    reset_settings()


GOOD: dict[str, Any] = {"image": "python:3.12-slim", "command": ["python", "train.py"]}
HUGE = "x" * 100_000


@pytest.mark.parametrize(
    "image",
    [
        "python",
        "python:3.12-slim",
        "library/python:3",
        "registry.example:5000/team/train:1.2",
        "localhost/a_b__c-d.e",
        "ghcr.io/org/img@sha256:" + "a" * 64,
        "reg.example/img:v1@sha256:" + "0" * 64,
    ],
)
def test_image_references_accepted(image: str) -> None:
    assert CustomSpec(**{**GOOD, "image": image}).image == image


@pytest.mark.parametrize(
    "image",
    [
        "",
        "Python",
        "img:",
        ":tag",
        "a//b",
        "img:tag:more",
        "img@sha256:short",
        "-img",
        "a b",
        "img:" + "t" * 200,
    ],
)
def test_image_references_refused(image: str) -> None:
    with pytest.raises(ValueError, match="image"):
        CustomSpec(**{**GOOD, "image": image})


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"command": []}, "command"),
        ({"command": [""]}, "the first argument (the program) must not be empty"),
        ({"command": ["python"] * (MAX_COMMAND_ARGS + 1)}, "command"),
        (
            {"command": ["python", "x" * (MAX_ARG_CHARS + 1)]},
            f"argument 1 has {MAX_ARG_CHARS + 1} characters",
        ),
        ({"command": ["python"] + ["x" * MAX_ARG_CHARS] * 5}, "characters in all"),
        ({"command": ["python", "a\0b"]}, "NUL"),
        ({"command": "python train.py"}, "command"),
        ({"env": {"MLFLOW_RUN_ID": "mine"}}, "is the platform's"),
        ({"env": {"mlops_model_name": "x"}}, "is the platform's"),
        ({"env": {"AWS_ACCESS_KEY_ID": "x"}}, "is the platform's"),
        ({"env": {"PYTHONUNBUFFERED": "0"}}, "is the platform's"),
        ({"env": {"1ABC": "x"}}, "variable name '1ABC' is invalid"),
        ({"env": {"A-B": "x"}}, "is invalid"),
        ({"env": {HUGE: "x"}}, "100000 characters"),
        ({"env": {"BIG": HUGE}}, "the value of BIG has 100000 characters"),
        ({"env": {f"V{i}": "x" for i in range(MAX_ENV_VARS + 1)}}, "env"),
        ({"cpu_limit": 0}, "cpu_limit"),
        ({"cpu_limit": 1000}, "cpu_limit"),
        ({"memory_limit_mb": 10}, "memory_limit_mb"),
        ({"memory_limit_mb": 10**9}, "memory_limit_mb"),
        ({"gpu": 1}, "gpu"),
    ],
)
def test_spec_problems_are_named_without_echoing_the_input(changes: dict[str, Any], problem: str) -> None:
    from catalog.services.custom_jobs import check_spec

    fields = {**GOOD, **changes}
    with pytest.raises(ValueError, match="validation error|Value error|should|Input|must|is"):
        CustomSpec(**fields)
    if "gpu" in changes:
        return  # check_spec takes only the spec's fields: an unknown one is the API body's to refuse
    with pytest.raises(ValidationError) as err:
        check_spec(**fields)
    message = str(err.value)
    assert message.startswith("invalid custom job: ") and problem in message, message
    assert HUGE[:200] not in message and len(message) < 1000


def test_memory_and_env_helpers() -> None:
    assert [parse_memory(v) for v in (None, 512, "512", "512Mi", "512m", "2Gi", "2G", " 3g ")] == [
        None,
        512,
        512,
        512,
        512,
        2048,
        2048,
        3072,
    ]
    with pytest.raises(ValueError, match="not a size"):
        parse_memory("lots")
    assert env_pairs(["A=1", "B=x=y", "C="]) == {"A": "1", "B": "x=y", "C": ""}
    assert env_pairs({"A": "1"}) == {"A": "1"} and env_pairs(None) == {}
    with pytest.raises(ValueError, match="NAME=VALUE"):
        env_pairs(["NOVALUE"])


# ---------------------------------------------------------------- the service, on a real S3


@pytest.fixture
def world(platform_env):  # type: ignore[no-untyped-def]
    """An initialised catalog: the admin, their team, a published release in S3 (tests/flows' seed)."""
    from tests.flows.training_support import seed_catalog

    return seed_catalog()


def _create(world: Any, name: str = "byo", **changes: Any) -> Any:
    from catalog.db import session_scope
    from catalog.services.custom_jobs import create_custom_job

    fields = {
        "actor": world.admin,
        "team_id": world.team_id,
        "name": name,
        "release_id": world.release_id,
        "image": "python:3.12",
        "command": ["python", "-c", "print('hi')"],
        "env": {"EPOCHS": "3"},
        "cpu_limit": 1.5,
        "memory_limit_mb": 1024,
        **changes,
    }
    with session_scope() as session:
        job, previous = create_custom_job(session, **fields)
        assert previous is None
        return job


def _counts() -> tuple[int, int, list[str]]:
    from sqlmodel import func, select

    from catalog.db import session_scope
    from catalog.models import AuditEvent, TrainJob
    from infra.objectstore import ObjectStore
    from infra.settings import get_settings

    with session_scope() as session:
        jobs = session.exec(select(func.count()).select_from(TrainJob)).one()
        ok = session.exec(
            select(func.count()).where(AuditEvent.action == "train_job.create", AuditEvent.outcome == "ok")
        ).one()
    keys = [o.key for o in ObjectStore.from_settings(get_settings().s3).list("jobs/")]
    return int(jobs), int(ok), keys


@pytest.mark.platform_servers("s3")
def test_create_stores_row_config_and_audit(world) -> None:  # type: ignore[no-untyped-def]
    from sqlmodel import select

    from catalog.db import session_scope
    from catalog.models import AuditEvent, JobKind, JobStatus
    from catalog.services.training import job_context
    from infra.objectstore import ObjectStore
    from infra.settings import get_settings

    job = _create(world)
    assert (job.kind, job.status, job.scenario, job.algorithm_id) == (
        JobKind.CUSTOM,
        JobStatus.CREATED,
        "anomaly_detection",
        None,
    )
    assert job.command == ["python", "-c", "print('hi')"] and job.env == {"EPOCHS": "3"}
    assert (job.cpu_limit, job.memory_limit_mb, job.image) == (1.5, 1024, "python:3.12")
    prefix = get_settings().mlflow.experiment_prefix
    assert job.model_name.startswith(f"{prefix}-anomaly_detection-model") and job.model_id is not None
    config = json.loads(ObjectStore.from_settings(get_settings().s3).get_bytes(job.config_key))
    assert config["kind"] == "custom" and config["image"] == "python:3.12" and "algorithm" not in config
    assert config["command"] == job.command and config["release"]["release_id"] == world.release_id
    with session_scope() as session:
        event = session.exec(
            select(AuditEvent).where(
                AuditEvent.resource_type == "train_job", AuditEvent.resource_id == job.id
            )
        ).one()
        assert event.action == "train_job.create" and event.outcome == "ok"
        assert event.detail["env"] == ["EPOCHS"] and "3" not in json.dumps(event.detail["env"])
        assert job_context(session, job)["algorithm"] is None


@pytest.mark.platform_servers("s3")
def test_bad_input_stores_nothing(world) -> None:  # type: ignore[no-untyped-def]
    from catalog.db import session_scope
    from catalog.scoping import Actor
    from catalog.services.team_tree import create_team

    before = _counts()
    for changes, error in (
        ({"image": "NOT AN IMAGE"}, ValidationError),
        ({"env": {"MLFLOW_TRACKING_URI": "http://evil"}}, ValidationError),
        ({"command": ["python", HUGE]}, ValidationError),
        ({"name": "../bad"}, ValidationError),
        ({"release_id": 987654}, NotFoundError),
        ({"description": HUGE}, ValidationError),
    ):
        with pytest.raises(error) as err:
            _create(world, **changes)
        assert HUGE[:100] not in str(err.value)
    # Another team's release reads like a missing one; another team's id is refused.
    with session_scope() as session:
        other = create_team(session, actor=world.admin, name="others")
    outsider = Actor(user_id=None, username="outsider", grants={other.id: MEMBER_PERMISSIONS})
    with pytest.raises(NotFoundError, match="dataset release"):
        _create(world, actor=outsider, team_id=other.id)
    with pytest.raises(NotFoundError):
        _create(world, actor=outsider)
    assert _counts() == before


@pytest.mark.platform_servers("s3")
def test_the_kinds_share_names_claims_and_edits(world, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    from catalog.db import session_scope
    from catalog.scoping import SYSTEM
    from catalog.services import training
    from infra.settings import reset_settings
    from tests.flows.training_support import create_job

    create_job(world, "taken")
    with pytest.raises(ConflictError, match="already exists"):
        _create(world, name="taken")
    job = _create(world, name="mine")
    with pytest.raises(ConflictError, match="already exists"):
        create_job(world, "mine")

    with session_scope() as session, pytest.raises(ValidationError, match="runs its own code"):
        training.update_job(session, actor=world.admin, job_id=job.id, params={"contamination": 0.1})
    with session_scope() as session:
        edited, previous = training.update_job(
            session, actor=world.admin, job_id=job.id, release_id=world.release_id
        )
        assert edited.config_revision == 2 and previous == job.config_key
    with session_scope() as session:
        claim = training.claim_start(session, actor=SYSTEM, job_id=job.id, flow_run_id="flow-1")
        assert claim.previous == "created"
    with session_scope() as session, pytest.raises(ConflictError, match="already running"):
        training.claim_start(session, actor=SYSTEM, job_id=job.id, flow_run_id="flow-2")

    monkeypatch.setenv("MLOPS_TRAIN_CUSTOM_JOBS", "false")
    reset_settings()
    before = _counts()
    with pytest.raises(PermissionDeniedError, match="turned off"):
        _create(world, name="off")
    assert _counts() == before


# ---------------------------------------------------------------- migration 0005


def test_migration_makes_existing_jobs_presets_and_keeps_kinds_whole(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from alembic import command
    from sqlalchemy import text
    from sqlalchemy.exc import IntegrityError
    from sqlmodel import select

    from catalog.db import alembic_config, dispose_engines, get_engine, migrate, session_scope
    from catalog.models import AlgorithmConfig, Dataset, DatasetRelease, JobKind, Team, TrainJob
    from catalog.presets import import_presets
    from infra.settings import reset_settings

    monkeypatch.setenv("MLOPS_DATABASE_URL", f"sqlite:///{tmp_path / 'catalog.db'}")
    monkeypatch.setenv("MLOPS_DATA_DIR", str(tmp_path / "data"))
    reset_settings()
    dispose_engines()
    try:
        migrate()
        with session_scope() as s:
            import_presets(s)
            algo = s.exec(select(AlgorithmConfig).where(AlgorithmConfig.name == "ECOD")).one()
            team = Team(name="t")
            s.add(team)
            s.flush()
            dataset = Dataset(team_id=team.id, scenario="anomaly_detection", name="d")
            s.add(dataset)
            s.flush()
            release = DatasetRelease(
                dataset_id=dataset.id, version="v1", status="published", object_key="k", sha256="0"
            )
            s.add(release)
            s.flush()
            ids = {"team_id": team.id, "scenario": "anomaly_detection", "release_id": release.id}
            s.add(TrainJob(name="old", algorithm_id=algo.id, params={}, **ids))
        command.downgrade(alembic_config(), "0004")
        dispose_engines()
        with get_engine().begin() as conn:
            assert "kind" not in list(conn.execute(text("SELECT * FROM train_job")).keys())
        migrate()
        dispose_engines()
        with session_scope() as s:
            assert [(j.name, j.kind) for j in s.exec(select(TrainJob)).all()] == [("old", JobKind.PRESET)]
        # Each kind keeps what it runs (ck_train_job_kind).
        for broken in (
            TrainJob(name="c", kind=JobKind.CUSTOM, params={}, **ids),
            TrainJob(name="p", kind=JobKind.PRESET, params={}, image="py:1", command=["python"], **ids),
        ):
            with pytest.raises(IntegrityError), session_scope() as s:
                s.add(broken)
        with session_scope() as s:
            s.add(TrainJob(name="c", kind=JobKind.CUSTOM, params={}, image="py:1", command=["python"], **ids))
        with pytest.raises(RuntimeError, match="1 custom training job"):
            command.downgrade(alembic_config(), "0004")
    finally:
        dispose_engines()
        reset_settings()


@pytest.mark.parametrize(
    ("enabled", "on_process", "runtime", "refused"),
    [
        (True, False, "process", "ON_PROCESS"),
        (True, True, "process", None),
        (True, False, "docker", None),
        (True, False, "kubernetes", None),
        (False, True, "docker", "DISABLED"),
        (False, True, "process", "DISABLED"),
    ],
)
def test_custom_jobs_are_refused_where_their_code_would_run_as_the_platform(
    enabled: bool, on_process: bool, runtime: str, refused: str | None
) -> None:
    from catalog.services import custom_jobs

    answer = custom_jobs.refusal(enabled=enabled, on_process=on_process, runtime=runtime)
    assert answer == (getattr(custom_jobs, refused) if refused else None)


def test_the_default_process_runtime_refuses_custom_jobs(monkeypatch: pytest.MonkeyPatch) -> None:
    from catalog.services import custom_jobs
    from infra.settings import get_settings, reset_settings

    monkeypatch.delenv("MLOPS_TRAIN_CUSTOM_JOBS_ON_PROCESS")
    monkeypatch.delenv("MLOPS_RUNTIME_NAME", raising=False)
    reset_settings()
    assert get_settings().runtime.name == "process"
    assert custom_jobs.current_refusal() == custom_jobs.ON_PROCESS
