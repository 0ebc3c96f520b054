"""The qualifier's start-up definitions are stored when the service starts, once, even when
two replicas start together on one PostgreSQL (qualifier/catalog.py, `seed`)."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select

from qualifier.catalog import DefinitionsCatalog
from qualifier.definitions import DEFAULT_FILE, load_file
from qualifier.models import definitions
from services.clock import SystemClock
from services.db import Database, UnitOfWork
from tests import infra

pytestmark = pytest.mark.integration


async def test_two_replicas_starting_together_store_the_file_once(
    pg_database: infra.ScratchDatabase,
) -> None:
    databases = [Database(pg_database.url, service="qualifier") for _ in range(2)]
    units = [UnitOfWork(db, "qualifier", SystemClock(), "seedtest") for db in databases]
    text = DEFAULT_FILE.read_text(encoding="utf-8")
    catalogs = [DefinitionsCatalog(text, load_file(DEFAULT_FILE), DEFAULT_FILE.name) for _ in units]
    try:
        await asyncio.gather(*(c.seed(u) for c, u in zip(catalogs, units, strict=True)))
        await catalogs[0].seed(units[0])  # a restart with the same file changes nothing
        async with units[0].read() as conn:
            stored = await conn.scalar(select(func.count()).select_from(definitions))
            active = await catalogs[1].active(conn)
        assert stored == 1
        assert (active.seq, active.changed_by) == (1, "file")
    finally:
        for db in databases:
            await db.dispose()
