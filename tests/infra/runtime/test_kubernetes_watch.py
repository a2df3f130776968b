"""``KubernetesRuntime.wait_exit``: a watch on the training Job, read by the real client's ``kubernetes.watch.Watch``
from ``FakeKubernetesApi``'s streaming watch response (no API server can run here; the fake is named as such).

Each waiting test starts the wait in a thread, waits until the fake holds the watch open, then changes the Job
the way its controller would, and expects the wait to return that end — long before its own timeout, so only
the watch event can have ended it.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import pytest

from infra.net import wait_until
from infra.runtime.base import ContainerState, ContainerStatus, RuntimeError_
from infra.runtime.kube_watch import job_has_ended
from infra.runtime.kubernetes import KubernetesRuntime
from tests.infra.runtime.fake_kubernetes import FakeKubernetesApi
from tests.infra.runtime.test_kubernetes import cond, serve_spec, settings, terminated, train_spec

WAIT_TIMEOUT = 120.0  # the wait's own timeout: far beyond the deadline the tests give the event
EVENT_DEADLINE = 30.0


@pytest.fixture
def fake() -> FakeKubernetesApi:
    return FakeKubernetesApi()


@pytest.fixture
def runtime(fake: FakeKubernetesApi) -> KubernetesRuntime:
    return KubernetesRuntime(settings=settings(exit_check_seconds=0.1), batch=fake, core=fake, apps=fake)


@pytest.fixture
def pool() -> Iterator[ThreadPoolExecutor]:
    with ThreadPoolExecutor(max_workers=1) as executor:
        yield executor


def waiting_on(
    runtime: KubernetesRuntime, fake: FakeKubernetesApi, pool: ThreadPoolExecutor, name: str
) -> Future[ContainerStatus | None]:
    future = pool.submit(runtime.wait_exit, name, timeout=WAIT_TIMEOUT)
    wait_until(
        lambda: fake.watching == 1 or future.done(), timeout=EVENT_DEADLINE, description="the watch open"
    )
    assert not future.done(), future.result()
    return future


@pytest.mark.parametrize(
    ("event", "ended"),
    [
        ({"type": "DELETED", "object": {"metadata": {"name": "j"}}}, True),
        ({"type": "MODIFIED", "object": {"status": {"conditions": [cond("Complete")]}}}, True),
        (
            {
                "type": "MODIFIED",
                "object": {"status": {"conditions": [cond("Failed", reason="DeadlineExceeded")]}},
            },
            True,
        ),
        ({"type": "MODIFIED", "object": {"status": {"conditions": [cond("FailureTarget")]}}}, True),
        ({"type": "ADDED", "object": {"status": {"active": 1, "ready": 1}}}, False),
        ({"type": "MODIFIED", "object": {"status": {"conditions": [cond("Suspended")]}}}, False),
        (
            {"type": "MODIFIED", "object": {"status": {"conditions": [cond("Complete", status="False")]}}},
            False,
        ),
        ({"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": "9"}}}, False),
    ],
)
def test_job_has_ended(event: dict[str, Any], ended: bool) -> None:
    assert job_has_ended(event) is ended


def test_wakes_when_the_job_fails_with_its_exit_code(
    runtime: KubernetesRuntime, fake: FakeKubernetesApi, pool: ThreadPoolExecutor
) -> None:
    runtime.start(train_spec())
    fake.set_job_status("train-7", {"active": 1, "ready": 1})
    future = waiting_on(runtime, fake, pool, "train-7")
    fake.add_pod("train-7", terminated(3))  # a pod change alone does not end the watch on the Job
    fake.set_job_status(
        "train-7", {"failed": 1, "conditions": [cond("Failed", reason="BackoffLimitExceeded")]}
    )
    status = future.result(timeout=EVENT_DEADLINE)
    assert status is not None and status.state is ContainerState.FAILED and status.exit_code == 3
    # One watch, no polling: the Job was listed once before it and once for the final status.
    assert fake.calls.count("watch_namespaced_job") == 1
    assert fake.calls.count("list_namespaced_job") == 2
    wait_until(lambda: fake.watching == 0, timeout=EVENT_DEADLINE, description="the watch closed")


def test_wakes_when_the_job_completes(
    runtime: KubernetesRuntime, fake: FakeKubernetesApi, pool: ThreadPoolExecutor
) -> None:
    runtime.start(train_spec())
    future = waiting_on(runtime, fake, pool, "train-7")
    fake.set_job_status("train-7", {"active": 1, "ready": 1})
    fake.set_job_status("train-7", {"succeeded": 1, "conditions": [cond("Complete")]})
    status = future.result(timeout=EVENT_DEADLINE)
    assert status is not None and status.state is ContainerState.EXITED and status.exit_code == 0


def test_wakes_when_the_job_is_deleted(
    runtime: KubernetesRuntime, fake: FakeKubernetesApi, pool: ThreadPoolExecutor
) -> None:
    runtime.start(train_spec())
    fake.set_job_status("train-7", {"active": 1, "ready": 1})
    future = waiting_on(runtime, fake, pool, "train-7")
    runtime.stop("train-7")
    status = future.result(timeout=EVENT_DEADLINE)
    assert status is not None and status.state is ContainerState.NOT_FOUND


def test_other_jobs_do_not_wake_it(runtime: KubernetesRuntime, fake: FakeKubernetesApi) -> None:
    runtime.start(train_spec("train-7"))
    runtime.start(train_spec("train-8"))
    fake.set_job_status("train-8", {"succeeded": 1, "conditions": [cond("Complete")]})
    fake.set_job_status("train-7", {"active": 1, "ready": 1})
    assert runtime.wait_exit("train-7", timeout=1.5) is None
    assert fake.watching == 0  # the timed-out watch was closed


def test_an_ended_job_returns_without_a_watch(runtime: KubernetesRuntime, fake: FakeKubernetesApi) -> None:
    runtime.start(train_spec())
    fake.set_job_status("train-7", {"succeeded": 1, "conditions": [cond("Complete")]})
    status = runtime.wait_exit("train-7", timeout=WAIT_TIMEOUT)
    assert status is not None and status.state is ContainerState.EXITED
    assert runtime.wait_exit("train-404", timeout=WAIT_TIMEOUT) == ContainerStatus(
        "train-404", ContainerState.NOT_FOUND
    )
    assert "watch_namespaced_job" not in fake.calls


def test_a_deployment_is_polled(
    runtime: KubernetesRuntime, fake: FakeKubernetesApi, pool: ThreadPoolExecutor
) -> None:
    runtime.start(serve_spec())
    fake.set_deployment_status("serve-3", {"readyReplicas": 1, "conditions": [cond("Available")]})
    future = pool.submit(runtime.wait_exit, "serve-3", timeout=WAIT_TIMEOUT)
    wait_until(
        lambda: fake.calls.count("list_namespaced_deployment") >= 2,
        timeout=EVENT_DEADLINE,
        description="the deployment polled",
    )
    runtime.stop("serve-3")
    status = future.result(timeout=EVENT_DEADLINE)
    assert status is not None and status.state is ContainerState.NOT_FOUND
    assert "watch_namespaced_job" not in fake.calls


def test_a_refused_watch_is_a_transient_error(runtime: KubernetesRuntime, fake: FakeKubernetesApi) -> None:
    runtime.start(train_spec())
    fake.set_job_status("train-7", {"active": 1, "ready": 1})
    real = fake.list_namespaced_job

    def refuse_watches(*args: Any, **kwargs: Any) -> Any:
        if kwargs.get("watch"):
            fake.fail_with = 403
        try:
            return real(*args, **kwargs)
        finally:
            fake.fail_with = None

    fake.list_namespaced_job = refuse_watches  # type: ignore[method-assign]
    with pytest.raises(RuntimeError_, match="refused watching Job train-7") as raised:
        runtime.wait_exit("train-7", timeout=WAIT_TIMEOUT)
    assert raised.value.transient
