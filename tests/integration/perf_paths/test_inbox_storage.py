"""PostgreSQL keeps webhook bodies uncompressed (migration 0004): compressing them cost more
than storing them, and did not shrink them."""

from __future__ import annotations

from sqlalchemy import Engine, text


def test_inbox_bodies_are_stored_without_compression(engine: Engine) -> None:
    if engine.dialect.name != "postgresql":
        return
    with engine.connect() as connection:
        storage = connection.execute(
            text(
                "SELECT attstorage FROM pg_attribute"
                " WHERE attrelid = 'inbox'::regclass AND attname = 'body'"
            )
        ).scalar_one()
    assert storage == "e"  # EXTERNAL: out of line, not compressed
