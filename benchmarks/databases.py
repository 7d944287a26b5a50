"""Scratch databases for benchmarks: a migrated SQLite file, or a PostgreSQL database
created on the given server and dropped afterwards."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, text

from iap_engine.persistence.database import create_database_engine, normalize_url
from iap_engine.persistence.schema import upgrade


def migrate(url: str) -> str:
    engine = create_database_engine(url)
    try:
        upgrade(engine)
    finally:
        engine.dispose()
    return url


def sqlite_database(directory: Path, name: str) -> str:
    return migrate(f"sqlite:///{directory / name}")


@contextmanager
def scratch_postgres(server_url: str, prefix: str = "iap_bench") -> Iterator[str]:
    """A new, migrated PostgreSQL database on the server `server_url` names; dropped after."""
    server = normalize_url(server_url)
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        yield migrate(server.set(database=name).render_as_string(hide_password=False))
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
