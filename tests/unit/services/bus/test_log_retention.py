"""The embedded log's retention (services/bus/retention.py): records older than the
retention that every consumer group has read go, a chunk a transaction; newer ones, unread
ones, dead letters and their replays stay."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from services import pruning
from services.bus.retention import LogRetention
from services.clock import ManualClock
from services.db import UnitOfWork
from services.ops import lag
from services.runtime import embedded_runtime
from services.settings import Settings
from services.tables import embedded_offsets, outbox
from tests.backends import eventually
from tests.scenarios.services import chassis_unit

GROUPS = ["t.qualifier", "t.audit"]


async def _log(unit: UnitOfWork, clock: ManualClock) -> None:
    old, recent = clock.now() - timedelta(days=8), clock.now() - timedelta(days=6)
    rows = [
        ("e1", "t.ingest", old),
        ("e2", "t.ingest.dlq", old),  # a dead letter: stays
        ("replay-e2", "t.ingest", old),  # its replay: stays
        ("e4", "t.ingest", old),
        ("e5", "t.ingest", old),
        ("e6", "t.ingest", recent),
        ("e7", "t.ingest", recent),
    ]
    async with unit.transaction() as tx:
        await tx.conn.execute(
            outbox.insert(),
            [
                {
                    "id": n,
                    "event_id": event_id,
                    "service": "ingest",
                    "topic": topic,
                    "key": "lead",
                    "payload": "{}",
                    "created_at": at,
                    "published_at": at,
                }
                for n, (event_id, topic, at) in enumerate(rows, start=1)
            ],
        )


async def _positions(unit: UnitOfWork, **positions: int) -> None:
    async with unit.transaction() as tx:
        await tx.conn.execute(embedded_offsets.delete())
        await tx.conn.execute(
            embedded_offsets.insert(),
            [{"group_id": f"t.{g}", "position": p} for g, p in positions.items()],
        )


async def _left(unit: UnitOfWork) -> list[str]:
    async with unit.read() as conn:
        return list(await conn.scalars(select(outbox.c.event_id).order_by(outbox.c.id)))


async def test_old_records_every_group_has_read_go_and_the_rest_stay(tmp_path: Path) -> None:
    clock = ManualClock()
    async with chassis_unit(tmp_path, clock) as unit:
        await _log(unit, clock)
        log = LogRetention(unit.database, clock, GROUPS, timedelta(days=7))

        await _positions(unit, qualifier=7)  # audit has read nothing yet
        assert not await log.round()
        assert len(await _left(unit)) == 7

        await _positions(unit, qualifier=7, audit=4)  # audit has read up to e4
        assert not await log.round()
        assert await _left(unit) == ["e2", "replay-e2", "e5", "e6", "e7"]

        await _positions(unit, qualifier=7, audit=7)  # all read: the old ones go
        assert not await log.round()
        assert await _left(unit) == ["e2", "replay-e2", "e6", "e7"]
        assert log.deleted == 3


async def test_a_turn_deletes_a_chunk_a_transaction_and_says_when_more_are_left(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pruning, "CHUNK", 2)
    monkeypatch.setattr(pruning, "TURN_S", 0.0)  # one chunk a turn
    clock = ManualClock()
    async with chassis_unit(tmp_path, clock) as unit:
        await _log(unit, clock)
        await _positions(unit, qualifier=7, audit=7)
        log = LogRetention(unit.database, clock, GROUPS, timedelta(days=7))
        assert await log.round()  # e1, e4 (the dead letter and its replay are passed)
        assert await _left(unit) == ["e2", "replay-e2", "e5", "e6", "e7"]
        assert not await log.round()
        assert await _left(unit) == ["e2", "replay-e2", "e6", "e7"]


async def test_the_embedded_runtime_runs_it_for_every_consumer_group(tmp_path: Path) -> None:
    runtime = embedded_runtime(Settings(data_dir=tmp_path, log_format="text"))
    await runtime.start()
    try:
        assert runtime.log_retention is not None
        assert await eventually(lambda: asyncio.sleep(0, runtime.task("log-retention")))
        assert sorted(runtime.log_retention.groups) == sorted(c.group for c in runtime.consumers)
        assert runtime.log_retention.retention == timedelta(days=7)
    finally:
        await runtime.stop()


async def test_lag_after_the_retention_deleted_a_topics_old_records(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, log_format="text")
    started = embedded_runtime(settings)
    await started.start()
    await started.stop()
    ops = embedded_runtime(settings)  # what `leadfarm lag` opens beside the data
    try:
        clock, topic = ManualClock(), f"{settings.topic_namespace}.ingest"
        old, recent = clock.now() - timedelta(days=8), clock.now() - timedelta(days=1)
        rows = [(1001, topic, old), (1002, topic, old), (1006, "other", recent)]
        rows += [(1010, topic, recent), (1011, topic, recent)]
        groups = [c.group(settings.topic_namespace) for c in ops.specs if c.event_types()]
        async with ops.units["ingest"].transaction() as tx:
            await tx.conn.execute(
                outbox.insert(),
                [
                    {
                        "id": n,
                        "event_id": f"e{n}",
                        "service": "ingest",
                        "topic": t,
                        "key": None,
                        "payload": "{}",
                        "created_at": at,
                        "published_at": at,
                    }
                    for n, t, at in rows
                ],
            )
            await tx.conn.execute(embedded_offsets.delete())
            await tx.conn.execute(
                embedded_offsets.insert(), [{"group_id": g, "position": 1008} for g in groups]
            )
        await LogRetention(ops.database, clock, groups, timedelta(days=7)).round()
        [row] = [
            r
            for r in await lag.consumer_lag([ops])
            if r.topic == topic and r.group.endswith(".qualifier")
        ]
        # Read up to 1008: its old records are gone, two newer ones wait.
        assert (row.committed, row.end, row.lag) == (1008, 1011, 2)
    finally:
        await ops.database.dispose()
