"""The isolation matrix over HTTP: every operation of the live API's OpenAPI document that takes an id, called
by an outsider (eve, admin of team B) with team A's id, answers exactly what it answers for an id that does
not exist (status, code, words), names nothing of team A, and changes nothing; the owner's own call of every
read succeeds (a positive control: the refusal is not a malformed request). Lists never show team A's rows to
eve. Built from the document, so a new operation must be described here (a body, a query) the day it exists:
the test fails listing what it cannot call.

The world is tests/catalog/isolation_world.py's: two teams with a dataset, an entry, a published release, a
completed job with an MLflow run and a serving each, and the model each job feeds with two versions, a champion
and an evaluation (tests/api/models_support.py).
"""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from tests.api.conftest import PUBLIC, Operation
from tests.api.models_support import model_world
from tests.catalog.isolation_world import MISSING, MISSING_RUN, SECRET, World, add_runs, build_world, snapshot

pytestmark = [pytest.mark.platform_servers("s3", "mlflow", "prefect")]

# Path parameter -> the World attribute holding team A's id of that kind.
A_IDS = {
    "dataset_id": "dataset_a",
    "entry_id": "entry_a",
    "release_id": "release_a",
    "job_id": "job_a",
    "serving_id": "serving_a",
    "team_id": "team_a",
    "run_id": "run_a",
}
# Ids of team A that the World does not hold, made by the fixture: a token of alice's, team A's robot, the model
# its job feeds (versions 1 and 2) and an evaluation of it.
A_EXTRA = ("token_id", "user_id", "model_id", "evaluation_id", "rollout_id")
MISSING_IDS = {name: MISSING for name in (*A_IDS, *A_EXTRA)} | {"run_id": MISSING_RUN}

# Bodies and queries that are valid for the operation, so that only the id decides the answer.
BODIES: dict[str, dict[str, Any]] = {
    "POST /api/v1/datasets/{dataset_id}/releases": {},
    "POST /api/v1/datasets/{dataset_id}/entries": {},  # the file itself; the dataset is refused first
    "PATCH /api/v1/entries/{entry_id}": {"train": True},
    "PATCH /api/v1/jobs/{job_id}": {"max_evals": 0},
    "PATCH /api/v1/servings/{serving_id}": {"model_version": "latest"},
    "POST /api/v1/servings/{serving_id}/predict": {
        "data": [{"timestamp": "2024-01-01T00:00:00", "value": 1.0}]
    },
    "POST /api/v1/teams/{team_id}/members": {"user_id": 1, "role": "member"},
    "POST /api/v1/teams/{team_id}/move": {"parent_id": None},
    "PATCH /api/v1/models/{model_id}": {"description": "stolen"},
    "POST /api/v1/models/{model_id}/promote": {"version": 1},
    "PUT /api/v1/models/{model_id}/aliases/{alias}": {"version": 1},
    "PUT /api/v1/servings/{serving_id}/traffic": {"routing_header": "x-stolen"},
    "POST /api/v1/servings/{serving_id}/rollouts": {"canary": "1"},
    "POST /api/v1/rollouts/{rollout_id}/actions": {"action": "abort"},
}
BODIES["POST /api/v1/service-accounts/{user_id}/tokens"] = {"name": "stolen"}
QUERIES: dict[str, dict[str, Any]] = {
    "POST /api/v1/datasets/{dataset_id}/entries": {"filename": "stolen.csv"},
    "GET /api/v1/jobs/{job_id}/progress": {"flow_run_id": "00000000-0000-0000-0000-000000000000"},
    "GET /api/v1/releases/{release_id}/progress": {"flow_run_id": "00000000-0000-0000-0000-000000000000"},
    "GET /api/v1/servings/{serving_id}/progress": {"flow_run_id": "00000000-0000-0000-0000-000000000000"},
    "GET /api/v1/jobs/{job_id}/runs/{run_id}/metrics/{metric}": {},
    "GET /api/v1/evaluations/{evaluation_id}/progress": {
        "flow_run_id": "00000000-0000-0000-0000-000000000000"
    },
}
EXTRA_PATH = {"metric": "auc", "version": 1, "alias": "challenger"}
# Operations whose path names no team's row, and why (no foreign id to try).
SHARED = {
    "GET /api/v1/algorithms/{scenario}/{name}": "the algorithm catalog is shared by every team",
}
# Reads whose owner's call cannot succeed in this world, and why.
NO_POSITIVE_CONTROL = {
    "GET /api/v1/jobs/custom/{job_id}": "the world's jobs are preset jobs",
    "GET /api/v1/entries/{entry_id}/download": "the world's entries have no object",
    "GET /api/v1/releases/{release_id}/progress": "no Prefect server in this world: its owner gets a 503",
    "GET /api/v1/releases/{release_id}/download": "the world's releases have no object",
}


def _token(username: str) -> str:
    from catalog.db import session_scope
    from catalog.services import teams, tokens

    with session_scope() as session:
        actor = teams.actor_for(session, username=username)
        _, plain = tokens.create_token(session, actor=actor, name=f"{username}-matrix", days=1)
    return plain


def _body_required(op: Operation) -> bool:
    return bool(op.spec.get("requestBody", {}).get("required"))


def _call(op: Operation, base: str, token: str, ids: dict[str, Any]) -> httpx.Response:
    key = str(op)
    kwargs: dict[str, Any] = {"headers": {"Authorization": f"Bearer {token}"}, "timeout": 120}
    if key in BODIES:
        kwargs["json"] = BODIES[key]
    if key in QUERIES:
        kwargs["params"] = QUERIES[key]
    return httpx.request(op.method, op.url(base, {**EXTRA_PATH, **ids}), **kwargs)


def _words(answer: httpx.Response, ids: dict[str, Any]) -> tuple[int, str, str]:
    error = answer.json().get("error", {})
    message = str(error.get("message", ""))
    for value in sorted({str(v) for v in ids.values()}, key=len, reverse=True):
        message = re.sub(rf"\b{re.escape(value)}\b", "<id>", message)
    return answer.status_code, str(error.get("code")), message


@pytest.fixture
def world(api_server: Any) -> World:
    from catalog.db import session_scope
    from catalog.services import teams, tokens

    built = build_world()
    add_runs(built)
    models = model_world(built.job_a, built.run_a)  # type: ignore[arg-type]
    model_world(built.job_b, built.run_b)  # type: ignore[arg-type]
    with session_scope() as session:
        alice = teams.actor_for(session, username="alice")
        robot = tokens.create_service_account(session, actor=alice, team_id=built.team_a, name="secret-robot")
        token, _ = tokens.create_service_token(
            session, actor=alice, user_id=robot.id, name="secret-t", days=1
        )
        built.extra = {  # type: ignore[attr-defined]
            "user_id": robot.id,
            "token_id": token.id,
            "rollout_id": built.rollout_a,
            **models,
        }
    return built


def a_id(world: World, name: str) -> Any:
    return world.extra[name] if name in A_EXTRA else getattr(world, A_IDS[name])  # type: ignore[attr-defined]


def test_a_foreign_id_reads_like_a_missing_one_on_every_operation(api_server, api_operations, world) -> None:  # type: ignore[no-untyped-def]
    eve, alice = _token("eve"), _token("alice")
    assert set(SHARED) <= {str(op) for op in api_operations}, "SHARED names an operation that is gone"
    with_ids = [
        op
        for op in api_operations
        if op.path_params and op.path not in PUBLIC and not op.admin_only and str(op) not in SHARED
    ]
    undescribed = [
        str(op)
        for op in with_ids
        if (_body_required(op) and str(op) not in BODIES)
        or any(p not in MISSING_IDS and p not in EXTRA_PATH for p in op.path_params)
    ]
    assert not undescribed, f"describe a valid body / path value for: {undescribed}"
    assert len(with_ids) >= 30
    before = {k: v for k, v in snapshot(world).items() if k != "api_token"}
    for op in with_ids:
        foreign = {p: a_id(world, p) for p in op.path_params if p in MISSING_IDS}
        missing = {p: MISSING_IDS[p] for p in op.path_params if p in MISSING_IDS}
        want = _call(op, api_server.url, eve, missing)
        got = _call(op, api_server.url, eve, foreign)
        assert want.status_code == 404, f"{op} with a missing id: {want.status_code} {want.text[:300]}"
        assert _words(got, foreign) == _words(want, missing), f"{op}: {got.text[:300]} vs {want.text[:300]}"
        assert SECRET not in got.text.lower(), f"{op} names team A's data: {got.text[:300]}"
    after = {k: v for k, v in snapshot(world).items() if k != "api_token"}
    assert after == before, "an outsider's refused call changed something"
    # The owner's own reads succeed (after the check above: a serving's read records its observed state).
    for op in with_ids:
        if op.method == "GET" and str(op) not in NO_POSITIVE_CONTROL:
            foreign = {p: a_id(world, p) for p in op.path_params if p in MISSING_IDS}
            own = _call(op, api_server.url, alice, foreign)
            assert own.status_code < 400, f"positive control {op}: {own.status_code} {own.text[:300]}"


def test_lists_show_the_outsider_none_of_team_a(api_server, api_operations, world) -> None:  # type: ignore[no-untyped-def]
    eve, alice = _token("eve"), _token("alice")
    lists = [
        op
        for op in api_operations
        if op.method == "GET" and not op.path_params and op.path not in PUBLIC and not op.admin_only
    ]
    assert len(lists) >= 4
    for op in lists:
        mine = httpx.get(api_server.url + op.path, headers={"Authorization": f"Bearer {eve}"}, timeout=60)
        assert mine.status_code == 200, f"{op}: {mine.text[:300]}"
        assert SECRET not in mine.text.lower(), f"{op} shows team A's rows to the outsider"
        theirs = httpx.get(api_server.url + op.path, headers={"Authorization": f"Bearer {alice}"}, timeout=60)
        assert theirs.status_code == 200
    datasets = httpx.get(
        f"{api_server.url}/api/v1/datasets", headers={"Authorization": f"Bearer {alice}"}, timeout=60
    ).json()
    assert any(SECRET in d["name"] for d in datasets["items"]), "positive control: alice sees her dataset"
