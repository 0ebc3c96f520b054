"""WAL checkpoints of the embedded database on a thread of their own
(services/checkpoints.py): the loop's commits no longer copy the WAL back."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from sqlalchemy import text

from services.checkpoints import AUTOCHECKPOINT_PAGES, WalCheckpointer
from services.db import Database
from tests.backends import eventually


async def test_the_loops_connections_leave_checkpoints_to_the_checkpointer(
    tmp_path: Path,
) -> None:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'wal.db'}")
    path = database.sqlite_path
    try:
        async with database.connect() as conn:
            pages = await conn.scalar(text("PRAGMA wal_autocheckpoint"))
            assert pages == AUTOCHECKPOINT_PAGES
            await conn.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, body TEXT)"))
            await conn.commit()
            empty = os.path.getsize(path)
            for _ in range(20):  # well past SQLite's default of 1,000 pages
                await conn.execute(
                    text("INSERT INTO t (body) VALUES (:body)"),
                    [{"body": "x" * 2000} for _ in range(100)],
                )
                await conn.commit()
        # Nothing was copied back into the database file by the commits themselves.
        assert os.path.getsize(path) == empty

        checkpointer = WalCheckpointer(path, interval_s=0.01)
        task = asyncio.create_task(checkpointer.run())
        try:

            async def copied() -> bool:
                return os.path.getsize(path) > 4_000_000

            await eventually(copied, timeout=10)
            assert checkpointer.checkpoints >= 1
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    finally:
        await database.dispose()
