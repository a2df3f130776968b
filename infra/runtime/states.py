"""How each backend's own states map onto ``base.ContainerState``: pure functions over API documents.

Owns the mapping rules, so they are tested without an engine or a cluster. Inputs are plain JSON-shaped
documents exactly as the engines report them: Docker's ``State`` object of ``docker inspect``, and
Kubernetes objects in their camelCase wire form (``kubectl get -o json``; the runtime converts the client's
model objects with ``ApiClient.sanitize_for_serialization``).
"""

from __future__ import annotations

import re
import signal
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from infra.runtime.base import ContainerState

# Docker and Kubernetes write nanoseconds; Python parses at most microseconds.
_FRACTION_RE = re.compile(r"(\.\d{6})\d+")
# Waiting reasons after which a pod will not recover by itself; the rest (image pulls, a secret that is
# being created) are still PENDING and carried in the detail.
FATAL_WAITING_REASONS = frozenset(
    {"CrashLoopBackOff", "InvalidImageName", "ErrImageNeverPull", "RunContainerError"}
)


@dataclass(frozen=True, slots=True)
class Observed:
    """A mapped state plus what the caller shows next to it."""

    state: ContainerState
    exit_code: int | None = None
    detail: str = ""
    started_at: datetime | None = None
    finished_at: datetime | None = None


def parse_time(value: Any) -> datetime | None:
    """An RFC 3339 time from Docker or Kubernetes; None for missing values and Docker's zero time."""
    if not isinstance(value, str) or not value or value.startswith("0001-01-01"):
        return None
    try:
        return datetime.fromisoformat(_FRACTION_RE.sub(r"\1", value.replace("Z", "+00:00")))
    except ValueError:
        return None


def describe_exit(code: int) -> str:
    """A human reason for an exit code, naming the signal for 128+N codes (137 is the usual OOM/kill)."""
    if 128 < code < 128 + 65:
        try:
            return f"exit code {code} (killed by {signal.Signals(code - 128).name})"
        except ValueError:
            pass
    return f"exit code {code}"


# -- Docker ----------------------------------------------------------------------------------------------
def docker_state(state: Mapping[str, Any]) -> Observed:
    """Map ``docker inspect``'s ``State`` (Status, ExitCode, OOMKilled, Error, StartedAt, FinishedAt)."""
    status = str(state.get("Status") or "")
    code = state.get("ExitCode")
    code = code if isinstance(code, int) else None
    error = str(state.get("Error") or "")
    started, finished = parse_time(state.get("StartedAt")), parse_time(state.get("FinishedAt"))
    if status == "running":
        return Observed(ContainerState.RUNNING, None, "", started, None)
    if status == "paused":
        return Observed(ContainerState.RUNNING, None, "paused", started, None)
    if status == "restarting":
        return Observed(ContainerState.PENDING, code, "restarting", started, finished)
    if status == "created":
        # A container whose start failed (e.g. the command does not exist) stays "created" with an error.
        if error or (code or 0) != 0:
            return Observed(ContainerState.FAILED, code, error or describe_exit(code or 0), None, finished)
        return Observed(ContainerState.PENDING, None, "created", None, None)
    if status in ("exited", "dead", "removing"):
        if state.get("OOMKilled"):
            return Observed(
                ContainerState.FAILED, code, "killed: out of memory (OOMKilled)", started, finished
            )
        if status == "dead":
            return Observed(
                ContainerState.FAILED, code, "dead" + (f": {error}" if error else ""), started, finished
            )
        if code == 0:
            return Observed(ContainerState.EXITED, 0, "", started, finished)
        detail = describe_exit(code) if code is not None else "exited without an exit code"
        return Observed(
            ContainerState.FAILED, code, f"{detail}: {error}" if error else detail, started, finished
        )
    return Observed(ContainerState.UNKNOWN, code, f"unmapped Docker status {status!r}", started, finished)


# -- Kubernetes ------------------------------------------------------------------------------------------
def _conditions(obj: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    return {str(c.get("type")): c for c in (obj.get("status") or {}).get("conditions") or []}


def _is_true(condition: Mapping[str, Any] | None) -> bool:
    return condition is not None and str(condition.get("status")) == "True"


def _pod_containers(pod: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    # Init containers too: one that fetches a container's inputs can fail before the main container runs.
    status = pod.get("status") or {}
    return [*(status.get("initContainerStatuses") or []), *(status.get("containerStatuses") or [])]


def pod_exit(pods: Iterable[Mapping[str, Any]]) -> tuple[int | None, str]:
    """Exit code and reason of the most recent terminated container among ``pods``."""
    best: tuple[str, int | None, str] | None = None
    for pod in pods:
        for cs in _pod_containers(pod):
            for key in ("state", "lastState"):
                term = (cs.get(key) or {}).get("terminated")
                if term:
                    when = str(term.get("finishedAt") or "")
                    reason = str(term.get("reason") or "")
                    if best is None or when > best[0]:
                        best = (when, term.get("exitCode"), reason)
                    break
    if best is None:
        return None, ""
    return best[1], best[2]


def pod_waiting(pods: Iterable[Mapping[str, Any]]) -> tuple[str, str]:
    """(reason, message) of a waiting container (ImagePullBackOff, CrashLoopBackOff, ...), or empty."""
    for pod in pods:
        for cs in _pod_containers(pod):
            waiting = (cs.get("state") or {}).get("waiting")
            if waiting and waiting.get("reason"):
                return str(waiting["reason"]), str(waiting.get("message") or "")
        for cond in (pod.get("status") or {}).get("conditions") or []:
            if cond.get("type") == "PodScheduled" and cond.get("status") == "False":
                return str(cond.get("reason") or "Unschedulable"), str(cond.get("message") or "")
    return "", ""


def _waiting_detail(reason: str, message: str) -> str:
    return f"{reason}: {message}" if message else reason


def kube_job_state(job: Mapping[str, Any], pods: Iterable[Mapping[str, Any]] = ()) -> Observed:
    """Map a batch/v1 Job (its conditions and counters) and its pods onto the common states."""
    pods = list(pods)
    status = job.get("status") or {}
    conditions = _conditions(job)
    started, finished = parse_time(status.get("startTime")), parse_time(status.get("completionTime"))
    # SuccessCriteriaMet / FailureTarget come first on Kubernetes >= 1.31; Complete / Failed follow.
    for kind in ("Failed", "FailureTarget"):
        cond = conditions.get(kind)
        if _is_true(cond):
            assert cond is not None
            code, term_reason = pod_exit(pods)
            reason = str(cond.get("reason") or kind)
            message = str(cond.get("message") or "")
            if reason == "DeadlineExceeded":
                detail = "killed: activeDeadlineSeconds exceeded"
            else:
                detail = describe_exit(code) if code not in (None, 0) else reason
                if term_reason and term_reason not in ("Error", "Completed"):
                    detail += f" ({term_reason})"
                if message:
                    detail += f": {message}"
            finished = finished or parse_time(cond.get("lastTransitionTime"))
            return Observed(ContainerState.FAILED, code, detail, started, finished)
    for kind in ("Complete", "SuccessCriteriaMet"):
        cond = conditions.get(kind)
        if _is_true(cond):
            assert cond is not None
            return Observed(
                ContainerState.EXITED, 0, "", started, finished or parse_time(cond.get("lastTransitionTime"))
            )
    if _is_true(conditions.get("Suspended")):
        return Observed(ContainerState.PENDING, None, "suspended", started)
    ready = status.get("ready")
    if (status.get("active") or 0) > 0 and (ready is None or ready > 0):
        return Observed(ContainerState.RUNNING, None, "", started)
    reason, message = pod_waiting(pods)
    if reason in FATAL_WAITING_REASONS:
        return Observed(ContainerState.FAILED, None, _waiting_detail(reason, message), started)
    if reason:
        return Observed(ContainerState.PENDING, None, _waiting_detail(reason, message), started)
    return Observed(
        ContainerState.PENDING, None, "scheduling" if not (status.get("active") or 0) else "starting", started
    )


def kube_deployment_state(deployment: Mapping[str, Any], pods: Iterable[Mapping[str, Any]] = ()) -> Observed:
    """Map an apps/v1 Deployment (availability, progress) and its pods onto the common states.

    An inference server restarts under a Deployment, so "it exited" shows up as a crash loop or a failed
    rollout, both FAILED; it is RUNNING once a replica passes its readiness probe (model loaded).
    """
    pods = list(pods)
    spec = deployment.get("spec") or {}
    status = deployment.get("status") or {}
    conditions = _conditions(deployment)
    created = parse_time((deployment.get("metadata") or {}).get("creationTimestamp"))
    if spec.get("replicas") == 0:
        return Observed(ContainerState.EXITED, None, "scaled to zero", created)
    progressing = conditions.get("Progressing")
    if progressing is not None and str(progressing.get("status")) == "False":
        code, _ = pod_exit(pods)
        message = str(progressing.get("message") or progressing.get("reason") or "rollout failed")
        return Observed(ContainerState.FAILED, code, message, created)
    reason, message = pod_waiting(pods)
    if reason in FATAL_WAITING_REASONS:
        code, _ = pod_exit(pods)
        detail = _waiting_detail(reason, message)
        if code is not None:
            detail = f"{detail} (last {describe_exit(code)})"
        return Observed(ContainerState.FAILED, code, detail, created)
    if (status.get("readyReplicas") or 0) > 0 and _is_true(conditions.get("Available")):
        return Observed(ContainerState.RUNNING, None, "", created)
    if (status.get("readyReplicas") or 0) > 0:
        return Observed(ContainerState.RUNNING, None, "available soon", created)
    if reason:
        return Observed(ContainerState.PENDING, None, _waiting_detail(reason, message), created)
    return Observed(ContainerState.PENDING, None, "waiting for a ready replica", created)
