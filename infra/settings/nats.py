"""NATS settings: the bus other systems query the platform over."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from infra.settings.base import GroupSettings
from infra.settings.secrets import secret_default


class NatsSettings(GroupSettings):
    """``MLOPS_NATS_*``: server address, subject namespace, reply limits."""

    model_config = SettingsConfigDict(env_prefix="MLOPS_NATS_", extra="ignore")

    url: str = Field(default="nats://127.0.0.1:4222", description="NATS server URL (MLOPS_NATS_URL).")
    embedded: bool = Field(default=True, description="Start nats-server with JetStream in `mlops up`.")
    user: str = Field(
        default="mlops-responder",
        description="NATS user the platform connects as (its responders, its events). The embedded server lets "
        "it subscribe to the namespace's request subjects (in the queue group), publish replies and the "
        "platform's events ({namespace}.events.>), nothing else.",
    )
    password: str = Field(
        default_factory=secret_default("nats_password"),
        description="Password of the responder user. Default: generated per install (data dir's secrets.json).",
    )
    client_user: str = Field(
        default="mlops-client",
        description="The user other systems call the platform as (embedded server only): it may publish "
        "requests on the namespace's subjects (not events), subscribe to its own inbox prefix "
        "(client_inbox_prefix) and to the platform's events ({namespace}.events.>).",
    )
    client_password: str = Field(
        default_factory=secret_default("nats_client_password"),
        description="Password of the client user (embedded server only). Default: generated per install.",
    )
    namespace: str = Field(
        default="mlops", description="Subject prefix: {namespace}.get_mlops_module_list etc."
    )
    queue_group: str = Field(
        default="mlops-responders", description="Queue group shared by the NATS responders."
    )
    max_page_size: int = Field(
        default=500, ge=1, description="Upper bound on page_size in module data replies."
    )
    workers: int = Field(
        default=1,
        ge=1,
        description="Requests one responder process answers at once. Its work is Python + SQLite under one GIL, "
        "so more threads mostly contend; run more responders (same queue group) to scale.",
    )

    @property
    def client_inbox_prefix(self) -> str:
        """Inbox prefix the client user must connect with (nats-py ``inbox_prefix``): the only subjects it
        may subscribe to, so one caller never reads replies meant for another user."""
        return f"_INBOX_{self.client_user}"
