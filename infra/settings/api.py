"""Platform API settings (``api``: the `/api/v1` HTTP server, its tokens, its optional OIDC issuer)."""

from __future__ import annotations

from urllib.parse import urlsplit

from pydantic import Field, model_validator
from pydantic_settings import SettingsConfigDict

from infra.settings.base import GroupSettings

LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")


def insecure_url(url: str) -> str | None:
    """Why ``url`` may not serve an OIDC issuer's keys, or None: keys fetched over plain HTTP from another
    machine could be swapped in transit, and whoever swaps them signs tokens for any user."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        return "is not a URL"
    if parts.scheme == "https" and host:
        return None
    if parts.scheme == "http" and host in LOOPBACK_HOSTS:
        return None
    return "must be an https:// URL (http:// only on a loopback host)"


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
        description="OIDC issuer URL whose JWTs the API accepts as bearer tokens (keys from its JWKS, found "
        "through <issuer>/.well-known/openid-configuration); exactly the tokens' ``iss``. https, or http on a "
        "loopback host only. Unset: platform tokens only.",
    )
    oidc_audience: str | None = Field(
        default=None,
        description="Audience (``aud``) an OIDC token must carry, usually the API's client id at the issuer; "
        "required with an issuer (a token meant for another application must not open this API).",
    )
    oidc_username_claim: str = Field(
        default="preferred_username",
        min_length=1,
        max_length=100,
        description="Claim naming the platform user of an OIDC token, used when its subject (``sub``) is seen "
        "for the first time (to link an administrator-created user or to name a created one). Choose a claim "
        "the issuer's users cannot edit themselves; ``email`` counts only with ``email_verified`` true.",
    )
    oidc_create_users: bool = Field(
        default=False,
        description="Create a platform user (no team, no usable password) on a valid OIDC token of an unknown "
        "subject whose username is free; otherwise such a token is refused until an administrator creates "
        "the user (which the token's first use then links; see api/oidc.py for the linking rule).",
    )
    oidc_jwks_cache_seconds: float = Field(
        default=300.0,
        gt=0,
        le=86400,
        description="How long the issuer's keys (its discovery document and JWKS) are kept before they are "
        "fetched again.",
    )
    oidc_jwks_refetch_seconds: float = Field(
        default=30.0,
        ge=0,
        le=3600,
        description="Least time between two fetches of the issuer's keys (a token naming a key not in the "
        "cache triggers one, as after a key rotation; a failed fetch counts too), so tokens with made-up key "
        "ids cannot make the API hammer the issuer.",
    )

    @model_validator(mode="after")
    def _oidc_complete(self) -> ApiSettings:
        if not self.oidc_issuer:
            self.oidc_issuer = None  # an empty variable means "no issuer"
            return self
        problem = insecure_url(self.oidc_issuer)
        if problem:
            raise ValueError(f"MLOPS_API_OIDC_ISSUER {problem}")
        if not (self.oidc_audience or "").strip():
            raise ValueError(
                "MLOPS_API_OIDC_AUDIENCE is required with MLOPS_API_OIDC_ISSUER: the audience (``aud``) the "
                "API's tokens are issued for, so that a token meant for another application is refused"
            )
        return self

    def url(self, host: str) -> str:
        return (self.public_url or f"http://{host}:{self.port}").rstrip("/")
