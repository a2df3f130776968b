"""Engines, sessions and migrations of the catalog database (SQLite by default, PostgreSQL in production)."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlmodel import Session, create_engine

from infra.settings import get_settings

_MIGRATIONS_DIR = Path(__file__).parent / "migrations"
_engines: dict[str, Engine] = {}
_read_only_engines: dict[str, Engine] = {}  # views of _engines (same pool) that begin read-only transactions
_lock = threading.Lock()


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets readers (dashboard) and writers (flows) work at once; busy_timeout makes concurrent writers
    # wait instead of failing with "database is locked"; SQLite leaves foreign keys off unless asked.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


READ_ONLY = "mlops_read_only"


def _sqlite_begin(conn: Any) -> None:
    # pysqlite's default deferred transactions let two writers both read a row and then conflict;
    # BEGIN IMMEDIATE takes the write lock up front so conditional updates serialise cleanly.
    # Read-only sessions (``read_session``) begin deferred: a WAL snapshot, no write lock, so readers
    # neither wait for writers nor hold them (or each other) up.
    conn.exec_driver_sql("BEGIN" if conn.get_execution_options().get(READ_ONLY) else "BEGIN IMMEDIATE")


def _ensure_sqlite_dir(url: str) -> None:
    """The database file's directory (0700 when created here) and the file itself, 0600: the catalog holds
    password hashes and every team's records. SQLite gives its -wal and -shm files the same mode."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1].split("?", 1)[0]
        if path and path != ":memory:":
            db = Path(path)
            db.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            os.close(os.open(db, os.O_WRONLY | os.O_CREAT, 0o600))
            if db.stat().st_mode & 0o077:
                db.chmod(0o600)


def make_engine(url: str) -> Engine:
    settings = get_settings().database
    if url.startswith("sqlite"):
        _ensure_sqlite_dir(url)
        engine = create_engine(
            url, echo=settings.echo, connect_args={"check_same_thread": False, "timeout": 30}
        )
        event.listen(engine, "connect", _sqlite_pragmas)

        @event.listens_for(engine, "connect")
        def _no_pysqlite_autobegin(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.isolation_level = None

        event.listen(engine, "begin", _sqlite_begin)
        return engine
    return create_engine(url, echo=settings.echo, pool_size=settings.pool_size, pool_pre_ping=True)


def get_engine(url: str | None = None) -> Engine:
    """One engine per URL for the life of the process."""
    url = url or get_settings().database.url
    with _lock:
        engine = _engines.get(url)
        if engine is None:
            engine = _engines[url] = make_engine(url)
        return engine


def dispose_engines() -> None:
    with _lock:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()
        _read_only_engines.clear()


AFTER_ROLLBACK = "after_rollback"


def _after_rollback(session: Session, url: str | None) -> None:
    for hook in session.info.pop(AFTER_ROLLBACK, []):
        with Session(get_engine(url), expire_on_commit=False) as own:
            hook(own)
            own.commit()


@contextmanager
def session_scope(url: str | None = None) -> Iterator[Session]:
    """A session committed on success and rolled back on any error.

    Callables queued in ``session.info["after_rollback"]`` run after a rollback, each in a fresh
    transaction: a refused action is still audited although its own transaction is undone (and SQLite
    allows one writer at a time, so that record cannot be written while the failing transaction is open).
    """
    with Session(get_engine(url), expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            _after_rollback(session, url)
            raise


def _read_only_engine(url: str | None) -> Engine:
    # Made once per engine: deriving it costs more than a small read (the NATS responder makes one per request).
    url = url or get_settings().database.url
    engine = get_engine(url)
    with _lock:
        view = _read_only_engines.get(url)
        if view is None:
            view = engine.execution_options(**{READ_ONLY: True})
            if _engines.get(url) is engine:  # not disposed meanwhile: a view of a disposed engine is not kept
                _read_only_engines[url] = view
        return view


@contextmanager
def read_session(url: str | None = None) -> Iterator[Session]:
    """A session for reads only (e.g. the NATS responder): one consistent snapshot, always rolled back.

    On SQLite it takes no write lock (see ``_sqlite_begin``); it must not be used to write. A refusal queued
    for the audit trail (``after_rollback``) is written afterwards in a write transaction of its own.
    """
    with Session(_read_only_engine(url), expire_on_commit=False) as session:
        try:
            yield session
        finally:
            session.rollback()
            _after_rollback(session, url)


def alembic_config(url: str | None = None) -> Any:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(_MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", (url or get_settings().database.url).replace("%", "%%"))
    return cfg


def migrate(url: str | None = None) -> None:
    """Bring the database schema to the newest revision (idempotent)."""
    from alembic import command

    url = url or get_settings().database.url
    _ensure_sqlite_dir(url)
    command.upgrade(alembic_config(url), "head")
