"""The append-only timeline (`events` table)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection, insert, select

from iap_engine.domain import Source, TimelineEntry
from iap_engine.persistence.driver import Statement
from iap_engine.persistence.tables import events

_APPEND = Statement(insert(events))  # on every webhook: run on the driver


class SqlTimeline:
    def __init__(self, connection: Connection) -> None:
        self._connection = connection

    def append(self, entry: TimelineEntry) -> None:
        _APPEND.run(
            self._connection,
            {
                "subscription_id": entry.subscription_id,
                "kind": entry.kind,
                "outcome": entry.outcome,
                "store_time": entry.store_time,
                "received_at": entry.received_at,
                "source": entry.source.value,
                "store_type": entry.store_type,
                "store_subtype": entry.store_subtype,
                "inbox_id": entry.inbox_id,
                "note": entry.note,
            },
        )

    def for_subscription(self, subscription_id: str) -> Sequence[TimelineEntry]:
        rows = self._connection.execute(
            select(events).where(events.c.subscription_id == subscription_id).order_by(events.c.id)
        )
        return [
            TimelineEntry(
                subscription_id=row.subscription_id,
                kind=row.kind,
                outcome=row.outcome,
                store_time=row.store_time,
                received_at=row.received_at,
                source=Source(row.source),
                store_type=row.store_type,
                store_subtype=row.store_subtype,
                inbox_id=row.inbox_id,
                note=row.note,
            )
            for row in rows
        ]
