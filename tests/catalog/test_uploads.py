"""The upload pipeline on a real S3 server: a valid upload of every scenario becomes an entry (object, size,
sha256, summary, flags); refused input stores nothing (no object, no row), whichever step refuses it."""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path
from typing import Any

import pytest

from tests.catalog.samples import class_zip, lying_zip, make_zip, png, series_csv, text_csv, write, yolo_zip

pytestmark = pytest.mark.platform_servers("s3")


@pytest.fixture
def ctx(platform_env, cheap_hashing: None) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    from catalog.db import migrate, session_scope
    from catalog.scoping import SYSTEM
    from catalog.services import datasets as ds
    from catalog.services import team_tree, teams

    migrate()
    out: dict[str, Any] = {"datasets": {}}
    with session_scope() as session:
        for name in ("alice", "bob"):
            team = team_tree.create_team(session, actor=SYSTEM, name=f"team-{name}")
            user = teams.create_user(session, actor=SYSTEM, username=name, password="pass-word-123")
            teams.add_member(session, actor=SYSTEM, team_id=team.id, user_id=user.id)  # type: ignore[arg-type]
        session.flush()
        out["alice"] = teams.actor_for(session, username="alice")
        out["bob"] = teams.actor_for(session, username="bob")
        for scenario in (
            "anomaly_detection",
            "timeseries_predict",
            "log_clustering",
            "text_classification",
            "image_classification",
            "object_detection",
        ):
            dataset = ds.create_dataset(
                session, actor=out["alice"], team_id=min(out["alice"].team_ids), scenario=scenario, name="d"
            )
            session.flush()
            out["datasets"][scenario] = dataset.id
    return out


def stored_state(dataset_id: int) -> tuple[list[str], list[str]]:
    from catalog.db import session_scope
    from catalog.scoping import SYSTEM
    from catalog.services import datasets as ds
    from infra.objectstore import ObjectStore

    with session_scope() as session:
        rows = [e.name for e in ds.list_entries(session, actor=SYSTEM, dataset_id=dataset_id)]
    return rows, [o.key for o in ObjectStore.from_settings().list(f"datasets/{dataset_id}/")]


def good(scenario: str, tmp_path: Path) -> Path:
    return {
        "anomaly_detection": lambda: write(tmp_path / "s.csv", series_csv(20)),
        "timeseries_predict": lambda: write(tmp_path / "s.csv", series_csv(20, label=False, extra="temp")),
        "log_clustering": lambda: write(tmp_path / "app.log", b"a\r\nb\xff\n"),
        "text_classification": lambda: write(tmp_path / "t.csv", text_csv(6)),
        "image_classification": lambda: class_zip(tmp_path / "c.zip"),
        "object_detection": lambda: yolo_zip(tmp_path / "y.zip"),
    }[scenario]()


BAD: dict[str, tuple[str, bytes | str]] = {
    "anomaly_detection": ("row 3", "timestamp,value\n2024-01-01,1\n2024-01-02,x\n"),
    "timeseries_predict": ("duplicate", "timestamp,value\n2024-01-01,1\n2024-01-01,2\n"),
    "log_clustering": ("NUL", b"a\n\x00\n"),
    "text_classification": ("missing column", "review,stars\nok,5\n"),
    "image_classification": ("'..'", b""),
    "object_detection": ("unknown class id", b""),
}


@pytest.mark.parametrize("scenario", list(BAD))
def test_valid_upload_becomes_an_entry(ctx: dict[str, Any], tmp_path: Path, scenario: str) -> None:
    from catalog.uploads import upload_entry
    from infra.objectstore import ObjectStore

    path = good(scenario, tmp_path)
    entry = upload_entry(actor=ctx["alice"], dataset_id=ctx["datasets"][scenario], path=path, is_val=True)
    assert entry.size_bytes == path.stat().st_size
    assert entry.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert (entry.is_train, entry.is_val, entry.is_test) == (True, True, False)
    assert entry.summary and (
        "rows" in entry.summary or "lines" in entry.summary or "images" in entry.summary
    )
    assert ObjectStore.from_settings().get_bytes(entry.object_key) == path.read_bytes()


@pytest.mark.parametrize("scenario", list(BAD))
def test_refused_upload_stores_nothing(ctx: dict[str, Any], tmp_path: Path, scenario: str) -> None:
    from catalog.errors import ValidationError
    from catalog.uploads import upload_entry

    fragment, data = BAD[scenario]
    if scenario == "image_classification":
        path = make_zip(tmp_path / "bad.zip", {"cat/1.png": b"x", "../2.png": b"y"})
    elif scenario == "object_detection":
        path = yolo_zip(tmp_path / "bad.zip", **{"labels/img0.txt": "9 0.5 0.5 0.1 0.1\n"})
    else:
        path = write(tmp_path / "bad", data)
    with pytest.raises(ValidationError, match=fragment):
        upload_entry(actor=ctx["alice"], dataset_id=ctx["datasets"][scenario], path=path)
    assert stored_state(ctx["datasets"][scenario]) == ([], [])


def test_upload_size_limit(ctx: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from catalog.errors import ValidationError
    from catalog.uploads import upload_entry
    from infra.settings import reset_settings

    monkeypatch.setenv("MLOPS_UPLOAD_MAX_BYTES", "100")
    reset_settings()
    path = write(tmp_path / "big.csv", series_csv(20))
    with pytest.raises(ValidationError, match=r"big.csv: \d+ bytes is over the upload limit of 100 bytes"):
        upload_entry(actor=ctx["alice"], dataset_id=ctx["datasets"]["anomaly_detection"], path=path)
    assert stored_state(ctx["datasets"]["anomaly_detection"]) == ([], [])


def test_row_failure_deletes_the_object(
    ctx: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from catalog.services import datasets as ds
    from catalog.uploads import upload_entry

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("database went away")

    monkeypatch.setattr(ds, "add_entry", broken)
    with pytest.raises(RuntimeError, match="database went away"):
        upload_entry(
            actor=ctx["alice"],
            dataset_id=ctx["datasets"]["anomaly_detection"],
            path=write(tmp_path / "s.csv", series_csv(10)),
        )
    assert stored_state(ctx["datasets"]["anomaly_detection"]) == ([], [])


def test_other_team_upload_reads_as_missing(ctx: dict[str, Any], tmp_path: Path) -> None:
    from catalog.errors import NotFoundError
    from catalog.uploads import upload_entry

    dataset_id = ctx["datasets"]["anomaly_detection"]
    path = write(tmp_path / "s.csv", series_csv(10))
    with pytest.raises(NotFoundError) as refused:
        upload_entry(actor=ctx["bob"], dataset_id=dataset_id, path=path)
    with pytest.raises(NotFoundError) as missing:
        upload_entry(actor=ctx["bob"], dataset_id=987654, path=path)
    assert str(refused.value).replace(str(dataset_id), "N") == str(missing.value).replace("987654", "N")
    assert stored_state(dataset_id) == ([], [])


def test_zip_whose_size_header_lies_is_refused_and_stores_nothing(
    ctx: dict[str, Any], tmp_path: Path
) -> None:
    from catalog.errors import ValidationError
    from catalog.uploads import upload_entry

    dataset_id = ctx["datasets"]["image_classification"]
    path = lying_zip(tmp_path / "lie.zip", extra={"cat/ok.png": png()})
    with pytest.raises(
        ValidationError, match=r"'cat/bomb.png' inflates to more than the \d+ bytes its header"
    ):
        upload_entry(actor=ctx["alice"], dataset_id=dataset_id, path=path)
    assert stored_state(dataset_id) == ([], [])


@pytest.mark.parametrize(
    ("name", "data", "fragments"),
    [
        (
            "cell.csv",
            "timestamp,value\n2024-01-01,1\n2024-01-02," + "9" * 5_000_000 + "x\n",
            ("row 3", "'value'", "5000001 characters"),
        ),
        (
            "wide.csv",
            ",".join(["timestamp", *(f"c{i}" for i in range(80_000))]) + "\n",
            ("80001 columns", "limit of 1000", "MLOPS_UPLOAD_MAX_COLUMNS"),
        ),
    ],
)
def test_costly_csv_is_refused_with_a_short_message_and_stores_nothing(
    ctx: dict[str, Any], tmp_path: Path, name: str, data: str, fragments: tuple[str, ...]
) -> None:
    from catalog.errors import ValidationError
    from catalog.uploads import upload_entry

    dataset_id = ctx["datasets"]["anomaly_detection"]
    with pytest.raises(ValidationError) as refused:
        upload_entry(actor=ctx["alice"], dataset_id=dataset_id, path=write(tmp_path / name, data))
    message = str(refused.value)
    assert len(message) < 300 and all(f in message for f in fragments), message[:1000]
    assert stored_state(dataset_id) == ([], [])


@pytest.mark.parametrize("scenario", ["image_classification", "object_detection"])
def test_image_carrying_a_zip_is_refused_and_stores_nothing(
    ctx: dict[str, Any], tmp_path: Path, scenario: str
) -> None:
    from catalog.errors import ValidationError
    from catalog.uploads import upload_entry

    carried = make_zip(tmp_path / "inner.zip", {"payload.sh": "#!/bin/sh\n"}).read_bytes()
    if scenario == "image_classification":
        path = class_zip(tmp_path / "c.zip")
        with zipfile.ZipFile(path, "a") as zf:
            zf.writestr("cat/carrier.png", png() + carried)
    else:
        path = yolo_zip(tmp_path / "y.zip", **{"images/img0.png": png(box=True) + carried})
    with pytest.raises(ValidationError, match=r"\.png: \d+ bytes follow the end of the PNG image"):
        upload_entry(actor=ctx["alice"], dataset_id=ctx["datasets"][scenario], path=path)
    assert stored_state(ctx["datasets"][scenario]) == ([], [])
