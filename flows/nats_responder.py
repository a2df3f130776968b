"""The NATS interface of the platform: a long-running flow answering other systems' module requests.

Subjects (``MLOPS_NATS_NAMESPACE``, default ``mlops``), answered in queue group ``MLOPS_NATS_QUEUE_GROUP`` so
any number of responders share the load:

- ``{namespace}.get_mlops_module_list()`` → the modules and their scenario sub-modules, with display names;
- ``{namespace}.get_mlops_module_data(module, child_module, page, page_size, group_id, actor_context,
  include_children)`` → ``{"count": N, "items": [{"id", "name"}]}`` of team ``group_id`` (and, with
  ``include_children``, of the teams below it; see ``catalog.services.modules``).

The ``nats-responder`` deployment runs ``nats_responder`` until it is cancelled; the deployment server
(flows/serve_all.py) starts one run of it when the platform comes up. ``python -m flows.nats_responder``
runs the same responder without Prefect (benchmarks, debugging).
"""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import Callable
from typing import Any

from prefect import flow, get_run_logger

from catalog.db import read_session
from catalog.errors import CatalogError
from catalog.services import modules as modules_service
from infra.natsbus import Handler, Responder
from infra.settings import Settings, get_settings


def get_mlops_module_list() -> list[dict[str, Any]]:
    return modules_service.module_list()


def get_mlops_module_data(
    module: Any,
    child_module: Any,
    page: Any = 1,
    page_size: Any = None,
    group_id: Any = None,
    actor_context: Any = None,
    include_children: Any = False,
) -> dict[str, Any]:
    max_page_size = get_settings().nats.max_page_size
    # A read-only session: on SQLite it takes no write lock, so concurrent requests (and two responders)
    # never queue behind each other or behind the platform's writers.
    with read_session() as session:
        actor = modules_service.actor_from_context(session, actor_context=actor_context)
        return modules_service.module_data(
            session,
            actor=actor,
            module=module,
            child_module=child_module,
            page=page,
            page_size=max_page_size if page_size is None else page_size,
            group_id=group_id,
            max_page_size=max_page_size,
            include_children=include_children,
        )


HANDLERS: dict[str, Handler] = {
    "get_mlops_module_list": get_mlops_module_list,
    "get_mlops_module_data": get_mlops_module_data,
}


def build_responder(settings: Settings | None = None, *, name: str | None = None) -> Responder:
    nats = (settings or get_settings()).nats
    return Responder(
        url=nats.url,
        namespace=nats.namespace,
        queue_group=nats.queue_group,
        handlers=HANDLERS,
        expose=(CatalogError,),
        concurrency=nats.workers,
        name=name,
        user=nats.user,
        password=nats.password,
    )


async def serve(on_ready: Callable[[], object] | None = None) -> None:
    """Run one responder until cancelled: the flow below, `python -m flows.nats_responder`, the benchmark."""
    # A process holding Prefect, SQLAlchemy and pydantic has a large heap; a full collection of it stalls
    # every request in flight for a long while (tens to hundreds of ms). Freezing what was loaded at start
    # keeps the collector to the objects that requests create.
    gc.collect()
    gc.freeze()
    await build_responder().serve_forever(on_ready)


@flow(name="nats-responder")
async def nats_responder() -> None:
    """Answer the platform's NATS subjects until cancelled (reconnecting whenever the server restarts)."""
    # The bus logs (disconnects, handler tracebacks) go through the standard library to the runner's log.
    logging.getLogger("mlops.nats").setLevel(logging.INFO)
    nats = get_settings().nats
    logger = get_run_logger()
    await serve(
        lambda: logger.info(
            "answering %s.* on %s in queue group %s", nats.namespace, nats.url, nats.queue_group
        )
    )


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    asyncio.run(serve())


if __name__ == "__main__":
    main()
