"""WAL checkpoints of the embedded database, on a thread of their own.

In WAL mode every commit appends the pages it changed to the -wal file, and by default the
commit that takes the file past 1,000 pages then copies them back into the database (a
checkpoint) before it returns: on the embedded runtime that was over half of what its
COMMITs cost, run inline on the event loop. Here the loop's connections checkpoint only
past AUTOCHECKPOINT_PAGES (a bound for processes that run no checkpointer: the CLI, the
tests), and the runtime runs a PASSIVE checkpoint every few hundred milliseconds on a
worker thread with its own connection. Python's sqlite3 releases the GIL while SQLite
works, so the copy runs on another core beside the loop; a page changed many times in
between is copied once; and a passive checkpoint never waits for (or blocks) the loop's
readers and writer.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3

from services import metrics
from services.sqlite_inline import sqlite_connect

AUTOCHECKPOINT_PAGES = 10_000
INTERVAL_S = 0.25


def _checkpoint(conn: sqlite3.Connection) -> None:
    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()


class WalCheckpointer:
    """Checkpoints the embedded database's WAL every `interval_s`, off the event loop."""

    def __init__(self, path: str, interval_s: float = INTERVAL_S) -> None:
        self.path = path
        self.interval_s = interval_s
        self.checkpoints = 0
        self._stopping = asyncio.Event()

    async def stop(self) -> None:
        """Stop after the checkpoint in hand (SQLite checkpoints the rest when the last
        connection closes)."""
        self._stopping.set()

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        conn = await loop.run_in_executor(None, sqlite_connect, self.path)
        try:
            while not self._stopping.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), self.interval_s)
                running = loop.run_in_executor(None, _checkpoint, conn)
                try:
                    await asyncio.shield(running)
                except asyncio.CancelledError:
                    # The thread is still using the connection: close it only after.
                    await asyncio.wait({running})
                    raise
                self.checkpoints += 1
                metrics.SQLITE_CHECKPOINTS.inc()
        finally:
            conn.close()
