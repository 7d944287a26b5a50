"""Who did what through the API or CLI (never keys, tokens or personal data)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, insert

from iap_engine.persistence.tables import audit_log


class SqlAuditLog:
    def __init__(self, connection: Connection) -> None:
        self._connection = connection

    def record(
        self, at: datetime, actor: str, action: str, target: str | None, detail: str | None
    ) -> None:
        self._connection.execute(
            insert(audit_log).values(
                at=at, actor=actor, action=action, target=target, detail=detail
            )
        )
