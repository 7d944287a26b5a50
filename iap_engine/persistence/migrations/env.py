"""Alembic environment: run with a connection handed over by `iap_engine.persistence.schema`."""

from __future__ import annotations

from alembic import context

from iap_engine.persistence.tables import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through `iap-engine db upgrade`")

context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
