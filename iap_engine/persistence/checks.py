"""Reconciliation's work queue on the subscriptions table: due times and leases."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Connection, bindparam, or_, select, update

from iap_engine.persistence.driver import Statement
from iap_engine.persistence.tables import subscriptions

s = subscriptions.c

# Once per reconciled subscription: run on the driver (see `driver`), a whole group at once.
_FINISH = Statement(
    update(subscriptions)
    .where(s.id == bindparam("where_id"))
    .where(s.lease_owner == bindparam("where_worker"))
    .values(lease_owner=None, lease_expires_at=None)
)


class SqlChecks:
    def __init__(self, connection: Connection) -> None:
        self._connection = connection

    def claim_due(
        self, now: datetime, worker: str, lease_until: datetime, limit: int
    ) -> Sequence[str]:
        due = (
            select(s.id)
            .where(s.next_check_at <= now)
            .where(or_(s.lease_expires_at.is_(None), s.lease_expires_at <= now))
            .order_by(s.next_check_at)
            .limit(limit)
        )
        if self._connection.dialect.name == "postgresql":
            # Rows another worker is claiming right now are skipped, not waited for.
            due = due.with_for_update(skip_locked=True)
        claimed = self._connection.execute(
            update(subscriptions)
            .where(s.id.in_(due.scalar_subquery()))
            .values(lease_owner=worker, lease_expires_at=lease_until)
            .returning(s.id)
        )
        return [row.id for row in claimed]

    def finish_many(self, worker: str, scheduled: Sequence[tuple[str, datetime | None]]) -> None:
        _FINISH.run_many(
            self._connection,
            [
                {"next_check_at": at, "where_id": subscription_id, "where_worker": worker}
                for subscription_id, at in scheduled
            ],
        )

    def release_all(self, worker: str) -> int:
        result = self._connection.execute(
            update(subscriptions)
            .where(s.lease_owner == worker)
            .values(lease_owner=None, lease_expires_at=None)
        )
        return result.rowcount
