"""What the relay published leaves PostgreSQL's outbox (services/outbox.py): Kafka has it,
and an UPDATE marking it would copy every row. Dead letters and their replays stay, marked
published: `leadfarm dlq` lists them from there, and a replay's row is what makes a dead
letter replayed at most once."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select

from services.clock import SystemClock
from services.db import UnitOfWork
from services.outbox import REPLAY_PREFIX, OutboxRelay, write_record
from services.tables import outbox
from tests import infra
from tests.integration.test_outbox_relay import Sent
from tests.scenarios.services import pg_unit

pytestmark = pytest.mark.integration


@pytest.fixture
async def unit(pg_database: infra.ScratchDatabase) -> AsyncIterator[UnitOfWork]:
    async with pg_unit(pg_database.url, "qualifier", SystemClock(), "publishedtest") as unit:
        yield unit


async def _rows(unit: UnitOfWork) -> dict[str, bool]:
    """Event id -> published, of the rows left."""
    async with unit.read() as conn:
        rows = (await conn.execute(select(outbox.c.event_id, outbox.c.published_at))).all()
    return {r.event_id: r.published_at is not None for r in rows}


async def test_published_records_leave_the_outbox_but_dead_letters_and_replays(
    unit: UnitOfWork,
) -> None:
    relay = OutboxRelay(unit, Sent(), batch_size=100, poll_interval_s=1.0)
    try:
        async with unit.transaction() as tx:
            await write_record(tx, "t", "k", b"{}", event_id="plain")
            await write_record(tx, "t.dlq", "k", b"{}", event_id="dead")
            await write_record(tx, "t", "k", b"{}", event_id=f"{REPLAY_PREFIX}dead")
        assert await relay.relay_once() == 3
        assert await _rows(unit) == {"plain": False, "dead": False, f"{REPLAY_PREFIX}dead": False}
        async with unit.transaction() as tx:
            await write_record(tx, "t", "k", b"{}", event_id="later")
        assert await relay.relay_once() == 1  # marks the first three, sends "later"
        assert await _rows(unit) == {"dead": True, f"{REPLAY_PREFIX}dead": True, "later": False}
        await relay.release()  # marks "later" on the way out
        assert await _rows(unit) == {"dead": True, f"{REPLAY_PREFIX}dead": True}
    finally:
        await relay.close()
