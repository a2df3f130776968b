"""ObjectStore against a real SeaweedFS S3 server: round trips, multipart streams, incomplete multipart
uploads (listed, aborted), presigned URLs, deletes, URI helpers, and errors when the server is down."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import httpx
import pytest

from infra.net import free_port
from infra.objectstore import ObjectStore, ObjectStoreError, format_s3_uri, parse_s3_uri
from infra.settings import ObjectStoreSettings
from tests.fixtures.servers import S3Server


@pytest.fixture
def store(s3_server: S3Server) -> ObjectStore:
    return s3_server.store(s3_server.new_bucket())


class ChunkedStream(io.RawIOBase):
    """A stream of unknown length that produces ``total`` pseudo-random bytes without holding them."""

    def __init__(self, total: int) -> None:
        self.remaining = total
        self.digest = hashlib.sha256()
        self.max_read = 0
        self._counter = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        n = min(len(buffer), self.remaining, 1 << 20)
        if n <= 0:
            return 0
        self.max_read = max(self.max_read, len(buffer))
        block = hashlib.sha256(str(self._counter).encode()).digest() * (n // 32 + 1)
        self._counter += 1
        buffer[:n] = block[:n]
        self.digest.update(block[:n])
        self.remaining -= n
        return n


def test_bytes_round_trip_with_metadata(store: ObjectStore) -> None:
    uri = store.put_bytes("a/b/hello.txt", b"hello world", content_type="text/plain", metadata={"job": "12"})
    assert uri == f"s3://{store.bucket}/a/b/hello.txt"
    assert store.get_bytes("a/b/hello.txt") == b"hello world"
    info = store.stat("a/b/hello.txt")
    assert info.size == 11
    assert info.etag == hashlib.md5(b"hello world").hexdigest()
    assert info.metadata == {"job": "12"}
    assert info.content_type == "text/plain"
    assert store.exists("a/b/hello.txt")
    assert not store.exists("a/b/missing.txt")


def test_missing_object_is_not_found_and_not_transient(store: ObjectStore) -> None:
    with pytest.raises(ObjectStoreError) as err:
        store.get_bytes("nope")
    assert err.value.not_found and not err.value.transient


def test_file_upload_and_download(store: ObjectStore, tmp_path: Path) -> None:
    source = tmp_path / "in.bin"
    source.write_bytes(bytes(range(256)) * 4000)
    store.put_file("files/in.bin", source)
    target = store.download_file("files/in.bin", tmp_path / "sub" / "out.bin")
    assert target.read_bytes() == source.read_bytes()


def test_unknown_length_stream_goes_multipart_with_bounded_reads(store: ObjectStore) -> None:
    part = 5 * 1024 * 1024
    stream = ChunkedStream(total=2 * part + 12345)
    store.put_stream("big/stream.bin", stream, part_size=part)  # type: ignore[arg-type]
    info = store.stat("big/stream.bin")
    assert info.size == 2 * part + 12345
    assert info.etag.endswith("-3")  # S3 marks multipart uploads' etags with their part count
    # Never asked for more than one part (+1 byte: the SDK peeks past a part to detect the last one).
    assert stream.max_read <= part + 1
    digest = hashlib.sha256()
    with store.get_stream("big/stream.bin") as body:
        while chunk := body.read(1 << 20):
            digest.update(chunk)
    assert digest.hexdigest() == stream.digest.hexdigest()


class FailingStream(ChunkedStream):
    """Produces ``total`` bytes, then fails the read: an upload whose source broke mid-way."""

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        if self.remaining <= 0:
            raise OSError("the source broke")
        return super().readinto(buffer)


def start_upload(store: ObjectStore, key: str, parts: int = 1) -> str:
    """An upload as a killed writer leaves it: created, ``parts`` parts sent, never completed (raw SDK calls)."""
    upload_id = store.client._create_multipart_upload(store.bucket, key, {"Content-Type": "application/zip"})
    for number in range(1, parts + 1):
        store.client._upload_part(store.bucket, key, b"p" * (5 * 1024 * 1024), None, upload_id, number)
    return upload_id


def test_incomplete_uploads_are_listed_by_prefix_and_aborted(store: ObjectStore) -> None:
    first = start_upload(store, "releases/1/7/v1.zip")
    second = start_upload(store, "releases/1/7/v1.zip", parts=0)
    other = start_upload(store, "releases/2/9/v2.zip")
    start_upload(store, "datasets/3/big.csv")
    listed = store.incomplete_uploads("releases/")
    assert sorted((u.key, u.upload_id) for u in listed) == sorted(
        [("releases/1/7/v1.zip", first), ("releases/1/7/v1.zip", second), ("releases/2/9/v2.zip", other)]
    )
    assert all(u.bucket == store.bucket and u.initiated is not None for u in listed)
    assert not list(store.list("releases/")), "an incomplete upload is no object"

    store.abort_upload("releases/2/9/v2.zip", other)
    store.abort_upload("releases/2/9/v2.zip", other)  # already gone: not an error
    assert {u.upload_id for u in store.incomplete_uploads("releases/")} == {first, second}
    assert store.abort_incomplete_uploads("releases/1/7/v1.zip") == 2
    assert store.incomplete_uploads("releases/") == []
    assert [u.key for u in store.incomplete_uploads("datasets/")] == ["datasets/3/big.csv"]
    with pytest.raises(ValueError):
        store.abort_incomplete_uploads("")


def test_a_stream_failing_mid_upload_leaves_no_incomplete_upload(store: ObjectStore) -> None:
    part = 5 * 1024 * 1024
    with pytest.raises(ObjectStoreError, match="the source broke"):
        store.put_stream("broken/stream.bin", FailingStream(total=2 * part), part_size=part)  # type: ignore[arg-type]
    # The SDK aborts the upload it created when anything raises inside put_object.
    assert store.incomplete_uploads("broken/") == []
    assert not store.exists("broken/stream.bin")


def test_presigned_url_downloads_without_credentials(store: ObjectStore) -> None:
    store.put_bytes("share/report.csv", b"a,b\n1,2\n")
    url = store.presigned_get_url("share/report.csv", expiry_seconds=60)
    response = httpx.get(url, trust_env=False)
    assert response.status_code == 200 and response.content == b"a,b\n1,2\n"
    # The signature covers the key: pointing the URL elsewhere must be refused.
    tampered = httpx.get(url.replace("report.csv", "other.csv"), trust_env=False)
    assert tampered.status_code == 403


def test_list_and_delete_prefix(store: ObjectStore) -> None:
    for key in ("ds/1/a.csv", "ds/1/b.csv", "ds/1/sub/c.csv", "ds/2/a.csv", "ds/10/a.csv"):
        store.put_bytes(key, key.encode())
    assert [o.key for o in store.list("ds/1/")] == ["ds/1/a.csv", "ds/1/b.csv", "ds/1/sub/c.csv"]
    assert store.delete_prefix("ds/1/") == 3
    assert [o.key for o in store.list("ds/")] == ["ds/10/a.csv", "ds/2/a.csv"]
    store.delete("ds/2/a.csv")
    store.delete("ds/2/a.csv")  # deleting twice is fine (S3 semantics)
    assert store.delete_many([]) == 0
    assert [o.key for o in store.list("ds/")] == ["ds/10/a.csv"]
    with pytest.raises(ValueError):
        store.delete_prefix("")


def test_ensure_bucket_is_idempotent(s3_server: S3Server) -> None:
    store = s3_server.store()
    name = f"idem-{free_port()}"
    store.ensure_bucket(name)
    store.ensure_bucket(name)
    assert store.client.bucket_exists(name)


def test_wrong_credentials_are_a_permanent_error(s3_server: S3Server) -> None:
    settings = s3_server.settings.model_copy(update={"secret_key": "wrong-secret"})
    with pytest.raises(ObjectStoreError) as err:
        ObjectStore(settings).put_bytes("x", b"x", bucket=s3_server.settings.bucket)
    assert not err.value.transient


def test_unreachable_server_is_a_transient_error() -> None:
    settings = ObjectStoreSettings(
        endpoint=f"http://127.0.0.1:{free_port()}", max_retries=0, timeout_seconds=2
    )
    with pytest.raises(ObjectStoreError) as err:
        ObjectStore(settings).exists("x")
    assert err.value.transient


def test_stopped_server_errors_then_data_survives_restart(s3_server: S3Server) -> None:
    store = s3_server.store(s3_server.new_bucket())
    store.put_bytes("keep.txt", b"persisted")
    with s3_server.stopped():
        assert not s3_server.running
        with pytest.raises(ObjectStoreError) as err:
            store.get_bytes("keep.txt")
        assert err.value.transient
    assert s3_server.running
    assert store.get_bytes("keep.txt") == b"persisted"


def test_uri_helpers() -> None:
    assert parse_s3_uri("s3://bucket/a/b.zip") == ("bucket", "a/b.zip")
    assert format_s3_uri("bucket", "/a/b.zip") == "s3://bucket/a/b.zip"
    for bad in ("http://bucket/a", "s3://bucket", "s3:///key", "bucket/key"):
        with pytest.raises(ValueError):
            parse_s3_uri(bad)
