"""Helpers of the dataset and release API tests: a second team with its own member, files to upload, and the
bucket's view (objects and unfinished multipart uploads under a dataset)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.api_server import ApiServer

BLUE_USER, BLUE_PASSWORD = "bluebell", "bluebell-pass"


def start_api(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, **env: str) -> ApiServer:
    """The live API with ``env`` set first (the server process reads its settings from its environment)."""
    request.getfixturevalue("platform_env")
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return request.getfixturevalue("api_server")


def blue_team_client(api_server: ApiServer) -> Any:
    """A client of a user who is a member of another team ('blue') than the admin's, only."""
    from catalog.db import session_scope
    from catalog.scoping import SYSTEM
    from catalog.services import team_tree, teams
    from mlops_lite.client import Client

    with session_scope() as session:
        team = team_tree.create_team(session, actor=SYSTEM, name="blue")
        user = teams.create_user(session, actor=SYSTEM, username=BLUE_USER, password=BLUE_PASSWORD)
        teams.add_member(session, actor=SYSTEM, team_id=team.id, user_id=user.id)  # type: ignore[arg-type]
    client, _ = Client.login(api_server.url, BLUE_USER, BLUE_PASSWORD)
    return client


def log_file(path: Path, size: int, *, tail: bytes = b"") -> Path:
    """A log of about ``size`` bytes (lines that differ, so nothing compresses it away), then ``tail``."""
    line = 0
    with path.open("wb") as out:
        written = 0
        while written < size:
            chunk = b"".join(
                b"2024-05-01 12:00:%02d worker-%d handled request %d in %d ms\n"
                % (n % 60, n % 7, n, (n * 37) % 1000)
                for n in range(line, line + 10_000)
            )
            line += 10_000
            out.write(chunk)
            written += len(chunk)
        out.write(tail)
    return path


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def stored(prefix: str) -> tuple[list[str], list[str]]:
    """Keys of the objects under ``prefix``, and of the multipart uploads not completed nor aborted there."""
    from infra.objectstore import ObjectStore

    store = ObjectStore.from_settings()
    return [o.key for o in store.list(prefix)], [u.key for u in store.incomplete_uploads(prefix)]


def same_not_found(foreign: Any, missing: Any, foreign_id: int, missing_id: int) -> None:
    """Two errors read alike: same class, status and code, and the same words but for the id."""
    assert type(foreign) is type(missing), (foreign, missing)
    assert (foreign.status, foreign.code) == (missing.status, missing.code) == (404, "not_found")
    assert foreign.message.replace(str(foreign_id), "ID") == missing.message.replace(str(missing_id), "ID")
