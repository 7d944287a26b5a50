"""Named positions in store-wide feeds (notification history, voided purchases)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, select
from sqlalchemy.dialects import postgresql, sqlite

from iap_engine.persistence.tables import cursors


class SqlCursors:
    def __init__(self, connection: Connection) -> None:
        self._connection = connection

    def get(self, name: str) -> str | None:
        row = self._connection.execute(
            select(cursors.c.value).where(cursors.c.name == name)
        ).first()
        return row.value if row is not None else None

    def put(self, name: str, value: str, now: datetime) -> None:
        # One statement, so two workers writing a new cursor at once cannot both insert it.
        dialect = postgresql if self._connection.dialect.name == "postgresql" else sqlite
        statement = dialect.insert(cursors).values(name=name, value=value, updated_at=now)
        self._connection.execute(
            statement.on_conflict_do_update(
                index_elements=[cursors.c.name],
                set_={
                    "value": statement.excluded.value,
                    "updated_at": statement.excluded.updated_at,
                },
            )
        )
