"""The team hierarchy through a live API server: a maintainer of a parent team lists (``include_children``)
and starts a child team's job; a member of a child team sees nothing of its parent, and siblings nothing of
each other (lists, reads: 404 as for what does not exist); sub-teams created by the parent's admin; moving a
team under its own sub-team and deleting a team that still has sub-teams or resources refused, nothing
changed; custom roles over HTTP."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from mlops_lite.client import Client, Conflict, NotFound, PermissionDenied
from tests.api.flow_runs import cancel_flow_run

PASSWORD = "hier-pass-123"


def _world() -> dict[str, int]:
    """parent ─┬─ child ── (a published release, a job)       pm: maintainer of parent
               └─ sibling                                     padmin: admin of parent
    every team with a dataset of its own.                       cm: member of child; sm: member of sibling"""
    from sqlmodel import select

    from catalog.db import session_scope
    from catalog.models import Dataset
    from catalog.scoping import SYSTEM
    from catalog.services import team_tree, teams, training
    from tests.flows.training_support import add_release

    with session_scope() as s:
        parent = team_tree.create_team(s, actor=SYSTEM, name="parent")
        child = team_tree.create_team(s, actor=SYSTEM, name="child", parent_id=parent.id)
        sibling = team_tree.create_team(s, actor=SYSTEM, name="sibling", parent_id=parent.id)
        for username, team, role in (
            ("pm", parent, "maintainer"),
            ("padmin", parent, "admin"),
            ("cm", child, "member"),
            ("sm", sibling, "member"),
        ):
            user = teams.create_user(s, actor=SYSTEM, username=username, password=PASSWORD)
            teams.add_member(s, actor=SYSTEM, team_id=team.id, user_id=user.id, role=role)  # type: ignore[arg-type]
        for team in (parent, sibling):
            s.add(Dataset(team_id=team.id, scenario="anomaly_detection", name=f"{team.name}-data"))
        ids = {"parent": parent.id, "child": child.id, "sibling": sibling.id}
    release_id = add_release(ids["child"], name="child-data")
    with session_scope() as s:
        job, _ = training.create_job(
            s,
            actor=SYSTEM,
            team_id=ids["child"],
            name="child-job",
            scenario="anomaly_detection",
            algorithm="ECOD",
            release_id=release_id,
            params={"contamination": 0.01},
        )
        ids["job"] = job.id  # type: ignore[assignment]
        ids["parent_data"] = s.exec(select(Dataset.id).where(Dataset.name == "parent-data")).one()  # type: ignore[assignment]
    return ids  # type: ignore[return-value]


def _register_train_deployment() -> None:
    """The `train` deployment on the Prefect server (what the flow runner registers at its start), so that a
    start is accepted: its flow run then waits for a runner this test does not need."""
    from flows.launch import prefect_context
    from flows.registry import deployments

    decl = deployments()["train"]
    with prefect_context():
        decl.load_flow().to_deployment(name=decl.name, tags=list(decl.tags)).apply()


def _login(api_server: Any, username: str) -> Client:
    return Client.login(api_server.url, username, PASSWORD)[0]


def _names(rows: Any) -> list[str]:
    return sorted(r.name for r in rows)


@pytest.mark.platform_servers("s3", "prefect")
def test_a_parent_sees_its_children_and_children_nothing_above(api_server: Any) -> None:
    ids = _world()
    _register_train_deployment()
    with _login(api_server, "pm") as pm, _login(api_server, "cm") as cm, _login(api_server, "sm") as sm:
        # The parent's maintainer: the subtree with include_children, the team alone without.
        everything = pm.datasets.list(team_id=ids["parent"], include_children=True)
        assert _names(everything) == ["child-data", "parent-data", "sibling-data"]
        assert _names(pm.datasets.list(team_id=ids["parent"])) == ["parent-data"]
        assert [j.name for j in pm.jobs.list(team_id=ids["parent"], include_children=True)] == ["child-job"]
        assert pm.jobs.page(team_id=ids["parent"]).total == 0
        assert pm.releases.page(team_id=ids["child"], include_children=True).total == 1
        assert _names(pm.teams.list(team_id=ids["parent"], include_children=True)) == [
            "child",
            "parent",
            "sibling",
        ]
        launched = pm.jobs.start(ids["job"])
        assert launched.flow_run_id, launched
        cancel_flow_run(launched.flow_run_id)

        # The child's member: its own team only; the parent and the sibling read as missing.
        assert _names(cm.datasets.list()) == ["child-data"]
        assert _names(cm.teams.list()) == ["child"]
        assert [j.name for j in cm.jobs.list(team_id=ids["child"], include_children=True)] == ["child-job"]
        for team in (ids["parent"], ids["sibling"], 987654):
            with pytest.raises(NotFound, match=f"team {team} not found"):
                cm.datasets.page(team_id=team, include_children=True)
            with pytest.raises(NotFound, match=f"team {team} not found"):
                cm.teams.get(team)
        with pytest.raises(NotFound, match=f"dataset {ids['parent_data']} not found"):
            cm.datasets.get(ids["parent_data"])
        # Siblings never see each other.
        assert _names(sm.datasets.list()) == ["sibling-data"]
        assert sm.jobs.page().total == 0 and sm.releases.page().total == 0
        with pytest.raises(NotFound, match=f"training job {ids['job']} not found"):
            sm.jobs.get(ids["job"])
        with pytest.raises(NotFound, match=f"team {ids['child']} not found"):
            sm.jobs.page(team_id=ids["child"])
        answer = httpx.get(
            f"{api_server.url}/api/v1/servings",
            params={"team_id": ids["child"], "include_children": "true"},
            headers={"Authorization": sm.transport._http.headers["Authorization"]},
            timeout=30,
        )
        assert answer.status_code == 404 and answer.json()["error"]["code"] == "not_found"


@pytest.mark.platform_servers("s3")
def test_the_tree_changes_and_custom_roles_over_http(api_server: Any) -> None:
    ids = _world()
    with _login(api_server, "padmin") as padmin, _login(api_server, "pm") as pm, api_server.client() as admin:
        # The parent's admin creates sub-teams under it, never at the top; a maintainer does not.
        sub = padmin.teams.create("child-sub", parent_id=ids["child"])
        assert sub.parent_id == ids["child"]
        with pytest.raises(PermissionDenied, match="admin:"):
            padmin.teams.create("top")
        with pytest.raises(PermissionDenied, match="teams:manage"):
            pm.teams.create("pm-sub", parent_id=ids["parent"])
        # Moving under one's own sub-team is refused; moving within the subtree is not.
        with pytest.raises(Conflict, match="cannot move team 'parent': a team cannot move under one of its"):
            admin.teams.move(ids["parent"], parent_id=sub.id)
        assert padmin.teams.move(sub.id, parent_id=ids["sibling"]).parent_id == ids["sibling"]
        # Deleting a team with sub-teams or resources is refused, naming them, and deletes nothing.
        with pytest.raises(Conflict, match=r"'child' still has 1 dataset\(s\), 1 training job\(s\)"):
            padmin.teams.delete(ids["child"])
        with pytest.raises(Conflict, match=r"'parent' still has 2 sub-team\(s\), 1 dataset\(s\)"):
            admin.teams.delete(ids["parent"])
        assert admin.teams.get(ids["child"]).parent_id == ids["parent"]
        assert admin.datasets.page(team_id=ids["parent"], include_children=True).total == 3
        padmin.teams.delete(sub.id)
        with pytest.raises(NotFound):
            admin.teams.get(sub.id)

        # Custom roles: defined by administrators, given by the team's admin, refused deletion while held.
        with pytest.raises(PermissionDenied):
            padmin.roles.create("auditor", ["audit:read"])
        role = admin.roles.create("auditor", ["audit:read", "datasets:read"], includes_children=True)
        assert (role.permissions, role.builtin) == (["audit:read", "datasets:read"], False)
        assert [r.name for r in pm.roles.list()] == ["viewer", "member", "maintainer", "admin", "auditor"]
        member = padmin.teams.add_member(ids["parent"], username="sm", role="auditor")
        assert member.role == "auditor"
        with _login(api_server, "sm") as sm:
            assert sm.datasets.page(team_id=ids["parent"], include_children=True).total == 3
            assert sm.audit.page(team_id=ids["parent"], include_children=True).total > 0
        with pytest.raises(Conflict, match=r"held by 1 membership\(s\)"):
            admin.roles.delete("auditor")
        assert admin.roles.update("auditor", includes_children=False).includes_children is False
        with _login(api_server, "sm") as sm:
            # The parent's alone now, besides her own team's.
            listed = sm.datasets.list(team_id=ids["parent"], include_children=True)
            assert _names(listed) == ["parent-data", "sibling-data"]
