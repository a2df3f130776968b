"""The NATS request/reply bus: a queue-group responder that turns ``{"args", "kwargs"}`` requests into calls.

Wire format (both directions JSON):

- request body ``{"args": [...], "kwargs": {...}}`` (both optional; an empty body means no arguments);
- reply ``{"success": true, "result": ...}`` or ``{"success": false, "error": "..."}``.

Handlers are plain synchronous callables registered by subject suffix (``{namespace}.{suffix}``). Each call
runs in a worker thread (``anyio.to_thread``) so database work never blocks the event loop. A bad request,
bad arguments or a handler error becomes a ``success: false`` reply; the responder itself never stops on
one. Exceptions whose type is in ``expose`` are meant for the caller and sent as their message; anything
else is logged with its traceback and answered ``internal error`` (so no internals leak over the bus).

The connection reconnects forever after the server goes away; nats-py re-subscribes (queue group included)
on reconnect. Several responders in one queue group share the requests: the server hands each to one.
This module knows nothing of the catalog: the NATS responder flow wires the catalog's handlers in.

Events (``publish_once``): the platform publishes on ``{namespace}.events.>`` for subscribers; no responder
handler may sit there (the server also keeps the responder's user from subscribing to them).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any, Self

import anyio.to_thread
import nats
import orjson
from nats.aio.client import Client
from nats.aio.msg import Msg

log = logging.getLogger("mlops.nats")

Handler = Callable[..., Any]
INTERNAL_ERROR = "internal error"
# ``{namespace}.events.>``: what the platform publishes (``publish_once``), never a request subject.
EVENTS_SUFFIX = "events"
_REQUEST_KEYS = frozenset({"args", "kwargs"})


class BadRequest(ValueError):
    """The request could not be understood: not JSON, not the expected shape, or arguments that do not fit."""


def parse_request(data: bytes) -> tuple[list[Any], dict[str, Any]]:
    """``(args, kwargs)`` from a request body, or BadRequest saying what is wrong."""
    if not data.strip():
        return [], {}
    try:
        body = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"the request body is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise BadRequest('the request body must be a JSON object {"args": [...], "kwargs": {...}}')
    unknown = set(body) - _REQUEST_KEYS
    if unknown:
        # Rejected rather than ignored: a misspelt "kwarg" would otherwise silently call with defaults.
        raise BadRequest(f"unknown request field(s): {', '.join(sorted(unknown))}; expected args and kwargs")
    args = body.get("args", [])
    kwargs = body.get("kwargs", {})
    if args is None:
        args = []
    if kwargs is None:
        kwargs = {}
    if not isinstance(args, list):
        raise BadRequest(f'"args" must be a JSON array, not {type(args).__name__}')
    if not isinstance(kwargs, dict):
        raise BadRequest(f'"kwargs" must be a JSON object, not {type(kwargs).__name__}')
    return args, kwargs


def encode_success(result: Any) -> bytes:
    return orjson.dumps({"success": True, "result": result})


def encode_error(message: str) -> bytes:
    return orjson.dumps({"success": False, "error": message})


@dataclass
class ResponderStats:
    """Counters of one responder (tests use them to see how a queue group shared the load)."""

    handled: int = 0
    failed: int = 0
    reconnects: int = 0
    connection_errors: int = 0


class Responder:
    """Answers ``{namespace}.{suffix}`` requests with ``handlers[suffix]`` in queue group ``queue_group``."""

    def __init__(
        self,
        *,
        url: str,
        namespace: str,
        queue_group: str,
        handlers: Mapping[str, Handler],
        expose: tuple[type[BaseException], ...] = (),
        concurrency: int = 8,
        name: str | None = None,
        reconnect_wait: float = 0.5,
        user: str | None = None,
        password: str | None = None,
    ) -> None:
        events = [s for s in handlers if s == EVENTS_SUFFIX or s.startswith(f"{EVENTS_SUFFIX}.")]
        if events:
            # Events are published for subscribers; a handler there would take each one for a request.
            raise ValueError(
                f"{', '.join(events)}: subjects under {namespace}.{EVENTS_SUFFIX} are events, not requests"
            )
        self.url = url
        self._credentials = {"user": user, "password": password} if user else {}
        self.namespace = namespace
        self.queue_group = queue_group
        self.handlers = dict(handlers)
        self.expose = (BadRequest, *expose)
        self.name = name or f"mlops-responder-{namespace}"
        self.reconnect_wait = reconnect_wait
        self.stats = ResponderStats()
        self._signatures = {suffix: inspect.signature(fn) for suffix, fn in self.handlers.items()}
        self._nc: Client | None = None
        self._subs: list[Any] = []
        # Bounds calls in flight: the subscription's delivery loop waits here when all slots are busy, so a
        # flood backs up in NATS (slow-consumer limits) instead of as unbounded tasks in this process.
        self._slots = asyncio.Semaphore(concurrency)
        self._tasks: set[asyncio.Task[None]] = set()
        self._stopped = asyncio.Event()
        # Connection events, for whoever needs to wait on them (tests, health reporting).
        self.disconnected = asyncio.Event()
        self.reconnected = asyncio.Event()

    def subject(self, suffix: str) -> str:
        return f"{self.namespace}.{suffix}"

    @property
    def connected(self) -> bool:
        return self._nc is not None and self._nc.is_connected

    async def wait_reconnected(self) -> None:
        """Return once the connection is back after a disconnect (subscriptions re-sent, flushed)."""
        await self.reconnected.wait()
        assert self._nc is not None
        await self._nc.flush()

    async def start(self) -> None:
        """Connect (waiting for the server as long as it takes) and subscribe to every handler's subject."""
        # With max_reconnect_attempts=-1 nats-py also retries a first connection that fails, so the platform
        # may start this responder before NATS is up.
        self._nc = await nats.connect(
            servers=[self.url],
            name=self.name,
            allow_reconnect=True,
            max_reconnect_attempts=-1,
            reconnect_time_wait=self.reconnect_wait,
            connect_timeout=2,  # type: ignore[arg-type]
            error_cb=self._on_error,
            disconnected_cb=self._on_disconnected,
            reconnected_cb=self._on_reconnected,
            **self._credentials,  # type: ignore[arg-type]
        )
        for suffix in self.handlers:
            self._subs.append(
                await self._nc.subscribe(
                    self.subject(suffix), queue=self.queue_group, cb=partial(self._on_msg, suffix)
                )
            )
        await self._nc.flush()
        log.info(
            "answering %s in queue group %s at %s",
            ", ".join(self.subject(s) for s in self.handlers),
            self.queue_group,
            self.url,
        )

    async def stop(self) -> None:
        """Stop taking requests, answer the ones in flight, then close."""
        nc, self._nc = self._nc, None
        if nc is not None and not nc.is_closed:
            for sub in self._subs:
                try:
                    await sub.unsubscribe()
                except (nats.errors.Error, OSError):
                    pass  # the connection is already gone; closing below is all that is left
            # Before closing: the calls in flight still need the connection to send their replies.
            if self._tasks:
                await asyncio.gather(*self._tasks, return_exceptions=True)
            await nc.close()
        self._subs.clear()
        self._stopped.set()

    async def serve_forever(self, on_ready: Callable[[], object] | None = None) -> None:
        """Start, call ``on_ready`` once subscribed, and answer until ``stop()`` (or cancellation)."""
        await self.start()
        if on_ready is not None:
            on_ready()
        try:
            await self._stopped.wait()
        finally:
            if not self._stopped.is_set():
                await self.stop()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # ---------------------------------------------------------------- message handling

    async def _on_msg(self, suffix: str, msg: Msg) -> None:
        if not msg.reply:
            log.warning("ignoring a message on %s without a reply subject", msg.subject)
            return
        await self._slots.acquire()
        task = asyncio.create_task(self._answer(suffix, msg))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _answer(self, suffix: str, msg: Msg) -> None:
        try:
            reply = await self._call(suffix, msg.data)
            try:
                await msg.respond(reply)
            except (nats.errors.Error, OSError) as exc:
                # The requester or the connection is gone; there is nobody left to tell.
                log.warning("could not reply on %s: %s", msg.subject, exc)
        finally:
            self._slots.release()

    async def _call(self, suffix: str, data: bytes) -> bytes:
        """The encoded reply to one request; never raises."""
        try:
            args, kwargs = parse_request(data)
            try:
                self._signatures[suffix].bind(*args, **kwargs)
            except TypeError as exc:
                raise BadRequest(f"bad arguments for {suffix}: {exc}") from None
            result = await anyio.to_thread.run_sync(partial(self.handlers[suffix], *args, **kwargs))
            reply = encode_success(result)
        except self.expose as exc:
            self.stats.failed += 1
            return encode_error(str(exc) or type(exc).__name__)
        except Exception:
            self.stats.failed += 1
            log.exception("%s failed", self.subject(suffix))
            return encode_error(INTERNAL_ERROR)
        self.stats.handled += 1
        return reply

    # ---------------------------------------------------------------- connection events

    async def _on_error(self, exc: Exception) -> None:
        self.stats.connection_errors += 1
        # A server that is down produces one error per attempt; the first and then every 20th is enough.
        if self.stats.connection_errors % 20 == 1:
            log.warning("NATS connection error (%d so far): %s", self.stats.connection_errors, exc)

    async def _on_disconnected(self) -> None:
        self.reconnected.clear()
        self.disconnected.set()
        log.warning("disconnected from NATS at %s; reconnecting", self.url)

    async def _on_reconnected(self) -> None:
        self.stats.reconnects += 1
        self.disconnected.clear()
        self.reconnected.set()
        log.info("reconnected to NATS at %s", self.url)


async def request(
    nc: Client, subject: str, *args: Any, timeout: float = 5.0, **kwargs: Any
) -> dict[str, Any]:
    """Client side: one request in the wire format, its decoded reply."""
    body = orjson.dumps({"args": list(args), "kwargs": kwargs})
    msg = await nc.request(subject, body, timeout=timeout)
    reply: dict[str, Any] = orjson.loads(msg.data)
    return reply


class PublishError(RuntimeError):
    """A message could not be delivered to the server (unreachable, or the user may not publish there)."""


async def publish_once(
    url: str,
    subject: str,
    body: bytes,
    *,
    user: str | None = None,
    password: str | None = None,
    timeout: float = 5.0,
) -> None:
    """Connect, publish one message, wait until the server has it, close. A permission violation (reported by
    the server asynchronously) is raised as ``PublishError`` rather than lost."""
    errors: list[str] = []

    async def on_error(exc: Exception) -> None:
        errors.append(str(exc))

    credentials = {"user": user, "password": password} if user else {}
    try:
        # nats-py keeps retrying a server that refuses connections (allow_reconnect=False notwithstanding): the
        # deadline is ours.
        nc = await asyncio.wait_for(
            nats.connect(
                servers=[url],
                allow_reconnect=False,
                max_reconnect_attempts=0,
                connect_timeout=timeout,  # type: ignore[arg-type]
                error_cb=on_error,
                **credentials,  # type: ignore[arg-type]
            ),
            timeout=timeout,
        )
    except Exception as exc:
        raise PublishError(f"cannot connect to NATS at {url}: {str(exc) or type(exc).__name__}") from exc
    try:
        await nc.publish(subject, body)
        # Round trips: the server has processed the publish once a PONG arrives, but under load its refusal
        # (-ERR) was once missed after the first one; a second round trip makes a late one far less likely
        # to be missed (not impossible: NATS core has no acknowledgement of a publish).
        await nc.flush(timeout=timeout)
        await nc.flush(timeout=timeout)
    except Exception as exc:
        raise PublishError(f"cannot publish to {subject}: {str(exc) or type(exc).__name__}") from exc
    finally:
        await nc.close()
    if errors:
        raise PublishError(f"NATS refused the message on {subject}: {'; '.join(errors)}")
