"""Routing locks are per pool and per rep: decisions for other pools and reps go on in
parallel (replicas scale), decisions sharing a pool or a rep wait for each other."""

from __future__ import annotations

import asyncio

import pytest
from prometheus_client import REGISTRY

from router import repository
from services.clock import SystemClock
from services.db import Database, UnitOfWork
from tests.infra import ScratchDatabase

pytestmark = pytest.mark.integration


async def test_routing_locks_block_only_decisions_that_share_a_pool_or_a_rep(
    pg_database: ScratchDatabase,
) -> None:
    database = Database(pg_database.url, service="router")
    unit = UnitOfWork(database, "router", SystemClock(), "t")
    holding = asyncio.Event()
    release = asyncio.Event()

    async def hold(pools: list[str], reps: list[str]) -> None:
        async with unit.transaction() as tx:
            await repository.routing.lock_partitions(tx, pools, reps)
            holding.set()
            await release.wait()

    async def decide(pools: list[str], reps: list[str]) -> None:
        async with unit.transaction() as tx:
            await repository.routing.lock_partitions(tx, pools, reps)

    def held(pool: str) -> tuple[float, float]:
        """Seconds and commits counted for `pool` in leadfarm_router_partition_lock_seconds."""
        labels = {"pool": pool}
        name = "leadfarm_router_partition_lock_seconds"
        return (
            REGISTRY.get_sample_value(f"{name}_sum", labels) or 0.0,
            REGISTRY.get_sample_value(f"{name}_count", labels) or 0.0,
        )

    before = {pool: held(pool) for pool in ("inbound", "partners")}
    try:
        holder = asyncio.create_task(hold(["inbound"], ["ana", "bo"]))
        await holding.wait()
        # Another pool with other reps: not blocked.
        await asyncio.wait_for(decide(["partners"], ["cy"]), timeout=5)
        # The same pool, or another pool sharing a rep: blocked until the holder commits.
        for pools, reps in ((["inbound"], ["zed"]), (["partners"], ["bo"])):
            waiting = asyncio.create_task(decide(pools, reps))
            await asyncio.sleep(0.5)
            assert not waiting.done(), f"{pools} {reps} was not blocked"
            waiting.cancel()
            with pytest.raises(asyncio.CancelledError):
                await waiting
        release.set()
        await holder
        await asyncio.wait_for(decide(["inbound"], ["bo"]), timeout=5)
        # The holder's second on the pool is counted once it committed; the decisions that
        # were cancelled while waiting never held it.
        seconds, commits = held("inbound")
        assert seconds - before["inbound"][0] >= 1.0
        assert commits - before["inbound"][1] == 2
        assert held("partners")[1] - before["partners"][1] == 1
    finally:
        release.set()
        await database.dispose()
