"""The relay prunes its outbox on PostgreSQL (services/outbox.py): records published longer
ago than the retention go, range by range; dead letters and their replays stay (`leadfarm
dlq` reads them there), and so does anything not published yet."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from services import outbox as outbox_module
from services.clock import ManualClock
from services.db import UnitOfWork
from services.outbox import OutboxRelay, write_record
from services.tables import outbox
from tests import infra
from tests.integration.test_outbox_relay import Sent
from tests.scenarios.services import pg_unit

pytestmark = pytest.mark.integration

START = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
async def unit(pg_database: infra.ScratchDatabase) -> AsyncIterator[UnitOfWork]:
    async with pg_unit(pg_database.url, "qualifier", ManualClock(START), "prunetest") as unit:
        yield unit


async def _write(unit: UnitOfWork, *records: tuple[str, str]) -> None:
    async with unit.transaction() as tx:
        for topic, event_id in records:
            await write_record(tx, topic, "k", b"{}", event_id=event_id)


async def _left(unit: UnitOfWork) -> set[str]:
    async with unit.read() as conn:
        return set((await conn.scalars(select(outbox.c.event_id))).all())


async def test_records_published_before_the_retention_are_pruned_but_dead_letters_stay(
    unit: UnitOfWork, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = unit.clock
    assert isinstance(clock, ManualClock)
    monkeypatch.setattr(outbox_module, "PRUNE_IDS", 3)  # several ranges
    relay = OutboxRelay(
        unit, Sent(), batch_size=100, poll_interval_s=1.0, retention=timedelta(days=7)
    )
    try:
        old = [("t", f"old{i}") for i in range(7)]
        await _write(unit, *old, ("t.dlq", "dead"), ("t", "replay-dead"), ("t", "late"))
        assert await relay.relay_once() == 10
        assert await relay.relay_once() == 0  # marks them published
        clock.advance(timedelta(days=7, hours=1))
        await _write(unit, ("t", "new"))
        assert await relay.relay_once() == 1
        await relay.relay_once()  # marks it
        # One record of that time is not published (as if its publish had failed since).
        async with unit.transaction() as tx:
            await tx.conn.execute(
                update(outbox).where(outbox.c.event_id == "late").values(published_at=None)
            )

        rounds = 1
        while await relay.prune_once():
            rounds += 1
        assert rounds >= 3, "pruned range by range"
        assert await _left(unit) == {"dead", "replay-dead", "new", "late"}

        # Within the retention nothing goes.
        clock.advance(timedelta(days=6))
        assert not await relay.prune_once()
        assert await _left(unit) == {"dead", "replay-dead", "new", "late"}
    finally:
        await relay.close()


async def test_a_relay_that_does_not_lead_prunes_nothing(unit: UnitOfWork) -> None:
    clock = unit.clock
    assert isinstance(clock, ManualClock)
    leader = OutboxRelay(unit, Sent(), batch_size=100, poll_interval_s=1.0)
    other = OutboxRelay(unit, Sent(), batch_size=100, poll_interval_s=1.0)
    try:
        await _write(unit, ("t", "a"), ("t", "b"))
        assert await leader.relay_once() == 2
        await leader.relay_once()
        assert await other.relay_once() == 0  # the lead is taken
        clock.advance(timedelta(days=8))
        assert not await other.prune_once()
        assert await _left(unit) == {"a", "b"}
    finally:
        await leader.close()
        await other.close()
