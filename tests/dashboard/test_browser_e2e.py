"""End to end in a real browser (headless Chromium driven by Playwright) against the platform's own processes:
sign in, create an anomaly dataset and upload a CSV, publish it, train ECOD, start a serving, predict in the
sandbox and see the anomalies drawn on the chart; then, signed in as a viewer of the team, the job's Start is
disabled, and as a member it is enabled.

Every step saves a screenshot to ``test-artifacts/e2e/`` (at the repository root, whatever ``--basetemp``);
a failure also saves ``failure.png``, the page's HTML and the tails of the dashboard and flow-runner logs
there. ``MLOPS_UPDATE_SCREENSHOTS=1`` copies the screenshots to ``docs/screenshots/`` (the README's).

Waits are Playwright's (polling with deadlines); pages that only change when rerun are rerun by their own
Refresh button until the expected state shows or the deadline passes.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from catalog.demo_data import anomaly_dataset, cpu_series
from infra.net import http_ok, wait_until
from tests.fixtures.browser import LiveDashboard

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "e2e"
README_SHOTS = ROOT / "docs" / "screenshots"
STEP_TIMEOUT_MS = 60_000  # one page render on a loaded 2-core machine; most take well under a second
WORK_TIMEOUT_S = 240.0  # a flow run (publish, train, serving start) from click to its outcome on the page


class Steps:
    """Screenshots of the steps, numbered in order."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.taken: list[Path] = []
        self.started = time.monotonic()

    def shot(self, name: str, focus: Any = None) -> None:
        """A screenshot once the page's script run has finished (``focus`` scrolled into view first)."""
        self.page.locator('[data-testid="stApp"][data-test-script-state="notRunning"]').wait_for()
        if focus is not None:
            focus.scroll_into_view_if_needed()
        path = ARTIFACTS / f"{len(self.taken) + 1:02d}-{name}.png"
        self.page.screenshot(path=str(path))
        self.taken.append(path)
        # Reported, not asserted: where the test's time goes.
        print(f"{path.name}: {time.monotonic() - self.started:.1f} s")


@pytest.fixture
def steps(
    browser_page: Any, live_dashboard: LiveDashboard, request: pytest.FixtureRequest
) -> Iterator[Steps]:
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    ARTIFACTS.mkdir(parents=True)
    browser_page.set_default_timeout(STEP_TIMEOUT_MS)
    recorder = Steps(browser_page)
    yield recorder
    report = getattr(request.node, "rep_call", None)
    if report is None or report.failed:
        _save_failure(browser_page, live_dashboard)
        return
    if os.environ.get("MLOPS_UPDATE_SCREENSHOTS") == "1":
        README_SHOTS.mkdir(parents=True, exist_ok=True)
        for path in recorder.taken:
            shutil.copy2(path, README_SHOTS / path.name)


def _save_failure(page: Any, live: LiveDashboard) -> None:
    try:
        page.screenshot(path=str(ARTIFACTS / "failure.png"), full_page=True)
        (ARTIFACTS / "failure.html").write_text(page.content())
    except Exception as exc:  # noqa: BLE001 - the browser may be what failed; keep the logs anyway
        (ARTIFACTS / "failure.txt").write_text(f"no screenshot: {exc}\n")
    logs = live.settings.platform.data_dir / "logs"
    for name in ("dashboard.log", "deployments.log"):
        if (logs / name).exists():
            (ARTIFACTS / name).write_text((logs / name).read_text(errors="replace")[-20_000:])
    from infra.runtime.registry import get_runtime

    runtime = get_runtime()
    for status in runtime.list():  # the training and inference processes, while they still exist
        (ARTIFACTS / f"{status.name}.log").write_text(f"{status}\n\n{runtime.logs(status.name, tail=300)}")
    print(f"\nbrowser test artifacts: {ARTIFACTS}")


def rerun_until(
    refresh: Callable[[], None], shown: Any, *, what: str, timeout: float = WORK_TIMEOUT_S
) -> None:
    """Press the page's Refresh until ``shown`` (a locator) is visible, or fail after ``timeout`` seconds."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    deadline = time.monotonic() + timeout
    while True:
        try:
            shown.wait_for(state="visible", timeout=3_000)
            return
        except PlaywrightTimeout:
            if time.monotonic() > deadline:
                raise AssertionError(f"{what}: not shown within {timeout:.0f} s") from None
        refresh()


def sign_in(page: Any, username: str, password: str) -> None:
    page.get_by_role("textbox", name="Username").fill(username)
    page.get_by_role("textbox", name="Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.locator('[data-testid="stSidebarNav"]').wait_for()


def open_page(page: Any, url_path: str, title: str) -> None:
    """Client-side navigation through the sidebar (the session, and the sign-in, stay)."""
    page.locator(f'[data-testid="stSidebarNav"] a[href$="/{url_path}"]').click()
    page.get_by_role("heading", name=title, exact=True).wait_for()


def choose(page: Any, label: str, option: str) -> None:
    """Pick ``option`` in the select box labelled ``label`` (unless it is already picked)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import expect

    box = page.get_by_role("combobox", name=label, exact=True)
    if box.input_value() == option:
        return
    # A click landing while the app reruns (a button's rerun still in flight) opens a list the rerun closes again:
    # open it until the option shows, within one deadline.
    wanted = page.get_by_role("option", name=option, exact=True)

    def opened() -> bool:
        box.click()
        try:
            wanted.wait_for(timeout=3000)
        except PlaywrightTimeout:
            page.keyboard.press("Escape")
            return False
        return True

    wait_until(opened, timeout=60, interval=0.5, description=f"option {option!r} of {label!r}")
    wanted.click()
    expect(box).to_have_value(option)


@pytest.mark.platform_servers("mlflow", "prefect", "nats")
def test_sign_in_upload_publish_train_serve_and_see_anomalies(  # type: ignore[no-untyped-def]
    chromium_executable: str, live_dashboard: LiveDashboard, browser_page, steps: Steps, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    page = browser_page
    demo = anomaly_dataset()
    train_csv = tmp_path / "cpu-train.csv"
    train_csv.write_bytes(demo.files[0].data)
    # The sandbox input with its labels kept aside: the spikes the chart must mark.
    sample = cpu_series(288, seed=14, start="2024-03-12", anomaly_rate=0.015)
    spikes = int(sample["label"].sum())
    sample_csv = tmp_path / "cpu-sample.csv"
    sample.drop(columns="label").to_csv(sample_csv, index=False)

    # Sign in.
    page.goto(live_dashboard.url)
    page.get_by_role("textbox", name="Username").wait_for()
    steps.shot("sign-in")
    sign_in(page, live_dashboard.admin_username, live_dashboard.admin_password)
    steps.shot("overview")

    # A dataset, and a CSV uploaded into it (flagged train).
    open_page(page, "anomaly-detection-datasets", "Datasets")
    page.get_by_text("New dataset", exact=True).click()
    page.get_by_role("textbox", name="Name").fill("cpu")
    page.get_by_role("button", name="Create", exact=True).click()
    page.get_by_text("dataset 'cpu' created").wait_for()
    page.locator('[data-testid="stFileUploader"] input[type="file"]').first.set_input_files(train_csv)
    page.get_by_role("button", name="Upload", exact=True).click()
    uploaded = page.get_by_text("cpu-train.csv uploaded")
    uploaded.wait_for()
    steps.shot("dataset-uploaded", uploaded)

    # Publish v1: the release panel follows the publish flow by itself.
    page.get_by_role("button", name="Publish", exact=True).click()
    page.get_by_text("publishing started").wait_for()
    published = page.get_by_text("v1 published:")
    published.wait_for(timeout=WORK_TIMEOUT_S * 1000)
    # Once publishing ends the whole page reruns; the release just published is the picked one, and its
    # actions (those of a published release) are offered.
    expect(page.get_by_role("combobox", name="Release", exact=True)).to_have_value("v1")
    page.get_by_role("button", name="Archive", exact=True).wait_for()
    steps.shot("release-published", published)

    # Train ECOD on it: the job's status panel follows the run until it completes.
    open_page(page, "anomaly-detection-training", "Training")
    page.get_by_text("New training job", exact=True).click()
    choose(page, "Algorithm", "ECOD (empirical CDF outlier detection)")
    choose(page, "Dataset release", "cpu v1")
    page.get_by_role("textbox", name="Job name").fill("ecod-e2e")
    page.get_by_role("textbox", name="Job name").press("Enter")
    page.get_by_role("spinbutton", name="Contamination").fill("0.01")
    page.get_by_role("spinbutton", name="Contamination").press("Enter")
    page.get_by_role("button", name="Create job").click()
    page.get_by_text("job 'ecod-e2e' created").wait_for()
    page.get_by_role("button", name="Start", exact=True).click()
    done = page.locator('[data-testid="stMetric"]').filter(has_text="Status").filter(has_text="completed")
    rerun_until(
        lambda: page.get_by_role("button", name="Refresh", exact=True).click(),
        done,
        what="training job completed",
    )
    assert not page.get_by_text("Training failed").count()
    steps.shot("training-completed", done)

    # Serve the trained model.
    open_page(page, "anomaly-detection-serving", "Serving")
    page.get_by_text("New serving", exact=True).click()
    choose(page, "Training job", "ecod-e2e (#1)")
    page.get_by_role("textbox", name="Serving name").fill("cpu-live")
    page.get_by_role("textbox", name="Serving name").press("Enter")
    page.get_by_role("button", name="Create and start").click()
    page.get_by_text("serving 'cpu-live' starting").wait_for()
    running = page.locator('[data-testid="stMetric"]').filter(has_text="Observed").filter(has_text="running")

    def refresh_servings() -> None:
        button = page.get_by_role("button", name="Refresh", exact=True)
        if button.count():
            button.click()
        else:  # the list is still empty: any rerun reads it again
            page.get_by_role("textbox", name="Search").press("Enter")

    rerun_until(refresh_servings, running, what="serving running")
    steps.shot("serving-running", running)
    # "running" means the server process runs; its model may still be loading (predict would answer 503
    # "not loaded yet"). Wait for the inference URL the page shows to report ready, as a user's curl would.
    predict_url = (
        page.locator('[data-testid="stCode"]').filter(has_text="/predict").first.inner_text().strip()
    )
    wait_until(
        lambda: http_ok(predict_url.removesuffix("/predict") + "/ready"),
        timeout=120,
        interval=0.2,
        description=f"{predict_url} ready",
    )

    # Predict in the sandbox: the chart marks the anomalies.
    open_page(page, "anomaly-detection-sandbox", "Sandbox")
    page.locator('[data-testid="stFileUploader"] input[type="file"]').first.set_input_files(sample_csv)
    page.get_by_role("button", name="Predict", exact=True).click()
    chart = page.locator(".js-plotly-plot").first
    chart.wait_for()
    metric = page.locator('[data-testid="stMetric"]').filter(has_text="Anomalies")
    value = metric.locator('[data-testid="stMetricValue"]').inner_text()
    flagged, total = (int(x) for x in value.split("/"))
    assert total == len(sample) and spikes <= flagged <= spikes + 3, value
    # The "anomaly" trace: one red marker per flagged point.
    markers = chart.locator(".scatterlayer .trace").nth(1).locator(".points path")
    assert markers.count() == flagged
    assert chart.locator(".legend").get_by_text("anomaly").count() == 1
    steps.shot("sandbox-anomalies", chart)

    # What a role allows: a viewer of the team sees the job's Start disabled (its tooltip names the
    # permission), a member sees it enabled.
    team_roles(live_dashboard, {"vera": "viewer", "mona": "member"})
    for username, may in (("vera", False), ("mona", True)):
        page.get_by_role("button", name="Sign out").click()
        sign_in(page, username, ROLE_PASSWORD)
        open_page(page, "anomaly-detection-training", "Training")
        expect(page.get_by_role("combobox", name="Job", exact=True)).to_have_value("ecod-e2e (#1)")
        start = page.get_by_role("button", name="Start", exact=True)
        if may:
            expect(start).to_be_enabled()
        else:
            expect(start).to_be_disabled()
            start.hover()
            page.get_by_text("does not grant 'jobs:start'").wait_for()
            steps.shot("viewer-may-not-start", start)
    steps.shot("member-may-start", start)


ROLE_PASSWORD = "role-pass-1234"


def team_roles(live: LiveDashboard, roles: dict[str, str]) -> None:
    """Users with these roles in the administrator's team (where the test's job is)."""
    from catalog.db import session_scope
    from catalog.scoping import SYSTEM
    from catalog.services import teams

    with session_scope() as session:
        team_id = teams.actor_for(session, username=live.admin_username).current_team_id
        assert team_id is not None
        for username, role in roles.items():
            teams.create_user(session, actor=SYSTEM, username=username, password=ROLE_PASSWORD)
            teams.add_member(session, actor=SYSTEM, team_id=team_id, username=username, role=role)


@pytest.mark.platform_servers("mlflow", "prefect", "nats")
def test_the_models_page_shows_the_gates_rejection_rolls_back_and_traces_a_version(  # type: ignore[no-untyped-def]
    chromium_executable: str, live_dashboard: LiveDashboard, browser_page, steps: Steps
) -> None:
    """A model whose versions and gate decisions are made through the services (no training: the gate's flow
    is tested on its own): the rejection is shown with its reason, Roll back moves the champion back, and the
    champion's lineage names its job, release and dataset."""
    from playwright.sync_api import expect

    from catalog.db import session_scope
    from catalog.services import teams
    from tests.dashboard.seed import Catalog, decided, lineup

    with session_scope() as session:
        admin = teams.actor_for(session, username=live_dashboard.admin_username)
    assert admin.current_team_id is not None
    line = lineup(Catalog(admin, admin.current_team_id), "ecod-m", [{"f1": 0.8}, {"f1": 0.85}, {"f1": 0.5}])
    for version, f1 in ((1, 0.8), (2, 0.85)):
        decided(admin, line.model_id, version, {"f1": f1})
    rejected = decided(admin, line.model_id, 3, {"f1": 0.5})

    page = browser_page
    page.goto(live_dashboard.url)
    page.get_by_role("textbox", name="Username").wait_for()
    sign_in(page, live_dashboard.admin_username, live_dashboard.admin_password)
    open_page(page, "anomaly-detection-models", "Models")
    champion = page.locator('[data-testid="stMetric"]').filter(has_text="Champion")
    expect(champion).to_contain_text("v2")
    verdict = page.get_by_text(f"Gate, evaluation #{rejected} of v3: rejected. f1 0.5 of v3 is worse")
    verdict.wait_for()
    steps.shot("model-rejected", verdict)

    page.get_by_role("button", name="Roll back", exact=True).click()
    page.get_by_text("champion rolled back from v2 to v1").wait_for()
    expect(champion).to_contain_text("v1")
    steps.shot("model-rolled-back", champion)

    page.get_by_role("tab", name="Lineage").click()
    choose(page, "Version", "v1")  # the pick made before the rollback (v2, the champion then) stays
    chain = page.locator('[data-testid="stMarkdownContainer"]').filter(
        has_text=f"v1 → run run-{line.job_id}-1 (FINISHED) → job ecod-m (#{line.job_id}) → release cpu v1"
    )
    chain.wait_for()
    steps.shot("model-lineage", chain)
