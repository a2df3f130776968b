"""Lists scale: with 10,000 datasets the datasets page fetches one page (a COUNT and one LIMITed SELECT), never
the whole table; the page picker and the search move through them. Every other list (entries, releases,
jobs, servings, audit events, users, teams) pages and searches the same way (page size 5 here)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import event

from tests.dashboard.seed import (
    Catalog,
    bulk_datasets,
    captions,
    job,
    no_exception,
    page,
    published_release,
    tables,
)

pytestmark = pytest.mark.platform_servers("s3")
MANY = 10_000


class Reads:
    """Every SQL statement run and every Dataset row loaded while it is active."""

    def __init__(self) -> None:
        self.statements: list[str] = []
        self.datasets_loaded = 0

    def dataset_selects(self) -> list[str]:
        return [s for s in self.statements if s.lstrip().upper().startswith("SELECT") and "FROM dataset" in s]


@pytest.fixture
def reads() -> Iterator[Reads]:
    from catalog.db import get_engine
    from catalog.models import Dataset

    seen = Reads()

    def statement(_conn: Any, _cursor: Any, sql: str, *_: Any) -> None:
        seen.statements.append(sql)

    def loaded(_target: Any, _context: Any) -> None:
        seen.datasets_loaded += 1

    engine = get_engine()
    event.listen(engine, "before_cursor_execute", statement)
    event.listen(Dataset, "load", loaded)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", statement)
        event.remove(Dataset, "load", loaded)


def test_ten_thousand_datasets_fetch_one_page(catalog: Catalog, reads: Reads) -> None:
    bulk_datasets(catalog.team_id, MANY)
    reads.statements.clear()
    at = no_exception(page("datasets").run())
    assert f"{MANY} dataset(s) · showing 1–50 · page 1 of 200" in captions(at)
    assert "ds-09999" in tables(at) and "ds-09950" in tables(at) and "ds-09949" not in tables(at)
    # The page loaded at most one page of datasets (the list, the picked dataset) — not ten thousand.
    assert reads.datasets_loaded <= 2 * 50, reads.datasets_loaded
    selects = reads.dataset_selects()
    assert selects, "the list is read from the dataset table"
    for sql in selects:
        bounded = (
            "count(" in sql.lower() or "LIMIT" in sql.upper() or "dataset.id = ?" in sql
        )  # or one row by id
        assert bounded, f"unbounded read of the dataset table: {sql}"

    reads.datasets_loaded = 0
    at.get("pagination")[0].set_value(200).run()
    no_exception(at)
    assert f"{MANY} dataset(s) · showing 9951–10000 · page 200 of 200" in captions(at)
    assert "ds-00000" in tables(at) and "ds-00050" not in tables(at)
    assert reads.datasets_loaded <= 2 * 50

    at.text_input(key="ds_list_search").input("ds-0999").run()  # a new search starts at page 1
    no_exception(at)
    assert "10 dataset(s)" in captions(at)
    assert "ds-09990" in tables(at) and "ds-09989" not in tables(at)


@pytest.fixture
def small_pages(monkeypatch: pytest.MonkeyPatch) -> None:
    from infra.settings import reset_settings

    monkeypatch.setenv("MLOPS_DASHBOARD_PAGE_SIZE", "5")
    reset_settings()


def test_a_shrunken_list_falls_back_to_its_last_page(catalog: Catalog, small_pages: None) -> None:
    bulk_datasets(catalog.team_id, 12)
    at = no_exception(page("datasets").run())
    at.get("pagination")[0].set_value(3).run()
    assert "12 dataset(s) · showing 11–12 · page 3 of 3" in captions(at)
    from catalog.db import session_scope
    from catalog.models import Dataset

    with session_scope() as session:  # someone else deletes datasets meanwhile
        for row in session.query(Dataset).filter(Dataset.name >= "ds-00005").all():
            session.delete(row)
    no_exception(at.run())
    assert "5 dataset(s)" in captions(at) and "ds-00004" in tables(at)


def test_entries_and_releases_page_and_search(catalog: Catalog, small_pages: None) -> None:
    from catalog.db import session_scope
    from catalog.models import DatasetRelease
    from catalog.services import datasets as ds

    with session_scope() as session:
        dataset = ds.create_dataset(
            session, actor=catalog.admin, team_id=catalog.team_id, scenario="anomaly_detection", name="big"
        )
        for i in range(7):
            ds.add_entry(
                session,
                actor=catalog.admin,
                dataset_id=dataset.id,
                name=f"part-{i}.csv",  # type: ignore[arg-type]
                object_key=f"k/{i}",
                size_bytes=1,
                sha256="0" * 64,
                content_type="text/csv",
                summary={},
            )
        for i in range(6):
            session.add(
                DatasetRelease(dataset_id=dataset.id, version=f"v{i + 1}", status="failed", error="x")
            )  # type: ignore[arg-type]
    at = no_exception(page("datasets").run())
    assert "7 entry(ies) · showing 1–5 · page 1 of 2" in captions(at)
    assert "6 release(s) · showing 1–5 · page 1 of 2" in captions(at)
    at.text_input(key=f"entries_{dataset.id}_search").input("part-6").run()
    assert "1 entry(ies)" in captions(at) and "part-6.csv" in tables(at) and "part-0.csv" not in tables(at)
    at.text_input(key=f"rel_{dataset.id}_list_search").input("v6").run()
    no_exception(at)
    assert "1 release(s)" in captions(at)


def test_jobs_and_servings_page_and_search(catalog: Catalog, small_pages: None) -> None:
    from catalog.models import Serving

    release = published_release(catalog.team_id)
    done = None
    for i in range(7):
        done = job(catalog.team_id, release.id, f"job-{i}", "completed" if i % 2 else "failed")
    for i in range(6):
        from tests.dashboard.seed import add_row

        add_row(
            Serving,
            team_id=catalog.team_id,
            scenario="anomaly_detection",
            name=f"serving-{i}",
            train_job_id=done.id,
            desired_state="stopped",
            observed_state="exited",
        )
    at = no_exception(page("training").run())
    assert "7 job(s) · showing 1–5 · page 1 of 2" in captions(at)
    at.selectbox(key="tr_status").set_value("failed").run()
    assert "4 job(s)" in captions(at)
    at.text_input(key="tr_jobs_search").input("job-6").run()
    assert "1 job(s)" in captions(at)

    at = no_exception(page("serving").run())
    assert "6 serving(s) · showing 1–5 · page 1 of 2" in captions(at)
    at.get("pagination")[0].set_value(2).run()
    assert "serving-0" in tables(at) and "serving-5" not in tables(at)
    at.text_input(key="sv_list_search").input("serving-3").run()
    assert "1 serving(s)" in captions(at)


def test_admin_lists_page_and_search(catalog: Catalog, small_pages: None) -> None:
    from catalog.db import session_scope
    from catalog.services import team_tree, teams

    with session_scope() as session:
        for i in range(6):
            teams.create_user(session, actor=catalog.admin, username=f"user{i}", password="pass-word-123")
            team_tree.create_team(session, actor=catalog.admin, name=f"team{i}")
    at = no_exception(page("admin_teams", None).run())
    assert "7 user(s) · showing 1–5 · page 1 of 2" in captions(at)  # the admin and six more
    assert "7 team(s) · showing 1–5 · page 1 of 2" in captions(at)
    at.text_input(key="adm_users_search").input("user5").run()
    assert "1 user(s)" in captions(at)
    at.text_input(key="adm_teams_search").input("team3").run()
    assert "1 team(s)" in captions(at)

    at = no_exception(page("audit", None).run())
    assert "event(s) · showing 1–5 · page 1 of" in " ".join(captions(at))
    at.text_input(key="audit_action").input("user.create").run()
    assert "7 event(s) · showing 1–5 · page 1 of 2" in captions(at)  # `mlops init` created the admin
    at.get("pagination")[0].set_value(2).run()
    assert "7 event(s) · showing 6–7 · page 2 of 2" in captions(at)
    at.selectbox(key="audit_outcome").set_value("denied").run()
    assert "0 event(s)" in captions(at)


def test_a_release_being_published_is_followed_live(catalog: Catalog) -> None:
    from catalog.db import session_scope
    from catalog.models import DatasetRelease
    from tests.dashboard.seed import add_row, errors

    release = published_release(catalog.team_id)
    pending = add_row(
        DatasetRelease,
        dataset_id=release.dataset_id,
        version="v2",
        status="publishing",
        entries=[{"entry_id": 1, "size_bytes": 3 * 2**20}],
    )
    at = no_exception(page("datasets").run())
    bars = at.get("progress")
    assert bars and "v2: publishing — building the zip: 1 entries, 3.0 MiB in" in bars[0].proto.text
    with session_scope() as session:
        row = session.get(DatasetRelease, pending.id)
        row.status, row.error = "failed", "S3Error: SlowDown"  # type: ignore[union-attr]
        session.add(row)
    no_exception(at.run())
    assert not at.get("progress") and "publishing failed: S3Error: SlowDown" in errors(at)
