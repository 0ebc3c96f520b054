"""A migrated embedded database with one unit of work, a unit of work on a scratch
PostgreSQL database, and the statements a unit runs, for chassis tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event

from contracts.topics import ServiceName
from services.clock import Clock, ManualClock
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


@asynccontextmanager
async def pg_unit(
    url: str, service: ServiceName, clock: Clock, namespace: str
) -> AsyncIterator[UnitOfWork]:
    """A unit of work of `service` on a migrated PostgreSQL database (two connections)."""
    database = Database(url, service=service, pool_size=2)
    try:
        yield UnitOfWork(database, service, clock, namespace)
    finally:
        await database.dispose()


def statements_of(unit: UnitOfWork) -> list[str]:
    """The statements `unit` runs from now on, whitespace collapsed (a list kept current)."""
    seen: list[str] = []

    def note(_c: Any, _cur: Any, statement: str, *_: Any) -> None:
        seen.append(" ".join(statement.split()))

    event.listen(unit.database.engine.sync_engine, "before_cursor_execute", note)
    return seen
