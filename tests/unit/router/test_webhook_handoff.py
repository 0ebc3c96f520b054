"""The hand-off (router/webhooks.py, `WebhookWorker.offer`): deliveries this process queues
are stored leased to it and posted the moment their transaction commits, with no claim; a
delivery whose transaction or savepoint did not commit is never posted, and one the pool
has no slot for is claimed as before."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from sqlalchemy import event, select
from sqlalchemy.exc import IntegrityError

from contracts.events import SlaBreached
from router import repository
from router.models import deliveries
from router.webhooks import WebhookWorker
from tests.scenarios.router import World, world_at
from tests.unit.router.test_webhooks import SECRET, subscribe, verify, worker_answering

Receiver = Callable[[httpx.Request], Coroutine[None, None, httpx.Response]]


def recording(seen: list[httpx.Request]) -> Receiver:
    """A receiver that keeps what it is sent and answers 204."""

    async def receive(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(204)

    return receive


@asynccontextmanager
async def handing_off(
    world: World, receiver: Receiver
) -> AsyncIterator[tuple[WebhookWorker, list[str]]]:
    """A worker the announcer hands off to, and the statements run meanwhile."""
    worker = worker_answering(world, receiver)
    world.router.announcer.handoff = worker
    statements: list[str] = []

    def on_statement(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        statements.append(" ".join(statement.split()))

    engine = world.unit.database.engine.sync_engine
    event.listen(engine, "before_cursor_execute", on_statement)
    try:
        yield worker, statements
    finally:
        event.remove(engine, "before_cursor_execute", on_statement)
        await worker.stop()
        world.router.announcer.handoff = None


def breach(lead_id: str) -> SlaBreached:
    return SlaBreached(lead_id=lead_id, rep_id="ana", sla="first_touch", due_at=datetime.now(UTC))


async def statuses(world: World) -> list[str]:
    async with world.unit.read() as conn:
        return list((await conn.execute(select(deliveries.c.status))).scalars())


async def test_what_a_commit_queued_is_posted_at_once_without_a_claim(tmp_path: Path) -> None:
    async with world_at(tmp_path) as world:
        await world.rep("ana")
        await subscribe(world)
        seen: list[httpx.Request] = []
        async with handing_off(world, recording(seen)) as (worker, statements):
            lead_id = await world.qualify()
            assert not worker._wake.is_set()  # nothing left to claim: no claim read
            await worker.pool.drain()
            assert worker.pool.free == worker.pool.limit
        assert len(seen) == 1
        assert verify(SECRET, seen[0])["subject"] == lead_id
        assert await statuses(world) == ["delivered"]
        claims = [
            s
            for s in statements
            if s.startswith("SELECT router_webhook_deliveries")
            or s.startswith("UPDATE router_webhook_deliveries SET next_attempt_at")
        ]
        assert claims == [], claims


async def test_nothing_is_posted_for_a_transaction_or_savepoint_that_did_not_commit(
    tmp_path: Path,
) -> None:
    async with world_at(tmp_path) as world:
        await world.rep("ana")
        await subscribe(world)
        seen: list[httpx.Request] = []
        async with handing_off(world, recording(seen)) as (worker, _):
            with contextlib.suppress(RuntimeError):
                async with world.unit.transaction() as tx:
                    await world.router.say(tx, breach(str(uuid.uuid4())))
                    raise RuntimeError("the batch failed")
            assert worker.pool.free == worker.pool.limit

            # Failing at the commit itself, after the hand-off reserved its slot: a row
            # that breaks a key is written with the others at flush.
            async with world.unit.read() as conn:
                taken = await conn.scalar(select(deliveries.c.id))

            async def clashing() -> None:
                async with world.unit.transaction() as tx:
                    await world.router.say(tx, breach(str(uuid.uuid4())))
                    clash = dict(tx.deferred(repository.deliveries.INSERT_DELIVERY)[0], id=taken)
                    tx.defer(repository.deliveries.INSERT_DELIVERY, clash)

            with pytest.raises(IntegrityError):
                await clashing()
            assert worker.pool.free == worker.pool.limit  # its slot was given back

            kept = str(uuid.uuid4())
            async with world.unit.transaction() as tx:
                with contextlib.suppress(RuntimeError):
                    async with tx.savepoint():
                        await world.router.say(tx, breach(str(uuid.uuid4())))
                        raise RuntimeError("one event failed")
                await world.router.say(tx, breach(kept))
            await worker.pool.drain()
            assert worker.pool.free == worker.pool.limit

            # Flushed inside a savepoint (the rows written), then the savepoint fails:
            # nothing may be posted for rows the database no longer has.
            async with world.unit.transaction() as tx:
                with contextlib.suppress(RuntimeError):
                    async with tx.savepoint():
                        await world.router.say(tx, breach(str(uuid.uuid4())))
                        await tx.flush()
                        raise RuntimeError("one event failed after a flush")
            await worker.pool.drain()
            assert worker.pool.free == worker.pool.limit
        assert [verify(SECRET, r)["subject"] for r in seen] == [kept]
        assert await statuses(world) == ["delivered"]


async def test_what_the_pool_has_no_slot_for_is_claimed_as_before(tmp_path: Path) -> None:
    async with world_at(
        tmp_path, webhook_concurrency=2, webhook_concurrency_per_subscription=1
    ) as world:
        await world.rep("ana")
        await subscribe(world)
        seen: list[httpx.Request] = []
        async with handing_off(world, recording(seen)) as (worker, _):
            async with world.unit.transaction() as tx:
                for _ in range(5):
                    await world.router.say(tx, breach(str(uuid.uuid4())))
            handed = len(worker.pool)
            assert handed == 1  # one share kept free for another subscription
            assert worker._wake.is_set()  # the others are claimed at once, not at the poll
            await worker.pool.drain()
            claimed = 0
            while started := await worker.run_once():  # a share at a time
                claimed += started
            assert claimed == 4
            await worker.pool.drain()
        assert len(seen) == 5
        assert len({r.headers["webhook-id"] for r in seen}) == 5  # each once
        assert await statuses(world) == ["delivered"] * 5


async def test_a_running_worker_does_not_look_for_work_each_time_a_hand_off_finishes(
    tmp_path: Path,
) -> None:
    """With nothing due (every delivery was handed off), a finished delivery frees a slot
    nobody waits for: the worker waits for a wake-up, not for it (no idle-check read per
    delivery)."""
    async with world_at(tmp_path, webhook_poll_interval_s=60.0) as world:
        await world.rep("ana")
        await subscribe(world)
        release = asyncio.Event()

        async def slow(request: httpx.Request) -> httpx.Response:
            await release.wait()
            return httpx.Response(204)

        async with handing_off(world, slow) as (worker, statements):
            running = asyncio.create_task(worker.run())
            for _ in range(3):
                await world.qualify()  # handed off: in flight, waiting for the receiver
            worker.wake()  # the worker looks once (nothing due) and pauses with them in flight
            await asyncio.sleep(0.1)
            before = len(statements)
            release.set()
            await worker.pool.drain()
            await asyncio.sleep(0.1)
            looks = [
                s
                for s in statements[before:]
                if s.startswith("SELECT router_webhook_deliveries.id FROM")
            ]
            await worker.stop()
            await running
        assert await statuses(world) == ["delivered"] * 3
        assert looks == [], looks
