"""Small network helpers: picking free local ports and polling for readiness with a deadline.

Shared by the embedded platform (`mlops up`) and the test fixtures, so both wait for servers the same way.
"""

from __future__ import annotations

import random
import socket
import threading
import time
from collections.abc import Callable

import httpx

# Ports handed out by this process: a port picked but not yet bound by its server still looks free, so
# without this two quick calls could return the same port.
_handed_out: set[int] = set()
_lock = threading.Lock()

# Ephemeral ports (32768+) are where the kernel puts outgoing connections; picking below them avoids a
# server losing its port to a client socket between the pick and the bind.
_PICK_RANGE = (20000, 32000)


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    """True when nothing listens on ``host:port`` and it can be bound right now."""
    if not 0 < port < 65536:
        return False
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        # Servers set SO_REUSEADDR too: without it, connections of a just-stopped server lingering in
        # TIME_WAIT would make its port look busy and a restart on the same port fail.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str = "127.0.0.1", *, companion_offsets: tuple[int, ...] = ()) -> int:
    """A free port on ``host``; ``companion_offsets`` are offsets that must be free too.

    SeaweedFS opens a gRPC port at every HTTP port + 10000, hence ``companion_offsets=(10000,)``.
    """
    rng = random.Random()
    with _lock:
        for _ in range(2000):
            port = rng.randint(*_PICK_RANGE)
            wanted = [port, *(port + off for off in companion_offsets)]
            if any(p in _handed_out for p in wanted):
                continue
            if all(port_is_free(p, host) for p in wanted):
                _handed_out.update(wanted)
                return port
    raise RuntimeError(f"no free port found on {host}")


def free_ports(count: int, host: str = "127.0.0.1", *, companion_offsets: tuple[int, ...] = ()) -> list[int]:
    return [free_port(host, companion_offsets=companion_offsets) for _ in range(count)]


def http_ok(url: str, timeout: float = 2.0) -> bool:
    """True when GET ``url`` answers 2xx; any connection problem is simply "not yet"."""
    try:
        # trust_env=False: a proxy configured in the environment must never see loopback health checks.
        response = httpx.get(url, timeout=timeout, trust_env=False)
    except httpx.HTTPError:
        return False
    return 200 <= response.status_code < 300


def wait_until(
    predicate: Callable[[], bool],
    *,
    timeout: float,
    interval: float = 0.1,
    description: str = "condition",
    abort: Callable[[], str | None] | None = None,
) -> None:
    """Poll ``predicate`` until it is true or ``timeout`` seconds pass (then ``TimeoutError``).

    ``abort`` is checked on every round; when it returns a message the wait stops at once with
    ``RuntimeError(message)`` (e.g. the server process exited, so waiting longer is pointless).
    """
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return
        if abort is not None:
            reason = abort()
            if reason:
                raise RuntimeError(reason)
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"{description} not reached within {timeout:.1f}s")
        time.sleep(min(interval, remaining))


def wait_for_http(url: str, *, timeout: float, abort: Callable[[], str | None] | None = None) -> None:
    wait_until(lambda: http_ok(url), timeout=timeout, interval=0.2, description=f"{url} healthy", abort=abort)


def nats_ping(host: str, port: int, user: str, password: str, timeout: float = 2.0) -> bool:
    """True when a NATS server at ``host:port`` accepts ``user``/``password`` and answers a PING.

    The health check of the embedded nats-server, which has no monitoring port (it would answer anyone);
    the wire protocol is three lines, so no client library (and no event loop) is needed.
    """
    import json

    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            reader = sock.makefile("rb")
            if not reader.readline().startswith(b"INFO "):
                return False
            connect = {
                "verbose": False,
                "pedantic": False,
                "user": user,
                "pass": password,
                "name": "mlops-health",
                "lang": "python",
                "version": "0",
                "protocol": 1,
            }
            sock.sendall(b"CONNECT " + json.dumps(connect).encode() + b"\r\nPING\r\n")
            # An authorization failure answers -ERR and closes; success answers PONG.
            return reader.readline().strip() == b"PONG"
    except OSError:
        return False
