"""NATS settings: the bus other systems query the platform over."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from infra.settings.base import GroupSettings


class NatsSettings(GroupSettings):
    """``MLOPS_NATS_*``: server address, subject namespace, reply limits."""

    model_config = SettingsConfigDict(env_prefix="MLOPS_NATS_", extra="ignore")

    url: str = Field(default="nats://127.0.0.1:4222", description="NATS server URL (MLOPS_NATS_URL).")
    embedded: bool = Field(default=True, description="Start nats-server with JetStream in `mlops up`.")
    monitor_port: int = Field(default=8222, description="Monitoring port of the embedded nats-server (health).")
    namespace: str = Field(default="mlops", description="Subject prefix: {namespace}.get_mlops_module_list etc.")
    queue_group: str = Field(default="mlops-responders", description="Queue group shared by the NATS responders.")
    max_page_size: int = Field(default=500, ge=1, description="Upper bound on page_size in module data replies.")
    workers: int = Field(
        default=1, ge=1,
        description="Requests one responder process answers at once. Its work is Python + SQLite under one GIL, "
                    "so more threads mostly contend; run more responders (same queue group) to scale.",
    )
