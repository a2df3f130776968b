"""Quotas through a live API server, the SDK and the CLI: an administrator sets a team's quotas; the N+1th start
of a training is a 409 ``quota_exceeded`` naming the quota and its use, and nothing is launched (no Prefect
server runs here: a start that got past the check would answer 503); a viewer may not start a job nor get a
serving's token (403: the bug the edges' ``request_*`` calls fix); a serving's start over its quota is refused
likewise; an upload over the stored-bytes quota is refused before anything is stored (announced by its length,
or cut off as it arrives: no object, no unfinished upload, no row), one within it is stored and counted; and
`mlops teams usage` / `set-quota` show and set the same numbers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlmodel import select
from typer.testing import CliRunner

from api.uploads import PART_SIZE
from mlops_lite.client import Client, Conflict, PermissionDenied
from tests.api.datasets_support import log_file, stored
from tests.flows.training_support import Seeded, create_job, seed_catalog

pytestmark = pytest.mark.platform_servers("s3")


@pytest.fixture
def seeded(platform_env: Any, platform_admin: str) -> Seeded:
    return seed_catalog()


def _viewer(api_server: Any, team_id: int) -> Client:
    from catalog.db import session_scope
    from catalog.scoping import SYSTEM
    from catalog.services import teams

    with session_scope() as session:
        user = teams.create_user(session, actor=SYSTEM, username="vera", password="vera-pass-1")
        teams.add_member(session, actor=SYSTEM, team_id=team_id, user_id=user.id, role="viewer")  # type: ignore[arg-type]
    return Client.login(api_server.url, "vera", "vera-pass-1")[0]


def _claim(job_id: int) -> None:
    """A start as the train flow claims it (no container: the quota counts claims)."""
    from catalog.db import session_scope
    from catalog.scoping import SYSTEM
    from catalog.services import training

    with session_scope() as session:
        training.claim_start(session, actor=SYSTEM, job_id=job_id, flow_run_id=f"flow-{job_id}")


def _completed(job_id: int) -> None:
    from catalog.db import session_scope
    from catalog.models import TrainJob

    with session_scope() as session:
        job = session.get(TrainJob, job_id)
        assert job is not None
        job.status = "completed"


def _chunked(path: Path) -> Any:
    with path.open("rb") as fh:
        while block := fh.read(1 << 20):
            yield block


def test_quotas_refuse_starts_and_uploads_before_anything_happens(
    seeded: Seeded, api_server: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from catalog.db import read_session
    from catalog.models import DatasetEntry, Serving, TrainJob

    team_id = seeded.team_id
    jobs = [create_job(seeded, f"job-{n}") for n in range(3)]
    with api_server.client() as admin:
        team = admin.teams.get(team_id).name
        before = admin.teams.usage(team_id)
        room = 2 * PART_SIZE + PART_SIZE // 2
        quota = before.usage.stored_bytes + room
        set_ = admin.teams.set_quota(team_id, trainings=2, servings=0, stored_bytes=quota)
        assert (set_.limits.trainings, set_.limits.servings, set_.limits.stored_bytes) == (2, 0, quota)
        assert set_.limits.cpus is None and set_.usage.trainings == 0

        # Trainings: two run (claimed as the flow claims them); the third start is refused, nothing launched.
        for job_id in jobs[:2]:
            _claim(job_id)
        with pytest.raises(Conflict) as refused:
            admin.jobs.start(jobs[2])
        assert (refused.value.status, refused.value.code) == (409, "quota_exceeded")
        assert refused.value.message == (
            f"quota exceeded: team {team!r} allows 2 concurrent trainings (its subtree runs 2)"
        )
        with read_session() as session:
            third = session.get(TrainJob, jobs[2])
            assert third is not None and (third.status, third.flow_run_id) == ("created", None)

        # A viewer sees the job but may not start it (before: any reader could), nor get a serving's token.
        _completed(jobs[2])
        stopped = admin.servings.create("svc", jobs[2], start=False).serving
        assert stopped.desired_state == "stopped"
        with _viewer(api_server, team_id) as vera:
            assert vera.jobs.get(jobs[2]).name == "job-2"
            for call in (lambda: vera.jobs.start(jobs[2]), lambda: vera.servings.token(stopped.id)):
                with pytest.raises(PermissionDenied, match="does not grant") as denied:
                    call()
                assert denied.value.status == 403
        # A serving's start over its quota (0 running) is refused before anything is launched.
        with pytest.raises(
            Conflict, match=rf"team {team!r} allows 0 running servings \(its subtree runs 0\)"
        ):
            admin.servings.start(stopped.id)
        with read_session() as session:
            row = session.get(Serving, stopped.id)
            assert row is not None and (row.desired_state, row.flow_run_id) == ("stopped", None)

        used = admin.teams.usage(team_id)
        assert used.usage.trainings == 2
        assert [(v.quota, v.limit, v.used, v.set_on) for v in used.effective] == [
            ("trainings", 2, 2, team),
            ("servings", 0, 0, team),
            ("stored_bytes", quota, before.usage.stored_bytes, team),
        ]

        # Uploads: one within the room is stored and counted; over it, refused before anything is stored.
        logs = admin.datasets.create("app", "log_clustering")
        small = log_file(tmp_path / "small.log", 200_000)
        entry = admin.datasets.upload(logs.id, small)
        assert admin.teams.usage(team_id).usage.stored_bytes == before.usage.stored_bytes + entry.size_bytes
        big = log_file(tmp_path / "big.log", 4 * PART_SIZE)
        with pytest.raises(Conflict, match="quota exceeded: .* stored") as over:
            admin.datasets.upload(logs.id, big)  # announced: refused from its length, before a byte is read
        assert over.value.code == "quota_exceeded"
        answer = httpx.post(  # not announced: cut off as it passes the room (parts went up first)
            f"{api_server.url}/api/v1/datasets/{logs.id}/entries",
            params={"filename": "big.log"},
            content=_chunked(big),
            headers={
                "Authorization": f"Bearer {api_server.operator_token}",
                "Content-Type": "application/octet-stream",
            },
            timeout=120,
        )
        assert answer.status_code == 409 and answer.json()["error"]["code"] == "quota_exceeded", answer.text
        assert "stored (its subtree stores" in answer.json()["error"]["message"]
        objects, unfinished = stored(f"datasets/{logs.id}/")
        assert len(objects) == 1 and objects[0].endswith("/small.log") and unfinished == []
        with read_session() as session:
            names = session.exec(select(DatasetEntry.name).where(DatasetEntry.dataset_id == logs.id)).all()
            assert names == ["small.log"]

    # The CLI on the platform host (the operator's token): the same numbers, then set and cleared.
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    from cli.main import app

    def mlops(*args: str, code: int = 0) -> str:
        result = CliRunner().invoke(app, list(args))
        assert result.exit_code == code, f"mlops {' '.join(args)} → {result.exit_code}: {result.output}"
        return result.output

    table = mlops("teams", "usage", team)
    assert table.splitlines()[1].split() == ["QUOTA", "USED", "LIMIT", "SET_ON"]
    assert ["trainings", "2", "2", team] in [line.split() for line in table.splitlines()]
    shown = json.loads(mlops("teams", "usage", str(team_id), "--json"))
    assert shown["usage"]["trainings"] == 2 and shown["limits"]["trainings"] == 2
    changed = json.loads(
        mlops(
            "teams", "set-quota", team, "--trainings", "3", "--stored", "none", "--memory", "8GiB", "--json"
        )
    )
    assert changed["limits"] == {
        "trainings": 3,
        "servings": 0,
        "stored_bytes": None,
        "cpus": None,
        "memory_mb": 8192,
    }
    assert "is not a size" in mlops("teams", "set-quota", team, "--stored", "ten", code=1)
    cleared = json.loads(mlops("teams", "set-quota", team, "--clear", "--json"))
    assert cleared["effective"] == [] and set(cleared["limits"].values()) == {None}
