"""Test databases: a migrated SQLite file per test, and one fresh PostgreSQL database per run.

PostgreSQL tests run when IAP_ENGINE_TEST_POSTGRES_URL names a server database the tests may
use to create a scratch database (dropped at the end); otherwise they are skipped.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, create_engine, text

from iap_engine.persistence.database import create_database_engine, normalize_url
from iap_engine.persistence.schema import upgrade
from iap_engine.persistence.tables import metadata

POSTGRES_ENV = "IAP_ENGINE_TEST_POSTGRES_URL"


def postgres_server_url() -> str | None:
    return os.environ.get(POSTGRES_ENV) or None


def migrated_sqlite_template(directory: Path) -> Path:
    template = directory / "template.db"
    engine = create_database_engine(f"sqlite:///{template}")
    try:
        upgrade(engine)
    finally:
        engine.dispose()
    return template


def sqlite_copy(template: Path, directory: Path) -> str:
    target = directory / f"{uuid.uuid4().hex}.db"
    shutil.copyfile(template, target)
    return f"sqlite:///{target}"


@contextmanager
def scratch_postgres(server_url: str) -> Iterator[str]:
    """A new, migrated PostgreSQL database; dropped afterwards."""
    server = normalize_url(server_url)
    name = f"iap_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        url = server.set(database=name).render_as_string(hide_password=False)
        engine = create_database_engine(url)
        try:
            upgrade(engine)
        finally:
            engine.dispose()
        yield url
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def empty_all_tables(engine: Engine) -> None:
    with engine.begin() as connection:
        names = ", ".join(f'"{table.name}"' for table in metadata.sorted_tables)
        connection.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
