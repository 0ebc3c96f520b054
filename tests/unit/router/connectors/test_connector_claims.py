"""The connector worker's claims (router/connectors/worker.py): a connector with its share
running is skipped, and when every connector has its share no claim is tried at all (it
could take nothing, and would read every due delivery to find it out)."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select

from router.connectors.repository.deliveries import any_due, claim_due
from router.connectors.worker import ConnectorWorker
from router.models import connector_deliveries, connectors
from services.crypto import SecretBox
from tests.backends import eventually
from tests.scenarios.router import World, connector_row, world_at
from tests.scenarios.services import sqlite_work, statements_of


async def _store(world: World, connector_id: str, deliveries: int, due_since_s: float = 10) -> None:
    now = world.clock.now()
    async with world.unit.transaction() as tx:
        await tx.conn.execute(connectors.insert(), connector_row(connector_id, now))
        await tx.conn.execute(
            connector_deliveries.insert(),
            [
                {
                    "id": f"{connector_id}-{i}",
                    "connector_id": connector_id,
                    "event_id": f"event-{connector_id}-{i}",
                    "event_type": "lead.assigned",
                    "lead_id": f"lead-{i}",
                    "payload": "{}",
                    "status": "pending",
                    "attempts": 0,
                    "next_attempt_at": now - timedelta(seconds=due_since_s - i),
                    "expires_at": now + timedelta(days=1),
                    "created_at": now,
                }
                for i in range(deliveries)
            ],
        )


def _worker(world: World) -> ConnectorWorker:
    return ConnectorWorker(world.unit, world.settings, world.router.routing, SecretBox.ephemeral())


async def test_with_every_connector_at_its_share_no_claim_reads_the_backlog(
    tmp_path: Path,
) -> None:
    async with world_at(
        tmp_path, connector_concurrency=4, connector_concurrency_per_connector=2
    ) as world:
        await _store(world, "crm", 5)
        worker = _worker(world)
        for _ in range(2):  # the crm's share is running
            assert worker.pool.reserve("crm")
        seen = statements_of(world.unit)
        assert await worker._start_due() == 0
        assert not [s for s in seen if "ORDER BY" in s], seen  # no claim ran
        assert worker.held_back  # a slot freed by a finished delivery is worth a look

        await _store(world, "dialer", 1)
        started: list[str] = []

        def start(key: str, work: Coroutine[Any, Any, None]) -> None:
            started.append(key)
            work.close()  # not sent: this test is about what is claimed

        worker.pool.start = start  # type: ignore[method-assign]
        assert await worker._start_due() == 1
        assert started == ["dialer"]  # the crm's deliveries are skipped, the dialer's taken


async def test_a_claim_does_not_read_the_backlog_of_a_connector_with_its_share_running(
    tmp_path: Path,
) -> None:
    """A slow CRM keeps its share in flight and its backlog grows: every claim used to read
    past that backlog (in due order) to find the other connectors' deliveries."""
    work = {}
    for backlog in (20, 2_000):
        where = tmp_path / str(backlog)
        where.mkdir()
        async with world_at(where) as world:
            await _store(world, "crm", backlog, due_since_s=3600)
            await _store(world, "dialer", 1)
            now = world.clock.now()
            async with world.unit.transaction() as tx:
                with sqlite_work(tx) as counted:
                    claimed = await claim_due(tx, now, now + timedelta(seconds=30), 2, ["crm"])
            work[backlog] = counted[0]
            assert [c.id for c in claimed] == ["dialer-0"]
    assert work[2_000] < work[20] * 1.5, work


async def test_deliveries_of_a_deleted_connector_are_deleted_not_left_due_forever(
    tmp_path: Path,
) -> None:
    """A routing transaction that read a connector before its delete committed queues a
    delivery for it. The per-connector seek never reads it, so it stayed pending and due
    forever, and every poll found it due and claimed nothing."""
    async with world_at(tmp_path) as world:
        await _store(world, "gone", 2)
        await _store(world, "crm", 1)
        async with world.unit.transaction() as tx:
            await tx.conn.execute(connectors.delete().where(connectors.c.id == "gone"))
        worker = _worker(world)
        started: list[str] = []

        def start(key: str, work: Coroutine[Any, Any, None]) -> None:
            started.append(key)
            work.close()

        worker.pool.start = start  # type: ignore[method-assign]
        assert await worker._start_due() == 1  # the crm's, claimed; the orphans stay a while
        assert started == ["crm"]
        assert await worker._start_due() == 0  # nothing claimable: the orphans are deleted
        async with world.unit.read() as conn:
            left = (await conn.execute(connector_deliveries.select())).all()
        assert sorted(r.id for r in left) == ["crm-0"]
        async with world.unit.read() as conn:
            assert not await any_due(conn, world.clock.now())


async def test_a_slot_goes_to_the_next_delivery_before_the_outcome_is_stored(
    tmp_path: Path,
) -> None:
    """The pool bounds the calls a CRM gets at once, not the outcomes being stored: with
    one slot, the next delivery starts while the first one's outcome cannot be stored yet
    (held here; on a busy process, the database's queue)."""
    async with world_at(
        tmp_path, connector_concurrency=1, connector_concurrency_per_connector=1
    ) as world:
        await _store(world, "crm", 2)
        worker = _worker(world)
        storing = asyncio.Event()
        run = worker.outcomes.run

        async def held(*args: Any, **kwargs: Any) -> Any:
            await storing.wait()
            return await run(*args, **kwargs)

        worker.outcomes.run = held  # type: ignore[method-assign]
        try:
            assert await worker._start_due() == 1

            async def let_go() -> bool:
                return worker.pool.free == 1 and len(worker.pool) == 1

            await eventually(let_go, timeout=5)
            assert await worker._start_due() == 1, "the second starts; the first is storing"
        finally:
            storing.set()
            await worker.pool.drain()
        async with world.unit.read() as conn:
            attempts = (await conn.execute(select(connector_deliveries.c.attempts))).scalars().all()
        assert attempts == [1, 1]
