"""Generated sample data of `mlops demo`: one small, learnable dataset per scenario (two for forecasting, a
daily and an hourly series), plus inputs to try in the sandbox.

Everything is generated from fixed seeds with no network and no files read, and the bytes are the same on
every run and machine (zip members carry a fixed date; PNGs are encoded by Pillow without metadata), so a
re-run uploads identical entries. ``catalog.demo`` loads these into the catalog.
"""

from __future__ import annotations

import csv
import io
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from catalog.demo_images import SHAPES, class_folders_zip, scene, shape_image, yolo_zip
from catalog.scenarios import Scenario


@dataclass(frozen=True)
class DemoFile:
    """One file: uploaded as an entry flagged for ``splits``, or (sandbox samples) written for the user."""

    filename: str
    data: bytes
    splits: tuple[str, ...] = ("train",)


@dataclass(frozen=True)
class DemoDataset:
    """A dataset `mlops demo` creates, with the algorithm and parameters suggested for a quick first model."""

    name: str
    scenario: Scenario
    description: str
    files: tuple[DemoFile, ...]
    algorithm: str
    params: dict[str, Any] = field(default_factory=dict)
    samples: tuple[DemoFile, ...] = ()


# -- helpers -----------------------------------------------------------------------------------------------
def _csv(rows: list[dict[str, Any]], columns: list[str]) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode("utf-8")


def _frame_csv(frame: pd.DataFrame) -> bytes:
    return frame.to_csv(index=False, lineterminator="\n").encode("utf-8")


# -- anomaly detection -------------------------------------------------------------------------------------
def cpu_series(
    n: int, *, seed: int, start: str, anomaly_rate: float = 0.01, label: bool = True
) -> pd.DataFrame:
    """CPU load every 5 minutes: a daily cycle and noise, with spikes and drops (labelled 1) at random points."""
    rng = np.random.default_rng(seed)
    stamps = pd.date_range(start, periods=n, freq="5min")
    minutes = (stamps.hour * 60 + stamps.minute).to_numpy()
    value = 40 + 10 * np.sin(2 * np.pi * minutes / 1440) + rng.normal(0, 1.5, n)
    flags = np.zeros(n, dtype=int)
    spikes = rng.choice(np.arange(5, n - 5), max(1, round(n * anomaly_rate)), replace=False)
    value[spikes] += rng.choice([-1.0, 1.0], len(spikes)) * rng.uniform(30, 45, len(spikes))
    flags[spikes] = 1
    frame = pd.DataFrame({"timestamp": stamps.strftime("%Y-%m-%dT%H:%M:%S"), "value": value.round(3)})
    if label:
        frame["label"] = flags
    return frame


def anomaly_dataset() -> DemoDataset:
    days = 288  # 5-minute points per day
    return DemoDataset(
        name="demo-server-cpu",
        scenario=Scenario.ANOMALY_DETECTION,
        description="mlops demo: CPU load every 5 minutes with labelled spikes and drops (label 1)",
        files=(
            DemoFile("cpu-train.csv", _frame_csv(cpu_series(7 * days, seed=11, start="2024-03-01"))),
            DemoFile("cpu-val.csv", _frame_csv(cpu_series(2 * days, seed=12, start="2024-03-08")), ("val",)),
            DemoFile(
                "cpu-test.csv", _frame_csv(cpu_series(2 * days, seed=13, start="2024-03-10")), ("test",)
            ),
        ),
        algorithm="ECOD",
        params={"contamination": 0.01},
        samples=(
            DemoFile(
                "cpu-sample.csv",
                _frame_csv(cpu_series(days, seed=14, start="2024-03-12", anomaly_rate=0.015, label=False)),
            ),
        ),
    )


# -- time-series forecasting -------------------------------------------------------------------------------
def daily_sales(n: int = 730, *, seed: int = 21) -> pd.DataFrame:
    """Daily sales over two years: trend, weekly and yearly seasonality, noise."""
    rng = np.random.default_rng(seed)
    stamps = pd.date_range("2023-01-01", periods=n, freq="D")
    t = np.arange(n)
    weekly = np.where(stamps.dayofweek >= 5, 25.0, 0.0) - 5.0 * (stamps.dayofweek == 0)
    yearly = 20 * np.sin(2 * np.pi * (stamps.dayofyear.to_numpy() - 80) / 365.25)
    value = 200 + 0.08 * t + weekly + yearly + rng.normal(0, 4, n)
    return pd.DataFrame({"timestamp": stamps.strftime("%Y-%m-%d"), "value": value.round(2)})


def hourly_traffic(n: int = 8 * 7 * 24, *, seed: int = 22) -> pd.DataFrame:
    """Requests per hour over eight weeks: a daily peak in working hours, quieter weekends, noise."""
    rng = np.random.default_rng(seed)
    stamps = pd.date_range("2024-02-05", periods=n, freq="h")
    hour = stamps.hour.to_numpy()
    daily = 400 * np.exp(-((hour - 14) ** 2) / 18.0)
    weekend = np.where(stamps.dayofweek >= 5, 0.5, 1.0)
    value = 120 + daily * weekend + rng.normal(0, 12, n)
    return pd.DataFrame({"timestamp": stamps.strftime("%Y-%m-%dT%H:%M:%S"), "value": value.round(1)})


def forecast_datasets() -> list[DemoDataset]:
    daily, hourly = daily_sales(), hourly_traffic()
    return [
        DemoDataset(
            name="demo-daily-sales",
            scenario=Scenario.TIMESERIES_PREDICT,
            description="mlops demo: two years of daily sales (trend, weekly and yearly seasonality)",
            files=(
                DemoFile("sales-train.csv", _frame_csv(daily.iloc[:-60])),
                DemoFile("sales-test.csv", _frame_csv(daily.iloc[-60:]), ("test",)),
            ),
            algorithm="Prophet",
            params={"horizon": 30},
            samples=(DemoFile("sales-history.csv", _frame_csv(daily.iloc[-90:])),),
        ),
        DemoDataset(
            name="demo-hourly-traffic",
            scenario=Scenario.TIMESERIES_PREDICT,
            description="mlops demo: eight weeks of requests per hour (daily peak, quieter weekends)",
            files=(
                DemoFile("traffic-train.csv", _frame_csv(hourly.iloc[:-168])),
                DemoFile("traffic-test.csv", _frame_csv(hourly.iloc[-168:]), ("test",)),
            ),
            algorithm="Prophet",
            params={"horizon": 48},
            samples=(DemoFile("traffic-history.csv", _frame_csv(hourly.iloc[-72:])),),
        ),
    ]


# -- log clustering ----------------------------------------------------------------------------------------
_USERS = ("alice", "bob", "carol", "dave", "erin")
LOG_TEMPLATES: tuple[tuple[str, Callable[[random.Random], str]], ...] = (
    (
        "INFO",
        lambda r: (
            f"Accepted connection from 10.0.{r.randint(0, 9)}.{r.randint(1, 254)}:{r.randint(1024, 65535)}"
        ),
    ),
    ("INFO", lambda r: f"User {r.choice(_USERS)} logged in from 192.168.1.{r.randint(2, 250)}"),
    ("INFO", lambda r: f"GET /api/items/{r.randint(1, 9999)} returned 200 in {r.randint(2, 90)} ms"),
    (
        "WARN",
        lambda r: (
            f"Failed password for user {r.choice(_USERS)} from 172.16.0.{r.randint(2, 250)} "
            f"port {r.randint(1024, 65535)}"
        ),
    ),
    ("WARN", lambda r: f"Disk usage on /dev/sda{r.randint(1, 4)} at {r.randint(80, 99)} percent"),
    (
        "INFO",
        lambda r: (
            f"Worker {r.randint(1, 16)} finished job 0x{r.getrandbits(32):08x} in {r.randint(5, 900)} ms"
        ),
    ),
    ("INFO", lambda r: f"Cache miss for key session {r.getrandbits(24):x} after {r.randint(1, 60)} s"),
    (
        "ERROR",
        lambda r: f"Connection to database replica {r.randint(1, 3)} timed out after {r.randint(1, 30)} s",
    ),
)
_UNSEEN = ("ERROR", lambda r: f"Kernel panic on node {r.randint(1, 9)} code {r.randint(100, 999)}")


def log_lines(n: int, *, seed: int, unseen_every: int = 0) -> bytes:
    """``n`` log lines from the templates above (weighted: INFO lines are the most common)."""
    rng = random.Random(seed)
    weights = [6 if level == "INFO" else 2 if level == "WARN" else 1 for level, _ in LOG_TEMPLATES]
    lines = []
    for i in range(n):
        level, make = (
            _UNSEEN
            if unseen_every and i % unseen_every == unseen_every - 1
            else rng.choices(LOG_TEMPLATES, weights)[0]
        )
        lines.append(f"{level} {make(rng)}")
    return ("\n".join(lines) + "\n").encode("utf-8")


def logs_dataset() -> DemoDataset:
    return DemoDataset(
        name="demo-app-logs",
        scenario=Scenario.LOG_CLUSTERING,
        description=f"mlops demo: application log lines from {len(LOG_TEMPLATES)} message templates",
        files=(
            DemoFile("app-train.log", log_lines(2000, seed=31)),
            DemoFile("app-test.log", log_lines(300, seed=32), ("test",)),
        ),
        algorithm="Spell",
        params={"tau": 0.5},
        samples=(DemoFile("app-sample.log", log_lines(40, seed=33, unseen_every=10)),),
    )


# -- text classification -----------------------------------------------------------------------------------
_PRODUCTS_EN = ("headphones", "phone case", "coffee maker", "backpack", "keyboard", "desk lamp")
_PRODUCTS_ZH = ("耳机", "手机壳", "咖啡机", "背包", "键盘", "台灯")
_OPINIONS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "positive": (
        (
            "works perfectly",
            "is excellent",
            "exceeded my expectations",
            "is great value",
            "arrived fast and I love it",
            "is highly recommended",
        ),
        ("非常好用", "质量很好", "物流很快，很满意", "超出预期", "强烈推荐", "性价比很高"),
    ),
    "negative": (
        (
            "broke after two days",
            "is a waste of money",
            "is terrible",
            "stopped working",
            "was a big disappointment",
            "arrived damaged",
        ),
        ("太差了", "质量很差", "用了两天就坏了", "非常失望", "完全不值这个价", "客服态度很差"),
    ),
    "neutral": (
        (
            "is okay",
            "is as described",
            "does the job",
            "is average",
            "is nothing special",
            "is fine for the price",
        ),
        ("一般般", "还可以", "和描述一致", "中规中矩", "没什么特别的", "凑合能用"),
    ),
}
TEXT_CLASSES = tuple(_OPINIONS)


def review(rng: random.Random, label: str) -> str:
    english, chinese = _OPINIONS[label]
    if rng.random() < 0.35:
        product = rng.choice(_PRODUCTS_ZH)
        return f"这个{product}{rng.choice(chinese)}"
    product = rng.choice(_PRODUCTS_EN)
    opener = rng.choice(("The", "This", "My new", "Our"))
    return f"{opener} {product} {rng.choice(english)}."


def reviews_csv(n: int, *, seed: int) -> bytes:
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        label = rng.choice(TEXT_CLASSES)
        rows.append({"text": review(rng, label), "label": label})
    return _csv(rows, ["text", "label"])


def text_dataset() -> DemoDataset:
    rng = random.Random(43)
    samples = [review(rng, label) for label in TEXT_CLASSES for _ in range(2)]
    return DemoDataset(
        name="demo-product-reviews",
        scenario=Scenario.TEXT_CLASSIFICATION,
        description="mlops demo: product reviews in English and Chinese, labelled positive, negative or neutral",
        files=(
            DemoFile("reviews-train.csv", reviews_csv(600, seed=41)),
            DemoFile("reviews-test.csv", reviews_csv(150, seed=42), ("test",)),
        ),
        algorithm="XGBoost",
        params={"tokenizer": "jieba", "n_estimators": 50},
        samples=(DemoFile("reviews-sample.txt", ("\n".join(samples) + "\n").encode("utf-8")),),
    )


# -- images ------------------------------------------------------------------------------------------------
def image_classification_dataset() -> DemoDataset:
    rng = random.Random(54)
    return DemoDataset(
        name="demo-shapes",
        scenario=Scenario.IMAGE_CLASSIFICATION,
        description="mlops demo: 48-pixel images of a red circle, a green square or a blue triangle "
        "(one folder per class)",
        files=(
            DemoFile("shapes-train.zip", class_folders_zip(40, seed=51)),
            DemoFile("shapes-val.zip", class_folders_zip(10, seed=52), ("val",)),
            DemoFile("shapes-test.zip", class_folders_zip(10, seed=53), ("test",)),
        ),
        algorithm="YOLOClassification",
        params={"epochs": 10, "imgsz": 64, "batch": 16},
        samples=tuple(DemoFile(f"{shape}.png", shape_image(rng, shape)) for shape in SHAPES),
    )


def detection_dataset() -> DemoDataset:
    rng = random.Random(64)
    return DemoDataset(
        name="demo-shape-boxes",
        scenario=Scenario.OBJECT_DETECTION,
        description="mlops demo: 96-pixel scenes of circles and squares with YOLO boxes",
        files=(
            DemoFile("boxes-train.zip", yolo_zip(300, seed=61)),
            DemoFile("boxes-val.zip", yolo_zip(50, seed=62), ("val",)),
            DemoFile("boxes-test.zip", yolo_zip(50, seed=63), ("test",)),
        ),
        algorithm="YOLODetection",
        params={"epochs": 20, "imgsz": 96, "batch": 16},
        samples=tuple(DemoFile(f"scene-{i}.png", scene(rng)[0]) for i in range(2)),
    )


BUILDERS: dict[Scenario, Callable[[], list[DemoDataset]]] = {
    Scenario.ANOMALY_DETECTION: lambda: [anomaly_dataset()],
    Scenario.TIMESERIES_PREDICT: forecast_datasets,
    Scenario.LOG_CLUSTERING: lambda: [logs_dataset()],
    Scenario.TEXT_CLASSIFICATION: lambda: [text_dataset()],
    Scenario.IMAGE_CLASSIFICATION: lambda: [image_classification_dataset()],
    Scenario.OBJECT_DETECTION: lambda: [detection_dataset()],
}


def demo_datasets(scenarios: list[Scenario] | None = None) -> list[DemoDataset]:
    """The demo datasets of ``scenarios`` (all six by default), in scenario order."""
    wanted = list(Scenario) if not scenarios else scenarios
    return [ds for scenario in Scenario if scenario in wanted for ds in BUILDERS[scenario]()]
