"""MLflow's basic-auth accounts for custom training jobs: each start of a custom job runs the user's code as an
MLflow user of its own, allowed to edit only the job's experiment and registered model (docs/architecture.md,
"Custom training jobs"). The platform's account (the basic-auth admin) makes, grants and deletes them.

The calls go to the basic-auth app's REST API (``mlflow.server.auth.routes``: the paths are spelled out here
because importing that module loads MLflow's whole server, and a test checks they have not moved). Names and
the decisions on the listing are pure functions.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from infra.settings import TrackingSettings, get_settings
from infra.tracking import TrackingError, configure_http

CREATE_USER = "/api/2.0/mlflow/users/create"
DELETE_USER = "/api/2.0/mlflow/users/delete"
LIST_USERS = "/api/2.0/mlflow/users/list"
GRANT_PERMISSION = "/api/3.0/mlflow/users/permissions/grant"
REVOKE_PERMISSION = "/api/3.0/mlflow/users/permissions/revoke"

EXPERIMENT = "experiment"
REGISTERED_MODEL = "registered_model"
# The least that lets code log into a run of the experiment and register versions of the model (READ and USE
# cannot update a run or create a version; MANAGE could delete them and grant them to others).
JOB_PERMISSION = "EDIT"
# Revoking races a user who may be handing its grant on to another while we revoke: a few passes settle it.
_REVOKE_PASSES = 5


@dataclass(frozen=True, slots=True)
class Credentials:
    """An MLflow account: what a custom job's container gets as MLFLOW_TRACKING_USERNAME/PASSWORD."""

    username: str
    password: str = field(repr=False)


# -- names (pure) -----------------------------------------------------------------------------------------


def job_user_prefix(prefix: str) -> str:
    """Every job account of a platform starts with this (its experiment prefix: platforms sharing one MLflow
    server keep to their own accounts)."""
    return f"{prefix}-job-"


def job_username(prefix: str, job_id: int, flow_run_id: str | None) -> str:
    """The account of one start of a job: the job and the flow run that claimed it, both on the job's row
    (``train_job.id``, ``train_job.flow_run_id``), so whoever reads the row can name the account to delete."""
    run = re.sub(r"[^0-9a-z]", "", (flow_run_id or "").lower())[:12] or "local"
    return f"{job_user_prefix(prefix)}{job_id}-{run}"


def is_job_username(prefix: str, username: str) -> bool:
    rest = username.removeprefix(job_user_prefix(prefix))
    return rest != username and re.fullmatch(r"\d+-[0-9a-z]+", rest) is not None


def holders(users: Iterable[Mapping[str, Any]], *, resource_type: str, resource_id: str) -> list[str]:
    """The users of an MLflow users listing that hold a grant of their own on the resource."""
    found = []
    for user in users:
        grants = (p for role in user.get("roles") or () for p in role.get("permissions") or ())
        if any(
            g.get("resource_type") == resource_type and str(g.get("resource_pattern")) == resource_id
            for g in grants
        ):
            found.append(str(user["username"]))
    return found


# -- calls (as the platform's account) --------------------------------------------------------------------


def _call(
    method: str,
    endpoint: str,
    settings: TrackingSettings | None = None,
    *,
    json: dict[str, Any] | None = None,
    params: dict[str, Any] | None = None,
) -> dict[str, Any]:
    # MLflow is imported here, not at the top: the flows that import this module (every training flow, the
    # reconcilers) would otherwise load all of MLflow (~1.4 s) at each flow run's start, mostly for nothing.
    from mlflow.exceptions import MlflowException
    from mlflow.utils.rest_utils import MlflowHostCreds, http_request, verify_rest_response

    s = settings or get_settings().mlflow
    configure_http(s)
    creds = MlflowHostCreds(s.uri, username=s.username, password=s.password)
    kwargs: dict[str, Any] = {"json": json} if json is not None else {"params": params or {}}
    try:
        response = verify_rest_response(http_request(creds, endpoint, method, **kwargs), endpoint)
    except MlflowException as exc:
        raise AuthApiError(str(exc), str(exc.error_code)) from exc  # the callers tell its error codes apart
    except Exception as exc:
        raise TrackingError(f"MLflow call failed: {exc}") from exc
    return response.json() if response.content else {}


class AuthApiError(Exception):
    """An answer of MLflow's basic-auth API other than success, with its error code."""

    def __init__(self, message: str, error_code: str) -> None:
        super().__init__(message)
        self.error_code = error_code


def _error_code(exc: AuthApiError) -> str:
    return exc.error_code


def _no_auth_api(exc: AuthApiError) -> bool:
    """The server does not run the basic-auth app: it has no accounts (so none to delete, list or revoke)."""
    return _error_code(exc) == "ENDPOINT_NOT_FOUND"


def _wrap(what: str, exc: AuthApiError) -> TrackingError:
    if _no_auth_api(exc):
        return TrackingError(
            f"MLflow could not {what}: the server has no basic-auth API (`mlflow server --app-name basic-auth`), "
            "which custom jobs need to run as an MLflow account of their own"
        )
    return TrackingError(f"MLflow could not {what}: {str(exc)[:1000]}")


def delete_user(username: str, settings: TrackingSettings | None = None) -> bool:
    """Delete the account and every grant it holds. False when there was no such account (already deleted)."""
    try:
        _call("DELETE", DELETE_USER, settings, json={"username": username})
    except AuthApiError as exc:
        if _error_code(exc) == "RESOURCE_DOES_NOT_EXIST" or _no_auth_api(exc):
            return False
        raise _wrap(f"delete user {username!r}", exc) from exc
    return True


def new_job_user(
    username: str, *, experiment_id: str, model_name: str, settings: TrackingSettings | None = None
) -> Credentials:
    """A fresh account with a new random password and ``JOB_PERMISSION`` on the experiment and the registered
    model (both must exist), and nothing else. An account of that name left by an earlier attempt is deleted
    first, with whatever it had been granted or had created for itself."""
    password = secrets.token_urlsafe(32)
    try:
        try:
            _call("POST", CREATE_USER, settings, json={"username": username, "password": password})
        except AuthApiError as exc:
            if _error_code(exc) != "RESOURCE_ALREADY_EXISTS":
                raise
            delete_user(username, settings)
            _call("POST", CREATE_USER, settings, json={"username": username, "password": password})
        for resource_type, resource_id in ((EXPERIMENT, experiment_id), (REGISTERED_MODEL, model_name)):
            _call(
                "POST",
                GRANT_PERMISSION,
                settings,
                json={
                    "username": username,
                    "resource_type": resource_type,
                    "resource_id": resource_id,
                    "permission": JOB_PERMISSION,
                },
            )
    except AuthApiError as exc:
        raise _wrap(f"create the job's user {username!r}", exc) from exc
    return Credentials(username, password)


def _list_users(settings: TrackingSettings | None) -> list[dict[str, Any]]:
    try:
        return list(_call("GET", LIST_USERS, settings).get("users") or [])
    except AuthApiError as exc:
        if _no_auth_api(exc):
            return []
        raise _wrap("list its users", exc) from exc


def job_users(prefix: str, settings: TrackingSettings | None = None) -> list[str]:
    """The names of every job account of this platform (``prefix``: its experiment prefix)."""
    names = (str(u["username"]) for u in _list_users(settings))
    return [u for u in names if is_job_username(prefix, u)]


def revoke_job_users(
    prefix: str, *, resource_type: str, resource_id: str, settings: TrackingSettings | None = None
) -> list[str]:
    """Take every job account's grant on a resource away; returns the accounts that had one.

    Job accounts may create experiments and registered models (MLflow lets any user create, and makes the
    creator its manager), so code could take a name the platform will use later (a scenario's experiment, the
    next job's model) and read what the platform then puts there. The platform calls this on each experiment
    and registered model before a job uses it.
    """
    revoked: dict[str, None] = {}
    for _ in range(_REVOKE_PASSES):
        users = _list_users(settings)
        found = [
            u
            for u in holders(users, resource_type=resource_type, resource_id=resource_id)
            if is_job_username(prefix, u)
        ]
        if not found:
            return list(revoked)
        for username in found:
            try:
                _call(
                    "POST",
                    REVOKE_PERMISSION,
                    settings,
                    json={"username": username, "resource_type": resource_type, "resource_id": resource_id},
                )
            except AuthApiError as exc:
                if _error_code(exc) != "RESOURCE_DOES_NOT_EXIST":  # revoked or deleted meanwhile
                    raise _wrap(f"revoke {username!r}'s grant on {resource_type} {resource_id}", exc) from exc
            revoked[username] = None
    raise TrackingError(f"job users keep getting grants on {resource_type} {resource_id}: {sorted(revoked)}")
