"""The keyed pool's count of slots per key: reserved, started, finished, failed, cancelled."""

from __future__ import annotations

import asyncio

from services.workpool import KeyedPool


async def test_slots_are_counted_per_key_until_each_item_ends() -> None:
    pool = KeyedPool("test", limit=6, per_key=2)
    gate = asyncio.Event()

    async def waits() -> None:
        await gate.wait()

    async def fails() -> None:
        await gate.wait()
        raise RuntimeError("recording failed")

    pool.start("a", waits())
    pool.start("a", fails())
    assert pool.reserve("b")
    assert pool.in_flight() == {"a": 2, "b": 1}
    assert pool.full() == ["a"]
    assert pool.free == 3
    # Past its share while more than a share stays free; not once only a share is left.
    assert pool.reserve("a")
    assert pool.free == 2
    assert not pool.reserve("a")
    assert pool.reserve("b")  # below its share: it may take the last slots
    pool.release("b")
    pool.start_reserved("b", waits())
    assert pool.in_flight() == {"a": 3, "b": 1}
    pool.release("a")
    pool.start("c", waits())
    cancelled = next(t for t in asyncio.all_tasks() if t.get_name() == "test:c")
    cancelled.cancel()
    gate.set()
    await pool.drain()
    await asyncio.sleep(0)
    assert pool.in_flight() == {}
    assert pool.full() == []
    assert pool.free == 6
    assert len(pool) == 0


async def test_an_item_that_lets_go_frees_its_slot_but_stays_in_flight() -> None:
    pool = KeyedPool("test", limit=1, per_key=1)
    answered, stored = asyncio.Event(), asyncio.Event()
    done: list[str] = []

    async def item() -> None:
        await answered.wait()
        pool.let_go()
        pool.let_go()  # once is enough; a second changes nothing
        await stored.wait()
        done.append("stored")

    pool.start("a", item())
    assert pool.free == 0
    waiting = asyncio.create_task(pool.wait_any())
    answered.set()
    await asyncio.wait_for(waiting, timeout=1)  # woken by the slot freeing, not the end
    assert pool.free == 1
    assert pool.in_flight() == {}
    assert len(pool) == 1, "still storing its outcome"
    draining = asyncio.create_task(pool.drain())
    await asyncio.sleep(0.01)
    assert not draining.done(), "drain waits for the outcome to be stored"
    stored.set()
    await asyncio.wait_for(draining, timeout=1)
    assert done == ["stored"]
    assert len(pool) == 0
