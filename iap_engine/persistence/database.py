"""Creating the SQLAlchemy engine for SQLite (the embedded default) or PostgreSQL."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.pool import StaticPool

from iap_engine.persistence.checkpoints import BACKSTOP_PAGES, Checkpointer
from iap_engine.persistence.sqlite_writers import QueuedWriterConnection

# Seconds a writer waits for another writer's lock before SQLite gives up.
SQLITE_BUSY_TIMEOUT_MS = 30_000


def normalize_url(url: str) -> URL:
    """Accept `postgresql://` and `postgres://` as psycopg 3 URLs."""
    parsed = make_url(url.replace("postgres://", "postgresql://", 1))
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def create_database_engine(
    url: str, *, background_checkpoints: bool = False, **options: Any
) -> Engine:
    """`background_checkpoints`: SQLite checkpoints from a thread of this process instead of
    inside commits (`checkpoints`); for the long-running processes that write."""
    parsed = normalize_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(parsed, background_checkpoints, **options)
    if parsed.get_backend_name() != "postgresql":
        raise ValueError(
            f"database.url: unsupported database {parsed.get_backend_name()!r};"
            " use sqlite:///PATH or postgresql+psycopg://USER@HOST/DB"
        )
    options.setdefault("pool_pre_ping", True)
    options.setdefault("pool_size", 10)
    options.setdefault("max_overflow", 20)
    return create_engine(parsed, **options)


def _sqlite_engine(url: URL, background_checkpoints: bool, **options: Any) -> Engine:
    connect_args = {
        "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000,
        "check_same_thread": False,
        "factory": QueuedWriterConnection,
    }
    in_memory = url.database in (None, "", ":memory:")
    if in_memory:
        options.setdefault("poolclass", StaticPool)
    engine = create_engine(url, connect_args=connect_args, **options)
    checkpointer = None
    if background_checkpoints and not in_memory and url.database:
        checkpointer = Checkpointer(url.database).start()
        event.listen(engine, "engine_disposed", lambda _engine: checkpointer.stop())

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection: Any, _record: Any) -> None:
        # The driver's own transaction handling is turned off so that `_begin` decides.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        # In WAL mode NORMAL survives a crash of the process; only a power loss can lose
        # the last commits (README: use PostgreSQL where that matters).
        cursor.execute("PRAGMA synchronous=NORMAL")
        if checkpointer is not None:
            cursor.execute(f"PRAGMA wal_autocheckpoint={BACKSTOP_PAGES}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Any) -> None:
        # Writers take the write lock up front: a deferred transaction that later needs to
        # write fails at once with "database is locked" instead of waiting its turn. They
        # queue for it in `sqlite_writers` rather than in SQLite's sleeping busy handler.
        driver = connection.connection.dbapi_connection
        if connection.get_execution_options().get("iap_readonly", False):
            driver.execute("BEGIN DEFERRED")
        else:
            driver.begin_writing()

    return engine
