"""Kubernetes manifests of the ``kubernetes`` runtime: pure functions of a ``ContainerSpec`` and the settings that
return wire-form dicts (a Job for training, a Deployment + Service for serving, the Secret holding the
credentials), so they are tested and dumped as YAML without a cluster. ``infra.runtime.kubernetes`` sends them.

A spec's ``inputs`` are fetched by an init container of the platform image (the launcher's fetch, see
``infra.runtime.inputs``) into an ``emptyDir`` the main container mounts read-only at ``/mlops/input``; their URLs
(credentials) travel in the Secret.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from infra.runtime.base import INPUT_DIR, ContainerKind, ContainerSpec
from infra.runtime.inputs import FETCH_ENV, records
from infra.settings import Settings

APP_LABEL = ("app", "mlops-lite")
NAME_LABEL = "mlops-lite/name"
KIND_LABEL = "mlops-lite/kind"
PORT_ANNOTATION = "mlops-lite/port"
SERVING_PORT = 3000
CONTAINER_NAME = "main"
FETCH_CONTAINER_NAME = "fetch-inputs"
INPUT_VOLUME = "mlops-input"
SECRET_ENV_KEYS = frozenset({"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "MLFLOW_TRACKING_PASSWORD"})
_SECRET_WORDS = ("SECRET", "PASSWORD", "TOKEN")
# RFC 1035 label: Services need it, and every object of a container shares the name.
_NAME_RE = re.compile(r"[a-z]([-a-z0-9]{0,51}[a-z0-9])?")
_LABEL_VALUE_RE = re.compile(r"([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?")


def is_secret_env(key: str) -> bool:
    return key in SECRET_ENV_KEYS or any(word in key.upper() for word in _SECRET_WORDS)


def secret_name(name: str) -> str:
    return f"{name}-env"


def check_name(name: str) -> str:
    if not _NAME_RE.fullmatch(name):
        raise ValueError(
            f"invalid Kubernetes container name {name!r}: lowercase letters, digits and '-' (max 53)"
        )
    return name


def labels_of(spec: ContainerSpec) -> dict[str, str]:
    labels = {str(k): str(v) for k, v in spec.labels.items()}
    for key, value in labels.items():
        if not _LABEL_VALUE_RE.fullmatch(value):
            raise ValueError(f"label {key}={value!r} is not a valid Kubernetes label value")
    return {**labels, APP_LABEL[0]: APP_LABEL[1], NAME_LABEL: spec.name, KIND_LABEL: str(spec.kind)}


def _quantity_cpu(cores: float) -> str:
    return f"{round(cores * 1000)}m"


def _secret_ref(spec: ContainerSpec, key: str) -> dict[str, Any]:
    return {"name": key, "valueFrom": {"secretKeyRef": {"name": secret_name(spec.name), "key": key}}}


def _limits(spec: ContainerSpec, settings: Settings) -> dict[str, str]:
    cpu = spec.cpu_limit if spec.cpu_limit is not None else settings.runtime.cpu_limit
    memory = spec.memory_limit_mb if spec.memory_limit_mb is not None else settings.runtime.memory_limit_mb
    limits = {}
    if cpu is not None:
        limits["cpu"] = _quantity_cpu(cpu)
    if memory is not None:
        limits["memory"] = f"{int(memory)}Mi"
    return limits


def fetch_container(spec: ContainerSpec, settings: Settings) -> dict[str, Any]:
    """The init container writing ``spec.inputs`` into the shared volume (the platform image's launcher)."""
    container: dict[str, Any] = {
        "name": FETCH_CONTAINER_NAME,
        "image": settings.runtime.image,
        "command": ["python", "-m", "infra.runtime.launcher", "--fetch-env", FETCH_ENV],
        "env": [{"name": "PYTHONUNBUFFERED", "value": "1"}, _secret_ref(spec, FETCH_ENV)],
        "volumeMounts": [{"name": INPUT_VOLUME, "mountPath": INPUT_DIR}],
    }
    limits = _limits(spec, settings)
    if limits:
        container["resources"] = {"limits": limits, "requests": dict(limits)}
    return container


def container_manifest(spec: ContainerSpec, settings: Settings) -> dict[str, Any]:
    """The pod's one container: image, command, env (secrets by reference), limits, serving port/probe."""
    env: list[dict[str, Any]] = (
        [{"name": "PYTHONUNBUFFERED", "value": "1"}] if "PYTHONUNBUFFERED" not in spec.env else []
    )
    for key, value in {**spec.env, **spec.input_env(INPUT_DIR)}.items():
        if is_secret_env(key):
            env.append(_secret_ref(spec, key))
        else:
            env.append({"name": key, "value": str(value)})
    container: dict[str, Any] = {
        "name": CONTAINER_NAME,
        "image": spec.image or settings.runtime.image,
        "command": [str(part) for part in spec.command],
        "env": env,
    }
    limits = _limits(spec, settings)
    if spec.inputs:
        container["volumeMounts"] = [{"name": INPUT_VOLUME, "mountPath": INPUT_DIR, "readOnly": True}]
    if limits:
        container["resources"] = {"limits": limits, "requests": dict(limits)}
    if spec.kind == ContainerKind.SERVE:
        container["ports"] = [{"name": "http", "containerPort": SERVING_PORT}]
        container["readinessProbe"] = {
            "httpGet": {"path": "/ready", "port": SERVING_PORT},
            "periodSeconds": 2,
            "failureThreshold": 3,
        }
    return container


def pod_spec(spec: ContainerSpec, settings: Settings, *, restart_policy: str) -> dict[str, Any]:
    pod: dict[str, Any] = {
        "restartPolicy": restart_policy,
        "containers": [container_manifest(spec, settings)],
        "shareProcessNamespace": True,
        # User code never needs to talk to the Kubernetes API.
        "automountServiceAccountToken": False,
    }
    if settings.runtime.kube_service_account:
        pod["serviceAccountName"] = settings.runtime.kube_service_account
    if spec.inputs:
        pod["initContainers"] = [fetch_container(spec, settings)]
        pod["volumes"] = [{"name": INPUT_VOLUME, "emptyDir": {}}]
    return pod


def _metadata(spec: ContainerSpec, settings: Settings) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "name": check_name(spec.name),
        "namespace": settings.runtime.kube_namespace,
        "labels": labels_of(spec),
    }
    if spec.port is not None:
        meta["annotations"] = {PORT_ANNOTATION: str(spec.port)}
    return meta


def job_manifest(spec: ContainerSpec, settings: Settings) -> dict[str, Any]:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": _metadata(spec, settings),
        "spec": {
            "backoffLimit": 0,
            "activeDeadlineSeconds": settings.runtime.kube_active_deadline_seconds,
            "template": {
                "metadata": {"labels": labels_of(spec)},
                "spec": pod_spec(spec, settings, restart_policy="Never"),
            },
        },
    }


def deployment_manifest(spec: ContainerSpec, settings: Settings) -> dict[str, Any]:
    selector = {APP_LABEL[0]: APP_LABEL[1], NAME_LABEL: spec.name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _metadata(spec, settings),
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": selector},
            # A model that never loads should end as a failed rollout, not stay pending forever.
            "progressDeadlineSeconds": 600,
            "template": {
                "metadata": {"labels": labels_of(spec)},
                "spec": pod_spec(spec, settings, restart_policy="Always"),
            },
        },
    }


def service_manifest(spec: ContainerSpec, settings: Settings) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": spec.name,
            "namespace": settings.runtime.kube_namespace,
            "labels": labels_of(spec),
        },
        "spec": {
            "type": "ClusterIP",
            "selector": {APP_LABEL[0]: APP_LABEL[1], NAME_LABEL: spec.name},
            "ports": [{"name": "http", "port": SERVING_PORT, "targetPort": SERVING_PORT}],
        },
    }


def secret_manifest(
    spec: ContainerSpec, settings: Settings, owner: Mapping[str, Any] | None = None
) -> dict[str, Any] | None:
    """The Secret of ``spec``'s secret env values (and its inputs' records: their URLs are credentials), owned
    by ``owner`` (the workload); None if it has none."""
    data = {k: str(v) for k, v in spec.env.items() if is_secret_env(k)}
    if spec.inputs:
        data[FETCH_ENV] = json.dumps(records(spec.inputs, INPUT_DIR))
    if not data:
        return None
    meta: dict[str, Any] = {
        "name": secret_name(spec.name),
        "namespace": settings.runtime.kube_namespace,
        "labels": labels_of(spec),
    }
    if owner is not None:
        meta["ownerReferences"] = [
            {
                "apiVersion": owner["apiVersion"],
                "kind": owner["kind"],
                "name": owner["metadata"]["name"],
                "uid": owner["metadata"]["uid"],
                "blockOwnerDeletion": False,
            }
        ]
    return {"apiVersion": "v1", "kind": "Secret", "type": "Opaque", "metadata": meta, "stringData": data}
