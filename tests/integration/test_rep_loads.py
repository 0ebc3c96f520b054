"""Each rep's load is stored, not counted (router_0013, router/state.py), on SQLite and on
PostgreSQL: the triggers keep every rep's open leads equal to a count of their leads
whatever statement changes a lead; the migration counts the leads already open; the day's
assignments are read from the stored day, counted once where it cannot answer."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, delete, func, select, text, update

from router.models import assignments, leads, rep_loads
from router.records import OPEN_STATUSES
from router.state import RoutingState
from services.clock import ManualClock
from services.db import Database, UnitOfWork
from services.migrate import upgrade
from tests import infra
from tests.scenarios.router import MIGRATIONS
from tests.scenarios.services import pg_unit, statements_of

NOW = datetime(2026, 12, 6, 15, 0, tzinfo=UTC)
MIDNIGHT = datetime(2026, 12, 6, tzinfo=UTC)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
async def unit(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[UnitOfWork]:
    if request.param == "sqlite":
        database = Database(f"sqlite+aiosqlite:///{tmp_path / 'router.db'}")
        await upgrade(database, {"router": MIGRATIONS})
        try:
            yield UnitOfWork(database, "router", ManualClock(NOW), "loads")
        finally:
            await database.dispose()
    else:
        scratch: infra.ScratchDatabase = request.getfixturevalue("pg_database")
        async with pg_unit(scratch.url, "router", ManualClock(NOW), "loads") as cluster:
            yield cluster


def _lead(lead_id: str, status: str, rep_id: str | None) -> dict[str, Any]:
    return {
        "lead_id": lead_id,
        "profile": {},
        "status": status,
        "rep_id": rep_id,
        "reassignments": 0,
        "created_at": NOW,
        "updated_at": NOW,
    }


async def _stored_and_counted(unit: UnitOfWork) -> tuple[dict[str, int], dict[str, int]]:
    async with unit.read() as conn:
        stored = {
            r.rep_id: r.open_leads
            for r in await conn.execute(select(rep_loads.c.rep_id, rep_loads.c.open_leads))
            if r.open_leads
        }
        counted = {
            r.rep_id: r.n
            for r in await conn.execute(
                select(leads.c.rep_id, func.count().label("n"))
                .where(leads.c.rep_id.is_not(None), leads.c.status.in_(OPEN_STATUSES))
                .group_by(leads.c.rep_id)
            )
        }
    return stored, counted


async def test_the_triggers_keep_each_reps_open_leads_whatever_changes_a_lead(
    unit: UnitOfWork,
) -> None:
    async def step(statement: Any, rows: Any = None) -> dict[str, int]:
        async with unit.transaction() as tx:
            await tx.conn.execute(statement, rows)
        stored, counted = await _stored_and_counted(unit)
        assert stored == counted
        return stored

    assert await step(
        leads.insert(),
        [
            _lead("l1", "assigned", "ana"),
            _lead("l2", "accepted", "ana"),
            _lead("l3", "assigned", "bo"),
            _lead("l4", "queued", None),
            _lead("l5", "returned", "bo"),
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


# --- the migration ---------------------------------------------------------------------


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.integration)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'old.db'}"
        return
    infra.require_postgres()
    scratch = infra.create_database()
    try:
        yield scratch.url
    finally:
        infra.drop_database(scratch)


def _to_revision(connection: Connection, schema: str | None, revision: str) -> None:
    if schema:
        connection.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    config.attributes["schema"] = schema
    config.attributes["version_table"] = "alembic_version" if schema else "alembic_version_router"
    command.upgrade(config, revision)


async def test_router_0013_counts_the_leads_already_open(database_url: str) -> None:
    database = Database(database_url, service="router")
    schema = None if database.is_sqlite else "router"
    try:
        async with database.engine.connect() as conn:
            await conn.run_sync(_to_revision, schema, "router_0011")
            await conn.commit()
            await conn.execute(
                leads.insert(),
                [
                    _lead("l1", "assigned", "ana"),
                    _lead("l2", "accepted", "ana"),
                    _lead("l3", "opportunity", "ana"),
                    _lead("l4", "assigned", "bo"),
                    _lead("l5", "queued", None),
                ],
            )
            await conn.commit()
        await upgrade(database, {"router": MIGRATIONS})
        unit = UnitOfWork(database, "router", ManualClock(NOW), "migrated")
        stored, counted = await _stored_and_counted(unit)
        assert stored == counted == {"ana": 2, "bo": 1}
        async with unit.transaction() as tx:  # and the triggers are in place
            await tx.conn.execute(
                update(leads).where(leads.c.lead_id == "l5").values(status="assigned", rep_id="bo")
            )
        assert (await _stored_and_counted(unit))[0] == {"ana": 2, "bo": 2}
    finally:
        await database.dispose()
