"""The NATS responder against a real nats-server: wire format, malformed requests, errors, work off the event
loop, reconnection after a server restart, and load sharing in a queue group."""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from infra.natsbus import INTERNAL_ERROR, Responder, request

WAIT = 60.0  # upper bound for events that normally take milliseconds; never a pause


class Refused(Exception):
    """An error meant for the caller (like the catalog's errors)."""


def add(a: int, b: int = 0) -> int:
    return a + b


def refuse() -> None:
    raise Refused("you may not")


def crash() -> None:
    raise RuntimeError("secret internals")


def unserializable() -> object:
    return object()


HANDLERS = {"add": add, "refuse": refuse, "crash": crash, "unserializable": unserializable}


def run(coro_fn: Callable[[], Awaitable[Any]]) -> Any:
    return asyncio.run(asyncio.wait_for(coro_fn(), timeout=WAIT * 2))


def responder(server: Any, namespace: str, handlers: dict[str, Any] | None = None, **kw: Any) -> Responder:
    """A responder connected as the platform's responder user (the server allows no anonymous client)."""
    return Responder(
        url=server.url,
        namespace=namespace,
        queue_group="q",
        handlers=handlers or HANDLERS,
        expose=(Refused,),
        **server.responder_credentials(),
        **kw,
    )


@pytest.fixture
def ns(nats_server) -> str:  # type: ignore[no-untyped-def]
    # Inside the platform's namespace (the only subjects its users may use), apart from every other test.
    return f"{nats_server.settings.namespace}.t{uuid.uuid4().hex[:10]}"


def test_replies_in_the_wire_format(nats_server, ns: str) -> None:  # type: ignore[no-untyped-def]
    async def scenario() -> None:
        async with responder(nats_server, ns):
            nc = await nats_server.connect_client()
            try:
                assert await request(nc, f"{ns}.add", 2, 3) == {"success": True, "result": 5}
                assert await request(nc, f"{ns}.add", a=1, b=4) == {"success": True, "result": 5}
                raw = await nc.request(f"{ns}.add", b'{"args": [7]}', timeout=WAIT)
                assert raw.data == b'{"success":true,"result":7}'
            finally:
                await nc.close()

    run(scenario)


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b"{not json", "not valid JSON"),
        (b"[1, 2]", "must be a JSON object"),
        (b'{"args": "1"}', '"args" must be a JSON array'),
        (b'{"args": [1], "kwargs": [2]}', '"kwargs" must be a JSON object'),
        (b'{"args": [1], "kwarg": {}}', "unknown request field"),
        (b'{"args": [1, 2, 3]}', "bad arguments for add"),
        (b'{"kwargs": {"c": 1}}', "bad arguments for add"),
        (b"", "bad arguments for add"),
        (b"\xff\xfe", "not valid JSON"),
    ],
)
def test_malformed_requests_fail_without_disturbing_the_responder(  # type: ignore[no-untyped-def]
    nats_server, ns: str, body: bytes, fragment: str
) -> None:
    async def scenario() -> None:
        async with responder(nats_server, ns) as r:
            nc = await nats_server.connect_client()
            try:
                import orjson

                reply = orjson.loads((await nc.request(f"{ns}.add", body, timeout=WAIT)).data)
                assert reply["success"] is False
                assert fragment in reply["error"]
                assert set(reply) == {"success", "error"}
                assert await request(nc, f"{ns}.add", 1, 1) == {"success": True, "result": 2}
                assert r.stats.failed == 1 and r.stats.handled == 1
            finally:
                await nc.close()

    run(scenario)


def test_handler_errors_become_replies(nats_server, ns: str) -> None:  # type: ignore[no-untyped-def]
    async def scenario() -> None:
        async with responder(nats_server, ns):
            nc = await nats_server.connect_client()
            try:
                assert await request(nc, f"{ns}.refuse") == {"success": False, "error": "you may not"}
                # Unexpected errors are logged here, not sent: nothing internal leaks to the caller.
                assert await request(nc, f"{ns}.crash") == {"success": False, "error": INTERNAL_ERROR}
                assert await request(nc, f"{ns}.unserializable") == {
                    "success": False,
                    "error": INTERNAL_ERROR,
                }
                assert (await request(nc, f"{ns}.add", 1))["result"] == 1
            finally:
                await nc.close()

    run(scenario)


def test_blocking_handlers_run_off_the_event_loop(nats_server, ns: str) -> None:  # type: ignore[no-untyped-def]
    release = threading.Event()

    def block() -> str:
        # Returns only once another request has been answered: that needs the loop free while this waits.
        if not release.wait(WAIT):
            raise RuntimeError("never released")
        return "released"

    def unblock() -> str:
        release.set()
        return "ok"

    async def scenario() -> None:
        async with responder(nats_server, ns, {"block": block, "unblock": unblock}):
            nc = await nats_server.connect_client()
            try:
                blocked = asyncio.create_task(request(nc, f"{ns}.block", timeout=WAIT))
                assert (await request(nc, f"{ns}.unblock", timeout=WAIT))["result"] == "ok"
                assert (await blocked)["result"] == "released"
            finally:
                await nc.close()

    run(scenario)


def test_reconnects_after_the_server_restarts(nats_server, ns: str) -> None:  # type: ignore[no-untyped-def]
    async def scenario() -> None:
        async with responder(nats_server, ns, reconnect_wait=0.1) as r:
            nc = await nats_server.connect_client()
            assert (await request(nc, f"{ns}.add", 1, 2))["result"] == 3
            await nc.close()
            with nats_server.stopped():
                await asyncio.wait_for(r.disconnected.wait(), WAIT)
                assert not r.connected
            await asyncio.wait_for(r.wait_reconnected(), WAIT)
            nc = await nats_server.connect_client()
            try:
                assert (await request(nc, f"{ns}.add", 2, 2, timeout=WAIT))["result"] == 4
                assert r.stats.reconnects >= 1
            finally:
                await nc.close()

    run(scenario)


def test_starts_before_the_server_is_up(nats_server, ns: str) -> None:  # type: ignore[no-untyped-def]
    """The platform may start the responder flow before NATS: it keeps trying instead of failing."""

    async def scenario() -> None:
        r = responder(nats_server, ns)
        with nats_server.stopped():
            starting = asyncio.create_task(r.start())

            async def first_attempt_failed() -> None:
                while r.stats.connection_errors == 0:
                    await asyncio.sleep(0.01)

            await asyncio.wait_for(first_attempt_failed(), WAIT)
            assert not starting.done()
        await asyncio.wait_for(starting, WAIT)
        nc = await nats_server.connect_client()
        try:
            assert (await request(nc, f"{ns}.add", 5))["result"] == 5
        finally:
            await nc.close()
            await r.stop()

    run(scenario)


def test_two_responders_share_a_queue_group(nats_server, ns: str) -> None:  # type: ignore[no-untyped-def]
    async def scenario() -> None:
        async with (
            responder(nats_server, ns, name="one") as one,
            responder(nats_server, ns, name="two") as two,
        ):
            nc = await nats_server.connect_client()
            try:
                replies = await asyncio.gather(
                    *(request(nc, f"{ns}.add", i, timeout=WAIT) for i in range(60))
                )
            finally:
                await nc.close()
            assert [r["result"] for r in replies] == list(range(60))
            # Each request answered exactly once, by one member of the group; both members took some.
            assert one.stats.handled + two.stats.handled == 60
            assert one.stats.handled > 0 and two.stats.handled > 0

    run(scenario)


@pytest.mark.parametrize("suffix", ["events", "events.model"])
def test_event_subjects_are_never_request_handlers(suffix: str) -> None:
    with pytest.raises(ValueError, match="are events, not requests"):
        Responder(url="nats://127.0.0.1:9", namespace="mlops", queue_group="q", handlers={suffix: add})
    # A suffix that merely starts with the word is a request subject like any other.
    Responder(url="nats://127.0.0.1:9", namespace="mlops", queue_group="q", handlers={"eventsource": add})


def test_publishing_to_an_unreachable_server_fails_instead_of_waiting_forever() -> None:
    """nats-py retries a refusing server without end; a best-effort publisher (model events) must get its error."""
    import asyncio

    import pytest

    from infra.natsbus import PublishError, publish_once
    from infra.net import free_port

    port = free_port()  # nothing listens there
    with pytest.raises(
        PublishError, match=f"cannot connect to NATS at nats://127.0.0.1:{port}: TimeoutError"
    ):
        asyncio.run(publish_once(f"nats://127.0.0.1:{port}", "ns.events.model", b"{}", timeout=1.0))
