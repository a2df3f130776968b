"""The MLflow accounts custom jobs run as (docs/architecture.md, "Custom training jobs"): one per start of a custom
job, made by the platform's account just before the container starts, allowed to edit the job's own experiment and
registered model and nothing else, and deleted when the start ends (watchdog, stop, failed launch) or, after a
crash, by the reconciler.

An account's name is derived from the job's row (``infra.tracking_auth.job_username``: the job and the flow run
that claimed it), so the rule "which accounts may still be in use" needs nothing but the catalog: the account of
each custom job a start holds now (STARTING or RUNNING). Every other job account is deleted. The rule is pure
(``live_accounts``, ``stale_accounts``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from catalog.db import session_scope
from catalog.models import ACTIVE_STATUSES, JobKind, TrainJob
from catalog.services import training as training_service
from infra import tracking_auth
from infra.settings import get_settings
from infra.tracking import TrackingError
from infra.tracking_auth import Credentials

log = logging.getLogger(__name__)


def _prefix() -> str:
    return get_settings().mlflow.experiment_prefix


def account_name(job_id: int, flow_run_id: str | None) -> str:
    """The account of the start of job ``job_id`` by flow run ``flow_run_id``."""
    return tracking_auth.job_username(_prefix(), job_id, flow_run_id)


def live_accounts(prefix: str, starts: Iterable[tuple[int, str | None]]) -> set[str]:
    """The accounts that may be in use: those of the (job id, flow run id) starts holding a custom job now."""
    return {tracking_auth.job_username(prefix, job_id, flow_run_id) for job_id, flow_run_id in starts}


def stale_accounts(listed: Iterable[str], live: set[str]) -> list[str]:
    """The listed job accounts no start holds any more. ``listed`` must be read before ``live``: an account made
    after the listing is not in it, and one in it was made after its job's claim, which ``live`` then shows."""
    return sorted(set(listed) - live)


def claim_resources(*, experiment_id: str, model_name: str | None) -> None:
    """Before a job uses its experiment and registered model (either kind): no job account keeps a grant on them.

    Job accounts may create experiments and models (MLflow lets any user create, and makes the creator their
    manager): code could take a name the platform uses later (a scenario's experiment, the next job's model) to
    read what lands there. The platform's account takes such grants away first.
    """
    prefix = _prefix()
    for resource_type, resource_id in (
        (tracking_auth.EXPERIMENT, experiment_id),
        (tracking_auth.REGISTERED_MODEL, model_name),
    ):
        if resource_id:
            revoked = tracking_auth.revoke_job_users(
                prefix, resource_type=resource_type, resource_id=resource_id
            )
            if revoked:
                log.warning("took the grants of %s on %s %s away", revoked, resource_type, resource_id)


def issue(job: TrainJob) -> Credentials:
    """A new account for the start of custom job ``job`` (read after its run was attached: its experiment and
    model exist), with a new random password; an account of the same name from an earlier attempt is replaced."""
    if not job.mlflow_experiment_id or not job.model_name:
        raise TrackingError(f"job {job.id} has no experiment or model to grant its account")
    return tracking_auth.new_job_user(
        account_name(int(job.id or 0), job.flow_run_id),
        experiment_id=job.mlflow_experiment_id,
        model_name=job.model_name,
    )


def retire(job_id: int, flow_run_id: str | None) -> str | None:
    """Delete the account of the start of ``job_id`` by ``flow_run_id`` unless that start still holds the job
    (idempotent). Returns the error when MLflow refused or did not answer (the reconciler tries again), else None."""
    with session_scope() as session:
        job = session.get(TrainJob, job_id)
        if job is None or job.kind != JobKind.CUSTOM:
            return None
        holding = [(job_id, job.flow_run_id)] if job.status in ACTIVE_STATUSES else []
    name = account_name(job_id, flow_run_id)
    if name in live_accounts(_prefix(), holding):
        return None
    try:
        tracking_auth.delete_user(name)
    except TrackingError as exc:
        return str(exc)
    return None


def sweep() -> list[str]:
    """Delete every job account no start holds (the starts' own deletions failed, or their watcher died with a
    crash). Returns the accounts deleted; an account that could not be deleted is logged and left for next time."""
    prefix = _prefix()
    listed = tracking_auth.job_users(prefix)  # before the catalog: see stale_accounts
    with session_scope() as session:
        live = live_accounts(prefix, training_service.active_custom_starts(session))
    deleted = []
    for name in stale_accounts(listed, live):
        try:
            if tracking_auth.delete_user(name):
                deleted.append(name)
        except TrackingError as exc:
            log.warning("could not delete MLflow account %s: %s", name, exc)
    return deleted
