"""On PostgreSQL a transaction's deferred inserts are written together, in one statement
(services/pgwrite.py), and what they write is what one executemany per table writes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from router.models import leads, pool_reps
from services.clock import ManualClock
from services.db import UnitOfWork
from services.outbox import write_record
from services.statements import insert_ignoring, upsert
from services.tables import outbox, timers
from tests import infra
from tests.scenarios.services import pg_unit, statements_of

pytestmark = pytest.mark.integration

AT = datetime(2026, 12, 1, 9, 30, 15, 123456, tzinfo=UTC)
STATE_COLUMNS = ("pool", "rep_id", "current", "assigned", "last_assigned_at")
# Statements are built once, as the services build them: rows are grouped by statement.
INSERT_TIMER = timers.insert()
INSERT_LEAD = leads.insert()


@pytest.fixture
async def unit(pg_database: infra.ScratchDatabase) -> AsyncIterator[UnitOfWork]:
    async with pg_unit(pg_database.url, "router", ManualClock(AT), "combined") as unit:
        yield unit


def timer(key: str, due: datetime) -> dict[str, Any]:
    return {
        "service": "router",
        "kind": "first_touch",
        "key": key,
        "due_at": due,
        "payload": f'{{"lead_id": "{key}"}}',
        "attempts": 0,
        "created_at": AT,
    }


def state(rep: str, current: int, assigned: int) -> dict[str, Any]:
    return {
        "pool": "inbound",
        "rep_id": rep,
        "current": current,
        "assigned": assigned,
        "last_assigned_at": AT,
    }


def lead(lead_id: str) -> dict[str, Any]:
    return {
        "lead_id": lead_id,
        "profile": {"email": f"{lead_id}@example.com", "answers": {"budget": 5000}},
        # a JSON list is one value, not an array dimension
        "explanation": ["rule matched", {"pool": "inbound"}],
        "score": 75,
        "status": "assigned",
        "reassignments": 0,
        "created_at": AT,
        "updated_at": AT,
    }


async def test_inserts_of_several_tables_go_in_one_statement(unit: UnitOfWork) -> None:
    seen = statements_of(unit)
    upsert_states = upsert(pool_reps, "postgresql", STATE_COLUMNS, ("pool", "rep_id"))
    async with unit.transaction() as tx:
        await write_record(tx, "combined.router", "lead-1", b'{"a": 1}', event_id="ev-1")
        await write_record(tx, "combined.router", "lead-2", b'{"a": 2}', event_id="ev-2")
        tx.defer(INSERT_TIMER, timer("lead-1", AT + timedelta(minutes=5)))
        tx.defer(INSERT_TIMER, timer("lead-2", AT + timedelta(minutes=6)))
        tx.defer(upsert_states, state("rep-a", 3, 7))
        tx.defer(INSERT_LEAD, lead("lead-1"))
        seen.clear()
    writes = [s for s in seen if s.startswith(("WITH", "INSERT"))]
    assert len(writes) == 1, seen
    assert writes[0].startswith("WITH w0 AS (INSERT INTO outbox")

    async with unit.read() as conn:
        records = (await conn.execute(select(outbox).order_by(outbox.c.id))).all()
        assert [(r.event_id, r.key, r.payload, r.created_at) for r in records] == [
            ("ev-1", "lead-1", '{"a": 1}', AT),
            ("ev-2", "lead-2", '{"a": 2}', AT),
        ]
        assert all(r.published_at is None and r.headers is None for r in records)
        stored_timers = (await conn.execute(select(timers).order_by(timers.c.key))).all()
        assert [(t.key, t.due_at, t.payload, t.attempts) for t in stored_timers] == [
            ("lead-1", AT + timedelta(minutes=5), '{"lead_id": "lead-1"}', 0),
            ("lead-2", AT + timedelta(minutes=6), '{"lead_id": "lead-2"}', 0),
        ]
        states = (await conn.execute(select(pool_reps))).all()
        assert [(s.rep_id, s.current, s.assigned, s.last_assigned_at) for s in states] == [
            ("rep-a", 3, 7, AT)
        ]
        stored_lead = (await conn.execute(select(leads))).one()
        assert stored_lead.profile == {
            "email": "lead-1@example.com",
            "answers": {"budget": 5000},
        }
        assert stored_lead.explanation == ["rule matched", {"pool": "inbound"}]
        assert stored_lead.score == 75


async def test_an_upsert_updates_and_a_skipping_insert_skips_as_executemany_would(
    unit: UnitOfWork,
) -> None:
    upsert_states = upsert(pool_reps, "postgresql", STATE_COLUMNS, ("pool", "rep_id"))
    async with unit.transaction() as tx:
        await tx.write(upsert_states, [state("rep-a", 1, 1), state("rep-b", 1, 1)])
    seen = statements_of(unit)
    async with unit.transaction() as tx:
        tx.defer(upsert_states, state("rep-a", 5, 9))
        tx.defer(insert_ignoring(leads, "postgresql"), lead("lead-9"))
        tx.defer(insert_ignoring(leads, "postgresql"), lead("lead-9"))  # skipped
        await write_record(tx, "combined.router", "lead-9", b"{}", event_id="ev-9")
        seen.clear()
    assert len([s for s in seen if s.startswith(("WITH", "INSERT"))]) == 1, seen
    async with unit.read() as conn:
        states = {s.rep_id: (s.current, s.assigned) for s in await conn.execute(select(pool_reps))}
        assert states == {"rep-a": (5, 9), "rep-b": (1, 1)}
        assert [r.lead_id for r in await conn.execute(select(leads))] == ["lead-9"]


async def test_rows_one_statement_cannot_write_alike_are_written_on_their_own(
    unit: UnitOfWork,
) -> None:
    """Two rows of one upsert on the same key: executemany updates the row twice, the
    second winning; one INSERT .. SELECT cannot, so that upsert goes on its own. A table
    deferred under two statements gets two statements (the second sees the first)."""
    upsert_states = upsert(pool_reps, "postgresql", STATE_COLUMNS, ("pool", "rep_id"))
    seen = statements_of(unit)
    async with unit.transaction() as tx:
        tx.defer(upsert_states, state("rep-a", 1, 1))
        tx.defer(upsert_states, state("rep-a", 2, 2))
        tx.defer(INSERT_TIMER, timer("lead-1", AT))
        tx.defer(insert_ignoring(timers, "postgresql"), timer("lead-1", AT))
        seen.clear()
    writes = [s for s in seen if s.startswith(("WITH", "INSERT"))]
    assert len(writes) == 3, writes
    async with unit.read() as conn:
        states = {s.rep_id: (s.current, s.assigned) for s in await conn.execute(select(pool_reps))}
        assert states == {"rep-a": (2, 2)}
        assert len((await conn.execute(select(timers))).all()) == 2


async def test_a_failed_combined_write_rolls_the_whole_transaction_back(
    unit: UnitOfWork,
) -> None:
    async with unit.transaction() as tx:
        tx.defer(INSERT_LEAD, lead("lead-1"))

    async def write_again() -> None:
        async with unit.transaction() as tx:
            await write_record(tx, "combined.router", "lead-2", b"{}", event_id="ev-2")
            tx.defer(INSERT_TIMER, timer("lead-2", AT))
            tx.defer(INSERT_LEAD, lead("lead-1"))  # stored already

    with pytest.raises(IntegrityError):
        await write_again()
    async with unit.read() as conn:
        assert (await conn.execute(select(outbox))).all() == []
        assert (await conn.execute(select(timers))).all() == []
