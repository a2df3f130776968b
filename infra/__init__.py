"""Infrastructure adapters: settings, object store, tracking, container runtimes, NATS, embedded servers.

Named ``infra`` so that it shadows nothing in the standard library. Nothing here imports Prefect flows
or the catalog; higher layers import from here, never the other way round.
"""
