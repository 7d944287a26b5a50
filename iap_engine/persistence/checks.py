"""Reconciliation's work queue on the subscriptions table: due times and leases."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Connection, and_, or_, select, update

from iap_engine.persistence.tables import subscriptions

s = subscriptions.c


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

    def finish(self, subscription_id: str, worker: str, next_check_at: datetime | None) -> None:
        self._connection.execute(
            update(subscriptions)
            .where(and_(s.id == subscription_id, s.lease_owner == worker))
            .values(next_check_at=next_check_at, lease_owner=None, lease_expires_at=None)
        )

    def release_all(self, worker: str) -> int:
        result = self._connection.execute(
            update(subscriptions)
            .where(s.lease_owner == worker)
            .values(lease_owner=None, lease_expires_at=None)
        )
        return result.rowcount
