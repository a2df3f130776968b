"""Audit log page (Streamlit AppTest, as the operator, an administrator): each event names its team and its
resource (a release as ``dataset version``); a resource whose row is gone keeps its id."""

from __future__ import annotations

import pytest

from tests.dashboard.seed import Catalog, no_exception, page, tables

pytestmark = pytest.mark.platform_servers("s3")


def test_events_name_their_team_and_resource(catalog: Catalog) -> None:
    from catalog.db import session_scope
    from catalog.models import Team
    from catalog.services import audit, datasets, releases

    with session_scope() as session:
        team = session.get(Team, catalog.team_id)
        assert team is not None
        team_name = team.name
        dataset = datasets.create_dataset(
            session,
            actor=catalog.admin,
            team_id=catalog.team_id,
            scenario="anomaly_detection",
            name="audited-cpu",
        )
        datasets.add_entry(
            session,
            actor=catalog.admin,
            dataset_id=dataset.id,
            name="a.csv",  # type: ignore[arg-type]
            object_key="k/a.csv",
            size_bytes=1,
            sha256="0" * 64,
            content_type="text/csv",
            summary={},
        )
        releases.create_release(session, actor=catalog.admin, dataset_id=dataset.id)  # type: ignore[arg-type]
        audit.record(
            session,
            actor=catalog.admin,
            action="serving.delete",
            resource_type="serving",
            resource_id=987654,
            team_id=catalog.team_id,
        )

    at = no_exception(page("audit", None).run())
    at.text_input(key="audit_action").input("release.create").run()
    header, row = tables(no_exception(at)).splitlines()[:2]
    assert "resource" in header and "resource_id" not in header and "team_id" not in header, header
    assert ",audited-cpu v1," in row and f",{team_name}," in row, row

    at.text_input(key="audit_action").input("dataset.create").run()
    assert ",audited-cpu," in tables(no_exception(at))
    at.text_input(key="audit_action").input("serving.delete").run()
    assert ",#987654," in tables(no_exception(at))
