"""MLflow tracking settings."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from infra.settings.base import GroupSettings
from infra.settings.secrets import secret_default


class TrackingSettings(GroupSettings):
    """``MLOPS_MLFLOW_*``: the MLflow tracking server."""

    model_config = SettingsConfigDict(env_prefix="MLOPS_MLFLOW_", extra="ignore")

    uri: str = Field(default="http://127.0.0.1:5000", description="MLflow tracking URI (MLOPS_MLFLOW_URI).")
    embedded: bool = Field(default=True, description="Start an MLflow server in `mlops up`.")
    username: str = Field(
        default="mlops",
        description="MLflow user of the platform (MLFLOW_TRACKING_USERNAME); the embedded server's basic-auth "
        "admin, the only account it has.",
    )
    password: str = Field(
        default_factory=secret_default("mlflow_password"),
        description="Password of that user (MLFLOW_TRACKING_PASSWORD). Default: generated per install (data "
        "dir's secrets.json). The embedded server stores its admin at first start: change both together.",
    )
    artifacts_destination: str | None = Field(
        default=None,
        description="Artifact root of the embedded server; default s3://<artifacts bucket>/artifacts.",
    )
    experiment_prefix: str = Field(
        default="mlops", description="Prefix of the MLflow experiments the platform creates."
    )
    request_timeout_seconds: int = Field(default=30, gt=0, description="HTTP timeout of each MLflow call.")
    request_max_retries: int = Field(
        default=2, ge=0, description="Retries of each MLflow call before it errors."
    )
