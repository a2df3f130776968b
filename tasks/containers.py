"""What the platform hands its containers: the environment contract (docs/architecture.md) and specs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from infra.runtime.base import ContainerKind, ContainerSpec, InputFile
from infra.settings import Settings, get_settings

if TYPE_CHECKING:  # the type only: specs are built without loading MLflow's client
    from infra.tracking_auth import Credentials

LABEL_APP = "mlops-lite"


def container_env(settings: Settings | None = None) -> dict[str, str]:
    s = settings or get_settings()
    return {
        "MLFLOW_TRACKING_URI": s.mlflow.uri,
        "MLFLOW_TRACKING_USERNAME": s.mlflow.username,
        "MLFLOW_TRACKING_PASSWORD": s.mlflow.password,
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "DO_NOT_TRACK": "true",
        "MLOPS_S3_ENDPOINT": s.s3.endpoint,
        "MLFLOW_S3_ENDPOINT_URL": s.s3.endpoint,
        "AWS_ACCESS_KEY_ID": s.s3.access_key,
        "AWS_SECRET_ACCESS_KEY": s.s3.secret_key,
        "AWS_DEFAULT_REGION": s.s3.region,
        "MLOPS_PREDICT_MAX_BATCH_SIZE": str(s.predict.max_batch_size),
        "MLOPS_PREDICT_MAX_IMAGES": str(s.predict.max_images),
        "MLOPS_PREDICT_MAX_IMAGE_BYTES": str(s.predict.max_image_bytes),
        "MLOPS_PREDICT_MAX_IMAGE_PIXELS": str(s.predict.max_image_pixels),
        "MLOPS_PREDICT_MAX_REQUEST_PIXELS": str(s.predict.max_request_pixels),
        "MLOPS_PREDICT_MAX_BODY_BYTES": str(s.predict.max_body_bytes),
        "PYTHONUNBUFFERED": "1",
    }


def training_spec(
    *,
    job_id: int,
    team_id: int,
    config_uri: str,
    run_id: str,
    cpu_limit: float | None = None,
    memory_limit_mb: int | None = None,
    settings: Settings | None = None,
) -> ContainerSpec:
    """A preset job's container; its limits are what its start claimed (``catalog.services.quotas``), else the
    runtime's."""
    s = settings or get_settings()
    env = {
        **container_env(s),
        "MLOPS_JOB_CONFIG_URI": config_uri,
        "MLFLOW_RUN_ID": run_id,
        # Pretrained weights may only come from here (algorithms.yolo.weights checks it again).
        "MLOPS_TRAIN_WEIGHTS_DIR": str(s.training.weights_dir),
    }
    return ContainerSpec(
        name=f"train-{job_id}",
        kind=ContainerKind.TRAIN,
        command=["python", "-m", "algorithms.train"],
        env=env,
        labels={"app": LABEL_APP, "kind": "train", "job-id": str(job_id), "team-id": str(team_id)},
        image=s.runtime.image,
        cpu_limit=cpu_limit if cpu_limit is not None else s.runtime.cpu_limit,
        memory_limit_mb=memory_limit_mb if memory_limit_mb is not None else s.runtime.memory_limit_mb,
    )


# The release zip in a custom job's container: ``$MLOPS_INPUT_DIR/release.zip``, its path also in MLOPS_RELEASE_PATH.
RELEASE_FILE = "release.zip"
RELEASE_PATH_ENV = "MLOPS_RELEASE_PATH"


def custom_env(
    *,
    job_id: int,
    scenario: str,
    run_id: str,
    experiment_id: str,
    model_name: str,
    account: Credentials,
    settings: Settings | None = None,
) -> dict[str, str]:
    """The platform's variables in a custom job's container (docs/architecture.md): MLflow's, to log into the
    run the platform created and register ``model_name`` as ``account`` (the start's own MLflow user, never the
    platform's), and the job's. No S3 credentials: MLflow proxies artifacts, and the release is handed over as a
    file (``RELEASE_PATH_ENV``)."""
    s = settings or get_settings()
    return {
        "MLFLOW_TRACKING_URI": s.mlflow.uri,
        "MLFLOW_TRACKING_USERNAME": account.username,
        "MLFLOW_TRACKING_PASSWORD": account.password,
        "MLFLOW_RUN_ID": run_id,
        "MLFLOW_EXPERIMENT_ID": experiment_id,
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "DO_NOT_TRACK": "true",
        "MLOPS_JOB_ID": str(job_id),
        "MLOPS_SCENARIO": scenario,
        "MLOPS_MODEL_NAME": model_name,
        "PYTHONUNBUFFERED": "1",
    }


def custom_training_spec(
    *,
    job_id: int,
    team_id: int,
    image: str,
    command: Sequence[str],
    user_env: Mapping[str, str],
    platform_env: Mapping[str, str],
    release: InputFile,
    cpu_limit: float | None,
    memory_limit_mb: int | None,
    settings: Settings | None = None,
) -> ContainerSpec:
    """A custom job's container: the user's image and command, the user's variables under the platform's (which
    win: the catalog refuses their names already), the release as an input file, the job's or the runtime's
    limits."""
    s = settings or get_settings()
    return ContainerSpec(
        name=f"train-{job_id}",
        kind=ContainerKind.TRAIN,
        command=list(command),
        env={**user_env, **platform_env},
        labels={
            "app": LABEL_APP,
            "kind": "train",
            "job-id": str(job_id),
            "team-id": str(team_id),
            "job-kind": "custom",
        },
        image=image,
        cpu_limit=cpu_limit if cpu_limit is not None else s.runtime.cpu_limit,
        memory_limit_mb=memory_limit_mb if memory_limit_mb is not None else s.runtime.memory_limit_mb,
        inputs=(release,),
        user_code=True,
    )


def serving_spec(
    *,
    serving_id: int,
    team_id: int,
    scenario: str,
    model_uri: str,
    port: int,
    token: str,
    model_version: str | None = None,
    control_token: str | None = None,
    cpu_limit: float | None = None,
    memory_limit_mb: int | None = None,
    log_rate: float = 0.0,
    log_per_minute: int = 6000,
    settings: Settings | None = None,
) -> ContainerSpec:
    """``token``: what the inference server requires of its callers (catalog.services.serving.inference_token);
    ``model_version``: the version ``model_uri`` is (every answer names it); ``control_token``: what its control
    endpoint requires (``catalog.services.serving.control_token``: the platform's alone); the limits: what the
    serving claimed (``catalog.services.quotas``), else the runtime's; ``log_rate`` and ``log_per_minute``: the
    share of answers it keeps for the platform to collect, and its cap (``algorithms.serve.predlog``; 0: none)."""
    s = settings or get_settings()
    version = ["--model-version", model_version] if model_version is not None else []
    control = {"MLOPS_SERVING_CONTROL_TOKEN": control_token} if control_token is not None else {}
    logging = (
        {
            "MLOPS_PREDICTION_LOG_ENABLED": "true",
            "MLOPS_PREDICTION_LOG_RATE": repr(float(log_rate)),
            "MLOPS_PREDICTION_LOG_PER_MINUTE": str(log_per_minute),
            "MLOPS_PREDICTION_LOG_BUFFER_RECORDS": str(s.monitoring.buffer_records),
            "MLOPS_PREDICTION_LOG_BUFFER_BYTES": str(s.monitoring.buffer_bytes),
            "MLOPS_PREDICTION_LOG_MAX_BODY_BYTES": str(s.monitoring.max_body_bytes),
        }
        # The log is collected with the control token: without one nobody could take the records.
        if log_rate > 0 and control_token is not None
        else {}
    )
    return ContainerSpec(
        name=f"serve-{serving_id}",
        kind=ContainerKind.SERVE,
        command=[
            "python",
            "-m",
            "algorithms.serve",
            "--model-uri",
            model_uri,
            *version,
            "--host",
            s.runtime.serving_host,
            "--port",
            str(port),
            "--scenario",
            scenario,
        ],
        env={**container_env(s), "MLOPS_SERVING_TOKEN": token, **control, **logging},
        port=port,
        labels={"app": LABEL_APP, "kind": "serve", "serving-id": str(serving_id), "team-id": str(team_id)},
        image=s.runtime.image,
        cpu_limit=cpu_limit if cpu_limit is not None else s.runtime.cpu_limit,
        memory_limit_mb=memory_limit_mb if memory_limit_mb is not None else s.runtime.memory_limit_mb,
    )


def evaluation_spec(
    *,
    evaluation_id: int,
    team_id: int,
    scenario: str,
    release_uri: str,
    release_sha256: str,
    model_uris: Sequence[str],
    result_uri: str,
    settings: Settings | None = None,
) -> ContainerSpec:
    """The promotion gate's evaluation container (``python -m algorithms.evaluate``): platform code in the platform
    image with a preset training container's environment (MLflow's and S3's) and the runtime's limits. A batch
    container like training (a Job on Kubernetes), labelled ``kind=evaluate``."""
    s = settings or get_settings()
    command = [
        "python",
        "-m",
        "algorithms.evaluate",
        "--release-uri",
        release_uri,
        "--release-sha256",
        release_sha256,
        "--scenario",
        scenario,
        "--result-uri",
        result_uri,
        "--evaluation-id",
        str(evaluation_id),
    ]
    for uri in model_uris:
        command += ["--model-uri", uri]
    return ContainerSpec(
        name=f"eval-{evaluation_id}",
        kind=ContainerKind.TRAIN,
        command=command,
        env=container_env(s),
        labels={
            "app": LABEL_APP,
            "kind": "evaluate",
            "evaluation-id": str(evaluation_id),
            "team-id": str(team_id),
        },
        image=s.runtime.image,
        cpu_limit=s.runtime.cpu_limit,
        memory_limit_mb=s.runtime.memory_limit_mb,
    )
