"""The world the isolation matrix runs in, and its checks.

Two teams, each with a dataset, an entry, a published release, a completed training job and a serving
(optionally MLflow runs of both jobs). Team A's names all contain ``SECRET``; its admin is alice. The
outsider is eve, admin of team B. bob belongs to both teams; root is a superuser of no team.

Checks (each one also runs a positive control, so a refusal can never pass because the call itself was
malformed):

- ``refused_like_missing``: another team's id is refused with exactly the error (type and words) of an id
  that does not exist, the words name nothing of team A, and nothing in the catalog (or MLflow) changed;
- ``lists_nothing_of_a``: a list as the outsider holds none of team A's rows and its count agrees;
- ``admin_only``: non-superusers are refused (PermissionDeniedError) and change nothing;
- ``not_called_by_edges``: a function the user-facing edges (CLI, dashboard, NATS responder) never call.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlmodel import Session, SQLModel

from catalog.db import read_session, session_scope
from catalog.errors import CatalogError, PermissionDeniedError
from catalog.models import JobRun, JobStatus, TrainJob
from catalog.presets import import_presets
from catalog.scoping import SYSTEM, Actor
from catalog.services import (
    datasets,
    job_config,
    model_promotion,
    models,
    releases,
    serving,
    team_tree,
    teams,
    training,
)
from catalog.services.common import transition

ROOT = Path(__file__).resolve().parents[2]
SECRET = "secret"
PASSWORD = "isolation-pass-1"
MISSING = 987654
MISSING_RUN = "0" * 32
# Where user input enters: every call from here must go through an actor-scoped service function.
EDGES = ("api", "cli", "dashboard", "flows/nats_responder.py")


@dataclass
class World:
    team_a: int
    team_b: int
    alice_id: int
    eve_id: int
    bob_id: int
    dataset_a: int
    entry_a: int
    release_a: int
    job_a: int
    serving_a: int
    model_a: int
    dataset_b: int
    entry_b: int
    release_b: int
    job_b: int
    serving_b: int
    model_b: int
    alice: Actor
    eve: Actor
    bob: Actor
    root: Actor
    run_a: str | None = None
    run_b: str | None = None
    evaluation_a: int = 0  # a pending promotion of model_a's version 1 (build_world)
    rollout_a: int = 0  # an aborted roll-out of serving_a (build_world)


def team_resources(s: Session, owner: Actor, team_id: int, prefix: str) -> dict[str, int]:
    """A team's dataset (one entry), published release v1, completed preset job and serving, made through the
    services as ``owner``; their ids by kind (the permission matrix's world reuses it)."""
    ds = datasets.create_dataset(
        s, actor=owner, team_id=team_id, scenario="anomaly_detection", name=f"{prefix}-ds"
    )
    entry = datasets.add_entry(
        s,
        actor=owner,
        dataset_id=ds.id,
        name=f"{prefix}.csv",  # type: ignore[arg-type]
        object_key=f"datasets/{ds.id}/{prefix}.csv",
        size_bytes=10,
        sha256="0" * 64,
        content_type="text/csv",
        summary={"rows": 5},
    )
    release = releases.create_release(s, actor=owner, dataset_id=ds.id, version="v1")  # type: ignore[arg-type]
    assert releases.claim_publish(s, actor=owner, release_id=release.id)  # type: ignore[arg-type]
    assert releases.mark_published(
        s,
        release_id=release.id,
        object_key=f"releases/{ds.id}/v1.zip",  # type: ignore[arg-type]
        size_bytes=100,
        sha256="1" * 64,
        split_counts={"train": 5},
    )
    s.expire_all()  # status changes are plain UPDATEs: the release loaded above is stale (flows use new sessions)
    job, _ = training.create_job(
        s,
        actor=owner,
        team_id=team_id,
        name=f"{prefix}-job",
        scenario="anomaly_detection",
        algorithm="ECOD",
        release_id=release.id,
    )  # type: ignore[arg-type]
    assert transition(
        s,
        TrainJob,
        job.id,
        from_statuses=(JobStatus.CREATED,),  # type: ignore[arg-type]
        to_status=JobStatus.COMPLETED,
    )
    s.expire_all()
    # Version 1 of the job's model, registered by a run the catalog recorded for the job (as the watchdog
    # records it when the job completes); no MLflow call needed: the catalog's records decide.
    run_id = uuid.uuid4().hex
    s.add(JobRun(run_id=run_id, job_id=job.id, experiment_id="0"))  # type: ignore[arg-type]
    s.flush()
    models.record_versions(
        s,
        job_id=job.id,  # type: ignore[arg-type]
        versions=[models.RegisteredVersion(1, run_id, "FINISHED", {"f1": 0.5}, {"algorithm": "ECOD"})],
    )
    sv = serving.create_serving(s, actor=owner, team_id=team_id, name=f"{prefix}-svc", train_job_id=job.id)  # type: ignore[arg-type]
    return {
        "dataset": ds.id,
        "entry": entry.id,
        "release": release.id,
        "job": job.id,  # type: ignore[dict-item]
        "serving": sv.id,
        "model": job.model_id,  # type: ignore[dict-item]
    }


def add_rollout(s: Session, serving_id: int, status: str = "aborted") -> int:
    """A roll-out of the serving (version 2 over 1), aborted as a person's abort leaves one (or ``status``)."""
    from catalog.models import Rollout, RolloutStatus, Serving

    serving_row = s.get(Serving, serving_id)
    assert serving_row is not None and serving_row.model_id is not None
    rollout = Rollout(
        team_id=serving_row.team_id,
        serving_id=serving_id,
        model_id=serving_row.model_id,
        stable_version=1,
        canary_version=2,
        steps=[10, 100],
        dwell_seconds=60,
        thresholds={},
        status=RolloutStatus(status),
        reason=status,
    )
    s.add(rollout)
    s.flush()
    return int(rollout.id or 0)


def build_world() -> World:
    """Seed the catalog of the current settings (already migrated) through the services themselves."""
    with session_scope() as s:
        import_presets(s)
        team_a = team_tree.create_team(s, actor=SYSTEM, name=f"{SECRET}-a")
        team_b = team_tree.create_team(s, actor=SYSTEM, name="team-b")
        users = {
            name: teams.create_user(s, actor=SYSTEM, username=name, password=PASSWORD)
            for name in ("alice", "bob", "eve")
        }
        teams.create_user(s, actor=SYSTEM, username="root", password=PASSWORD, is_superuser=True)
        for user, team, role in (
            ("alice", team_a, "admin"),
            ("bob", team_a, "member"),
            ("bob", team_b, "member"),
            ("eve", team_b, "admin"),
        ):
            teams.add_member(s, actor=SYSTEM, team_id=team.id, user_id=users[user].id, role=role)  # type: ignore[arg-type]
        ids = (team_a.id, team_b.id, users["alice"].id, users["eve"].id, users["bob"].id)
    with session_scope() as s:
        a = team_resources(s, teams.actor_for(s, username="alice", current_team_id=ids[0]), ids[0], SECRET)
        b = team_resources(s, teams.actor_for(s, username="eve"), ids[1], "b")
        actors = [teams.actor_for(s, username=name) for name in ("alice", "eve", "bob", "root")]
    world = World(*ids, *a.values(), *b.values(), *actors)  # type: ignore[arg-type]
    with session_scope() as s:
        world.evaluation_a = model_promotion.request_promotion(  # type: ignore[assignment]
            s, actor=world.alice, model_id=world.model_a, version=1
        ).id
        world.rollout_a = add_rollout(s, world.serving_a)
    return world


def add_run(job_id: int) -> str:
    """One finished MLflow run of the job (a param, a metric, a model artifact), in the scenario's shared
    experiment and recorded in the catalog, as the training flow leaves them; its id."""
    import tempfile

    from infra import tracking

    mlflow = tracking.client()
    experiment = tracking.ensure_experiment(mlflow, job_config.experiment_name_for("anomaly_detection"))
    model_dir = Path(tempfile.mkdtemp(prefix="isolation-model-"))
    (model_dir / "MLmodel").write_text("flavors: {}\n")
    run_id, _ = tracking.find_or_create_run(
        mlflow, experiment_id=experiment, job_id=job_id, flow_run_id=None, run_name=f"job{job_id}"
    )
    mlflow.log_param(run_id, "contamination", "0.1")
    mlflow.log_metric(run_id, "auc", 0.9, step=0)
    mlflow.log_artifact(run_id, str(model_dir / "MLmodel"), "model")
    mlflow.set_terminated(run_id, "FINISHED")
    with session_scope() as s:
        job = s.get(TrainJob, job_id)
        assert job is not None
        job.mlflow_experiment_id, job.mlflow_run_id = experiment, run_id
        s.add(job)
        # As the training flow records it (training.attach_run): the catalog's own record of the run.
        s.add(JobRun(run_id=run_id, job_id=job_id, experiment_id=experiment))
    return run_id  # type: ignore[no-any-return]


def add_runs(world: World) -> None:
    """One finished MLflow run per job (``add_run``)."""
    world.run_a, world.run_b = add_run(world.job_a), add_run(world.job_b)


# ---------------------------------------------------------------- observing


def snapshot(world: World) -> dict[str, Any]:
    """Every catalog row but the audit trail (refusals are audited), and team A's run as MLflow has it."""
    with read_session() as s:
        conn = s.connection()
        state: dict[str, Any] = {
            t.name: sorted((tuple(r) for r in conn.execute(select(t)).all()), key=repr)
            for t in SQLModel.metadata.sorted_tables
            if t.name != "audit_event"
        }
    if world.run_a is not None:
        from infra import tracking

        run = tracking.client().get_run(world.run_a)
        state["run_a"] = (
            run.info.lifecycle_stage,
            run.info.status,
            dict(run.data.params),
            dict(run.data.metrics),
        )
    return state


def attempt(call: Callable[[Session], object]) -> CatalogError | None:
    """The catalog error the call raised in its own transaction (committed on success), or None."""
    try:
        with session_scope() as s:
            result = call(s)
            if inspect.isgenerator(getattr(result, "chunks", None)):
                b"".join(result.chunks)  # type: ignore[attr-defined]  # a download streams lazily
    except CatalogError as exc:
        return exc
    return None


def succeeds(call: Callable[[Session], object]) -> None:
    error = attempt(call)
    assert error is None, f"positive control failed: {type(error).__name__}: {error}"


# ---------------------------------------------------------------- checks


def refused_like_missing(
    world: World, call: Callable[[Session, Any], object], foreign: object, missing: object = MISSING
) -> CatalogError:
    """``call(session, ident)`` with team A's ``foreign`` id reads exactly like ``missing`` and changes nothing."""
    before = snapshot(world)
    want = attempt(lambda s: call(s, missing))
    got = attempt(lambda s: call(s, foreign))
    assert want is not None, f"a nonexistent id ({missing!r}) was not refused"
    assert got is not None, (
        f"another team's {foreign!r} was accepted, although a nonexistent id was refused: {want}"
    )
    assert (type(got), str(got)) == (type(want), str(want).replace(repr(missing), repr(foreign))), (
        f"refusal differs from a nonexistent id's: {type(got).__name__}({got}) vs {type(want).__name__}({want})"
    )
    # Beyond echoing what the caller asked for, the words must name nothing of team A.
    assert SECRET not in str(got).replace(repr(foreign), "").lower(), (
        f"the refusal names team A's data: {got}"
    )
    assert snapshot(world) == before, "a refused call changed something"
    return got


def lists_nothing_of_a(
    world: World, listing: Callable[[Session, Actor], tuple[int | None, list[int]]]
) -> None:
    """``listing(session, actor)`` → (count or None, owning team id of every row listed)."""
    before = snapshot(world)
    with read_session() as s:
        count, owners = listing(s, world.eve)
        own_count, own_owners = listing(s, world.alice)
    assert world.team_a not in owners, f"the outsider's list holds team A's rows: {owners}"
    assert count is None or count == len(owners), (
        f"the count ({count}) reveals rows not listed ({len(owners)})"
    )
    assert world.team_a in own_owners, "positive control: team A's own admin does not see its rows"
    assert own_count is None or own_count == len(own_owners)
    assert snapshot(world) == before


def admin_only(world: World, call: Callable[[Session, Actor], object]) -> None:
    before = snapshot(world)
    for actor in (world.alice, world.eve):  # team admins, not superusers
        error = attempt(lambda s, a=actor: call(s, a))  # type: ignore[misc]
        assert isinstance(error, PermissionDeniedError), f"{actor.username}: {type(error).__name__}: {error}"
    assert snapshot(world) == before
    succeeds(lambda s: call(s, world.root))


def service_functions() -> dict[str, Callable[..., Any]]:
    """``module.function`` → function, for every public function defined in a catalog/services module (importing
    them all also fills ``catalog.scoping.REQUIRED``)."""
    import catalog.services

    found = {}
    for info in pkgutil.iter_modules(catalog.services.__path__):
        module = importlib.import_module(f"catalog.services.{info.name}")
        for name, fn in inspect.getmembers(module, inspect.isfunction):
            if fn.__module__ == module.__name__ and not name.startswith("_"):
                found[f"{info.name}.{name}"] = fn
    return found


def parameters(fn: Callable[..., Any]) -> set[str]:
    return set(inspect.signature(fn).parameters)


def edge_references() -> set[str]:
    """``module.function`` of every catalog service referenced from the edges' source (static, by AST)."""
    refs: set[str] = set()
    files = [
        p
        for edge in EDGES
        for p in ((ROOT / edge).rglob("*.py") if (ROOT / edge).is_dir() else [ROOT / edge])
    ]
    for path in files:
        tree = ast.parse(path.read_text(), filename=str(path))
        aliases: dict[str, str] = {}
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module == "catalog.services":
                aliases.update({a.asname or a.name: a.name for a in node.names})
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("catalog.services."):
                refs.update(f"{node.module.rsplit('.', 1)[1]}.{a.name}" for a in node.names)  # type: ignore[union-attr]
            elif isinstance(node, ast.Import):
                aliases.update(
                    {
                        a.asname: a.name.rsplit(".", 1)[1]
                        for a in node.names
                        if a.asname and a.name.startswith("catalog.services.")
                    }
                )
        refs.update(
            f"{aliases[n.value.id]}.{n.attr}"
            for n in ast.walk(tree)
            if isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name) and n.value.id in aliases
        )
    return refs


def not_called_by_edges(name: str) -> None:
    assert name not in edge_references(), (
        f"{name} takes ids without an actor, yet a user-facing edge calls it: give it an actor and scope it"
    )
