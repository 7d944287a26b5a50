"""One database transaction with its repositories; rolled back unless committed."""

from __future__ import annotations

from types import TracebackType
from typing import Self

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import OperationalError

from iap_engine.persistence.audit import SqlAuditLog
from iap_engine.persistence.checks import SqlChecks
from iap_engine.persistence.cursors import SqlCursors
from iap_engine.persistence.customers import SqlCustomers
from iap_engine.persistence.inbox import SqlInbox
from iap_engine.persistence.subscriptions import SqlSubscriptions
from iap_engine.persistence.timeline import SqlTimeline
from iap_engine.service.errors import ConcurrentUpdate


class SqlUnitOfWork:
    subscriptions: SqlSubscriptions
    inbox: SqlInbox
    timeline: SqlTimeline
    customers: SqlCustomers
    checks: SqlChecks
    cursors: SqlCursors
    audit: SqlAuditLog

    def __init__(self, engine: Engine, *, readonly: bool = False) -> None:
        self._engine = engine
        self._readonly = readonly
        self._connection: Connection | None = None

    @property
    def connection(self) -> Connection:
        if self._connection is None:
            raise RuntimeError("the unit of work is used outside its `with` block")
        return self._connection

    def __enter__(self) -> Self:
        connection = self._engine.connect()
        if self._readonly:
            connection = connection.execution_options(iap_readonly=True)
        try:
            connection.begin()
        except OperationalError:
            connection.close()
            raise
        self._connection = connection
        self.subscriptions = SqlSubscriptions(connection)
        self.inbox = SqlInbox(connection)
        self.timeline = SqlTimeline(connection)
        self.customers = SqlCustomers(connection)
        self.checks = SqlChecks(connection)
        self.cursors = SqlCursors(connection)
        self.audit = SqlAuditLog(connection)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        connection = self.connection
        try:
            if connection.in_transaction():
                connection.rollback()
        finally:
            connection.close()
            self._connection = None

    def commit(self) -> None:
        if self._readonly:
            raise RuntimeError("a read-only unit of work cannot commit")
        try:
            self.connection.commit()
        except OperationalError as error:
            # PostgreSQL serialization failures surface here; the use case is retried.
            if getattr(error.orig, "sqlstate", None) == "40001":
                raise ConcurrentUpdate("the transaction lost a race; retry") from error
            raise


class SqlUnitOfWorkFactory:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def __call__(self, *, readonly: bool = False) -> SqlUnitOfWork:
        return SqlUnitOfWork(self.engine, readonly=readonly)
