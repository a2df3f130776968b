"""The walking skeleton from another machine, in each scenario family: a member's token and the server's URL
are all a script (the SDK, tests/api/remote_skeleton_sdk.py) and the CLI (`mlops --server URL`) get. Both run
in processes whose environment has no database URL and no object-store or MLflow credentials, with an empty
home and data directory, against a live API server that launches the platform's flows as Prefect deployments
(the flow runner as `mlops up` starts it): create a dataset → upload → publish → job → start → wait → serving →
predict (the CLI in two families, ``CLI_FAMILIES``: its commands do not depend on the scenario but for the
files it uploads and the file it predicts with). Afterwards the client's data directory is still empty:
nothing local was ever opened.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from catalog.demo_data import DemoDataset, demo_datasets
from catalog.scenarios import Scenario
from mlops_lite.client import Client
from tests.api.test_servings import follow

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
# One dataset per family (images: classification; detection is the same path with another model), trained
# small enough for the suite.
FAMILIES = {
    "anomaly_detection": {},
    "timeseries_predict": {},
    "log_clustering": {},
    "text_classification": {"n_estimators": 20},
    "image_classification": {"epochs": 1, "imgsz": 32, "batch": 8},
}


# The CLI's commands do not depend on the scenario but for the files: it trains and serves in a tabular family;
# in the image family (a zip upload, an image to predict with) it uploads and publishes that family's files and
# predicts with its file on the SDK's serving. The SDK runs every family.
CLI_TRAINS = "anomaly_detection"
CLI_FAMILIES = (CLI_TRAINS, "image_classification")


def demo_for(scenario: str) -> DemoDataset:
    return demo_datasets([Scenario(scenario)])[0]


def remote_env(tmp_path: Path, server: str, token: str) -> dict[str, str]:
    """What a user's machine has: a PATH, a home, the server and a token. Nothing of the platform's."""
    home = tmp_path / "home"
    (home / "data").mkdir(parents=True, exist_ok=True)
    return {
        "PATH": os.environ["PATH"],
        "HOME": str(home),
        "PYTHONPATH": str(REPO),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "MLOPS_DATA_DIR": str(home / "data"),
        "MLOPS_ENV_FILE": "/nonexistent",
        "MLOPS_SERVER": server,
        "MLOPS_TOKEN": token,
        "DO_NOT_TRACK": "1",
    }


def run(
    argv: list[str], env: dict[str, str], cwd: Path, timeout: float = 1500
) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        argv, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert done.returncode == 0, (
        f"{argv[2:]} → {done.returncode}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    )
    return done


def write_inputs(demo: DemoDataset, where: Path) -> tuple[list[dict[str, Any]], Path]:
    where.mkdir(parents=True, exist_ok=True)
    files = []
    for demo_file in demo.files:
        path = where / demo_file.filename
        path.write_bytes(demo_file.data)
        files.append({"path": str(path), "splits": list(demo_file.splits)})
    sample = where / demo.samples[0].filename
    sample.write_bytes(demo.samples[0].data)
    return files, sample


def assert_answer(scenario: str, answer: dict[str, Any]) -> None:
    assert answer and not answer.get("error"), answer
    text = json.dumps(answer)
    expected = {
        "anomaly_detection": "label",
        "timeseries_predict": "prediction",
        "log_clustering": "template",
        "text_classification": "label",
        "image_classification": "class_name",
    }[scenario]
    assert expected in text, f"{scenario}: {text[:500]}"


@pytest.fixture
def member_token(api_server: Any) -> str:
    """A plain member of the default team, signed in through the token exchange (not the operator)."""
    with api_server.client() as admin:
        team = admin.me().teams[0]
        admin.users.create("dana", "dana-password-1", team_ids=[team.id])
    _, issued = Client.login(api_server.url, "dana", "dana-password-1")
    return issued.token


@pytest.mark.parametrize("scenario", list(FAMILIES))
def test_the_skeleton_runs_from_a_machine_without_catalog_access(
    scenario: str, api_server: Any, flow_runner: Any, member_token: str, tmp_path: Path
) -> None:
    flow_runner.start()
    demo = demo_for(scenario)
    params = {**demo.params, **FAMILIES[scenario]}
    env = remote_env(tmp_path, api_server.url, member_token)
    files, sample = write_inputs(demo, tmp_path / "inputs")

    # The SDK, as a user's script.
    from cli.serving import load_payload

    payload = tmp_path / "payload.json"
    payload.write_text(json.dumps(load_payload(sample, scenario)))
    spec = tmp_path / "spec.json"
    spec.write_text(
        json.dumps(
            {
                "name": f"sdk-{scenario[:12]}",
                "scenario": scenario,
                "files": files,
                "algorithm": demo.algorithm,
                "params": params,
                "payload": str(payload),
            }
        )
    )
    sdk = run([sys.executable, str(REPO / "tests/api/remote_skeleton_sdk.py"), str(spec)], env, tmp_path)
    result = json.loads(sdk.stdout.strip().splitlines()[-1])
    assert (result["release"], result["job"], result["serving"]) == ("published", "completed", "running")
    assert_answer(scenario, result["answer"])

    servings = [result["serving_id"]]
    if scenario in CLI_FAMILIES:
        servings += cli_path(
            scenario, api_server.url, env, tmp_path, files, sample, demo, params, result["serving_id"]
        )
    # Nothing local was opened: no catalog, no secrets, no object-store cache in the client's data dir.
    assert list((tmp_path / "home" / "data").iterdir()) == []
    # The servings deleted through their flows, waited for: a serving process must not outlive the test.
    with api_server.client() as admin:
        for serving_id in servings:
            follow(admin, serving_id, admin.servings.delete(serving_id).flow_run_id)


def cli_path(
    scenario: str,
    server: str,
    env: dict[str, str],
    tmp_path: Path,
    files: list[dict[str, Any]],
    sample: Path,
    demo: DemoDataset,
    params: dict[str, Any],
    sdk_serving: int,
) -> list[int]:
    """The same path with `mlops --server URL` (the token from MLOPS_TOKEN); returns the servings it made. Where
    the CLI does not train it predicts on the SDK's serving (``sdk_serving``)."""

    def mlops(*args: str) -> Any:
        done = run([sys.executable, "-m", "cli", "--server", server, *args], env, tmp_path)
        return json.loads(done.stdout) if "--json" in args else done.stdout

    name = f"cli-{scenario[:12]}"
    dataset = mlops("datasets", "create", name, "--scenario", scenario, "--json")
    for upload in files:
        flags = [f"--{'' if s in upload['splits'] else 'no-'}{s}" for s in ("train", "val", "test")]
        mlops("datasets", "upload", str(dataset["id"]), upload["path"], *flags)
    release = mlops("datasets", "publish", str(dataset["id"]), "--wait", "--json")
    assert release["status"] == "published"
    servings = [sdk_serving]
    if scenario == CLI_TRAINS:
        job = mlops(
            "jobs", "create", f"{name}-job", "-s", scenario, "-a", demo.algorithm, "--release",
            str(release["id"]), "--params", json.dumps(params), "--json",
        )  # fmt: skip
        started = mlops("jobs", "start", str(job["id"]), "--wait", "--json")
        assert started["status"] == "completed", started
        servings.append(mlops("servings", "create", f"{name}-svc", "--job", str(job["id"]), "--json")["id"])
    answer = json.loads(mlops("predict", str(servings[-1]), "--file", str(sample)))  # always JSON
    assert_answer(scenario, answer)
    return servings[1:]
