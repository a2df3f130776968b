"""``client.me()``, ``client.tokens`` and ``client.service_accounts``."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from mlops_lite.client.transport import Transport, build
from mlops_lite.schemas.auth import CreateServiceAccount, CreateToken, NewToken, ServiceAccount, TokenOut
from mlops_lite.schemas.common import Page


class Tokens:
    def __init__(self, transport: Transport) -> None:
        self._t = transport

    def list(self) -> list[TokenOut]:
        return self._t.get_list("/tokens", TokenOut)

    def create(
        self, name: str, *, days: float | None = None, permissions: Iterable[str] | None = None
    ) -> NewToken:
        """A personal access token; ``.token`` is shown only in this answer. ``permissions`` narrows it to
        those (each one you hold on some team, e.g. ``["datasets:read"]``)."""
        return self._t.send("POST", "/tokens", NewToken, _token_body(name, days, permissions))

    def revoke(self, token_id: int) -> TokenOut:
        return self._t.send("DELETE", f"/tokens/{token_id}", TokenOut)


class ServiceAccounts:
    def __init__(self, transport: Transport) -> None:
        self._t = transport

    def create(self, name: str, *, team_id: int) -> ServiceAccount:
        return self._t.send(
            "POST", "/service-accounts", ServiceAccount, CreateServiceAccount(name=name, team_id=team_id)
        )

    def tokens(self, user_id: int) -> list[TokenOut]:
        return self._t.get_list(f"/service-accounts/{user_id}/tokens", TokenOut)

    def create_token(
        self, user_id: int, name: str, *, days: float | None = None, permissions: Iterable[str] | None = None
    ) -> NewToken:
        """A token of the service account, optionally narrowed to ``permissions`` (a subset of its own)."""
        body = _token_body(name, days, permissions)
        return self._t.send("POST", f"/service-accounts/{user_id}/tokens", NewToken, body)

    def page(self, *, offset: int = 0, limit: int = 50, search: str | None = None) -> Page[ServiceAccount]:
        return self._t.page("/service-accounts", ServiceAccount, offset=offset, limit=limit, q=search)

    def list(self, *, search: str | None = None) -> Iterator[ServiceAccount]:
        """The service accounts the caller manages (every one for an administrator; pages fetched as the
        iteration goes)."""
        return self._t.pages("/service-accounts", ServiceAccount, q=search)


def _token_body(name: str, days: float | None, permissions: Iterable[str] | None) -> CreateToken:
    fields = {"name": name, "days": days}
    if permissions is not None:
        fields["permissions"] = list(permissions)
    return build(CreateToken, **fields)
