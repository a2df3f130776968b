"""Training service: the atomic claim under 20 real concurrent starts (SQLite and PostgreSQL), and the job
config in S3 being part of the save (S3 down → nothing saved, previous config kept)."""

from __future__ import annotations

import threading

import pytest

from catalog.errors import ConflictError


def _claim_race(job_id: int, starts: int = 20) -> tuple[list[object], list[Exception]]:
    from catalog.db import session_scope
    from catalog.scoping import SYSTEM
    from catalog.services import training as tr

    barrier = threading.Barrier(starts)
    won: list[object] = []
    refused: list[Exception] = []
    lock = threading.Lock()

    def start(n: int) -> None:
        barrier.wait()
        try:
            with session_scope() as session:
                claim = tr.claim_start(session, actor=SYSTEM, job_id=job_id, flow_run_id=f"flow-{n}")
            with lock:
                won.append(claim)
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            with lock:
                refused.append(exc)

    threads = [threading.Thread(target=start, args=(n,)) for n in range(starts)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    return won, refused


def _seed_job_rows() -> int:
    """A job row on a fresh catalog (no S3 needed: the claim never reads the config)."""
    from sqlmodel import select

    from catalog.db import session_scope
    from catalog.models import AlgorithmConfig, Dataset, DatasetRelease, TrainJob
    from catalog.services.init import initialize

    initialize(admin_password="claim-pass-1", echo=lambda *a, **k: None)
    with session_scope() as session:
        from catalog.models import Team

        team = session.exec(select(Team)).first()
        algo = session.exec(select(AlgorithmConfig).where(AlgorithmConfig.name == "ECOD")).one()
        dataset = Dataset(team_id=team.id, scenario="anomaly_detection", name="d")
        session.add(dataset)
        session.flush()
        release = DatasetRelease(dataset_id=dataset.id, version="v1", status="published")
        session.add(release)
        session.flush()
        job = TrainJob(
            team_id=team.id,
            scenario="anomaly_detection",
            name="race",
            algorithm_id=algo.id,
            release_id=release.id,
            params={},
        )
        session.add(job)
        session.flush()
        return int(job.id)


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_twenty_concurrent_claims_exactly_one_wins(
    database: str, request: pytest.FixtureRequest, tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    from catalog.db import dispose_engines, session_scope
    from catalog.models import TrainJob
    from infra.settings import reset_settings

    url = (
        request.getfixturevalue("postgres_url") if database == "postgresql" else f"sqlite:///{tmp_path}/c.db"
    )
    monkeypatch.setenv("MLOPS_DATABASE_URL", url)
    monkeypatch.setenv("MLOPS_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("MLOPS_ENV_FILE", "/nonexistent")
    reset_settings()
    dispose_engines()
    try:
        job_id = _seed_job_rows()
        won, refused = _claim_race(job_id)
        assert len(won) == 1, refused
        assert len(refused) == 19 and all(
            isinstance(e, ConflictError) and "already running" in str(e) for e in refused
        ), refused
        assert won[0].previous == "created"  # type: ignore[attr-defined]
        with session_scope() as session:
            job = session.get(TrainJob, job_id)
            assert job.status == "starting" and job.flow_run_id.startswith("flow-")
    finally:
        dispose_engines()
        reset_settings()


@pytest.mark.platform_servers("s3")
def test_s3_failure_rolls_the_save_back(platform_env, s3_server, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from sqlmodel import select

    from catalog.db import session_scope
    from catalog.models import AuditEvent, TrainJob
    from catalog.services import training as tr
    from infra.objectstore import ObjectStore, ObjectStoreError
    from tests.flows.training_support import seed_catalog

    monkeypatch.setenv("MLOPS_S3_MAX_RETRIES", "0")
    seeded = seed_catalog()
    store = ObjectStore.from_settings(platform_env.s3)

    def create(name: str):  # type: ignore[no-untyped-def]
        with session_scope() as session:
            return tr.create_job(
                session,
                actor=seeded.admin,
                team_id=seeded.team_id,
                name=name,
                scenario="anomaly_detection",
                algorithm="ECOD",
                release_id=seeded.release_id,
                params={"contamination": 0.05},
                store=store,
            )

    with s3_server.stopped(), pytest.raises(ObjectStoreError):
        create("no-s3")
    with session_scope() as session:
        assert session.exec(select(TrainJob)).all() == []
        events = session.exec(select(AuditEvent).where(AuditEvent.action == "train_job.create")).all()
        assert [e.outcome for e in events] == ["error"]

    job, previous = create("with-s3")
    assert previous is None and store.exists(job.config_key)
    first_key = job.config_key

    def update(contamination: float):  # type: ignore[no-untyped-def]
        with session_scope() as session:
            return tr.update_job(
                session,
                actor=seeded.admin,
                job_id=job.id,
                params={"contamination": contamination},
                store=store,
            )

    with s3_server.stopped(), pytest.raises(ObjectStoreError):
        update(0.2)
    with session_scope() as session:
        kept = session.get(TrainJob, job.id)
        assert kept.config_key == first_key and kept.params["contamination"] == 0.05
    assert store.exists(first_key)

    updated, previous = update(0.2)
    # The new object exists before the old one may go; the old one is deleted by the caller after commit.
    assert previous == first_key and updated.config_key != first_key
    assert store.exists(updated.config_key) and store.exists(first_key)
    assert b'"contamination": 0.2' in store.get_bytes(updated.config_key)
