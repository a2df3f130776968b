"""``FakeKubernetesApi``: an in-memory FAKE of the Kubernetes API, because no API server can run here.

It stands in for the BatchV1Api, CoreV1Api and AppsV1Api methods ``KubernetesRuntime`` calls, with the real
client's types at the boundary: it takes and returns ``kubernetes.client`` model objects (stored in their
wire form), raises ``ApiException`` with the real statuses (404 missing, 409 exists) and filters lists by
equality label selectors. It runs no controllers: tests drive state with ``set_job_status``,
``set_deployment_status`` and ``add_pod``, which write the same documents a cluster would report.
``calls`` records every method called, so tests can check how many round trips an operation costs.

Watches: ``list_namespaced_job(..., watch=True, _preload_content=False)`` returns a streaming response like the
API server's (one ``{"type", "object"}`` JSON line per event; first the matching objects as ADDED, then every
change, until ``timeout_seconds``), read by the real client's ``kubernetes.watch.Watch``. ``watching`` counts
the watches open now.
"""

from __future__ import annotations

import copy
import json
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

_MODELS = {
    "Job": client.V1Job,
    "Deployment": client.V1Deployment,
    "Service": client.V1Service,
    "Secret": client.V1Secret,
    "Pod": client.V1Pod,
}
_LISTS = {"Job": client.V1JobList, "Deployment": client.V1DeploymentList, "Pod": client.V1PodList}
_API_VERSIONS = {"Job": "batch/v1", "Deployment": "apps/v1", "Service": "v1", "Secret": "v1", "Pod": "v1"}


def _matches(labels: Mapping[str, str], selector: str | None) -> bool:
    for term in filter(None, (selector or "").split(",")):
        if "!" in term or " in " in term or "=" not in term:
            raise NotImplementedError(f"FakeKubernetesApi supports equality selectors only, got {term!r}")
        key, _, value = term.partition("=")
        if labels.get(key) != value:
            return False
    return True


_FIELDS = {
    "metadata.name": lambda obj: obj["metadata"]["name"],
    "metadata.namespace": lambda obj: obj["metadata"].get("namespace"),
}


def _fields_match(obj: Mapping[str, Any], selector: str | None) -> bool:
    for term in filter(None, (selector or "").split(",")):
        key, _, value = term.partition("=")
        if key not in _FIELDS:
            raise NotImplementedError(
                f"FakeKubernetesApi supports {sorted(_FIELDS)} field selectors, got {term!r}"
            )
        if _FIELDS[key](obj) != value:
            return False
    return True


class _WatchResponse:
    """The streaming HTTP response of a watch, as ``kubernetes.watch.Watch`` reads it (``stream``, ``close``)."""

    status = 200

    def __init__(
        self,
        api: FakeKubernetesApi,
        kind: str,
        namespace: str,
        label_selector: str | None,
        field_selector: str | None,
        timeout_seconds: int | None,
    ) -> None:
        self.api, self.kind, self.namespace = api, kind, namespace
        self.label_selector, self.field_selector = label_selector, field_selector
        self.deadline = time.monotonic() + (timeout_seconds or 1800)
        self.closed = False
        with api.changed:
            # The objects as they are now, then every change after this point: what a watch started
            # without a resourceVersion gets from the API server.
            self.seen = len(api.events)
            self.initial = [
                v for (k, ns, _), v in sorted(api.objects.items()) if k == kind and ns == namespace
            ]
            api.watching += 1

    def _wanted(self, obj: Mapping[str, Any]) -> bool:
        return _matches(obj["metadata"].get("labels") or {}, self.label_selector) and _fields_match(
            obj, self.field_selector
        )

    def _line(self, kind: str, obj: Mapping[str, Any]) -> bytes:
        return (json.dumps({"type": kind, "object": obj}) + "\n").encode()

    def stream(self, amt: int | None = None, decode_content: bool | None = None) -> Iterator[bytes]:
        for obj in self.initial:
            if self._wanted(obj):
                yield self._line("ADDED", copy.deepcopy(obj))
        while not self.closed:
            with self.api.changed:
                while len(self.api.events) == self.seen and not self.closed:
                    remaining = self.deadline - time.monotonic()
                    if remaining <= 0:
                        return
                    self.api.changed.wait(min(remaining, 0.5))
                new, self.seen = self.api.events[self.seen :], len(self.api.events)
            for event_type, kind, namespace, obj in new:
                if kind == self.kind and namespace == self.namespace and self._wanted(obj):
                    yield self._line(event_type, obj)

    def close(self) -> None:
        with self.api.changed:
            if not self.closed:
                self.closed = True
                self.api.watching -= 1
            self.api.changed.notify_all()

    def release_conn(self) -> None:
        pass


class FakeKubernetesApi:
    """A FAKE API server for one cluster: pass it as ``batch``, ``core`` and ``apps`` of the runtime."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str, str], dict[str, Any]] = {}  # (kind, namespace, name) -> wire form
        self.logs: dict[tuple[str, str], str] = {}  # (namespace, pod) -> text
        self.calls: list[str] = []
        self.deleted: list[tuple[str, str, str | None]] = []  # (kind, name, propagation policy)
        self.fail_with: int | None = None  # status of an ApiException every call raises (e.g. 503)
        # Every change as a watch reports it: (ADDED | MODIFIED | DELETED, kind, namespace, wire form).
        self.events: list[tuple[str, str, str, dict[str, Any]]] = []
        self.changed = threading.Condition()
        self.watching = 0

    def _emit(self, event_type: str, kind: str, namespace: str, wire: Mapping[str, Any]) -> None:
        with self.changed:
            self.events.append((event_type, kind, namespace, copy.deepcopy(dict(wire))))
            self.changed.notify_all()

    # -- helpers -------------------------------------------------------------------------------------------
    def _enter(self, method: str) -> None:
        self.calls.append(method)
        if self.fail_with is not None:
            raise ApiException(status=self.fail_with, reason="FakeKubernetesApi failure")

    def _create(self, kind: str, namespace: str, body: Any) -> Any:
        wire = client.ApiClient().sanitize_for_serialization(body)
        name = wire["metadata"]["name"]
        if (kind, namespace, name) in self.objects:
            raise ApiException(status=409, reason="AlreadyExists")
        wire = copy.deepcopy(wire)
        wire.setdefault("apiVersion", _API_VERSIONS[kind])
        wire["kind"] = kind
        wire["metadata"].update(
            namespace=namespace, uid=str(uuid.uuid4()), creationTimestamp="2025-01-01T00:00:00Z"
        )
        wire.setdefault("status", {})
        self.objects[(kind, namespace, name)] = wire
        self._emit("ADDED", kind, namespace, wire)
        return _MODELS[kind].from_dict(copy.deepcopy(wire))

    def _get(self, kind: str, namespace: str, name: str) -> dict[str, Any]:
        try:
            return self.objects[(kind, namespace, name)]
        except KeyError:
            raise ApiException(status=404, reason="NotFound") from None

    def _delete(self, kind: str, namespace: str, name: str, body: Any = None) -> client.V1Status:
        self._emit("DELETED", kind, namespace, self._get(kind, namespace, name))
        del self.objects[(kind, namespace, name)]
        policy = getattr(body, "propagation_policy", None)
        self.deleted.append((kind, name, policy))
        if policy in ("Background", "Foreground"):  # the garbage collector takes the pods along
            for key in [
                k
                for k, v in self.objects.items()
                if k[0] == "Pod"
                and k[1] == namespace
                and v["metadata"].get("labels", {}).get("mlops-lite/name") == name
            ]:
                self._emit("DELETED", key[0], namespace, self.objects.pop(key))
        for key, obj in list(self.objects.items()):  # owned objects (the Secret) go too
            if any(
                ref.get("name") == name and ref.get("kind") == kind
                for ref in obj["metadata"].get("ownerReferences") or []
            ):
                self._emit("DELETED", key[0], key[1], self.objects.pop(key))
        return client.V1Status(status="Success")

    def _list(self, kind: str, namespace: str, label_selector: str | None) -> Any:
        items = [
            copy.deepcopy(v)
            for (k, ns, _), v in sorted(self.objects.items())
            if k == kind and ns == namespace and _matches(v["metadata"].get("labels") or {}, label_selector)
        ]
        for item in items:  # like the API server, list items carry no kind
            item.pop("kind", None)
            item.pop("apiVersion", None)
        return _LISTS[kind].from_dict({"items": items, "metadata": {}})

    # -- test controls (what a cluster's controllers would do) ---------------------------------------------
    def set_job_status(self, name: str, status: Mapping[str, Any], namespace: str = "mlops") -> None:
        job = self._get("Job", namespace, name)
        job["status"] = dict(status)
        self._emit("MODIFIED", "Job", namespace, job)

    def set_deployment_status(self, name: str, status: Mapping[str, Any], namespace: str = "mlops") -> None:
        deployment = self._get("Deployment", namespace, name)
        deployment["status"] = dict(status)
        self._emit("MODIFIED", "Deployment", namespace, deployment)

    def add_pod(
        self,
        owner: str,
        status: Mapping[str, Any],
        *,
        namespace: str = "mlops",
        log: str = "",
        suffix: str = "abcde",
        created: str = "2025-01-01T00:00:01Z",
    ) -> str:
        name = f"{owner}-{suffix}"
        status = copy.deepcopy(dict(status))
        for cs in status.get("containerStatuses") or []:  # fields a kubelet always reports
            for key, value in (
                ("name", "main"),
                ("image", "x"),
                ("imageID", ""),
                ("ready", False),
                ("restartCount", 0),
            ):
                cs.setdefault(key, value)
        self.objects[("Pod", namespace, name)] = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": name,
                "namespace": namespace,
                "creationTimestamp": created,
                "labels": {"app": "mlops-lite", "mlops-lite/name": owner},
            },
            "spec": {"containers": [{"name": "main", "image": "x"}]},
            "status": status,
        }
        self.logs[(namespace, name)] = log
        self._emit("ADDED", "Pod", namespace, self.objects[("Pod", namespace, name)])
        return name

    def get(self, kind: str, name: str, namespace: str = "mlops") -> dict[str, Any] | None:
        return self.objects.get((kind, namespace, name))

    # -- BatchV1Api ----------------------------------------------------------------------------------------
    def create_namespaced_job(self, namespace: str, body: Any, **_: Any) -> Any:
        self._enter("create_namespaced_job")
        return self._create("Job", namespace, body)

    def list_namespaced_job(
        self,
        namespace: str,
        label_selector: str | None = None,
        *,
        watch: bool = False,
        field_selector: str | None = None,
        timeout_seconds: int | None = None,
        _preload_content: bool = True,
        **_: Any,
    ) -> Any:
        if watch:
            self._enter("watch_namespaced_job")
            if _preload_content:
                raise NotImplementedError("a watch is read as a stream (_preload_content=False)")
            return _WatchResponse(self, "Job", namespace, label_selector, field_selector, timeout_seconds)
        self._enter("list_namespaced_job")
        if field_selector:
            raise NotImplementedError("FakeKubernetesApi supports field selectors on watches only")
        return self._list("Job", namespace, label_selector)

    def delete_namespaced_job(self, name: str, namespace: str, body: Any = None, **_: Any) -> Any:
        self._enter("delete_namespaced_job")
        return self._delete("Job", namespace, name, body)

    # -- AppsV1Api -----------------------------------------------------------------------------------------
    def create_namespaced_deployment(self, namespace: str, body: Any, **_: Any) -> Any:
        self._enter("create_namespaced_deployment")
        return self._create("Deployment", namespace, body)

    def list_namespaced_deployment(self, namespace: str, label_selector: str | None = None, **_: Any) -> Any:
        self._enter("list_namespaced_deployment")
        return self._list("Deployment", namespace, label_selector)

    def delete_namespaced_deployment(self, name: str, namespace: str, body: Any = None, **_: Any) -> Any:
        self._enter("delete_namespaced_deployment")
        return self._delete("Deployment", namespace, name, body)

    # -- CoreV1Api -----------------------------------------------------------------------------------------
    def create_namespaced_service(self, namespace: str, body: Any, **_: Any) -> Any:
        self._enter("create_namespaced_service")
        return self._create("Service", namespace, body)

    def delete_namespaced_service(self, name: str, namespace: str, **_: Any) -> Any:
        self._enter("delete_namespaced_service")
        return self._delete("Service", namespace, name)

    def create_namespaced_secret(self, namespace: str, body: Any, **_: Any) -> Any:
        self._enter("create_namespaced_secret")
        return self._create("Secret", namespace, body)

    def replace_namespaced_secret(self, name: str, namespace: str, body: Any, **_: Any) -> Any:
        self._enter("replace_namespaced_secret")
        self._get("Secret", namespace, name)
        del self.objects[("Secret", namespace, name)]
        return self._create("Secret", namespace, body)

    def delete_namespaced_secret(self, name: str, namespace: str, **_: Any) -> Any:
        self._enter("delete_namespaced_secret")
        return self._delete("Secret", namespace, name)

    def list_namespaced_pod(self, namespace: str, label_selector: str | None = None, **_: Any) -> Any:
        self._enter("list_namespaced_pod")
        return self._list("Pod", namespace, label_selector)

    def read_namespaced_pod_log(
        self, name: str, namespace: str, container: str | None = None, tail_lines: int | None = None, **_: Any
    ) -> str:
        self._enter("read_namespaced_pod_log")
        self._get("Pod", namespace, name)
        text = self.logs.get((namespace, name), "")
        if tail_lines is not None:
            lines = text.splitlines(keepends=True)
            text = "".join(lines[-tail_lines:]) if tail_lines > 0 else ""
        return text
