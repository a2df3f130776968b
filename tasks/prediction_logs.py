"""Collecting the servings' prediction logs into the object store: the platform's side of
``algorithms.serve.predlog``.

``collect(serving_id)`` pulls the server's batches (``GET /admin/predictions``, the control token) from where the
catalog's cursor (``PredictionLogCursor``) stands, checks each one (Parquet of the declared schema, its sequence
numbers those its headers name, under ``pull_max_bytes``), writes it to
``<prefix>/serving=<id>/date=.../hour=.../<instance>-<first>-<last>.parquet`` in the platform's bucket, then moves
the cursor — the next pull acknowledges it, and only then does the server let the records go. A cursor of an
older instance of the server (it restarted) counts for nothing there. A batch that fails a check is not written
and its records stay on the server; the failure is recorded on the cursor. The server runs a team's model
code, so nothing it sends is trusted: the body is read up to a cap, the instance id must be a plain token, the
batch's first time must be plausible. Delivery is at least once (the server instance and ``seq`` tell repeated
records apart).

Retention (``enforce_retention``): a batch goes once its whole hour is older than ``retention_days``, judged by
the hour in its key (``expired``, pure), never by when the store says it was written.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx

from algorithms.serve.predlog import PARQUET_TYPE, batch_key, schema
from catalog.db import session_scope
from catalog.models import PredictionLogCursor, Serving
from catalog.models.base import utcnow
from catalog.scoping import SYSTEM
from catalog.services import serving as serving_service
from infra.objectstore import ObjectStore
from infra.settings import get_settings
from tasks.serving import inference_url


class CollectError(RuntimeError):
    """A batch the platform will not write (the records stay on the server)."""


@dataclass(frozen=True)
class Collected:
    serving_id: int
    records: int
    batches: int
    keys: tuple[str, ...]
    remaining: int


def log_prefix(serving_id: int) -> str:
    return f"{get_settings().monitoring.prefix}/serving={serving_id}"


def _cursor(serving_id: int) -> PredictionLogCursor:
    with session_scope() as session:
        cursor = session.get(PredictionLogCursor, serving_id)
        if cursor is None:
            cursor = PredictionLogCursor(serving_id=serving_id)
            session.add(cursor)
            session.flush()
        session.expunge(cursor)
    return cursor


def _save(serving_id: int, *, records: int, instance: str = "", after: int = 0, error: str = "") -> None:
    """Record a collection: with ``records``, where the cursor now stands; ``error``: why it stopped ('' none)."""
    with session_scope() as session:
        cursor = session.get(PredictionLogCursor, serving_id)
        assert cursor is not None
        if records:
            cursor.instance, cursor.after = instance, after
            cursor.collected += records
            cursor.batches += 1
        cursor.error = error[:1000]
        cursor.updated_at = utcnow()
        session.add(cursor)


_INSTANCE = re.compile(r"[A-Za-z0-9._-]{1,200}")
# A batch's first record may be this far ahead of the platform's clock (clocks differ a little, never by days).
CLOCK_SKEW = timedelta(hours=1)


def check_batch(
    data: bytes,
    first: int,
    last: int,
    max_bytes: int,
    *,
    now: datetime | None = None,
    max_age_days: float = 3650,
) -> tuple[float, int]:
    """The batch's first timestamp (epoch seconds) and its record count; raises ``CollectError`` unless it is
    Parquet of the declared schema holding exactly the sequence numbers ``first``..``last``, its first record
    neither in the future nor older than ``max_age_days`` (its time picks the partition retention judges)."""
    import pyarrow.parquet as pq

    if len(data) > max_bytes:
        raise CollectError(
            f"the batch is {len(data)} bytes, over MLOPS_MONITORING_PULL_MAX_BYTES ({max_bytes})"
        )
    try:
        table = pq.read_table(io.BytesIO(data))
    except Exception as exc:
        raise CollectError(f"the batch is not Parquet: {str(exc)[:200]}") from exc
    if not table.schema.equals(schema()):
        raise CollectError(f"the batch's columns are not the prediction log's: {str(table.schema)[:300]}")
    seqs = table.column("seq").to_pylist()
    if not seqs or seqs != list(range(first, last + 1)):
        raise CollectError(f"the batch holds sequence numbers other than {first}..{last}")
    at = table.column("timestamp")[0].as_py()
    now = now or datetime.now(UTC)
    if at is None or not now - timedelta(days=max_age_days) <= at <= now + CLOCK_SKEW:
        raise CollectError(f"the batch's first record has an impossible time: {str(at)[:40]}")
    return at.timestamp(), len(seqs)


def _read_capped(response: httpx.Response, max_bytes: int) -> bytes:
    """The body, refused past ``max_bytes`` without reading the rest (the server runs a team's model code)."""
    data = bytearray()
    for chunk in response.iter_bytes():
        data += chunk
        if len(data) > max_bytes:
            raise CollectError(f"the batch is over MLOPS_MONITORING_PULL_MAX_BYTES ({max_bytes})")
    return bytes(data)


def _pulled(
    response: httpx.Response, max_bytes: int, retention_days: float
) -> tuple[bytes, int, int, float, int]:
    """(data, first, last, first time, count) of a 200; ``CollectError`` for anything that is not a batch."""
    if response.headers.get("content-type") != PARQUET_TYPE:
        raise CollectError("the server did not answer Parquet")
    try:
        first, last = int(response.headers["x-first-seq"]), int(response.headers["x-last-seq"])
    except (KeyError, ValueError):
        raise CollectError("the server's batch has no sequence numbers") from None
    data = _read_capped(response, max_bytes)
    first_at, count = check_batch(data, first, last, max_bytes, max_age_days=retention_days)
    return data, first, last, first_at, count


def collect(serving_id: int, *, max_batches: int = 100, timeout: float = 60.0) -> Collected:
    """Pull and store every batch the serving's server holds (at most ``max_batches``); raises ``CollectError``
    (recorded on the cursor) for a batch it will not write, ``httpx.HTTPError`` when the server is unreachable."""
    s = get_settings().monitoring
    with session_scope() as session:
        serving: Serving = serving_service.get_serving(session, actor=SYSTEM, serving_id=serving_id)
    url = inference_url(serving).removesuffix("/predict") + "/admin/predictions"
    headers = {"Authorization": f"Bearer {serving_service.control_token(serving)}"}
    store = ObjectStore(get_settings().s3)
    cursor = _cursor(serving_id)
    instance, after = cursor.instance, cursor.after
    keys: list[str] = []
    records = remaining = 0
    with httpx.Client(timeout=timeout, trust_env=False, headers=headers) as client:
        for _ in range(max_batches):
            params = {"after": after, "limit": s.pull_records, "instance": instance}
            with client.stream("GET", url, params=params) as answer:
                if answer.status_code == 404:
                    break  # the server keeps no log (started before logging, or with a rate of 0)
                answer.raise_for_status()
                server = answer.headers.get("x-instance", "")
                if not _INSTANCE.fullmatch(server):
                    raise _failed(serving_id, CollectError(f"the server names itself {server[:40]!r}"))
                if server != instance:
                    instance, after = server, 0  # a new server: its numbers start again
                remaining = int(answer.headers.get("x-remaining", "0") or 0)
                if answer.status_code == 204:
                    break
                try:
                    data, first, last, first_at, count = _pulled(answer, s.pull_max_bytes, s.retention_days)
                except CollectError as exc:
                    raise _failed(serving_id, exc) from None
            key = batch_key(log_prefix(serving_id), instance, first, last, first_at)
            store.put_bytes(key, data)
            _save(serving_id, instance=instance, after=last, records=count)
            keys.append(key)
            records += count
            after = last
            if not remaining:
                break
        if records:
            # The last batch is acknowledged by the next pull; one more now lets the server free it at once. A
            # courtesy: the batch is written and the cursor moved, so a failure here costs nothing.
            try:
                client.get(url, params={"after": after, "limit": 1, "instance": instance})
            except httpx.HTTPError:
                pass
    if not records:
        _save(serving_id, records=0)
    return Collected(serving_id, records, len(keys), tuple(keys), remaining)


def _failed(serving_id: int, exc: CollectError) -> CollectError:
    _save(serving_id, records=0, error=str(exc))
    return exc


_HOUR = re.compile(r"/serving=\d+/date=(\d{4}-\d{2}-\d{2})/hour=(\d{2})/[^/]+\.parquet$")


def expired(keys: Iterable[str], *, now: datetime, retention_days: float) -> list[str]:
    """The batch keys whose hour ended more than ``retention_days`` before ``now``; keys of another shape (not a
    batch of this layout) are never chosen."""
    cutoff = now - timedelta(days=retention_days)
    out = []
    for key in keys:
        found = _HOUR.search(key)
        if found is None:
            continue
        hour = datetime.strptime(f"{found[1]} {found[2]}", "%Y-%m-%d %H").replace(tzinfo=UTC)
        if hour + timedelta(hours=1) <= cutoff:
            out.append(key)
    return out


def enforce_retention(now: datetime | None = None) -> int:
    """Delete every prediction log batch past its retention; returns how many were deleted."""
    s = get_settings()
    store = ObjectStore(s.s3)
    keys = (o.key for o in store.list(f"{s.monitoring.prefix}/"))
    old = expired(keys, now=now or datetime.now(UTC), retention_days=s.monitoring.retention_days)
    return store.delete_many(old)
