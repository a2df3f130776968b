"""Platform API settings (``api``: the `/api/v1` HTTP server, its tokens, its optional OIDC issuer)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from infra.settings.base import GroupSettings


class ApiSettings(GroupSettings):
    """``MLOPS_API_*``: the platform's HTTP API, served by `mlops up` (component ``api``) or its own container."""

    model_config = SettingsConfigDict(env_prefix="MLOPS_API_", extra="ignore")

    port: int = Field(default=8700, ge=1, le=65535, description="Port of the platform API.")
    public_url: str | None = Field(
        default=None,
        description="URL clients reach the API at (behind a proxy or in a cluster); default "
        "http://<MLOPS_HOST>:<port>. Printed by `mlops up` and used by the CLI on the platform host.",
    )
    workers: int = Field(default=1, ge=1, le=64, description="uvicorn worker processes of the API server.")
    token_days: float = Field(
        default=90.0, gt=0, le=366, description="Default lifetime of a personal or service token (days)."
    )
    login_token_hours: float = Field(
        default=12.0, gt=0, le=24 * 31, description="Lifetime of the token `mlops login` obtains (hours)."
    )
    operator_token_days: float = Field(
        default=30.0,
        gt=0,
        le=366,
        description="Lifetime of the operator token the API writes into the data dir for the local CLI; a "
        "new one replaces it at every start of the API.",
    )
    max_json_bytes: int = Field(
        default=4 * 1024 * 1024,
        ge=1024,
        description="Largest JSON request body (uploads stream separately, see MLOPS_DATASETS_* limits).",
    )
    max_page_size: int = Field(
        default=500, ge=1, le=1000, description="Largest page a list endpoint returns."
    )
    proxy_timeout_seconds: float = Field(
        default=60.0, gt=0, description="How long the predict proxy waits for a serving's answer."
    )
    oidc_issuer: str | None = Field(
        default=None,
        description="OIDC issuer URL whose JWTs the API accepts as bearer tokens (keys from its JWKS); unset: "
        "platform tokens only.",
    )
    oidc_audience: str | None = Field(
        default=None, description="Audience (``aud``) an OIDC token must carry; required with an issuer."
    )
    oidc_username_claim: str = Field(
        default="preferred_username",
        description="Claim whose value names the platform user of an OIDC token.",
    )
    oidc_create_users: bool = Field(
        default=False,
        description="Create a platform user (no team, no password) on a valid OIDC token of an unknown "
        "subject; otherwise such a token is refused until an admin creates the user.",
    )
    oidc_jwks_cache_seconds: float = Field(
        default=300.0, gt=0, description="How long the issuer's keys are kept before they are fetched again."
    )

    def url(self, host: str) -> str:
        return (self.public_url or f"http://{host}:{self.port}").rstrip("/")
