"""The isolation matrix: every public function of every module in ``catalog/services`` has an entry here, and
each entry checks, against real servers (S3 for job configs, MLflow for runs), that an actor of another team
is refused exactly like a request for something that does not exist, and learns nothing — or says why the
function is not team-scoped and checks what protects it instead. A new service function without an entry
fails ``test_every_service_function_has_an_entry``, by name.

Kinds: ``scoped`` (one resource by id), ``list`` (filtered rows and counts), ``admin`` (superusers only),
``login`` (who is asking is not known yet), ``global`` (no team data: pure helpers, the shared algorithm
catalog), ``row`` (takes a row its caller already read through scoping; no ids), ``system`` (ids without an
actor, for flows after a scoped claim; no user-facing edge may call it), ``operator`` (run on the platform
host by whoever owns the database).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from sqlmodel import Session, SQLModel, select

from catalog.db import read_session, session_scope
from catalog.errors import PermissionDeniedError
from catalog.models import AlgorithmConfig, DesiredState, JobStatus, TrainJob
from catalog.scoping import SYSTEM, Actor
from catalog.services import (
    algorithms,
    audit,
    common,
    custom_jobs,
    datasets,
    job_config,
    model_lineage,
    model_promotion,
    models,
    modules,
    names,
    quotas,
    releases,
    roles,
    rollouts,
    runs,
    serving,
    team_tree,
    teams,
    tokens,
    traffic,
    training,
)
from catalog.services import init as init_service
from catalog.services.common import transition
from infra.net import port_is_free
from infra.settings import get_settings
from mlops_lite.schemas.rollouts import StartRollout
from tests.catalog.isolation_world import (
    MISSING,
    MISSING_RUN,
    PASSWORD,
    SECRET,
    World,
    add_rollout,
    add_runs,
    admin_only,
    attempt,
    edge_references,
    lists_nothing_of_a,
    not_called_by_edges,
    parameters,
    refused_like_missing,
    service_functions,
    succeeds,
)

pytestmark = pytest.mark.platform_servers("s3", "mlflow")


@pytest.fixture(autouse=True)
def _custom_jobs_on_the_process_runtime(
    monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    """The world runs on the process runtime, which refuses custom jobs unless told (their entry creates one)."""
    from infra.settings import reset_settings

    if "platform_env" in request.fixturenames:
        request.getfixturevalue("platform_env")
    monkeypatch.setenv("MLOPS_TRAIN_CUSTOM_JOBS_ON_PROCESS", "true")
    reset_settings()


@dataclass(frozen=True)
class Entry:
    kind: str
    check: Callable[[World], None]
    why: str = ""
    mlflow: bool = False


# ---------------------------------------------------------------- entry builders


def scoped(
    *checks: Callable[[World], object], control: Callable[[World], Callable[[Session], object]]
) -> Entry:
    def check(w: World) -> None:
        for refusal in checks:
            refusal(w)
        succeeds(control(w))

    return Entry("scoped", check)


def listing(call: Callable[[Session, Actor, World], tuple[int | None, list[int]]]) -> Entry:
    return Entry("list", lambda w: lists_nothing_of_a(w, lambda s, actor: call(s, actor, w)))


@dataclass(frozen=True)
class W:
    """A filter value taken from the world (e.g. ``W("team_a")``: team A's id)."""

    attr: str


def paged(fn: Callable[..., tuple[int, list[Any]]], *filters: dict[str, Any], via: str = "team_id") -> Entry:
    """A paged list ``(count, rows)``, unfiltered and with each of ``filters`` (keyword → value or ``W``). A
    filter on team A (``team_id``, with or without ``include_children``) is refused for the outsider exactly
    like a team that does not exist, and lists team A's rows, only, for its admin."""

    def check(w: World) -> None:
        for given in ({}, *filters):
            kwargs = {k: getattr(w, v.attr) if isinstance(v, W) else v for k, v in given.items()}
            if kwargs.get("team_id") == w.team_a:
                others = {k: v for k, v in kwargs.items() if k != "team_id"}
                refused_like_missing(w, lambda s, i, kw=others: fn(s, actor=w.eve, team_id=i, **kw), w.team_a)
                with read_session() as s:
                    count, rows = fn(s, actor=w.alice, **kwargs)
                    owners = teams_of(rows, w, via)
                assert set(owners) == {w.team_a} and count == len(owners), kwargs
                continue

            def listed(s: Session, a: Actor, kw: dict[str, Any] = kwargs) -> tuple[int | None, list[int]]:
                count, rows = fn(s, actor=a, **kw)
                return count, teams_of(rows, w, via)

            lists_nothing_of_a(w, listed)

    return Entry("list", check)


def admin(call: Callable[[Session, Actor], object]) -> Entry:
    return Entry("admin", lambda w: admin_only(w, call))


def system(name: str, why: str) -> Entry:
    def check(_w: World) -> None:
        not_called_by_edges(name)

    return Entry("system", check, why)


def global_(name: str, why: str, call: Callable[[Session], object]) -> Entry:
    """No actor, and what it returns holds no row of any team."""

    def check(_w: World) -> None:
        fn = service_functions()[name]
        assert "actor" not in parameters(fn)
        with read_session() as s:
            result = call(s)
        rows = result if isinstance(result, list) else [result]
        assert all(not isinstance(r, SQLModel) or isinstance(r, AlgorithmConfig) for r in rows), rows

    return Entry("global", check, why)


def row(name: str, why: str) -> Entry:
    def check(_w: World) -> None:
        params = parameters(service_functions()[name])
        assert "actor" not in params and not any(p.endswith(("_id", "_ids")) for p in params), params

    return Entry("row", check, why)


SCN = "anomaly_detection"


def teams_of(rows: list[Any], w: World, via: str = "team_id") -> list[int]:
    if via == "dataset":  # entries and releases belong to their dataset's team
        return [w.team_a if r.dataset_id == w.dataset_a else w.team_b for r in rows]
    return [getattr(r, via) for r in rows]


def run_op(op: Callable[..., object], **extra: object) -> Entry:
    """A runs API call: another team's job, and another team's run through the outsider's own job."""

    def check(w: World) -> None:
        refused_like_missing(w, lambda s, i: op(actor=w.eve, job_id=i, run_id=w.run_a, **extra), w.job_a)
        refused_like_missing(
            w, lambda s, i: op(actor=w.eve, job_id=w.job_b, run_id=i, **extra), w.run_a, MISSING_RUN
        )
        # A member of both teams cannot reach A's run through B's job either.
        refused_like_missing(
            w, lambda s, i: op(actor=w.bob, job_id=w.job_b, run_id=i, **extra), w.run_a, MISSING_RUN
        )
        succeeds(lambda s: op(actor=w.alice, job_id=w.job_a, run_id=w.run_a, **extra))

    return Entry("scoped", check, mlflow=True)


def ref(call: Callable[[Session, Any, World], object], attr: str) -> Callable[[World], object]:
    """A refusal check: ``call(session, ident, world)`` with team A's ``attr`` against a nonexistent id."""
    return lambda w: refused_like_missing(w, lambda s, i: call(s, i, w), getattr(w, attr))


# ---------------------------------------------------------------- checks that fit no builder


def check_running_jobs_of(w: World) -> None:
    with session_scope() as s:
        for job_id in (w.job_a, w.job_b):
            assert transition(
                s, TrainJob, job_id, from_statuses=(JobStatus.COMPLETED,), to_status=JobStatus.RUNNING
            )
        ecod = algorithms.get_algorithm(s, scenario=SCN, name="ECOD").id
    lists_nothing_of_a(
        w, lambda s, a: (None, teams_of(algorithms.running_jobs_of(s, actor=a, algorithm_id=ecod), w))
    )


def check_page_releases(w: World) -> None:
    paged(
        releases.page_releases,
        {"team_id": W("team_a")},
        {"team_id": W("team_a"), "include_children": True},
        {"search": SECRET},
        {"scenario": SCN},
        via="dataset",
    ).check(w)
    refused_like_missing(w, lambda s, i: releases.page_releases(s, actor=w.eve, dataset_id=i), w.dataset_a)


def named(
    call: Callable[[Session, Actor, World], dict[Any, str]], pairs: Callable[[World], dict[Any, int]]
) -> Entry:
    """A name lookup: every key it names, by its owning team (``pairs``: team A's and B's keys → team)."""
    return listing(lambda s, a, w: (None, [pairs(w)[key] for key in call(s, a, w)]))


def a_and_b(attr: str) -> Callable[[World], dict[Any, int]]:
    """Team A's and team B's row of a kind (``dataset``, ``job``…) → its team."""
    return lambda w: {getattr(w, f"{attr}_a"): w.team_a, getattr(w, f"{attr}_b"): w.team_b}


def models_of_a_and_b(w: World) -> dict[Any, int]:
    """The models team A's and team B's jobs register versions in → the owning team."""
    with read_session() as s:
        return {s.get(TrainJob, job).model_id: team for job, team in a_and_b("job")(w).items()}  # type: ignore[union-attr]


def audited_resources(w: World) -> dict[Any, int]:
    """``(resource_type, id)`` of both teams' rows as audit events record them → the owning team."""
    kinds = {
        "dataset": "dataset",
        "dataset_entry": "entry",
        "dataset_release": "release",
        "train_job": "job",
        "serving": "serving",
        "team": "team",
    }
    owned = {(kind, str(i)): team for kind, attr in kinds.items() for i, team in a_and_b(attr)(w).items()}
    return owned | {("user", str(w.alice_id)): w.team_a, ("user", str(w.eve_id)): w.team_b}


def check_list_runs(w: World) -> None:
    refused_like_missing(w, lambda s, i: runs.list_runs(actor=w.eve, job_id=i), w.job_a)
    assert w.run_a not in [
        r["run_id"] for r in runs.list_runs(actor=w.eve, job_id=w.job_b, include_deleted=True)
    ]
    assert [r["run_id"] for r in runs.list_runs(actor=w.alice, job_id=w.job_a)] == [w.run_a]


def check_actor_from_context(w: World) -> None:
    def resolve(**context: object) -> Any:
        with read_session() as s:
            return modules.actor_from_context(s, actor_context=context)

    # Claims can only narrow: eve claiming team A (and superuser) is eve claiming a team that does not exist.
    claimed = resolve(username="eve", team_ids=[w.team_a, w.team_b], is_superuser=True)
    assert claimed == resolve(username="eve", team_ids=[MISSING, w.team_b], is_superuser=True)
    assert not claimed.can_see_team(w.team_a) and not claimed.is_superuser
    assert not resolve(username="ghost", team_ids=[w.team_a]).can_see_team(w.team_a)
    assert resolve(username="alice").can_see_team(w.team_a)


def check_module_data(w: World) -> None:
    def call(s: Session, team: object, module: str, who: str = "eve") -> object:
        actor = modules.actor_from_context(s, actor_context={"username": who})
        return modules.module_data(
            s,
            actor=actor,
            module=module,
            child_module=SCN,
            page=1,
            page_size=50,
            group_id=team,
            max_page_size=500,
        )

    for module in modules.MODULES:
        refused_like_missing(w, lambda s, i, m=module: call(s, i, m), w.team_a)  # type: ignore[misc]
        with read_session() as s:
            assert call(s, w.team_a, module, "alice")["count"] == 1  # type: ignore[index]


def check_authenticate(w: World) -> None:
    wrong = attempt(lambda s: teams.authenticate(s, username="alice", password="eve's guess"))
    unknown = attempt(lambda s: teams.authenticate(s, username="nobody", password="eve's guess"))
    assert isinstance(wrong, PermissionDeniedError) and (type(wrong), str(wrong)) == (
        type(unknown),
        str(unknown),
    )
    succeeds(lambda s: teams.authenticate(s, username="alice", password=PASSWORD))


def check_initialize(w: World) -> None:
    # Re-running `mlops init` with another password never takes over an existing admin.
    init_service.initialize(admin_password="first admin pass", echo=lambda _line: None)
    init_service.initialize(admin_password="second admin pass", echo=lambda _line: None)
    succeeds(lambda s: teams.authenticate(s, username="admin", password="first admin pass"))
    assert isinstance(
        attempt(lambda s: teams.authenticate(s, username="admin", password="second admin pass")),
        PermissionDeniedError,
    )


def check_get_user(w: World) -> None:
    refused_like_missing(w, lambda s, i: teams.get_user(s, user_id=i, actor=w.eve), w.alice_id)
    refused_like_missing(w, lambda s, i: teams.get_user(s, username=i, actor=w.eve), "alice", "ghost")
    succeeds(lambda s: teams.get_user(s, user_id=w.alice_id, actor=w.alice))


def check_get_team(w: World) -> None:
    refused_like_missing(w, lambda s, i: teams.get_team(s, team_id=i, actor=w.eve), w.team_a)
    refused_like_missing(w, lambda s, i: teams.get_team(s, name=i, actor=w.eve), "secret-a", "no-such-team")
    succeeds(lambda s: teams.get_team(s, name="secret-a", actor=w.alice))


def check_list_roles(w: World) -> None:
    with read_session() as s:
        listed = roles.list_roles(s, actor=w.eve)
    assert {"viewer", "member", "maintainer", "admin"} <= {r.name for r in listed}
    assert not any(isinstance(r, SQLModel) for r in listed)


def _fresh(s: Session, username: str) -> Actor:
    """The user's actor now (the world's actors were built before the sub-teams a check creates)."""
    return teams.actor_for(s, username=username)


def check_create_team(w: World) -> None:
    # Under team A: refused for the outsider like under a team that does not exist.
    refused_like_missing(
        w, lambda s, i: team_tree.create_team(s, actor=w.eve, name="intruder", parent_id=i), w.team_a
    )
    # At the top level: administrators only (team admins are refused, nothing stored).
    admin_only(w, lambda s, a: team_tree.create_team(s, actor=a, name="new-top"))
    succeeds(lambda s: team_tree.create_team(s, actor=w.alice, name="a-sub", parent_id=w.team_a))


def check_move_team(w: World) -> None:
    refused_like_missing(
        w, lambda s, i: team_tree.move_team(s, actor=w.eve, team_id=i, parent_id=None), w.team_a
    )
    # A sub-team eve manages, moved under team A: the parent reads as nonexistent.
    with session_scope() as s:
        b_sub = team_tree.create_team(s, actor=w.eve, name="b-sub", parent_id=w.team_b).id
    refused_like_missing(
        w, lambda s, i: team_tree.move_team(s, actor=_fresh(s, "eve"), team_id=b_sub, parent_id=i), w.team_a
    )
    # Team A's admin may not move team A itself (its place is the top level's: administrators').
    assert isinstance(
        attempt(lambda s: team_tree.move_team(s, actor=w.alice, team_id=w.team_a, parent_id=w.team_b)),
        PermissionDeniedError,
    )

    def control(s: Session) -> None:
        x = team_tree.create_team(s, actor=w.alice, name="a-x", parent_id=w.team_a)
        y = team_tree.create_team(s, actor=w.alice, name="a-y", parent_id=w.team_a)
        moved = team_tree.move_team(s, actor=_fresh(s, "alice"), team_id=y.id, parent_id=x.id)  # type: ignore[arg-type]
        assert moved.parent_id == x.id

    succeeds(control)


def check_delete_team(w: World) -> None:
    refused_like_missing(w, lambda s, i: team_tree.delete_team(s, actor=w.eve, team_id=i), w.team_a)
    assert isinstance(
        attempt(lambda s: team_tree.delete_team(s, actor=w.alice, team_id=w.team_a)), PermissionDeniedError
    )

    def control(s: Session) -> None:
        sub = team_tree.create_team(s, actor=w.alice, name="a-gone", parent_id=w.team_a)
        team_tree.delete_team(s, actor=_fresh(s, "alice"), team_id=sub.id)  # type: ignore[arg-type]

    succeeds(control)


def _archive_then_restore(w: World, s: Session) -> None:
    releases.archive_release(s, actor=w.alice, release_id=w.release_a)
    releases.restore_release(s, actor=w.alice, release_id=w.release_a)


# ---------------------------------------------------------------- the matrix

NOT_EDGE = "called by flows/tasks with ids from a claim they made through a scoped call; takes no actor"


def start_a_rollout(w: World) -> Callable[[Session], object]:
    """The positive control of start_rollout: team A's serving running version 1, a version 2 recorded, a
    roll-out of it started by A's admin, then put back (aborted, the serving as it was)."""
    from catalog.models import JobRun, ModelVersion, Serving

    def call(s: Session) -> object:
        serving_row = s.get(Serving, w.serving_a)
        assert serving_row is not None
        before = (serving_row.observed_state, serving_row.resolved_version)
        serving_row.observed_state, serving_row.resolved_version = "running", "1"
        s.add(serving_row)
        known = s.exec(
            select(ModelVersion).where(ModelVersion.model_id == w.model_a, ModelVersion.version == 2)
        ).first()
        if known is None:
            run_id = "isolation-rollout-v2".ljust(32, "0")
            s.add(JobRun(run_id=run_id, job_id=w.job_a, experiment_id="0"))
            s.flush()
            models.record_versions(
                s, job_id=w.job_a, versions=[models.RegisteredVersion(2, run_id, "FINISHED", {}, {})]
            )
        started = rollouts.start_rollout(
            s, actor=w.alice, serving_id=w.serving_a, request=StartRollout(canary="2")
        )
        rollouts.control_rollout(s, actor=w.alice, rollout_id=started.id, action="abort")  # type: ignore[arg-type]
        serving_row.observed_state, serving_row.resolved_version = before
        s.add(serving_row)
        return started

    return call


def abort_a_rollout(w: World) -> Callable[[Session], object]:
    """The positive control of control_rollout: A's admin aborts a running roll-out of team A's serving."""

    def call(s: Session) -> object:
        rid = add_rollout(s, w.serving_a, status="running")
        return rollouts.control_rollout(s, actor=w.alice, rollout_id=rid, action="abort")

    return call


def check_find_model(w: World) -> None:
    """By name: the outsider finds nothing of team A (by name, or asking in team A), like a missing name."""
    with read_session() as s:
        name = models.get_model(s, actor=w.alice, model_id=w.model_a).name
    # By name, the message quotes the name asked for (the caller's own words, so the usual check that a refusal
    # names nothing of team A cannot apply): it must read exactly as for a name no model has.
    got, want = (
        attempt(lambda s, n=n: models.find_model(s, actor=w.eve, name=n)) for n in (name, "no-such-model")
    )
    assert (type(got), str(got)) == (type(want), str(want).replace("no-such-model", name)), (got, want)
    in_a, in_missing = (
        attempt(lambda s, t=t: models.find_model(s, actor=w.eve, name=name, team_id=t))
        for t in (w.team_a, MISSING)
    )
    assert (type(in_a), str(in_a)) == (
        type(in_missing),
        str(in_missing).replace(str(MISSING), str(w.team_a)),
    ), (
        in_a,
        in_missing,
    )
    succeeds(lambda s: models.find_model(s, actor=w.alice, name=name))


def _rolled_back(s: Session, w: World) -> object:
    """Two champions in a row by hand, then a rollback (the control needs a champion to go back to)."""
    from catalog.models import ModelVersion

    first = s.exec(select(ModelVersion).where(ModelVersion.model_id == w.model_a)).first()
    assert first is not None
    s.add(ModelVersion(model_id=w.model_a, version=2, run_id=first.run_id, job_id=first.job_id))
    s.flush()
    model_promotion.set_alias(s, actor=w.alice, model_id=w.model_a, alias="champion", version=1)
    model_promotion.set_alias(s, actor=w.alice, model_id=w.model_a, alias="champion", version=2)
    return model_promotion.rollback(s, actor=w.alice, model_id=w.model_a)


def free_serving_port() -> int:
    """A port of the serving range that binds now (the service refuses others)."""
    lo, hi = get_settings().runtime.port_range
    return next(p for p in range(hi, lo - 1, -1) if port_is_free(p, get_settings().runtime.serving_host))


MATRIX: dict[str, Entry] = {
    # algorithms: a catalog shared by every team; reading is open, changing is for administrators
    "algorithms.list_algorithms": global_(
        "algorithms.list_algorithms",
        "the algorithm catalog is shared by every team",
        lambda s: algorithms.list_algorithms(s),
    ),
    "algorithms.get_algorithm": global_(
        "algorithms.get_algorithm",
        "the algorithm catalog is shared",
        lambda s: algorithms.get_algorithm(s, scenario=SCN, name="ECOD"),
    ),
    "algorithms.get_algorithm_by_id": global_(
        "algorithms.get_algorithm_by_id",
        "the algorithm catalog is shared",
        lambda s: algorithms.get_algorithm_by_id(s, algorithm_id=1),
    ),
    "algorithms.running_jobs_of": Entry("list", check_running_jobs_of),
    "algorithms.set_enabled": admin(
        lambda s, a: algorithms.set_enabled(s, actor=a, scenario=SCN, name="ECOD", enabled=False)
    ),
    "algorithms.update_form_config": admin(
        lambda s, a: algorithms.update_form_config(
            s,
            actor=a,
            algorithm_id=algorithms.get_algorithm(s, scenario=SCN, name="ECOD").id,
            form_config=algorithms.get_algorithm(s, scenario=SCN, name="ECOD").form_config,
            search_space=None,
        )
    ),
    # audit
    "audit.record": system("audit.record", "writes the record of a call the service has already checked"),
    "audit.audited": system("audit.audited", "wraps a service call that has already checked its actor"),
    "audit.record_refusal": system(
        "audit.record_refusal", "records the refusal of a call catalog.scoping.requires already refused"
    ),
    # roles: definitions are shared by every team; grants are computed for the actor being built
    "roles.role_defs": global_(
        "roles.role_defs",
        "role definitions are shared by every team",
        lambda s: list(roles.role_defs(s, ["member"]).values()),
    ),
    "roles.require_role": global_(
        "roles.require_role",
        "role definitions are shared by every team",
        lambda s: roles.require_role(s, "viewer"),
    ),
    "roles.team_tree": system("roles.team_tree", "the team tree an Actor is built from (teams.actor_for)"),
    "roles.list_roles": Entry(
        "global",
        check_list_roles,
        "role definitions are shared by every team (anyone signed in picks roles for members)",
    ),
    "roles.create_role": admin(
        lambda s, a: roles.create_role(s, actor=a, name="steward", permissions=["datasets:*"])
    ),
    "roles.update_role": admin(
        lambda s, a: (
            roles.create_role(s, actor=SYSTEM, name="steward", permissions=["datasets:read"]),
            roles.update_role(s, actor=a, name="steward", permissions=["datasets:*"]),
        )
    ),
    "roles.delete_role": admin(
        lambda s, a: (
            roles.create_role(s, actor=SYSTEM, name="steward", permissions=["datasets:read"]),
            roles.delete_role(s, actor=a, name="steward"),
        )
    ),
    "roles.grants_of": system("roles.grants_of", "the grants an Actor is built from (teams.actor_for)"),
    "audit.list_events": paged(
        audit.list_events, {"team_id": W("team_a")}, {"team_id": W("team_a"), "include_children": True}
    ),
    # common helpers
    "common.check_name": global_(
        "common.check_name", "validates a string; reads nothing", lambda s: common.check_name("ok")
    ),
    "common.transition": system(
        "common.transition", "the conditional UPDATE under every status change; " + NOT_EDGE
    ),
    "common.page": system("common.page", "counts and pages a statement its caller already scoped"),
    # datasets
    "datasets.create_dataset": scoped(
        ref(
            lambda s, i, w: datasets.create_dataset(s, actor=w.eve, team_id=i, scenario=SCN, name="x"),
            "team_a",
        ),
        control=lambda w: (
            lambda s: datasets.create_dataset(s, actor=w.alice, team_id=w.team_a, scenario=SCN, name="x")
        ),
    ),
    "datasets.get_dataset": scoped(
        ref(lambda s, i, w: datasets.get_dataset(s, actor=w.eve, dataset_id=i), "dataset_a"),
        control=lambda w: lambda s: datasets.get_dataset(s, actor=w.alice, dataset_id=w.dataset_a),
    ),
    "datasets.list_datasets": paged(
        datasets.list_datasets,
        {"team_id": W("team_a")},
        {"team_id": W("team_a"), "include_children": True},
        {"search": SECRET},
    ),
    "datasets.add_entry": scoped(
        ref(
            lambda s, i, w: datasets.add_entry(
                s,
                actor=w.eve,
                dataset_id=i,
                name="x.csv",
                object_key="k",
                size_bytes=1,
                sha256="0" * 64,
                content_type="text/csv",
                summary={},
            ),
            "dataset_a",
        ),
        control=lambda w: (
            lambda s: datasets.add_entry(
                s,
                actor=w.alice,
                dataset_id=w.dataset_a,
                name="x.csv",
                object_key="k",
                size_bytes=1,
                sha256="0" * 64,
                content_type="text/csv",
                summary={},
            )
        ),
    ),
    "datasets.list_entries": scoped(
        ref(lambda s, i, w: datasets.list_entries(s, actor=w.eve, dataset_id=i), "dataset_a"),
        control=lambda w: lambda s: datasets.list_entries(s, actor=w.alice, dataset_id=w.dataset_a),
    ),
    "datasets.get_entry": scoped(
        ref(lambda s, i, w: datasets.get_entry(s, actor=w.eve, entry_id=i), "entry_a"),
        control=lambda w: lambda s: datasets.get_entry(s, actor=w.alice, entry_id=w.entry_a),
    ),
    "datasets.set_entry_flags": scoped(
        ref(lambda s, i, w: datasets.set_entry_flags(s, actor=w.eve, entry_id=i, is_test=True), "entry_a"),
        control=lambda w: (
            lambda s: datasets.set_entry_flags(s, actor=w.alice, entry_id=w.entry_a, is_test=True)
        ),
    ),
    "datasets.entry_in_use": system("datasets.entry_in_use", NOT_EDGE),
    "datasets.page_entries": scoped(
        ref(lambda s, i, w: datasets.page_entries(s, actor=w.eve, dataset_id=i), "dataset_a"),
        control=lambda w: lambda s: datasets.page_entries(s, actor=w.alice, dataset_id=w.dataset_a),
    ),
    # releases
    "releases.create_release": scoped(
        ref(lambda s, i, w: releases.create_release(s, actor=w.eve, dataset_id=i), "dataset_a"),
        # Another team's entry in one's own release reads like an entry that does not exist.
        ref(
            lambda s, i, w: releases.create_release(s, actor=w.eve, dataset_id=w.dataset_b, entry_ids=[i]),
            "entry_a",
        ),
        control=lambda w: lambda s: releases.create_release(s, actor=w.alice, dataset_id=w.dataset_a),
    ),
    "releases.page_releases": Entry("list", check_page_releases),
    "releases.get_release": scoped(
        ref(lambda s, i, w: releases.get_release(s, actor=w.eve, release_id=i), "release_a"),
        control=lambda w: lambda s: releases.get_release(s, actor=w.alice, release_id=w.release_a),
    ),
    "releases.list_releases": scoped(
        ref(lambda s, i, w: releases.list_releases(s, actor=w.eve, dataset_id=i), "dataset_a"),
        control=lambda w: lambda s: releases.list_releases(s, actor=w.alice, dataset_id=w.dataset_a),
    ),
    "releases.claim_publish": scoped(
        ref(lambda s, i, w: releases.claim_publish(s, actor=w.eve, release_id=i), "release_a"),
        control=lambda w: lambda s: releases.claim_publish(s, actor=w.alice, release_id=w.release_a),
    ),
    "releases.mark_published": system("releases.mark_published", NOT_EDGE),
    "releases.mark_failed": system("releases.mark_failed", NOT_EDGE),
    "releases.archive_release": scoped(
        ref(lambda s, i, w: releases.archive_release(s, actor=w.eve, release_id=i), "release_a"),
        control=lambda w: lambda s: releases.archive_release(s, actor=w.alice, release_id=w.release_a),
    ),
    "releases.restore_release": scoped(
        ref(lambda s, i, w: releases.restore_release(s, actor=w.eve, release_id=i), "release_a"),
        control=lambda w: lambda s: _archive_then_restore(w, s),
    ),
    "releases.request_publish": scoped(
        ref(lambda s, i, w: releases.request_publish(s, actor=w.eve, release_id=i), "release_a"),
        control=lambda w: (
            lambda s: releases.request_publish(
                s,
                actor=w.alice,
                release_id=releases.create_release(s, actor=w.alice, dataset_id=w.dataset_a).id,  # type: ignore[arg-type]
            )
        ),
    ),
    "releases.downloadable_release": scoped(
        ref(lambda s, i, w: releases.downloadable_release(s, actor=w.eve, release_id=i), "release_a"),
        control=lambda w: lambda s: releases.downloadable_release(s, actor=w.alice, release_id=w.release_a),
    ),
    "releases.releases_used_by_jobs": system("releases.releases_used_by_jobs", NOT_EDGE),
    "releases.require_usable_release": scoped(
        ref(
            lambda s, i, w: releases.require_usable_release(
                s, actor=w.eve, release_id=i, team_id=w.team_b, scenario=SCN
            ),
            "release_a",
        ),
        # Training needs the release's dataset in the job's team, even for a member of both teams.
        ref(
            lambda s, i, w: releases.require_usable_release(
                s, actor=w.bob, release_id=i, team_id=w.team_b, scenario=SCN
            ),
            "release_a",
        ),
        control=lambda w: (
            lambda s: releases.require_usable_release(
                s, actor=w.alice, release_id=w.release_a, team_id=w.team_a, scenario=SCN
            )
        ),
    ),
    # names for the ids rows hold (what the dashboard's lists show)
    "names.dataset_names": named(
        lambda s, a, w: names.dataset_names(s, actor=a, dataset_ids=[w.dataset_a, w.dataset_b]),
        a_and_b("dataset"),
    ),
    "names.release_labels": named(
        lambda s, a, w: names.release_labels(s, actor=a, release_ids=[w.release_a, w.release_b]),
        a_and_b("release"),
    ),
    "names.job_names": named(
        lambda s, a, w: names.job_names(s, actor=a, job_ids=[w.job_a, w.job_b]), a_and_b("job")
    ),
    "names.team_names": named(
        lambda s, a, w: names.team_names(s, actor=a, team_ids=[w.team_a, w.team_b]), a_and_b("team")
    ),
    "names.model_names": named(
        lambda s, a, w: names.model_names(s, actor=a, model_ids=list(models_of_a_and_b(w))),
        models_of_a_and_b,
    ),
    "names.version_counts": named(
        lambda s, a, w: names.version_counts(s, actor=a, model_ids=list(models_of_a_and_b(w))),  # type: ignore[arg-type, return-value]
        models_of_a_and_b,
    ),
    "names.algorithm_names": global_(
        "names.algorithm_names",
        "the algorithm catalog is shared by every team",
        lambda s: names.algorithm_names(s, algorithm_ids=[1]),
    ),
    "names.resource_names": named(
        lambda s, a, w: names.resource_names(s, actor=a, resources=list(audited_resources(w))),
        audited_resources,
    ),
    # init
    "init.initialize": Entry(
        "operator",
        check_initialize,
        "`mlops init` on the platform host, by whoever owns "
        "the database; it never overwrites an existing admin",
    ),
    # modules (NATS)
    "modules.module_list": global_(
        "modules.module_list", "the same module tree for every caller", lambda s: modules.module_list()
    ),
    "modules.actor_from_context": Entry("scoped", check_actor_from_context),
    "modules.module_data": Entry("scoped", check_module_data),
    # runs (MLflow)
    "runs.list_runs": Entry("scoped", check_list_runs, mlflow=True),
    "runs.run_params": run_op(runs.run_params),
    "runs.metric_names": run_op(runs.metric_names),
    "runs.metric_history": run_op(runs.metric_history),
    "runs.delete_run": run_op(runs.delete_run),
    "runs.restore_run": run_op(runs.restore_run),
    "runs.download_model": run_op(runs.download_model),
    "runs.run_plots": run_op(runs.run_plots),
    # serving
    "serving.container_name_for": global_(
        "serving.container_name_for",
        "a name derived from an id; reads nothing",
        lambda s: serving.container_name_for(1),
    ),
    "serving.create_serving": scoped(
        ref(
            lambda s, i, w: serving.create_serving(s, actor=w.eve, team_id=i, name="x", train_job_id=w.job_a),
            "team_a",
        ),
        ref(
            lambda s, i, w: serving.create_serving(
                s, actor=w.eve, team_id=w.team_b, name="x", train_job_id=i
            ),
            "job_a",
        ),
        ref(
            lambda s, i, w: serving.create_serving(
                s, actor=w.bob, team_id=w.team_b, name="x", train_job_id=i
            ),
            "job_a",
        ),
        control=lambda w: (
            lambda s: serving.create_serving(
                s, actor=w.alice, team_id=w.team_a, name="x", train_job_id=w.job_a
            )
        ),
    ),
    "serving.get_serving": scoped(
        ref(lambda s, i, w: serving.get_serving(s, actor=w.eve, serving_id=i), "serving_a"),
        control=lambda w: lambda s: serving.get_serving(s, actor=w.alice, serving_id=w.serving_a),
    ),
    "serving.list_servings": paged(
        serving.list_servings, {"team_id": W("team_a")}, {"team_id": W("team_a"), "include_children": True}
    ),
    "serving.update_serving": scoped(
        ref(
            lambda s, i, w: serving.update_serving(s, actor=w.eve, serving_id=i, port=free_serving_port()),
            "serving_a",
        ),
        ref(
            lambda s, i, w: serving.update_serving(s, actor=w.eve, serving_id=w.serving_b, train_job_id=i),
            "job_a",
        ),
        control=lambda w: (
            lambda s: serving.update_serving(
                s, actor=w.alice, serving_id=w.serving_a, port=free_serving_port()
            )
        ),
    ),
    "serving.set_desired": scoped(
        ref(
            lambda s, i, w: serving.set_desired(s, actor=w.eve, serving_id=i, desired=DesiredState.STOPPED),
            "serving_a",
        ),
        control=lambda w: (
            lambda s: serving.set_desired(
                s, actor=w.alice, serving_id=w.serving_a, desired=DesiredState.STOPPED
            )
        ),
    ),
    "serving.servings_for_sync": listing(
        lambda s, a, w: (
            None,
            teams_of(serving.servings_for_sync(s, actor=a, serving_ids=[w.serving_a, w.serving_b]), w),
        )
    ),
    "serving.record_resolved_version": system("serving.record_resolved_version", NOT_EDGE),
    "serving.record_error": system("serving.record_error", NOT_EDGE),
    "serving.record_observed": system("serving.record_observed", NOT_EDGE),
    "serving.reserved_ports": system(
        "serving.reserved_ports",
        "port numbers held by every team's servings (no "
        "rows), for the runtime's own choice of a port; edges never see them",
    ),
    "serving.delete_record": scoped(
        ref(lambda s, i, w: serving.delete_record(s, actor=w.eve, serving_id=i), "serving_a"),
        control=lambda w: lambda s: serving.delete_record(s, actor=w.alice, serving_id=w.serving_a),
    ),
    # teams and login
    "teams.hash_password": global_(
        "teams.hash_password", "hashes a string; reads nothing", lambda s: teams.hash_password("long enough")
    ),
    "team_tree.create_team": Entry("scoped", check_create_team),
    "team_tree.move_team": Entry("scoped", check_move_team),
    "team_tree.delete_team": Entry("scoped", check_delete_team),
    "teams.list_teams": listing(lambda s, a, w: (None, [t.id for t in teams.list_teams(s, actor=a)])),
    "teams.page_teams": paged(
        teams.page_teams,
        {"search": SECRET},
        {"team_id": W("team_a")},
        {"team_id": W("team_a"), "include_children": True},
        via="id",
    ),
    "teams.get_team": Entry(
        "scoped",
        check_get_team,
        "without an actor (resolving a name before anyone is "
        "signed in) it finds any team; with one, only the actor's teams",
    ),
    "teams.create_user": admin(
        lambda s, a: teams.create_user(s, actor=a, username="mallory", password=PASSWORD)
    ),
    "teams.get_user": Entry("scoped", check_get_user),
    "teams.page_users": admin(lambda s, a: teams.page_users(s, actor=a)),
    "teams.list_users": admin(lambda s, a: teams.list_users(s, actor=a)),
    "teams.set_password": scoped(
        ref(
            lambda s, i, w: teams.set_password(s, actor=w.eve, user_id=i, password="taken over!"), "alice_id"
        ),
        control=lambda w: (
            lambda s: teams.set_password(s, actor=w.alice, user_id=w.alice_id, password=PASSWORD)
        ),
    ),
    "teams.add_member": scoped(
        ref(
            lambda s, i, w: teams.add_member(s, actor=w.eve, team_id=i, user_id=w.eve_id, role="admin"),
            "team_a",
        ),
        control=lambda w: lambda s: teams.add_member(s, actor=w.alice, team_id=w.team_a, user_id=w.eve_id),
    ),
    "teams.remove_member": scoped(
        ref(lambda s, i, w: teams.remove_member(s, actor=w.eve, team_id=i, user_id=w.alice_id), "team_a"),
        control=lambda w: lambda s: teams.remove_member(s, actor=w.alice, team_id=w.team_a, user_id=w.bob_id),
    ),
    "teams.list_members": scoped(
        ref(lambda s, i, w: teams.list_members(s, actor=w.eve, team_id=i), "team_a"),
        control=lambda w: lambda s: teams.list_members(s, actor=w.alice, team_id=w.team_a),
    ),
    "teams.authenticate": Entry(
        "login",
        check_authenticate,
        "who is asking is what it establishes; a wrong password reads exactly like an unknown user",
    ),
    "teams.actor_for": scoped(
        ref(lambda s, i, w: teams.actor_for(s, username="eve", current_team_id=i), "team_a"),
        control=lambda w: lambda s: teams.actor_for(s, username="alice", current_team_id=w.team_a),
    ),
    # training
    # models, promotion and lineage
    "models.mlflow_name_for": row("models.mlflow_name_for", "names a model's MLflow twin from its row"),
    "models.gate_of": row("models.gate_of", "reads a gate from a model row already read"),
    "models.version_row": row("models.version_row", "a version of a model row already read through scoping"),
    "models.resolve_ref": row("models.resolve_ref", "a version of a model row already read through scoping"),
    "models.create_model": scoped(
        ref(lambda s, i, w: models.create_model(s, actor=w.eve, team_id=i, name="x", scenario=SCN), "team_a"),
        control=lambda w: (
            lambda s: models.create_model(s, actor=w.alice, team_id=w.team_a, name="m2", scenario=SCN)
        ),
    ),
    "models.target_model": scoped(
        ref(
            lambda s, i, w: models.target_model(
                s, actor=w.eve, team_id=w.team_b, scenario=SCN, job_name="x", model=i
            ),
            "model_a",
        ),
        ref(
            lambda s, i, w: models.target_model(
                s, actor=w.eve, team_id=i, scenario=SCN, job_name="x", model=None
            ),
            "team_a",
        ),
        control=lambda w: (
            lambda s: models.target_model(
                s, actor=w.alice, team_id=w.team_a, scenario=SCN, job_name="x", model=w.model_a
            )
        ),
    ),
    "models.get_model": scoped(
        ref(lambda s, i, w: models.get_model(s, actor=w.eve, model_id=i), "model_a"),
        control=lambda w: lambda s: models.get_model(s, actor=w.alice, model_id=w.model_a),
    ),
    "models.find_model": Entry("scoped", check_find_model),
    "models.list_models": paged(
        models.list_models, {"team_id": W("team_a")}, {"team_id": W("team_a"), "include_children": True}
    ),
    "models.configure_gate": scoped(
        ref(lambda s, i, w: models.configure_gate(s, actor=w.eve, model_id=i, tolerance=0.5), "model_a"),
        ref(
            lambda s, i, w: models.configure_gate(
                s, actor=w.eve, model_id=w.model_b, evaluation_release_id=i
            ),
            "release_a",
        ),
        control=lambda w: (
            lambda s: models.configure_gate(s, actor=w.alice, model_id=w.model_a, tolerance=0.5)
        ),
    ),
    "models.list_versions": scoped(
        ref(lambda s, i, w: models.list_versions(s, actor=w.eve, model_id=i), "model_a"),
        control=lambda w: lambda s: models.list_versions(s, actor=w.alice, model_id=w.model_a),
    ),
    "models.get_version": scoped(
        ref(lambda s, i, w: models.get_version(s, actor=w.eve, model_id=i, version=1), "model_a"),
        control=lambda w: lambda s: models.get_version(s, actor=w.alice, model_id=w.model_a, version=1),
    ),
    "traffic.set_traffic": scoped(
        ref(
            lambda s, i, w: traffic.set_traffic(s, actor=w.eve, serving_id=i, routing_header="x-u"),
            "serving_a",
        ),
        ref(
            lambda s, i, w: traffic.set_traffic(
                s, actor=w.eve, serving_id=w.serving_b, canary="1", model_id=i
            ),
            "model_a",
        ),
        control=lambda w: (
            lambda s: traffic.set_traffic(s, actor=w.alice, serving_id=w.serving_a, routing_header="x-user")
        ),
    ),
    "traffic.active_rollout": system("traffic.active_rollout", NOT_EDGE),
    "traffic.desired_traffic": row(
        "traffic.desired_traffic", "what a serving row already read is meant to run"
    ),
    "rollouts.start_rollout": scoped(
        ref(
            lambda s, i, w: rollouts.start_rollout(
                s, actor=w.eve, serving_id=i, request=StartRollout(canary="1")
            ),
            "serving_a",
        ),
        control=start_a_rollout,
    ),
    "rollouts.get_rollout": scoped(
        ref(lambda s, i, w: rollouts.get_rollout(s, actor=w.eve, rollout_id=i), "rollout_a"),
        control=lambda w: lambda s: rollouts.get_rollout(s, actor=w.alice, rollout_id=w.rollout_a),
    ),
    "rollouts.decisions": scoped(
        ref(lambda s, i, w: rollouts.decisions(s, actor=w.eve, rollout_id=i), "rollout_a"),
        control=lambda w: lambda s: rollouts.decisions(s, actor=w.alice, rollout_id=w.rollout_a),
    ),
    "rollouts.list_rollouts": scoped(
        ref(lambda s, i, w: rollouts.list_rollouts(s, actor=w.eve, serving_id=i), "serving_a"),
        control=lambda w: lambda s: rollouts.list_rollouts(s, actor=w.alice, serving_id=w.serving_a),
    ),
    "rollouts.control_rollout": scoped(
        ref(
            lambda s, i, w: rollouts.control_rollout(s, actor=w.eve, rollout_id=i, action="abort"),
            "rollout_a",
        ),
        control=abort_a_rollout,
    ),
    "rollouts.record": system("rollouts.record", NOT_EDGE),
    "rollouts.set_step": system("rollouts.set_step", NOT_EDGE),
    "rollouts.finish": system("rollouts.finish", NOT_EDGE),
    "rollouts.active_rollouts": system("rollouts.active_rollouts", NOT_EDGE),
    "rollouts.claim_flow_run": system("rollouts.claim_flow_run", NOT_EDGE),
    "models.record_versions": system("models.record_versions", NOT_EDGE),
    "models.servings_of": system("models.servings_of", NOT_EDGE),
    "models.models_missing_versions": system("models.models_missing_versions", NOT_EDGE),
    "model_promotion.move_alias": system("model_promotion.move_alias", NOT_EDGE),
    "model_promotion.evaluation_gate": row(
        "model_promotion.evaluation_gate", "reads a gate from an evaluation row already read"
    ),
    "model_promotion.request_promotion": scoped(
        ref(
            lambda s, i, w: model_promotion.request_promotion(s, actor=w.eve, model_id=i, version=1),
            "model_a",
        ),
        control=lambda w: (
            lambda s: model_promotion.request_promotion(s, actor=w.alice, model_id=w.model_a, version=1)
        ),
    ),
    "model_promotion.abandon_evaluation": scoped(
        ref(
            lambda s, i, w: model_promotion.abandon_evaluation(s, actor=w.eve, evaluation_id=i, error="x"),
            "evaluation_a",
        ),
        control=lambda w: (
            lambda s: model_promotion.abandon_evaluation(
                s,
                actor=w.alice,
                evaluation_id=model_promotion.request_promotion(
                    s, actor=w.alice, model_id=w.model_a, version=1
                ).id,
                error="the launch failed",
            )
        ),
    ),
    "model_promotion.claim_evaluation": system("model_promotion.claim_evaluation", NOT_EDGE),
    "model_promotion.finish_evaluation": system("model_promotion.finish_evaluation", NOT_EDGE),
    "model_promotion.fail_evaluation": system("model_promotion.fail_evaluation", NOT_EDGE),
    "model_promotion.history": system("model_promotion.history", NOT_EDGE),
    "model_promotion.aliases_to_sync": system("model_promotion.aliases_to_sync", NOT_EDGE),
    "model_promotion.mark_aliases_synced": system("model_promotion.mark_aliases_synced", NOT_EDGE),
    "model_promotion.alias_history": scoped(
        ref(lambda s, i, w: model_promotion.alias_history(s, actor=w.eve, model_id=i), "model_a"),
        control=lambda w: lambda s: model_promotion.alias_history(s, actor=w.alice, model_id=w.model_a),
    ),
    "model_promotion.rollback": scoped(
        ref(lambda s, i, w: model_promotion.rollback(s, actor=w.eve, model_id=i), "model_a"),
        control=lambda w: lambda s: _rolled_back(s, w),
    ),
    "model_promotion.set_alias": scoped(
        ref(
            lambda s, i, w: model_promotion.set_alias(
                s, actor=w.eve, model_id=i, alias="champion", version=1
            ),
            "model_a",
        ),
        control=lambda w: (
            lambda s: model_promotion.set_alias(
                s, actor=w.alice, model_id=w.model_a, alias="challenger", version=1
            )
        ),
    ),
    "model_promotion.get_evaluation": scoped(
        ref(lambda s, i, w: model_promotion.get_evaluation(s, actor=w.eve, evaluation_id=i), "evaluation_a"),
        control=lambda w: (
            lambda s: model_promotion.get_evaluation(
                s,
                actor=w.alice,
                evaluation_id=model_promotion.request_promotion(
                    s, actor=w.alice, model_id=w.model_a, version=1
                ).id,
            )
        ),
    ),
    "model_promotion.list_evaluations": scoped(
        ref(lambda s, i, w: model_promotion.list_evaluations(s, actor=w.eve, model_id=i), "model_a"),
        control=lambda w: lambda s: model_promotion.list_evaluations(s, actor=w.alice, model_id=w.model_a),
    ),
    "model_lineage.version_lineage": scoped(
        ref(lambda s, i, w: model_lineage.version_lineage(s, actor=w.eve, model_id=i, version=1), "model_a"),
        control=lambda w: (
            lambda s: model_lineage.version_lineage(s, actor=w.alice, model_id=w.model_a, version=1)
        ),
    ),
    "model_lineage.release_lineage": scoped(
        ref(lambda s, i, w: model_lineage.release_lineage(s, actor=w.eve, release_id=i), "release_a"),
        control=lambda w: lambda s: model_lineage.release_lineage(s, actor=w.alice, release_id=w.release_a),
    ),
    "job_config.experiment_name_for": global_(
        "job_config.experiment_name_for",
        "a name derived from a scenario",
        lambda s: job_config.experiment_name_for(SCN),
    ),
    "job_config.experiment_name_of": row(
        "job_config.experiment_name_of", "names a job's experiment from a row already read"
    ),
    "job_config.build_config": row(
        "job_config.build_config", "the config of a job row its caller already read"
    ),
    "job_config.store_config": row(
        "job_config.store_config", "stores the config of a job row its caller already read"
    ),
    "custom_jobs.check_spec": global_(
        "custom_jobs.check_spec",
        "checks a custom job's spec; reads nothing",
        lambda s: custom_jobs.check_spec(image="python:3.12", command=["python", "-V"]),
    ),
    "custom_jobs.create_custom_job": scoped(
        ref(
            lambda s, i, w: custom_jobs.create_custom_job(
                s, actor=w.eve, team_id=i, name="x", release_id=w.release_a, image="t:1", command=["t"]
            ),
            "team_a",
        ),
        ref(
            lambda s, i, w: custom_jobs.create_custom_job(
                s, actor=w.eve, team_id=w.team_b, name="x", release_id=i, image="t:1", command=["t"]
            ),
            "release_a",
        ),
        ref(
            lambda s, i, w: custom_jobs.create_custom_job(
                s, actor=w.bob, team_id=w.team_b, name="x", release_id=i, image="t:1", command=["t"]
            ),
            "release_a",
        ),
        control=lambda w: (
            lambda s: custom_jobs.create_custom_job(
                s,
                actor=w.alice,
                team_id=w.team_a,
                name="x",
                release_id=w.release_a,
                image="t:1",
                command=["t"],
            )
        ),
    ),
    "custom_jobs.job_release": row(
        "custom_jobs.job_release", "the release of a job row its caller already read or its flow claimed"
    ),
    "training.create_job": scoped(
        ref(
            lambda s, i, w: training.create_job(
                s, actor=w.eve, team_id=i, name="x", scenario=SCN, algorithm="ECOD", release_id=w.release_a
            ),
            "team_a",
        ),
        ref(
            lambda s, i, w: training.create_job(
                s, actor=w.eve, team_id=w.team_b, name="x", scenario=SCN, algorithm="ECOD", release_id=i
            ),
            "release_a",
        ),
        ref(
            lambda s, i, w: training.create_job(
                s, actor=w.bob, team_id=w.team_b, name="x", scenario=SCN, algorithm="ECOD", release_id=i
            ),
            "release_a",
        ),
        control=lambda w: (
            lambda s: training.create_job(
                s,
                actor=w.alice,
                team_id=w.team_a,
                name="x",
                scenario=SCN,
                algorithm="ECOD",
                release_id=w.release_a,
            )
        ),
    ),
    "training.update_job": scoped(
        ref(lambda s, i, w: training.update_job(s, actor=w.eve, job_id=i, params={}), "job_a"),
        ref(lambda s, i, w: training.update_job(s, actor=w.eve, job_id=w.job_b, release_id=i), "release_a"),
        control=lambda w: lambda s: training.update_job(s, actor=w.alice, job_id=w.job_a, params={}),
    ),
    "training.get_job": scoped(
        ref(lambda s, i, w: training.get_job(s, actor=w.eve, job_id=i), "job_a"),
        control=lambda w: lambda s: training.get_job(s, actor=w.alice, job_id=w.job_a),
    ),
    "training.list_jobs": paged(
        training.list_jobs, {"team_id": W("team_a")}, {"team_id": W("team_a"), "include_children": True}
    ),
    "training.claim_start": scoped(
        ref(lambda s, i, w: training.claim_start(s, actor=w.eve, job_id=i, flow_run_id=None), "job_a"),
        control=lambda w: lambda s: training.claim_start(s, actor=w.alice, job_id=w.job_a, flow_run_id=None),
    ),
    "training.attach_run": system("training.attach_run", NOT_EDGE),
    "training.run_ids": system(
        "training.run_ids", "the serving flow's check of a job its caller already read; " + NOT_EDGE
    ),
    "training.recorded_run": system(
        "training.recorded_run", "the train flow's own retry lookup; " + NOT_EDGE
    ),
    "training.mark_running": system("training.mark_running", NOT_EDGE),
    "training.restore_status": system("training.restore_status", NOT_EDGE),
    "training.mark_finished": system("training.mark_finished", NOT_EDGE),
    "training.touch_watch": system("training.touch_watch", NOT_EDGE),
    "training.unwatched_jobs": system(
        "training.unwatched_jobs", "the reconciler's query over every team; " + NOT_EDGE
    ),
    "training.claim_watch": system("training.claim_watch", NOT_EDGE),
    "training.active_custom_starts": system(
        "training.active_custom_starts", "the reconciler's query over every team; " + NOT_EDGE
    ),
    "sessions.signing_key": row("sessions.signing_key", "key material from a password hash; no team data"),
    "sessions.sign": row("sessions.sign", "an HMAC of the caller's own payload; no team data"),
    "sessions.token_digest": row("sessions.token_digest", "a hash of the caller's token; no team data"),
    "sessions.revoke": row(
        "sessions.revoke", "revokes the token the caller holds (a sign-out); no team data"
    ),
    "sessions.is_revoked": row("sessions.is_revoked", "whether the token the caller holds was signed out"),
    "serving.inference_token": row(
        "serving.inference_token", "the token of a serving row its caller already read through get_serving"
    ),
    "serving.control_token": system(
        "serving.control_token",
        "the platform's own token for a serving's control endpoint: tasks roll servings forward with it; "
        "no edge may ever call it (a user holding it could point the server at another team's model)",
    ),
    "releases.publishing_releases": system(
        "releases.publishing_releases", "the release reconciliation's query over every team; " + NOT_EDGE
    ),
    "releases.fail_interrupted": system("releases.fail_interrupted", NOT_EDGE),
    "training.job_context": row("training.job_context", "names around a job row its caller already read"),
}


# ---------------------------------------------------------------- tokens and service accounts


def _robot_of_a(w: World) -> int:
    """A service account of team A, made by its admin (once per world)."""
    if not hasattr(w, "robot_a"):
        with session_scope() as s:
            robot = tokens.create_service_account(s, actor=w.alice, team_id=w.team_a, name="secret-robot")
            w.robot_a = robot.id  # type: ignore[attr-defined]
    return w.robot_a  # type: ignore[attr-defined,no-any-return]


def check_create_token(w: World) -> None:
    with session_scope() as s:
        row, plain = tokens.create_token(s, actor=w.eve, name="eve-script", days=1)
        assert row.user_id == w.eve_id and row.kind == "personal"
        assert tokens.authenticate(s, token=plain).user.id == w.eve_id
    # The system acts for no user: it has no token to make.
    assert isinstance(
        attempt(lambda s: tokens.create_token(s, actor=SYSTEM, name="x", days=1)), PermissionDeniedError
    )


def check_service_token(w: World) -> None:
    robot = _robot_of_a(w)
    refused_like_missing(
        w, lambda s, i: tokens.create_service_token(s, actor=w.eve, user_id=i, name="stolen", days=1), robot
    )
    # bob is a member (not an admin) of team A: he sees the robot but may not mint its tokens.
    assert isinstance(
        attempt(lambda s: tokens.create_service_token(s, actor=w.bob, user_id=robot, name="x", days=1)),
        PermissionDeniedError,
    )
    succeeds(lambda s: tokens.create_service_token(s, actor=w.alice, user_id=robot, name="nightly", days=1))


def check_list_tokens(w: World) -> None:
    robot = _robot_of_a(w)
    refused_like_missing(w, lambda s, i: tokens.list_tokens(s, actor=w.eve, user_id=i), robot)
    with read_session() as s:
        assert all(t.user_id == w.eve_id for t in tokens.list_tokens(s, actor=w.eve))
    succeeds(lambda s: tokens.list_tokens(s, actor=w.alice, user_id=robot))


def check_revoke_token(w: World) -> None:
    robot = _robot_of_a(w)
    with session_scope() as s:
        own, _ = tokens.create_token(s, actor=w.alice, name="alice-own", days=1)
        robot_token, _ = tokens.create_service_token(s, actor=w.alice, user_id=robot, name="r", days=1)
    refused_like_missing(w, lambda s, i: tokens.revoke_token(s, actor=w.eve, token_id=i), own.id)
    refused_like_missing(w, lambda s, i: tokens.revoke_token(s, actor=w.eve, token_id=i), robot_token.id)
    succeeds(lambda s: tokens.revoke_token(s, actor=w.alice, token_id=own.id))


def check_page_service_accounts(w: World) -> None:
    _robot_of_a(w)

    def listed(s: Session, a: Actor) -> tuple[int | None, list[int]]:
        count, rows = tokens.page_service_accounts(s, actor=a)
        return count, [w.team_a if u.id == w.robot_a else w.team_b for u in rows]  # type: ignore[attr-defined]

    lists_nothing_of_a(w, listed)


TOKEN_ENTRIES: dict[str, Entry] = {
    "tokens.digest": row("tokens.digest", "a hash of the caller's token; no team data"),
    "tokens.expires_in_days": row("tokens.expires_in_days", "arithmetic on a date the caller holds"),
    "tokens.authenticate": row("tokens.authenticate", "answers the user of the token the caller holds, only"),
    "tokens.issue_login_token": row(
        "tokens.issue_login_token", "a token for the user who just proved their password (the exchange)"
    ),
    "tokens.replace_operator_token": row(
        "tokens.replace_operator_token", "the platform admin's own token, at the API's start; no team data"
    ),
    "tokens.create_token": Entry("scoped", check_create_token),
    "tokens.create_service_account": scoped(
        lambda w: refused_like_missing(
            w,
            lambda s, i: tokens.create_service_account(s, actor=w.eve, team_id=i, name="intruder"),
            w.team_a,
        ),
        control=lambda w: (
            lambda s: tokens.create_service_account(s, actor=w.alice, team_id=w.team_a, name="bot2")
        ),
    ),
    "tokens.create_service_token": Entry("scoped", check_service_token),
    "tokens.list_tokens": Entry("scoped", check_list_tokens),
    "tokens.revoke_token": Entry("scoped", check_revoke_token),
    "tokens.page_service_accounts": Entry("list", check_page_service_accounts),
    "oidc_users.decide": row(
        "oidc_users.decide", "pure: decides from the identity and the user the caller read"
    ),
    "oidc_users.subject_key": row("oidc_users.subject_key", "pure: joins an issuer and a subject"),
    "oidc_users.user_for_identity": row(
        "oidc_users.user_for_identity", "the user a verified identity acts as (its own account only)"
    ),
    "teams.check_username": global_(
        "teams.check_username", "validates a string; reads nothing", lambda s: teams.check_username("someone")
    ),
    "common.flush_unique": row("common.flush_unique", "flushes the caller's own pending rows"),
    "runs.run_url": global_(
        "runs.run_url",
        "builds a URL from the ids it is given; reads nothing",
        lambda s: runs.run_url("1", "r"),
    ),
}
TOKEN_ENTRIES |= {
    "custom_jobs.refusal": global_(
        "custom_jobs.refusal",
        "pure: whether custom jobs may run, from settings",
        lambda s: custom_jobs.refusal(enabled=True, on_process=False, runtime="docker"),
    ),
    "custom_jobs.current_refusal": global_(
        "custom_jobs.current_refusal", "reads settings only", lambda s: custom_jobs.current_refusal()
    ),
}
MATRIX.update(TOKEN_ENTRIES)

# Quotas, and the requests every edge makes before it launches a lifecycle flow or hands out a serving's token.
QUOTA_ENTRIES: dict[str, Entry] = {
    "quotas.team_usage": scoped(
        ref(lambda s, i, w: quotas.team_usage(s, actor=w.eve, team_id=i), "team_a"),
        control=lambda w: lambda s: quotas.team_usage(s, actor=w.alice, team_id=w.team_a),
    ),
    "quotas.set_quota": admin(
        lambda s, a: quotas.set_quota(
            s, actor=a, team_id=teams.get_team(s, name="team-b").id, trainings=5, cpus=None
        )
    ),
    "quotas.storage_room": scoped(
        ref(lambda s, i, w: quotas.storage_room(s, actor=w.eve, dataset_id=i), "dataset_a"),
        control=lambda w: lambda s: quotas.storage_room(s, actor=w.alice, dataset_id=w.dataset_a),
    ),
    "quotas.resources": row("quotas.resources", "the container resources of a row its caller already read"),
    "quotas.precheck": row(
        "quotas.precheck", "the quota check of a start of a row its caller read through scoping"
    ),
    "quotas.claim": row(
        "quotas.claim", "the quota check of a claim of a row its caller read through scoping"
    ),
    "quotas.frozen_size": global_(
        "quotas.frozen_size",
        "sums the sizes in a list it is given; reads nothing",
        lambda s: quotas.frozen_size([]),
    ),
    "quotas.require_storage": system(
        "quotas.require_storage", "the stored-bytes check of a scoped call (an entry, a release); " + NOT_EDGE
    ),
    "quotas.record_model_bytes": system("quotas.record_model_bytes", NOT_EDGE),
    # The reconciler's view of the gates' flow runs (tasks.models.fail_interrupted_evaluations).
    "model_promotion.running_evaluations": system("model_promotion.running_evaluations", NOT_EDGE),
    "training.request_start": scoped(
        ref(lambda s, i, w: training.request_start(s, actor=w.eve, job_id=i), "job_a"),
        control=lambda w: lambda s: training.request_start(s, actor=w.alice, job_id=w.job_a),
    ),
    "training.request_stop": scoped(
        ref(lambda s, i, w: training.request_stop(s, actor=w.eve, job_id=i), "job_a"),
        control=lambda w: lambda s: training.request_stop(s, actor=w.alice, job_id=w.job_a),
    ),
    "serving.request_lifecycle": scoped(
        ref(
            lambda s, i, w: serving.request_lifecycle(s, actor=w.eve, serving_id=i, action="start"),
            "serving_a",
        ),
        control=lambda w: (
            lambda s: serving.request_lifecycle(s, actor=w.alice, serving_id=w.serving_a, action="stop")
        ),
    ),
    "serving.token_for": scoped(
        ref(lambda s, i, w: serving.token_for(s, actor=w.eve, serving_id=i), "serving_a"),
        control=lambda w: lambda s: serving.token_for(s, actor=w.alice, serving_id=w.serving_a),
    ),
    "serving.predictable": scoped(
        ref(lambda s, i, w: serving.predictable(s, actor=w.eve, serving_id=i), "serving_a"),
        control=lambda w: lambda s: serving.predictable(s, actor=w.alice, serving_id=w.serving_a),
    ),
}
MATRIX.update(QUOTA_ENTRIES)


def test_every_service_function_has_an_entry() -> None:
    functions = set(service_functions())
    missing = sorted(functions - set(MATRIX))
    assert not missing, (
        "catalog service functions without an isolation-matrix entry (add one to MATRIX in "
        f"tests/catalog/test_isolation_matrix.py): {', '.join(missing)}"
    )
    stale = sorted(set(MATRIX) - functions)
    assert not stale, f"isolation-matrix entries for functions that no longer exist: {', '.join(stale)}"
    unexplained = sorted(
        name for name, e in MATRIX.items() if e.kind not in ("scoped", "list", "admin") and not e.why
    )
    assert not unexplained, f"entries that are not team-scoped must say why: {', '.join(unexplained)}"


def test_the_edge_scan_sees_the_edges() -> None:
    """The ``system`` entries rely on this scan; it must find calls the edges are known to make."""
    refs = edge_references()
    assert {
        "teams.authenticate",
        "training.job_context",
        "modules.module_data",
        "runs.download_model",
    } <= refs


@pytest.mark.parametrize("name", sorted(MATRIX))
def test_another_team_is_refused_and_learns_nothing(name: str, world: World) -> None:
    entry = MATRIX[name]
    if entry.mlflow:
        add_runs(world)
    entry.check(world)


def test_a_refused_write_is_audited_for_the_owning_team(world: World) -> None:
    """A refusal leaves a trace for team A's admins, and nothing in the outsider's own audit view."""
    with pytest.raises(Exception), session_scope() as s:  # noqa: B017 - the refusal itself is checked above
        datasets.create_dataset(s, actor=world.eve, team_id=world.team_a, scenario=SCN, name="intruder")
    with read_session() as s:
        _, mine = audit.list_events(s, actor=world.alice, action="dataset.create", outcome="denied")
        _, theirs = audit.list_events(s, actor=world.eve, action="dataset.create")
        assert [(e.actor_name, e.team_id) for e in mine] == [("eve", world.team_a)]
        assert theirs and all(e.team_id == world.team_b for e in theirs)
