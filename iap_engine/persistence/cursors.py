"""Named positions in store-wide feeds (notification history, voided purchases)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, insert, select, update

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
        updated = self._connection.execute(
            update(cursors).where(cursors.c.name == name).values(value=value, updated_at=now)
        )
        if updated.rowcount == 0:
            self._connection.execute(insert(cursors).values(name=name, value=value, updated_at=now))
