"""A custom job's code runs as an MLflow account of its own, on real servers (MLflow's basic-auth app, SeaweedFS,
Prefect, a live API) with the process runtime: the user's script hands the test the credentials it was given
(``$MLFLOW_TRACKING_USERNAME``/``PASSWORD``, written to a file the test names in the job's env) and waits for a go;
meanwhile the test calls MLflow's REST API with them. They are not the platform's; they may log into the job's
own run, but another team's preset run (created by the platform's own ``prepare_run``) can be neither read nor
written, nor its registered model read, changed or given a version; names the platform will use later, taken by
the code, are taken back before use. Once the job ends — completed, or stopped — the account no longer signs
in (401). The reconciler deletes accounts no start holds (after a crash) and keeps the one in use.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.flows.test_custom_jobs import TRAIN, team  # noqa: F401 - the fixture
from tests.flows.training_support import Seeded, add_release, create_job, in_thread, job_row, wait_for

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def _custom_jobs_on_the_process_runtime(
    monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    """These tests run custom jobs on the process runtime, which refuses them unless told (secure default)."""
    from infra.settings import reset_settings

    if "platform_env" in request.fixturenames:
        request.getfixturevalue("platform_env")  # it sets the test's environment afresh: set this after it
    monkeypatch.setenv("MLOPS_TRAIN_CUSTOM_JOBS_ON_PROCESS", "true")
    reset_settings()


# Hands the account over, then waits until the test says go (a stopped job never hears it).
HANDSHAKE = r"""
import json, os, time
from pathlib import Path

folder = Path(os.environ["HANDSHAKE_DIR"])
keys = ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD", "MLFLOW_RUN_ID", "MLFLOW_EXPERIMENT_ID")
(folder / "account.tmp").write_text(json.dumps({key: os.environ[key] for key in keys}))
(folder / "account.tmp").rename(folder / "account.json")
deadline = time.monotonic() + 300
while not (folder / "go").exists():
    assert time.monotonic() < deadline, "the test never said go"
    time.sleep(0.1)
print("handshake: go", flush=True)
"""


class Account:
    """MLflow's REST API as the job's account."""

    def __init__(self, values: dict[str, str]) -> None:
        from infra.settings import get_settings

        self.username = values["MLFLOW_TRACKING_USERNAME"]
        self.password = values["MLFLOW_TRACKING_PASSWORD"]
        self.run_id = values["MLFLOW_RUN_ID"]
        self.experiment_id = values["MLFLOW_EXPERIMENT_ID"]
        self.uri = get_settings().mlflow.uri

    def call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return httpx.request(
            method, f"{self.uri}{path}", auth=(self.username, self.password), timeout=30, **kwargs
        )

    def get_run(self, run_id: str) -> int:
        return self.call("GET", "/api/2.0/mlflow/runs/get", params={"run_id": run_id}).status_code


def _start_and_shake_hands(job_id: int, folder: Path) -> tuple[Any, Account]:
    from flows.training import train

    outcome = in_thread(train, job_id)
    path = folder / "account.json"
    text = wait_for(
        lambda: path.exists() and path.read_text(),
        timeout=180,
        what="the job's script to hand its account over",
    )
    return outcome, Account(json.loads(text))


def _custom_job(team: dict[str, Any], name: str, script: str, folder: Path) -> int:  # noqa: F811
    folder.mkdir()
    created = team["client"].custom_jobs.create(
        name,
        team["release_id"],
        "python:3.12",
        ["python", "-c", script],
        env={"GREETING": "hello from the job's env", "HANDSHAKE_DIR": str(folder)},
    )
    return int(created.id)


def test_a_custom_job_runs_as_its_own_account_and_it_ends_with_the_job(
    team: dict[str, Any],  # noqa: F811
    tmp_path: Path,
) -> None:
    from catalog.db import session_scope
    from catalog.services.team_tree import create_team
    from infra import tracking, tracking_auth
    from infra.settings import get_settings
    from tasks.job_credentials import account_name
    from tasks.training import prepare_run

    settings = get_settings()
    prefix = settings.mlflow.experiment_prefix
    mlflow = tracking.client()

    # Another team's preset job, as far as MLflow sees it: the run the platform makes in the scenario's experiment
    # (a file in it) and a version of the job's registered model.
    with session_scope() as session:
        other_team = int(create_team(session, actor=team["admin"], name="other-team").id or 0)
    theirs = create_job(Seeded(team["admin"], other_team, add_release(other_team, "theirs")), "their-preset")
    their = prepare_run.fn(theirs, "their-flow-run")
    their_model = job_row(theirs).model_name
    mlflow.log_text(their.run_id, "their weights", "model/weights.txt")
    mlflow.create_model_version(their_model, f"runs:/{their.run_id}/model", run_id=their.run_id)

    job_id = _custom_job(team, "byo-scoped", HANDSHAKE + TRAIN, tmp_path / "scoped")
    later = team["client"].custom_jobs.create(
        "byo-later", team["release_id"], "python:3.12", ["python", "t.py"]
    )
    outcome, account = _start_and_shake_hands(job_id, tmp_path / "scoped")
    job = job_row(job_id)

    # Its own account, named after the start; its own experiment, not the scenario's the presets share.
    assert account.username == account_name(job_id, job.flow_run_id)
    assert account.username.startswith(f"{prefix}-job-{job_id}-")
    assert (account.username, account.password) != (settings.mlflow.username, settings.mlflow.password)
    assert account.run_id == job.mlflow_run_id and account.experiment_id == job.mlflow_experiment_id
    assert mlflow.get_experiment(account.experiment_id).name == f"{prefix}/custom-job-{job_id}"
    assert account.experiment_id != their.experiment_id

    # It may log into its own run...
    own_metric = {"run_id": account.run_id, "key": "from_the_test", "value": 7.0, "timestamp": 1, "step": 0}
    answer = account.call("POST", "/api/2.0/mlflow/runs/log-metric", json=own_metric)
    assert answer.status_code == 200, answer.text
    assert account.get_run(account.run_id) == 200
    # ...and nothing of the other team's, nor administer MLflow.
    their_file = f"/api/2.0/mlflow-artifacts/artifacts/{their.experiment_id}/{their.run_id}/artifacts/model/weights.txt"
    version = {"name": their_model, "source": f"runs:/{account.run_id}/model", "run_id": account.run_id}
    refused = {
        "read their run": ("GET", "/api/2.0/mlflow/runs/get", {"params": {"run_id": their.run_id}}),
        "log into their run": (
            "POST",
            "/api/2.0/mlflow/runs/log-metric",
            {"json": {**own_metric, "run_id": their.run_id}},
        ),
        "end their run": (
            "POST",
            "/api/2.0/mlflow/runs/update",
            {"json": {"run_id": their.run_id, "status": "KILLED"}},
        ),
        "download their file": ("GET", their_file, {}),
        "overwrite their file": ("PUT", their_file, {"content": b"mine now"}),
        "read their model": (
            "GET",
            "/api/2.0/mlflow/registered-models/get",
            {"params": {"name": their_model}},
        ),
        "describe their model": (
            "PATCH",
            "/api/2.0/mlflow/registered-models/update",
            {"json": {"name": their_model, "description": "mine now"}},
        ),
        "add a version to their model": ("POST", "/api/2.0/mlflow/model-versions/create", {"json": version}),
        "delete their model's version": (
            "DELETE",
            "/api/2.0/mlflow/model-versions/delete",
            {"json": {"name": their_model, "version": "1"}},
        ),
        "delete their model": (
            "DELETE",
            "/api/2.0/mlflow/registered-models/delete",
            {"json": {"name": their_model}},
        ),
        "make itself a user": (
            "POST",
            "/api/2.0/mlflow/users/create",
            {"json": {"username": f"{account.username}-2", "password": "x" * 20}},
        ),
    }
    for what, (method, path, kwargs) in refused.items():
        answer = account.call(method, path, **kwargs)
        assert answer.status_code == 403, (what, answer.status_code, answer.text[:300])
    # MLflow shows any account the roster of usernames, but the grants of none but its own.
    roster = account.call("GET", "/api/2.0/mlflow/users/list")
    assert roster.status_code == 200, roster.text[:300]
    assert all(not u["roles"] for u in roster.json()["users"] if u["username"] != account.username)
    search = account.call(
        "POST", "/api/2.0/mlflow/runs/search", json={"experiment_ids": [their.experiment_id]}
    )
    assert search.status_code in (200, 403) and not search.json().get("runs"), search.text[:300]

    # MLflow lets any account create experiments and models, their creator managing them: names the platform
    # will use (the next custom job's) are taken back before the platform uses them.
    later_model = job_row(later.id).model_name
    taken = account.call(
        "POST", "/api/2.0/mlflow/experiments/create", json={"name": f"{prefix}/custom-job-{later.id}"}
    )
    assert taken.status_code == 200, taken.text
    squatted = taken.json()["experiment_id"]
    answer = account.call("POST", "/api/2.0/mlflow/registered-models/create", json={"name": later_model})
    assert answer.status_code == 200, answer.text
    read_squatted = ("GET", "/api/2.0/mlflow/experiments/get", {"params": {"experiment_id": squatted}})
    assert account.call(read_squatted[0], read_squatted[1], **read_squatted[2]).status_code == 200
    assert prepare_run.fn(later.id, "later-flow-run").experiment_id == squatted
    assert account.call(read_squatted[0], read_squatted[1], **read_squatted[2]).status_code == 403
    model_read = account.call("GET", "/api/2.0/mlflow/registered-models/get", params={"name": later_model})
    assert model_read.status_code == 403

    (tmp_path / "scoped" / "go").write_text("go")
    result = outcome.result(timeout=300)
    job = job_row(job_id)
    assert result["status"] == "completed", (job.error, job.log_tail)
    # The code's own logging and registration went through with those rights alone.
    run = mlflow.get_run(job.mlflow_run_id)
    assert run.data.metrics["from_the_test"] == 7.0 and run.data.metrics["train_rows"] == 400
    assert tracking.run_model_versions(mlflow, job.model_name, job.mlflow_run_id) == ["1"]
    # The other team's run and model are as they were.
    assert "from_the_test" not in mlflow.get_run(their.run_id).data.metrics
    assert mlflow.get_run(their.run_id).info.status == "RUNNING"
    model = mlflow.get_registered_model(their_model)
    assert not model.description
    assert [(v.version, v.run_id) for v in mlflow.search_model_versions(f"name = '{their_model}'")] == [
        ("1", their.run_id)
    ]

    # The job is over: so is its account.
    assert account.get_run(account.run_id) == 401
    assert account.username not in tracking_auth.job_users(prefix)


def test_stopping_a_custom_job_deletes_its_account(team: dict[str, Any], tmp_path: Path) -> None:  # noqa: F811
    from flows.training import stop_training

    job_id = _custom_job(team, "byo-stopped", HANDSHAKE, tmp_path / "stopped")
    outcome, account = _start_and_shake_hands(job_id, tmp_path / "stopped")
    assert account.get_run(account.run_id) == 200
    assert stop_training(job_id)["stopped"] is True
    assert outcome.result(timeout=120)["status"] == "stopped"
    assert account.get_run(account.run_id) == 401


@pytest.mark.platform_servers("s3", "mlflow", "prefect")
def test_the_reconciler_deletes_the_accounts_no_start_holds(platform_env: Any) -> None:
    """Accounts as a crash leaves them: the reconciler deletes those of starts that are over (the job's row holds
    another start, is no longer active, or is gone) and keeps the one of the start holding its job, and any
    account that is not a job account of this platform."""
    from catalog.db import session_scope
    from catalog.models import JobStatus
    from catalog.scoping import SYSTEM
    from catalog.services import training as training_service
    from catalog.services.custom_jobs import create_custom_job
    from flows.training import reconcile_training
    from infra import tracking, tracking_auth
    from tasks.job_credentials import account_name, retire
    from tests.flows.training_support import seed_catalog

    seeded = seed_catalog()
    jobs = []
    for name in ("holding", "ended"):
        with session_scope() as session:
            job, _ = create_custom_job(
                session,
                actor=seeded.admin,
                team_id=seeded.team_id,
                name=name,
                release_id=seeded.release_id,
                image="python:3.12",
                command=["python", "t.py"],
            )
            jobs.append(int(job.id or 0))
    holding, ended = jobs
    with session_scope() as session:
        training_service.claim_start(session, actor=SYSTEM, job_id=holding, flow_run_id=str(uuid.uuid4()))
    mlflow = tracking.client()
    experiment = tracking.ensure_experiment(mlflow, "accounts-test")
    tracking.ensure_registered_model(mlflow, "accounts-test-model")

    def account(name: str) -> str:
        tracking_auth.new_job_user(name, experiment_id=experiment, model_name="accounts-test-model")
        return name

    live = account(account_name(holding, job_row(holding).flow_run_id))
    stale = [
        account(account_name(holding, str(uuid.uuid4()))),  # an earlier start of the job
        account(account_name(ended, str(uuid.uuid4()))),  # a job no start holds
        account(account_name(987654, str(uuid.uuid4()))),  # a job that is gone
    ]
    foreign = account(f"elsewhere{uuid.uuid4().hex[:8]}-job-{holding}-{uuid.uuid4().hex[:12]}")
    prefix = platform_env.mlflow.experiment_prefix
    try:
        assert sorted(tracking_auth.job_users(prefix)) == sorted([live, *stale])
        reconcile_training(stale_after_seconds=3600)
        assert tracking_auth.job_users(prefix) == [live]
        assert retire(holding, job_row(holding).flow_run_id) is None and tracking_auth.job_users(prefix) == [
            live
        ]
        with session_scope() as session:
            training_service.mark_finished(session, job_id=holding, status=JobStatus.STOPPED)
        assert retire(holding, job_row(holding).flow_run_id) is None and tracking_auth.job_users(prefix) == []
        assert retire(holding, job_row(holding).flow_run_id) is None  # idempotent
    finally:
        assert tracking_auth.delete_user(foreign)  # never touched: not this platform's


def test_the_account_calls_tell_mlflows_answers_apart(platform_env: Any) -> None:
    """The basic-auth API's error codes, on the real server: deleting an account that is gone is no error, a
    name left by an earlier attempt is taken over (its old password no longer signs in), and an account deleted
    no longer signs in."""
    from infra import tracking, tracking_auth

    mlflow = tracking.client()
    experiment = tracking.ensure_experiment(mlflow, "accounts-codes")
    tracking.ensure_registered_model(mlflow, "accounts-codes-model")
    name = f"codes{uuid.uuid4().hex[:8]}"
    assert tracking_auth.delete_user(name) is False  # RESOURCE_DOES_NOT_EXIST
    first = tracking_auth.new_job_user(name, experiment_id=experiment, model_name="accounts-codes-model")
    second = tracking_auth.new_job_user(name, experiment_id=experiment, model_name="accounts-codes-model")
    assert first.password != second.password  # RESOURCE_ALREADY_EXISTS: deleted and made again

    def signs_in(password: str) -> int:
        return httpx.get(
            f"{platform_env.mlflow.uri}/api/2.0/mlflow/experiments/get",
            params={"experiment_id": experiment},
            auth=(name, password),
            timeout=30,
            trust_env=False,
        ).status_code

    assert (signs_in(first.password), signs_in(second.password)) == (401, 200)
    assert tracking_auth.delete_user(name) is True
    assert (signs_in(second.password), tracking_auth.delete_user(name)) == (401, False)
