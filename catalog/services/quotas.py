"""Quotas per team: what a team's subtree uses, the quotas that apply to a team (its own and every ancestor's),
setting a team's limits (administrators), and the checks: the edges' pre-checks (a fast, clear refusal before
anything is launched or stored) and the claims' (authoritative: in the transaction that records the claim).
The decisions are ``catalog.quota_policy``'s.

What counts:
- trainings: jobs STARTING or RUNNING; servings: servings whose desired state is running (a serving created
  to run holds its place until it is stopped);
- CPUs/memory: what those jobs and servings claimed (``claimed_cpu``/``claimed_memory_mb``, also the
  container's limits); a claim is released when the job ends, fails, is stopped or restored, and when the
  serving is stopped;
- stored bytes: dataset entries, release zips (archived ones too: their zip stays in the object store and can
  be downloaded; a pending or failed release holds none; a publishing one counts its entries' total until its
  zip's size is known), and trained models (``JobRun.model_bytes``, recorded when a run completes).

Race safety of a claim: on PostgreSQL the claim locks the team rows of the chain (the team and its ancestors,
``SELECT … FOR UPDATE`` in id order) before it counts. Two claims whose checks share a quota both lock the team
that quota is set on, so the second counts after the first committed (READ COMMITTED reads afresh per
statement); one order for all rules out deadlocks. On SQLite every write transaction begins IMMEDIATE
(``catalog.db``): the count and the claim of one transaction are serialised with every other writer already.
A chain without a limit on what the claim adds is not locked: claims there have nothing to wait for.

A team the actor may not see reads as missing; the usage of a team's subtree and its ancestors' quotas are
counts and names only (a refusal names the team a quota is set on, which may be an ancestor).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlmodel import Session, col, func, select

from catalog.errors import NotFoundError, QuotaExceededError, ValidationError
from catalog.models import (
    ACTIVE_STATUSES,
    Dataset,
    DatasetEntry,
    DatasetRelease,
    DesiredState,
    JobRun,
    ReleaseStatus,
    Serving,
    Team,
    TrainJob,
)
from catalog.permissions import TeamTree
from catalog.quota_policy import (
    Limits,
    LimitView,
    Link,
    Request,
    Resources,
    TeamUsage,
    Usage,
    container_resources,
    effective,
    refusal,
    relevant,
    start_request,
)
from catalog.scoping import Actor, requires
from catalog.services.audit import audited
from catalog.services.roles import team_tree
from infra.settings import get_settings
from mlops_lite.schemas.quotas import QUOTAS

__all__ = ["LimitView", "Limits", "Request", "Resources", "TeamUsage", "Usage"]

# The Team column of each quota.
COLUMNS: dict[str, str] = {q: f"max_{q}" for q in QUOTAS}


def _limits(team: Team) -> Limits:
    return Limits(**{q: getattr(team, COLUMNS[q]) for q in QUOTAS})


def _sum(value: Any) -> Any:
    return func.coalesce(func.sum(value), 0)


def _usage(session: Session, team_ids: Sequence[int]) -> Usage:
    """What the teams ``team_ids`` hold now, summed (see the module docstring)."""
    ids = sorted(team_ids)
    jobs = session.exec(
        select(func.count(), _sum(TrainJob.claimed_cpu), _sum(TrainJob.claimed_memory_mb)).where(
            col(TrainJob.team_id).in_(ids), col(TrainJob.status).in_([str(s) for s in ACTIVE_STATUSES])
        )
    ).one()
    servings = session.exec(
        select(func.count(), _sum(Serving.claimed_cpu), _sum(Serving.claimed_memory_mb)).where(
            col(Serving.team_id).in_(ids), Serving.desired_state == DesiredState.RUNNING.value
        )
    ).one()
    owned = select(Dataset.id).where(col(Dataset.team_id).in_(ids))
    entries = session.exec(
        select(_sum(DatasetEntry.size_bytes)).where(col(DatasetEntry.dataset_id).in_(owned))
    ).one()
    zips = session.exec(
        select(_sum(DatasetRelease.size_bytes)).where(col(DatasetRelease.dataset_id).in_(owned))
    ).one()
    # A zip being built: its entries' total stands in for it, so two publishes cannot both take the room.
    building = session.exec(
        select(DatasetRelease.entries).where(
            col(DatasetRelease.dataset_id).in_(owned),
            DatasetRelease.status == ReleaseStatus.PUBLISHING.value,
            col(DatasetRelease.size_bytes).is_(None),
        )
    ).all()
    models = session.exec(
        select(_sum(JobRun.model_bytes)).where(
            col(JobRun.job_id).in_(select(TrainJob.id).where(col(TrainJob.team_id).in_(ids)))
        )
    ).one()
    return Usage(
        trainings=int(jobs[0]),
        servings=int(servings[0]),
        stored_bytes=int(entries) + int(zips) + int(models) + sum(frozen_size(e) for e in building),
        cpus=float(jobs[1]) + float(servings[1]),
        memory_mb=int(jobs[2]) + int(servings[2]),
    )


def frozen_size(entries: Sequence[dict[str, Any]] | None) -> int:
    """The total of a release's frozen entries (what its zip will about take)."""
    return sum(int(e.get("size_bytes") or 0) for e in entries or [])


def _chain(session: Session, team_id: int, *, lock: bool) -> tuple[list[Team], TeamTree]:
    """The team and its ancestors (the team first), locked on PostgreSQL when ``lock``."""
    tree, _ = team_tree(session)
    ids = [team_id, *tree.ancestors(team_id)]
    stmt = select(Team).where(col(Team.id).in_(ids)).execution_options(populate_existing=True)
    if lock:
        stmt = stmt.order_by(col(Team.id)).with_for_update()  # SQLite: no FOR UPDATE (see the docstring)
    found = {t.id: t for t in session.exec(stmt).all()}
    return [found[i] for i in ids if i in found], tree


def _links(session: Session, team_id: int, request: Request, *, lock: bool) -> list[Link]:
    """The chain with the use of each subtree that has a limit on what ``request`` adds (counted under the
    lock when ``lock`` and some limit applies)."""
    chain, tree = _chain(session, team_id, lock=False)
    if not any(relevant(_limits(t), request) for t in chain):
        return []
    if lock:
        chain, tree = _chain(session, team_id, lock=True)
    return [
        (
            t.name,
            _limits(t),
            _usage(session, tree.subtree(t.id)) if relevant(_limits(t), request) else Usage(),
        )
        for t in chain
        if t.id is not None
    ]


def _refuse(session: Session, team_id: int, request: Request, *, lock: bool) -> None:
    problem = refusal(_links(session, team_id, request, lock=lock), request)
    if problem is not None:
        raise QuotaExceededError(problem)


# ---------------------------------------------------------------- containers


def resources(session: Session, *, row: TrainJob | Serving) -> Resources:
    """The CPUs and memory a job's or serving's container asks for (``quota_policy.container_resources``):
    its own limits, else the runtime's, else the quota defaults when a CPU or memory quota applies."""
    chain, _ = _chain(session, row.team_id, lock=False)
    runtime = get_settings().runtime
    return container_resources(
        cpus=row.cpu_limit,
        memory_mb=row.memory_limit_mb,
        runtime_cpus=runtime.cpu_limit,
        runtime_memory_mb=runtime.memory_limit_mb,
        cpu_quota=any(t.max_cpus is not None for t in chain),
        memory_quota=any(t.max_memory_mb is not None for t in chain),
        default_cpus=runtime.default_cpus,
        default_memory_mb=runtime.default_memory_mb,
    )


def _kind(row: TrainJob | Serving) -> str:
    return "trainings" if isinstance(row, TrainJob) else "servings"


def precheck(session: Session, *, row: TrainJob | Serving) -> Resources:
    """An edge's check before it launches a start of ``row`` (read through scoping by its caller): refuses
    (QuotaExceededError) what would exceed a quota now. Not locked: the start's claim decides."""
    wanted = resources(session, row=row)
    _refuse(session, row.team_id, start_request(_kind(row), wanted), lock=False)
    return wanted


def _holds(row: TrainJob | Serving) -> bool:
    if isinstance(row, TrainJob):
        return row.status in ACTIVE_STATUSES
    return row.desired_state == DesiredState.RUNNING


def claim(session: Session, *, row: TrainJob | Serving) -> Resources | None:
    """The check of a start's claim, in the claim's transaction: takes the lock on the team chain (when a limit
    applies to what the start adds), re-reads ``row`` (a claim that held the lock first may have started it:
    then None, and the caller's conditional update finds it started), then refuses (QuotaExceededError) a
    start that would exceed a quota. Returns the resources the caller records as claimed. A ``row`` not yet
    in the database (a serving being created) is checked as it is."""
    wanted = resources(session, row=row)
    request = start_request(_kind(row), wanted)
    chain, _ = _chain(session, row.team_id, lock=False)
    limited = any(relevant(_limits(t), request) for t in chain)
    if limited:
        _chain(session, row.team_id, lock=True)
    if row.id is not None:
        session.refresh(row)
        if _holds(row):
            return None
    if limited:
        _refuse(session, row.team_id, request, lock=False)  # counted under the lock just taken
    return wanted


# ---------------------------------------------------------------- stored bytes


def require_storage(session: Session, *, team_id: int, size: int, lock: bool = True) -> None:
    """Refuse (QuotaExceededError) storing ``size`` more bytes for ``team_id``: under the chain lock in the
    transaction that records them (``lock``), or as a pre-check."""
    if size > 0:
        _refuse(session, team_id, Request(stored_bytes=int(size)), lock=lock)


@dataclass(frozen=True, slots=True)
class Room:
    """The stored-bytes quotas over a team as read once, to check a stream's size as it grows without a
    database read per block (``api.uploads``); ``check`` raises QuotaExceededError."""

    chain: tuple[Link, ...]

    def check(self, size: int) -> None:
        problem = refusal(self.chain, Request(stored_bytes=int(size)))
        if problem is not None:
            raise QuotaExceededError(problem)


@requires("datasets:write")
def storage_room(session: Session, *, actor: Actor, dataset_id: int) -> Room:
    """The stored-bytes quotas that bound an upload into the dataset (scoped: another team's dataset reads as
    missing)."""
    from catalog.services.datasets import get_dataset

    dataset = get_dataset(session, actor=actor, dataset_id=dataset_id)
    return Room(tuple(_links(session, dataset.team_id, Request(stored_bytes=1), lock=False)))


def record_model_bytes(session: Session, *, run_id: str, size: int) -> None:
    """The size of the model a run logged (counted in its team's stored bytes)."""
    run = session.get(JobRun, run_id)
    if run is not None:
        run.model_bytes = max(int(size), 0)
        session.add(run)


# ---------------------------------------------------------------- usage and limits


def _team_usage(session: Session, team: Team) -> TeamUsage:
    chain, tree = _chain(session, int(team.id or 0), lock=False)
    links = [
        (int(t.id or 0), t.name, _limits(t), _usage(session, tree.subtree(int(t.id or 0))))
        for t in chain
        if t.id == team.id or _limits(t).set()
    ]
    return TeamUsage(
        team_id=int(team.id or 0),
        team_name=team.name,
        usage=links[0][3],
        limits=_limits(team),
        effective=effective(links),
    )


def team_usage(session: Session, *, actor: Actor, team_id: int) -> TeamUsage:
    """The team's usage (its subtree), its own limits and every quota that applies to it; any team the actor
    sees (another reads as missing)."""
    team = session.get(Team, team_id)
    if team is None or not actor.can_see_team(team.id):
        raise NotFoundError("team", team_id)
    return _team_usage(session, team)


@requires("admin:*")
def set_quota(session: Session, *, actor: Actor, team_id: int, **limits: float | None) -> TeamUsage:
    """Set the team's own limits (administrators): each quota named in ``limits`` (``trainings``, ``servings``,
    ``stored_bytes``, ``cpus``, ``memory_mb``) takes its value, None removing it; the others are kept. A limit
    below the current use refuses what comes next, and stops nothing that runs."""
    actor.require_superuser("set quotas")
    team = session.get(Team, team_id)
    if team is None:
        raise NotFoundError("team", team_id)
    with audited(
        session, actor=actor, action="team.set_quota", resource_type="team", team_id=team.id
    ) as info:
        info["resource_id"] = team.id
        unknown = sorted(set(limits) - set(QUOTAS))
        if unknown:
            raise ValidationError(f"unknown quota {unknown[0][:40]!r}; quotas: {', '.join(QUOTAS)}")
        for quota, value in limits.items():
            if value is not None and not (
                0 <= value < float("inf") and (quota == "cpus" or value == int(value))
            ):
                kind = "a number" if quota == "cpus" else "a whole number"
                raise ValidationError(f"quota {quota} must be {kind}, 0 or more (or none), got {value!r}")
            setattr(team, COLUMNS[quota], value if value is None or quota == "cpus" else int(value))
        session.add(team)
        session.flush()
        info["detail"] = {"limits": {q: getattr(team, COLUMNS[q]) for q in QUOTAS}}
    return _team_usage(session, team)
