"""The inbox forgets (services/inbox.py: forget), on SQLite and on PostgreSQL: what one
consumer handled before the horizon goes, a chunk at a time; what it handled since, and
every other consumer's rows, stay."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from uuid_utils import uuid7

from services.clock import ManualClock
from services.db import UnitOfWork
from services.inbox import forget
from services.tables import inbox
from tests.scenarios.router import BOTH_DATABASES, router_unit

NOW = datetime(2026, 12, 6, 23, 0, tzinfo=UTC)
HORIZON = NOW - timedelta(days=30)


@pytest.fixture(params=BOTH_DATABASES)
async def unit(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[UnitOfWork]:
    async with router_unit(request, tmp_path, ManualClock(NOW)) as unit:
        yield unit


def _id_at(at: datetime) -> str:
    return str(uuid7(nanoseconds=int(at.timestamp() * 1e9)))


async def test_a_consumer_forgets_what_it_handled_before_the_horizon(unit: UnitOfWork) -> None:
    old, recent = NOW - timedelta(days=40), NOW - timedelta(hours=1)
    rows = [
        *({"consumer": "t.router", "event_id": _id_at(old), "handled_at": old} for _ in range(5)),
        *(
            {"consumer": "t.router", "event_id": _id_at(recent), "handled_at": recent}
            for _ in range(2)
        ),
        # made long ago but handled lately (a replay, a late redelivery): kept
        {"consumer": "t.router", "event_id": _id_at(old), "handled_at": recent},
        # a random id from before UUIDv7s, sorting above the horizon: kept
        {
            "consumer": "t.router",
            "event_id": "fd3c8e0a-6b1f-4c7e-9d2a-0123456789ab",
            "handled_at": old,
        },
        *({"consumer": "t.audit", "event_id": _id_at(old), "handled_at": old} for _ in range(3)),
    ]
    async with unit.transaction() as tx:
        await tx.conn.execute(inbox.insert(), rows)

    forgotten = []
    for _ in range(4):
        async with unit.transaction() as tx:
            forgotten.append(await forget(tx, "t.router", HORIZON, 2))
    assert forgotten == [2, 2, 1, 0]

    async with unit.read() as conn:
        left = (await conn.execute(select(inbox.c.consumer, inbox.c.handled_at))).all()
    kept = sorted((r.consumer, r.handled_at == old) for r in left)
    assert kept == [
        ("t.audit", True),
        ("t.audit", True),
        ("t.audit", True),
        ("t.router", False),
        ("t.router", False),
        ("t.router", False),
        ("t.router", True),
    ]
