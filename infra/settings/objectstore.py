"""Object store settings: any S3 API (MinIO in production, SeaweedFS embedded)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from infra.settings.base import GroupSettings
from infra.settings.secrets import secret_default


class ObjectStoreSettings(GroupSettings):
    """``MLOPS_S3_*``: the S3 endpoint, credentials and bucket the platform writes to."""

    model_config = SettingsConfigDict(env_prefix="MLOPS_S3_", extra="ignore")

    endpoint: str = Field(
        default="http://127.0.0.1:9000",
        description="S3 endpoint URL including scheme (MLOPS_S3_ENDPOINT), e.g. https://minio.example.com.",
    )
    access_key: str = Field(
        default_factory=secret_default("s3_access_key"),
        description="S3 access key id. Default: generated per install (data dir's secrets.json); the embedded "
        "server accepts only this key.",
    )
    secret_key: str = Field(
        default_factory=secret_default("s3_secret_key"),
        description="S3 secret access key. Default: generated per install (data dir's secrets.json).",
    )
    region: str = Field(default="us-east-1", description="S3 region name sent in signatures.")
    bucket: str = Field(default="mlops", description="Bucket holding datasets, releases, job configs.")
    artifacts_bucket: str = Field(
        default="mlflow", description="Bucket holding MLflow artifacts (embedded mode)."
    )
    embedded: bool = Field(
        default=True,
        description="Start SeaweedFS as the S3 server in `mlops up`; false when pointing at MinIO.",
    )
    master_port: int = Field(default=19333, description="Embedded SeaweedFS master port.")
    volume_port: int = Field(default=18080, description="Embedded SeaweedFS volume server port.")
    filer_port: int = Field(default=18888, description="Embedded SeaweedFS filer port.")
    presign_expiry_seconds: int = Field(
        default=3600, gt=0, description="Lifetime of presigned download URLs."
    )
    timeout_seconds: float = Field(
        default=60.0, gt=0, description="Connect/read timeout of each S3 request made by the platform."
    )
    max_retries: int = Field(
        default=2,
        ge=0,
        description="Retries of an S3 request on connection errors and 5xx answers before it errors.",
    )

    @property
    def secure(self) -> bool:
        return self.endpoint.startswith("https://")

    @property
    def host_port(self) -> str:
        """``host:port`` as the MinIO SDK wants it."""
        return self.endpoint.split("://", 1)[-1].rstrip("/")

    @property
    def port(self) -> int:
        hostport = self.host_port
        return int(hostport.rsplit(":", 1)[1]) if ":" in hostport else (443 if self.secure else 80)
