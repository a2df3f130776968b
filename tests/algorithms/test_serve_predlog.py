"""The inference server's prediction log (algorithms/serve/predlog.py): batches by size and by age, partitioned
by UTC hour, a clean stop writes what is queued, a full queue and a failing store drop records and count them
and never fail an answer, sampling and the minute's cap hold; through the app in process (starlette TestClient,
a real ECOD model) every answer carries its request id and is logged with it; and a batch reaches the real
object store (SeaweedFS) as a Parquet file a reader can open."""

from __future__ import annotations

import io
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from pydantic import ValidationError
from starlette.testclient import TestClient

from algorithms.serve.app import create_app, load_pyfunc
from algorithms.serve.predlog import LogSettings, PredictionLog, Record, batch_key, request_id, to_parquet
from infra.net import wait_until

BODY = {"data": [{"timestamp": "t0", "value": 0.1}, {"timestamp": "t1", "value": 9.0}]}
URI = "s3://logs/predictions/serving=7"


class Store:
    """Batches written, in memory; ``fail`` makes the next writes raise, ``gate`` holds them until set."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str], bytes] = {}
        self.fail = False
        self.gate = threading.Event()
        self.gate.set()

    def __call__(self, bucket: str, key: str, data: bytes) -> None:
        self.gate.wait(30)
        if self.fail:
            raise ConnectionError("the store is down")
        self.objects[(bucket, key)] = data

    def rows(self) -> list[dict[str, Any]]:
        return [row for data in self.objects.values() for row in pq.read_table(io.BytesIO(data)).to_pylist()]


class Counts(Counter[str]):
    def __call__(self, outcome: str, n: int) -> None:
        self[outcome] += n


def record(i: int, at: float | None = None, size: int = 20) -> Record:
    return Record(f"r{i}", at or time.time(), "1", 200, 1.5, b"{" + b" " * size + b"}", b'{"ok":1}')


def plog(store: Store, counts: Counts, **settings: Any) -> PredictionLog:
    return PredictionLog(LogSettings(uri=URI, **settings), instance="host-1-ab", counted=counts, writer=store)


def test_keys_are_partitioned_by_utc_date_and_hour() -> None:
    at = 1_780_000_000.0  # 2026-05-28 20:26:40 UTC
    assert batch_key("predictions/serving=7/", "host-1", 3, at) == (
        "predictions/serving=7/date=2026-05-28/hour=20/host-1-000003.parquet"
    )


def test_request_ids_are_the_callers_when_plain() -> None:
    assert request_id(b"order-42:retry.1") == "order-42:retry.1"
    for bad in (b"", b"a" * 129, b"x\r\nevil: 1", "é".encode(), None):
        made = request_id(bad)
        assert len(made) == 32 and int(made, 16) >= 0


def test_a_batch_is_parquet_with_long_bodies_left_out() -> None:
    rows = pq.read_table(
        io.BytesIO(to_parquet([record(1), record(2, size=200)], max_body_bytes=100))
    ).to_pylist()
    assert [r["request_id"] for r in rows] == ["r1", "r2"]
    assert rows[0]["request"] is not None and not rows[0]["truncated"]
    assert rows[1]["request"] is None and rows[1]["truncated"] and rows[1]["response"] == '{"ok":1}'
    assert rows[0]["status"] == 200 and rows[0]["model_version"] == "1" and rows[0]["timestamp"].tzinfo


@pytest.mark.parametrize(
    ("env", "problem"),
    [({"rate": 1.5}, "less than or equal to 1"), ({"batch_records": 0}, "greater than or equal to 1")],
)
def test_bad_settings_are_refused(env: dict[str, Any], problem: str) -> None:
    with pytest.raises(ValidationError, match=problem):
        LogSettings(uri=URI, **env)


def test_batches_are_written_at_their_size_and_at_their_age() -> None:
    store, counts = Store(), Counts()
    log = plog(store, counts, batch_records=10, batch_seconds=0.5)
    for i in range(25):
        # The queue holds one batch: a burst faster than the writer takes them would drop (tested below).
        wait_until(lambda: not log.queue.full(), timeout=10, interval=0.001, description="room")
        log.submit(record(i))
    # Two full batches at once, the last five when the first of them is half a second old.
    wait_until(lambda: counts["written"] == 25, timeout=10, description="all written")
    assert sorted(len(pq.read_table(io.BytesIO(d))) for d in store.objects.values()) == [5, 10, 10]
    assert [r["request_id"] for r in store.rows()] == [f"r{i}" for i in range(25)]
    assert all(bucket == "logs" and "/date=" in key for bucket, key in store.objects)
    log.close()


def test_a_clean_stop_writes_what_is_queued() -> None:
    store, counts = Store(), Counts()
    log = plog(store, counts, batch_records=1000, batch_seconds=3600)
    for i in range(7):
        log.submit(record(i))
    log.close()
    assert counts["written"] == 7 and len(store.rows()) == 7


def test_a_full_queue_and_a_failing_store_drop_and_count() -> None:
    store, counts = Store(), Counts()
    store.gate.clear()  # the writer is stuck on its first batch
    log = plog(store, counts, batch_records=5, batch_seconds=3600)
    for i in range(30):
        log.submit(record(i))  # never blocks
    assert counts["dropped"] > 0
    store.fail = True
    store.gate.set()
    log.close()
    assert counts["failed"] + counts["dropped"] == 30 and counts["written"] == 0 and not store.objects


def test_sampling_and_the_minutes_cap() -> None:
    store, counts = Store(), Counts()
    log = plog(store, counts, rate=0.25, batch_records=100_000)
    for i in range(4000):
        log.submit(record(i))
    log.close()
    assert abs(counts["written"] / 4000 - 0.25) < 0.04 and counts["written"] + counts["sampled_out"] == 4000
    store, counts = Store(), Counts()
    log = plog(store, counts, per_minute=50)
    for i in range(80):
        log.submit(record(i))
    log.close()
    # A minute boundary in the middle may let through up to one more minute's worth.
    assert counts["capped"] + counts["written"] == 80 and 50 <= counts["written"] <= 80


@pytest.fixture()
def served(ecod_model_dir: Path) -> Iterator[tuple[TestClient, Store]]:
    store = Store()
    app = create_app(
        "models:/m/1",
        loader=lambda _: load_pyfunc(str(ecod_model_dir)),
        scenario="anomaly_detection",
        prediction_log=LogSettings(uri=URI, batch_records=1000, batch_seconds=3600),
        log_writer=store,
    )
    with TestClient(app) as client:
        wait_until(lambda: client.get("/ready").status_code == 200, timeout=30, description="ready")
        yield client, store


def test_answers_carry_their_request_id_and_are_logged_at_the_stop(served: tuple[TestClient, Store]) -> None:
    client, store = served
    mine = client.post("/predict", json=BODY, headers={"x-request-id": "order-42"})
    made = client.post("/predict", json=BODY)
    bad = client.post("/predict", content=b"{not json", headers={"content-type": "application/json"})
    assert mine.headers["x-request-id"] == "order-42" and len(made.headers["x-request-id"]) == 32
    assert bad.status_code == 400 and bad.headers["x-request-id"]
    assert not store.objects  # the batch is neither full nor old: nothing written yet
    client.__exit__(None, None, None)  # the server's clean stop
    rows = {r["request_id"]: r for r in store.rows()}
    assert set(rows) == {"order-42", made.headers["x-request-id"], bad.headers["x-request-id"]}
    assert rows["order-42"]["status"] == 200 and rows["order-42"]["model_version"] == "1"
    assert rows["order-42"]["response"] == mine.text and '"value":9.0' in rows["order-42"]["request"]
    assert rows[bad.headers["x-request-id"]]["status"] == 400


def test_a_store_that_is_down_never_fails_an_answer(served: tuple[TestClient, Store]) -> None:
    client, store = served
    store.fail = True
    answers = [client.post("/predict", json=BODY) for _ in range(20)]
    assert all(a.status_code == 200 for a in answers)
    client.__exit__(None, None, None)
    metrics_text = client.app.state.server.metrics.render().decode()  # type: ignore[attr-defined]
    assert 'mlops_prediction_log_records_total{outcome="failed"} 20.0' in metrics_text


def test_a_batch_reaches_the_object_store(s3_server: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    s = s3_server.settings
    monkeypatch.setenv("MLOPS_S3_ENDPOINT", s.endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", s.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", s.secret_key)
    bucket = s3_server.new_bucket("predlog")
    counts = Counts()
    log = PredictionLog(
        LogSettings(uri=f"s3://{bucket}/predictions/serving=3"), instance="host-9", counted=counts
    )
    for i in range(12):
        log.submit(record(i))
    log.close()
    assert counts == {"written": 12}
    store = s3_server.store(bucket)
    keys = [o.key for o in store.list("predictions/serving=3/")]
    assert len(keys) == 1 and keys[0].endswith("/host-9-000000.parquet"), keys
    table = pq.read_table(io.BytesIO(store.get_bytes(keys[0])))
    assert table.column("request_id").to_pylist() == [f"r{i}" for i in range(12)]


def test_the_server_refuses_to_start_on_a_bad_log_setting(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from algorithms.serve.__main__ import main

    monkeypatch.setenv("MLOPS_PREDICTION_LOG_URI", URI)
    monkeypatch.setenv("MLOPS_PREDICTION_LOG_RATE", "2")
    assert main(["--model-uri", "models:/m/1", "--no-auth"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("invalid prediction log setting:") and "rate" in err and len(err) < 700
