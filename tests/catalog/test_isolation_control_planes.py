"""The isolation matrix, control-plane paths: the servers the platform starts, asked directly with no
credentials, a platform user's own credentials, or a forged claim — as another team's member on the same
host could. Every server refuses; and what the platform reads back from them (run tags) never decides
ownership.

Servers are the session fixtures, built from the same specs as `mlops up` (``infra.embedded.components``).
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import uuid
from typing import Any

import httpx
import nats
import pytest

from catalog.errors import NotFoundError
from catalog.services import runs
from infra import tracking
from tests.catalog.isolation_world import World, add_runs

WAIT = 30.0


def _no_trust_env() -> httpx.Client:
    return httpx.Client(timeout=10, trust_env=False)


# ---------------------------------------------------------------- Prefect API


def test_prefect_api_refuses_callers_without_its_auth_string(prefect_server) -> None:  # type: ignore[no-untyped-def]
    """Without it, any local process could run `serving-stop` of any team's serving (the audit said "system")."""
    url = f"{prefect_server.api_url}/deployments/filter"
    user, _, password = prefect_server.auth_string.partition(":")
    with _no_trust_env() as http:
        assert http.post(url, json={}).status_code == 401
        assert http.post(url, json={}, auth=("alice", "alice-platform-password")).status_code == 401
        assert http.post(url, json={}, auth=(user, password + "x")).status_code == 401
        assert (
            http.post(f"{prefect_server.api_url}/flow_runs/", json={"flow_id": str(uuid.uuid4())}).status_code
            == 401
        )
        assert http.post(url, json={}, auth=(user, password)).status_code == 200
        assert http.get(f"{prefect_server.api_url}/health").status_code == 200  # liveness only


# ---------------------------------------------------------------- MLflow


def test_mlflow_refuses_callers_without_the_platforms_credentials(mlflow_server) -> None:  # type: ignore[no-untyped-def]
    set_tag = f"{mlflow_server.uri}/api/2.0/mlflow/runs/set-tag"
    body = {"run_id": "0" * 32, "key": tracking.TAG_JOB, "value": "1"}
    search = f"{mlflow_server.uri}/api/2.0/mlflow/experiments/search"
    with _no_trust_env() as http:
        assert http.post(set_tag, json=body).status_code == 401
        assert http.post(set_tag, json=body, auth=("alice", "alice-platform-password")).status_code == 401
        assert http.post(search, json={"max_results": 1}).status_code == 401
        assert (
            http.get(
                f"{mlflow_server.uri}/get-artifact", params={"path": "x", "run_uuid": "0" * 32}
            ).status_code
            == 401
        )
        ok = http.post(
            search,
            json={"max_results": 1},
            auth=(mlflow_server.settings.username, mlflow_server.settings.password),
        )
        assert ok.status_code == 200


def test_a_run_retagged_with_another_teams_job_stays_that_teams(world: World) -> None:
    """Re-tagging team A's run with team B's job id (possible for anyone who can write to MLflow) once let a
    member of team B list it and download its model. Ownership comes from the catalog's record of the runs it
    created, so the tag changes nothing."""
    add_runs(world)
    mlflow = tracking.client()
    for key, value in ((tracking.TAG_JOB, str(world.job_b)), (tracking.TAG_TEAM, str(world.team_b))):
        mlflow.set_tag(world.run_a, key, value)  # type: ignore[arg-type]
    assert world.run_a not in [r["run_id"] for r in runs.list_runs(actor=world.eve, job_id=world.job_b)]
    for call in (runs.download_model, runs.run_params, runs.metric_names):
        with pytest.raises(NotFoundError):
            call(actor=world.eve, job_id=world.job_b, run_id=world.run_a)  # type: ignore[arg-type]
    # Its own team still has it.
    assert [r["run_id"] for r in runs.list_runs(actor=world.alice, job_id=world.job_a)] == [world.run_a]


# ---------------------------------------------------------------- NATS


def test_nats_refuses_anonymous_and_keeps_each_user_to_its_role(nats_server) -> None:  # type: ignore[no-untyped-def]
    settings = nats_server.settings
    ns = f"{settings.namespace}.t{uuid.uuid4().hex[:8]}"

    async def scenario() -> None:
        for kwargs in (
            {},
            {"user": settings.client_user, "password": "wrong"},
            {"user": "admin", "password": "x"},
        ):
            with pytest.raises(Exception, match="Authorization Violation"):
                await nats.connect(
                    nats_server.url,
                    allow_reconnect=False,
                    max_reconnect_attempts=0,
                    connect_timeout=5,
                    **kwargs,
                )
        violations: list[str] = []

        async def on_error(exc: Exception) -> None:
            violations.append(str(exc))

        # The client user may ask, but not answer in the responders' place or read what is not its own.
        intruder = await nats_server.connect_client(error_cb=on_error)
        responder = await nats.connect(
            nats_server.url, error_cb=on_error, **nats_server.responder_credentials()
        )
        try:
            for subject, queue in (
                (f"{ns}.get_mlops_module_data", settings.queue_group),
                (">", ""),
                ("_INBOX.>", ""),
                (f"{settings.namespace}.>", ""),
            ):
                await intruder.subscribe(subject, queue=queue)
            # ...and the responder may answer, but not ask or read inboxes.
            await responder.subscribe(f"{settings.client_inbox_prefix}.>")
            await responder.publish(f"{ns}.get_mlops_module_list", b"{}")
            await intruder.flush()
            await responder.flush()

            async def all_reported() -> None:
                while len(violations) < 6:
                    await asyncio.sleep(0.05)

            await asyncio.wait_for(all_reported(), WAIT)
        finally:
            await intruder.close()
            await responder.close()
        text = "\n".join(violations).lower()
        assert (
            f'subscription to "{ns}.get_mlops_module_data" using queue "{settings.queue_group}"'.lower()
            in text
        )
        assert 'subscription to ">"' in text and 'subscription to "_inbox.>"' in text
        assert f'subscription to "{settings.client_inbox_prefix}.>"'.lower() in text
        assert f'publish to "{ns}.get_mlops_module_list"'.lower() in text

    asyncio.run(asyncio.wait_for(scenario(), WAIT * 2))


def test_nats_events_come_only_from_the_platform(nats_server) -> None:  # type: ignore[no-untyped-def]
    """``{namespace}.events.>``: the platform's user publishes (and may not subscribe: an event is never taken for
    a request), the client user subscribes and cannot publish there — a forged event never reaches anyone."""
    from infra.natsbus import PublishError, publish_once

    settings = nats_server.settings
    subject = f"{settings.namespace}.events.model"

    async def scenario() -> None:
        violations: list[str] = []

        async def on_error(exc: Exception) -> None:
            violations.append(str(exc).lower())

        listener = await nats_server.connect_client(error_cb=on_error)
        responder = await nats.connect(
            nats_server.url, error_cb=on_error, **nats_server.responder_credentials()
        )
        got: list[bytes] = []
        done = asyncio.Event()

        async def on_msg(msg: Any) -> None:
            got.append(msg.data)
            if msg.data == b"genuine":
                done.set()

        try:
            await listener.subscribe(f"{settings.namespace}.events.>", cb=on_msg)
            await responder.subscribe(f"{settings.namespace}.events.>")
            await listener.publish(subject, b"forged")
            await listener.flush()
            await responder.flush()
            # The platform's publisher reports the server's refusal when given the client user's credentials.
            with pytest.raises(PublishError, match="permissions violation for publish"):
                await publish_once(
                    nats_server.url,
                    subject,
                    b"forged",
                    user=settings.client_user,
                    password=settings.client_password,
                )
            await publish_once(
                nats_server.url, subject, b"genuine", user=settings.user, password=settings.password
            )
            await asyncio.wait_for(done.wait(), WAIT)
            await listener.flush()
        finally:
            await listener.close()
            await responder.close()
        assert got == [b"genuine"]
        text = "\n".join(violations)
        assert f'publish to "{subject}"'.lower() in text
        assert f'subscription to "{settings.namespace}.events.>"'.lower() in text

    asyncio.run(asyncio.wait_for(scenario(), WAIT * 2))


# ---------------------------------------------------------------- S3 (SeaweedFS)


def test_seaweedfs_answers_only_the_s3_api_with_the_platforms_keys(s3_server) -> None:  # type: ignore[no-untyped-def]
    from minio import Minio
    from minio.error import S3Error

    settings = s3_server.settings
    bucket = s3_server.new_bucket()
    try:
        s3_server.store(bucket).put_bytes("secret/object.txt", b"team data")
        wrong = Minio(
            settings.host_port, access_key=settings.access_key, secret_key="not-the-key", secure=False
        )
        with pytest.raises(S3Error):
            wrong.get_object(bucket, "secret/object.txt")
        with _no_trust_env() as http:
            # The filer's and the master's HTTP APIs are off: no reading, listing or deleting around S3, and no
            # deleting a bucket's volumes through the master.
            for method, url in (
                ("GET", f"http://127.0.0.1:{settings.filer_port}/buckets/{bucket}/secret/object.txt"),
                ("GET", f"http://127.0.0.1:{settings.filer_port}/buckets/{bucket}/"),
                ("DELETE", f"http://127.0.0.1:{settings.filer_port}/buckets/{bucket}/secret/object.txt"),
                ("GET", f"http://127.0.0.1:{settings.master_port}/col/delete?collection={bucket}"),
                ("GET", f"http://127.0.0.1:{settings.master_port}/dir/assign"),
            ):
                assert http.request(method, url).status_code == 404, url
            # Volume servers serve file ids only with a JWT signed by the install's keys.
            for method in ("GET", "POST", "DELETE"):
                answer = http.request(method, f"http://127.0.0.1:{settings.volume_port}/1,01637037d6")
                assert answer.status_code == 401, (method, answer.text[:200])
        assert s3_server.store(bucket).get_bytes("secret/object.txt") == b"team data"  # nothing was touched
    finally:
        s3_server.drop_bucket(bucket)


@pytest.mark.parametrize("offset_of", ["master", "volume", "filer", "s3"])
def test_seaweedfs_grpc_ports_need_the_installs_client_certificate(s3_server, offset_of: str) -> None:  # type: ignore[no-untyped-def]
    settings = s3_server.settings
    http_port = {
        "master": settings.master_port,
        "volume": settings.volume_port,
        "filer": settings.filer_port,
        "s3": settings.port,
    }[offset_of]
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.set_alpn_protocols(["h2"])
    with (
        socket.create_connection(("127.0.0.1", http_port + 10000), timeout=10) as raw,
        pytest.raises((ssl.SSLError, ConnectionError)) as refused,
        context.wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        # TLS 1.3: the server checks the (missing) client certificate after the handshake; its refusal arrives
        # on the first read. A gRPC server that accepted us would answer the HTTP/2 preface.
        tls.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00")
        if not tls.recv(1024):
            raise ConnectionError("closed without answering")
    assert "certificate" in str(refused.value).lower() or isinstance(refused.value, ConnectionError)
