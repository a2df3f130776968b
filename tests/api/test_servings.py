"""Servings through a live API server: the lifecycle of a serving of a trained ECOD model (flows run by the flow
runner, as `mlops up` runs them) by the SDK and by the CLI from a directory with no catalog access, predict
through the platform's proxy (the same answer as the serving gives its own token holder), a foreign team's
serving read exactly as a missing one on every endpoint, and the proxy's refusals: a malformed body never
reaches the server, a stopped serving is a clear 409, a slow one a 504 that blocks no other request.

The proxy's refusals use a stand-in inference server (a process "container" of the serving's name on the
process runtime) that logs every request it receives, so "never reached it" is observed, not assumed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from infra.net import free_port, http_ok, wait_until
from mlops_lite.client import Client, Conflict, InvalidRequest, NotFound, Unavailable
from tests.flows.test_serving_lifecycle import registered_model, seed_catalog  # noqa: F401 - fixture

FINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}
POINTS = [
    {"timestamp": "2024-01-01T00:00:00", "value": 0.1},
    {"timestamp": "2024-01-01T00:01:00", "value": 0.2},
    {"timestamp": "2024-01-01T00:02:00", "value": 5.0},
]


def follow(api: Any, serving_id: int, flow_run_id: str | None, timeout: float = 240) -> Any:
    """The flow run's progress once it ended (asserted COMPLETED)."""
    assert flow_run_id
    seen: list[Any] = []

    def ended() -> bool:
        seen.append(api.servings.progress(serving_id, flow_run_id))
        return seen[-1].flow_state in FINAL

    wait_until(ended, timeout=timeout, interval=0.5, description=f"flow run {flow_run_id}")
    assert seen[-1].flow_state == "COMPLETED", seen[-1]
    return seen[-1]


def api_post(api_server: Any, path: str, token: str, **kwargs: Any) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}", **kwargs.pop("headers", {})}
    return httpx.post(f"{api_server.url}/api/v1{path}", headers=headers, timeout=60, **kwargs)


def without_timing(answer: dict[str, Any]) -> dict[str, Any]:
    return {**answer, "metadata": {k: v for k, v in answer["metadata"].items() if k != "execution_ms"}}


def metrics_requests(url: str, token: str) -> float:
    """Predict requests the serving itself counted (its Prometheus counter, every status)."""
    text = httpx.get(
        url.removesuffix("/predict") + "/metrics", headers={"Authorization": f"Bearer {token}"}, timeout=10
    ).text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("mlops_predict_requests_total{")
    )


@pytest.mark.slow
def test_lifecycle_and_predict_through_the_api(
    platform_env: Any,
    registered_model: str,  # noqa: F811 - the fixture imported above
    api_server: Any,
    flow_runner: Any,
    tmp_path: Path,
) -> None:
    seeded = seed_catalog(registered_model)
    flow_runner.start()
    with api_server.client() as api:
        created = api.servings.create("live", seeded.job_id)
        serving_id = created.serving.id
        assert created.serving.desired_state == "running" and created.launch is not None
        follow(api, serving_id, created.launch.flow_run_id)
        shown = api.servings.wait(serving_id, timeout=120)
        assert shown.ready is True and shown.url and shown.resolved_version == "2", shown
        assert [s.id for s in api.servings.list(observed_state="running")] == [serving_id]

        # Through the platform: the same answer the serving gives the holder of its own token.
        token = api.servings.token(serving_id)
        payload = {"data": POINTS}
        direct = httpx.post(shown.url, json=payload, headers={"Authorization": f"Bearer {token}"}, timeout=60)
        assert direct.status_code == 200, direct.text
        proxied = api.servings.predict(serving_id, payload)
        assert without_timing(proxied) == without_timing(direct.json())
        assert [r["label"] for r in proxied["results"]] == [0, 0, 1]
        raw = api_post(api_server, f"/servings/{serving_id}/predict", api_server.operator_token, json=payload)
        assert raw.status_code == 200 and raw.headers["content-type"] == "application/json"

        # A malformed body is refused by the API (the serving's own words) and never reaches the serving.
        before = metrics_requests(shown.url, token)
        bad = api_post(
            api_server, f"/servings/{serving_id}/predict", api_server.operator_token, json={"data": "nope"}
        )
        assert bad.status_code == 422, bad.text
        error = bad.json()["error"]
        assert error["code"] == "validation_error" and error["message"].startswith("data: ")
        assert error["details"][0]["field"] == "data"
        with pytest.raises(InvalidRequest, match="timestamp"):
            api.servings.predict(serving_id, {"data": [{"value": 1.0}]})
        assert metrics_requests(shown.url, token) == before

        # Pinning a version restarts the running serving on it.
        changed = api.servings.update(serving_id, model_version="1")
        assert changed.serving.model_version == "1" and changed.launch is not None
        follow(api, serving_id, changed.launch.flow_run_id)
        assert api.servings.wait(serving_id, timeout=120).resolved_version == "1"

        stopped = api.servings.stop(serving_id)
        follow(api, serving_id, stopped.flow_run_id)
        assert api.servings.get(serving_id).observed_state == "not_found"
        with pytest.raises(Conflict, match="is stopped"):
            api.servings.predict(serving_id, payload)
        refused = api_post(
            api_server, f"/servings/{serving_id}/predict", api_server.operator_token, json=payload
        )
        assert refused.status_code == 409
        assert refused.json()["error"]["message"] == (
            f"serving 'live' is stopped; start it (`mlops servings start {serving_id}`)"
        )

        deleted = api.servings.delete(serving_id)
        gone = follow(api, serving_id, deleted.flow_run_id)
        assert gone.status is None  # the run that deleted it still reports, the row is gone
        with pytest.raises(NotFound):
            api.servings.get(serving_id)

    cli_lifecycle(api_server, seeded.job_id, tmp_path)
    assert api_server.operator_token not in api_server.log() and token not in api_server.log()


def cli_env(api_server: Any, tmp_path: Path) -> dict[str, str]:
    """A machine with no catalog access: no database URL, no S3 credentials, a token."""
    return {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "MLOPS_TOKEN": api_server.operator_token,
    }


def cli_lifecycle(api_server: Any, job_id: int, tmp_path: Path) -> None:
    workdir = tmp_path / "elsewhere"
    workdir.mkdir()
    env = cli_env(api_server, tmp_path)

    def mlops(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "cli", "--server", api_server.url, *args],
            env=env,
            cwd=workdir,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )

    created = mlops("servings", "create", "cli-live", "--job", str(job_id), "--json")
    assert created.returncode == 0, created.stderr
    serving = json.loads(created.stdout)
    assert serving["observed_state"] == "running" and serving["flow_run"], serving
    sid = str(serving["id"])
    body = workdir / "req.json"
    body.write_text(json.dumps({"data": POINTS}))
    predicted = mlops("predict", sid, "--file", str(body))
    assert predicted.returncode == 0, predicted.stderr
    assert [r["label"] for r in json.loads(predicted.stdout)["results"]] == [0, 0, 1]
    status = json.loads(mlops("servings", "status", sid, "--json").stdout)
    assert status["ready"] is True and status["url"].endswith("/predict")
    listed = json.loads(mlops("servings", "list", "--json").stdout)
    assert listed["count"] == 1 and listed["items"][0]["name"] == "cli-live"

    stopped = mlops("servings", "stop", sid, "--json")
    assert stopped.returncode == 0, stopped.stderr
    assert json.loads(stopped.stdout)["desired_state"] == "stopped"
    refused = mlops("predict", sid, "--file", str(body))
    assert refused.returncode == 1
    assert (
        refused.stderr.strip()
        == f"error: HTTP 409: serving 'cli-live' is stopped; start it (`mlops servings start {sid}`)"
    )
    deleted = mlops("servings", "delete", sid, "--json")
    assert deleted.returncode == 0 and json.loads(deleted.stdout) == {"id": int(sid), "deleted": True}
    missing = mlops("servings", "status", sid)
    assert missing.returncode == 1 and f"serving {sid} not found" in missing.stderr


@pytest.mark.platform_servers("s3", "prefect")
def test_a_foreign_serving_reads_as_a_missing_one(platform_env: Any, api_server: Any) -> None:
    from catalog.db import session_scope
    from catalog.models import Serving
    from catalog.services import serving as serving_service

    seeded = seed_catalog("unused-model")
    with session_scope() as session:
        theirs = serving_service.create_serving(
            session, actor=seeded.admin, team_id=seeded.team_id, name="theirs", train_job_id=seeded.job_id
        )
    missing = theirs.id + 1000
    bob, _ = Client.login(api_server.url, "bob", "bob-pass-123")
    bob_token = bob.transport._http.headers["Authorization"].removeprefix("Bearer ")
    run_id = str(uuid.uuid4())
    calls: list[tuple[str, str, dict[str, Any]]] = [
        ("GET", "/servings/{id}", {}),
        ("PATCH", "/servings/{id}", {"json": {"model_version": "1"}}),
        ("POST", "/servings/{id}/start", {}),
        ("POST", "/servings/{id}/stop", {}),
        ("POST", "/servings/{id}/remove", {}),
        ("DELETE", "/servings/{id}", {}),
        ("GET", "/servings/{id}/progress", {"params": {"flow_run_id": run_id}}),
        ("GET", "/servings/{id}/token", {}),
        ("POST", "/servings/{id}/predict", {"json": {"data": POINTS}}),
    ]
    for method, path, kwargs in calls:
        answers = []
        for ident in (theirs.id, missing):
            answer = httpx.request(
                method,
                f"{api_server.url}/api/v1{path.format(id=ident)}",
                headers={"Authorization": f"Bearer {bob_token}"},
                timeout=60,
                **kwargs,
            )
            answers.append((answer.status_code, answer.text.replace(str(ident), "ID")))
        assert answers[0] == answers[1], (method, path, answers)
        assert answers[0][0] == 404 and '"code":"not_found"' in answers[0][1], (method, path, answers)
    assert [s.id for s in bob.servings.list()] == []
    # Nor can a serving be made of another team's job, or in another team.
    for job_id in (seeded.job_id, 10**6):
        with pytest.raises(NotFound, match=f"training job {job_id} not found"):
            bob.servings.create("mine", job_id, team_id=seeded.other_team_id, start=False)
    with pytest.raises(NotFound, match=f"team {seeded.team_id} not found"):
        bob.servings.create("mine", seeded.job_id, team_id=seeded.team_id, start=False)
    with session_scope() as session:
        row = session.get(Serving, theirs.id)
        assert row is not None and (row.model_version, row.desired_state) == ("latest", "running")
    bob.close()


# An inference server stand-in: checks the bearer token (argv[2]), logs each request (argv[3]), and answers by
# the first record's value: 2 sleeps 10 s, 3 is "still loading" (503), 4 refuses the token (401), else 200.
STAND_IN = """
import http.server, json, sys, time
port, token, log = int(sys.argv[1]), sys.argv[2], sys.argv[3]
class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        self.answer(200, {"status": "ok"})
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        with open(log, "a") as fh:
            fh.write(json.dumps({"auth": self.headers.get("authorization"), "body": body.decode()}) + "\\n")
        value = json.loads(body)["data"][0]["value"]
        if self.headers.get("authorization") != "Bearer " + token or value == 4:
            return self.answer(401, {"error": {"code": "unauthorized", "message": "wrong token", "details": None}})
        if value == 2:
            time.sleep(10)
        if value == 3:
            return self.answer(503, {"error": {"code": "not_ready", "message": "the model is not loaded yet",
                                               "details": {"load_error": None}}})
        self.answer(200, {"results": [{"echo": value}], "metadata": {"count": 1}})
    def answer(self, status, payload):
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
    def log_message(self, *args):
        pass
http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
"""


@pytest.fixture
def tight_limits(platform_env: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Small predict limits and proxy timeout, for the API server started after this fixture."""
    from infra.settings import reset_settings

    monkeypatch.setenv("MLOPS_PREDICT_MAX_BATCH_SIZE", "5")
    monkeypatch.setenv("MLOPS_PREDICT_MAX_BODY_BYTES", "4000")
    monkeypatch.setenv("MLOPS_API_PROXY_TIMEOUT_SECONDS", "5")
    reset_settings()


@pytest.mark.platform_servers("s3")
def test_the_proxy_refuses_before_sending_and_reports_the_serving(
    tight_limits: None, api_server: Any, tmp_path: Path
) -> None:
    from catalog.db import session_scope
    from catalog.models import DesiredState
    from catalog.services import serving as serving_service
    from infra.runtime.base import ContainerKind, ContainerSpec
    from infra.runtime.registry import get_runtime

    seeded = seed_catalog("unused-model")
    with session_scope() as session:
        serving = serving_service.create_serving(
            session, actor=seeded.admin, team_id=seeded.team_id, name="stand-in", train_job_id=seeded.job_id
        )
        token = serving_service.inference_token(serving)
    log = tmp_path / "received.jsonl"
    log.touch()
    port = free_port()
    runtime = get_runtime()
    runtime.start(
        ContainerSpec(
            name=serving.container_name,
            kind=ContainerKind.SERVE,
            port=port,
            command=[sys.executable, "-c", STAND_IN, str(port), token, str(log)],
        )
    )
    path = f"/servings/{serving.id}/predict"
    operator = api_server.operator_token

    def post(**kwargs: Any) -> httpx.Response:
        return api_post(api_server, path, operator, **kwargs)

    def received() -> list[dict[str, Any]]:
        return [json.loads(line) for line in log.read_text().splitlines()]

    try:
        wait_until(lambda: http_ok(f"http://127.0.0.1:{port}/health"), timeout=30, description="stand-in up")
        with api_server.client() as api:
            shown = api.servings.get(serving.id)  # its live state, asked of the runtime now
            assert (shown.observed_state, shown.observed_port, shown.ready) == ("running", port, True)
            assert shown.url == f"http://127.0.0.1:{port}/predict"
            assert [s.observed_state for s in api.servings.list()] == ["running"]
        # Passed on as sent, with the serving's token (the caller sent only its API token).
        sent = json.dumps({"data": [{"timestamp": 0, "value": 1}]}, indent=1)
        ok = post(content=sent, headers={"Content-Type": "application/json"})
        assert ok.status_code == 200 and ok.json() == {"results": [{"echo": 1}], "metadata": {"count": 1}}
        assert received() == [{"auth": f"Bearer {token}", "body": sent}]

        # Refused by the API, in the inference contract's words; none of them reaches the serving.
        def chunks() -> Any:
            for _ in range(50):
                yield b" " * 100

        refusals = [
            (post(json={"data": "nope"}), 422, "data: Input should be a valid list"),
            (post(json=[1, 2]), 422, "the request body must be a JSON object, got list"),
            (
                post(content=b'{"data": [', headers={"Content-Type": "application/json"}),
                422,
                "not valid JSON",
            ),
            (
                post(content=b"{}", headers={"Content-Type": "text/plain"}),
                415,
                "send the body as application/json",
            ),
            (
                post(json={"data": [{"timestamp": i, "value": 1} for i in range(6)]}),
                413,
                "MLOPS_PREDICT_MAX_BATCH_SIZE",
            ),
            (
                post(json={"data": [{"timestamp": "x" * 5000, "value": 1}]}),
                413,
                "MLOPS_PREDICT_MAX_BODY_BYTES",
            ),
            (
                post(content=chunks(), headers={"Content-Type": "application/json"}),
                413,
                "MLOPS_PREDICT_MAX_BODY_BYTES",
            ),
        ]
        for answer, status, words in refusals:
            assert answer.status_code == status, (words, answer.text)
            assert words in answer.json()["error"]["message"], answer.text
            assert len(answer.content) < 3000
        assert len(received()) == 1

        # The serving's own answers: loading (503), refusing the token (the platform's fault: 502).
        loading = post(json={"data": [{"timestamp": 0, "value": 3}]})
        assert loading.status_code == 503
        assert (
            loading.json()["error"]["message"]
            == "serving 'stand-in' is not ready: the model is not loaded yet"
        )
        assert post(json={"data": [{"timestamp": 0, "value": 4}]}).status_code == 502
        with api_server.client() as api, pytest.raises(Unavailable, match="not loaded yet"):
            api.servings.predict(serving.id, {"data": [{"timestamp": 0, "value": 3}]})

        # Too slow: a 504 at MLOPS_API_PROXY_TIMEOUT_SECONDS, while other requests go on meanwhile.
        slow: list[httpx.Response] = []
        waiting = threading.Thread(
            target=lambda: slow.append(post(json={"data": [{"timestamp": 0, "value": 2}]}))
        )
        started = time.monotonic()
        waiting.start()
        wait_until(lambda: len(received()) == 5, timeout=10, description="the slow request at the stand-in")
        for _ in range(3):
            assert post(json={"data": [{"timestamp": 0, "value": 1}]}).status_code == 200
        assert not slow, "the fast requests were answered while the slow one waited"
        waiting.join(timeout=30)
        assert slow[0].status_code == 504 and 4.5 < time.monotonic() - started < 9.5
        assert (
            "did not answer within 5 s (MLOPS_API_PROXY_TIMEOUT_SECONDS)"
            in slow[0].json()["error"]["message"]
        )

        # Not running: no server of it (409), or stopped (409, says how to start it).
        with api_server.client() as api:
            runtime.remove(serving.container_name, force=True)
            with pytest.raises(Conflict, match="serving 'stand-in' is not running"):
                api.servings.predict(serving.id, {"data": [{"timestamp": 0, "value": 1}]})
            with session_scope() as session:
                serving_service.set_desired(
                    session, actor=seeded.admin, serving_id=serving.id, desired=DesiredState.STOPPED
                )
            with pytest.raises(Conflict, match="is stopped; start it"):
                api.servings.predict(serving.id, {"data": [{"timestamp": 0, "value": 1}]})
    finally:
        runtime.remove(serving.container_name, force=True)
