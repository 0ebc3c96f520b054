"""Each rep's load is stored, not counted (router_0013, router/state.py), on SQLite and on
PostgreSQL: the triggers keep every rep's open leads equal to a count of their leads
whatever statement changes a lead; the day's assignments are read from the stored day,
counted once where it cannot answer. (The migration's count of the leads already open:
tests/integration/test_router_migration.py.)"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, select, update

from router.models import assignments, leads, rep_loads
from router.state import RoutingState
from services.clock import ManualClock
from services.db import UnitOfWork
from tests.scenarios.router import BOTH_DATABASES, lead_row, router_unit, stored_and_counted
from tests.scenarios.services import statements_of

NOW = datetime(2026, 12, 6, 15, 0, tzinfo=UTC)
MIDNIGHT = datetime(2026, 12, 6, tzinfo=UTC)


@pytest.fixture(params=BOTH_DATABASES)
async def unit(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[UnitOfWork]:
    async with router_unit(request, tmp_path, ManualClock(NOW)) as unit:
        yield unit


async def test_the_triggers_keep_each_reps_open_leads_whatever_changes_a_lead(
    unit: UnitOfWork,
) -> None:
    async def step(statement: Any, rows: Any = None) -> dict[str, int]:
        async with unit.transaction() as tx:
            await tx.conn.execute(statement, rows)
        stored, counted = await stored_and_counted(unit)
        assert stored == counted
        return stored

    assert await step(
        leads.insert(),
        [
            lead_row("l1", "assigned", "ana"),
            lead_row("l2", "accepted", "ana"),
            lead_row("l3", "assigned", "bo"),
            lead_row("l4", "queued", None),
            lead_row("l5", "returned", "bo"),
        ],
    ) == {"ana": 2, "bo": 1}
    by_id = leads.c.lead_id
    # queued -> assigned; assigned -> accepted (open either way); reassigned to another rep
    assert await step(update(leads).where(by_id == "l4").values(status="assigned", rep_id="cy"))
    assert await step(update(leads).where(by_id == "l1").values(status="accepted"))
    assert await step(update(leads).where(by_id == "l3").values(rep_id="ana")) == {
        "ana": 3,
        "cy": 1,
    }
    # no longer open: an opportunity, a return to marketing; a change of something else
    assert await step(update(leads).where(by_id == "l2").values(status="opportunity"))
    assert await step(update(leads).where(by_id == "l4").values(status="returned")) == {"ana": 2}
    assert await step(update(leads).where(by_id == "l1").values(score=10)) == {"ana": 2}
    # many rows in one statement, and a delete
    assert await step(update(leads).values(status="assigned", rep_id="bo")) == {"bo": 5}
    assert await step(delete(leads).where(by_id.in_(["l1", "l2"]))) == {"bo": 3}


def _assignment(id_: str, at: datetime) -> dict[str, Any]:
    return {
        "id": id_,
        "lead_id": f"lead-{id_}",
        "rep_id": "ana",
        "kind": "assigned",
        "pool": "everyone",
        "rule": "default",
        "strategy": "round_robin",
        "explanation": {},
        "assigned_at": at,
        "first_touch_due_at": at,
        "first_touch": "pending",
        "cadence_due_at": at,
        "cadence": "pending",
        "calls_required": 4,
        "emails_required": 2,
        "min_spacing_minutes": 0.0,
        "calls_made": 0,
        "emails_made": 0,
        "calls_counted": 0,
        "emails_counted": 0,
    }


async def _day(unit: UnitOfWork) -> tuple[datetime | None, int] | None:
    async with unit.read() as conn:
        row = (
            await conn.execute(
                select(rep_loads.c.day_start, rep_loads.c.assigned_that_day).where(
                    rep_loads.c.rep_id == "ana"
                )
            )
        ).first()
    return (row.day_start, row.assigned_that_day) if row else None


async def _today(unit: UnitOfWork, midnight: datetime) -> tuple[int, list[str]]:
    """Ana's assignments since `midnight` as a routing transaction reads them, and the
    statements that read them; the transaction then stores what it read."""
    seen = statements_of(unit)
    async with unit.transaction() as tx:
        state = RoutingState()
        await state.load(tx, "everyone", {"ana": midnight}, cursor=False)
        await state.write(tx)
        await tx.flush()
    return state.today["ana"], [s for s in seen if "router_assignments" in s]


async def test_the_days_assignments_are_counted_once_then_read_from_the_stored_day(
    unit: UnitOfWork,
) -> None:
    async with unit.transaction() as tx:
        await tx.conn.execute(
            assignments.insert(),
            [
                _assignment(f"a{i}", MIDNIGHT + timedelta(hours=hours))
                for i, hours in enumerate((-1, 1, 2))
            ],
        )
    assert await _day(unit) is None
    today, counts = await _today(unit, MIDNIGHT)
    assert (today, len(counts)) == (2, 1)  # never counted: counted once, and stored
    assert await _day(unit) == (MIDNIGHT, 2)
    assert await _today(unit, MIDNIGHT) == (2, [])  # read from the stored day
    tomorrow = MIDNIGHT + timedelta(days=1)
    assert await _today(unit, tomorrow) == (0, [])  # a later day: nothing since midnight
    # A timezone change put the rep's midnight before the stored one: counted again.
    earlier = MIDNIGHT - timedelta(hours=5)
    today, counts = await _today(unit, earlier)
    assert (today, len(counts)) == (3, 1)
    assert await _day(unit) == (earlier, 3)
