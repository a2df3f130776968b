"""Helpers of the roll-forward tests (process and Docker runtimes): a registered model with versions made once per
module, a catalog whose model records them, a client sending requests in a loop the whole time, and the
assertions on what it saw.

Versions: 1 and 2 are ECOD models of different contamination; 3 is ``BrokenModel``, whose every prediction (the
server's warm-up included) fails, so a roll-forward to it fails on the server.
"""

from __future__ import annotations

import threading
import time
import uuid
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Self

import httpx
import mlflow.pyfunc

from catalog.scoping import Actor
from tests.flows.test_serving_lifecycle import ecod_series

BODY = {"data": [{"timestamp": i, "value": v} for i, v in enumerate([0.1, 0.2, 5.0])]}
# Between two requests of the client: steady traffic (~50 req/s) that leaves the machine's cores to the swap.
PACE_SECONDS = 0.02


class BrokenModel(mlflow.pyfunc.PythonModel):  # type: ignore[misc]
    """Loads, then fails every prediction: the server's warm-up fails, so it never serves it."""

    def predict(self, context, model_input, params=None):  # type: ignore[no-untyped-def]  # (no hints: mlflow reads them)
        raise RuntimeError("broken on purpose")


@dataclass(frozen=True)
class Registered:
    name: str
    runs: dict[int, str]  # version → the run that registered it


def register_versions(tracking_uri: str) -> Registered:
    """A registered model with versions 1, 2 (ECOD) and 3 (broken), each from a run of its own."""
    from mlflow import MlflowClient

    from algorithms.base.tracking import log_and_register_model
    from algorithms.registry import get_algorithm

    client = MlflowClient(tracking_uri=tracking_uri)
    name = f"follow-test-{uuid.uuid4().hex[:8]}"
    algorithm = get_algorithm("ECOD")
    runs: dict[int, str] = {}
    for model in (0.01, 0.3, None):
        run = client.create_run("0")
        if model is None:
            python_model, metadata, signature = BrokenModel(), None, None
        else:
            fitted = algorithm.fit(ecod_series(500, seed=1), {"contamination": model})
            python_model, metadata = algorithm.pyfunc_model(fitted), algorithm.model_metadata(fitted)
            signature = algorithm.signature()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # mlflow asks the broken model for type hints
            version = log_and_register_model(
                client,
                run.info.run_id,
                python_model,
                model_name=name,
                pip_requirements=algorithm.pip_requirements(),
                metadata=metadata,
                signature=signature,
            )
        client.set_terminated(run.info.run_id)
        runs[int(version.version)] = run.info.run_id
    assert sorted(runs) == [1, 2, 3]
    return Registered(name, runs)


@dataclass(frozen=True)
class Seeded:
    admin: Actor
    team_id: int
    model_id: int
    job_id: int


def seed_model(registered: Registered, versions: tuple[int, ...] = (1, 2)) -> Seeded:
    """A fresh catalog: the admin's team has a model (the registered one), a completed job whose recorded runs
    registered its versions, ``versions`` recorded in the catalog, and ``champion`` on version 1."""
    from sqlmodel import select

    from catalog.db import session_scope
    from catalog.models import AlgorithmConfig, Dataset, DatasetRelease, JobRun, JobStatus, Model, TrainJob
    from catalog.services import model_promotion
    from catalog.services.init import initialize
    from catalog.services.teams import actor_for

    initialize(admin_password="follow-pass-1", echo=lambda *a, **k: None)
    with session_scope() as session:
        admin = actor_for(session, username="admin")
        team_id = min(admin.team_ids)
        algo = session.exec(select(AlgorithmConfig).where(AlgorithmConfig.name == "ECOD")).one()
        dataset = Dataset(team_id=team_id, scenario="anomaly_detection", name="cpu")
        session.add(dataset)
        session.flush()
        release = DatasetRelease(dataset_id=dataset.id, version="v1", status="published")
        model = Model(team_id=team_id, scenario="anomaly_detection", name="cpu", mlflow_name=registered.name)
        session.add_all([release, model])
        session.flush()
        job = TrainJob(
            team_id=team_id,
            scenario="anomaly_detection",
            name="cpu",
            algorithm_id=algo.id,
            release_id=release.id,
            params={},
            status=JobStatus.COMPLETED,
            model_id=model.id,
            model_name=registered.name,
            mlflow_run_id=registered.runs[1],
        )
        session.add(job)
        session.flush()
        for run_id in registered.runs.values():
            session.add(JobRun(run_id=run_id, job_id=job.id, experiment_id="0"))
        seeded = Seeded(admin, team_id, int(model.id or 0), int(job.id or 0))
    record(seeded, registered, *versions)
    with session_scope() as session:
        model_promotion.set_alias(session, actor=admin, model_id=seeded.model_id, alias="champion", version=1)
    return seeded


def record(seeded: Seeded, registered: Registered, *versions: int) -> None:
    """Record ``versions`` in the catalog, as the training flow does with what MLflow reports."""
    from catalog.db import session_scope
    from catalog.services.models import RegisteredVersion, record_versions

    found = [RegisteredVersion(v, registered.runs[v], "FINISHED", {}, {}) for v in versions]
    with session_scope() as session:
        assert len(record_versions(session, job_id=seeded.job_id, versions=found)) == len(versions)


def move_champion(seeded: Seeded, version: int | None = None) -> None:
    """Set ``champion`` by hand to ``version``; None: roll it back (the rollback service)."""
    from catalog.db import session_scope
    from catalog.services import model_promotion

    with session_scope() as session:
        if version is None:
            model_promotion.rollback(session, actor=seeded.admin, model_id=seeded.model_id)
        else:
            model_promotion.set_alias(
                session, actor=seeded.admin, model_id=seeded.model_id, alias="champion", version=version
            )


def create_follower(seeded: Seeded, name: str = "follows") -> int:
    from catalog.db import session_scope
    from catalog.services import serving as sv

    with session_scope() as session:
        serving = sv.create_serving(
            session,
            actor=seeded.admin,
            team_id=seeded.team_id,
            name=name,
            model_id=seeded.model_id,
            model_version="champion",
        )
    return int(serving.id or 0)


def serving_row(serving_id: int) -> Any:
    from catalog.db import session_scope
    from catalog.models import Serving

    with session_scope() as session:
        return session.get(Serving, serving_id)


def health(serving_id: int) -> dict[str, Any]:
    from tasks.serving import server_health

    found = server_health(serving_row(serving_id))
    assert found is not None, "the server did not answer /health"
    return found


@dataclass(frozen=True)
class Seen:
    sent: float  # time.monotonic() when the request was sent
    status: int | None
    header: str | None
    version: str | None  # metadata.model_version of a 200
    error: str | None = None


@dataclass
class Traffic:
    """A client sending the same request to the serving in a loop, over one keep-alive connection."""

    url: str
    token: str
    seen: list[Seen] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    @classmethod
    def to(cls, serving_id: int) -> Traffic:
        from catalog.services.serving import inference_token
        from tasks.serving import inference_url

        serving = serving_row(serving_id)
        return cls(inference_url(serving), inference_token(serving))

    def __enter__(self) -> Self:
        self._thread = threading.Thread(target=self._run, name="traffic", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        assert self._thread is not None
        self._thread.join(60)

    def _run(self) -> None:
        headers = {"Authorization": f"Bearer {self.token}"}
        with httpx.Client(timeout=30, trust_env=False, headers=headers) as client:
            while not self._stop.is_set():
                sent = time.monotonic()
                try:
                    response = client.post(self.url, json=BODY)
                    body = response.json()
                    version = (
                        (body.get("metadata") or {}).get("model_version") if response.is_success else None
                    )
                    self.seen.append(
                        Seen(sent, response.status_code, response.headers.get("x-model-version"), version)
                    )
                except Exception as exc:  # noqa: BLE001 - a failed request is what the test counts
                    self.seen.append(Seen(sent, None, None, None, f"{type(exc).__name__}: {exc}"))
                time.sleep(PACE_SECONDS)

    def wait_for(self, count: int, timeout: float = 60.0) -> None:
        """Until ``count`` more answers came in."""
        from infra.net import wait_until

        target = len(self.seen) + count
        wait_until(lambda: len(self.seen) >= target, timeout=timeout, description=f"{count} more answers")


@dataclass(frozen=True)
class Switch:
    moved: float  # when the alias moved
    done: float  # when the follow returned
    target: str


def check_answers(traffic: Traffic, switches: list[Switch], expected: list[str]) -> None:
    """No request failed; every answer named the version that produced it, in header and body alike; the
    versions came in the order ``expected`` (each switch once, nothing else); and every request sent after a
    follow returned, until the next move, was answered by the target."""
    seen = list(traffic.seen)
    failed = [s for s in seen if s.error is not None or s.status != 200]
    assert not failed, f"{len(failed)} of {len(seen)} requests failed, e.g. {failed[:3]}"
    assert all(s.header is not None and s.header == s.version for s in seen), [
        s for s in seen if s.header != s.version
    ][:3]
    order = [s.header for i, s in enumerate(seen) if i == 0 or s.header != seen[i - 1].header]
    assert order == expected, order
    for switch, moved_next in zip(switches, [*(s.moved for s in switches[1:]), float("inf")]):
        after = {s.header for s in seen if switch.done < s.sent < moved_next}
        assert after == {switch.target}, (switch, after)


def follow_moves(
    seeded: Seeded, serving_id: int, follow: Callable[[], None], moves: list[tuple[int | None, str]]
) -> None:
    """With a client sending requests the whole time: for each move (a version to set ``champion`` to, None: a
    rollback; and the version it names), move the alias and ``follow()`` (back once the servings follow); then
    ``check_answers``. The serving starts on version 1; the same server process answers throughout."""
    switches: list[Switch] = []
    instance = health(serving_id)["instance_id"]
    with Traffic.to(serving_id) as traffic:
        traffic.wait_for(10)
        for version, target in moves:
            moved = time.monotonic()
            move_champion(seeded, version)
            follow()
            switches.append(Switch(moved, time.monotonic(), target))
            assert health(serving_id)["model_version"] == target
            assert serving_row(serving_id).resolved_version == target
            traffic.wait_for(10)
    check_answers(traffic, switches, ["1", *(target for _, target in moves)])
    assert health(serving_id)["instance_id"] == instance
