"""The CLI's session file cannot be forged from the catalog alone, and `mlops logout` revokes copies of it."""

from __future__ import annotations

import hashlib
import hmac
import json
import time

import pytest

from catalog.db import session_scope
from catalog.services import teams as teams_service
from tests.fixtures.accounts import ADMIN_PASSWORD, in_a_new_process

pytestmark = pytest.mark.platform_servers("s3")


def test_cli_session_file_forged_from_the_hash_or_copied_before_logout_is_refused(
    platform_admin: str,
) -> None:
    from cli import auth as cli_auth

    with session_scope() as session:
        user = teams_service.get_user(session, username=platform_admin)
    expires_at = float(int(time.time() + 3600))
    message = f"{user.username}\n{user.id}\n{expires_at:.0f}".encode()
    forged = {
        "username": user.username,
        "user_id": user.id,
        "expires_at": expires_at,
        "signature": hmac.new(user.password_hash.encode(), message, hashlib.sha256).hexdigest(),
    }
    path = cli_auth.session_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(forged))
    assert cli_auth.read_session() is None

    cli_auth.write_session(platform_admin, ADMIN_PASSWORD)
    copy = path.read_text()
    assert cli_auth.read_session() is not None
    cli_auth.logout_command()
    path.write_text(copy)  # the file as it was before `mlops logout`
    assert cli_auth.read_session() is None
    assert in_a_new_process("from cli.auth import read_session; print(read_session())") == "None"
