"""Prefect settings: which API the platform's flows report to."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from infra.settings.base import GroupSettings
from infra.settings.secrets import install_secret


class PrefectSettings(GroupSettings):
    """``MLOPS_PREFECT_*``: the Prefect server and the process serving the platform's deployments."""

    model_config = SettingsConfigDict(env_prefix="MLOPS_PREFECT_", extra="ignore")

    api_url: str = Field(
        default="http://127.0.0.1:4200/api", description="Prefect API URL (MLOPS_PREFECT_API_URL)."
    )
    embedded: bool = Field(default=True, description="Start a Prefect server in `mlops up`.")
    auth_string: str = Field(
        default_factory=lambda: f"mlops:{install_secret('prefect_password')}",
        description="'user:password' the Prefect API requires (PREFECT_SERVER_API_AUTH_STRING on the embedded "
        "server, PREFECT_API_AUTH_STRING for clients; the Prefect UI asks for it). Default: generated per "
        "install (data dir's secrets.json).",
    )
    poll_seconds: float = Field(
        default=1.0, gt=0, description="How often the deployment-serving process picks up new flow runs."
    )

    run_mode: str = Field(
        default="deployment",
        pattern="^(deployment|inline)$",
        description="How the CLI and dashboard run flows: 'deployment' asks the Prefect server to run the "
        "platform's deployment (served by `mlops up`); 'inline' runs the flow in the calling process "
        "(scripts, tests). Both are tracked by the Prefect server.",
    )
    schedule_overrides: dict[str, float] = Field(
        default_factory=dict,
        description="Interval in seconds per scheduled deployment, replacing prefect.yaml's (JSON, e.g. "
        '{"reconcile-training": 60, "sync-servings": 30}); unset deployments keep their declared schedule.',
    )
    wait_timeout_seconds: float = Field(
        default=3600.0,
        gt=0,
        description="How long a waiting CLI call (--wait) follows a deployment run before it gives up (exit "
        "code 4; the work goes on); the default of the commands' --timeout.",
    )
    accept_timeout_seconds: float = Field(
        default=120.0,
        gt=0,
        description="How long a CLI call that does not wait (--no-wait) waits for its flow run to take the work "
        "on (or to fail to) before it gives up; covers the runner picking the run up and starting its process.",
    )
    progress_seconds: float = Field(
        default=15.0,
        gt=0,
        description="How often a CLI call following a flow run prints a progress line (elapsed time, status) "
        "to stderr when nothing changed.",
    )
    follow_poll_seconds: float = Field(
        default=1.0,
        gt=0,
        description="How often a CLI call following a flow run reads its state and its row.",
    )
    connect_timeout_seconds: float = Field(
        default=5.0,
        gt=0,
        description="How long the CLI waits for the Prefect server to answer its health check before saying it "
        "is unreachable.",
    )

    @property
    def ui_url(self) -> str:
        return self.api_url.removesuffix("/api")
