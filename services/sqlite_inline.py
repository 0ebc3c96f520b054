"""An aiosqlite connection that runs SQLite calls inline on the event loop.

aiosqlite sends every call to a worker thread and back; SQLAlchemy's adapter makes about
four such calls per statement, so a statement that SQLite answers in microseconds cost
over a millisecond in thread hops. The embedded runtime's statements are tiny (WAL,
synchronous=NORMAL, no fsync at commit), so running them inline is far faster.

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
from functools import partial
from typing import Any

import aiosqlite

BUSY_TIMEOUT_MS = 250


class InlineConnection(aiosqlite.Connection):
    """Never starts aiosqlite's worker thread: every call runs where it is awaited."""

    def __await__(self) -> Generator[Any, None, InlineConnection]:
        return self._connect().__await__()

    async def _connect(self) -> InlineConnection:
        if self._connection is None:
            self._connection = self._connector()
        return self

    async def _execute(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if self._connection is None:
            raise ValueError("Connection closed")
        return fn(*args, **kwargs)

    async def close(self) -> None:
        self.stop()

    def stop(self) -> None:
        self._running = False
        if self._connection is not None:
            self._connection.close()
            self._connection = None


def owner_only(path: str) -> None:
    """Create the database file readable and writable by its owner only (it holds leads'
    personal data and sealed secrets), and tighten one made before. SQLite gives the -wal
    and -shm files the database file's mode when it creates them; existing ones are
    tightened too."""
    if path == ":memory:" or path.startswith("file:"):
        return
    os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
    for name in (path, f"{path}-wal", f"{path}-shm"):
        with contextlib.suppress(FileNotFoundError):
            if os.stat(name).st_mode & 0o077:
                os.chmod(name, 0o600)


def _connect(path: str, **kwargs: Any) -> sqlite3.Connection:
    owner_only(path)
    connection: sqlite3.Connection = sqlite3.connect(path, **kwargs)
    return connection


def sqlite_connect(path: str) -> sqlite3.Connection:
    """A plain connection for driver SQL run inline (`Database.sqlite_read`): autocommit
    (each statement its own transaction), the same busy timeout."""
    return _connect(
        path, check_same_thread=False, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000
    )


def inline_connect(path: str) -> InlineConnection:
    """The `async_creator` for the embedded engine. The driver's own transaction handling
    is off (isolation_level=None): `Database` emits BEGIN itself so savepoints work."""
    connector = partial(
        _connect,
        path,
        check_same_thread=False,  # created and used on the loop thread, closed maybe by GC
        isolation_level=None,
        timeout=BUSY_TIMEOUT_MS / 1000,
    )
    return InlineConnection(connector, iter_chunk_size=64)
