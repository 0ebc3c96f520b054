"""The outbox relay on PostgreSQL: one replica's relay publishes at a time (the session
advisory lock its own connection holds), a round is one statement that marks what the last
round published and reads what is unsent, and losing the connection gives the lead away
and re-sends what was not marked (services/outbox.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

import asyncpg
import pytest
from sqlalchemy import select, text

from services import metrics
from services.clock import SystemClock
from services.db import UnitOfWork
from services.outbox import (
    _MARK_AND_READ_UNSENT,
    OutboundRecord,
    OutboxRelay,
    advisory_lock_id,
    write_record,
)
from services.tables import outbox
from tests import infra
from tests.scenarios.services import pg_unit

pytestmark = pytest.mark.integration


class Sent:
    def __init__(self) -> None:
        self.records: list[OutboundRecord] = []

    async def publish(self, records: Sequence[OutboundRecord]) -> None:
        self.records.extend(records)


@pytest.fixture
async def unit(pg_database: infra.ScratchDatabase) -> AsyncIterator[UnitOfWork]:
    async with pg_unit(pg_database.url, "qualifier", SystemClock(), "relaytest") as unit:
        yield unit


@pytest.fixture
async def relays(unit: UnitOfWork) -> AsyncIterator[list[OutboxRelay]]:
    """The relays a test makes (as replicas would), each closed at the end."""
    made: list[OutboxRelay] = []
    yield made
    for relay in made:
        await relay.close()


def relay_of(unit: UnitOfWork, relays: list[OutboxRelay], batch_size: int = 10) -> OutboxRelay:
    relay = OutboxRelay(unit, Sent(), batch_size=batch_size, poll_interval_s=1.0)
    relays.append(relay)
    return relay


def sent(relay: OutboxRelay) -> list[bytes]:
    assert isinstance(relay.publisher, Sent)
    return [r.value for r in relay.publisher.records]


def raw(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://")


async def _write(unit: UnitOfWork, n: int, first: int = 0) -> None:
    async with unit.transaction() as tx:
        for i in range(first, first + n):
            await write_record(tx, "t", f"k{i}", f"v{i}".encode(), event_id=f"e{i}")


async def unmarked(unit: UnitOfWork) -> int:
    async with unit.read() as conn:
        rows = await conn.execute(select(outbox.c.id).where(outbox.c.published_at.is_(None)))
        return len(rows.all())


def statements() -> float:
    return metrics.DB_STATEMENTS.labels("qualifier")._value.get()  # type: ignore[no-any-return]


async def test_the_relay_publishes_unsent_rows_oldest_first_then_nothing(
    unit: UnitOfWork, relays: list[OutboxRelay]
) -> None:
    await _write(unit, 3)
    relay = relay_of(unit, relays, batch_size=2)
    assert await relay.relay_once() == 2
    assert await relay.relay_once() == 1
    assert await relay.relay_once() == 0
    assert sent(relay) == [b"v0", b"v1", b"v2"]


async def test_a_round_is_one_statement_and_marks_what_the_last_round_published(
    unit: UnitOfWork, relays: list[OutboxRelay]
) -> None:
    relay = relay_of(unit, relays)
    assert await relay.relay_once() == 0  # takes the lead
    await _write(unit, 2)
    before = statements()
    assert await relay.relay_once() == 2
    assert statements() - before == 1
    assert await unmarked(unit) == 2  # published, marked by the next round
    await _write(unit, 1, first=2)
    before = statements()
    assert await relay.relay_once() == 1
    assert statements() - before == 1
    assert await unmarked(unit) == 1
    await relay.release()  # stopping marks the rest
    assert await unmarked(unit) == 0
    assert sent(relay) == [b"v0", b"v1", b"v2"]


async def test_a_relay_publishes_nothing_while_another_holds_the_services_lock(
    unit: UnitOfWork, pg_database: infra.ScratchDatabase, relays: list[OutboxRelay]
) -> None:
    await _write(unit, 2)
    relay = relay_of(unit, relays)
    other = await asyncpg.connect(raw(pg_database.url))
    try:
        async with other.transaction():
            await other.execute("SELECT pg_advisory_xact_lock($1)", advisory_lock_id("qualifier"))
            assert await relay.relay_once() == 0
            assert sent(relay) == []
    finally:
        await other.close()
    assert await relay.relay_once() == 2


async def test_the_leader_keeps_the_lead_until_it_lets_go(
    unit: UnitOfWork, relays: list[OutboxRelay]
) -> None:
    """Two replicas' relays: the first leads for as long as it lives; when it stops the
    other takes over from the first row not marked sent."""
    first, second = relay_of(unit, relays), relay_of(unit, relays)
    await _write(unit, 2)
    assert await first.relay_once() == 2
    await _write(unit, 1, first=2)
    assert await second.relay_once() == 0
    assert (first.leading, second.leading) == (True, False)
    await first.release()
    assert await second.relay_once() == 1
    assert sent(second) == [b"v2"]


async def test_losing_the_connection_gives_the_lead_away_and_resends_what_was_not_marked(
    unit: UnitOfWork, pg_database: infra.ScratchDatabase, relays: list[OutboxRelay]
) -> None:
    first, second = relay_of(unit, relays), relay_of(unit, relays)
    await _write(unit, 2)
    assert await first.relay_once() == 2  # published, not marked yet
    admin = await asyncpg.connect(raw(pg_database.url))
    try:  # the database drops the leader's session (a restart, a failover)
        await admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_locks"
            " WHERE locktype = 'advisory' AND objid = ($1::bigint & 4294967295)::oid"
            " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
            advisory_lock_id("qualifier"),
        )
    finally:
        await admin.close()
    with pytest.raises(Exception):  # noqa: B017, PT011 - whatever the driver raises
        await first.relay_once()
    assert not first.leading
    assert await second.relay_once() == 2  # at least once: the inbox absorbs the repeat
    assert sent(second) == [b"v0", b"v1"]
    assert await first.relay_once() == 0  # the lead stays with the second


def _node_types(plan: dict[str, object]) -> set[str]:
    children = plan.get("Plans", [])
    assert isinstance(children, list)
    return {str(plan["Node Type"])}.union(*(_node_types(child) for child in children))


async def test_the_relays_connection_reads_the_outbox_by_index_however_small_it_was(
    unit: UnitOfWork, relays: list[OutboxRelay]
) -> None:
    """A plan made while the outbox was small (a tiny table is cheapest to read whole) is
    kept by a prepared statement after the table has grown, and would then read every
    published row on each round: the relay's connection plans index scans only."""
    await _write(unit, 3)
    relay = relay_of(unit, relays)
    assert await relay.relay_once() == 3
    assert relay._conn is not None
    explained = await relay._conn.execute(
        text(f"EXPLAIN (FORMAT JSON) {_MARK_AND_READ_UNSENT.text}"),
        {
            "now": SystemClock().now(),
            "sent": [1, 2],
            "service": "qualifier",
            "limit": 10,
            "dead": "%.dlq",
            "replay": "replay-%",
        },
    )
    nodes = _node_types(explained.scalar_one()[0]["Plan"])
    assert "Index Scan" in nodes
    assert not nodes & {"Seq Scan", "Bitmap Heap Scan", "Bitmap Index Scan"}, nodes
