"""Every operation of the API's own OpenAPI document × every way of not being a valid caller → 401 in the one
error shape; every administrators-only operation × a member → 403; nothing but health and the token exchange
answers without a token. Built from the live server's document, so a new endpoint is covered the day it
exists."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from tests.api.conftest import PUBLIC, Operation

pytestmark = pytest.mark.platform_servers("s3")


def _bad_tokens(api_server: Any) -> dict[str, str | None]:
    """No header, garbage, and real tokens that are expired, revoked, or whose user is disabled."""
    from catalog.db import session_scope
    from catalog.models import ApiToken, User
    from catalog.models.base import utcnow

    with api_server.client() as admin:
        expired = admin.tokens.create("soon-expired", days=1)
        revoked = admin.tokens.create("revoked", days=1)
        admin.tokens.revoke(revoked.id)
    with session_scope() as session:
        session.exec(  # type: ignore[call-overload]
            update(ApiToken)
            .where(ApiToken.id == expired.id)
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
    from mlops_lite.client import Client

    _, disabled = Client.login(api_server.url, "mallory", "mallory-pass")
    with session_scope() as session:
        session.exec(update(User).where(User.username == "mallory").values(is_active=False))  # type: ignore[call-overload]
    return {
        "none": None,
        "garbage": "Bearer mlops_p_" + "A" * 43,
        "not bearer": f"Basic {expired.token}",
        "expired": f"Bearer {expired.token}",
        "revoked": f"Bearer {revoked.token}",
        "disabled user": f"Bearer {disabled.token}",
    }


def _path_value(op: Operation, name: str) -> object:
    """1, or the first value a path parameter's enumeration allows (``/models/{id}/aliases/{alias}``: an alias
    that is none matches no route)."""
    for parameter in op.spec.get("parameters", []):
        if parameter.get("in") == "path" and parameter.get("name") == name:
            return (parameter.get("schema", {}).get("enum") or [1])[0]
    return 1


def _call(op: Operation, base: str, header: str | None) -> httpx.Response:
    headers = {"Authorization": header} if header else {}
    url = op.url(base, {name: _path_value(op, name) for name in op.path_params})
    return httpx.request(op.method, url, headers=headers, timeout=60)


def test_every_operation_refuses_a_caller_without_a_valid_token(api_server, api_operations) -> None:  # type: ignore[no-untyped-def]
    assert len(api_operations) >= 9
    guarded = [op for op in api_operations if op.path not in PUBLIC]
    assert {op.path for op in api_operations} - {op.path for op in guarded} == PUBLIC - {
        "/api/v1/openapi.json"
    }
    for name, header in _bad_tokens(api_server).items():
        for op in guarded:
            answer = _call(op, api_server.url, header)
            assert answer.status_code == 401, (
                f"{op} with {name} token: {answer.status_code} {answer.text[:300]}"
            )
            error = answer.json()["error"]
            assert error["code"] == "unauthenticated" and error["status"] == 401, f"{op}: {error}"
            assert answer.headers.get("www-authenticate", "").startswith("Bearer"), str(op)
    for op in api_operations:
        for secret in ("mlops_p_", "mlops_l_", "mlops_o_"):
            assert secret not in api_server.log(), "a token reached the API's log"


def test_administrators_only_operations_refuse_members(api_server, api_operations) -> None:  # type: ignore[no-untyped-def]
    from mlops_lite.client import Client

    member, _ = Client.login(api_server.url, "mallory", "mallory-pass")
    header = f"Bearer {member.transport._http.headers['Authorization'].split()[1]}"
    admin_ops = [op for op in api_operations if op.admin_only]
    assert len(admin_ops) >= 5, "teams, users and algorithm switches are administrators-only"
    for op in admin_ops:
        answer = _call(op, api_server.url, header)
        assert answer.status_code == 403, f"{op}: {answer.status_code} {answer.text[:300]}"
        assert answer.json()["error"]["code"] == "permission_denied"
        # The operator's token passes the same gate (whatever the operation then answers for id 1).
        assert _call(op, api_server.url, f"Bearer {api_server.operator_token}").status_code != 403, str(op)
    member.close()
