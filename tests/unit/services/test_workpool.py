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
