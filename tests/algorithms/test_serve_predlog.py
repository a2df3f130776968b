"""The inference server's prediction log (algorithms/serve/predlog.py): records are kept until the platform
pulls them and lets them go by asking for the next batch; a full buffer drops and counts, never fails an answer;
sampling and the minute's cap hold; through the app in process (starlette TestClient, a real ECOD model) every
answer carries its request id, the pull needs the control token and gives Parquet with the batch's sequence
numbers, keys are partitioned by UTC hour and name the batch."""

from __future__ import annotations

import io
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from pydantic import ValidationError
from starlette.testclient import TestClient

from algorithms.serve import predlog
from algorithms.serve.app import create_app, load_pyfunc
from algorithms.serve.predlog import (
    LogSettings,
    PredictionLog,
    Record,
    batch_key,
    request_id,
    schema,
    to_parquet,
)
from infra.net import wait_until

BODY = {"data": [{"timestamp": "t0", "value": 0.1}, {"timestamp": "t1", "value": 9.0}]}
CONTROL = "control-token-0123456789"
ADMIN = {"Authorization": f"Bearer {CONTROL}"}


class Counts(Counter[str]):
    def __call__(self, outcome: str, n: int) -> None:
        self[outcome] += n


def record(i: int, size: int = 20) -> Record:
    return Record(f"r{i}", time.time(), "1", 200, 1.5, b"{" + b" " * size + b"}", b'{"ok":1}')


def rows(data: bytes) -> list[dict[str, Any]]:
    return pq.read_table(io.BytesIO(data)).to_pylist()  # type: ignore[no-any-return]


def test_keys_are_partitioned_by_utc_date_and_hour_and_name_the_batch() -> None:
    at = 1_780_000_000.0  # 2026-05-28 20:26:40 UTC
    assert batch_key("predictions/serving=7/", "host-1/x", 3, 40, at) == (
        "predictions/serving=7/date=2026-05-28/hour=20/host-1_x-000000000003-000000000040.parquet"
    )


def test_request_ids_are_the_callers_when_plain() -> None:
    assert request_id(b"order-42:retry.1") == "order-42:retry.1"
    for bad in (b"", b"a" * 129, b"x\r\nevil: 1", "é".encode(), None):
        made = request_id(bad)
        assert len(made) == 32 and int(made, 16) >= 0


def test_a_batch_is_parquet_of_the_schema_with_long_bodies_left_out() -> None:
    table = pq.read_table(
        io.BytesIO(to_parquet([(1, record(1)), (2, record(2, size=200))], max_body_bytes=100))
    )
    assert table.schema.equals(schema())
    first, second = table.to_pylist()
    assert (first["seq"], first["request_id"], first["truncated"]) == (1, "r1", False)
    assert second["request"] is None and second["truncated"] and second["response"] == '{"ok":1}'
    assert first["status"] == 200 and first["model_version"] == "1" and first["timestamp"].tzinfo


@pytest.mark.parametrize(
    ("env", "problem"),
    [({"rate": 1.5}, "less than or equal to 1"), ({"buffer_records": 0}, "greater than or equal to 10")],
)
def test_bad_settings_are_refused(env: dict[str, Any], problem: str) -> None:
    with pytest.raises(ValidationError, match=problem):
        LogSettings(enabled=True, **env)


def test_records_stay_until_collected_and_a_full_buffer_drops() -> None:
    counts = Counts()
    log = PredictionLog(LogSettings(enabled=True, buffer_records=10), counts)
    for i in range(15):
        log.submit(record(i))
    assert counts == {"logged": 10, "dropped": 5}
    batch, remaining = log.take(0, 4)
    assert [seq for seq, _ in batch] == [1, 2, 3, 4] and remaining == 6
    assert [seq for seq, _ in log.take(0, 4)[0]] == [1, 2, 3, 4]  # not acknowledged: the same batch again
    batch, remaining = log.take(4, 100)  # 1–4 written: let go
    assert [seq for seq, _ in batch] == list(range(5, 11)) and remaining == 0
    log.submit(record(99))  # room again
    assert [r.request_id for _, r in log.take(10, 100)[0]] == ["r99"]


def test_the_buffer_is_bounded_in_bytes_and_long_bodies_are_not_kept() -> None:
    counts = Counts()
    settings = LogSettings(enabled=True, buffer_bytes=1024, max_body_bytes=100)
    log = PredictionLog(settings, counts)
    long = predlog.record(settings, "big", "1", 200, 1.0, b"x" * 5000, b"{}")
    assert long.request is None and long.size == 2  # only what is kept counts
    for i in range(30):
        log.submit(record(i, size=60))  # 70 bytes each: 14 fit in 1024
    log.submit(long)
    assert counts == {"logged": 15, "dropped": 16}
    log.take(14, 1)  # 14 collected: their bytes are free again
    log.submit(record(99, size=60))
    assert counts["logged"] == 16


def test_sampling_and_the_minutes_cap() -> None:
    counts = Counts()
    log = PredictionLog(LogSettings(enabled=True, rate=0.25, buffer_records=10_000), counts)
    for i in range(4000):
        log.submit(record(i))
    assert abs(counts["logged"] / 4000 - 0.25) < 0.04 and counts["logged"] + counts["sampled_out"] == 4000
    counts = Counts()
    log = PredictionLog(LogSettings(enabled=True, per_minute=50), counts)
    for i in range(80):
        log.submit(record(i))
    # A minute boundary in the middle may let through up to one more minute's worth.
    assert counts["capped"] + counts["logged"] == 80 and 50 <= counts["logged"] <= 80


def serve(model_dir: Path, settings: LogSettings) -> Any:
    return create_app(
        "models:/m/1",
        loader=lambda _: load_pyfunc(str(model_dir)),
        scenario="anomaly_detection",
        control_token=CONTROL,
        prediction_log=settings,
    )


@pytest.fixture()
def client(ecod_model_dir: Path) -> Iterator[TestClient]:
    with TestClient(serve(ecod_model_dir, LogSettings(enabled=True, buffer_records=100))) as c:
        wait_until(lambda: c.get("/ready").status_code == 200, timeout=30, description="ready")
        yield c


def test_answers_carry_their_request_id_and_the_platform_pulls_them(client: TestClient) -> None:
    mine = client.post("/predict", json=BODY, headers={"x-request-id": "order-42"})
    made = client.post("/predict", json=BODY)
    bad = client.post("/predict", content=b"{not json", headers={"content-type": "application/json"})
    assert mine.headers["x-request-id"] == "order-42" and len(made.headers["x-request-id"]) == 32
    assert bad.status_code == 400 and bad.headers["x-request-id"]
    pulled = client.get("/admin/predictions", params={"after": 0, "limit": 2}, headers=ADMIN)
    assert pulled.status_code == 200 and pulled.headers["content-type"] == "application/vnd.apache.parquet"
    assert (pulled.headers["x-first-seq"], pulled.headers["x-last-seq"], pulled.headers["x-remaining"]) == (
        "1",
        "2",
        "1",
    )
    first = rows(pulled.content)
    assert [r["request_id"] for r in first] == ["order-42", made.headers["x-request-id"]]
    assert first[0]["response"] == mine.text and '"value":9.0' in first[0]["request"]
    assert first[0]["model_version"] == "1" and first[0]["latency_ms"] > 0
    rest = client.get("/admin/predictions", params={"after": 2}, headers=ADMIN)
    assert [(r["seq"], r["status"]) for r in rows(rest.content)] == [(3, 400)]
    instance = client.get("/health").json()["instance_id"]
    # A cursor of another instance (a server since restarted) lets nothing go.
    other = client.get("/admin/predictions", params={"after": 3, "instance": "gone-1"}, headers=ADMIN)
    assert other.headers["x-first-seq"] == "3" and other.headers["x-instance"] == instance
    done = client.get("/admin/predictions", params={"after": 3, "instance": instance}, headers=ADMIN)
    assert done.status_code == 204 and done.headers["x-last-seq"] == "3"


def test_the_pull_needs_the_control_token_and_sane_numbers(client: TestClient) -> None:
    client.post("/predict", json=BODY)
    serving_token = {"Authorization": "Bearer not-the-control-token"}
    assert client.get("/admin/predictions", headers=serving_token).status_code == 401
    assert client.get("/admin/predictions").status_code == 401
    for params in ({"after": -1}, {"limit": 0}, {"limit": 50_001}, {"after": "x"}):
        refused = client.get("/admin/predictions", params=params, headers=ADMIN)
        assert refused.status_code == 422 and len(refused.text) < 300, params
    assert client.get("/admin/predictions", headers=ADMIN).status_code == 200  # nothing was let go


def test_a_full_buffer_never_fails_an_answer(client: TestClient) -> None:
    answers = [client.post("/predict", json=BODY) for _ in range(130)]
    assert all(a.status_code == 200 for a in answers)
    metrics = client.app.state.server.metrics.render().decode()  # type: ignore[attr-defined]
    assert 'mlops_prediction_log_records_total{outcome="logged"} 100.0' in metrics
    assert 'mlops_prediction_log_records_total{outcome="dropped"} 30.0' in metrics


def test_logging_off_keeps_nothing_and_says_so(ecod_model_dir: Path) -> None:
    with TestClient(serve(ecod_model_dir, LogSettings())) as c:
        wait_until(lambda: c.get("/ready").status_code == 200, timeout=30, description="ready")
        answer = c.post("/predict", json=BODY)
        assert answer.status_code == 200 and "x-request-id" not in answer.headers
        off = c.get("/admin/predictions", headers=ADMIN)
        assert off.status_code == 404 and off.json()["error"]["code"] == "logging_off"


def test_the_server_refuses_to_start_on_a_bad_log_setting(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from algorithms.serve.__main__ import main

    monkeypatch.setenv("MLOPS_PREDICTION_LOG_ENABLED", "true")
    monkeypatch.setenv("MLOPS_PREDICTION_LOG_RATE", "2")
    assert main(["--model-uri", "models:/m/1", "--no-auth"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("invalid prediction log setting:") and "rate" in err and len(err) < 700
