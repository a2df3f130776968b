"""YOLO algorithms without servers: parameters against the presets, pretrained weights checked before anything
runs, a fit with every socket blocked (ultralytics stays offline), weights from a local file, the image
contracts' per-image errors and config checks, holdout/combine of image splits."""

from __future__ import annotations

import base64
import importlib.util
import io
import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from PIL import Image, UnidentifiedImageError

from algorithms.base.contracts import ContractError, Limits, ServedModel
from algorithms.base.images import ImageClassificationContract, ObjectDetectionContract, open_image
from algorithms.base.release import Release
from algorithms.registry import get_algorithm
from algorithms.yolo import data as image_data
from algorithms.yolo.offline import config_dir, load_ultralytics
from algorithms.yolo.weights import WEIGHTS_DIR_VAR, WeightsNotFoundError
from tests.algorithms.vision_data import classification_release, colour_image, detection_release, png

PRESETS = Path(__file__).resolve().parents[2] / "catalog" / "presets"


@pytest.mark.parametrize("algorithm", ["YOLOClassification", "YOLODetection"])
def test_preset_fields_are_the_algorithm_params_with_the_same_defaults(algorithm: str) -> None:
    preset = json.loads((PRESETS / f"{algorithm.lower()}.json").read_text())
    fields = {f["name"]: f["default"] for f in preset["form_config"]["fields"]}
    resolved = get_algorithm(algorithm).resolve_params({})
    assert fields == resolved
    assert set(preset["search_space"]) == {"lr0", "imgsz", "batch"}


def test_a_weights_name_not_on_disk_fails_before_anything_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(WEIGHTS_DIR_VAR, str(tmp_path))
    algorithm = get_algorithm("YOLODetection")
    with pytest.raises(WeightsNotFoundError, match=r"'yolo11n.pt' are not on disk.*nothing is downloaded"):
        algorithm.resolve_params({"weights": "yolo11n.pt"})
    assert not (Path.cwd() / "yolo11n.pt").exists()
    (tmp_path / "w.onnx").write_bytes(b"x")
    with pytest.raises(WeightsNotFoundError, match="must be a .pt file"):
        algorithm.resolve_params({"weights": str(tmp_path / "w.onnx")})
    with pytest.raises(ValueError, match=r"unknown parameter\(s\) \['epoch'\]"):
        algorithm.resolve_params({"epoch": 3})
    with pytest.raises(ValueError, match="model_size must be one of"):
        algorithm.resolve_params({"model_size": "x"})
    with pytest.raises(ValueError, match="imgsz must be in"):
        algorithm.resolve_params({"imgsz": 16})


@pytest.mark.parametrize("algorithm", ["YOLOClassification", "YOLODetection"])
def test_weights_are_pt_files_inside_the_weights_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, algorithm: str
) -> None:
    root, outside = tmp_path / "weights", tmp_path / "elsewhere"
    (root / "sub").mkdir(parents=True)
    outside.mkdir()
    (root / "sub" / "start.pt").write_bytes(b"weights")
    (outside / "secret.pt").write_bytes(b"not yours")
    (root / "link.pt").symlink_to(outside / "secret.pt")
    (root / "passwd.pt").symlink_to("/etc/passwd")
    resolve = get_algorithm(algorithm).resolve_params
    monkeypatch.delenv(WEIGHTS_DIR_VAR, raising=False)
    with pytest.raises(WeightsNotFoundError, match="no weights directory is configured"):
        resolve({"weights": "sub/start.pt"})
    monkeypatch.setenv(WEIGHTS_DIR_VAR, str(root))
    for escape in (
        "/etc/passwd",
        "../elsewhere/secret.pt",
        "sub/../../elsewhere/secret.pt",
        str(outside / "secret.pt"),
        "link.pt",
        "passwd.pt",
    ):
        with pytest.raises(WeightsNotFoundError, match="outside the weights directory"):
            resolve({"weights": escape})
    assert resolve({"weights": "sub/start.pt"})["weights"] == "sub/start.pt"
    assert resolve({"weights": str(root / "sub" / "start.pt")})["weights"] == str(root / "sub" / "start.pt")
    assert resolve({"weights": ""})["weights"] == ""


def test_loading_ultralytics_leaves_pillow_open_alone() -> None:
    # ultralytics swaps PIL.Image.open for a wrapper that installs pi-heif on an unidentified file; every
    # image validator in the process relies on Pillow's own error instead.
    load_ultralytics()
    from ultralytics.utils import patches

    assert Image.open is patches._image_open
    with pytest.raises(UnidentifiedImageError):
        Image.open(io.BytesIO(b"this is not an image"))
    assert importlib.util.find_spec("pi_heif") is None, "nothing was installed"


def test_tuning_lr0_under_auto_uses_an_optimizer_that_reads_it() -> None:
    algorithm = get_algorithm("YOLOClassification")
    assert algorithm.tuning_params({"optimizer": "auto"}, {"lr0": 0.003})["optimizer"] == "AdamW"
    assert algorithm.tuning_params({"optimizer": "SGD"}, {"lr0": 0.003})["optimizer"] == "SGD"
    assert algorithm.tuning_params({"optimizer": "auto"}, {"batch": 8})["optimizer"] == "auto"


@pytest.fixture()
def no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Every DNS lookup and outgoing connection is refused and recorded."""
    attempts: list[str] = []

    def refuse(what: str) -> Any:
        def blocked(*args: Any, **kwargs: Any) -> Any:
            attempts.append(f"{what}{args[1:] if what == 'connect' else args[:1]}")
            raise OSError(f"network blocked by the test ({what})")

        return blocked

    monkeypatch.setattr(socket.socket, "connect", refuse("connect"))
    monkeypatch.setattr(socket.socket, "connect_ex", refuse("connect"))
    monkeypatch.setattr(socket, "getaddrinfo", refuse("getaddrinfo"))
    monkeypatch.setattr(socket, "gethostbyname", refuse("gethostbyname"))
    yield attempts


def open_release(tmp_path: Path, data: bytes) -> Release:
    path = tmp_path / "release.zip"
    path.write_bytes(data)
    return Release.open(path)


def test_detection_fits_evaluates_and_predicts_offline_then_restarts_from_its_weights(
    tmp_path: Path, no_network: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    release = open_release(tmp_path, detection_release({"train": 8, "val": 4}, seed=3))
    algorithm = get_algorithm("YOLODetection")
    params = algorithm.resolve_params({"epochs": 1, "imgsz": 64, "batch": 4, "warmup_epochs": 0})
    train = algorithm.read_split(release, "train")
    assert train.names == ("square", "disc") and len(train) == 8 and len(train.monitored()) == 4
    fitted = algorithm.fit(train, params)
    metrics = algorithm.evaluate(fitted, algorithm.read_split(release, "val"))
    assert set(metrics) >= {"mAP50", "mAP50-95", "precision", "recall"} and metrics["eval_images"] == 4
    assert fitted.outcome.epochs_run == 1 and len(fitted.outcome.epoch_metrics) == 1
    picture = Image.new("RGB", (80, 40), (255, 255, 255))
    [result] = fitted.model.predict_images([picture], {"conf": 0.001, "max_detections": 3})
    assert (result["width"], result["height"]) == (80, 40) and len(result["detections"]) <= 3
    assert no_network == []
    ultralytics = load_ultralytics()
    from ultralytics.utils import SETTINGS

    assert SETTINGS["mlflow"] is False and SETTINGS["sync"] is False
    assert (config_dir() / "Arial.ttf").is_file() and (config_dir() / "Arial.Unicode.ttf").is_file()
    assert not (tmp_path / "mlruns").exists() and not (tmp_path / "runs").exists()
    assert ultralytics.__version__

    monkeypatch.setenv(WEIGHTS_DIR_VAR, str(tmp_path))
    weights = tmp_path / "start.pt"
    weights.write_bytes(fitted.outcome.weights)
    again = algorithm.fit(train, params | {"weights": str(weights)})
    assert again.outcome.names == ["square", "disc"]
    classifier = get_algorithm("YOLOClassification")
    (tmp_path / "cls").mkdir()
    cls_release = open_release(tmp_path / "cls", classification_release({"train": 2}, seed=0))
    with pytest.raises(ValueError, match="are for the 'detect' task, not 'classify'"):
        classifier.fit(
            classifier.read_split(cls_release, "train"),
            classifier.resolve_params({"weights": str(weights), "epochs": 1, "imgsz": 32}),
        )
    assert no_network == []


def test_gpu_device_without_a_gpu_is_refused(tmp_path: Path) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("a CUDA GPU is visible here: the refusal cannot be observed")
    release = open_release(tmp_path, classification_release({"train": 2}, seed=0))
    algorithm = get_algorithm("YOLOClassification")
    with pytest.raises(ValueError, match="no CUDA GPU is visible"):
        algorithm.fit(algorithm.read_split(release, "train"), algorithm.resolve_params({"device": "gpu"}))


def test_holdout_is_stratified_and_combine_monitors_on_val(tmp_path: Path) -> None:
    release = open_release(tmp_path, classification_release({"train": 10, "val": 2, "test": 1}, seed=0))
    train = image_data.read_image_split(release, "train", image_data.CLASSIFY)
    assert train.names == ("blue", "green", "red") and train.monitor is not None and len(train.monitor) == 6
    fit_part, held = image_data.holdout(train)
    assert sorted(held.labels) == [0, 0, 1, 1, 2, 2] and len(fit_part) == 24
    assert not set(fit_part.images) & set(held.images) and fit_part.monitored() is held
    both = image_data.combine(fit_part, held)
    assert len(both) == 30 and both.monitored() is held
    test = image_data.read_image_split(release, "test", image_data.CLASSIFY)
    assert test.monitor is None and test.monitored() is test


class StubClassifier:
    """A python model answering by the image's mean colour channel."""

    def __init__(self) -> None:
        self.calls: list[int] = []

    def predict_images(self, images: list[Any], params: dict[str, Any]) -> list[dict[str, Any]]:
        self.calls.append(len(images))
        names = ["red", "green", "blue"]
        out = []
        for picture in images:
            means = np.asarray(picture, dtype=float).mean(axis=(0, 1))
            order = np.argsort(-means)[: params.get("top_k", 3)]
            out.append(
                {
                    "predictions": [
                        {
                            "class_id": int(i),
                            "class_name": names[i],
                            "confidence": float(means[i] / means.sum()),
                        }
                        for i in order
                    ]
                }
            )
        return out


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def test_classification_contract_answers_good_images_and_reports_bad_ones() -> None:
    stub = StubClassifier()
    served = ServedModel(uri="stub:/cls", pyfunc=None, python_model=stub)
    rng = np.random.default_rng(0)
    red, blue = colour_image(rng, (230, 20, 20)), colour_image(rng, (20, 20, 230))
    truncated = red[: len(red) // 2]
    body = {
        "images": [
            b64(red),
            "???",
            b64(b"GIF89a nonsense"),
            "data:image/png;base64," + b64(blue),
            b64(truncated),
            5,
        ],
        "config": {"top_k": 1},
    }
    answer = ImageClassificationContract().predict(body, served, Limits())
    results = answer["results"]
    assert (
        results[0]["predictions"] == [results[0]["predictions"][0]]
        and results[0]["predictions"][0]["class_name"] == "red"
    )
    assert results[3]["predictions"][0]["class_name"] == "blue"
    assert "not valid base64" in results[1]["error"] and "not a decodable image" in results[2]["error"]
    assert "image 4" in results[4]["error"] and "got int" in results[5]["error"]
    assert stub.calls == [2]  # only the two good images reached the model, in one batch
    assert answer["metadata"]["count"] == 6 and answer["metadata"]["errors"] == 4


def test_pixel_bomb_is_its_own_error_not_a_crash(monkeypatch: pytest.MonkeyPatch) -> None:
    from algorithms.base import images

    monkeypatch.setattr(images, "MAX_PIXELS", 1000)
    assert "over the limit of 1000 pixels" in open_image(png(np.zeros((40, 40, 3), dtype=np.uint8)), 3)
    assert not isinstance(open_image(png(np.zeros((30, 30, 3), dtype=np.uint8)), 0), str)


@pytest.mark.parametrize(
    ("contract", "config", "field"),
    [
        (ImageClassificationContract(), {"top_k": 0}, "config.top_k"),
        (ImageClassificationContract(), {"top_k": True}, "config.top_k"),
        (ObjectDetectionContract(), {"conf": 1.5}, "config.conf"),
        (ObjectDetectionContract(), {"iou": "high"}, "config.iou"),
        (ObjectDetectionContract(), {"max_detections": 0}, "config.max_detections"),
        (ObjectDetectionContract(), {"max_detections": 2.5}, "config.max_detections"),
    ],
)
def test_bad_config_is_a_422_naming_the_field(contract: Any, config: dict[str, Any], field: str) -> None:
    served = ServedModel(uri="stub:/x", pyfunc=None, python_model=StubClassifier())
    with pytest.raises(ContractError) as caught:
        contract.predict(
            {"images": [b64(colour_image(np.random.default_rng(0), (1, 2, 3)))], "config": config},
            served,
            Limits(),
        )
    assert caught.value.status == 422 and caught.value.details[0]["field"] == field


def test_a_pyfunc_without_the_fast_path_gets_a_frame_of_base64_images() -> None:
    seen: list[pd.DataFrame] = []

    class FramePyfunc:
        def predict(self, frame: pd.DataFrame, params: dict[str, Any] | None = None) -> pd.DataFrame:
            seen.append(frame)
            sizes = [Image.open(io.BytesIO(base64.b64decode(v))).size for v in frame["image"]]
            return pd.DataFrame({"result": [{"detections": [], "width": w, "height": h} for w, h in sizes]})

    served = ServedModel(uri="stub:/det", pyfunc=FramePyfunc(), python_model=None)
    picture = png(np.zeros((10, 20, 3), dtype=np.uint8))
    answer = ObjectDetectionContract().predict({"images": [b64(picture), "!!"]}, served, Limits())
    assert answer["results"][0] == {"detections": [], "width": 20, "height": 10}
    assert "error" in answer["results"][1] and len(seen[0]) == 1
