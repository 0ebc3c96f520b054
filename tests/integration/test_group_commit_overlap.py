"""On PostgreSQL a group committer may run its next round while the one before writes and
commits (`in_flight`): ingest's rounds spend most of their time waiting for the database,
and the next round's requests need not wait that out too. A round still takes only the
works queued when it opened, and each work is answered after its own round committed."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence

import pytest
from sqlalchemy import text

from services.clock import SystemClock
from services.db import Tx, UnitOfWork
from services.groupcommit import GroupCommitter, transaction_only
from services.reference import bump
from tests import infra
from tests.scenarios.services import pg_unit

pytestmark = pytest.mark.integration

SLOW_WRITE = text("SELECT pg_sleep(:seconds)")
"""Deferred like a round's inserts: it runs after the works, with the round's other writes."""


@pytest.fixture
async def unit(pg_database: infra.ScratchDatabase) -> AsyncIterator[UnitOfWork]:
    async with pg_unit(pg_database.url, "ingest", SystemClock(), "overlap") as unit:
        yield unit


@pytest.mark.parametrize("in_flight", [1, 2])
async def test_the_next_round_runs_while_the_one_before_commits_when_two_are_in_flight(
    unit: UnitOfWork, in_flight: int
) -> None:
    events: list[tuple[str, str, float]] = []

    async def prepare(tx: Tx, keys: Sequence[str]) -> Tx:
        events.append(("prepared", ",".join(keys), time.monotonic()))
        tx.after_commit(lambda: events.append(("committed", ",".join(keys), time.monotonic())))
        return tx

    committer = GroupCommitter(unit, prepare, in_flight=in_flight)

    async def work_of(name: str, write_s: float) -> str:
        async def work(tx: Tx) -> str:
            await bump(tx, name)
            tx.defer(SLOW_WRITE, {"seconds": write_s})
            return name

        return await committer.run(work, name)

    first = asyncio.create_task(work_of("first", 0.5))
    while not events:  # the first round has run its work and writes for half a second
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.1)
    second = await work_of("second", 0.0)
    assert (await first, second) == ("first", "second")

    order = [(what, keys) for what, keys, _ in sorted(events, key=lambda e: e[2])]
    if in_flight == 2:
        # The second round opened, ran and committed during the first one's write.
        assert order == [
            ("prepared", "first"),
            ("prepared", "second"),
            ("committed", "second"),
            ("committed", "first"),
        ]
    else:
        assert order == [
            ("prepared", "first"),
            ("committed", "first"),
            ("prepared", "second"),
            ("committed", "second"),
        ]


async def test_rounds_in_flight_that_touch_the_same_row_still_commit_one_after_the_other(
    unit: UnitOfWork,
) -> None:
    """Two rounds at once on the same row: the second waits for the first's row lock and
    both writes stand (a round's own reads and locks are the caller's `prepare`; here the
    row is the service's reference version, bumped by every work)."""
    committer: GroupCommitter[str, Tx] = GroupCommitter(unit, transaction_only, in_flight=2)

    async def bump_of(name: str) -> None:
        async def work(tx: Tx) -> None:
            await bump(tx, "shared")

        await committer.run(work, name)

    await asyncio.gather(*(bump_of(f"w{i}") for i in range(20)))
    async with unit.read() as conn:
        version = (
            await conn.execute(
                text("SELECT version FROM reference_versions WHERE service = :s AND name = :n"),
                {"s": "ingest", "n": "shared"},
            )
        ).scalar_one()
    assert version == 20
