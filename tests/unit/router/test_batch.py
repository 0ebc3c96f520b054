"""Routing a batch of qualified leads in one transaction: the same decisions as one lead
at a time (shares, caps, cursors, a lead twice), and a bounded number of statements."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event

from router.models import assignments, cursors, leads, pool_reps
from services.tables import timers
from tests.scenarios.router import World, world_at

WEIGHTS = {"ana": 1, "bo": 2, "cy": 3}


async def reps(world: World, **fields: Any) -> None:
    for rep_id, weight in WEIGHTS.items():
        await world.rep(rep_id, weight=weight, **fields)


async def picks(world: World) -> list[tuple[str, str]]:
    assigned = await world.events("lead.assigned")
    return [(e["data"]["lead_id"], e["data"]["rep_id"]) for e in assigned]


@contextmanager
def statements(world: World) -> Iterator[list[str]]:
    seen: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        seen.append(statement)

    engine = world.unit.database.engine.sync_engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", count)


async def test_a_batch_decides_exactly_as_one_lead_at_a_time(tmp_path: Path) -> None:
    ids = [f"lead-{i:02d}" for i in range(30)]
    for name in ("one", "batch"):
        (tmp_path / name).mkdir()
    async with world_at(tmp_path / "one") as one, world_at(tmp_path / "batch") as batch:
        for world in (one, batch):
            await reps(world, daily_cap=8)
            await world.pool("default", strategy="weighted_round_robin")
        for lead_id in ids:
            await one.qualify(lead_id=lead_id, email=f"{lead_id}@acme.example")
        await batch.qualify_together(*((i, {"email": f"{i}@acme.example"}) for i in ids))
        assert await picks(batch) == await picks(one)
        # The caps bind inside the batch too: 3 x 8 leads a day, the rest wait.
        assert sum(Counter(r for _, r in await picks(batch)).values()) == 24
        for table in (leads, assignments, pool_reps, cursors, timers):
            assert await batch.count(table) == await one.count(table), table.name


async def test_the_same_lead_twice_in_a_batch_is_routed_once(world: World) -> None:
    await reps(world)
    await world.qualify_together(("twice", {"email": "a@acme.example"}), ("twice", {}))
    assert len(await picks(world)) == 1
    assert await world.count(assignments) == 1


async def test_a_batch_costs_the_same_statements_whatever_its_size(tmp_path: Path) -> None:
    for name in ("small", "large"):
        (tmp_path / name).mkdir()
    async with world_at(tmp_path / "small") as small, world_at(tmp_path / "large") as large:
        counted = []
        for world, size in ((small, 5), (large, 50)):
            await reps(world)
            await world.qualify()  # configuration loaded and state rows created
            with statements(world) as seen:
                await world.qualify_together(
                    *((f"lead-{i}", {"email": f"{i}@acme.example"}) for i in range(size))
                )
            counted.append(len(seen))
        assert counted[0] == counted[1], counted
        assert counted[1] <= 20, counted
