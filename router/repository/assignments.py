"""Assignments: a lead given to a rep, its deadlines and cadence counts, and a lead's
history of them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import bindparam, select, update

from router.models import (
    assignments,
)
from router.records import AssignmentRecord, HistoryEntry
from router.repository import Conn
from router.repository import connection_of as _c
from services.db import Tx

_INSERT = assignments.insert()


def _assignment(row: Any) -> AssignmentRecord:
    return AssignmentRecord(**dict(row._mapping))


def insert_assignments(tx: Tx, rows: list[dict[str, Any]]) -> None:
    """Insert assignments at the transaction's next flush (`Tx.defer`)."""
    for row in rows:
        tx.defer(_INSERT, row)


async def insert_assignment(tx: Tx, values: dict[str, Any]) -> None:
    await tx.conn.execute(assignments.insert(), values)


async def get_assignment(
    conn: Conn, assignment_id: str, *, for_update: bool = False
) -> AssignmentRecord | None:
    query = select(assignments).where(assignments.c.id == assignment_id)
    if for_update and isinstance(conn, Tx) and not conn.unit.database.is_sqlite:
        query = query.with_for_update()
    row = (await _c(conn).execute(query)).first()
    return _assignment(row) if row else None


async def assignments_by_id(conn: Conn, ids: Sequence[str]) -> dict[str, AssignmentRecord]:
    if not ids:
        return {}
    rows = (await _c(conn).execute(select(assignments).where(assignments.c.id.in_(ids)))).all()
    return {r.id: _assignment(r) for r in rows}


async def update_assignment(tx: Tx, assignment_id: str, **values: Any) -> None:
    statement = update(assignments).where(assignments.c.id == bindparam("_id"))
    await tx.conn.execute(statement, {**values, "_id": assignment_id})


async def history(conn: Conn, lead_id: str) -> list[HistoryEntry]:
    rows = (
        await _c(conn).execute(
            select(assignments)
            .where(assignments.c.lead_id == lead_id)
            # Ties (one instant) put ended assignments first, in the order they ended: a
            # lead has at most one open assignment, the latest.
            .order_by(
                assignments.c.assigned_at,
                assignments.c.ended_at.is_(None),
                assignments.c.ended_at,
                assignments.c.id,
            )
        )
    ).all()
    return [
        HistoryEntry(
            assignment_id=r.id,
            rep_id=r.rep_id,
            kind=r.kind,
            pool=r.pool,
            rule=r.rule,
            strategy=r.strategy,
            assigned_at=r.assigned_at,
            ended_at=r.ended_at,
            end_reason=r.end_reason,
            first_touch=r.first_touch,
            cadence=r.cadence,
        )
        for r in rows
    ]


async def reps_who_had(conn: Conn, lead_id: str) -> set[str]:
    rows = await _c(conn).execute(
        select(assignments.c.rep_id).where(assignments.c.lead_id == lead_id).distinct()
    )
    return {r.rep_id for r in rows}
