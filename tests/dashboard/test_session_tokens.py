"""Dashboard session tokens cannot be minted from the catalog alone, and a sign-out holds in another process —
a restarted dashboard — as it does in the one that signed out."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import pytest

from catalog.db import session_scope
from catalog.services import teams as teams_service
from tests.fixtures.accounts import in_a_new_process

pytestmark = pytest.mark.platform_servers("s3")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def test_a_token_keyed_by_the_password_hash_alone_is_refused(platform_admin: str) -> None:
    """Anyone who can read catalog.db has the admin's password hash; that must not be enough to sign in."""
    from dashboard.auth import read_token

    with session_scope() as session:
        password_hash = teams_service.get_user(session, username=platform_admin).password_hash
    payload = json.dumps(
        {"u": platform_admin, "t": None, "e": int(time.time()) + 3600, "n": "forged"}, separators=(",", ":")
    ).encode()
    forged = f"{_b64(payload)}.{_b64(hmac.new(password_hash.encode(), payload, hashlib.sha256).digest())}"
    assert read_token(forged) is None


def test_a_token_of_another_install_is_refused(platform_admin: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from dashboard.auth import Login, issue_token, read_token
    from infra.settings import reset_settings

    login = Login(
        username=platform_admin, team_id=None, signed_in_at=time.time(), expires_at=time.time() + 3600
    )
    token = issue_token(login)
    assert read_token(token) is not None
    monkeypatch.setenv("MLOPS_SECRET_KEY", "another-install-" * 4)
    reset_settings()
    assert read_token(token) is None


def test_a_signed_out_token_stays_refused_in_a_new_dashboard_process(platform_admin: str) -> None:
    from dashboard.auth import Login, issue_token, read_token, revoke_token

    expires = time.time() + 3600
    kept, signed_out = (
        issue_token(
            Login(username=platform_admin, team_id=None, signed_in_at=time.time(), expires_at=expires)
        )
        for _ in range(2)
    )
    revoke_token(signed_out, expires)
    assert read_token(signed_out) is None and read_token(kept) is not None
    check = (
        "from dashboard.auth import read_token; "
        f"print(read_token({kept!r}) is not None, read_token({signed_out!r}) is not None)"
    )
    assert in_a_new_process(check) == "True False"
