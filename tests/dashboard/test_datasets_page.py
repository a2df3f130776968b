"""Datasets page (Streamlit AppTest, real S3 and Prefect): per-scenario list and detail, previews (plot of a
series, sample images with boxes), editing flags, publish / archive / restore, download, team isolation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from tests.catalog.samples import class_zip, series_csv, write, yolo_zip

pytestmark = [pytest.mark.slow, pytest.mark.platform_servers("s3", "prefect")]

SCRIPT = """
from dashboard.views import datasets
datasets.render()
"""


@pytest.fixture
def seeded(
    platform_env,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
    cheap_hashing: None,
) -> dict[str, Any]:
    from catalog.db import session_scope
    from catalog.scoping import SYSTEM
    from catalog.services import datasets as ds
    from catalog.services import team_tree, teams
    from catalog.services.init import initialize
    from catalog.uploads import upload_entry
    from infra.settings import reset_settings

    monkeypatch.setenv("MLOPS_PREFECT_RUN_MODE", "inline")
    monkeypatch.delenv("MLOPS_USER", raising=False)
    reset_settings()
    initialize(admin_password="dash-pass-123", echo=lambda *a, **k: None)
    out: dict[str, Any] = {}
    with session_scope() as session:
        admin = teams.actor_for(session, username="admin")
        team = team_tree.create_team(session, actor=SYSTEM, name="other-team")
        user = teams.create_user(session, actor=SYSTEM, username="bob", password="pass-word-123")
        teams.add_member(session, actor=SYSTEM, team_id=team.id, user_id=user.id)  # type: ignore[arg-type]
        for scenario in ("anomaly_detection", "object_detection", "image_classification"):
            out[scenario] = ds.create_dataset(
                session,
                actor=admin,
                team_id=min(admin.team_ids),
                scenario=scenario,
                name=f"{scenario[:5]}-set",
            ).id
    out["entry"] = upload_entry(
        actor=admin, dataset_id=out["anomaly_detection"], path=write(tmp_path / "cpu.csv", series_csv(48))
    ).id
    upload_entry(actor=admin, dataset_id=out["object_detection"], path=yolo_zip(tmp_path / "shapes.zip"))
    upload_entry(actor=admin, dataset_id=out["image_classification"], path=class_zip(tmp_path / "pets.zip"))
    out["admin"] = admin
    return out


def page(scenario: str = "anomaly_detection") -> AppTest:
    at = AppTest.from_string(SCRIPT, default_timeout=90)
    at.run()
    if scenario != "anomaly_detection":
        at.selectbox(key="ds_scenario").set_value(scenario).run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def release_status(seeded: dict[str, Any]) -> list[str]:
    from catalog.db import session_scope
    from catalog.services import releases as rel

    with session_scope() as session:
        return [
            r.status
            for r in rel.list_releases(session, actor=seeded["admin"], dataset_id=seeded["anomaly_detection"])
        ]


def test_series_detail_with_plot_and_summary(seeded: dict[str, Any]) -> None:
    at = page()
    assert "1 dataset(s)" in [c.value for c in at.caption]
    tables = [str(df.value) for df in at.dataframe]
    assert any("cpu.csv" in t for t in tables), "the entry is listed"
    assert at.get("vega_lite_chart"), "the series is plotted"
    assert any("2024-01-01" in t for t in tables), "the first rows are shown"


@pytest.mark.parametrize(("scenario", "images"), [("object_detection", 4), ("image_classification", 5)])
def test_image_previews(seeded: dict[str, Any], scenario: str, images: int) -> None:
    at = page(scenario)
    shown = at.get("image")
    assert shown, "sample images are shown"
    assert len(shown[0].proto.imgs) == images
    if scenario == "object_detection":
        captions = [img.caption for img in shown[0].proto.imgs]
        assert "img0 (2 box(es))" in captions and "background (0 box(es))" in captions


def test_draw_boxes_marks_the_box() -> None:
    from PIL import Image

    from dashboard.views.dataset_preview import draw_boxes

    out = draw_boxes(Image.new("RGB", (100, 100), "black"), [(0, 0.5, 0.5, 0.4, 0.4)], ["thing"])
    assert out.getpixel((30, 50)) != (0, 0, 0), "left edge of the box is drawn"
    assert out.getpixel((50, 50)) == (0, 0, 0), "the inside is left alone"


def test_edit_flags(seeded: dict[str, Any]) -> None:
    from catalog.db import session_scope
    from catalog.services import datasets as ds

    at = page()
    at.checkbox(key=f"ef_train_{seeded['entry']}").uncheck()
    at.checkbox(key=f"ef_test_{seeded['entry']}").check()
    next(b for b in at.button if b.label == "Save flags").click().run()
    assert not at.exception
    with session_scope() as session:
        entry = ds.get_entry(session, actor=seeded["admin"], entry_id=seeded["entry"])
    assert (entry.is_train, entry.is_val, entry.is_test) == (False, False, True)


def test_publish_archive_restore_download(seeded: dict[str, Any]) -> None:
    at = page()
    next(b for b in at.button if b.label == "Publish").click().run()
    assert not at.exception, [e.message for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    assert release_status(seeded) == ["published"]
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    assert any("published" in str(df.value) for df in at.dataframe), [b.label for b in at.button]
    assert at.get("download_button"), "a verified download is offered"
    next(b for b in at.button if b.label == "Archive").click().run()
    assert release_status(seeded) == ["archived"]
    at.run()  # the buttons of this run were drawn before the click archived it
    next(b for b in at.button if b.label == "Restore").click().run()
    assert release_status(seeded) == ["published"]


def test_verified_download_callable(seeded: dict[str, Any]) -> None:
    import hashlib

    from catalog.db import session_scope
    from catalog.services import releases as rel
    from dashboard.views.dataset_releases import verified_zip
    from flows.datasets import publish_release

    with session_scope() as session:
        release = rel.create_release(session, actor=seeded["admin"], dataset_id=seeded["anomaly_detection"])
    publish_release(release.id)
    with verified_zip(seeded["admin"], release.id)() as fh:  # type: ignore[arg-type]
        data = fh.read()
    with session_scope() as session:
        release = rel.get_release(session, actor=seeded["admin"], release_id=release.id)
    assert hashlib.sha256(data).hexdigest() == release.sha256 and data[:2] == b"PK"


def test_other_team_sees_nothing(seeded: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLOPS_USER", "bob")
    at = page()
    assert "0 dataset(s)" in [c.value for c in at.caption]
    assert not at.dataframe


def test_release_just_published_is_picked_and_the_pick_survives_a_status_change(
    seeded: dict[str, Any],
) -> None:
    at = page()
    publish = next(b for b in at.button if b.label == "Publish")
    publish.click().run()
    assert release_status(seeded) == ["published"]
    key = f"rel_{seeded['anomaly_detection']}"
    first = at.selectbox(key=key).value
    next(b for b in at.button if b.label == "Publish").click().run()
    assert not at.exception, [e.message for e in at.exception]
    assert sorted(release_status(seeded)) == ["published", "published"]
    picker = at.selectbox(key=key)
    assert picker.value != first and sorted(picker.options) == ["v1", "v2"]
    assert picker.format_func(picker.value) == "v2", "the release just published is the pick"
    # Pick v1 and archive it: the pick stays on v1 and the labels do not change with its status.
    labels = list(picker.options)
    picker.set_value(first).run()
    next(b for b in at.button if b.label == "Archive").click().run()
    at.run()
    assert sorted(release_status(seeded)) == ["archived", "published"]
    assert at.selectbox(key=key).value == first, "the pick jumped away when the status changed"
    assert list(at.selectbox(key=key).options) == labels
    assert any(b.label == "Restore" for b in at.button), "the archived release's actions are shown"
