"""The chassis's hottest statements as driver SQL on the embedded database.

Every consumer transaction claims its events in the inbox, checks its tombstones, moves its
position, reads what its batch needs (`Tx.rows`: ingest's round lookup, the router's leads
and routing state...) and writes its deferred rows (outbox records, deliveries...). On
SQLite each of those statements took SQLAlchemy several times longer to prepare and wrap
than SQLite took to run it (at 100 leads/s they were a seventh of the embedded process's
CPU). Here they run on the transaction's own DBAPI connection, so they are part of the same
SQLite transaction, with the SQL compiled once by SQLAlchemy and the values (and the columns
read) converted by SQLAlchemy's own converters (a datetime is stored exactly as SQLAlchemy
stores it; services/sqlplan.py).

Only where it is exactly the same: SQLite, tracing off (a traced statement needs
SQLAlchemy's events); for written rows (`Tx.write`, the deferred rows) only statements
built once with no RETURNING and no default computed in Python; for reads, a transaction
begun and a statement services/sqlplan.py compiles. Everything else, and PostgreSQL
(services/pgdriver.py), goes through SQLAlchemy as before. Each statement is still announced
to the engine's `before_cursor_execute` listeners (`leadfarm_db_statements_total`, and the
tests that count a batch's statements), so it is accounted for exactly as before.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Mapping, Sequence
from functools import cache
from typing import TYPE_CHECKING, Any

from sqlalchemy import Dialect, Executable, Table
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.dml import UpdateBase

from services import sqlplan, tracing
from services.sqlplan import Row

if TYPE_CHECKING:
    from services.db import Tx


def raw_connection(tx: Tx) -> sqlite3.Connection | None:
    """The SQLite connection under `tx`, or None where driver SQL is not used."""
    if not tx.unit.database.is_sqlite or tracing.enabled:
        return None
    connection = getattr(tx.conn, "sync_connection", None)
    if connection is None:
        return None
    dbapi = connection.connection.dbapi_connection
    return dbapi if isinstance(dbapi, sqlite3.Connection) else None


def fetch(
    conn: AsyncConnection, statement: Executable, parameters: Mapping[str, Any]
) -> list[Row] | None:
    """Run the read `statement` with `parameters` as driver SQL and return its rows; None
    (nothing run) where it cannot be: not SQLite, tracing on, no transaction begun on `conn`
    (a read outside one keeps SQLAlchemy's own begin), or a statement services/sqlplan.py
    does not compile."""
    if tracing.enabled or conn.dialect.name != "sqlite" or not conn.in_transaction():
        return None
    sync = conn.sync_connection
    raw = sync.connection.dbapi_connection if sync is not None else None
    if not isinstance(raw, sqlite3.Connection):
        return None
    plan = sqlplan.compiled(statement, tuple(sorted(parameters)), conn.dialect)
    if plan is None:
        return None
    sql, values = plan.bound(parameters)
    return plan.read(_run(raw, conn, sql, values).fetchall())


def _run(
    raw: sqlite3.Connection, conn: AsyncConnection, sql: str, parameters: Any, many: bool = False
) -> sqlite3.Cursor:
    """Run `sql` on `raw` as SQLAlchemy would: its `before_cursor_execute` listeners told
    first, and a driver error raised as SQLAlchemy's exception of the same kind (an
    `IntegrityError`, an `OperationalError` the consumer runner knows as transient...)."""
    announce(conn, sql, parameters, many=many)
    try:
        return raw.executemany(sql, parameters) if many else raw.execute(sql, parameters)
    except sqlite3.Error as exc:
        raise DBAPIError.instance(sql, parameters, exc, sqlite3.Error) from exc


def announce(conn: AsyncConnection, sql: str, parameters: Any, *, many: bool) -> None:
    """Tell the engine's `before_cursor_execute` listeners (statement counts, the tests that
    count a batch's statements) of a statement run as driver SQL, without a cursor."""
    connection = conn.sync_connection
    if connection is not None and connection.dispatch.before_cursor_execute:
        connection.dispatch.before_cursor_execute(connection, None, sql, parameters, None, many)


def write_rows(tx: Tx, statement: Executable, rows: Sequence[dict[str, Any]]) -> bool:
    """Run `statement` (an INSERT, upsert, UPDATE or DELETE built once, without RETURNING)
    for each of `rows` as driver SQL; False (nothing done) where it cannot be (the caller
    then executes it through SQLAlchemy)."""
    raw = raw_connection(tx)
    if raw is None or not rows or not isinstance(statement, UpdateBase):
        return False
    if statement._returning:
        return False
    plan = sqlplan.compiled(statement, tuple(sorted(rows[0])), tx.conn.dialect)
    if plan is None or plan.expanding is not None:
        return False
    keys = rows[0].keys()
    values = []
    for row in rows:
        if row.keys() != keys:  # rows of different shapes: SQLAlchemy says what it makes of them
            return False
        values.append(plan.values(row))
    _run(raw, tx.conn, plan.sql, values, many=True)
    return True


@cache
def _row_values(
    table: Table, keys: tuple[str, ...], dialect: Dialect
) -> Callable[[dict[str, Any]], list[Any]]:
    """A row's values of `keys` in order, converted by SQLAlchemy's own converters of
    their columns in `table` (those it has: the others are stored as given)."""
    processors = [table.c[key].type.dialect_impl(dialect).bind_processor(dialect) for key in keys]
    return sqlplan.row_values(keys, processors)


# SQLite's limit on one statement's parameters (SQLITE_MAX_VARIABLE_NUMBER since 3.32).
_MAX_PARAMETERS = 32766


def insert_new(
    raw: sqlite3.Connection,
    tx: Tx,
    table: Table,
    rows: Sequence[dict[str, Any]],
    key: str,
) -> set[Any]:
    """Insert `rows` (all with the same keys) into `table`, skipping a row whose primary or
    unique key is stored already, as driver SQL: the `key` values of the rows it stored.
    One multi-row INSERT .. ON CONFLICT DO NOTHING RETURNING (sqlite3's `executemany`
    drops what RETURNING returns)."""
    if not rows:
        return set()
    keys = tuple(rows[0])
    values_of = _row_values(table, keys, tx.conn.dialect)
    columns = ", ".join(f'"{k}"' for k in keys)
    group = "(" + ", ".join("?" for _ in keys) + ")"
    per_statement = _MAX_PARAMETERS // len(keys)
    stored: set[Any] = set()
    for start in range(0, len(rows), per_statement):
        chunk = rows[start : start + per_statement]
        sql = (
            f'INSERT INTO "{table.name}" ({columns}) VALUES '  # noqa: S608
            + ", ".join(group for _ in chunk)
            + f' ON CONFLICT DO NOTHING RETURNING "{key}"'
        )
        values = [value for row in chunk for value in values_of(row)]
        stored.update(r[0] for r in _run(raw, tx.conn, sql, values).fetchall())
    return stored


def among(
    raw: sqlite3.Connection, tx: Tx, table: Table, lead_ids: Sequence[str], service: str | None
) -> set[str]:
    """Which of `lead_ids` `table` names (the tombstones, or audit's erasures) as driver SQL;
    with `service`, in that service's rows only."""
    marks = ", ".join("?" for _ in lead_ids)
    sql = f'SELECT lead_id FROM "{table.name}" WHERE lead_id IN ({marks})'  # noqa: S608
    values = list(lead_ids)
    if service is not None:
        sql += " AND service = ?"
        values.append(service)
    return {r[0] for r in _run(raw, tx.conn, sql, values).fetchall()}


_MOVE = "UPDATE embedded_offsets SET position = ? WHERE group_id = ?"
_START = "INSERT INTO embedded_offsets (group_id, position) VALUES (?, ?)"


def move_position(raw: sqlite3.Connection, tx: Tx, group: str, position: int) -> None:
    """Store an embedded consumer group's position as driver SQL."""
    if _run(raw, tx.conn, _MOVE, (position, group)).rowcount == 0:
        _run(raw, tx.conn, _START, (group, position))
