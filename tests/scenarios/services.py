"""A migrated embedded database with one unit of work, a unit of work on a scratch
PostgreSQL database, and the statements a unit runs, for chassis tests."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event

from contracts.topics import ServiceName
from services.clock import Clock, ManualClock
from services.db import Database, Tx, UnitOfWork
from services.driversql import raw_connection
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


@contextmanager
def sqlite_work(tx: Tx) -> Iterator[list[int]]:
    """How much work SQLite does for `tx` inside the block: its VM instructions, counted by
    tens (`[count]`, read after the block). Deterministic for a given plan and data, so a
    test can say that a statement's work does not grow with rows it should not read."""
    raw = raw_connection(tx)
    assert raw is not None, "SQLite, tracing off"
    counted = [0]

    def count() -> int:
        counted[0] += 1
        return 0  # go on

    raw.set_progress_handler(count, 10)
    try:
        yield counted
    finally:
        raw.set_progress_handler(None, 0)
