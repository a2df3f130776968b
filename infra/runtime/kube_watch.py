"""Waiting for a Kubernetes training Job to end with a watch on it, instead of listing it again and again.

``wait_job_end`` opens a watch (``GET .../jobs?watch=true&fieldSelector=metadata.name=<name>``) through the
client's ``kubernetes.watch.Watch``. Started without a resourceVersion, the API server first sends the Job as
it is now (an ADDED event), then every change: so a Job that ended just before the watch opened is seen at
once, and one that ends later is seen the moment its controller writes the terminal condition. The state of
each event's Job is mapped by ``infra.runtime.states.kube_job_state`` (the runtime's own mapping).
"""

from __future__ import annotations

import math
import time
from typing import Any

from infra.runtime.base import ENDED_STATES, RuntimeError_
from infra.runtime.states import kube_job_state

# The API server ends a watch after ``timeoutSeconds``; the client gives up reading a little later, so a
# connection that silently died cannot hold the waiter past its timeout for long.
_READ_GRACE_SECONDS = 5.0


def job_has_ended(event: dict[str, Any]) -> bool:
    """A watch event that ends the wait: the Job deleted, or carrying a terminal (Complete/Failed) condition."""
    if event.get("type") == "DELETED":
        return True
    job = event.get("object")
    return isinstance(job, dict) and kube_job_state(job).state in ENDED_STATES


def wait_job_end(batch: Any, namespace: str, name: str, timeout: float) -> bool:
    """Block until Job ``name`` has ended or was deleted (True), or ``timeout`` seconds pass (False).

    ``batch`` is a BatchV1Api (or the tests' ``FakeKubernetesApi``). Raises ``RuntimeError_`` (transient) when
    the API cannot be reached or refuses the watch.
    """
    from kubernetes import watch
    from kubernetes.client.exceptions import ApiException
    from urllib3.exceptions import HTTPError

    deadline = time.monotonic() + max(timeout, 0.0)
    while (remaining := deadline - time.monotonic()) > 0:
        watcher = watch.Watch()
        # Events as plain wire dicts: ``kube_job_state`` reads the camelCase documents.
        stream = watcher.stream(
            batch.list_namespaced_job,
            namespace,
            field_selector=f"metadata.name={name}",
            timeout_seconds=max(1, math.ceil(remaining)),
            _request_timeout=remaining + _READ_GRACE_SECONDS,
            deserialize=False,
        )
        try:
            for event in stream:
                if job_has_ended(event):
                    return True
        except ApiException as exc:
            raise RuntimeError_(
                f"Kubernetes refused watching Job {name}: {exc.status} {exc.reason}", transient=True
            ) from exc
        except (HTTPError, OSError) as exc:
            if deadline - time.monotonic() <= 0:
                return False  # the client's read timeout at the end of the wait
            raise RuntimeError_(
                f"Kubernetes API unreachable (watching Job {name}): {exc}", transient=True
            ) from exc
        finally:
            stream.close()
    return False
