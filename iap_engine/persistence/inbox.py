"""The inbox: every store delivery, stored raw before anything else happens."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from iap_engine.domain import Delivery, DeliveryStatus, Store
from iap_engine.persistence.tables import inbox

# Errors are kept for support, but short: they never need the whole payload.
_MAX_ERROR = 2000


class SqlInbox:
    def __init__(self, connection: Connection) -> None:
        self._connection = connection

    def record(
        self, store: Store, delivery_id: str, body: bytes, received_at: datetime
    ) -> tuple[Delivery, bool]:
        """Store a delivery unless it is a duplicate; returns the row and whether it is new."""
        values = {
            "store": store.value,
            "delivery_id": delivery_id,
            "body": body,
            "received_at": received_at,
            "status": DeliveryStatus.RECEIVED.value,
            "attempts": 0,
        }
        dialect = self._connection.dialect.name
        insert_ = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(inbox)
        result = self._connection.execute(
            insert_.values(**values).on_conflict_do_nothing(index_elements=["store", "delivery_id"])
        )
        created = result.rowcount == 1
        row = self._connection.execute(
            select(inbox).where(inbox.c.store == store.value, inbox.c.delivery_id == delivery_id)
        ).one()
        return _delivery(row), created

    def get(self, inbox_id: int, *, lock: bool = False) -> Delivery | None:
        query = select(inbox).where(inbox.c.id == inbox_id)
        if lock and self._connection.dialect.name == "postgresql":
            # Concurrent deliveries of one notification wait here for the first to finish.
            query = query.with_for_update()
        row = self._connection.execute(query).first()
        return _delivery(row) if row is not None else None

    def finish(
        self,
        inbox_id: int,
        status: DeliveryStatus,
        now: datetime,
        *,
        subscription_id: str | None = None,
        error: str | None = None,
    ) -> None:
        self._connection.execute(
            update(inbox)
            .where(inbox.c.id == inbox_id)
            .values(
                status=status.value,
                processed_at=now,
                subscription_id=subscription_id,
                last_error=error[:_MAX_ERROR] if error else None,
                next_attempt_at=None,
                attempts=inbox.c.attempts + 1,
            )
        )

    def retry_later(
        self, inbox_id: int, error: str, next_attempt_at: datetime | None, *, dead: bool = False
    ) -> None:
        self._connection.execute(
            update(inbox)
            .where(inbox.c.id == inbox_id)
            .values(
                status=(DeliveryStatus.DEAD if dead else DeliveryStatus.FAILED).value,
                attempts=inbox.c.attempts + 1,
                next_attempt_at=next_attempt_at,
                last_error=error[:_MAX_ERROR],
            )
        )

    def pending(
        self,
        statuses: Sequence[DeliveryStatus],
        *,
        due_at: datetime | None = None,
        after_id: int = 0,
        limit: int = 500,
    ) -> Sequence[Delivery]:
        """Deliveries in these statuses, oldest first (`due_at`: only those due by then)."""
        query = select(inbox).where(
            inbox.c.status.in_([s.value for s in statuses]), inbox.c.id > after_id
        )
        if due_at is not None:
            query = query.where(
                or_(inbox.c.next_attempt_at.is_(None), inbox.c.next_attempt_at <= due_at)
            )
        rows = self._connection.execute(query.order_by(inbox.c.id).limit(limit))
        return [_delivery(row) for row in rows]

    def reopen(self, inbox_id: int) -> None:
        """Make a rejected or dead delivery processable again (`replay --failed`)."""
        self._connection.execute(
            update(inbox)
            .where(inbox.c.id == inbox_id)
            .values(status=DeliveryStatus.RECEIVED.value, next_attempt_at=None)
        )


def _delivery(row: Row[Any]) -> Delivery:
    return Delivery(
        id=row.id,
        store=Store(row.store),
        delivery_id=row.delivery_id,
        body=bytes(row.body),
        received_at=row.received_at,
        status=DeliveryStatus(row.status),
        attempts=row.attempts,
        next_attempt_at=row.next_attempt_at,
        last_error=row.last_error,
        subscription_id=row.subscription_id,
    )
