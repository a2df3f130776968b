"""The permission matrix through the services: every function that declares a permission (``@requires``, listed
in ``catalog.scoping.REQUIRED``) × every built-in role × own / child / parent / sibling team → allowed or refused
as ``tests/catalog/permission_world.expected`` computes it from the roles. A function without a recipe here, or
an actor-taking service function that neither declares a permission nor says why not (``EXEMPT``), fails by name.

Each case runs in a session that is rolled back (``permission_world.observe``), so the world built once for the
module never changes. "Allowed" means the call passes its permission check: it ends exactly as the superuser's
control call on the same team (success, or the same non-permission error, e.g. restoring a release that is not
archived). A list is refused by leaving the team's row out.

A new function is one line in ``RECIPES``: ``"module.function": Recipe(lambda s, a, t: module.function(s,
actor=a, <ids of team world t>))`` (``shows("kind")`` as ``listed`` for a list).
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlmodel import Session, select

from catalog.models import DesiredState, JobStatus, Team, TrainJob
from catalog.permissions import BUILTIN_ROLES, PERMISSIONS
from catalog.scoping import REQUIRED, SYSTEM
from catalog.services import (
    algorithms,
    audit,
    custom_jobs,
    datasets,
    model_lineage,
    model_promotion,
    models,
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
from catalog.services.common import transition
from infra import tracking
from mlops_lite.schemas.rollouts import StartRollout
from tests.catalog.isolation_world import parameters, service_functions
from tests.catalog.permission_world import (
    ALLOWED,
    DENIED,
    HIDDEN,
    RELATIONS,
    SCN,
    PermissionWorld,
    Recipe,
    TeamWorld,
    check_function,
    expected,
)

pytestmark = pytest.mark.platform_servers("s3", "mlflow")
_made = iter(range(1, 1_000_000))


def fresh(what: str) -> str:
    """A name no row has yet (rolled-back calls leave none, but a name per call reads clearly in failures)."""
    return f"{what}-{next(_made)}"


def _two_champions(s: Session, t: TeamWorld) -> int:
    """The team's model with champion v1 then v2, set by the system (a rollback needs one to go back to)."""
    from catalog.models import ModelVersion

    first = s.exec(select(ModelVersion).where(ModelVersion.model_id == t.model)).first()
    if first is not None and t.relation != "missing":
        s.add(ModelVersion(model_id=t.model, version=2, run_id=first.run_id, job_id=first.job_id))
        s.flush()
        for version in (1, 2):
            model_promotion.set_alias(s, actor=SYSTEM, model_id=t.model, alias="champion", version=version)
    return t.model


def shows(kind: str) -> Any:
    """``listed`` for a list of ``kind`` rows (a page ``(total, rows)`` or a list): whether the team's row is
    in it; a page's total must agree with its rows (a count must not reveal rows it does not list)."""

    def listed(result: Any, tw: TeamWorld) -> bool:
        rows = result
        if isinstance(result, tuple):
            total, rows = result
            assert total == len(rows), f"the total ({total}) is not the {len(rows)} rows listed"
        key = "team_id" if kind == "team" else "id"
        return getattr(tw, kind) in [getattr(r, key) for r in rows]

    return listed


def _running(s: Session, tw: TeamWorld) -> Session:
    """The team's job running, in this (rolled-back) session."""
    transition(s, TrainJob, tw.job, from_statuses=(JobStatus.COMPLETED,), to_status=JobStatus.RUNNING)
    return s


def _undelete(tw: TeamWorld) -> None:
    tracking.set_deleted(tracking.client(), tw.run, False)


def _run_call(fn: Any) -> Recipe:
    """A runs function (its own sessions): the team's job and run."""
    return Recipe(lambda s, a, t: fn(actor=a, job_id=t.job, run_id=t.run))


def _model_of(s: Session, t: TeamWorld) -> int | None:
    """The model the team's job registers versions in (None for the missing-id world)."""
    job = s.get(TrainJob, t.job)
    return None if job is None else job.model_id


def _entry(s: Session, a: Any, t: TeamWorld) -> object:
    return datasets.add_entry(
        s,
        actor=a,
        dataset_id=t.dataset,
        name=fresh("x.csv"),
        object_key="k",
        size_bytes=1,
        sha256="0" * 64,
        content_type="text/csv",
        summary={},
    )


def _parent_of(s: Session, t: TeamWorld) -> int | None:
    """The team's parent (None also for a team that does not exist: the missing-id call)."""
    team = s.get(Team, t.team)
    return None if team is None else team.parent_id


def _custom_role(s: Session) -> str:
    """A custom role made in this (rolled-back) session by the system."""
    name = fresh("role").lower()
    roles.create_role(s, actor=SYSTEM, name=name, permissions=["datasets:read"])
    return name


RECIPES: dict[str, Recipe] = {
    "roles.create_role": Recipe(
        lambda s, a, t: roles.create_role(s, actor=a, name=fresh("role").lower(), permissions=["jobs:read"])
    ),
    "roles.update_role": Recipe(
        lambda s, a, t: roles.update_role(s, actor=a, name=_custom_role(s), description="changed")
    ),
    "roles.delete_role": Recipe(lambda s, a, t: roles.delete_role(s, actor=a, name=_custom_role(s))),
    # A sub-team of the team: teams:manage on the team itself.
    "team_tree.create_team": Recipe(
        lambda s, a, t: team_tree.create_team(s, actor=a, name=fresh("sub"), parent_id=t.team)
    ),
    # Moving (in place) and deleting the team: its parent's business.
    "team_tree.move_team": Recipe(
        lambda s, a, t: team_tree.move_team(s, actor=a, team_id=t.team, parent_id=_parent_of(s, t)),
        on_parent=True,
    ),
    "team_tree.delete_team": Recipe(
        lambda s, a, t: team_tree.delete_team(s, actor=a, team_id=t.team), on_parent=True
    ),
    "algorithms.running_jobs_of": Recipe(
        lambda s, a, t: algorithms.running_jobs_of(_running(s, t), actor=a, algorithm_id=t.algorithm),
        shows("job"),
    ),
    "algorithms.set_enabled": Recipe(
        lambda s, a, t: algorithms.set_enabled(s, actor=a, scenario=SCN, name="ECOD", enabled=False)
    ),
    "algorithms.update_form_config": Recipe(
        lambda s, a, t: algorithms.update_form_config(
            s,
            actor=a,
            algorithm_id=t.algorithm,
            form_config=algorithms.get_algorithm_by_id(s, algorithm_id=t.algorithm).form_config,
            search_space=None,
        )
    ),
    "audit.list_events": Recipe(lambda s, a, t: audit.list_events(s, actor=a, team_id=t.team), shows("team")),
    "custom_jobs.create_custom_job": Recipe(
        lambda s, a, t: custom_jobs.create_custom_job(
            s, actor=a, team_id=t.team, name=fresh("c"), release_id=t.release, image="t:1", command=["t"]
        )
    ),
    "datasets.add_entry": Recipe(_entry),
    "datasets.create_dataset": Recipe(
        lambda s, a, t: datasets.create_dataset(s, actor=a, team_id=t.team, scenario=SCN, name=fresh("d"))
    ),
    "datasets.get_dataset": Recipe(lambda s, a, t: datasets.get_dataset(s, actor=a, dataset_id=t.dataset)),
    "datasets.get_entry": Recipe(lambda s, a, t: datasets.get_entry(s, actor=a, entry_id=t.entry)),
    "datasets.list_datasets": Recipe(
        lambda s, a, t: datasets.list_datasets(s, actor=a, team_id=t.team), shows("dataset")
    ),
    "datasets.list_entries": Recipe(lambda s, a, t: datasets.list_entries(s, actor=a, dataset_id=t.dataset)),
    "datasets.page_entries": Recipe(lambda s, a, t: datasets.page_entries(s, actor=a, dataset_id=t.dataset)),
    "datasets.set_entry_flags": Recipe(
        lambda s, a, t: datasets.set_entry_flags(s, actor=a, entry_id=t.entry, is_test=True)
    ),
    "releases.archive_release": Recipe(
        lambda s, a, t: releases.archive_release(s, actor=a, release_id=t.release)
    ),
    "releases.claim_publish": Recipe(
        lambda s, a, t: releases.claim_publish(s, actor=a, release_id=t.release)
    ),
    "releases.create_release": Recipe(
        lambda s, a, t: releases.create_release(s, actor=a, dataset_id=t.dataset)
    ),
    "releases.downloadable_release": Recipe(
        lambda s, a, t: releases.downloadable_release(s, actor=a, release_id=t.release)
    ),
    "releases.get_release": Recipe(lambda s, a, t: releases.get_release(s, actor=a, release_id=t.release)),
    "releases.list_releases": Recipe(
        lambda s, a, t: releases.list_releases(s, actor=a, dataset_id=t.dataset)
    ),
    "releases.page_releases": Recipe(
        lambda s, a, t: releases.page_releases(s, actor=a, team_id=t.team), shows("release")
    ),
    "releases.require_usable_release": Recipe(
        lambda s, a, t: releases.require_usable_release(
            s, actor=a, release_id=t.release, team_id=t.team, scenario=SCN
        )
    ),
    # Published already: every caller allowed to publish gets the superuser's ConflictError.
    "releases.request_publish": Recipe(
        lambda s, a, t: releases.request_publish(s, actor=a, release_id=t.release)
    ),
    # Not archived: every caller allowed to restore gets the same ConflictError as the superuser.
    "releases.restore_release": Recipe(
        lambda s, a, t: releases.restore_release(s, actor=a, release_id=t.release)
    ),
    # models (each team's job made model "<team>-job" with version 1; see isolation_world.team_resources)
    "models.create_model": Recipe(
        lambda s, a, t: models.create_model(s, actor=a, team_id=t.team, name=fresh("m"), scenario=SCN)
    ),
    "models.target_model": Recipe(
        lambda s, a, t: models.target_model(
            s, actor=a, team_id=t.team, scenario=SCN, job_name=fresh("j"), model=t.model
        )
    ),
    "models.get_model": Recipe(lambda s, a, t: models.get_model(s, actor=a, model_id=t.model)),
    "models.find_model": Recipe(
        lambda s, a, t: models.find_model(s, actor=a, name=f"{t.name}-job", team_id=t.team)
    ),
    "models.list_models": Recipe(
        lambda s, a, t: models.list_models(s, actor=a, search=t.name), shows("model")
    ),
    "models.configure_gate": Recipe(
        lambda s, a, t: models.configure_gate(s, actor=a, model_id=t.model, tolerance=0.1)
    ),
    "models.list_versions": Recipe(lambda s, a, t: models.list_versions(s, actor=a, model_id=t.model)),
    "models.get_version": Recipe(lambda s, a, t: models.get_version(s, actor=a, model_id=t.model, version=1)),
    "model_promotion.request_promotion": Recipe(
        lambda s, a, t: model_promotion.request_promotion(s, actor=a, model_id=t.model, version=1)
    ),
    "model_promotion.abandon_evaluation": Recipe(
        lambda s, a, t: model_promotion.abandon_evaluation(s, actor=a, evaluation_id=t.evaluation, error="x")
    ),
    "model_promotion.rollback": Recipe(
        lambda s, a, t: model_promotion.rollback(s, actor=a, model_id=_two_champions(s, t))
    ),
    "model_promotion.set_alias": Recipe(
        lambda s, a, t: model_promotion.set_alias(s, actor=a, model_id=t.model, alias="challenger", version=1)
    ),
    "model_promotion.alias_history": Recipe(
        lambda s, a, t: model_promotion.alias_history(s, actor=a, model_id=t.model)
    ),
    "model_promotion.get_evaluation": Recipe(
        lambda s, a, t: model_promotion.get_evaluation(s, actor=a, evaluation_id=t.evaluation)
    ),
    "model_promotion.list_evaluations": Recipe(
        lambda s, a, t: model_promotion.list_evaluations(s, actor=a, model_id=t.model)
    ),
    "model_lineage.version_lineage": Recipe(
        lambda s, a, t: model_lineage.version_lineage(s, actor=a, model_id=t.model, version=1)
    ),
    "model_lineage.release_lineage": Recipe(
        lambda s, a, t: model_lineage.release_lineage(s, actor=a, release_id=t.release)
    ),
    "runs.delete_run": Recipe(
        lambda s, a, t: runs.delete_run(actor=a, job_id=t.job, run_id=t.run), undo=_undelete
    ),
    "runs.download_model": _run_call(runs.download_model),
    "runs.list_runs": Recipe(lambda s, a, t: runs.list_runs(actor=a, job_id=t.job)),
    "runs.metric_history": _run_call(runs.metric_history),
    "runs.metric_names": _run_call(runs.metric_names),
    "runs.restore_run": _run_call(runs.restore_run),
    "runs.run_params": _run_call(runs.run_params),
    "runs.run_plots": _run_call(runs.run_plots),
    "names.model_names": Recipe(
        lambda s, a, t: names.model_names(s, actor=a, model_ids=[_model_of(s, t)]),
        listed=lambda found, t: bool(found),
    ),
    "names.version_counts": Recipe(
        lambda s, a, t: names.version_counts(s, actor=a, model_ids=[_model_of(s, t)]),
        listed=lambda found, t: bool(found),
    ),
    "serving.create_serving": Recipe(
        lambda s, a, t: serving.create_serving(
            s, actor=a, team_id=t.team, name=fresh("v"), train_job_id=t.job
        )
    ),
    "quotas.set_quota": Recipe(lambda s, a, t: quotas.set_quota(s, actor=a, team_id=t.team, trainings=5)),
    "quotas.storage_room": Recipe(lambda s, a, t: quotas.storage_room(s, actor=a, dataset_id=t.dataset)),
    "serving.predictable": Recipe(lambda s, a, t: serving.predictable(s, actor=a, serving_id=t.serving)),
    "serving.request_lifecycle": Recipe(
        lambda s, a, t: serving.request_lifecycle(s, actor=a, serving_id=t.serving, action="stop")
    ),
    "serving.token_for": Recipe(lambda s, a, t: serving.token_for(s, actor=a, serving_id=t.serving)),
    "training.request_start": Recipe(lambda s, a, t: training.request_start(s, actor=a, job_id=t.job)),
    "training.request_stop": Recipe(lambda s, a, t: training.request_stop(s, actor=a, job_id=t.job)),
    "serving.delete_record": Recipe(lambda s, a, t: serving.delete_record(s, actor=a, serving_id=t.serving)),
    "serving.get_serving": Recipe(lambda s, a, t: serving.get_serving(s, actor=a, serving_id=t.serving)),
    "serving.list_servings": Recipe(
        lambda s, a, t: serving.list_servings(s, actor=a, search=t.name), shows("serving")
    ),
    "serving.servings_for_sync": Recipe(
        lambda s, a, t: serving.servings_for_sync(s, actor=a, serving_ids=[t.serving]), shows("serving")
    ),
    "serving.set_desired": Recipe(
        lambda s, a, t: serving.set_desired(s, actor=a, serving_id=t.serving, desired=DesiredState.STOPPED)
    ),
    "traffic.set_traffic": Recipe(
        lambda s, a, t: traffic.set_traffic(s, actor=a, serving_id=t.serving, routing_header="x-user")
    ),
    # The serving is not running: an allowed caller gets the same ValidationError as the superuser.
    "rollouts.start_rollout": Recipe(
        lambda s, a, t: rollouts.start_rollout(
            s, actor=a, serving_id=t.serving, request=StartRollout(canary="1")
        )
    ),
    "rollouts.get_rollout": Recipe(lambda s, a, t: rollouts.get_rollout(s, actor=a, rollout_id=t.rollout)),
    "rollouts.decisions": Recipe(lambda s, a, t: rollouts.decisions(s, actor=a, rollout_id=t.rollout)),
    "rollouts.list_rollouts": Recipe(
        lambda s, a, t: rollouts.list_rollouts(s, actor=a, serving_id=t.serving)
    ),
    # Aborted already: an allowed caller gets the same ConflictError as the superuser.
    "rollouts.control_rollout": Recipe(
        lambda s, a, t: rollouts.control_rollout(s, actor=a, rollout_id=t.rollout, action="abort")
    ),
    "serving.update_serving": Recipe(
        lambda s, a, t: serving.update_serving(s, actor=a, serving_id=t.serving, model_version="2")
    ),
    "teams.add_member": Recipe(
        lambda s, a, t: teams.add_member(s, actor=a, team_id=t.team, user_id=t.outsider, role="viewer")
    ),
    "teams.create_user": Recipe(
        lambda s, a, t: teams.create_user(s, actor=a, username=fresh("u"), password="long enough pass")
    ),
    "teams.list_users": Recipe(lambda s, a, t: teams.list_users(s, actor=a)),
    "teams.page_users": Recipe(lambda s, a, t: teams.page_users(s, actor=a)),
    "teams.remove_member": Recipe(
        lambda s, a, t: teams.remove_member(s, actor=a, team_id=t.team, user_id=t.member)
    ),
    "tokens.create_service_account": Recipe(
        lambda s, a, t: tokens.create_service_account(s, actor=a, team_id=t.team, name=fresh("bot"))
    ),
    "tokens.create_service_token": Recipe(
        lambda s, a, t: tokens.create_service_token(s, actor=a, user_id=t.robot, name="t", days=1)
    ),
    "tokens.page_service_accounts": Recipe(
        lambda s, a, t: tokens.page_service_accounts(s, actor=a), shows("robot")
    ),
    "training.claim_start": Recipe(
        lambda s, a, t: training.claim_start(s, actor=a, job_id=t.job, flow_run_id=None)
    ),
    "training.create_job": Recipe(
        lambda s, a, t: training.create_job(
            s, actor=a, team_id=t.team, name=fresh("j"), scenario=SCN, algorithm="ECOD", release_id=t.release
        )
    ),
    "training.get_job": Recipe(lambda s, a, t: training.get_job(s, actor=a, job_id=t.job)),
    "training.list_jobs": Recipe(
        lambda s, a, t: training.list_jobs(s, actor=a, team_id=t.team), shows("job")
    ),
    "training.update_job": Recipe(lambda s, a, t: training.update_job(s, actor=a, job_id=t.job, params={})),
}

# Public service functions that take an actor yet declare no permission, and why.
EXEMPT: dict[str, str] = {
    "audit.record": "writes the record of a call its service already checked (the actor is who is named)",
    "audit.audited": "wraps a block of a service call that already checked its actor",
    "modules.module_data": "NATS reads: each table's rows through scoped() with its read permission, per "
    "module (tests/catalog/test_modules.py, and the isolation matrix for foreign teams)",
    "names.dataset_names": "a name lookup, scoped by its table's read permission",
    "names.job_names": "a name lookup, scoped by its table's read permission",
    "names.release_labels": "a name lookup, scoped by its table's read permission",
    "names.resource_names": "name lookups, each scoped by its table's read permission",
    "names.team_names": "names of the teams the actor sees",
    "quotas.team_usage": "usage and limits of a team the actor sees (any role reaching it)",
    "roles.list_roles": "the roles there are (built-in and custom), the same for everyone signed in",
    "teams.get_team": "a team the actor sees (any role reaching it); no permission beyond that",
    "teams.list_teams": "the teams the actor sees",
    "teams.page_teams": "the teams the actor sees",
    "teams.list_members": "the members of a team the actor sees",
    "teams.get_user": "one's own account (or any, for an administrator)",
    "teams.set_password": "one's own password (or any, for an administrator)",
    "tokens.create_token": "one's own personal token (narrowed to permissions one holds)",
    "tokens.list_tokens": "one's own tokens; a service account's need members:manage on its team, checked by "
    "tokens._service_account as for create_service_token",
    "tokens.revoke_token": "one's own token; a service account's as list_tokens",
}


def test_every_required_function_has_a_recipe() -> None:
    service_functions()  # imports every service module: REQUIRED is complete
    missing = sorted(set(REQUIRED) - set(RECIPES))
    assert not missing, (
        "functions declaring a permission without a permission-matrix recipe (add one to RECIPES in "
        f"tests/catalog/test_permission_matrix.py): {', '.join(missing)}"
    )
    stale = sorted(set(RECIPES) - set(REQUIRED))
    assert not stale, f"recipes of functions that declare no permission (any more): {', '.join(stale)}"
    assert set(REQUIRED.values()) <= set(PERMISSIONS), "a function declares an unknown permission"


def test_every_actor_taking_service_function_declares_a_permission_or_is_exempt() -> None:
    functions = service_functions()
    taking = {name for name, fn in functions.items() if "actor" in parameters(fn)}
    undeclared = sorted(taking - set(REQUIRED) - set(EXEMPT))
    assert not undeclared, (
        "service functions taking an actor that declare no permission (@requires) and are not in EXEMPT "
        f"(tests/catalog/test_permission_matrix.py) with the reason: {', '.join(undeclared)}"
    )
    stale = sorted(set(EXEMPT) - (taking - set(REQUIRED)))
    assert not stale, f"EXEMPT entries that declare a permission now, or are gone: {', '.join(stale)}"


def test_the_expectation_follows_the_roles() -> None:
    """``expected`` itself, on cases that pin each rule (the matrix trusts it for every other case)."""
    assert expected("datasets:read", "viewer", "own") == ALLOWED
    assert expected("datasets:write", "viewer", "own") == DENIED
    assert expected("datasets:read", "member", "child") == HIDDEN  # members' roles stop at their team
    assert expected("models:promote", "maintainer", "child") == ALLOWED
    assert expected("members:manage", "maintainer", "child") == DENIED
    assert expected("admin:*", "admin", "own") == DENIED
    for role in BUILTIN_ROLES:
        assert (
            expected("datasets:read", role, "parent") == expected("datasets:read", role, "sibling") == HIDDEN
        )
    for permission in set(PERMISSIONS) - {"admin:*"}:  # a team admin holds every team permission on O
        assert expected(permission, "admin", "own") == ALLOWED
    assert {expected("admin:*", "superuser", r) for r in RELATIONS} == {ALLOWED}


@pytest.mark.parametrize("name", sorted(RECIPES))
def test_each_role_on_each_team_is_allowed_or_refused_as_its_role_says(
    name: str, permission_world: PermissionWorld
) -> None:
    permission = REQUIRED.get(name)
    assert permission is not None, f"{name} declares no permission"
    problems = check_function(permission, RECIPES[name], permission_world)
    assert not problems, f"{name} ({permission}):\n" + "\n".join(problems)
