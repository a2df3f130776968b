"""First prediction per scenario: the README's "First run" walk, timed, in headless Chromium driven by Playwright.

Starts the whole platform as a user does (`mlops init`, `mlops up` with every component, default settings, on a
fresh data directory and free ports; ``tests.fixtures.platform_process.Platform``), loads the demo datasets with
`mlops demo`, signs in to the dashboard, then for each scenario follows the README's click path with its table's
parameters: open the scenario's Datasets page → Training → *New training job* → *Create job* → *Start* → wait
for `completed` → Serving → *New serving* → *Create and start* → *Refresh* until `running` → Sandbox → upload the
sample input → *Predict* → wait for the result drawn. It prints, per scenario, the time from opening the
Datasets page to the result drawn (*first prediction*), and inside it the training (Start → `completed` shown;
``container``: the training container's own run time, start to exit, by the runtime's timestamps), the serving
start (Create and start → `running` shown) and the prediction (Predict → result drawn).

A person's reading and typing are left out; the machine's other load is not (note it with the numbers).

Run: ``python -m benchmarks.first_prediction [--scenario anomaly_detection ...]`` (needs /usr/bin/chromium).
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from infra.runtime.registry import get_runtime
from tests.fixtures.browser import CHROMIUM, CHROMIUM_ARGS
from tests.fixtures.platform_process import WITHOUT_DASHBOARD, Platform

STEP_TIMEOUT_MS = 120_000
WORK_TIMEOUT_S = 900.0  # a training run (YOLO detection ~2 min here) from Start to `completed` on the page


@dataclass(frozen=True)
class Walk:
    """One row of the README's table: what to pick and type, and what shows the result."""

    scenario: str
    url: str  # the section's url prefix, e.g. anomaly-detection
    dataset: str
    algorithm: str
    params: dict[str, str]  # label → value (a number typed, or an option picked)
    inputs: list[str]  # sample files under <data dir>/demo/<dataset>/
    result: Callable[[Any], Any]  # page → the locator that appears once the result is drawn
    sandbox: dict[str, str] = field(default_factory=dict)  # sandbox fields set before Predict


def _metric(name: str) -> Callable[[Any], Any]:
    return lambda page: page.locator('[data-testid="stMetric"]').filter(has_text=name).first


def _chart(page: Any) -> Any:
    return page.locator(".js-plotly-plot").first


WALKS = [
    Walk(
        "anomaly_detection",
        "anomaly-detection",
        "demo-server-cpu",
        "ECOD (empirical CDF outlier detection)",
        {"Contamination": "0.01"},
        ["cpu-sample.csv"],
        _metric("Anomalies"),
    ),
    Walk(
        "timeseries_predict",
        "timeseries-predict",
        "demo-daily-sales",
        "Prophet",
        {"Horizon (steps)": "30"},
        ["sales-history.csv"],
        _chart,
        {"Steps to forecast": "30"},
    ),
    Walk(
        "log_clustering",
        "log-clustering",
        "demo-app-logs",
        "Spell (streaming LCS log parser)",
        {},
        ["app-sample.log"],
        _metric("Templates"),
    ),
    Walk(
        "text_classification",
        "text-classification",
        "demo-product-reviews",
        "TF-IDF + XGBoost",
        {"Tokenizer": "jieba", "Trees": "50"},
        ["reviews-sample.txt"],
        _chart,
    ),
    Walk(
        "image_classification",
        "image-classification",
        "demo-shapes",
        "YOLO image classification",
        {"Epochs": "10", "Image size": "64", "Batch size": "16"},
        ["circle.png", "square.png", "triangle.png"],
        _chart,
    ),
    Walk(
        "object_detection",
        "object-detection",
        "demo-shape-boxes",
        "YOLO object detection",
        {"Epochs": "20", "Image size": "96", "Batch size": "16"},
        ["scene-0.png", "scene-1.png"],
        lambda page: page.get_by_text(re.compile(r"image 0: \d+ detection")).first,
    ),
]


def _open(page: Any, url_path: str, title: str) -> None:
    """Client-side navigation through the sidebar; a click landing while the page reruns (a followed job just
    ended) is lost, so it is repeated until the page shows."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    for _ in range(10):
        _idle(page)
        page.locator(f'[data-testid="stSidebarNav"] a[href$="/{url_path}"]').click()
        try:
            page.get_by_role("heading", name=title, exact=True).wait_for(timeout=10_000)
        except PlaywrightTimeout:
            continue
        if f"/{url_path}" in page.url:
            return
    raise RuntimeError(f"the {url_path} page did not open")


def _choose(page: Any, label: str, option: str | re.Pattern[str]) -> None:
    box = page.get_by_role("combobox", name=label, exact=True)
    current = box.input_value()
    if option.fullmatch(current) if isinstance(option, re.Pattern) else current == option:
        return  # already picked (the only choice)
    box.click()
    page.get_by_role("option", name=option, exact=isinstance(option, str)).first.click()


def _type(page: Any, role: str, label: str, value: str) -> None:
    field_ = page.get_by_role(role, name=label, exact=True)
    field_.fill(value)
    field_.press("Enter")


def _idle(page: Any) -> None:
    page.locator('[data-testid="stApp"][data-test-script-state="notRunning"]').wait_for()


def _until(page: Any, shown: Any, what: str) -> None:
    """Wait for ``shown``, pressing the page's Refresh (or rerunning it) every few seconds meanwhile."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    deadline = time.monotonic() + WORK_TIMEOUT_S
    while True:
        try:
            shown.wait_for(state="visible", timeout=3_000)
            return
        except PlaywrightTimeout:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{what}: not shown within {WORK_TIMEOUT_S:.0f} s") from None
        button = page.get_by_role("button", name="Refresh", exact=True)
        if button.count():
            button.first.click()


def walk(page: Any, demo_dir: Path, w: Walk) -> dict[str, float]:
    began = time.monotonic()
    _open(page, f"{w.url}-datasets", "Datasets")
    _open(page, f"{w.url}-training", "Training")
    page.get_by_text("New training job", exact=True).click()
    _choose(page, "Algorithm", w.algorithm)
    _choose(page, "Dataset release", f"{w.dataset} v1")
    job = f"first-{w.url}"
    _type(page, "textbox", "Job name", job)
    for label, value in w.params.items():
        if page.get_by_role("combobox", name=label, exact=True).count():
            _choose(page, label, value)
        else:
            _type(page, "spinbutton", label, value)
    _idle(page)
    page.get_by_role("button", name="Create job").click()
    page.get_by_text(f"job '{job}' created").wait_for()
    page.get_by_role("button", name="Start", exact=True).click()
    started = time.monotonic()
    done = page.locator('[data-testid="stMetric"]').filter(has_text="Status").filter(has_text="completed")
    _until(page, done, f"{w.scenario}: training completed")
    trained = time.monotonic()

    _open(page, f"{w.url}-serving", "Serving")
    page.get_by_text("New serving", exact=True).click()
    _choose(page, "Training job", re.compile(rf"^{re.escape(job)} \(#\d+\)$"))
    _type(page, "textbox", "Serving name", f"live-{w.url}")
    page.get_by_role("button", name="Create and start").click()
    page.get_by_text(f"serving 'live-{w.url}' starting").wait_for()
    creating = time.monotonic()
    running = page.locator('[data-testid="stMetric"]').filter(has_text="Observed").filter(has_text="running")
    _until(page, running, f"{w.scenario}: serving running")
    served = time.monotonic()

    _open(page, f"{w.url}-sandbox", "Sandbox")
    for label, value in w.sandbox.items():
        _type(page, "spinbutton", label, value)
    page.locator('[data-testid="stFileUploader"] input[type="file"]').first.set_input_files(
        [str(demo_dir / w.dataset / name) for name in w.inputs]
    )
    _idle(page)
    page.get_by_role("button", name="Predict", exact=True).click()
    predicting = time.monotonic()
    w.result(page).wait_for(timeout=STEP_TIMEOUT_MS)
    drawn = time.monotonic()
    return {
        "first_prediction": drawn - began,
        "training": trained - started,
        "serving": served - creating,
        "predict": drawn - predicting,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.first_prediction", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--scenario",
        action="append",
        choices=[w.scenario for w in WALKS],
        help="Walk only this scenario (repeatable; default: all six, in the README's order).",
    )
    args = parser.parse_args(argv)
    walks = [w for w in WALKS if not args.scenario or w.scenario in args.scenario]
    from playwright.sync_api import sync_playwright

    rows: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="mlops-bench-first-") as tmp:
        platform = Platform(Path(tmp), components=(*WITHOUT_DASHBOARD, "dashboard"))
        try:
            platform.init()
            began = time.monotonic()
            platform.up()
            up_s = time.monotonic() - began
            began = time.monotonic()
            demo = platform.cli("demo", timeout=600)
            if demo.code != 0:
                raise RuntimeError(f"mlops demo failed: {demo.err}{demo.out}")
            demo_s = time.monotonic() - began
            settings = platform.settings()
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(
                    executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
                )
                page = browser.new_page(viewport={"width": 1440, "height": 1000}, locale="en-US")
                page.set_default_timeout(STEP_TIMEOUT_MS)
                page.goto(f"http://127.0.0.1:{settings.dashboard.port}")
                page.get_by_role("textbox", name="Username").fill(settings.platform.admin_username)
                page.get_by_role("textbox", name="Password").fill(platform.env["MLOPS_ADMIN_PASSWORD"])
                page.get_by_role("button", name="Sign in").click()
                page.locator('[data-testid="stSidebarNav"]').wait_for()
                runtime = get_runtime(settings=settings)
                for job_id, w in enumerate(walks, 1):  # a fresh catalog numbers the jobs from 1
                    try:
                        rows[w.scenario] = walk(page, settings.platform.data_dir / "demo", w)
                        container = runtime.status([f"train-{job_id}"])[f"train-{job_id}"]
                        if container.started_at and container.finished_at:
                            rows[w.scenario]["container"] = (
                                container.finished_at - container.started_at
                            ).total_seconds()
                    except Exception:
                        page.screenshot(
                            path=str(Path(tempfile.gettempdir()) / f"first-prediction-{w.url}.png"),
                            full_page=True,
                        )
                        raise
                    print(f"{w.scenario}: {rows[w.scenario]}", flush=True)
                browser.close()
        finally:
            platform.kill()
    print(f"\nmlops up {up_s:.0f} s, mlops demo {demo_s:.0f} s; seconds per scenario:")
    columns = ["first_prediction", "training", "container", "serving", "predict"]
    print(f"{'scenario':<22}" + "".join(f"{c:>18}" for c in columns))
    for scenario, row in rows.items():
        print(f"{scenario:<22}" + "".join(f"{row.get(c, float('nan')):18.1f}" for c in columns))
    print(f"{'all, one after another':<22}{sum(r['first_prediction'] for r in rows.values()):18.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
