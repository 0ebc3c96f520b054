"""Database access: one engine per process, transactions owned by the caller.

`UnitOfWork.transaction()` is the only way to write: it opens a connection, begins, yields a
`Tx` (which can also emit events into the outbox and schedule timers), commits when the
block succeeds and rolls back when it raises. Domain and repository code never commit.
Reads go through `UnitOfWork.read()`, typed `ReadConn`, so a write on a read path is a
type error.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from contextvars import ContextVar
from datetime import datetime
from functools import cache, partial
from typing import Any, NewType, cast

import orjson
from sqlalchemy import Executable, Table, create_engine, event, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.sql.dml import Insert

from contracts.topics import ServiceName
from services import driversql, metrics, pgdriver, pgpool, pgwrite, sqlplan, tracing
from services.checkpoints import AUTOCHECKPOINT_PAGES
from services.clock import Clock
from services.sqlite_inline import BUSY_TIMEOUT_MS, InlineEngine, sqlite_connect
from services.sqltypes import EncodedJson, sqlite_text
from services.statements import insert_ignoring
from services.tables import AUTH_SCHEMA

ReadConn = NewType("ReadConn", AsyncConnection)

statement_owner: ContextVar[str] = ContextVar("statement_owner", default="chassis")
"""Who a SQL statement is run for (a service's unit of work sets its name), so that
`leadfarm_db_statements_total` says which service spends them."""


def _count_statement(*_: Any) -> None:
    metrics.DB_STATEMENTS.labels(statement_owner.get()).inc()


class Database:
    """An engine plus what the runtime hangs on commits (relay and embedded-bus wake-ups).

    On SQLite, write transactions are serialised by an asyncio lock: SQLite allows one
    writer anyway, and serialising in-process keeps the embedded event log's ids in commit
    order (a consumer reading `id > position` never skips a row committed late).
    """

    def __init__(self, url: str, *, service: ServiceName | None = None, pool_size: int = 10):
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        self.engine: AsyncEngine = (
            _sqlite_engine(url) if self.is_sqlite else _postgres_engine(url, service, pool_size)
        )
        self._write_lock = asyncio.Lock() if self.is_sqlite else None
        event.listen(self.engine.sync_engine, "before_cursor_execute", _count_statement)
        tracing.instrument_engine(self.engine)
        self._on_events_committed: list[Callable[[frozenset[str]], None]] = []
        self._on_log_rewritten: list[Callable[[], None]] = []
        self._reader: sqlite3.Connection | None = None
        self.reference_changes = 0
        """Commits so far that changed reference data (services/reference.py): on SQLite
        this process is the only writer, so a copy checked since the last of them is
        current without reading its version."""

    def on_events_committed(self, callback: Callable[[frozenset[str]], None]) -> None:
        """Call `callback(topics)` after every commit that wrote outbox rows, with the
        topics it wrote to (the embedded bus wakes only the consumers of those)."""
        self._on_events_committed.append(callback)

    def events_committed(self, topics: frozenset[str]) -> None:
        for callback in self._on_events_committed:
            callback(topics)

    def on_log_rewritten(self, callback: Callable[[], None]) -> None:
        """Call `callback()` after a commit that rewrote outbox rows in place (erasure's
        redaction): on SQLite the outbox is the log, and the embedded bus keeps its newest
        rows in memory."""
        self._on_log_rewritten.append(callback)

    def log_rewritten(self) -> None:
        for callback in self._on_log_rewritten:
            callback()

    @asynccontextmanager
    async def connect(self) -> AsyncIterator[AsyncConnection]:
        async with self.engine.connect() as conn:
            yield conn

    @asynccontextmanager
    async def write_lock(self) -> AsyncIterator[None]:
        if self._write_lock is None:
            yield
        else:
            async with self._write_lock:
                yield

    @property
    def sqlite_path(self) -> str:
        """The embedded database's file (SQLite only)."""
        if not self.is_sqlite:
            raise RuntimeError("not the embedded SQLite database")
        return self.url.split(":///", 1)[1]

    def sqlite_read(self, sql: str, parameters: Sequence[Any]) -> list[Any]:
        """Run one read-only statement as driver SQL on a connection of its own (SQLite
        only), inline and outside any transaction: it sees everything committed so far.

        For the embedded bus's read of the log, which every consumer runs after every
        wake-up: through SQLAlchemy it cost a pooled connection, BEGIN and ROLLBACK and
        several times SQLite's own time in Python; as driver SQL it is one call."""
        if not self.is_sqlite:
            raise RuntimeError("sqlite_read needs the embedded SQLite database")
        if self._reader is None:
            self._reader = sqlite_connect(self.sqlite_path)
        metrics.DB_STATEMENTS.labels(statement_owner.get()).inc()
        return self._reader.execute(sql, parameters).fetchall()

    async def ping(self) -> None:
        async with self.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None
        await self.engine.dispose()


def _sqlite_engine(url: str) -> AsyncEngine:
    path = url.split(":///", 1)[1]
    sync_engine = create_engine(
        f"sqlite:///{path}",
        creator=partial(sqlite_connect, path),
        pool_size=5,
        max_overflow=5,
        json_serializer=_json_text,
        json_deserializer=orjson.loads,
    )
    # Duck-typed: the asyncio API the code uses, run inline (services/sqlite_inline.py).
    engine = cast(AsyncEngine, InlineEngine(sync_engine))
    # A datetime that reaches sqlite3 as it is (a statement run as driver SQL that missed
    # a converter) is stored as SQLAlchemy stores it, UTC text compared as text, or refused
    # when naive; never in sqlite3's own (deprecated) format with its offset.
    sqlite3.register_adapter(datetime, sqlite_text)

    @event.listens_for(engine.sync_engine, "connect")
    def _pragmas(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # the driver never begins on its own: see `_begin`
        cursor = dbapi_conn.cursor()
        # WAL lets readers run beside the writer; NORMAL sync is durable across process
        # crashes (not power loss), the usual trade for an embedded event log.
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        # The runtime checkpoints on a thread of its own (services/checkpoints.py).
        cursor.execute(f"PRAGMA wal_autocheckpoint={AUTOCHECKPOINT_PAGES}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _begin(conn: Any) -> None:
        # The driver's own transaction handling is off (it breaks SAVEPOINT); begin here.
        conn.exec_driver_sql("BEGIN")

    return engine


def _postgres_engine(url: str, service: ServiceName | None, pool_size: int) -> AsyncEngine:
    # A service sees its own schema, then the shared auth schema, and nothing else.
    search_path = f"{service},{AUTH_SCHEMA}" if service else AUTH_SCHEMA
    engine = create_async_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        connect_args={"server_settings": {"search_path": search_path}},
        json_serializer=_json_text,
        json_deserializer=orjson.loads,
    )
    pgpool.check_before_use(engine)
    return engine


def _json_text(value: Any) -> str:
    """JSON columns through orjson: the standard library's encoder was a few percent of a
    lead's CPU (explanations, profiles). A document already encoded is stored as it is."""
    if isinstance(value, EncodedJson):
        return str(value)
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


@cache
def _insert_new_statement(table: Table, dialect: str, key: str) -> Insert:
    return insert_ignoring(table, dialect).returning(table.c[key])


class Tx:
    """One open write transaction of one service: SQL, events and timers commit together.

    Rows that nothing in the transaction reads back (outbox records) are `defer`red and
    written at `flush`, one multi-row INSERT per statement, just before the commit: a batch
    of events that emits a hundred records costs one statement, not a hundred."""

    def __init__(self, conn: AsyncConnection, unit: UnitOfWork) -> None:
        self.conn = conn
        self.unit = unit
        self.service = unit.service
        self.emitted = 0
        self.topics: set[str] = set()
        """The topics of the records said (a failed savepoint's included: a spare wake-up
        at most)."""
        self._deferred: dict[Executable, list[dict[str, Any]]] = {}
        self.reference_versions: dict[str, int] | None = None
        """The service's reference versions as this transaction first read them
        (services/reference.py)."""
        self.tombstones_read: tuple[set[str], set[str]] | None = None
        """The leads whose tombstones this transaction read, and which of them are erased
        (services/erasure.py; kept current as it writes tombstones)."""
        self.savepoints = 0
        """How many savepoints are open: rows flushed inside one may still be undone."""
        self._before_flush: dict[Callable[[Tx], None], None] = {}
        self._after_commit: list[Callable[[], None]] = []
        self._after_rollback: list[Callable[[], None]] = []

    def now(self) -> datetime:
        return self.unit.clock.now()

    def defer(self, statement: Executable, row: dict[str, Any]) -> None:
        """Insert `row` with `statement` at the next `flush` (in the order deferred)."""
        self._deferred.setdefault(statement, []).append(row)

    def deferred(self, statement: Executable) -> list[dict[str, Any]]:
        """The rows deferred for `statement` and not written yet (a `before_flush` hook
        may change them)."""
        return self._deferred.get(statement, [])

    def before_flush(self, hook: Callable[[Tx], None]) -> None:
        """Call `hook(tx)` once, at the next `flush`, before the deferred rows are written
        (what a failed savepoint deferred is gone by then). Registering it again before
        that flush does nothing."""
        self._before_flush[hook] = None

    def after_commit(self, hook: Callable[[], None]) -> None:
        """Call `hook()` once the transaction has committed."""
        self._after_commit.append(hook)

    def after_rollback(self, hook: Callable[[], None]) -> None:
        """Call `hook()` if the transaction does not commit."""
        self._after_rollback.append(hook)

    async def flush(self) -> None:
        """Write the deferred rows now: whoever reads their table in this transaction
        (erasure redacting the outbox) flushes first."""
        hooks, self._before_flush = self._before_flush, {}
        for hook in hooks:
            hook(self)
        deferred, self._deferred = self._deferred, {}
        if self.conn.dialect.name != "postgresql":
            for statement, rows in deferred.items():
                await self.write(statement, rows)
            return
        # On PostgreSQL the inserts go together, a table once per statement
        # (services/pgwrite.py); anything else is written on its own, in order.
        group: list[tuple[Insert, Sequence[dict[str, Any]]]] = []
        for statement, rows in deferred.items():
            if not pgwrite.combinable(statement, rows, self.conn.dialect):
                await self._write_together(group)
                group = []
                await self.write(statement, rows)
                continue
            if any(statement.table is other.table for other, _ in group):
                await self._write_together(group)
                group = []
            group.append((statement, rows))
        await self._write_together(group)

    async def _write_together(
        self, group: Sequence[tuple[Insert, Sequence[dict[str, Any]]]]
    ) -> None:
        if len(group) == 1:
            await self.write(*group[0])
        elif group:
            statement, parameters = pgwrite.together(group)
            await self.rows(statement, parameters)

    async def write(self, statement: Executable, rows: Sequence[dict[str, Any]]) -> None:
        """Run `statement` (an INSERT, upsert, UPDATE or DELETE without RETURNING, built once)
        for each of `rows`, now: as driver SQL on SQLite where that is exactly the same
        (services/driversql.py), else one executemany through SQLAlchemy. Nothing for no
        rows."""
        if not rows or driversql.write_rows(self, statement, rows):
            return
        if not await pgdriver.execute_many(self.conn, statement, rows):
            await self.conn.execute(statement, list(rows))

    async def rows(self, statement: Executable, parameters: Mapping[str, Any]) -> Sequence[Row]:
        """Run `statement` now and return its rows, read by column name: as driver SQL where
        that is exactly the same (services/pgdriver.py, services/driversql.py), else through
        SQLAlchemy. For the statements that every batch runs."""
        return await rows_of(self.conn, statement, parameters)

    async def insert_new(self, table: Table, rows: Sequence[dict[str, Any]], key: str) -> set[Any]:
        """Insert `rows` (all with the same keys) into `table` now, skipping a row whose
        primary or unique key is stored already: the `key` values of the rows it stored.
        One multi-row INSERT .. ON CONFLICT DO NOTHING RETURNING (driver SQL on SQLite)."""
        if not rows:
            return set()
        raw = driversql.raw_connection(self)
        if raw is not None:
            return driversql.insert_new(raw, self, table, rows, key)
        if self.conn.dialect.name == "postgresql":
            statement, parameters = pgwrite.insert_new(table, rows, key)
            return {row[key] for row in await self.rows(statement, parameters)}
        statement = _insert_new_statement(table, self.conn.dialect.name, key)
        return set(await self.conn.scalars(statement, list(rows)))

    @asynccontextmanager
    async def savepoint(self) -> AsyncIterator[None]:
        """A nested transaction: what fails inside it is undone, deferred rows included,
        and the outer transaction goes on. Use this, never `conn.begin_nested()` alone."""
        marks = {statement: len(rows) for statement, rows in self._deferred.items()}
        emitted = self.emitted
        self.savepoints += 1
        try:
            async with self.conn.begin_nested():
                yield
        except BaseException:
            self._deferred = {
                statement: rows[: marks[statement]]
                for statement, rows in self._deferred.items()
                if marks.get(statement)
            }
            self.emitted = emitted
            raise
        finally:
            self.savepoints -= 1


Row = sqlplan.Row


async def rows_of(
    conn: AsyncConnection, statement: Executable, parameters: Mapping[str, Any]
) -> Sequence[Row]:
    """`statement`'s rows, read by column name: as driver SQL where that is exactly the
    same (services/pgdriver.py, services/driversql.py), else through SQLAlchemy."""
    rows: Sequence[Row] | None = driversql.fetch(conn, statement, parameters)
    if rows is None:
        rows = await pgdriver.fetch(conn, statement, parameters)
    if rows is not None:
        return rows
    result = await conn.execute(statement, dict(parameters))
    return [cast(Row, row._mapping) for row in result] if result.returns_rows else []


Conn = ReadConn | Tx
"""What a read takes: a read connection, or the write transaction it is part of."""


def connection_of(conn: AsyncConnection | Tx) -> AsyncConnection:
    """The connection under `conn`."""
    return conn.conn if isinstance(conn, Tx) else conn


class UnitOfWork:
    """A service's handle on the database: its name, its clock and its topic namespace."""

    def __init__(
        self, database: Database, service: ServiceName, clock: Clock, topic_namespace: str
    ) -> None:
        self.database = database
        self.service = service
        self.clock = clock
        self.topic_namespace = topic_namespace

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Tx]:
        owner = statement_owner.set(self.service)
        try:
            async with self.database.write_lock(), self.database.connect() as conn:
                tx = Tx(conn, self)
                try:
                    async with conn.begin():
                        yield tx
                        await tx.flush()
                except BaseException:
                    for hook in tx._after_rollback:
                        hook()
                    raise
                for hook in tx._after_commit:
                    hook()
                if tx.emitted:
                    self.database.events_committed(frozenset(tx.topics))
        finally:
            statement_owner.reset(owner)

    @asynccontextmanager
    async def read(self) -> AsyncIterator[ReadConn]:
        owner = statement_owner.set(self.service)
        try:
            async with self.database.connect() as conn:
                yield ReadConn(conn)
        finally:
            statement_owner.reset(owner)
