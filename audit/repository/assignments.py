"""Assignments (touches, breaches) and reps' names."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import (
    bindparam,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.sql.dml import Insert

from audit.models import (
    assignments,
    reps,
)
from audit.projection import Assignment
from audit.repository.common import earliest_of
from services.db import Conn, Tx, connection_of
from services.statements import insert_ignoring

_ASSIGNMENTS_OF = select(
    assignments.c.assignment_id,
    assignments.c.lead_id,
    assignments.c.rep_id,
    assignments.c.assigned_at,
    assignments.c.due_at,
    assignments.c.ended_at,
).where(assignments.c.lead_id.in_(bindparam("lead_ids", expanding=True)))

_END_ASSIGNMENT = (
    update(assignments)
    .where(
        assignments.c.assignment_id == bindparam("b_assignment_id"),
        assignments.c.ended_at.is_(None),
    )
    .values(ended_at=bindparam("b_ended_at"))
)


async def assignments_of(tx: Tx, lead_ids: Collection[str]) -> list[Assignment]:
    """The stored assignments of the leads (one read)."""
    if not lead_ids:
        return []
    rows = await tx.rows(_ASSIGNMENTS_OF, {"lead_ids": list(lead_ids)})
    return [Assignment(**r) for r in rows]


async def insert_assignments(tx: Tx, new: Sequence[Assignment]) -> None:
    """Store a run's new assignments (one multi-row insert; one stored before is kept)."""
    if new:
        await tx.write(
            insert_ignoring(assignments, tx.conn.dialect.name),
            [{**a.__dict__, "touches": 0, "cadence_breaches": 0} for a in new],
        )


async def end_assignments(tx: Tx, ended: Mapping[str, datetime]) -> None:
    """End stored assignments (id -> when) that are still open (one executemany)."""
    if ended:
        await tx.write(
            _END_ASSIGNMENT,
            [{"b_assignment_id": id_, "b_ended_at": at} for id_, at in ended.items()],
        )


async def _assignment_exists(tx: Tx, assignment_id: str) -> bool:
    found = await tx.conn.scalar(
        select(assignments.c.assignment_id).where(assignments.c.assignment_id == assignment_id)
    )
    return found is not None


async def _latest_assignment(tx: Tx, lead_id: str, rep_id: str) -> str | None:
    found = await tx.conn.scalar(
        select(assignments.c.assignment_id)
        .where(assignments.c.lead_id == lead_id, assignments.c.rep_id == rep_id)
        .order_by(assignments.c.assigned_at.desc())
        .limit(1)
    )
    return str(found) if found is not None else None


async def touch_assignment(
    tx: Tx, lead_id: str, rep_id: str, at: datetime, assignment_id: str | None = None
) -> None:
    """Count a touch on the assignment it names, else on the rep's latest one of the lead."""
    if assignment_id is None or not await _assignment_exists(tx, assignment_id):
        assignment_id = await _latest_assignment(tx, lead_id, rep_id)
    if assignment_id is None:
        return
    await tx.conn.execute(
        update(assignments)
        .where(assignments.c.assignment_id == assignment_id)
        .values(
            touches=assignments.c.touches + 1,
            first_touch_at=earliest_of(assignments.c.first_touch_at, at),
        )
    )


async def breach_assignment(
    tx: Tx,
    lead_id: str,
    rep_id: str,
    sla: str,
    at: datetime,
    assignment_id: str | None = None,
) -> None:
    if assignment_id is None or not await _assignment_exists(tx, assignment_id):
        assignment_id = await _latest_assignment(tx, lead_id, rep_id)
    if assignment_id is None:
        return
    values: dict[str, Any] = (
        {"breached_at": earliest_of(assignments.c.breached_at, at)}
        if sla == "first_touch"
        else {"cadence_breaches": assignments.c.cadence_breaches + 1}
    )
    await tx.conn.execute(
        update(assignments).where(assignments.c.assignment_id == assignment_id).values(**values)
    )


@cache
def _put_rep(dialect: str) -> Insert:
    statement = pg_insert(reps) if dialect == "postgresql" else sqlite_insert(reps)
    return statement.on_conflict_do_update(
        index_elements=[reps.c.rep_id],
        set_={"name": statement.excluded.name, "updated_at": statement.excluded.updated_at},
        where=reps.c.name != statement.excluded.name,
    )


async def put_reps(tx: Tx, names: Mapping[str, str]) -> None:
    """Remember reps' names (rep id -> name; one statement, and a row is rewritten only
    when its name changes)."""
    if names:
        now = tx.now()
        await tx.conn.execute(
            _put_rep(tx.conn.dialect.name),
            [{"rep_id": rep_id, "name": name, "updated_at": now} for rep_id, name in names.items()],
        )


async def rep_names(conn: Conn) -> dict[str, str]:
    rows = (await connection_of(conn).execute(select(reps.c.rep_id, reps.c.name))).all()
    return {r.rep_id: r.name for r in rows}
