"""``Client``: the connection (server, token) and the resources, each in its own module."""

from __future__ import annotations

import os
from types import TracebackType
from typing import Self

from mlops_lite.client import config
from mlops_lite.client.admin import Roles, Teams, Users
from mlops_lite.client.algorithms import Algorithms
from mlops_lite.client.audit import Audit
from mlops_lite.client.auth import ServiceAccounts, Tokens
from mlops_lite.client.custom_jobs import CustomJobs
from mlops_lite.client.datasets import Datasets
from mlops_lite.client.errors import InvalidRequest
from mlops_lite.client.jobs import Jobs
from mlops_lite.client.models import Models
from mlops_lite.client.releases import Releases
from mlops_lite.client.rollouts import Rollouts
from mlops_lite.client.servings import Servings
from mlops_lite.client.transport import Transport
from mlops_lite.schemas.auth import Health, Me, NewToken, TokenRequest


class Client:
    """A connection to the platform API. ``server`` and ``token`` default to MLOPS_SERVER / MLOPS_TOKEN, then
    to what `mlops login` stored (``mlops_lite.client.config``)."""

    def __init__(
        self,
        server: str | None = None,
        token: str | None = None,
        *,
        timeout: float = 60.0,
        verify: bool | str = True,
    ) -> None:
        server = server or config.default_server()
        if not server:
            raise InvalidRequest(
                f"no server: pass one, set {config.SERVER_ENV}, or run `mlops login --server URL`"
            )
        self.server = config.normalize(server)

        token = token or os.environ.get(config.TOKEN_ENV) or config.stored_token(self.server)
        self.transport = Transport(self.server, token, timeout=timeout, verify=verify)
        self.tokens = Tokens(self.transport)
        self.service_accounts = ServiceAccounts(self.transport)
        self.datasets = Datasets(self.transport)
        self.releases = Releases(self.transport)
        self.jobs = Jobs(self.transport)
        self.teams = Teams(self.transport)
        self.roles = Roles(self.transport)
        self.users = Users(self.transport)
        self.algorithms = Algorithms(self.transport)
        self.audit = Audit(self.transport)
        self.custom_jobs = CustomJobs(self.transport)
        self.servings = Servings(self.transport)
        self.models = Models(self.transport)
        self.rollouts = Rollouts(self.transport)

    @classmethod
    def login(
        cls, server: str, username: str, password: str, *, name: str | None = None, timeout: float = 60.0
    ) -> tuple[Client, NewToken]:
        """Exchange a password for a token (counted towards the account's lockout on failure)."""
        anonymous = Transport(config.normalize(server), None, timeout=timeout)
        try:
            issued = anonymous.send(
                "POST", "/auth/token", NewToken, TokenRequest(username=username, password=password, name=name)
            )
        finally:
            anonymous.close()
        return cls(server, issued.token, timeout=timeout), issued

    def health(self) -> Health:
        return self.transport.get("/health", Health)

    def me(self) -> Me:
        return self.transport.get("/me", Me)

    def close(self) -> None:
        self.transport.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
