"""The promotion gate's evaluation container: launched through the runtime, waited for with a deadline, its result
read back from S3, the container removed. Flows reach the evaluation only through ``run_evaluation``."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from prefect import task

from infra.objectstore import ObjectStore, format_s3_uri
from infra.objectstore_types import ObjectStoreError
from infra.runtime.base import ContainerState
from infra.runtime.registry import get_runtime
from infra.settings import get_settings
from tasks.containers import evaluation_spec
from tasks.training import container_logs, container_status, wait_container

# How often the deadline is checked while the runtime's exit event is awaited (the event ends a wait at once).
POLL_SECONDS = 5.0


class EvaluationError(RuntimeError):
    """The evaluation container failed, ran past its deadline, or left no usable result."""


@dataclass(frozen=True, slots=True)
class EvaluationRelease:
    uri: str
    sha256: str


def result_key(model_id: int, evaluation_id: int) -> str:
    return f"evaluations/{model_id}/{evaluation_id}.json"


def release_input(object_key: str, sha256: str) -> EvaluationRelease:
    return EvaluationRelease(format_s3_uri(get_settings().s3.bucket, object_key), sha256)


@task(name="run-evaluation")
def run_evaluation(
    *,
    evaluation_id: int,
    model_id: int,
    team_id: int,
    scenario: str,
    release: EvaluationRelease,
    model_uris: Sequence[str],
) -> dict[str, Any]:
    """Run ``python -m algorithms.evaluate`` on ``model_uris`` and return its result (``{"models": {uri:
    metrics | {"error"}}, "split", "rows", ...}``). Any earlier container or result of this evaluation (a retried
    flow run) is replaced. Raises ``EvaluationError`` with the container's log tail when it does not succeed."""
    settings = get_settings()
    store = ObjectStore.from_settings(settings.s3)
    key = result_key(model_id, evaluation_id)
    store.delete(key)  # a retry must not read what an earlier attempt left
    spec = evaluation_spec(
        evaluation_id=evaluation_id,
        team_id=team_id,
        scenario=scenario,
        release_uri=release.uri,
        release_sha256=release.sha256,
        model_uris=list(model_uris),
        result_uri=store.uri(key),
    )
    runtime = get_runtime()
    runtime.remove(spec.name, force=True)
    runtime.start(spec)
    try:
        status = _wait(spec.name, settings.training.eval_timeout_seconds)
        if status is None:
            tail = container_logs(spec.name)
            raise EvaluationError(
                f"the evaluation did not finish within {settings.training.eval_timeout_seconds:g} s "
                f"(MLOPS_TRAIN_EVAL_TIMEOUT_SECONDS); log tail:\n{tail}"
            )
        if status.state != ContainerState.EXITED:
            code = f"exit code {status.exit_code}" if status.exit_code is not None else status.state.value
            detail = f" ({status.detail})" if status.detail else ""
            raise EvaluationError(
                f"the evaluation container failed ({code}){detail}; log tail:\n{container_logs(spec.name)}"
            )
        try:
            result = json.loads(store.get_bytes(key))
        except (ObjectStoreError, ValueError) as exc:
            raise EvaluationError(
                f"the evaluation container left no result ({exc}); log tail:\n{container_logs(spec.name)}"
            ) from exc
    finally:
        # Stopped and removed whatever happened: an evaluation container never outlives its flow run.
        runtime.remove(spec.name, force=True)
    if not isinstance(result, dict) or not isinstance(result.get("models"), dict):
        raise EvaluationError("the evaluation result has no 'models' object")
    return result


def _wait(name: str, timeout: float) -> Any:
    """The container's status once it has ended, or None at the deadline. The runtime's exit event wakes the
    wait at once; the status is re-read every ``POLL_SECONDS`` (a runtime that cannot be waited on)."""
    deadline = time.monotonic() + timeout
    while True:
        status = container_status(name)
        if status.has_ended:
            return status
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return None
        wait_container(name, min(POLL_SECONDS, remaining), wake_on_exit=True)
