"""The chassis's hottest statements as driver SQL on PostgreSQL.

Every consumer batch opens with its inbox claim, writes its deferred rows in one statement
and commits; every relay round marks what it sent and reads what is next. At the rates a
lead arrives one at a time each of those is a round trip of its own, and SQLAlchemy's async
layer (the greenlet hop, the cursor adapter, the result wrapper) cost about 90 us of CPU per
statement on top of asyncpg's 50 (measured on this machine; docs/benchmarks.md). Here such
a statement runs on the transaction's own asyncpg connection, so it is part of the same
transaction, with the SQL compiled once by SQLAlchemy for asyncpg and the values converted
by SQLAlchemy's own bind processors: what reaches PostgreSQL is what SQLAlchemy would send.

Only where it is exactly the same (`compiled` says None otherwise and the caller runs the
statement through SQLAlchemy): asyncpg, tracing off (a traced statement needs SQLAlchemy's
events), no default computed in Python, no value rendered into the SQL. A parameter that
expands at execution (an `IN` list) is expanded by SQLAlchemy's compiled statement, and
the columns SQLAlchemy converts on reading (an aware UTC datetime) are converted by its own
converters. As on SQLite (services/driversql.py), each
statement is announced to the engine's `before_cursor_execute` listeners, and a driver
error is raised as the SQLAlchemy exception SQLAlchemy raises for it (an `IntegrityError`,
an `OperationalError` or `InterfaceError` the consumer runner knows as transient).

This leans on two attributes of SQLAlchemy's asyncpg adapter (`_connection`, the asyncpg
connection, and `_transaction`, started on first use): tests/integration/test_pgdriver.py
checks that a statement run here commits and rolls back with its transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any, NoReturn, cast

import asyncpg
from sqlalchemy import ClauseElement, Dialect, Executable
from sqlalchemy.dialects.postgresql.asyncpg import AsyncAdapt_asyncpg_connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.compiler import SQLCompiler

from services import driversql, tracing

Row = Mapping[str, Any]
"""A row read as driver SQL (an asyncpg record) or through SQLAlchemy (its mapping)."""


@dataclass(frozen=True)
class Compiled:
    """A statement as SQL with `$n` parameters, how to make its values from named parameters
    (SQLAlchemy's own converters; a value fixed in the statement as built), and how to read
    its rows (SQLAlchemy's converters of the result columns)."""

    sql: str
    keys: tuple[str, ...]
    processors: tuple[Callable[[Any], Any] | None, ...]
    fixed: Mapping[str, Any]
    expanding: SQLCompiler | None
    """The compiled statement when a parameter expands at execution (an `IN` list): its
    SQL and values are then made for each call, as SQLAlchemy makes them."""
    readers: tuple[Callable[[Any], Any] | None, ...] | None
    """The result columns' converters, in order; None when there is none."""

    def values(self, parameters: Mapping[str, Any]) -> list[Any]:
        values = []
        for key, processor in zip(self.keys, self.processors, strict=True):
            value = parameters[key] if key in parameters else self.fixed[key]
            values.append(value if processor is None else processor(value))
        return values

    def bound(self, parameters: Mapping[str, Any]) -> tuple[str, list[Any]]:
        """The SQL and the values to run it with `parameters`."""
        if self.expanding is None:
            return self.sql, self.values(parameters)
        state = self.expanding.construct_expanded_state(dict(parameters))
        values = []
        for key in state.positiontup or ():
            value, processor = state.parameters[key], state.processors.get(key)
            values.append(value if processor is None else processor(value))
        return state.statement, values

    def read(self, records: list[Any]) -> list[Row]:
        if self.readers is None:
            return cast(list[Row], records)
        return [
            {
                key: value if reader is None else reader(value)
                for (key, value), reader in zip(record.items(), self.readers, strict=True)
            }
            for record in records
        ]


@cache
def compiled(statement: Executable, keys: tuple[str, ...], dialect: Dialect) -> Compiled | None:
    """`statement` for parameters named `keys`, compiled as SQLAlchemy compiles it for
    asyncpg; None when SQLAlchemy would do more than bind values and convert them and the
    columns it reads (see the module's docstring)."""
    if dialect.driver != "asyncpg":
        return None
    if not isinstance(statement, ClauseElement):
        return None
    compiled = statement.compile(dialect=dialect, column_keys=list(keys))
    if not isinstance(compiled, SQLCompiler) or compiled.positiontup is None:
        return None
    if compiled.literal_execute_params or compiled.insert_prefetch or compiled.update_prefetch:
        return None
    try:
        readers = tuple(
            column.type._cached_result_processor(dialect, None)
            for column in compiled._result_columns
        )
    except Exception:  # noqa: BLE001 - a converter that needs the column's type as read
        return None  # (numbers: asyncpg's type code), which only SQLAlchemy's cursor has
    order = tuple(compiled.positiontup)
    fixed: dict[str, Any] = {}
    for name in order:
        if name in keys:
            continue
        bind = compiled.binds.get(name)
        if bind is None or bind.callable is not None or bind.required:
            return None
        fixed[name] = bind.effective_value
    processors = cast(dict[str, Callable[[Any], Any]], compiled._bind_processors)
    return Compiled(
        compiled.string,
        order,
        tuple(processors.get(k) for k in order),
        fixed,
        compiled if compiled.post_compile_params else None,
        readers if any(reader is not None for reader in readers) else None,
    )


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
    return plan.read(records)


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
