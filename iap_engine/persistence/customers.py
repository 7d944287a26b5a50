"""App accounts the engine has seen (the only personal data it holds is the id)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, delete, select
from sqlalchemy.dialects import postgresql, sqlite

from iap_engine.persistence.driver import Statement
from iap_engine.persistence.tables import customers

# One statement whether or not the account is known already (on the webhook path: driver).
_ENSURE = {
    "postgresql": Statement(postgresql.insert(customers).on_conflict_do_nothing()),
    "sqlite": Statement(sqlite.insert(customers).on_conflict_do_nothing()),
}


class SqlCustomers:
    def __init__(self, connection: Connection) -> None:
        self._connection = connection

    def ensure(self, app_user_id: str, now: datetime) -> None:
        _ENSURE[self._connection.dialect.name].run(
            self._connection, {"app_user_id": app_user_id, "created_at": now}
        )

    def exists(self, app_user_id: str) -> bool:
        found = self._connection.execute(
            select(customers.c.app_user_id).where(customers.c.app_user_id == app_user_id)
        ).first()
        return found is not None

    def delete(self, app_user_id: str) -> bool:
        result = self._connection.execute(
            delete(customers).where(customers.c.app_user_id == app_user_id)
        )
        return result.rowcount > 0
