"""Ports for inference servers of the process runtime: free, inside the configured range, not promised twice.

A port recorded by a live process container counts as taken even if its server has not bound it yet (it may
still be loading its model), so two servings started back to back never get the same one.
"""

from __future__ import annotations

import random
from collections.abc import Iterable

from infra.net import port_is_free
from infra.runtime.base import RuntimeError_
from infra.runtime.process import ProcessRuntime
from infra.settings import Settings, get_settings


def ports_in_use(settings: Settings | None = None) -> set[int]:
    """Ports recorded by process containers that are pending or running."""
    runtime = ProcessRuntime(settings)
    return {status.port for status in runtime.list() if status.is_alive and status.port is not None}


def is_bindable(host: str, port: int) -> bool:
    """True if a server could bind ``host:port`` now (with SO_REUSEADDR, as uvicorn and http.server do)."""
    return port_is_free(port, host)


def allocate_port(settings: Settings | None = None, *, exclude: Iterable[int] = ()) -> int:
    """A port of ``settings.runtime.port_range`` that no live process container holds and that binds now.

    The scan starts at a random offset so that concurrent callers (before either records its port) rarely
    pick the same one; the caller records it by starting the container with ``spec.port``.
    """
    settings = settings or get_settings()
    lo, hi = settings.runtime.port_range
    if not 0 < lo <= hi < 65536:
        raise ValueError(f"invalid serving port range {settings.runtime.serving_port_range!r}")
    taken = ports_in_use(settings) | set(exclude)
    host = settings.runtime.serving_host
    count = hi - lo + 1
    offset = random.randrange(count)
    for i in range(count):
        port = lo + (offset + i) % count
        if port not in taken and is_bindable(host, port):
            return port
    raise RuntimeError_(f"no free port in {lo}-{hi} on {host} ({len(taken)} held by containers or excluded)")
