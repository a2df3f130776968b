"""Quotas on a real database (SQLite and PostgreSQL): 20 concurrent claims across different jobs (and servings) of
the sub-teams of a team with a quota never leave more active than it allows — exactly N win, the others are
refused naming the quota, the team it is set on and the use — and once one ends the next claim wins. Claims
record the container's CPUs/memory (the quota default here) and release them when they end; the team's usage
says so."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from catalog.errors import QuotaExceededError
from tests.model_rows import add_model

N = 3
RACERS = 20


@pytest.fixture(params=["sqlite", "postgresql"])
def catalog_db(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    from catalog.db import dispose_engines
    from infra.settings import reset_settings

    url = (
        request.getfixturevalue("postgres_url")
        if request.param == "postgresql"
        else f"sqlite:///{tmp_path}/quotas.db"
    )
    monkeypatch.setenv("MLOPS_DATABASE_URL", url)
    monkeypatch.setenv("MLOPS_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("MLOPS_ENV_FILE", "/nonexistent")
    monkeypatch.setenv("MLOPS_RUNTIME_DEFAULT_CPUS", "0.5")
    monkeypatch.setenv("MLOPS_RUNTIME_DEFAULT_MEMORY_MB", "256")
    reset_settings()
    dispose_engines()
    try:
        yield request.param
    finally:
        dispose_engines()
        reset_settings()


def _seed() -> dict[str, Any]:
    """Team 'org' with sub-teams 'ml-a' and 'ml-b'; 20 jobs and 20 stopped servings split between the two."""
    from sqlmodel import select

    from catalog.db import session_scope
    from catalog.models import AlgorithmConfig, Dataset, DatasetRelease, DesiredState, Serving, Team, TrainJob
    from catalog.services.init import initialize

    initialize(admin_password="quota-pass-1", echo=lambda *a, **k: None)
    with session_scope() as session:
        org = Team(name="org")
        session.add(org)
        session.flush()
        children = [Team(name=f"ml-{c}", parent_id=org.id) for c in "ab"]
        session.add_all(children)
        session.flush()
        algo = session.exec(select(AlgorithmConfig).where(AlgorithmConfig.name == "ECOD")).one()
        dataset = Dataset(team_id=org.id, scenario="anomaly_detection", name="d")
        session.add(dataset)
        session.flush()
        release = DatasetRelease(dataset_id=dataset.id, version="v1", status="published")
        session.add(release)
        session.flush()
        jobs = [
            TrainJob(
                team_id=children[n % 2].id,
                scenario="anomaly_detection",
                name=f"job-{n}",
                algorithm_id=algo.id,
                release_id=release.id,
                params={},
                status="completed",
                model_name=f"model-{n}",
            )
            for n in range(RACERS)
        ]
        session.add_all(jobs)
        session.flush()
        job_models = [add_model(session, job) for job in jobs]
        servings = [
            Serving(
                team_id=job.team_id,
                scenario="anomaly_detection",
                name=f"svc-{n}",
                train_job_id=job.id,
                model_id=job_models[n].id,
                desired_state=DesiredState.STOPPED,
            )
            for n, job in enumerate(jobs)
        ]
        session.add_all(servings)
        session.flush()
        return {
            "org": org.id,
            "child": children[0].id,
            "jobs": [j.id for j in jobs],
            "servings": [s.id for s in servings],
        }


def _race(claims: list[Callable[[], object]]) -> tuple[list[object], list[Exception]]:
    """Every claim at once, each in its own thread and transaction."""
    barrier = threading.Barrier(len(claims))
    won: list[object] = []
    refused: list[Exception] = []
    lock = threading.Lock()

    def run(claim: Callable[[], object]) -> None:
        barrier.wait()
        try:
            result = claim()
            with lock:
                won.append(result)
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            with lock:
                refused.append(exc)

    threads = [threading.Thread(target=run, args=(c,)) for c in claims]
    for t in threads:
        t.start()
    for t in threads:
        t.join(180)
    assert not any(t.is_alive() for t in threads), "a claim hung"
    return won, refused


def _in_session(call: Callable[[Any], object]) -> Callable[[], object]:
    from catalog.db import session_scope

    def run() -> object:
        with session_scope() as session:
            return call(session)

    return run


def _usage(team_id: int) -> Any:
    from catalog.db import read_session
    from catalog.scoping import SYSTEM
    from catalog.services import quotas

    with read_session() as session:
        return quotas.team_usage(session, actor=SYSTEM, team_id=team_id)


def test_concurrent_claims_across_jobs_and_servings_never_exceed_the_quota(catalog_db: str) -> None:
    from sqlmodel import col, select

    from catalog.db import session_scope
    from catalog.models import ACTIVE_STATUSES, DesiredState, JobStatus, Serving, TrainJob
    from catalog.scoping import SYSTEM
    from catalog.services import quotas, serving, training

    seeded = _seed()
    with session_scope() as session:
        quotas.set_quota(session, actor=SYSTEM, team_id=seeded["org"], trainings=N, servings=N - 1, cpus=100)

    # Trainings: 20 starts of 20 different jobs of the two sub-teams; the quota is set on their parent.
    won, refused = _race(
        [
            _in_session(
                lambda s, j=job_id: training.claim_start(s, actor=SYSTEM, job_id=j, flow_run_id=f"flow-{j}")
            )
            for job_id in seeded["jobs"]
        ]
    )
    assert len(won) == N, refused
    assert len(refused) == RACERS - N
    assert all(isinstance(e, QuotaExceededError) for e in refused), refused
    assert {str(e) for e in refused} == {
        f"quota exceeded: team 'org' allows {N} concurrent trainings (its subtree runs {N})"
    }
    with session_scope() as session:
        active = session.exec(select(TrainJob).where(col(TrainJob.status).in_(ACTIVE_STATUSES))).all()
        assert len(active) == N
        # The CPU quota applies and no limit is set: each claim holds (and its container gets) the default.
        assert {(j.claimed_cpu, j.claimed_memory_mb) for j in active} == {(0.5, None)}
        done, waiting = active[0].id, sorted(set(seeded["jobs"]) - {j.id for j in active})
    used = _usage(seeded["org"])
    assert (used.usage.trainings, used.usage.cpus) == (N, 0.5 * N)
    assert [(v.quota, v.limit, v.used, v.set_on) for v in _usage(seeded["child"]).effective] == [
        ("trainings", N, N, "org"),
        ("servings", N - 1, 0, "org"),
        ("cpus", 100, 0.5 * N, "org"),
    ]

    # One ends: its claim is released, and the next start wins; the one after is refused again.
    with session_scope() as session:
        assert training.mark_finished(session, job_id=done, status=JobStatus.COMPLETED)
    with session_scope() as session:
        assert session.get(TrainJob, done).claimed_cpu is None  # type: ignore[union-attr]
        training.claim_start(session, actor=SYSTEM, job_id=waiting[0], flow_run_id="next")
    with pytest.raises(QuotaExceededError, match=f"its subtree runs {N}"), session_scope() as session:
        training.claim_start(session, actor=SYSTEM, job_id=waiting[1], flow_run_id="after")

    # Servings: 20 starts of 20 different stopped servings.
    won, refused = _race(
        [
            _in_session(
                lambda s, i=serving_id: serving.set_desired(
                    s, actor=SYSTEM, serving_id=i, desired=DesiredState.RUNNING
                )
            )
            for serving_id in seeded["servings"]
        ]
    )
    assert len(won) == N - 1, refused
    assert {str(e) for e in refused} == {
        f"quota exceeded: team 'org' allows {N - 1} running servings (its subtree runs {N - 1})"
    }
    with session_scope() as session:
        running = session.exec(select(Serving).where(Serving.desired_state == "running")).all()
        assert len(running) == N - 1 and {s.claimed_cpu for s in running} == {0.5}
        first, stopped = running[0].id, [i for i in seeded["servings"] if i not in {s.id for s in running}]
        # Asked again, a running serving keeps its place (no second claim, no refusal).
        serving.set_desired(session, actor=SYSTEM, serving_id=first, desired=DesiredState.RUNNING)
    assert _usage(seeded["org"]).usage.cpus == 0.5 * (N + N - 1)
    with session_scope() as session:
        serving.set_desired(session, actor=SYSTEM, serving_id=first, desired=DesiredState.STOPPED)
    with session_scope() as session:
        assert session.get(Serving, first).claimed_cpu is None  # type: ignore[union-attr]
        serving.set_desired(session, actor=SYSTEM, serving_id=stopped[0], desired=DesiredState.RUNNING)
    with pytest.raises(QuotaExceededError, match="running servings"), session_scope() as session:
        serving.set_desired(session, actor=SYSTEM, serving_id=stopped[1], desired=DesiredState.RUNNING)
    # A serving created to run claims its place too: over the quota it is refused and nothing is stored.
    spare = next(j for j in waiting[2:] if j in seeded["jobs"][0::2])  # a completed job of 'ml-a'
    with pytest.raises(QuotaExceededError, match="running servings"), session_scope() as session:
        serving.create_serving(
            session, actor=SYSTEM, team_id=seeded["child"], name="extra", train_job_id=spare
        )
    with session_scope() as session:
        assert session.exec(select(Serving).where(Serving.name == "extra")).first() is None
        created = serving.create_serving(
            session, actor=SYSTEM, team_id=seeded["child"], name="extra", train_job_id=spare, start=False
        )
        assert (created.desired_state, created.claimed_cpu) == ("stopped", None)
