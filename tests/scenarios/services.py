"""A migrated embedded database with one unit of work, for chassis tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from services.clock import ManualClock
from services.db import Database, UnitOfWork
from services.migrate import upgrade


@asynccontextmanager
async def chassis_unit(tmp_path: Path, clock: ManualClock) -> AsyncIterator[UnitOfWork]:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'chassis.db'}")
    await upgrade(database, {})
    try:
        yield UnitOfWork(database, "router", clock, "t")
    finally:
        await database.dispose()
