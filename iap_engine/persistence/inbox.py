"""The inbox: every store delivery, stored raw before anything else happens."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, bindparam, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from iap_engine.domain import Delivery, DeliveryStatus, Store
from iap_engine.persistence.driver import Statement
from iap_engine.persistence.tables import inbox

# Errors are kept for support, but short: they never need the whole payload.
_MAX_ERROR = 2000

# The webhook path's statements run on the driver (see `driver`). A new delivery is one
# INSERT; its id comes back with it (PostgreSQL: RETURNING; SQLite: the connection's last
# inserted row id).
_INSERT = {
    "postgresql": Statement(
        postgresql.insert(inbox)
        .on_conflict_do_nothing(index_elements=["store", "delivery_id"])
        .returning(inbox.c.id)
    ),
    "sqlite": Statement(
        sqlite.insert(inbox).on_conflict_do_nothing(index_elements=["store", "delivery_id"])
    ),
}
_BY_DELIVERY_ID = Statement(
    select(inbox).where(
        inbox.c.store == bindparam("store"), inbox.c.delivery_id == bindparam("delivery_id")
    )
)
_BY_ID = select(inbox).where(inbox.c.id == bindparam("id"))
# Concurrent deliveries of one notification wait here for the first to finish (PostgreSQL).
_GET = {False: Statement(_BY_ID), True: Statement(_BY_ID.with_for_update())}
_FINISH = Statement(
    update(inbox)
    .where(inbox.c.id == bindparam("where_id"))
    .values(next_attempt_at=None, attempts=inbox.c.attempts + 1)
)


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
        cursor = _INSERT[dialect].run(self._connection, values)
        if dialect == "postgresql":
            returned = cursor.fetchone()
            inserted = returned[0] if returned is not None else None
        else:
            inserted = cursor.lastrowid if cursor.rowcount == 1 else None
        if inserted is not None:
            delivery = Delivery(
                id=inserted,
                store=store,
                delivery_id=delivery_id,
                body=body,
                received_at=received_at,
                status=DeliveryStatus.RECEIVED,
                attempts=0,
            )
            return delivery, True
        (row,) = _BY_DELIVERY_ID.rows(
            self._connection, {"store": store.value, "delivery_id": delivery_id}
        )
        return _delivery(row), False

    def get(self, inbox_id: int, *, lock: bool = False) -> Delivery | None:
        locked = lock and self._connection.dialect.name == "postgresql"
        rows = _GET[locked].rows(self._connection, {"id": inbox_id})
        return _delivery(rows[0]) if rows else None

    def finish(
        self,
        inbox_id: int,
        status: DeliveryStatus,
        now: datetime,
        *,
        subscription_id: str | None = None,
        error: str | None = None,
    ) -> None:
        _FINISH.run(
            self._connection,
            {
                "where_id": inbox_id,
                "status": status.value,
                "processed_at": now,
                "subscription_id": subscription_id,
                "last_error": error[:_MAX_ERROR] if error else None,
            },
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


def _delivery(row: Row[Any] | Any) -> Delivery:
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
