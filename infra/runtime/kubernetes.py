"""The ``kubernetes`` runtime: training containers are batch/v1 Jobs, inference containers Deployments + Services.

Owns the calls on the Kubernetes API; the manifests it sends are pure functions in
``infra.runtime.kube_manifests`` (re-exported here).

- Training: a Job with ``backoffLimit: 0`` (a failed run is reported, never silently retried),
  ``activeDeadlineSeconds`` from ``MLOPS_RUNTIME_KUBE_ACTIVE_DEADLINE_SECONDS``, ``restartPolicy: Never``.
- Serving: a one-replica Deployment with a readiness probe on ``/ready`` (the server answers it only once the
  model is loaded) and a ClusterIP Service of the same name on port 3000, reached at
  ``http://{name}.{namespace}.svc.cluster.local:3000/predict``. Serving pods listen on 3000 whatever port
  the spec names: every pod has its own address.
- Credentials: environment variables that hold secrets (``SECRET_ENV_KEYS`` and names with SECRET, PASSWORD
  or TOKEN) go into a Secret ``{name}-env`` and reach the container through ``secretKeyRef``, never as plain
  values in the workload. The Secret is owned by its workload, so deleting the workload deletes it.
- Pods share a process namespace: the pause container becomes PID 1, so a Python command gets SIGTERM's
  default action and a stop is graceful.

``status`` costs one list call per kind (Jobs, Deployments, Pods), all by the ``app=mlops-lite`` selector, and
``wait_exit`` one watch on the training Job (``infra.runtime.kube_watch``);
``stop`` deletes the workload with background propagation (its pods go with it, so afterwards the container is
NOT_FOUND, as there is nothing left to report on); ``remove`` also deletes the Service and the Secret.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any, ClassVar, TypeVar, cast

from infra.runtime.base import (
    ContainerExistsError,
    ContainerKind,
    ContainerRuntime,
    ContainerSpec,
    ContainerState,
    ContainerStatus,
    RuntimeError_,
)
from infra.runtime.kube_manifests import (
    APP_LABEL,
    CONTAINER_NAME,
    NAME_LABEL,
    PORT_ANNOTATION,
    SERVING_PORT,
    check_name,
    deployment_manifest,
    job_manifest,
    secret_manifest,
    secret_name,
    service_manifest,
)
from infra.runtime.kube_watch import wait_job_end
from infra.runtime.states import Observed, kube_deployment_state, kube_job_state
from infra.settings import Settings, get_settings

_T = TypeVar("_T")

__all__ = [
    "KubernetesRuntime",
    "deployment_manifest",
    "job_manifest",
    "secret_manifest",
    "service_manifest",
]


class KubernetesRuntime(ContainerRuntime):
    """Containers as Jobs/Deployments in ``MLOPS_RUNTIME_KUBE_NAMESPACE``.

    ``batch``, ``core`` and ``apps`` are the API objects (BatchV1Api, CoreV1Api, AppsV1Api); by default they
    are built on first use from the in-cluster config, or the kubeconfig (``MLOPS_RUNTIME_KUBE_CONTEXT``).
    """

    name: ClassVar[str] = "kubernetes"

    def __init__(
        self, settings: Settings | None = None, *, batch: Any = None, core: Any = None, apps: Any = None
    ) -> None:
        self.settings = settings or get_settings()
        self.namespace = self.settings.runtime.kube_namespace
        self._batch, self._core, self._apps = batch, core, apps
        self.exit_check_seconds = self.settings.runtime.exit_check_seconds

    # -- API access ----------------------------------------------------------------------------------------
    def _connect(self) -> None:
        from kubernetes import client, config
        from kubernetes.config.config_exception import ConfigException

        try:
            if self.settings.runtime.kube_context:
                config.load_kube_config(context=self.settings.runtime.kube_context)
            else:
                try:
                    config.load_incluster_config()
                except ConfigException:
                    config.load_kube_config()
        except (ConfigException, OSError) as exc:
            raise RuntimeError_(f"no Kubernetes configuration: {exc}") from exc
        self._batch = self._batch or client.BatchV1Api()
        self._core = self._core or client.CoreV1Api()
        self._apps = self._apps or client.AppsV1Api()

    def apis(self) -> tuple[Any, Any, Any]:
        if self._batch is None or self._core is None or self._apps is None:
            self._connect()
        return self._batch, self._core, self._apps

    def _request(self, what: str, fn: Callable[[], _T], ok: Collection[int]) -> _T | None:
        """One API call; a status in ``ok`` → None; 409 → ContainerExistsError; 5xx/429/network → transient."""
        from kubernetes.client.exceptions import ApiException
        from urllib3.exceptions import HTTPError

        try:
            return fn()
        except ApiException as exc:
            if exc.status in ok:
                return None
            if exc.status == 409:
                raise ContainerExistsError(f"{what}: already exists (remove it first)") from exc
            transient = exc.status == 429 or (exc.status or 0) >= 500
            raise RuntimeError_(
                f"Kubernetes refused {what}: {exc.status} {exc.reason}", transient=transient
            ) from exc
        except (HTTPError, OSError) as exc:
            raise RuntimeError_(f"Kubernetes API unreachable ({what}): {exc}", transient=True) from exc

    def _call(self, what: str, fn: Callable[[], _T]) -> _T:
        return cast(_T, self._request(what, fn, ()))

    @staticmethod
    def _wire(obj: Any) -> Any:
        from kubernetes.client import ApiClient

        return ApiClient().sanitize_for_serialization(obj)

    def _selector(self, labels: Mapping[str, str] | None = None) -> str:
        return ",".join([f"{APP_LABEL[0]}={APP_LABEL[1]}", *(f"{k}={v}" for k, v in (labels or {}).items())])

    # -- start ---------------------------------------------------------------------------------------------
    def start(self, spec: ContainerSpec) -> ContainerStatus:
        from kubernetes import client

        check_name(spec.name)
        batch, core, apps = self.apis()
        ns = self.namespace
        if spec.kind == ContainerKind.TRAIN:
            body = job_manifest(spec, self.settings)
            created = self._call(
                f"creating Job {spec.name}",
                lambda: batch.create_namespaced_job(ns, client.V1Job.from_dict(body)),
            )
        else:
            body = deployment_manifest(spec, self.settings)
            created = self._call(
                f"creating Deployment {spec.name}",
                lambda: apps.create_namespaced_deployment(ns, client.V1Deployment.from_dict(body)),
            )
            service = service_manifest(spec, self.settings)
            # A Service left by an earlier serving of this name already selects the right pods: keep it.
            try:
                self._call(
                    f"creating Service {spec.name}",
                    lambda: core.create_namespaced_service(ns, client.V1Service.from_dict(service)),
                )
            except ContainerExistsError:
                pass
        # The workload exists first (so a name conflict touches nothing); its pod waits for the Secret.
        owner = self._wire(created)
        secret = secret_manifest(spec, self.settings, owner)
        if secret is not None:
            try:
                self._call(
                    f"creating Secret {secret['metadata']['name']}",
                    lambda: core.create_namespaced_secret(ns, client.V1Secret.from_dict(secret)),
                )
            except ContainerExistsError:
                self._call(
                    f"replacing Secret {secret['metadata']['name']}",
                    lambda: core.replace_namespaced_secret(
                        secret["metadata"]["name"], ns, client.V1Secret.from_dict(secret)
                    ),
                )
        return self._status_of(spec.name, owner, [])

    # -- status --------------------------------------------------------------------------------------------
    def _objects(
        self, labels: Mapping[str, str] | None = None
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
        batch, core, apps = self.apis()
        selector, ns = self._selector(labels), self.namespace
        jobs = self._call("listing Jobs", lambda: batch.list_namespaced_job(ns, label_selector=selector))
        deployments = self._call(
            "listing Deployments", lambda: apps.list_namespaced_deployment(ns, label_selector=selector)
        )
        pods = self._call("listing Pods", lambda: core.list_namespaced_pod(ns, label_selector=selector))
        return (
            [self._wire(o) for o in jobs.items],
            [self._wire(o) for o in deployments.items],
            [self._wire(o) for o in pods.items],
        )

    @staticmethod
    def _pods_of(name: str, pods: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
        return [p for p in pods if ((p.get("metadata") or {}).get("labels") or {}).get(NAME_LABEL) == name]

    def _status_of(
        self, name: str, workload: Mapping[str, Any] | None, pods: Sequence[Mapping[str, Any]]
    ) -> ContainerStatus:
        if workload is None:
            return ContainerStatus(name, ContainerState.NOT_FOUND)
        own_pods = self._pods_of(name, pods)
        observed: Observed = (
            kube_job_state(workload, own_pods)
            if workload.get("kind") == "Job"
            else kube_deployment_state(workload, own_pods)
        )
        meta = workload.get("metadata") or {}
        port = (meta.get("annotations") or {}).get(PORT_ANNOTATION)
        labels = {k: v for k, v in (meta.get("labels") or {}).items() if not k.startswith("mlops-lite/")}
        return ContainerStatus(
            name=name,
            state=observed.state,
            exit_code=observed.exit_code,
            port=int(port) if port and port.isdigit() else None,
            detail=observed.detail,
            started_at=observed.started_at,
            finished_at=observed.finished_at,
            labels=labels,
        )

    def _workloads(
        self, labels: Mapping[str, str] | None = None
    ) -> tuple[dict[str, dict[str, Any]], list[dict[str, Any]]]:
        jobs, deployments, pods = self._objects(labels)
        by_name: dict[str, dict[str, Any]] = {}
        for obj, kind in [*((j, "Job") for j in jobs), *((d, "Deployment") for d in deployments)]:
            obj.setdefault("kind", kind)  # list items come without their kind
            by_name[obj["metadata"]["name"]] = obj
        return by_name, pods

    def status(self, names: Sequence[str]) -> dict[str, ContainerStatus]:
        if not names:
            return {}
        by_name, pods = self._workloads()
        return {name: self._status_of(name, by_name.get(name), pods) for name in names}

    def list(self, *, labels: Mapping[str, str] | None = None) -> list[ContainerStatus]:
        by_name, pods = self._workloads(labels)
        return [self._status_of(name, obj, pods) for name, obj in sorted(by_name.items())]

    def wait_exit(self, name: str, *, timeout: float) -> ContainerStatus | None:
        """A training Job: a watch on it (``infra.runtime.kube_watch``). A Deployment never ends by itself: polled."""
        by_name, pods = self._workloads()
        current = self._status_of(name, by_name.get(name), pods)
        if current.has_ended or (by_name.get(name) or {}).get("kind") != "Job":
            return current if current.has_ended else super().wait_exit(name, timeout=timeout)
        return (
            self.status([name])[name] if wait_job_end(self.apis()[0], self.namespace, name, timeout) else None
        )

    # -- stop / remove / logs ------------------------------------------------------------------------------
    def stop(self, name: str, *, timeout: float | None = None) -> None:
        from kubernetes import client

        batch, _, apps = self.apis()
        grace = int(self.settings.runtime.stop_timeout_seconds if timeout is None else timeout)
        options = client.V1DeleteOptions(propagation_policy="Background", grace_period_seconds=grace)
        ns = self.namespace
        self._request(
            f"deleting Job {name}", lambda: batch.delete_namespaced_job(name, ns, body=options), (404,)
        )
        self._request(
            f"deleting Deployment {name}",
            lambda: apps.delete_namespaced_deployment(name, ns, body=options),
            (404,),
        )

    def remove(self, name: str, *, force: bool = False) -> None:
        if not force:
            current = self.status([name])[name]
            if current.is_alive:
                raise RuntimeError_(
                    f"container {name!r} is {current.state}; stop it first or pass force=True"
                )
        self.stop(name, timeout=0 if force else None)
        _, core, _ = self.apis()
        ns = self.namespace
        self._request(f"deleting Service {name}", lambda: core.delete_namespaced_service(name, ns), (404,))
        self._request(
            f"deleting Secret {secret_name(name)}",
            lambda: core.delete_namespaced_secret(secret_name(name), ns),
            (404,),
        )

    def logs(self, name: str, *, tail: int | None = None) -> str:
        _, core, _ = self.apis()
        ns = self.namespace
        pods = self._call(
            "listing Pods",
            lambda: core.list_namespaced_pod(ns, label_selector=self._selector({NAME_LABEL: name})),
        )
        items = [self._wire(p) for p in pods.items]
        if not items:
            return ""
        newest = max(items, key=lambda p: str((p.get("metadata") or {}).get("creationTimestamp") or ""))
        pod_name = newest["metadata"]["name"]
        # 400: the container has not started yet, so there is nothing to read.
        text = self._request(
            f"reading logs of {pod_name}",
            lambda: core.read_namespaced_pod_log(pod_name, ns, container=CONTAINER_NAME, tail_lines=tail),
            (400, 404),
        )
        return text or ""

    def inference_url(self, name: str, port: int | None) -> str:
        return f"http://{name}.{self.namespace}.svc.cluster.local:{SERVING_PORT}/predict"
