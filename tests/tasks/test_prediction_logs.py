"""Collecting prediction logs (tasks/prediction_logs.py) from a real inference server on the process runtime,
into the real object store (SeaweedFS): every answered request reaches a Parquet batch under the serving's hour
partition, the cursor moves, the server lets collected records go; a restarted server (a new instance, its
numbers starting again) loses nothing to the old cursor; a serving logging nothing is skipped; a batch that is
not the prediction log's is refused before anything is written."""

from __future__ import annotations

import io
from typing import Any

import httpx
import pyarrow.parquet as pq
import pytest

from tests.flows.follow_support import Registered, create_follower, register_versions, seed_model, serving_row

pytestmark = pytest.mark.slow

BODY = {"data": [{"timestamp": "t0", "value": 0.1}, {"timestamp": "t1", "value": 9.0}]}


@pytest.fixture(scope="module")
def registered(mlflow_server: Any) -> Registered:
    return register_versions(mlflow_server.uri)


def set_log_rate(serving_id: int, rate: float) -> None:
    from catalog.db import session_scope
    from catalog.models import Serving

    with session_scope() as session:
        row = session.get(Serving, serving_id)
        assert row is not None
        row.log_rate = rate
        session.add(row)


def predict(serving_id: int, count: int, tag: str) -> list[str]:
    from catalog.services.serving import inference_token
    from tasks.serving import inference_url

    serving = serving_row(serving_id)
    headers = {"Authorization": f"Bearer {inference_token(serving)}"}
    with httpx.Client(timeout=30, trust_env=False, headers=headers) as client:
        answers = [
            client.post(inference_url(serving), json=BODY, headers={"x-request-id": f"{tag}-{i}"})
            for i in range(count)
        ]
    assert all(a.status_code == 200 for a in answers)
    return [a.headers.get("x-request-id", "") for a in answers]


def stored_ids(serving_id: int) -> list[str]:
    from infra.objectstore import ObjectStore
    from infra.settings import get_settings
    from tasks.prediction_logs import log_prefix

    store = ObjectStore(get_settings().s3)
    ids: list[str] = []
    for obj in store.list(log_prefix(serving_id) + "/"):
        assert "/date=" in obj.key and "/hour=" in obj.key, obj.key
        ids += pq.read_table(io.BytesIO(store.get_bytes(obj.key))).column("request_id").to_pylist()
    return ids


def test_every_answer_is_collected_across_a_restart(
    platform: Any, registered: Registered, monkeypatch: pytest.MonkeyPatch
) -> None:
    from catalog.db import session_scope
    from catalog.models import PredictionLogCursor
    from flows.serving import serving_restart, serving_start
    from infra.settings import reset_settings
    from tasks.prediction_logs import collect

    monkeypatch.setenv("MLOPS_MONITORING_PULL_RECORDS", "7")  # several batches per collection
    reset_settings()
    seeded = seed_model(registered, versions=(1,))
    sid = create_follower(seeded, "logged")
    set_log_rate(sid, 1.0)
    serving_start(sid)
    sent = predict(sid, 20, "a")
    got = collect(sid)
    assert (got.records, got.batches, got.remaining) == (20, 3, 0)
    assert sorted(stored_ids(sid)) == sorted(sent)
    with session_scope() as session:
        cursor = session.get(PredictionLogCursor, sid)
        assert cursor is not None and (cursor.after, cursor.collected, cursor.error) == (20, 20, "")
        first_instance = cursor.instance
    assert collect(sid).records == 0  # nothing new; nothing written twice
    assert sorted(stored_ids(sid)) == sorted(sent)

    # A restarted server is a new instance; its numbers start again at 1, under the old cursor's 20.
    sent += predict(sid, 5, "b")  # not collected before the restart: lost with the old server
    serving_restart(sid)
    after = predict(sid, 30, "c")
    got = collect(sid)
    assert got.records == 30 and sorted(stored_ids(sid)) == sorted(sent[:20] + after)
    with session_scope() as session:
        cursor = session.get(PredictionLogCursor, sid)
        assert cursor is not None and cursor.instance != first_instance and cursor.after == 30


def test_a_serving_logging_nothing_is_skipped(platform: Any, registered: Registered) -> None:
    from flows.serving import serving_start
    from tasks.prediction_logs import collect

    seeded = seed_model(registered, versions=(1,))
    sid = create_follower(seeded, "quiet")
    assert serving_row(sid).log_rate == 0.0  # off unless asked for
    serving_start(sid)
    assert predict(sid, 3, "q") == ["", "", ""]  # answers carry no request id: nothing is kept
    assert collect(sid).records == 0 and stored_ids(sid) == []


def test_a_batch_that_is_not_the_logs_is_refused() -> None:
    import time

    from algorithms.serve.predlog import Record, to_parquet
    from tasks.prediction_logs import CollectError, check_batch

    def batch(at: float) -> bytes:
        return to_parquet([(5, Record("r", at, "1", 200, 1.0, b"{}", b"{}"))], 1000)

    now = time.time()
    good = batch(now)
    assert check_batch(good, 5, 5, 10_000) == (pytest.approx(now, abs=0.001), 1)
    for data, first, last, problem in (
        (b"not parquet", 1, 1, "not Parquet"),
        (good, 1, 1, "sequence numbers"),
        (good, 5, 5, "over MLOPS_MONITORING_PULL_MAX_BYTES"),
        (batch(now + 86_400 * 3), 5, 5, "impossible time"),  # its partition would outlive retention
        (batch(1.0), 5, 5, "impossible time"),
    ):
        with pytest.raises(CollectError, match=problem):
            check_batch(data, first, last, 100 if "MAX_BYTES" in problem else 10_000)


def test_monitoring_settings_keep_a_full_buffer_within_one_pull() -> None:
    from pydantic import ValidationError

    from infra.settings import MonitoringSettings

    with pytest.raises(ValidationError, match="at least twice MLOPS_MONITORING_BUFFER_BYTES"):
        MonitoringSettings(buffer_bytes=200 * 1024 * 1024, pull_max_bytes=256 * 1024 * 1024)


def test_retention_chooses_whole_hours_past_it_by_their_key() -> None:
    from datetime import UTC, datetime

    from tasks.prediction_logs import expired

    now = datetime(2026, 3, 31, 12, 30, tzinfo=UTC)
    keys = [
        "predictions/serving=1/date=2026-03-01/hour=11/i-000000000001-000000000002.parquet",  # ended 11:00+1h+30d
        "predictions/serving=1/date=2026-03-01/hour=12/i-000000000003-000000000004.parquet",  # ends 13:00: kept
        "predictions/serving=2/date=2025-12-31/hour=23/i-000000000001-000000000001.parquet",
        "predictions/serving=2/notes.txt",  # not a batch: never chosen
        "predictions/serving=2/date=2025-12-31/hour=23/../../x.parquet",
    ]
    assert expired(keys, now=now, retention_days=30) == [keys[0], keys[2]]
    assert expired(keys, now=now, retention_days=365) == []


def test_retention_deletes_old_batches_from_the_store(
    platform_env: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from datetime import UTC, datetime

    from infra.objectstore import ObjectStore
    from infra.settings import get_settings
    from tasks.prediction_logs import enforce_retention

    store = ObjectStore(get_settings().s3)
    old = "predictions/serving=9/date=2020-01-01/hour=00/i-000000000001-000000000001.parquet"
    new = "predictions/serving=9/date=2026-12-31/hour=23/i-000000000002-000000000002.parquet"
    other = "releases/9/keep.parquet"
    for key in (old, new, other):
        store.put_bytes(key, b"x")
    assert enforce_retention(now=datetime(2027, 1, 1, tzinfo=UTC)) == 1
    assert {o.key for o in store.list("predictions/serving=9/")} == {new}
    assert store.get_bytes(other) == b"x"
