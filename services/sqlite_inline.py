"""The embedded database's connections: SQLAlchemy's synchronous SQLite engine, called
inline on the event loop behind the part of the asyncio API the code uses.

Why inline: aiosqlite sends every call to a worker thread and back, and SQLAlchemy's
adapter makes about four such calls per statement, so a statement that SQLite answers in
microseconds cost over a millisecond in thread hops. The embedded runtime's statements are
tiny (WAL, synchronous=NORMAL, no fsync at commit), so running them where they are awaited
is far faster. Why the synchronous engine rather than aiosqlite run inline (what this was
before): SQLAlchemy's asyncio layer still ran each statement in a greenlet, through an
adapted cursor and aiosqlite's own cursor; without them a small statement costs less than
half (measured: a primary-key SELECT 48 us through the asyncio layer, 21 us here).

`InlineEngine` and `InlineConnection` offer what the code calls on an `AsyncEngine` and an
`AsyncConnection` (execute, scalar, scalars, exec_driver_sql, begin, begin_nested, commit,
rollback, close, run_sync) and nothing more, each a plain call on the synchronous
connection; results are SQLAlchemy's own (buffered) results, as the asyncio API returns.

The condition that makes inline calls safe: nothing in the process ever waits on a SQLite
lock. Writers are serialised by `Database.write_lock` before they begin, readers never
block in WAL mode, and `busy_timeout` is short so that a second process holding the file
(not supported) stalls the loop briefly and fails instead of freezing it.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Callable, Generator
from types import TracebackType
from typing import Any, TypeVar

from sqlalchemy import Connection, CursorResult, Dialect, Engine, ScalarResult
from sqlalchemy.engine import Transaction

BUSY_TIMEOUT_MS = 250

T = TypeVar("T")


class InlineTransaction:
    """`async with conn.begin():` (or `begin_nested()`) over a synchronous transaction:
    commits (or releases) on a clean exit, rolls back when the block raises."""

    def __init__(self, begin: Callable[[], Transaction]) -> None:
        self._begin = begin
        self._transaction: Transaction | None = None

    def _start(self) -> InlineTransaction:
        self._transaction = self._begin()
        return self

    def __await__(self) -> Generator[Any, None, InlineTransaction]:
        yield from ()
        return self._start()

    async def __aenter__(self) -> InlineTransaction:
        return self._start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._transaction is not None:
            self._transaction.__exit__(exc_type, exc, traceback)

    async def commit(self) -> None:
        if self._transaction is not None:
            self._transaction.commit()

    async def rollback(self) -> None:
        if self._transaction is not None:
            self._transaction.rollback()


class InlineConnection:
    """What the code uses of an `AsyncConnection`, run inline on a synchronous one."""

    def __init__(self, sync_connection: Connection) -> None:
        self.sync_connection = sync_connection
        self.dialect: Dialect = sync_connection.dialect

    async def execute(
        self, statement: Any, parameters: Any = None, *, execution_options: Any = None
    ) -> CursorResult[Any]:
        return self.sync_connection.execute(
            statement, parameters, execution_options=execution_options
        )

    async def scalar(
        self, statement: Any, parameters: Any = None, *, execution_options: Any = None
    ) -> Any:
        return self.sync_connection.scalar(
            statement, parameters, execution_options=execution_options
        )

    async def scalars(
        self, statement: Any, parameters: Any = None, *, execution_options: Any = None
    ) -> ScalarResult[Any]:
        return self.sync_connection.scalars(
            statement, parameters, execution_options=execution_options
        )

    async def exec_driver_sql(
        self, statement: str, parameters: Any = None, execution_options: Any = None
    ) -> CursorResult[Any]:
        return self.sync_connection.exec_driver_sql(statement, parameters, execution_options)

    def begin(self) -> InlineTransaction:
        return InlineTransaction(self.sync_connection.begin)

    def begin_nested(self) -> InlineTransaction:
        return InlineTransaction(self.sync_connection.begin_nested)

    def in_transaction(self) -> bool:
        return self.sync_connection.in_transaction()

    async def commit(self) -> None:
        self.sync_connection.commit()

    async def rollback(self) -> None:
        self.sync_connection.rollback()

    async def close(self) -> None:
        self.sync_connection.close()

    async def run_sync(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return fn(self.sync_connection, *args, **kwargs)

    async def __aenter__(self) -> InlineConnection:
        return self

    async def __aexit__(self, *_: object) -> None:
        self.sync_connection.close()


class InlineEngine:
    """What the code uses of an `AsyncEngine` (connect, dispose, sync_engine), over
    SQLAlchemy's synchronous SQLite engine."""

    def __init__(self, sync_engine: Engine) -> None:
        self.sync_engine = sync_engine
        self.dialect = sync_engine.dialect
        self.url = sync_engine.url

    def connect(self) -> InlineConnection:
        """A connection; `async with engine.connect() as conn:` closes it after."""
        return InlineConnection(self.sync_engine.connect())

    async def dispose(self) -> None:
        self.sync_engine.dispose()


def owner_only(path: str) -> None:
    """Create the database file readable and writable by its owner only (it holds leads'
    personal data and sealed secrets), and tighten one made before. SQLite gives the -wal
    and -shm files the database file's mode when it creates them; existing ones are
    tightened too.

    An existing database file is never opened here, only looked at by path. SQLite's locks
    are POSIX advisory locks, and closing *any* descriptor of a file drops every lock the
    process holds on it: opening and closing the file before each new connection (the
    pool's, the checkpointer's) silently dropped the locks of the connections already open.
    Another process (a `leadfarm` command, the sqlite3 shell) that then closed its own
    connection found no other holder, took itself for the last connection, checkpointed
    and deleted the -wal file under the running process, whose next commits went to a
    deleted file: lost, and the database left malformed."""
    if path == ":memory:" or path.startswith("file:"):
        return
    with contextlib.suppress(FileExistsError):
        # Only when the file does not exist yet: then no connection of ours holds a lock.
        os.close(os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600))
    for name in (path, f"{path}-wal", f"{path}-shm"):
        with contextlib.suppress(FileNotFoundError):
            if os.stat(name).st_mode & 0o077:
                os.chmod(name, 0o600)


def sqlite_connect(path: str) -> sqlite3.Connection:
    """A connection to the embedded database file: autocommit at the driver (each statement
    its own transaction unless BEGIN is said; the engine says BEGIN itself so that
    SAVEPOINT works), the busy timeout, usable from the thread that closes it too."""
    owner_only(path)
    return sqlite3.connect(
        path, check_same_thread=False, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000
    )
