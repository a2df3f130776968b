"""Datasets and entries on a live API server through the SDK: uploads streamed into the object store (a
single put for a small file, a multipart upload for a large one), listed, flagged and downloaded byte for
byte; refused uploads (over the limit, announced or not; bad content; wrong content type) leave no row, no
object and no unfinished upload; another team's ids read exactly like missing ones."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from api.uploads import PART_SIZE
from infra.net import wait_until
from mlops_lite.client import InvalidRequest, MlopsError, NotFound
from tests.api.datasets_support import (
    blue_team_client,
    log_file,
    same_not_found,
    sha256_of,
    start_api,
    stored,
)
from tests.flows.test_walking_skeleton import make_series

pytestmark = pytest.mark.platform_servers("s3")

LIMIT = (
    3 * PART_SIZE
)  # MLOPS_UPLOAD_MAX_BYTES of the server in these tests: a refused upload sent parts first


@pytest.fixture
def api(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    return start_api(request, monkeypatch, MLOPS_UPLOAD_MAX_BYTES=str(LIMIT))


def test_upload_list_flag_and_download_round_trip(api, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    with api.client() as client:
        cpu = client.datasets.create("cpu", "anomaly_detection")
        csv = make_series(tmp_path / "cpu train.csv", n=500, seed=1, anomalies=[7])
        entry = client.datasets.upload(cpu.id, csv, train=True, test=True)
        assert entry.name == "cpu_train.csv" and entry.size_bytes == csv.stat().st_size
        assert entry.sha256 == sha256_of(csv) and entry.content_type == "text/csv"
        assert (entry.is_train, entry.is_val, entry.is_test) == (True, False, True)
        assert entry.summary["rows"] == 500 and entry.summary["labels"] == {"0": 499, "1": 1}

        logs = client.datasets.create("app", "log_clustering")
        big = log_file(tmp_path / "app.log", int(2.5 * PART_SIZE))  # three parts, the last a short one
        large = client.datasets.upload(logs.id, big, train=False, val=True)
        assert large.size_bytes == big.stat().st_size and large.sha256 == sha256_of(big)
        assert large.summary["lines"] > 100_000

        assert [e.id for e in client.datasets.entries(cpu.id)] == [entry.id]
        assert client.datasets.entries_page(cpu.id, search="nothing-like-it").total == 0
        assert client.datasets.entry(large.id).name == "app.log"
        flagged = client.datasets.flag(entry.id, test=False, val=True)
        assert (flagged.is_train, flagged.is_val, flagged.is_test) == (True, True, False)

        for row, source in ((entry, csv), (large, big)):
            target = client.datasets.download(row.id, tmp_path / f"copy-{row.id}")
            assert sha256_of(target) == sha256_of(source)
        into_dir = client.datasets.download(entry.id, tmp_path)
        assert into_dir == tmp_path / "cpu_train.csv" and into_dir.read_bytes() == csv.read_bytes()
        raw = httpx.get(
            f"{api.url}/api/v1/entries/{large.id}/download",
            headers={"Authorization": f"Bearer {api.operator_token}"},
        )
        assert raw.headers["content-length"] == str(large.size_bytes)
        assert raw.headers["content-disposition"] == 'attachment; filename="app.log"'
        assert raw.headers["x-checksum-sha256"] == large.sha256

    for dataset_id in (cpu.id, logs.id):
        objects, unfinished = stored(f"datasets/{dataset_id}/")
        assert len(objects) == 1 and unfinished == []


def _chunked(path: Path, prefix: str, seen: list[str]) -> Iterator[bytes]:
    """The file as a body of unknown length; past two parts' worth it waits until S3 shows the multipart
    upload those parts went to (so the test knows the body was stored while it arrived), noted in ``seen``."""
    sent = 0
    with path.open("rb") as fh:
        while block := fh.read(1 << 20):
            yield block
            sent += len(block)
            if sent >= 2 * PART_SIZE and not seen:
                wait_until(lambda: bool(stored(prefix)[1]), timeout=60, description="a multipart upload")
                seen.extend(stored(prefix)[1])


def test_refused_uploads_leave_no_row_and_no_object(api, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    headers = {"Authorization": f"Bearer {api.operator_token}"}
    with api.client() as client:
        cpu = client.datasets.create("cpu", "anomaly_detection")
        logs = client.datasets.create("app", "log_clustering")

        broken = tmp_path / "broken.csv"
        broken.write_text("timestamp,value\n2024-01-01,1\n2024-01-02,abc\n")
        with pytest.raises(InvalidRequest, match=r"broken.csv: row 3, column 'value'") as bad:
            client.datasets.upload(cpu.id, broken)
        assert bad.value.status == 422 and bad.value.code == "validation_error"

        # Too big, announced: refused from the headers, before any of the body is read.
        too_big = log_file(tmp_path / "big.log", LIMIT + 1000)
        with pytest.raises(MlopsError, match=r"big.log: \d+ bytes is over the upload limit") as big:
            client.datasets.upload(logs.id, too_big)
        assert (big.value.status, big.value.code) == (413, "payload_too_large")

        # Too big, not announced (chunked): cut off where it passes the limit, after parts went to S3.
        uploading: list[str] = []
        answer = httpx.post(
            f"{api.url}/api/v1/datasets/{logs.id}/entries",
            params={"filename": "big.log"},
            content=_chunked(too_big, f"datasets/{logs.id}/", uploading),
            headers={**headers, "Content-Type": "application/octet-stream"},
            timeout=120,
        )
        assert answer.status_code == 413, answer.text
        assert f"more than {LIMIT} bytes is over the upload limit" in answer.json()["error"]["message"]
        assert uploading and uploading[0].endswith("/big.log"), "parts were stored while the body arrived"

        # Large and refused by validation once it has all arrived (a NUL byte at its end): parts were sent.
        binary = log_file(tmp_path / "binary.log", 2 * PART_SIZE, tail=b"oops\x00\n")
        with pytest.raises(InvalidRequest, match="binary content"):
            client.datasets.upload(logs.id, binary)

        empty = tmp_path / "empty.csv"
        empty.write_bytes(b"")
        with pytest.raises(InvalidRequest, match="the file is empty"):
            client.datasets.upload(cpu.id, empty)

        form = httpx.post(
            f"{api.url}/api/v1/datasets/{cpu.id}/entries",
            params={"filename": "x.csv"},
            files={"file": ("x.csv", b"timestamp,value\n2024-01-01,1\n")},
            headers=headers,
        )
        assert form.status_code == 415 and form.json()["error"]["code"] == "unsupported_media_type"
        no_name = httpx.post(
            f"{api.url}/api/v1/datasets/{cpu.id}/entries",
            content=b"x",
            headers={**headers, "Content-Type": "application/octet-stream"},
        )
        assert no_name.status_code == 422 and "filename" in no_name.json()["error"]["message"]

        for dataset_id in (cpu.id, logs.id):
            assert list(client.datasets.entries(dataset_id)) == []
            assert stored(f"datasets/{dataset_id}/") == ([], [])
        # The connection that was cut off served nothing more; the client's next request works.
        assert client.datasets.get(cpu.id).name == "cpu"


def test_another_teams_dataset_and_entry_read_as_missing(api, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    csv = make_series(tmp_path / "a.csv", n=50, seed=2, anomalies=[])
    with api.client() as admin:
        ours = admin.datasets.create("ours", "anomaly_detection")
        entry = admin.datasets.upload(ours.id, csv)
    missing = 2_000_000
    with blue_team_client(api) as blue:
        calls = {
            "dataset": lambda i: blue.datasets.get(i),
            "entries": lambda i: blue.datasets.entries_page(i),
            "upload": lambda i: blue.datasets.upload(i, csv),
        }
        for call in calls.values():
            errors = []
            for ident in (ours.id, missing):
                with pytest.raises(NotFound) as caught:
                    call(ident)
                errors.append(caught.value)
            same_not_found(errors[0], errors[1], ours.id, missing)
        entry_calls = {
            "entry": lambda i: blue.datasets.entry(i),
            "flag": lambda i: blue.datasets.flag(i, train=False),
            "download": lambda i: blue.datasets.download(i, tmp_path / "stolen"),
        }
        for call in entry_calls.values():
            errors = []
            for ident in (entry.id, missing):
                with pytest.raises(NotFound) as caught:
                    call(ident)
                errors.append(caught.value)
            same_not_found(errors[0], errors[1], entry.id, missing)
        assert not (tmp_path / "stolen").exists()
        assert json.loads(blue.transport.request("GET", "/datasets").text)["total"] == 0
    with api.client() as admin:
        assert admin.datasets.entry(entry.id).is_train, "the flag call changed nothing"
    assert len(stored(f"datasets/{ours.id}/")[0]) == 1, "the refused upload stored nothing"
