"""The permission matrix over HTTP: every operation of the live API's OpenAPI document × every built-in role × own
/ child / parent / sibling team → allowed or refused as the service function that governs it (``GOVERNED_BY``)
declares, by ``tests/catalog/permission_world.expected``. Refused: 403 on a team the caller sees (the error
naming the permission), 404 on one it does not (the words of a missing id); a list refuses by leaving the team's
row out. Allowed: the superuser's answer on the same team (so neither 403 nor 404). An operation that is neither
governed nor ``EXEMPT`` fails by name; so does a governing function that declares no permission and is not in
``UNDECLARED``.

The world is the catalog matrix's (tests/catalog/permission_world.py); how each operation is called on a team's
resources is tests/api/permission_calls.py (a new operation: one line in ``GOVERNED_BY``, and a body there if it
takes one). Calls that change the world are undone after, or get throwaway ids; launches answer 503 (no flow
runner registers deployments here) after the permission check, so nothing runs (a flow run a deployment registered
by an earlier test accepted is cancelled).
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from catalog.scoping import REQUIRED
from tests.api.conftest import Operation
from tests.api.datasets_support import start_api
from tests.api.permission_calls import LISTS, after_calls, call_operation, refusal
from tests.catalog.isolation_world import SECRET, service_functions
from tests.catalog.permission_world import (
    ALLOWED,
    DENIED,
    ROLES,
    SUPERUSER,
    PermissionWorld,
    TeamWorld,
    build_permission_world,
    expected,
    tokens_of,
)

pytestmark = pytest.mark.platform_servers("s3", "mlflow", "prefect")

# Operation → the service function whose permission governs it (catalog.scoping.REQUIRED, else UNDECLARED).
GOVERNED_BY: dict[str, str] = {
    "POST /api/v1/service-accounts": "tokens.create_service_account",
    "GET /api/v1/service-accounts": "tokens.page_service_accounts",
    "GET /api/v1/service-accounts/{user_id}/tokens": "tokens.create_service_token",  # managing the robot
    "POST /api/v1/service-accounts/{user_id}/tokens": "tokens.create_service_token",
    "DELETE /api/v1/tokens/{token_id}": "tokens.create_service_token",  # a robot's token (one's own: exempt)
    "GET /api/v1/teams": "teams.page_teams",
    "POST /api/v1/teams": "team_tree.create_team",  # a sub-team of the team
    "POST /api/v1/roles": "roles.create_role",
    "PATCH /api/v1/roles/{name}": "roles.update_role",
    "DELETE /api/v1/roles/{name}": "roles.delete_role",
    "GET /api/v1/teams/{team_id}": "teams.get_team",
    "GET /api/v1/teams/{team_id}/members": "teams.list_members",
    "POST /api/v1/teams/{team_id}/members": "teams.add_member",
    "DELETE /api/v1/teams/{team_id}/members/{user_id}": "teams.remove_member",
    "GET /api/v1/users": "teams.page_users",
    "POST /api/v1/users": "teams.create_user",
    "GET /api/v1/users/{user_id}": "api.deps.admin_actor",
    "PUT /api/v1/users/{user_id}/password": "api.deps.admin_actor",
    "POST /api/v1/algorithms/{scenario}/{name}/enable": "algorithms.set_enabled",
    "POST /api/v1/algorithms/{scenario}/{name}/disable": "algorithms.set_enabled",
    "POST /api/v1/datasets": "datasets.create_dataset",
    "GET /api/v1/datasets": "datasets.list_datasets",
    "GET /api/v1/datasets/{dataset_id}": "datasets.get_dataset",
    "POST /api/v1/datasets/{dataset_id}/entries": "datasets.add_entry",
    "GET /api/v1/datasets/{dataset_id}/entries": "datasets.page_entries",
    "GET /api/v1/entries/{entry_id}": "datasets.get_entry",
    "PATCH /api/v1/entries/{entry_id}": "datasets.set_entry_flags",
    "GET /api/v1/entries/{entry_id}/download": "datasets.get_entry",
    "POST /api/v1/datasets/{dataset_id}/releases": "releases.create_release",
    "GET /api/v1/datasets/{dataset_id}/releases": "releases.page_releases",
    "POST /api/v1/releases/{release_id}/publish": "releases.request_publish",
    "GET /api/v1/releases": "releases.page_releases",
    "GET /api/v1/releases/{release_id}": "releases.get_release",
    "GET /api/v1/releases/{release_id}/progress": "releases.get_release",
    "POST /api/v1/releases/{release_id}/archive": "releases.archive_release",
    "POST /api/v1/releases/{release_id}/restore": "releases.restore_release",
    "GET /api/v1/releases/{release_id}/download": "releases.downloadable_release",
    "GET /api/v1/releases/{release_id}/link": "releases.downloadable_release",
    "POST /api/v1/jobs/custom": "custom_jobs.create_custom_job",
    "GET /api/v1/jobs/custom/{job_id}": "training.get_job",
    "POST /api/v1/jobs": "training.create_job",
    "GET /api/v1/jobs": "training.list_jobs",
    "GET /api/v1/jobs/{job_id}": "training.get_job",
    "PATCH /api/v1/jobs/{job_id}": "training.update_job",
    "POST /api/v1/jobs/{job_id}/start": "training.request_start",
    "POST /api/v1/jobs/{job_id}/stop": "training.request_stop",
    "GET /api/v1/jobs/{job_id}/progress": "training.get_job",
    "GET /api/v1/jobs/{job_id}/runs": "runs.list_runs",
    "GET /api/v1/jobs/{job_id}/runs/{run_id}/params": "runs.run_params",
    "GET /api/v1/jobs/{job_id}/runs/{run_id}/metrics": "runs.metric_names",
    "GET /api/v1/jobs/{job_id}/runs/{run_id}/metrics/history": "runs.metric_history",
    "DELETE /api/v1/jobs/{job_id}/runs/{run_id}": "runs.delete_run",
    "POST /api/v1/jobs/{job_id}/runs/{run_id}/restore": "runs.restore_run",
    "GET /api/v1/jobs/{job_id}/runs/{run_id}/model": "runs.download_model",
    "POST /api/v1/servings": "serving.create_serving",
    "GET /api/v1/servings": "serving.list_servings",
    "GET /api/v1/servings/{serving_id}": "serving.get_serving",
    "PATCH /api/v1/servings/{serving_id}": "serving.update_serving",
    "DELETE /api/v1/servings/{serving_id}": "serving.request_lifecycle",
    "POST /api/v1/servings/{serving_id}/start": "serving.request_lifecycle",
    "POST /api/v1/servings/{serving_id}/stop": "serving.request_lifecycle",
    "POST /api/v1/servings/{serving_id}/remove": "serving.request_lifecycle",
    "GET /api/v1/servings/{serving_id}/progress": "serving.get_serving",
    "GET /api/v1/servings/{serving_id}/token": "serving.token_for",
    "POST /api/v1/servings/{serving_id}/predict": "serving.predictable",
    "PUT /api/v1/servings/{serving_id}/traffic": "traffic.set_traffic",
    "POST /api/v1/servings/{serving_id}/rollouts": "rollouts.start_rollout",
    "GET /api/v1/servings/{serving_id}/rollouts": "rollouts.list_rollouts",
    "GET /api/v1/rollouts/{rollout_id}": "rollouts.get_rollout",
    "POST /api/v1/rollouts/{rollout_id}/actions": "rollouts.control_rollout",
    "GET /api/v1/models": "models.list_models",
    "POST /api/v1/models": "models.create_model",
    "GET /api/v1/models/{model_id}": "models.get_model",
    "PATCH /api/v1/models/{model_id}": "models.configure_gate",
    "GET /api/v1/models/{model_id}/versions": "models.list_versions",
    "GET /api/v1/models/{model_id}/versions/{version}": "models.get_version",
    "GET /api/v1/models/{model_id}/versions/{version}/lineage": "model_lineage.version_lineage",
    "GET /api/v1/releases/{release_id}/lineage": "model_lineage.release_lineage",
    "POST /api/v1/models/{model_id}/promote": "model_promotion.request_promotion",
    "GET /api/v1/models/{model_id}/evaluations": "model_promotion.list_evaluations",
    "GET /api/v1/evaluations/{evaluation_id}": "model_promotion.get_evaluation",
    "GET /api/v1/evaluations/{evaluation_id}/progress": "model_promotion.get_evaluation",
    "POST /api/v1/models/{model_id}/rollback": "model_promotion.rollback",
    "PUT /api/v1/models/{model_id}/aliases/{alias}": "model_promotion.set_alias",
    "GET /api/v1/models/{model_id}/aliases/history": "model_promotion.alias_history",
    "GET /api/v1/audit": "audit.list_events",
    "GET /api/v1/teams/{team_id}/usage": "quotas.team_usage",
    "PUT /api/v1/teams/{team_id}/quota": "quotas.set_quota",
}
# Operations needing no team permission, and why.
EXEMPT: dict[str, str] = {
    "GET /api/v1/health": "liveness, no token",
    "POST /api/v1/auth/token": "the token exchange: who is asking is what it establishes",
    "GET /api/v1/me": "the caller's own identity",
    "GET /api/v1/tokens": "the caller's own tokens",
    "POST /api/v1/tokens": "a token of the caller's own (narrowed to permissions they hold)",
    "GET /api/v1/algorithms": "the algorithm catalog is shared by every team",
    "GET /api/v1/roles": "the roles there are (built-in and custom), the same for everyone signed in",
    "POST /api/v1/teams/{team_id}/move": "governed by the team's parent (teams:manage there): "
    "tests/catalog/test_permission_matrix.py (on_parent) and tests/api/test_hierarchy.py",
    "DELETE /api/v1/teams/{team_id}": "governed by the team's parent (teams:manage there): "
    "tests/catalog/test_permission_matrix.py (on_parent) and tests/api/test_hierarchy.py",
    "GET /api/v1/algorithms/{scenario}/{name}": "the algorithm catalog is shared by every team",
}
# Governing functions that declare no permission (yet): the permission their edge enforces (None: seeing the
# team is enough), and why.
UNDECLARED: dict[str, tuple[str | None, str]] = {
    "teams.page_teams": (None, "the teams a role reaches"),
    "teams.get_team": (None, "a team a role reaches"),
    "teams.list_members": (None, "the members of a team a role reaches"),
    "quotas.team_usage": (None, "usage and limits of a team a role reaches"),
    "api.deps.admin_actor": ("admin:*", "the API's user administration is for administrators (x-admin-only)"),
}
# Operations known not to follow the matrix yet, and what fixes them (the test fails once one follows it).
KNOWN_GAPS: dict[str, str] = {}


def permission_of(op: str) -> str | None:
    name = GOVERNED_BY[op]
    return REQUIRED[name] if name in REQUIRED else UNDECLARED[name][0]


def check_operation(
    http: httpx.Client, op: Operation, tokens: dict[str, str], world: PermissionWorld, after: dict[str, Any]
) -> list[str]:
    """Every role on every team against ``expected``; the problems found, one line each."""
    key, permission = str(op), permission_of(str(op))
    undo = after.get(key)
    missing: dict[str, tuple[int, str, str]] = {}

    def call(role: str, t: TeamWorld) -> tuple[httpx.Response, dict[str, Any]]:
        answer, ids = call_operation(http, op, tokens[role], t)
        # A 503 may follow a change that was recorded (an alias moved, its follow-up flow not launched).
        if undo is not None and (answer.status_code < 300 or answer.status_code == 503):
            undo(t)
        return answer, ids

    problems: list[str] = []
    for relation, t in world.teams.items():
        control, _ = call(SUPERUSER, t)
        listed = LISTS[key][1](control.json(), t) if key in LISTS and control.status_code == 200 else None
        if control.status_code not in (200, 201, 202, 204, 409, 503) or listed is False:
            problems.append(f"superuser on {relation}: {control.status_code} {control.text[:200]}")
            continue
        for role in ROLES:
            want = expected(permission, role, relation)
            got, ids = call(role, t)
            seen = f"{role} on {relation}: expected {want}, got {got.status_code} {got.text[:160]}"
            if key in LISTS and got.status_code == 200:
                if LISTS[key][1](got.json(), t) != (want == ALLOWED):
                    problems.append(seen)
            elif want == ALLOWED:
                if got.status_code != control.status_code:
                    problems.append(f"{seen} (the superuser got {control.status_code})")
            elif want == DENIED:
                code = refusal(got, ids, t)[1]
                if got.status_code != 403 or code != "permission_denied" or str(permission) not in got.text:
                    problems.append(f"{seen} (403 naming {permission!r})")
            else:
                if role not in missing:
                    gone = next(iter(world.teams.values())).missing()
                    missing[role] = refusal(*call(role, gone), gone)
                if refusal(got, ids, t) != missing[role] or got.status_code not in (403, 404):
                    problems.append(f"{seen} (as a missing id: {missing[role]})")
                elif SECRET in got.text.lower():
                    problems.append(f"{seen}: the refusal names the hidden team's data")
    return problems


@pytest.fixture
def api(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Any:
    # The world's custom jobs (and the custom-job operation) run on the process runtime, refused unless told.
    return start_api(request, monkeypatch, MLOPS_TRAIN_CUSTOM_JOBS_ON_PROCESS="true")


def test_each_role_on_each_team_gets_what_its_role_allows_on_every_operation(api, api_operations) -> None:  # type: ignore[no-untyped-def]
    service_functions()  # imports every service module: REQUIRED is complete
    ops = {str(op) for op in api_operations}
    unmapped = sorted(ops - set(GOVERNED_BY) - set(EXEMPT))
    assert not unmapped, (
        f"operations neither in GOVERNED_BY nor EXEMPT (tests/api/test_permission_matrix.py): {unmapped}"
    )
    stale = sorted((set(GOVERNED_BY) | set(EXEMPT) | set(KNOWN_GAPS)) - ops)
    assert not stale, f"entries of operations that no longer exist: {stale}"
    undeclared = sorted({f for f in GOVERNED_BY.values() if f not in REQUIRED and f not in UNDECLARED})
    assert not undeclared, (
        f"governing functions that declare no permission and are not in UNDECLARED: {undeclared}"
    )
    declared = sorted(set(UNDECLARED) & set(REQUIRED))
    assert not declared, f"UNDECLARED functions that declare a permission now (remove them): {declared}"

    world = build_permission_world()
    tokens = tokens_of(world)
    after = after_calls()
    governed = [op for op in api_operations if str(op) in GOVERNED_BY]
    with httpx.Client(base_url=api.url, timeout=120) as http:
        found = {str(op): check_operation(http, op, tokens, world, after) for op in governed}
    deviating = {op: problems for op, problems in found.items() if problems}
    unexpected = {op: problems for op, problems in deviating.items() if op not in KNOWN_GAPS}
    assert not unexpected, "\n".join(
        f"{op} ({permission_of(op)}):\n  " + "\n  ".join(p) for op, p in unexpected.items()
    )
    conforming = sorted(set(KNOWN_GAPS) - set(deviating))
    assert not conforming, f"KNOWN_GAPS that follow the matrix now (remove them): {conforming}"
