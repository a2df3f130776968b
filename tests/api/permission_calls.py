"""How the permission matrix over HTTP (tests/api/test_permission_matrix.py) calls each operation on one team's
resources: path values, valid bodies and queries, how a list shows the team's row, what to put back after a
call that changed the world, and the refusal's words with the ids asked for replaced."""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from typing import Any

import httpx

from catalog.db import session_scope
from catalog.scoping import SYSTEM
from infra import tracking
from tests.api.conftest import Operation
from tests.api.flow_runs import cancel_flow_run
from tests.api.models_support import model_of, model_world
from tests.catalog.isolation_world import MISSING, PASSWORD
from tests.catalog.permission_world import ENTRY_BYTES, SCN, TeamWorld, words

Ids = Callable[[TeamWorld], Any]
_made = itertools.count(1)


def fresh(what: str) -> str:
    return f"{what}-{next(_made)}"


def _robot_token(t: TeamWorld) -> int:
    """A throwaway token of the team's service account (revoking one must not take another case's)."""
    from catalog.services import tokens

    if t.relation == "missing":
        return t.robot
    with session_scope() as s:
        row, _ = tokens.create_service_token(s, actor=SYSTEM, user_id=t.robot, name=fresh("t"), days=1)
        return row.id  # type: ignore[return-value]


# Path values beyond the team world's defaults (``_path``).
MATRIX_ROLE = "matrix-role"  # a custom role of the world, held by no one (permission_world)
PATHS: dict[str, dict[str, Ids]] = {
    "GET /api/v1/jobs/custom/{job_id}": {"job_id": lambda t: t.custom_job},
    "DELETE /api/v1/teams/{team_id}/members/{user_id}": {"user_id": lambda t: t.member},
    "GET /api/v1/users/{user_id}": {"user_id": lambda t: t.outsider},
    "PUT /api/v1/users/{user_id}/password": {"user_id": lambda t: t.outsider},
    "DELETE /api/v1/tokens/{token_id}": {"token_id": _robot_token},
    "PATCH /api/v1/roles/{name}": {"name": lambda t: MATRIX_ROLE},
    "DELETE /api/v1/roles/{name}": {"name": lambda t: MATRIX_ROLE},
}
BODIES: dict[str, Ids] = {
    "POST /api/v1/service-accounts": lambda t: {"team_id": t.team, "name": fresh("bot")},
    "POST /api/v1/service-accounts/{user_id}/tokens": lambda t: {"name": "t", "days": 1},
    "POST /api/v1/teams": lambda t: {"name": fresh("team"), "parent_id": t.team},
    "POST /api/v1/roles": lambda t: {"name": fresh("role").lower(), "permissions": ["jobs:read"]},
    "PATCH /api/v1/roles/{name}": lambda t: {"description": "changed"},
    "PUT /api/v1/teams/{team_id}/quota": lambda t: {"trainings": 5},
    "POST /api/v1/teams/{team_id}/members": lambda t: {"user_id": t.outsider, "role": "member"},
    "POST /api/v1/users": lambda t: {"username": fresh("user"), "password": PASSWORD},
    "PUT /api/v1/users/{user_id}/password": lambda t: {"password": PASSWORD},
    "POST /api/v1/datasets": lambda t: {"team_id": t.team, "scenario": SCN, "name": fresh("d")},
    "POST /api/v1/datasets/{dataset_id}/entries": lambda t: ENTRY_BYTES,
    "PATCH /api/v1/entries/{entry_id}": lambda t: {"train": True},
    "POST /api/v1/datasets/{dataset_id}/releases": lambda t: {},
    "POST /api/v1/jobs/custom": lambda t: {
        "team_id": t.team,
        "name": fresh("c"),
        "release_id": t.release,
        "image": "t:1",
        "command": ["t"],
    },
    "POST /api/v1/jobs": lambda t: {
        "team_id": t.team,
        "name": fresh("j"),
        "scenario": SCN,
        "algorithm": "ECOD",
        "release_id": t.release,
    },
    "PATCH /api/v1/jobs/{job_id}": lambda t: {"max_evals": 0},
    "POST /api/v1/servings": lambda t: {
        "team_id": t.team,
        "name": fresh("v"),
        "train_job_id": t.job,
        "start": False,
    },
    "PATCH /api/v1/servings/{serving_id}": lambda t: {"model_version": "latest"},
    "PUT /api/v1/servings/{serving_id}/traffic": lambda t: {"routing_header": "x-user"},
    # The serving is not running: an allowed caller gets the same 422 as the superuser.
    "POST /api/v1/servings/{serving_id}/rollouts": lambda t: {"canary": "1"},
    # Aborted already: an allowed caller gets the same 409 as the superuser.
    "POST /api/v1/rollouts/{rollout_id}/actions": lambda t: {"action": "abort"},
    "POST /api/v1/models": lambda t: {"team_id": t.team, "name": fresh("m"), "scenario": SCN},
    "PATCH /api/v1/models/{model_id}": lambda t: {"tolerance": 0.0},
    "POST /api/v1/models/{model_id}/promote": lambda t: {"version": 1},  # the champion is v2
    "PUT /api/v1/models/{model_id}/aliases/{alias}": lambda t: {"version": 1},
    "POST /api/v1/servings/{serving_id}/predict": lambda t: {
        "data": [{"timestamp": "2024-01-01T00:00:00", "value": 1.0}]
    },
}
NO_RUN = {"flow_run_id": "00000000-0000-0000-0000-000000000000"}
QUERIES: dict[str, Ids] = {
    "POST /api/v1/datasets/{dataset_id}/entries": lambda t: {"filename": fresh("e") + ".csv"},
    "GET /api/v1/jobs/{job_id}/progress": lambda t: NO_RUN,
    "GET /api/v1/releases/{release_id}/progress": lambda t: NO_RUN,
    "GET /api/v1/servings/{serving_id}/progress": lambda t: NO_RUN,
    "GET /api/v1/evaluations/{evaluation_id}/progress": lambda t: NO_RUN,
}


def _ids_of(page: dict[str, Any], key: str = "id") -> list[Any]:
    return [item[key] for item in page["items"]]


# Lists: the query that would show the team's row, and whether an answer shows it.
LISTS: dict[str, tuple[Ids, Callable[[dict[str, Any], TeamWorld], bool]]] = {
    "GET /api/v1/service-accounts": (lambda t: {"q": t.name}, lambda p, t: t.robot in _ids_of(p)),
    "GET /api/v1/teams": (lambda t: {"q": t.name}, lambda p, t: t.team in _ids_of(p)),
    "GET /api/v1/datasets": (lambda t: {"team_id": t.team}, lambda p, t: t.dataset in _ids_of(p)),
    "GET /api/v1/releases": (lambda t: {"team_id": t.team}, lambda p, t: t.release in _ids_of(p)),
    "GET /api/v1/jobs": (lambda t: {"team_id": t.team}, lambda p, t: t.job in _ids_of(p)),
    "GET /api/v1/servings": (lambda t: {"q": t.name, "live": "false"}, lambda p, t: t.serving in _ids_of(p)),
    "GET /api/v1/models": (lambda t: {"team_id": t.team}, lambda p, t: model_of(t.job) in _ids_of(p)),
    "GET /api/v1/audit": (lambda t: {"team_id": t.team}, lambda p, t: t.team in _ids_of(p, "team_id")),
}


def _with(fn: Callable[..., object], **kwargs: Any) -> Callable[[TeamWorld], None]:
    """After a call that succeeded: put back what it changed, as the system."""

    def undo(t: TeamWorld) -> None:
        with session_scope() as s:
            fn(s, actor=SYSTEM, **{k: v(t) if callable(v) else v for k, v in kwargs.items()})

    return undo


def _models(t: TeamWorld) -> dict[str, Any]:
    """The team's model (versions 1 and 2, champion 2 after 1, a pending evaluation: ``model_world``), made
    the first time an operation on it is called."""
    if t.relation == "missing":
        return {"model_id": MISSING, "evaluation_id": MISSING}
    return model_world(t.job, t.run)


def _alias(alias: str, version: int | None) -> Callable[[TeamWorld], None]:
    """Put an alias of the team's model back where the world has it (nothing if it is there already)."""

    def undo(t: TeamWorld) -> None:
        from catalog.services import model_promotion

        with session_scope() as s:
            model_promotion.set_alias(
                s, actor=SYSTEM, model_id=_models(t)["model_id"], alias=alias, version=version
            )

    return undo


def after_calls() -> dict[str, Callable[[TeamWorld], None]]:
    from catalog.services import algorithms, releases, roles, teams

    return {
        "POST /api/v1/releases/{release_id}/archive": _with(
            releases.restore_release, release_id=lambda t: t.release
        ),
        "DELETE /api/v1/jobs/{job_id}/runs/{run_id}": lambda t: tracking.set_deleted(
            tracking.client(), t.run, False
        ),
        "DELETE /api/v1/teams/{team_id}/members/{user_id}": _with(
            teams.add_member, team_id=lambda t: t.team, user_id=lambda t: t.member
        ),
        "POST /api/v1/teams/{team_id}/members": _with(
            teams.remove_member, team_id=lambda t: t.team, user_id=lambda t: t.outsider
        ),
        "POST /api/v1/algorithms/{scenario}/{name}/disable": _with(
            algorithms.set_enabled, scenario=SCN, name="ECOD", enabled=True
        ),
        "DELETE /api/v1/roles/{name}": _with(roles.create_role, name=MATRIX_ROLE, permissions=["jobs:read"]),
        # A rollback moves the champion back to v1: moved to v2 by hand again, it has v1 to go back to again.
        "POST /api/v1/models/{model_id}/rollback": _alias("champion", 2),
        "PUT /api/v1/models/{model_id}/aliases/{alias}": _alias("challenger", None),
    }


def _path(op: Operation, t: TeamWorld) -> dict[str, Any]:
    ids = {
        "dataset_id": t.dataset,
        "entry_id": t.entry,
        "release_id": t.release,
        "job_id": t.job,
        "serving_id": t.serving,
        "rollout_id": t.rollout,
        "team_id": t.team,
        "run_id": t.run,
        "user_id": t.robot,
        "scenario": SCN,
        "name": "ECOD",
    }
    if {"model_id", "evaluation_id"} & set(op.path_params):
        ids |= _models(t) | {"version": 1, "alias": "challenger"}
    return ids | {name: value(t) for name, value in PATHS.get(str(op), {}).items()}


def call_operation(
    http: httpx.Client, op: Operation, token: str, t: TeamWorld
) -> tuple[httpx.Response, dict[str, Any]]:
    """The answer, and the path values it was asked with."""
    key, ids = str(op), _path(op, t)
    kwargs: dict[str, Any] = {"headers": {"Authorization": f"Bearer {token}"}}
    body = BODIES[key](t) if key in BODIES else None
    if isinstance(body, bytes):
        kwargs["content"], kwargs["headers"]["Content-Type"] = body, "application/octet-stream"
    elif body is not None:
        kwargs["json"] = body
    params = (QUERIES[key](t) if key in QUERIES else {}) | (LISTS[key][0](t) if key in LISTS else {})
    if params:
        kwargs["params"] = params
    answer = http.request(op.method, op.url("", ids), **kwargs)
    launched = _launched(answer)
    if launched:
        cancel_flow_run(launched)  # a deployment another test registered took it: it must never run
    return answer, ids


def _launched(answer: httpx.Response) -> str | None:
    """The flow run an accepted launch answered with (``Launch``, or a change carrying one)."""
    if answer.status_code not in (201, 202) or "json" not in answer.headers.get("content-type", ""):
        return None
    body = answer.json()
    launch = body.get("launch") if isinstance(body, dict) and "launch" in body else body
    return launch.get("flow_run_id") if isinstance(launch, dict) else None


def refusal(answer: httpx.Response, ids: dict[str, Any], t: TeamWorld) -> tuple[int, str, str]:
    """Status, error code and words, with the ids asked for replaced (naming what was asked is no leak)."""
    if answer.status_code < 400:
        return answer.status_code, "", ""
    error = answer.json().get("error", {})
    message = words(str(error.get("message")), t)
    for value in sorted({str(v) for v in ids.values()}, key=len, reverse=True):
        message = re.sub(rf"(?<![\w-]){re.escape(value)}(?![\w-])", "<id>", message)
    return answer.status_code, str(error.get("code")), message
