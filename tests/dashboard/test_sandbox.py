"""The sandbox workspace (Streamlit AppTest): a real ECOD serving's answer drawn as the series with its
anomalies marked, and every other scenario's result drawn from a stubbed predict answer shaped by its
response contract (``algorithms.base``), so no other model is trained: forecast band after the history,
template table, class probability bars, boxes drawn on the images; the picked serving names its training job.
Servings are "running" because a process container of their name runs; only the predict call is stubbed."""

from __future__ import annotations

import base64
import io
import json
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from tests.flows.test_serving_lifecycle import Seeded, create, registered_model, seed_catalog, seeded  # noqa: F401

SCRIPT = "from dashboard.views import sandbox\nsandbox.render()\n"


def sandbox_page(scenario: str) -> AppTest:
    page = AppTest.from_string(SCRIPT, default_timeout=60).run()
    page.selectbox(key="sb_scenario").set_value(scenario).run()
    assert not page.exception, page.exception
    return page


def figures(page: AppTest) -> list[dict[str, Any]]:
    return [json.loads(el.proto.spec) for el in page.get("plotly_chart")]


def png(width: int = 64, height: int = 48) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (255, 255, 255)).save(out, format="PNG")
    return out.getvalue()


@pytest.fixture
def stub_servings(platform_env: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """One serving per scenario, each with a live (sleeping) process container; predict answers from a dict."""
    from catalog.db import session_scope
    from catalog.models import Serving
    from dashboard.views import sandbox
    from infra.runtime.base import ContainerKind, ContainerSpec
    from infra.runtime.registry import get_runtime

    catalog = seed_catalog("unused-model")
    runtime = get_runtime()
    names = []
    with session_scope() as session:
        for scenario in sandbox.WORKSPACES:
            serving = Serving(
                team_id=catalog.team_id,
                scenario=scenario,
                name=f"sb-{scenario}",
                train_job_id=catalog.job_id,
                container_name=f"serve-sb-{scenario}",
            )
            session.add(serving)
            names.append(serving.container_name)
    for name in names:
        runtime.start(
            ContainerSpec(
                name=name,
                kind=ContainerKind.SERVE,
                port=9,
                command=[sys.executable, "-c", "import time; time.sleep(120)"],
            )
        )
    # "ready": the model_ready answers to give in turn (the last one repeats); loaded unless a test says not.
    calls: dict[str, Any] = {"answer": None, "payloads": [], "ready": [True], "ready_checks": 0}

    def stub(*, actor: Any, serving_id: int, payload: dict[str, Any]) -> dict[str, Any]:
        calls["payloads"].append(payload)
        return calls["answer"]  # type: ignore[no-any-return]

    def ready(*, actor: Any, serving_id: int) -> bool:
        calls["ready_checks"] += 1
        answers = calls["ready"]
        return bool(answers.pop(0) if len(answers) > 1 else answers[0])

    monkeypatch.setattr(sandbox, "predict", stub)
    monkeypatch.setattr(sandbox, "model_ready", ready)
    try:
        yield calls
    finally:
        for name in names:
            runtime.remove(name, force=True)


@pytest.mark.platform_servers("s3")
def test_the_picked_serving_says_which_training_job_it_serves(stub_servings: dict[str, Any]) -> None:
    page = sandbox_page("log_clustering")
    assert "Serves training job ecod, model version latest" in [c.value for c in page.caption]


@pytest.mark.platform_servers("s3")
def test_forecast_band_is_drawn_after_the_history(stub_servings: dict[str, Any]) -> None:
    stub_servings["answer"] = {
        "prediction": [
            {"timestamp": f"2024-01-0{d}", "value": 10.0 + d, "lower": 9.0 + d, "upper": 11.0 + d}
            for d in (4, 5, 6)
        ],
        "metadata": {},
    }
    page = sandbox_page("timeseries_predict")
    page.number_input(key="sb_steps").set_value(3)
    page.text_area(key="sb_forecast_paste").input(
        "timestamp,value\n2024-01-01,1\n2024-01-02,2\n2024-01-03,3\n"
    )
    page.run().button(key="sb_go").click().run()
    assert not page.exception, page.exception
    assert stub_servings["payloads"][-1]["config"] == {"steps": 3}
    assert [r["value"] for r in stub_servings["payloads"][-1]["data"]] == [1.0, 2.0, 3.0]
    traces = {t["name"]: t for t in figures(page)[0]["data"]}
    assert traces["history"]["x"] == ["2024-01-01", "2024-01-02", "2024-01-03"]
    assert traces["interval"]["fill"] == "tonexty" and traces["interval"]["y"] == [13.0, 14.0, 15.0]
    assert traces["upper"]["y"] == [15.0, 16.0, 17.0] and min(traces["forecast"]["x"]) > "2024-01-03"


@pytest.mark.platform_servers("s3")
def test_forecast_history_timestamps_are_sent_as_iso_8601(stub_servings: dict[str, Any]) -> None:
    stub_servings["answer"] = {
        "prediction": [{"timestamp": "2024-01-04", "value": 1, "lower": 0, "upper": 2}],
        "metadata": {},
    }
    page = sandbox_page("timeseries_predict")
    page.number_input(key="sb_steps").set_value(1)
    page.text_area(key="sb_forecast_paste").input("timestamp,value\n01/02/2024,1\n01/03/2024 06:30,2\n")
    page.run().button(key="sb_go").click().run()
    assert not page.exception, page.exception
    sent = [r["timestamp"] for r in stub_servings["payloads"][-1]["data"]]
    assert sent == ["2024-01-02T00:00:00", "2024-01-03T06:30:00"], sent


LOGS = "user a logged in\ndisk sda full\n"
TEMPLATES = {
    "template_groups": [
        {
            "cluster_id": 1,
            "template": "user <*> logged in",
            "count": 1,
            "indices": [0],
            "samples": ["user a logged in"],
        }
    ],
    "unknown": [{"index": 1, "line": "disk sda full"}],
    "summary": {"total": 2, "matched": 1, "templates": 1, "coverage": 0.5},
}


@pytest.mark.platform_servers("s3")
def test_predict_waits_for_a_serving_still_loading_its_model(stub_servings: dict[str, Any]) -> None:
    """A serving is listed once its server runs, before its model is loaded (it would answer 503): Predict
    waits for the model instead of showing that error."""
    stub_servings["answer"] = TEMPLATES
    stub_servings["ready"] = [False, False, True]
    page = sandbox_page("log_clustering")
    page.text_area(key="sb_logs_paste").input(LOGS)
    page.run().button(key="sb_go").click().run()
    assert not page.exception and not page.error and not page.warning, page.error or page.warning
    assert stub_servings["ready_checks"] == 3 and len(stub_servings["payloads"]) == 1
    assert page.dataframe[0].value["template"].tolist() == ["user <*> logged in"]


@pytest.mark.platform_servers("s3")
def test_a_model_that_does_not_load_in_time_is_said_not_sent(
    stub_servings: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from dashboard.views import sandbox

    monkeypatch.setattr(sandbox, "READY_WAIT_SECONDS", 0.3)
    monkeypatch.setattr(sandbox, "READY_POLL_SECONDS", 0.05)
    stub_servings["answer"] = TEMPLATES
    stub_servings["ready"] = [False]
    page = sandbox_page("log_clustering")
    page.text_area(key="sb_logs_paste").input(LOGS)
    page.run().button(key="sb_go").click().run()
    assert not page.exception and not page.error, page.error
    assert (
        "has not loaded its model" in page.warning[0].value and "sb-log_clustering" in page.warning[0].value
    )
    assert stub_servings["payloads"] == [] and not page.dataframe


@pytest.mark.platform_servers("s3")
def test_log_templates_are_a_table_with_counts(stub_servings: dict[str, Any]) -> None:
    stub_servings["answer"] = {
        "template_groups": [
            {
                "cluster_id": 1,
                "template": "user <*> logged in",
                "count": 2,
                "indices": [0, 2],
                "samples": ["user a logged in"],
            },
            {
                "cluster_id": 2,
                "template": "disk <*> full",
                "count": 5,
                "indices": [1],
                "samples": ["disk sda full"],
            },
        ],
        "unknown": [{"index": 3, "line": "???"}],
        "summary": {"total": 8, "matched": 7, "templates": 2, "coverage": 0.875},
    }
    page = sandbox_page("log_clustering")
    page.text_area(key="sb_logs_paste").input("user a logged in\ndisk sda full\n\nuser b logged in\n")
    page.run().button(key="sb_go").click().run()
    assert not page.exception, page.exception
    assert stub_servings["payloads"][-1] == {
        "data": ["user a logged in", "disk sda full", "user b logged in"]
    }
    table = page.dataframe[0].value
    assert table["template"].tolist() == ["disk <*> full", "user <*> logged in"]  # most frequent first
    assert table["count"].tolist() == [5, 2]
    # The contract's {"index", "line"} items as columns (not their dict repr).
    assert page.dataframe[1].value.values.tolist() == [[3, "???"]]
    assert [m.value for m in page.metric][:1] == ["2"] and "88%" in [m.value for m in page.metric]


@pytest.mark.platform_servers("s3")
def test_text_classes_are_bars(stub_servings: dict[str, Any]) -> None:
    stub_servings["answer"] = {
        "results": [
            {
                "label": "pos",
                "probability": 0.8,
                "top": [{"label": "pos", "probability": 0.8}, {"label": "neg", "probability": 0.2}],
            },
            {
                "label": "neg",
                "probability": 0.6,
                "top": [{"label": "neg", "probability": 0.6}, {"label": "pos", "probability": 0.4}],
            },
        ]
    }
    page = sandbox_page("text_classification")
    page.number_input(key="sb_topk").set_value(2)
    page.text_area(key="sb_texts_paste").input("great product\nawful service")
    page.run().button(key="sb_go").click().run()
    assert not page.exception, page.exception
    assert stub_servings["payloads"][-1] == {
        "texts": ["great product", "awful service"],
        "config": {"top_k": 2},
    }
    bars = [fig["data"][0] for fig in figures(page)]
    assert [b["type"] for b in bars] == ["bar", "bar"]
    assert bars[0]["y"] == ["neg", "pos"] and bars[0]["x"] == [0.2, 0.8]  # best class on top
    assert "**pos** (80.0%)" in page.markdown[0].value


@pytest.mark.platform_servers("s3")
def test_image_classes_are_bars_and_a_bad_image_its_own_error(stub_servings: dict[str, Any]) -> None:
    stub_servings["answer"] = {
        "results": [
            {
                "predictions": [
                    {"class_id": 0, "class_name": "cat", "confidence": 0.9},
                    {"class_id": 1, "class_name": "dog", "confidence": 0.1},
                ]
            },
            {"error": "image 1 does not decode"},
        ]
    }
    page = sandbox_page("image_classification")
    good = "data:image/png;base64," + base64.b64encode(png()).decode()
    page.text_area(key="sb_images_paste").input(f"{good}\nnot-an-image")
    page.run().button(key="sb_go").click().run()
    assert not page.exception, page.exception
    assert stub_servings["payloads"][-1] == {"images": [good, "not-an-image"], "config": {"top_k": 3}}
    bars = figures(page)
    assert len(bars) == 1 and bars[0]["data"][0]["y"] == ["dog", "cat"]
    assert any("image 1 does not decode" in e.value for e in page.error)


@pytest.mark.platform_servers("s3")
def test_detections_are_boxes_drawn_on_the_image(stub_servings: dict[str, Any]) -> None:
    from dashboard.views.sandbox_draw import BOX_COLOR, draw_boxes

    detection = {
        "bbox": {"x1": 10, "y1": 12, "x2": 40, "y2": 30},
        "class_id": 0,
        "class_name": "box",
        "confidence": 0.77,
    }
    stub_servings["answer"] = {"results": [{"detections": [detection]}]}
    page = sandbox_page("object_detection")
    page.text_area(key="sb_images_paste").input(base64.b64encode(png()).decode())
    page.run().button(key="sb_go").click().run()
    assert not page.exception, page.exception
    assert stub_servings["payloads"][-1]["config"] == {"conf": 0.25, "iou": 0.45, "max_detections": 100}
    images = page.get("image")
    assert len(images) == 1 and images[0].proto.imgs[0].caption == "image 0: 1 detection(s)"
    assert page.dataframe[0].value[["x1", "class_name"]].values.tolist() == [[10, "box"]]
    drawn = draw_boxes(png(), [detection])
    assert (
        drawn.getpixel((10, 20)) == BOX_COLOR and drawn.getpixel((25, 30)) == BOX_COLOR
    )  # left and bottom edge
    assert drawn.getpixel((25, 21)) == (255, 255, 255)  # inside stays untouched
    assert drawn.getpixel((50, 40)) == (255, 255, 255)


def test_small_images_are_shown_enlarged_with_their_boxes_scaled() -> None:
    """The demo's images are 48-96 px: shown as they are, their boxes and labels could not be read."""
    from dashboard.views.sandbox_draw import BOX_COLOR, SHOWN_PX, draw_boxes, enlarged, enlargement

    assert (enlargement(64, 48), enlargement(96, 96), enlargement(320, 200), enlargement(1280, 720)) == (
        5,
        3,
        1,
        1,
    )
    assert enlarged(png(64, 48)).size == (320, 240) and enlarged(png(640, 480)).size == (640, 480)
    detection = {"bbox": {"x1": 10, "y1": 12, "x2": 40, "y2": 30}, "class_name": "box", "confidence": 0.77}
    drawn = draw_boxes(png(64, 48), [detection], shown_px=SHOWN_PX)
    assert drawn.size == (320, 240)
    assert (
        drawn.getpixel((50, 100)) == BOX_COLOR and drawn.getpixel((125, 150)) == BOX_COLOR
    )  # x1 * 5, y2 * 5
    assert drawn.getpixel((125, 105)) == (255, 255, 255)  # inside the scaled box stays untouched


@pytest.mark.platform_servers("s3")
def test_nothing_running_says_so(platform_env: Any) -> None:
    seed_catalog("unused-model")
    page = AppTest.from_string(SCRIPT, default_timeout=60).run()
    assert not page.exception and "No running serving" in page.info[0].value


@pytest.mark.slow
def test_real_anomaly_serving_drawn_with_anomalies_marked(seeded: Seeded) -> None:  # noqa: F811
    """End to end: a real ECOD serving answers; the chart marks exactly the points it labelled."""
    from flows.serving import serving_start

    serving_start(create(seeded, "sandboxed"))
    values = [0.1, 0.3, -0.2, 9.0, 0.0, 0.2, -8.5, 0.1]
    csv = "timestamp,value\n" + "\n".join(f"2024-01-01T00:0{i}:00,{v}" for i, v in enumerate(values))
    page = sandbox_page("anomaly_detection")
    page.text_area(key="sb_anomaly_paste").input(csv)
    page.run().button(key="sb_go").click().run()
    assert not page.exception, page.exception
    table = page.dataframe[0].value
    flagged = table.index[table["label"] == 1].tolist()
    assert 3 in flagged and 6 in flagged and len(flagged) < len(values)
    traces = {t["name"]: t for t in figures(page)[0]["data"]}
    assert traces["value"]["y"] == values
    assert traces["anomaly"]["y"] == [values[i] for i in flagged]
    assert traces["anomaly"]["marker"]["color"] == "red"
    assert page.metric[0].value == f"{len(flagged)} / {len(values)}"
