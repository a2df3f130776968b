"""Swapping the served model in process (starlette TestClient, in-process loaders): a new version loads beside
the old one while clients keep sending, and every answer is wholly one model's, never a half-loaded one's; the
control endpoint answers only the platform's token, before reading a body; a failed load keeps the old model."""

from __future__ import annotations

import asyncio
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from algorithms.serve.app import create_app, load_pyfunc
from infra.net import wait_until

CONTROL = "control-token-0123456789"
TOKEN = "serving-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
ADMIN = {"Authorization": f"Bearer {CONTROL}"}
V1, V2 = "models:/m/1", "models:/m/2"
BODY = {"data": [{"timestamp": "t0", "value": 0.1}, {"timestamp": "t1", "value": 9.0}]}


class Loader:
    """Loads the same ECOD model under every URI; v2's load blocks until ``release`` and its warm-up (the first
    predict after loading) is slow, so a request answered by v2 before it is warmed up would be seen."""

    def __init__(self, model_dir: Path) -> None:
        self.model_dir = model_dir
        self.release = threading.Event()
        self.warmed: dict[str, bool] = {}
        self.early: list[str] = []  # requests that reached a model before its warm-up had finished

    def __call__(self, uri: str) -> Any:
        if uri.endswith("/bad"):
            raise RuntimeError("no such version in the registry")
        if uri == V2:
            assert self.release.wait(30), "the test never released the load"
        pyfunc = load_pyfunc(str(self.model_dir))
        self._watch_warmup(uri, pyfunc.unwrap_python_model())
        return pyfunc

    def _watch_warmup(self, uri: str, model: Any) -> None:
        detect: Callable[..., Any] = model.detect_with_info
        self.warmed[uri] = False

        def watched(*args: Any, **kwargs: Any) -> Any:
            if not self.warmed[uri]:
                if threading.current_thread().name != "model-load":
                    self.early.append(uri)
                time.sleep(
                    0.3
                )  # a slow warm-up: a request reaching the model now would be answered half-ready
                self.warmed[uri] = True
            return detect(*args, **kwargs)

        model.detect_with_info = watched


@pytest.fixture()
def loader(ecod_model_dir: Path) -> Loader:
    return Loader(ecod_model_dir)


@pytest.fixture()
def client(loader: Loader) -> Iterator[TestClient]:
    app = create_app(V1, loader=loader, token=TOKEN, control_token=CONTROL, scenario="anomaly_detection")
    with TestClient(app) as c:
        wait_until(lambda: c.get("/ready").status_code == 200, timeout=30, description="v1 ready")
        yield c


def version_of(response: httpx.Response) -> str | None:
    """The version an answer names, checking the header and the body agree."""
    assert response.status_code == 200, response.text
    header = response.headers.get("x-model-version")
    assert response.json()["metadata"]["model_version"] == header
    return header


def health(client: TestClient) -> dict[str, Any]:
    return client.get("/health").json()


def test_a_new_version_loads_beside_the_old_and_swaps_under_load(client: TestClient, loader: Loader) -> None:
    app_state = client.app.state.server  # type: ignore[attr-defined]
    old = weakref.ref(app_state.loaded.served)
    seen: list[list[str | None]] = [[] for _ in range(4)]
    failures: list[str] = []
    stop = threading.Event()

    def send(out: list[str | None]) -> None:
        while not stop.is_set():
            try:
                out.append(version_of(client.post("/predict", json=BODY, headers=AUTH)))
            except Exception as exc:  # noqa: BLE001 - every failure is reported by the test
                failures.append(repr(exc))

    threads = [threading.Thread(target=send, args=(out,)) for out in seen]
    for thread in threads:
        thread.start()
    accepted = client.post("/admin/model", json={"model_uri": V2, "version": "2"}, headers=ADMIN)
    assert accepted.status_code == 202 and accepted.json()["outcome"] == "started"
    # While v2 loads, v1 answers everything and the server stays ready.
    loading = health(client)
    assert (loading["model_version"], loading["loading_version"]) == ("1", "2")
    assert client.get("/ready").status_code == 200
    before = sum(map(len, seen))
    wait_until(lambda: sum(map(len, seen)) > before + 20, timeout=30, description="answers during the load")
    assert {v for out in seen for v in out} == {"1"}
    loader.release.set()
    wait_until(lambda: health(client)["model_version"] == "2", timeout=30, description="swap to v2")
    swapped = [len(out) for out in seen]
    wait_until(lambda: all(len(out) > n + 5 for out, n in zip(seen, swapped)), timeout=30, description="more")
    stop.set()
    for thread in threads:
        thread.join(30)

    assert not failures, failures[:3]
    assert not loader.early, "a request reached a model before its warm-up had finished"
    for out in seen:
        # Each client saw v1, then v2 from some point on, never anything else and never back.
        assert set(out) == {"1", "2"} and out == sorted(out), out
        # Each client has one request in flight at a time: the one sent before the swap may be answered by v1
        # after /health already shows v2. Every later one is v2's.
        assert set(out[swapped[seen.index(out)] + 1 :]) == {"2"}
    after = health(client)
    assert after["loading_version"] is None and after["load_error"] is None
    assert after["model_uri"] == V2 and client.get("/ready").json()["model_version"] == "2"
    # The old model is released once no request holds it.
    wait_until(lambda: old() is None, timeout=30, description="v1 released")


def test_a_failed_load_keeps_the_old_model_serving(client: TestClient) -> None:
    refused = client.post("/admin/model", json={"model_uri": "models:/m/bad", "version": "3"}, headers=ADMIN)
    assert refused.status_code == 202
    wait_until(lambda: health(client)["load_error"] is not None, timeout=30, description="load error")
    report = health(client)
    assert "no such version" in report["load_error"] and report["loading_version"] is None
    assert report["model_version"] == "1" and client.get("/ready").status_code == 200
    assert version_of(client.post("/predict", json=BODY, headers=AUTH)) == "1"
    # The next load clears the error.
    assert client.post("/admin/model", json={"model_uri": V1, "version": "1"}, headers=ADMIN).json() == {
        "outcome": "served",
        "model_version": "1",
        "loading_version": "1",
    }


def test_errors_a_loaded_model_answers_name_its_version_too(client: TestClient, loader: Loader) -> None:
    bad_json = client.post("/predict", content=b"{nope", headers={**AUTH, "content-type": "application/json"})
    refused = client.post("/predict", json={"data": "nope"}, headers=AUTH)
    assert (bad_json.status_code, refused.status_code) == (400, 422)
    assert bad_json.headers["x-model-version"] == refused.headers["x-model-version"] == "1"
    # Answers no model gave carry none: no token, and a server whose model is not loaded yet.
    assert "x-model-version" not in client.post("/predict", json=BODY).headers
    with TestClient(create_app(V2, loader=loader, token=TOKEN)) as loading:
        early = loading.post("/predict", json=BODY, headers=AUTH)
        assert early.status_code == 503 and "x-model-version" not in early.headers
        loader.release.set()


def test_one_load_at_a_time(client: TestClient, loader: Loader) -> None:
    first = client.post("/admin/model", json={"model_uri": V2, "version": "2"}, headers=ADMIN)
    assert first.status_code == 202
    again = client.post("/admin/model", json={"model_uri": V2, "version": "2"}, headers=ADMIN)
    assert again.status_code == 202 and again.json()["outcome"] == "loading"  # a retried call
    other = client.post("/admin/model", json={"model_uri": "models:/m/3", "version": "3"}, headers=ADMIN)
    assert other.status_code == 409 and other.json()["error"]["details"]["loading_version"] == "2"
    loader.release.set()
    wait_until(lambda: health(client)["model_version"] == "2", timeout=30, description="swap to v2")


@pytest.mark.parametrize(
    "body",
    [
        {"model_uri": V2},
        {"model_uri": V2, "version": "2\r\nx-evil: 1"},
        {"model_uri": V2, "version": 2},
        {"model_uri": "", "version": "2"},
        {"model_uri": V2, "version": "2", "extra": True},
        [V2, "2"],
    ],
)
def test_bad_control_requests_are_refused_and_change_nothing(client: TestClient, body: Any) -> None:
    refused = client.post("/admin/model", json=body, headers=ADMIN)
    assert refused.status_code == 422 and refused.json()["error"]["code"] == "invalid_request"
    assert health(client)["loading_version"] is None and health(client)["model_version"] == "1"


def test_the_control_endpoint_answers_only_the_control_token_before_reading_a_body(
    client: TestClient,
) -> None:
    app = client.app

    async def call(headers: list[tuple[bytes, bytes]]) -> list[dict[str, Any]]:
        sent: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            raise AssertionError("the body of an unauthorized control request was read")

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        scope = {
            "type": "http",
            "method": "POST",
            "path": "/admin/model",
            "headers": headers,
            "query_string": b"",
        }
        await app(scope, receive, send)  # type: ignore[operator]
        return sent

    for headers in (
        [],
        [(b"authorization", f"Bearer {TOKEN}".encode())],
        [(b"authorization", CONTROL.encode())],
    ):
        start = asyncio.run(call(headers))[0]
        assert start["status"] == 401 and (b"www-authenticate", b"Bearer") in start["headers"]
    # The control token is not the serving's token either.
    assert client.post("/predict", json=BODY, headers=ADMIN).status_code == 401
    assert health(client)["model_version"] == "1"


def test_a_server_without_a_control_token_takes_no_control_requests(loader: Loader) -> None:
    with TestClient(create_app(V1, loader=loader, token=TOKEN)) as c:
        refused = c.post("/admin/model", json={"model_uri": V2, "version": "2"}, headers=ADMIN)
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "control_disabled"
        # Not in the document users read.
        assert "/admin/model" not in c.get("/openapi.json").json()["paths"]
