"""Tests of the kubernetes runtime: its manifests, its state mapping, and its calls against FakeKubernetesApi.

No Kubernetes API server can run here, so the API is the in-memory ``FakeKubernetesApi`` (a fake, named as
such); the manifests and the state mapping are pure functions tested directly.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from infra.runtime.base import (
    ContainerExistsError,
    ContainerKind,
    ContainerSpec,
    ContainerState,
    RuntimeError_,
)
from infra.runtime.kubernetes import (
    KubernetesRuntime,
    deployment_manifest,
    job_manifest,
    secret_manifest,
    service_manifest,
)
from infra.runtime.registry import get_runtime_class
from infra.runtime.states import kube_deployment_state, kube_job_state
from infra.settings import RuntimeSettings, Settings
from tests.infra.runtime.fake_kubernetes import FakeKubernetesApi

ENV = {
    "MLFLOW_TRACKING_URI": "http://mlflow:5000",
    "AWS_ACCESS_KEY_ID": "AKIA",
    "AWS_SECRET_ACCESS_KEY": "s3cr3t",
    "MLOPS_JOB_CONFIG_URI": "s3://mlops/jobs/7/config-1.json",
}


def settings(**runtime: Any) -> Settings:
    return Settings(
        runtime=RuntimeSettings(**{"kube_namespace": "mlops", "image": "reg/runtime:1", **runtime})
    )


def train_spec(name: str = "train-7", **kwargs: Any) -> ContainerSpec:
    return ContainerSpec(
        name=name,
        kind=ContainerKind.TRAIN,
        command=["python", "-m", "algorithms.train"],
        env=ENV,
        labels={"app": "mlops-lite", "job-id": "7"},
        **kwargs,
    )


def serve_spec(name: str = "serve-3") -> ContainerSpec:
    return ContainerSpec(
        name=name,
        kind=ContainerKind.SERVE,
        port=3000,
        env=ENV,
        labels={"serving-id": "3"},
        command=["python", "-m", "algorithms.serve", "--model-uri", "models:/m/1", "--port", "3000"],
    )


@pytest.fixture
def fake() -> FakeKubernetesApi:
    return FakeKubernetesApi()


@pytest.fixture
def runtime(fake: FakeKubernetesApi) -> KubernetesRuntime:
    return KubernetesRuntime(settings=settings(), batch=fake, core=fake, apps=fake)


# -- manifests -------------------------------------------------------------------------------------------
def test_job_manifest() -> None:
    job = job_manifest(
        train_spec(cpu_limit=1.5, memory_limit_mb=2048),
        settings(kube_active_deadline_seconds=600, kube_service_account="trainer"),
    )
    assert job["metadata"]["name"] == "train-7" and job["metadata"]["namespace"] == "mlops"
    assert job["spec"]["backoffLimit"] == 0
    assert job["spec"]["activeDeadlineSeconds"] == 600
    labels = job["metadata"]["labels"]
    assert (
        labels["app"] == "mlops-lite" and labels["job-id"] == "7" and labels["mlops-lite/name"] == "train-7"
    )
    pod = job["spec"]["template"]["spec"]
    assert job["spec"]["template"]["metadata"]["labels"] == labels
    assert pod["restartPolicy"] == "Never" and pod["serviceAccountName"] == "trainer"
    assert pod["automountServiceAccountToken"] is False and pod["shareProcessNamespace"] is True
    (container,) = pod["containers"]
    assert container["image"] == "reg/runtime:1"
    assert container["command"] == ["python", "-m", "algorithms.train"]
    assert container["resources"]["limits"] == {"cpu": "1500m", "memory": "2048Mi"}
    env = {e["name"]: e for e in container["env"]}
    # Credentials only by reference; ordinary settings as plain values.
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        assert "value" not in env[key]
        assert env[key]["valueFrom"]["secretKeyRef"] == {"name": "train-7-env", "key": key}
    assert env["MLFLOW_TRACKING_URI"]["value"] == "http://mlflow:5000"
    assert "s3cr3t" not in repr(job)


def test_limits_default_from_settings() -> None:
    container = job_manifest(train_spec(), settings(cpu_limit=0.25))["spec"]["template"]["spec"][
        "containers"
    ][0]
    assert container["resources"]["limits"] == {"cpu": "250m"}
    bare = job_manifest(train_spec(), settings())["spec"]["template"]["spec"]["containers"][0]
    assert "resources" not in bare


def test_secret_manifest_owned_by_workload() -> None:
    owner = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "train-7", "uid": "u-1"}}
    secret = secret_manifest(train_spec(), settings(), owner)
    assert secret is not None
    assert secret["metadata"]["name"] == "train-7-env"
    assert secret["stringData"] == {"AWS_ACCESS_KEY_ID": "AKIA", "AWS_SECRET_ACCESS_KEY": "s3cr3t"}
    assert secret["metadata"]["ownerReferences"][0]["uid"] == "u-1"
    no_secrets = ContainerSpec(name="train-8", kind=ContainerKind.TRAIN, command=["python"], env={"A": "1"})
    assert secret_manifest(no_secrets, settings()) is None


def test_deployment_and_service_manifests() -> None:
    deployment = deployment_manifest(serve_spec(), settings())
    assert deployment["spec"]["replicas"] == 1
    selector = deployment["spec"]["selector"]["matchLabels"]
    template_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert all(template_labels[k] == v for k, v in selector.items())
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["ports"] == [{"name": "http", "containerPort": 3000}]
    assert container["readinessProbe"]["httpGet"] == {"path": "/ready", "port": 3000}
    service = service_manifest(serve_spec(), settings())
    assert service["spec"]["selector"] == selector
    assert service["spec"]["ports"][0]["port"] == 3000 and service["metadata"]["name"] == "serve-3"


def test_invalid_names_refused() -> None:
    for bad in ("Train-1", "1abc", "a_b", "x" * 60):
        with pytest.raises(ValueError, match="invalid Kubernetes container name"):
            job_manifest(train_spec(name=bad), settings())


# -- state mapping ---------------------------------------------------------------------------------------
def cond(kind: str, status: str = "True", **extra: str) -> dict[str, str]:
    return {"type": kind, "status": status, **extra}


def terminated(code: int, reason: str = "Error") -> dict[str, Any]:
    return {
        "containerStatuses": [
            {
                "name": "main",
                "state": {
                    "terminated": {"exitCode": code, "reason": reason, "finishedAt": "2025-01-01T00:10:00Z"}
                },
            }
        ]
    }


def waiting(reason: str, message: str = "") -> dict[str, Any]:
    return {
        "phase": "Pending",
        "containerStatuses": [{"name": "main", "state": {"waiting": {"reason": reason, "message": message}}}],
    }


@pytest.mark.parametrize(
    ("status", "pods", "state", "code", "detail"),
    [
        ({}, [], ContainerState.PENDING, None, "scheduling"),
        (
            {"active": 1, "ready": 0},
            [{"status": waiting("ImagePullBackOff", "pull failed")}],
            ContainerState.PENDING,
            None,
            "ImagePullBackOff: pull failed",
        ),
        (
            {"active": 1, "ready": 0},
            [{"status": waiting("InvalidImageName")}],
            ContainerState.FAILED,
            None,
            "InvalidImageName",
        ),
        (
            {"active": 1, "ready": 1, "startTime": "2025-01-01T00:00:00Z"},
            [],
            ContainerState.RUNNING,
            None,
            "",
        ),
        ({"active": 1}, [], ContainerState.RUNNING, None, ""),  # clusters before "ready" existed
        (
            {
                "succeeded": 1,
                "conditions": [cond("SuccessCriteriaMet"), cond("Complete")],
                "completionTime": "2025-01-01T00:10:00Z",
            },
            [],
            ContainerState.EXITED,
            0,
            "",
        ),
        (
            {
                "failed": 1,
                "conditions": [
                    cond("FailureTarget", reason="BackoffLimitExceeded"),
                    cond(
                        "Failed",
                        reason="BackoffLimitExceeded",
                        message="Job has reached the specified backoff limit",
                    ),
                ],
            },
            [{"status": terminated(3)}],
            ContainerState.FAILED,
            3,
            "exit code 3: Job has reached the specified backoff limit",
        ),
        (
            {"failed": 1, "conditions": [cond("Failed", reason="BackoffLimitExceeded")]},
            [{"status": terminated(137, "OOMKilled")}],
            ContainerState.FAILED,
            137,
            "exit code 137 (killed by SIGKILL) (OOMKilled)",
        ),
        (
            {
                "conditions": [
                    cond("Failed", reason="DeadlineExceeded", message="Job was active longer than specified")
                ]
            },
            [],
            ContainerState.FAILED,
            None,
            "killed: activeDeadlineSeconds exceeded",
        ),
        (
            {"conditions": [cond("Complete", "False"), cond("Suspended")]},
            [],
            ContainerState.PENDING,
            None,
            "suspended",
        ),
    ],
)
def test_job_states(
    status: dict[str, Any], pods: list[dict[str, Any]], state: ContainerState, code: int | None, detail: str
) -> None:
    observed = kube_job_state({"kind": "Job", "status": status}, pods)
    assert (observed.state, observed.exit_code, observed.detail) == (state, code, detail)


def test_job_times() -> None:
    observed = kube_job_state(
        {
            "status": {
                "startTime": "2025-01-01T00:00:00Z",
                "completionTime": "2025-01-01T00:10:00.123456789Z",
                "conditions": [cond("Complete")],
            }
        }
    )
    assert observed.started_at is not None and observed.finished_at is not None
    assert (observed.finished_at - observed.started_at).total_seconds() == pytest.approx(600.123456)


@pytest.mark.parametrize(
    ("deployment", "pods", "state", "detail"),
    [
        ({"spec": {"replicas": 1}, "status": {}}, [], ContainerState.PENDING, "waiting for a ready replica"),
        (
            {
                "spec": {"replicas": 1},
                "status": {"readyReplicas": 1, "conditions": [cond("Available"), cond("Progressing")]},
            },
            [],
            ContainerState.RUNNING,
            "",
        ),
        (
            {"spec": {"replicas": 1}, "status": {"conditions": [cond("Available", "False")]}},
            [{"status": waiting("ErrImagePull", "no such image")}],
            ContainerState.PENDING,
            "ErrImagePull: no such image",
        ),
        (
            {"spec": {"replicas": 1}, "status": {"conditions": [cond("Available", "False")]}},
            [
                {
                    "status": {
                        "containerStatuses": [
                            {
                                "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                                "lastState": {"terminated": {"exitCode": 1, "finishedAt": "x"}},
                            }
                        ]
                    }
                }
            ],
            ContainerState.FAILED,
            "CrashLoopBackOff (last exit code 1)",
        ),
        (
            {
                "spec": {"replicas": 1},
                "status": {
                    "conditions": [
                        cond(
                            "Progressing",
                            "False",
                            reason="ProgressDeadlineExceeded",
                            message="ReplicaSet has timed out progressing.",
                        )
                    ]
                },
            },
            [],
            ContainerState.FAILED,
            "ReplicaSet has timed out progressing.",
        ),
        ({"spec": {"replicas": 0}, "status": {}}, [], ContainerState.EXITED, "scaled to zero"),
    ],
)
def test_deployment_states(
    deployment: dict[str, Any], pods: list[dict[str, Any]], state: ContainerState, detail: str
) -> None:
    observed = kube_deployment_state(deployment, pods)
    assert (observed.state, observed.detail) == (state, detail)


# -- the runtime against FakeKubernetesApi ---------------------------------------------------------------
def test_registered() -> None:
    assert get_runtime_class("kubernetes") is KubernetesRuntime


def test_start_training_creates_job_and_owned_secret(
    runtime: KubernetesRuntime, fake: FakeKubernetesApi
) -> None:
    status = runtime.start(train_spec())
    assert status.state is ContainerState.PENDING
    job, secret = fake.get("Job", "train-7"), fake.get("Secret", "train-7-env")
    assert job is not None and secret is not None
    assert job["spec"]["backoffLimit"] == 0
    assert secret["metadata"]["ownerReferences"][0]["uid"] == job["metadata"]["uid"]
    with pytest.raises(ContainerExistsError):
        runtime.start(train_spec())
    assert fake.get("Secret", "train-7-env") == secret  # a refused start touches nothing


def test_status_batch_and_mapping(runtime: KubernetesRuntime, fake: FakeKubernetesApi) -> None:
    runtime.start(train_spec("train-1"))
    runtime.start(train_spec("train-2"))
    runtime.start(serve_spec("serve-3"))
    fake.set_job_status("train-1", {"active": 1, "ready": 1})
    fake.set_job_status(
        "train-2", {"failed": 1, "conditions": [cond("Failed", reason="BackoffLimitExceeded")]}
    )
    fake.add_pod("train-2", terminated(2))
    fake.set_deployment_status("serve-3", {"readyReplicas": 1, "conditions": [cond("Available")]})
    fake.calls.clear()
    result = runtime.status(["train-1", "train-2", "serve-3", "train-404"])
    assert {n: s.state for n, s in result.items()} == {
        "train-1": ContainerState.RUNNING,
        "train-2": ContainerState.FAILED,
        "serve-3": ContainerState.RUNNING,
        "train-404": ContainerState.NOT_FOUND,
    }
    assert result["train-2"].exit_code == 2
    assert result["serve-3"].port == 3000 and result["serve-3"].labels == {
        "serving-id": "3",
        "app": "mlops-lite",
    }
    assert sorted(fake.calls) == ["list_namespaced_deployment", "list_namespaced_job", "list_namespaced_pod"]
    assert [s.name for s in runtime.list(labels={"serving-id": "3"})] == ["serve-3"]


def test_serving_creates_deployment_and_service(runtime: KubernetesRuntime, fake: FakeKubernetesApi) -> None:
    runtime.start(serve_spec())
    assert fake.get("Deployment", "serve-3") is not None and fake.get("Service", "serve-3") is not None
    assert runtime.inference_url("serve-3", 3000) == "http://serve-3.mlops.svc.cluster.local:3000/predict"


def test_stop_deletes_with_propagation_and_remove_cleans_up(
    runtime: KubernetesRuntime, fake: FakeKubernetesApi
) -> None:
    runtime.start(serve_spec())
    fake.add_pod("serve-3", {"phase": "Running"})
    fake.set_deployment_status("serve-3", {"readyReplicas": 1, "conditions": [cond("Available")]})
    with pytest.raises(RuntimeError_, match="stop it first"):
        runtime.remove("serve-3")
    runtime.stop("serve-3", timeout=5)
    assert ("Deployment", "serve-3", "Background") in fake.deleted
    assert runtime.status(["serve-3"])["serve-3"].state is ContainerState.NOT_FOUND
    assert fake.get("Pod", "serve-3-abcde") is None and fake.get("Secret", "serve-3-env") is None
    runtime.remove("serve-3")
    assert fake.get("Service", "serve-3") is None
    runtime.stop("serve-3")  # both no-ops once gone
    runtime.remove("serve-3", force=True)


def test_force_remove_running_job(runtime: KubernetesRuntime, fake: FakeKubernetesApi) -> None:
    runtime.start(train_spec())
    fake.set_job_status("train-7", {"active": 1, "ready": 1})
    runtime.remove("train-7", force=True)
    assert fake.objects == {}


def test_logs_from_newest_pod(runtime: KubernetesRuntime, fake: FakeKubernetesApi) -> None:
    runtime.start(train_spec())
    assert runtime.logs("train-7") == ""  # no pod yet
    fake.add_pod("train-7", {"phase": "Failed"}, log="old\n", suffix="aaaaa", created="2025-01-01T00:00:01Z")
    fake.add_pod(
        "train-7", {"phase": "Running"}, log="a\nb\nc\n", suffix="bbbbb", created="2025-01-01T00:05:00Z"
    )
    assert runtime.logs("train-7") == "a\nb\nc\n"
    assert runtime.logs("train-7", tail=2) == "b\nc\n"


def test_api_errors(runtime: KubernetesRuntime, fake: FakeKubernetesApi) -> None:
    fake.fail_with = 503
    with pytest.raises(RuntimeError_) as info:
        runtime.status(["train-7"])
    assert info.value.transient
    fake.fail_with = 403
    with pytest.raises(RuntimeError_, match="403") as info:
        runtime.start(train_spec())
    assert not info.value.transient


# -- deployments/kubernetes and work pools (can only be validated offline here) -------------------------
DEPLOYMENTS = Path(__file__).resolve().parents[3] / "deployments"
EXTRA_VARIABLES = {"MLOPS_ENV_FILE"}  # read by infra.settings.base, not a field


def known_settings_variables() -> set[str]:
    names = set(EXTRA_VARIABLES)
    for group in Settings.model_fields.values():
        model = group.annotation
        prefix = model.model_config["env_prefix"]  # type: ignore[union-attr]
        names.update(prefix + field.upper() for field in model.model_fields)  # type: ignore[union-attr]
    return names


def mlops_variables(text: str) -> set[str]:
    return set(re.findall(r"\bMLOPS_[A-Z0-9_]+", text))


def test_kubernetes_manifests_parse_and_name_real_settings() -> None:
    files = sorted((DEPLOYMENTS / "kubernetes").glob("*.yaml"))
    assert {f.name for f in files} >= {
        "namespace.yaml",
        "rbac.yaml",
        "configmap.yaml",
        "platform.yaml",
        "dashboard.yaml",
        "api.yaml",
        "secret.example.yaml",
    }
    listed = yaml.safe_load((DEPLOYMENTS / "kubernetes" / "kustomization.yaml").read_text())["resources"]
    assert sorted(listed) == sorted(
        f.name for f in files if f.name not in ("kustomization.yaml", "secret.example.yaml")
    )
    kinds = set()
    for path in files:
        for doc in yaml.safe_load_all(path.read_text()):
            assert isinstance(doc, dict), path
            kinds.add(doc["kind"])
            if doc["kind"] != "Kustomization":
                assert doc["metadata"].get("namespace", "mlops") == "mlops" or doc["kind"] == "Namespace"
        unknown = mlops_variables(path.read_text()) - known_settings_variables()
        assert not unknown, f"{path.name} names settings that do not exist: {sorted(unknown)}"
    assert {
        "Namespace",
        "ServiceAccount",
        "Role",
        "RoleBinding",
        "ConfigMap",
        "Secret",
        "Deployment",
        "Service",
    } <= kinds
    role = yaml.safe_load_all((DEPLOYMENTS / "kubernetes" / "rbac.yaml").read_text())
    rules = next(d for d in role if d["kind"] == "Role")["rules"]
    granted = {(r["apiGroups"][0], res) for r in rules for res in r["resources"]}
    # Exactly what KubernetesRuntime calls.
    assert {
        ("batch", "jobs"),
        ("apps", "deployments"),
        ("", "services"),
        ("", "secrets"),
        ("", "pods"),
        ("", "pods/log"),
    } <= granted


def test_work_pool_templates() -> None:
    for name in ("process.json", "kubernetes.json"):
        template = json.loads((DEPLOYMENTS / "work-pools" / name).read_text())
        assert {"job_configuration", "variables"} <= template.keys()
    k8s = json.loads((DEPLOYMENTS / "work-pools" / "kubernetes.json").read_text())
    assert k8s["job_configuration"]["job_manifest"]["spec"]["backoffLimit"] == 0
