"""The embedded database shared with another process: a `leadfarm` command or the sqlite3
shell reading the file while the runtime writes it must not take the runtime's WAL.

SQLite's locks are POSIX advisory locks, dropped when the process closes any descriptor of
the file. The runtime used to open and close the database file before each new connection
(to create it 0600), which dropped the locks of its connections already open; the next
process to close a connection then took itself for the last one, checkpointed and deleted
the -wal file, and the runtime's later commits were lost with it.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import text

from services.db import Database
from services.sqlite_inline import sqlite_connect
from tests.backends import EmbeddedBackend
from tests.e2e.processes import LEADFARM

OTHER_PROCESS = (
    "import sqlite3, sys\n"
    "conn = sqlite3.connect(sys.argv[1])\n"
    "print(conn.execute('SELECT count(*) FROM t').fetchone()[0])\n"
    "conn.close()\n"
)


async def test_another_process_closing_its_connection_leaves_the_runtimes_wal(
    tmp_path: Path,
) -> None:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'shared.db'}")
    path = database.sqlite_path
    try:
        async with database.connect() as conn:
            await conn.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY)"))
            await conn.commit()
            await conn.execute(text("INSERT INTO t (id) VALUES (1)"))
            await conn.commit()
            # A second connection of the runtime's own, as the pool, the checkpointer and
            # the log reader each open theirs while the first is in use.
            sqlite_connect(path).close()
            seen = subprocess.run(
                [sys.executable, "-c", OTHER_PROCESS, path],
                capture_output=True,
                text=True,
                check=True,
                timeout=60,
            )
            assert seen.stdout.strip() == "1"
            assert Path(f"{path}-wal").exists(), "the other process deleted the runtime's WAL"
            await conn.execute(text("INSERT INTO t (id) VALUES (2)"))
            await conn.commit()
    finally:
        await database.dispose()

    fresh = sqlite_connect(path)
    try:
        assert fresh.execute("PRAGMA quick_check").fetchone() == ("ok",)
        assert fresh.execute("SELECT id FROM t ORDER BY id").fetchall() == [(1,), (2,)]
    finally:
        fresh.close()


async def test_a_leadfarm_command_beside_the_running_runtime_loses_none_of_its_commits(
    tmp_path: Path,
) -> None:
    """What the runbook has an SRE do during an incident: `leadfarm lag` while the embedded
    runtime runs. The runtime's later commits stay in its WAL and reach the database."""
    backend = await EmbeddedBackend(tmp_path).start()
    database = backend.runtime.database
    path = database.sqlite_path
    try:
        await backend.inject("ingest", "before", b"{}")
        # Under load the pool opens more connections while others are in use.
        async with database.connect() as busy, database.connect() as another:
            for conn in (busy, another):
                await conn.execute(text("SELECT count(*) FROM outbox"))
            lag = await asyncio.create_subprocess_exec(
                *(LEADFARM, "lag", "--data-dir", str(tmp_path)),
                env={k: v for k, v in os.environ.items() if not k.startswith("LEADFARM_")},
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
            _, stderr = await asyncio.wait_for(lag.communicate(), timeout=120)
            assert lag.returncode == 0, stderr.decode()
            assert Path(f"{path}-wal").exists(), "the command deleted the runtime's WAL"
            await backend.inject("ingest", "after", b"{}")
        fresh = sqlite_connect(path)
        try:
            assert fresh.execute("PRAGMA quick_check").fetchone() == ("ok",)
            keys = {k for (k,) in fresh.execute("SELECT key FROM outbox")}
        finally:
            fresh.close()
        assert {"before", "after"} <= keys
    finally:
        await backend.stop()
