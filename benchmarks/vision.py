"""YOLO on the CPU: training time per epoch, predict latency per image, and the top-1 / mAP50 reached.

Usage: ``python benchmarks/vision.py [--json] [--digits-epochs N] [--shapes-epochs N] [--data PATH]``

- **digits**: scikit-learn's bundled 8×8 digits (1,797 images) written as 32×32 PNG class folders (ultralytics
  drops images under 10 px a side), split 70/10/20
  (stratified, seed 0) into train/val/test; ``YOLOClassification`` (size n, 32 px) trained through the
  platform's own module and scored on test. Baseline in the same run: logistic regression on the 64 raw
  pixels (the classic linear baseline for this set). Target: top-1 >= 0.95 within 5 minutes of training.
- **shapes**: generated 96 px images with 1-3 squares and discs on noise, YOLO labels (train/val/test
  600/100/100); ``YOLODetection`` (size n, 96 px), mAP50 by ultralytics' validator on test. Baseline in the
  same run: a classical detector (threshold, connected components, square vs disc by how much of its box a
  blob fills), scored by this script's own AP50 — which also scores YOLO's predictions, so the two columns
  compare like with like. Target: mAP50 >= 0.9 within 5 minutes of training.
- ``--data PATH``: a smoke run on a folder in ultralytics' layout (``images/{train,val}``,
  ``labels/{train,val}``, class names from ``*.yaml*``), e.g. ``../shared/data/vision/coco8`` — a few epochs,
  no target (coco8 has 4 training images).

Predict latency goes through the served model's own code (``YoloPythonModel.predict_images``), one image per
call (p50 of 100 calls) and in batches of 32 (per image). The machine is shared: figures are noisy.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import yaml
from PIL import Image

from algorithms.base.release import Release
from algorithms.registry import get_algorithm
from algorithms.yolo.algorithm import YoloAlgorithm, YoloFitted
from benchmarks.quality.common import table
from tests.algorithms.vision_data import png, release_zip

SEED = 0
BUDGET_SECONDS = 300.0
TARGETS = {"digits": ("top1", 0.95), "shapes": ("mAP50", 0.90)}
SHAPES = ("square", "disc")


def open_release(workdir: Path, name: str, data: bytes) -> Release:
    folder = workdir / name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "release.zip").write_bytes(data)
    return Release.open(folder / "release.zip")


def latency(model: Any, images: list[Image.Image], params: dict[str, Any]) -> tuple[float, float]:
    """(p50 ms of one-image calls, ms per image in batches of 32)."""
    model.predict_images(images[:2], params)  # first call builds ultralytics' predictor
    singles = []
    for picture in (images * 100)[:100]:
        started = time.perf_counter()
        model.predict_images([picture], params)
        singles.append((time.perf_counter() - started) * 1000)
    batch = (images * 32)[:128]
    started = time.perf_counter()
    for k in range(0, len(batch), 32):
        model.predict_images(batch[k : k + 32], params)
    return statistics.median(singles), (time.perf_counter() - started) * 1000 / len(batch)


def fit_row(
    name: str, algorithm: YoloAlgorithm, release: Release, params: dict[str, Any]
) -> tuple[YoloFitted, dict]:
    fitted = algorithm.fit(algorithm.read_split(release, "train"), algorithm.resolve_params(params))
    outcome = fitted.outcome
    seconds = [e["epoch_seconds"] for e in outcome.epoch_metrics]
    return fitted, {
        "set": name,
        "model": f"{algorithm.name} ({params.get('model_size', 'n')}, {params['imgsz']} px)",
        "train_images": fitted.train_images,
        "epochs": outcome.epochs_run,
        "train_s": outcome.fit_seconds,
        "s_per_epoch": statistics.mean(seconds) if seconds else None,
    }


# --- digits ------------------------------------------------------------------------------------------------
def digits_release() -> tuple[bytes, dict[str, tuple[np.ndarray, np.ndarray]]]:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    pixels = (digits.images * (255.0 / 16.0)).round().astype(np.uint8)
    index = np.arange(len(pixels))
    rest, test = train_test_split(index, test_size=0.2, random_state=SEED, stratify=digits.target)
    train, val = train_test_split(rest, test_size=0.125, random_state=SEED, stratify=digits.target[rest])
    members: dict[str, dict[str, bytes]] = {}
    arrays: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for split, ids in (("train", train), ("val", val), ("test", test)):
        # ultralytics drops images under 10 pixels a side: write them at 32x32 (bilinear), the size trained on.
        members[split] = {
            f"{split}/{digits.target[i]}/1_d{i}.png": png(
                Image.fromarray(pixels[i]).resize((32, 32), Image.BILINEAR)
            )
            for i in ids
        }
        arrays[split] = (pixels[ids].reshape(len(ids), -1) / 255.0, digits.target[ids])
    return release_zip("image_classification", members, [str(c) for c in range(10)], {}), arrays


def run_digits(workdir: Path, epochs: int) -> list[dict[str, Any]]:
    from sklearn.linear_model import LogisticRegression

    data, arrays = digits_release()
    release = open_release(workdir, "digits", data)
    algorithm = get_algorithm("YOLOClassification")
    assert isinstance(algorithm, YoloAlgorithm)
    # Mirrored digits are other digits (or none): no horizontal flips.
    params = {"epochs": epochs, "imgsz": 32, "batch": 32, "patience": 0, "fliplr": 0.0}
    fitted, row = fit_row("digits", algorithm, release, params)
    test = algorithm.read_split(release, "test")
    row |= {"metric": "top1", "value": algorithm.evaluate(fitted, test)["top1"]}
    images = [Image.open(p).convert("RGB") for p in test.images[:32]]
    row["predict_ms_1"], row["predict_ms_batched"] = latency(fitted.model, images, {"top_k": 1})

    started = time.perf_counter()
    baseline = LogisticRegression(max_iter=2000).fit(*arrays["train"])
    base_seconds = time.perf_counter() - started
    x_test, y_test = arrays["test"]
    one = x_test[:1]
    calls = []
    for _ in range(100):
        t0 = time.perf_counter()
        baseline.predict(one)
        calls.append((time.perf_counter() - t0) * 1000)
    t0 = time.perf_counter()
    baseline.predict(x_test)
    base_row = {
        "set": "digits",
        "model": "baseline: logistic regression on pixels",
        "train_images": len(arrays["train"][1]),
        "train_s": base_seconds,
        "metric": "top1",
        "value": float((baseline.predict(x_test) == y_test).mean()),
        "predict_ms_1": statistics.median(calls),
        "predict_ms_batched": (time.perf_counter() - t0) * 1000 / len(x_test),
    }
    return [row, base_row]


# --- shapes ------------------------------------------------------------------------------------------------
def shapes_image(
    rng: np.random.Generator, size: int
) -> tuple[Image.Image, list[tuple[int, float, float, float, float]]]:
    picture = Image.fromarray(rng.integers(170, 256, (size, size, 3), dtype=np.uint8))
    from PIL import ImageDraw

    pen = ImageDraw.Draw(picture)
    boxes: list[tuple[int, float, float, float, float]] = []
    for _ in range(int(rng.integers(1, 4))):
        side = int(rng.integers(size // 6, size // 3))
        for _attempt in range(30):
            x, y = (int(v) for v in rng.integers(1, size - side - 1, 2))
            if all(
                x + side + 2 <= a or a + s + 2 <= x or y + side + 2 <= b or b + s + 2 <= y
                for _, a, b, s, _s in boxes
            ):
                break
        else:
            continue
        cls = int(rng.integers(0, 2))
        fill = tuple(int(v) for v in rng.integers(0, 110, 3))
        (pen.rectangle if SHAPES[cls] == "square" else pen.ellipse)(
            [x, y, x + side - 1, y + side - 1], fill=fill
        )
        boxes.append((cls, x, y, side, side))
    return picture, boxes


def shapes_release(
    counts: dict[str, int], size: int
) -> tuple[bytes, dict[str, list[tuple[Image.Image, list]]]]:
    rng = np.random.default_rng(SEED)
    members: dict[str, dict[str, bytes]] = {}
    kept: dict[str, list[tuple[Image.Image, list]]] = {}
    for split, n in counts.items():
        files: dict[str, bytes] = {}
        kept[split] = []
        for i in range(n):
            picture, boxes = shapes_image(rng, size)
            files[f"{split}/images/3_s{i}.png"] = png(picture)
            files[f"{split}/labels/3_s{i}.txt"] = "".join(
                f"{c} {(x + w / 2) / size:.6f} {(y + h / 2) / size:.6f} {w / size:.6f} {h / size:.6f}\n"
                for c, x, y, w, h in boxes
            ).encode()
            kept[split].append((picture, boxes))
        members[split] = files
    data = {"path": ".", **{s: f"{s}/images" for s in counts}, "nc": 2, "names": dict(enumerate(SHAPES))}
    return release_zip(
        "object_detection", members, list(SHAPES), {"data.yaml": yaml.safe_dump(data).encode()}
    ), kept


def classical_detector(picture: Image.Image) -> list[tuple[int, float, list[float]]]:
    """(class, score, [x1, y1, x2, y2]) per dark blob; a disc fills ~79% of its box, a square all of it."""
    from scipy import ndimage

    dark = np.asarray(picture.convert("L")) < 140
    labels, _ = ndimage.label(dark)
    out = []
    for k, found in enumerate(ndimage.find_objects(labels), start=1):
        if found is None:
            continue
        ys, xs = found
        h, w = ys.stop - ys.start, xs.stop - xs.start
        if h < 6 or w < 6:
            continue
        fill = float((labels[found] == k).sum()) / (h * w)
        cls = 0 if fill > 0.9 else 1
        out.append((cls, 1.0 - abs(fill - 0.785) if cls else fill, [xs.start, ys.start, xs.stop, ys.stop]))
    return out


def iou(a: list[float], b: list[float]) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def map50(predictions: list[list[tuple[int, float, list[float]]]], truths: list[list]) -> float:
    """VOC-style AP at IoU 0.5 (all-point interpolation), averaged over the classes."""
    aps = []
    for cls in range(len(SHAPES)):
        gts = {i: [[x, y, x + w, y + h] for c, x, y, w, h in t if c == cls] for i, t in enumerate(truths)}
        total = sum(len(v) for v in gts.values())
        preds = sorted(
            ((s, i, box) for i, p in enumerate(predictions) for c, s, box in p if c == cls),
            key=lambda t: -t[0],
        )
        used = {i: [False] * len(v) for i, v in gts.items()}
        tp = []
        for _, i, box in preds:
            scores = [iou(box, g) for g in gts[i]]
            j = int(np.argmax(scores)) if scores else -1
            hit = j >= 0 and scores[j] >= 0.5 and not used[i][j]
            if hit:
                used[i][j] = True
            tp.append(hit)
        if not total:
            continue
        hits = np.cumsum(tp)
        recall = hits / total
        precision = hits / np.arange(1, len(tp) + 1)
        r = np.concatenate([[0.0], recall, [1.0]])
        p = np.concatenate([[1.0], precision, [0.0]])
        p = np.maximum.accumulate(p[::-1])[::-1]
        aps.append(float(np.sum((r[1:] - r[:-1]) * p[1:])))
    return float(np.mean(aps)) if aps else 0.0


def run_shapes(workdir: Path, epochs: int) -> list[dict[str, Any]]:
    data, kept = shapes_release({"train": 600, "val": 100, "test": 100}, 96)
    release = open_release(workdir, "shapes", data)
    algorithm = get_algorithm("YOLODetection")
    assert isinstance(algorithm, YoloAlgorithm)
    params = {"epochs": epochs, "imgsz": 96, "batch": 16, "patience": 0}
    fitted, row = fit_row("shapes", algorithm, release, params)
    row |= {
        "metric": "mAP50",
        "value": algorithm.evaluate(fitted, algorithm.read_split(release, "test"))["mAP50"],
    }
    test_images = [p.convert("RGB") for p, _ in kept["test"]]
    truths = [boxes for _, boxes in kept["test"]]
    answers = fitted.model.predict_images(test_images, {"conf": 0.001, "max_detections": 100})
    yolo_preds = [
        [
            (d["class_id"], d["confidence"], [d["bbox"][k] for k in ("x1", "y1", "x2", "y2")])
            for d in a["detections"]
        ]
        for a in answers
    ]
    row["own_AP50"] = map50(yolo_preds, truths)
    row["predict_ms_1"], row["predict_ms_batched"] = latency(fitted.model, test_images[:32], {})

    started = time.perf_counter()
    base_preds = [classical_detector(p) for p in test_images]
    per_image = (time.perf_counter() - started) * 1000 / len(test_images)
    base_row = {
        "set": "shapes",
        "model": "baseline: threshold + connected components",
        "metric": "mAP50",
        "value": None,
        "own_AP50": map50(base_preds, truths),
        "predict_ms_1": per_image,
        "predict_ms_batched": per_image,
    }
    return [row, base_row]


# --- smoke run on a folder in ultralytics' layout -----------------------------------------------------------
def folder_release(folder: Path) -> bytes:
    """Images/labels in ultralytics' layout (``images/{split}``) rewritten into the release layout."""
    names_file = next(iter(sorted(folder.glob("*.yaml*"))), None)
    if names_file is None:
        raise SystemExit(f"--data {folder}: no *.yaml with class names")
    names = yaml.safe_load(names_file.read_text())["names"]
    names = [names[k] for k in sorted(names)] if isinstance(names, dict) else list(names)
    members: dict[str, dict[str, bytes]] = {}
    for split_dir in sorted(p for p in (folder / "images").iterdir() if p.is_dir()):
        split = split_dir.name
        files: dict[str, bytes] = {}
        for image in sorted(split_dir.iterdir()):
            files[f"{split}/images/1_{image.name}"] = image.read_bytes()
            label = folder / "labels" / split / f"{image.stem}.txt"
            if label.is_file():
                files[f"{split}/labels/1_{image.stem}.txt"] = label.read_bytes()
        members[split] = files
    data = {
        "path": ".",
        **{s: f"{s}/images" for s in members},
        "nc": len(names),
        "names": dict(enumerate(names)),
    }
    return release_zip("object_detection", members, names, {"data.yaml": yaml.safe_dump(data).encode()})


def run_folder(workdir: Path, folder: Path, epochs: int) -> list[dict[str, Any]]:
    release = open_release(workdir, "folder", folder_release(folder))
    algorithm = get_algorithm("YOLODetection")
    assert isinstance(algorithm, YoloAlgorithm)
    params = {"epochs": epochs, "imgsz": 320, "batch": 4, "patience": 0, "warmup_epochs": 0}
    fitted, row = fit_row(folder.name, algorithm, release, params)
    evaluation = "test" if release.has_split("test") else "val"
    row |= {
        "metric": "mAP50",
        "value": algorithm.evaluate(fitted, algorithm.read_split(release, evaluation))["mAP50"],
    }
    images = [Image.open(p).convert("RGB") for p in algorithm.read_split(release, evaluation).images]
    row["predict_ms_1"], row["predict_ms_batched"] = latency(fitted.model, images, {})
    return [row]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", action="store_true", help="print one machine-readable JSON summary")
    parser.add_argument("--digits-epochs", type=int, default=40)
    parser.add_argument("--shapes-epochs", type=int, default=15)
    parser.add_argument(
        "--data", type=Path, help="smoke run on this ultralytics-layout folder only (e.g. coco8)"
    )
    parser.add_argument("--data-epochs", type=int, default=3)
    args = parser.parse_args(argv)
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="mlops-bench-vision-") as tmp:
        if args.data:
            if not (args.data / "images").is_dir():
                parser.error(f"--data {args.data} has no images/ folder")
            rows += run_folder(Path(tmp), args.data, args.data_epochs)
        else:
            rows += run_digits(Path(tmp), args.digits_epochs)
            rows += run_shapes(Path(tmp), args.shapes_epochs)
    verdicts = []
    for row in rows:
        target = TARGETS.get(row["set"])
        if target and row.get("value") is not None and not row["model"].startswith("baseline"):
            ok = row["value"] >= target[1] and row["train_s"] <= BUDGET_SECONDS
            verdicts.append(
                f"{row['set']}: {target[0]} {row['value']:.3f} (target >= {target[1]}) in "
                f"{row['train_s']:.0f} s (budget {BUDGET_SECONDS:.0f} s): {'MET' if ok else 'MISSED'}"
            )
    by_set: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_set.setdefault(row["set"], []).append(row)
    ratios = []
    for name, pair in by_set.items():
        if len(pair) == 2:
            yolo, base = pair
            key = "value" if base.get("value") is not None else "own_AP50"
            ratios.append(
                f"{name}: YOLO/baseline {key} {yolo[key] / base[key]:.2f}x, "
                f"single-image latency {yolo['predict_ms_1'] / base['predict_ms_1']:.1f}x the baseline's"
            )
    if args.json:
        print(json.dumps({"rows": rows, "verdicts": verdicts, "ratios": ratios}, default=float))
        return 0
    columns = [
        "set",
        "model",
        "train_images",
        "epochs",
        "train_s",
        "s_per_epoch",
        "metric",
        "value",
        "own_AP50",
        "predict_ms_1",
        "predict_ms_batched",
    ]
    print(table(rows, columns))
    for line in ratios + verdicts:
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
