"""The outbox relay on PostgreSQL: one replica's relay publishes at a time (its advisory
lock), and the lock and the unsent rows are one round trip (services/outbox.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

import asyncpg
import pytest

from services.clock import SystemClock
from services.db import Database, UnitOfWork
from services.outbox import OutboundRecord, OutboxRelay, advisory_lock_id, write_record
from tests import infra

pytestmark = pytest.mark.integration


class Sent:
    def __init__(self) -> None:
        self.records: list[OutboundRecord] = []

    async def publish(self, records: Sequence[OutboundRecord]) -> None:
        self.records.extend(records)


@pytest.fixture
async def unit(pg_database: infra.ScratchDatabase) -> AsyncIterator[UnitOfWork]:
    db = Database(pg_database.url, service="qualifier", pool_size=2)
    yield UnitOfWork(db, "qualifier", SystemClock(), "relaytest")
    await db.dispose()


async def _write(unit: UnitOfWork, n: int) -> None:
    async with unit.transaction() as tx:
        for i in range(n):
            await write_record(tx, "t", f"k{i}", f"v{i}".encode(), event_id=f"e{i}")


async def test_the_relay_publishes_unsent_rows_oldest_first_then_nothing(
    unit: UnitOfWork,
) -> None:
    await _write(unit, 3)
    sent = Sent()
    relay = OutboxRelay(unit, sent, batch_size=2, poll_interval_s=1.0)
    assert await relay.relay_once() == 2
    assert await relay.relay_once() == 1
    assert await relay.relay_once() == 0
    assert [r.value for r in sent.records] == [b"v0", b"v1", b"v2"]


async def test_a_relay_publishes_nothing_while_another_holds_the_services_lock(
    unit: UnitOfWork, pg_database: infra.ScratchDatabase
) -> None:
    await _write(unit, 2)
    sent = Sent()
    relay = OutboxRelay(unit, sent, batch_size=10, poll_interval_s=1.0)
    other = await asyncpg.connect(pg_database.url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        async with other.transaction():
            await other.execute("SELECT pg_advisory_xact_lock($1)", advisory_lock_id("qualifier"))
            assert await relay.relay_once() == 0
            assert sent.records == []
    finally:
        await other.close()
    assert await relay.relay_once() == 2
