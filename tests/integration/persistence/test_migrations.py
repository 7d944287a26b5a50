"""The Alembic migrations build exactly the schema `tables.py` describes, on both databases."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine

from iap_engine.persistence.schema import current_revision, head_revision, upgrade
from iap_engine.persistence.tables import metadata


def test_migrations_match_the_tables(engine: Engine) -> None:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, metadata)
    assert differences == []
    assert current_revision(engine) == head_revision()


def test_upgrading_twice_is_harmless(engine: Engine) -> None:
    upgrade(engine)
    assert current_revision(engine) == head_revision()
