"""The chassis's hottest statements as driver SQL on PostgreSQL.

Every consumer batch opens with its inbox claim, writes its deferred rows in one statement
and commits; every relay round marks what it sent and reads what is next. At the rates a
lead arrives one at a time each of those is a round trip of its own, and SQLAlchemy's async
layer (the greenlet hop, the cursor adapter, the result wrapper) cost about 90 us of CPU per
statement on top of asyncpg's 50 (measured on this machine; docs/benchmarks.md). Here such
a statement runs on the transaction's own asyncpg connection, so it is part of the same
transaction, with the SQL compiled once by SQLAlchemy for asyncpg and the values converted
by SQLAlchemy's own bind processors: what reaches PostgreSQL is what SQLAlchemy would send.

Only where it is exactly the same: asyncpg, tracing off (a traced statement needs
SQLAlchemy's events), and a statement services/sqlplan.py can compile (its values and the
columns it reads converted by SQLAlchemy's own converters, an `IN` list expanded by
SQLAlchemy); otherwise the caller runs the statement through SQLAlchemy. As on SQLite
(services/driversql.py), each statement is announced to the engine's
`before_cursor_execute` listeners, and a driver error is raised as the SQLAlchemy
exception SQLAlchemy raises for it (an `IntegrityError`, an `OperationalError` or
`InterfaceError` the consumer runner knows as transient).

This leans on two attributes of SQLAlchemy's asyncpg adapter (`_connection`, the asyncpg
connection, and `_transaction`, started on first use): tests/integration/test_pgdriver.py
checks that a statement run here commits and rolls back with its transaction.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NoReturn, cast

import asyncpg
from sqlalchemy import Executable
from sqlalchemy.dialects.postgresql.asyncpg import AsyncAdapt_asyncpg_connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection

from services import driversql, tracing
from services.sqlplan import Row, compiled


def _adapted(conn: AsyncConnection) -> AsyncAdapt_asyncpg_connection | None:
    if tracing.enabled:
        return None
    sync = conn.sync_connection
    if sync is None or sync.closed or sync.invalidated:
        return None
    dbapi = sync.connection.dbapi_connection
    return dbapi if isinstance(dbapi, AsyncAdapt_asyncpg_connection) else None


async def _begun(adapted: AsyncAdapt_asyncpg_connection) -> asyncpg.Connection:
    """The asyncpg connection under `adapted`, in the transaction SQLAlchemy began on it
    (SQLAlchemy's adapter starts it with the first statement, as here)."""
    if adapted._transaction is None:
        await cast(Any, adapted)._start_transaction()
    return cast(asyncpg.Connection, adapted._connection)


async def fetch(
    conn: AsyncConnection, statement: Executable, parameters: Mapping[str, Any]
) -> Sequence[Row] | None:
    """Run `statement` with `parameters` as driver SQL and return its rows; None (nothing
    run) where it cannot be."""
    adapted = _adapted(conn)
    if adapted is None:
        return None
    plan = compiled(statement, tuple(sorted(parameters)), conn.dialect)
    if plan is None:
        return None
    sql, values = plan.bound(parameters)
    records = await _run(conn, adapted, sql, values, many=False)
    return cast(list[Row], records) if plan.readers is None else plan.read(records)


async def execute_many(
    conn: AsyncConnection, statement: Executable, rows: Sequence[Mapping[str, Any]]
) -> bool:
    """Run `statement` (a write without RETURNING) for each of `rows` (all with the same
    keys) as driver SQL in one round trip; False (nothing run) where it cannot be."""
    adapted = _adapted(conn)
    if adapted is None or not rows:
        return False
    keys = tuple(rows[0])
    if any(tuple(row) != keys for row in rows):
        return False
    plan = compiled(statement, tuple(sorted(keys)), conn.dialect)
    if plan is None or plan.expanding is not None or getattr(statement, "_returning", None):
        return False
    await _run(conn, adapted, plan.sql, [tuple(plan.values(row)) for row in rows], many=True)
    return True


async def _run(
    conn: AsyncConnection,
    adapted: AsyncAdapt_asyncpg_connection,
    sql: str,
    values: list[Any],
    *,
    many: bool,
) -> list[Any]:
    """Run `sql` in the transaction as SQLAlchemy's adapter would (its lock held, the
    transaction begun), the engine's listeners told first: the records read (none for
    `many`, an executemany of `values`)."""
    driversql.announce(conn, sql, values, many=many)
    async with adapted._execute_mutex:
        try:
            driver = await _begun(adapted)
            if many:
                await driver.executemany(sql, values)
                return []
            return list(await driver.fetch(sql, *values))
        except Exception as error:  # noqa: BLE001 - raised again as SQLAlchemy would
            _raise(conn, adapted, sql, values, error)


def _raise(
    conn: AsyncConnection,
    adapted: AsyncAdapt_asyncpg_connection,
    sql: str,
    values: Any,
    error: Exception,
) -> NoReturn:
    """Raise `error` as SQLAlchemy raises a driver's error: translated to the DBAPI error
    SQLAlchemy's adapter makes of it, wrapped in SQLAlchemy's exception of the same kind
    (`connection_invalidated` when the connection is gone); an error that is not the
    driver's goes on as it is."""
    dialect = conn.dialect
    dbapi_error: type[Exception] = dialect.loaded_dbapi.Error
    translated: BaseException = error
    if not isinstance(error, dbapi_error):
        try:
            adapted._handle_exception(error)
        except Exception as raised:  # noqa: BLE001 - the translation is what it raises
            translated = raised
    if not isinstance(translated, dbapi_error):
        raise error
    # A connection that is gone is left to SQLAlchemy: the transaction's rollback finds it
    # gone and invalidates it, and the pool never hands out a closed one (services/pgpool.py).
    # Invalidating it here, while asyncpg may still count the failed operation as running,
    # raised asyncpg's "another operation is in progress" instead (the fault suite's
    # PostgreSQL restart).
    gone = dialect.is_disconnect(cast(Any, translated), cast(Any, adapted), None)
    raise DBAPIError.instance(
        sql, values, translated, dbapi_error, connection_invalidated=gone, dialect=dialect
    ) from error
