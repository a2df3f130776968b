"""What monitoring measures per scenario (algorithms/monitoring/features.py), pure: each extractor reads the
request and answer shapes of its contract (the anomaly ones from a real model's answers), skips what it cannot
read, and every scenario with a contract has one."""

from __future__ import annotations

import base64
import io
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from algorithms.base.contracts import Limits, ServedModel
from algorithms.base.scenarios import CONTRACTS, get_contract
from algorithms.monitoring.features import EXTRACTORS, extract, image_stats, oov_rate
from algorithms.serve.app import load_pyfunc


def png(width: int, height: int, grey: int, kind: str = "PNG") -> str:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (grey, grey, grey)).save(out, kind)
    return base64.b64encode(out.getvalue()).decode()


def test_every_scenario_has_an_extractor() -> None:
    assert set(EXTRACTORS) == set(CONTRACTS)


def test_anomaly_inputs_scores_and_labels_from_a_real_answer(ecod_model_dir: Path) -> None:
    pyfunc = load_pyfunc(str(ecod_model_dir))
    served = ServedModel(uri="m", pyfunc=pyfunc, python_model=pyfunc.unwrap_python_model(), version="1")
    request = {"data": [{"timestamp": f"t{i}", "value": v} for i, v in enumerate([0.1, 0.2, 9.0, -0.3])]}
    answer = get_contract("anomaly_detection").predict(request, served, Limits())
    samples = extract("anomaly_detection", [(request, answer), (None, None)])
    assert samples.values["input.value"] == [0.1, 0.2, 9.0, -0.3]
    assert len(samples.values["output.score"]) == 4 and samples.kinds["output.score"] == "numeric"
    assert samples.kinds["output.label"] == "categorical" and set(samples.values["output.label"]) <= {0, 1}
    wide = {"data": [{"timestamp": 1, "values": {"cpu": 0.5, "mem": 2.0, "bad": "x"}}]}
    assert extract("anomaly_detection", [(wide, None)]).values == {
        "input.cpu": [0.5],
        "input.mem": [2.0],
        "output.score": [],
        "output.label": [],
    }


def test_forecast_history_and_level() -> None:
    request = {
        "data": [{"timestamp": "2024-01-01", "value": 3.0}, {"timestamp": "2024-01-02", "value": True}]
    }
    answer = {"prediction": [{"timestamp": "2024-01-03", "value": 4.0, "lower": 3.0, "upper": 5.0}]}
    samples = extract("timeseries_predict", [(request, answer), ({"config": {"steps": 2}}, None)])
    assert samples.values == {"input.value": [3.0], "output.level": [4.0]}


def test_logs_lengths_unknown_share_and_template_mix() -> None:
    request = {"data": ["user a logged in", "user b logged in", "kernel panic"]}
    answer = {
        "template_groups": [
            {"cluster_id": 0, "template": "user <*> logged in", "count": 2, "indices": [0, 1]}
        ],
        "unknown": [{"index": 2, "line": "kernel panic"}],
    }
    samples = extract("log_clustering", [(request, answer)])
    assert samples.values["input.length"] == [16, 16, 12]
    assert sorted(samples.values["output.unknown"]) == [False, False, True]
    assert samples.values["output.template"] == ["user <*> logged in"] * 2


def test_text_lengths_words_vocabulary_and_class_mix() -> None:
    request = {"texts": ["Free PRIZE now", "see you at 5"]}
    answer = {"results": [{"label": "spam", "probability": 0.9}, {"label": "ham", "probability": 0.8}]}
    samples = extract("text_classification", [(request, answer)])
    assert samples.values["input.words"] == [3, 4]
    assert samples.values["input.vocabulary"] == ["free", "prize", "now", "see", "you", "at", "5"]
    assert samples.values["output.label"] == ["spam", "ham"] and samples.kinds["input.vocabulary"] == "tokens"
    assert oov_rate(["free", "prize"], ["free", "lottery", "prize", "win"]) == 0.5
    assert oov_rate(["a"], []) is None


@pytest.mark.parametrize("kind", ["PNG", "JPEG"])
def test_image_size_and_brightness(kind: str) -> None:
    stats = image_stats(png(320, 200, 200, kind))
    assert stats is not None and stats[:2] == (320, 200) and abs(stats[2] - 200) < 3
    assert image_stats("data:image/png;base64," + png(8, 8, 10)) == (8, 8, 10.0)
    assert image_stats("not base64!") is None
    assert image_stats(base64.b64encode(b"not an image").decode()) is None


def test_image_outputs_for_classification_and_detection() -> None:
    request: dict[str, Any] = {"images": [png(32, 32, 50), "broken"]}
    classified = {
        "results": [
            {"predictions": [{"class_id": 1, "class_name": "cat", "confidence": 0.7}]},
            {"error": "x"},
        ]
    }
    samples = extract("image_classification", [(request, classified)])
    assert samples.values["input.width"] == [32] and samples.values["output.class"] == ["cat"]
    detected = {
        "results": [{"detections": [{"class_id": 0, "class_name": "car"}] * 3, "width": 32, "height": 32}]
    }
    samples = extract("object_detection", [(None, detected)])
    assert samples.values == {"output.detections": [3], "output.class": ["car"] * 3}


@pytest.mark.parametrize("scenario", sorted(CONTRACTS))
def test_shapes_a_caller_made_up_are_skipped_not_raised(scenario: str) -> None:
    odd: list[Any] = [
        ({"data": 5, "texts": 5, "images": 5}, None),
        ({"data": [{"values": [1]}], "texts": [1, None]}, {"results": {"a": 1}, "prediction": "x"}),
        (None, {"template_groups": [{"count": "x"}, {"count": 10**12, "template": "t"}], "unknown": 7}),
        (None, {"results": [{"predictions": {"a": 1}}, {"detections": 3}]}),
        ("not a dict", ["nor", "this"]),
    ]
    samples = extract(scenario, odd)
    assert samples.skipped <= len(odd)
    assert all(len(v) < 100 for v in samples.values.values())  # no count taken on the answer's word


def test_a_log_answer_cannot_claim_more_lines_than_were_sent() -> None:
    answer = {"template_groups": [{"template": "t", "count": 10**9}], "unknown": [{"index": 0}]}
    samples = extract("log_clustering", [({"data": ["a", "b", "c"]}, answer)])
    assert samples.values["output.unknown"] == [True, False, False]
    assert samples.values["output.template"] == ["t", "t"]


def test_an_image_over_the_pixel_limit_is_not_decoded() -> None:
    assert image_stats(png(300, 300, 100), max_pixels=10_000) is None
