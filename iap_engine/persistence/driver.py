"""The hot path's statements, run straight on the database driver.

Every webhook runs about ten statements and every entitlement look-up two. Built and
compiled by SQLAlchemy Core like all the others, but executed through `Connection.execute`
each cost 50-120 us of Python on the 2-core machines the benchmarks run on: more than the
database itself needed (SQLite 10-20 us, a PostgreSQL round trip 60-90 us). So these few
statements are compiled once per dialect and run on the driver cursor of the caller's
connection (the same transaction), converting values here, explicitly:

- times are aware UTC datetimes in and out, naive UTC in the database; on SQLite in the text
  form SQLAlchemy's own DATETIME type writes and reads (`YYYY-MM-DD HH:MM:SS.ffffff`), so
  both paths read and compare each other's values;
- SQLite booleans come back as 0/1 and are returned as bools.

Driver errors are not wrapped in SQLAlchemy's exception classes; the callers do not catch
database errors from these statements (conflicts are `ON CONFLICT` clauses and rowcounts).
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Boolean, Connection
from sqlalchemy.engine import Dialect
from sqlalchemy.sql.expression import Executable, ReturnsRows

from iap_engine.persistence.tables import UTCDateTime

# SQL text, SQLite's parameter order (None: named parameters), values built in.
_Compiled = tuple[str, tuple[str, ...] | None, dict[str, Any]]


class Statement:
    """A Core statement compiled once per dialect (and set of parameter names: an INSERT or
    UPDATE renders the columns it is given) and run on the driver's cursor. Rows come back
    as named tuples of the selected columns, converted."""

    def __init__(self, statement: Executable) -> None:
        self._statement = statement
        self._compiled: dict[tuple[str, tuple[str, ...]], _Compiled] = {}
        columns = list(statement.exported_columns) if isinstance(statement, ReturnsRows) else []
        # Named like the columns (labels included), so rows read like SQLAlchemy rows.
        self.row: Any = namedtuple("row", [column.key for column in columns])  # type: ignore[misc]
        self._times = [i for i, c in enumerate(columns) if isinstance(c.type, UTCDateTime)]
        self._flags = [i for i, c in enumerate(columns) if isinstance(c.type, Boolean)]

    def run(self, connection: Connection, parameters: Mapping[str, Any]) -> Any:
        """Execute in the connection's transaction; returns the driver's cursor."""
        dialect = connection.dialect
        key = (dialect.name, tuple(parameters))
        sql, order, defaults = self._compiled.get(key) or self._compile(dialect, key)
        cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        cursor.execute(sql, _values(order, defaults, parameters))
        return cursor

    def run_many(self, connection: Connection, parameter_sets: Sequence[Mapping[str, Any]]) -> Any:
        """Execute once per parameter set (all with the same names), in one driver call:
        SQLite loops in C, psycopg pipelines them (one round trip, not one each). The
        cursor's rowcount is the sum over the sets."""
        if not parameter_sets:
            return None
        dialect = connection.dialect
        key = (dialect.name, tuple(parameter_sets[0]))
        sql, order, defaults = self._compiled.get(key) or self._compile(dialect, key)
        cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        cursor.executemany(sql, [_values(order, defaults, given) for given in parameter_sets])
        return cursor

    def rows(self, connection: Connection, parameters: Mapping[str, Any]) -> list[Any]:
        cursor = self.run(connection, parameters)
        sqlite = connection.dialect.name == "sqlite"
        return [self._convert(raw, sqlite) for raw in cursor.fetchall()]

    def _convert(self, raw: Sequence[Any], sqlite: bool) -> Any:
        values = list(raw)
        for index in self._times:
            value = values[index]
            if value is not None:
                if sqlite:
                    value = datetime.fromisoformat(value)
                values[index] = value.replace(tzinfo=UTC)
        if sqlite:
            for index in self._flags:
                if values[index] is not None:
                    values[index] = bool(values[index])
        return self.row._make(values)

    def _compile(self, dialect: Dialect, key: tuple[str, tuple[str, ...]]) -> _Compiled:
        names = key[1]
        compiled = self._statement.compile(  # type: ignore[attr-defined]
            dialect=dialect, column_keys=list(names)
        )
        # Positional drivers (SQLite: qmark) take the values in the compiled order.
        order = tuple(compiled.positiontup) if compiled.positional else None
        # Values built into the statement (`attempts + 1`, `.values(x=None)`).
        rendered = compiled.construct_params(_check=False)
        defaults = {name: value for name, value in rendered.items() if name not in names}
        entry = (str(compiled), order, defaults)
        self._compiled[key] = entry
        return entry


def _values(
    order: tuple[str, ...] | None, defaults: dict[str, Any], parameters: Mapping[str, Any]
) -> Any:
    given = {**defaults, **parameters} if defaults else parameters
    if order is not None:
        return [_sqlite_value(given[name]) for name in order]
    return {name: _naive_utc(value) for name, value in given.items()}


def _naive_utc(value: Any) -> Any:
    if isinstance(value, datetime):
        if value.tzinfo is not UTC:
            if value.tzinfo is None:
                raise ValueError("naive datetime given to the database; the engine works in UTC")
            value = value.astimezone(UTC)
        return value.replace(tzinfo=None)
    return value


def _sqlite_value(value: Any) -> Any:
    if isinstance(value, datetime):
        # SQLAlchemy's DATETIME text, always with microseconds (so text order is time order).
        return _naive_utc(value).isoformat(" ", "microseconds")
    return value
