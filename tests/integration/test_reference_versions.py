"""Reference data on PostgreSQL: a transaction reads its service's versions once, however
many pieces it asks for, and a bump committed by another transaction is seen by the next
(services/reference.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncConnection

from services.clock import SystemClock
from services.db import UnitOfWork
from services.reference import Reference, bump
from tests import infra
from tests.scenarios.services import pg_unit

pytestmark = pytest.mark.integration


@pytest.fixture
async def unit(pg_database: infra.ScratchDatabase) -> AsyncIterator[UnitOfWork]:
    async with pg_unit(pg_database.url, "qualifier", SystemClock(), "reftest") as unit:
        yield unit


async def test_one_version_read_per_transaction_and_bumps_seen_by_the_next(
    unit: UnitOfWork,
) -> None:
    data = {"definitions": 1, "model": 1}

    def loader(name: str) -> Any:
        async def load(conn: AsyncConnection) -> int:
            return data[name]

        return load

    definitions = Reference("qualifier", "definitions", loader("definitions"))
    model = Reference("qualifier", "model", loader("model"))
    version_reads: list[str] = []

    def count(_c: Any, _cur: Any, statement: str, *_: Any) -> None:
        if "reference_versions" in statement and statement.lstrip().startswith("SELECT"):
            version_reads.append(statement)

    event.listen(unit.database.engine.sync_engine, "before_cursor_execute", count)
    async with unit.transaction() as tx:
        assert (await definitions.current(tx), await model.current(tx)) == (1, 1)
    assert len(version_reads) == 1

    data["model"] = 2
    async with unit.transaction() as tx:
        await bump(tx, "model")
    async with unit.transaction() as tx:
        assert (await definitions.current(tx), await model.current(tx)) == (1, 2)
    assert len(version_reads) == 2
