"""All of the router's SQL."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update

from router.models import activities, assignments, cursors, reps
from router.schemas import ActivityOut, AssignmentOut, RepIn, RepOut
from services.db import ReadConn, Tx


def _rep(row: object) -> RepOut:
    return RepOut.model_validate(row, from_attributes=True)


async def insert_rep(tx: Tx, rep_id: str, body: RepIn) -> RepOut:
    values = {
        "id": rep_id,
        "name": body.name,
        "email": body.email,
        "weight": body.weight,
        "active": body.active,
        "created_at": tx.now(),
    }
    await tx.conn.execute(reps.insert().values(**values))
    return RepOut.model_validate(values)


async def rep_exists(conn: ReadConn | Tx, rep_id: str) -> bool:
    c = conn.conn if isinstance(conn, Tx) else conn
    return await c.scalar(select(reps.c.id).where(reps.c.id == rep_id)) is not None


async def list_reps(conn: ReadConn) -> list[RepOut]:
    rows = (await conn.execute(select(reps).order_by(reps.c.id))).all()
    return [_rep(r) for r in rows]


async def active_reps(tx: Tx) -> list[RepOut]:
    rows = (await tx.conn.execute(select(reps).where(reps.c.active).order_by(reps.c.id))).all()
    return [_rep(r) for r in rows]


async def lock_cursor(tx: Tx, pool: str) -> str | None:
    """The last rep the pool gave a lead to, locked until commit (replicas queue here)."""
    query = select(cursors.c.last_rep_id).where(cursors.c.pool == pool)
    if not tx.unit.database.is_sqlite:
        query = query.with_for_update()
    last: str | None = await tx.conn.scalar(query)
    return last


async def move_cursor(tx: Tx, pool: str, rep_id: str, existed: bool) -> None:
    if existed:
        await tx.conn.execute(
            update(cursors).where(cursors.c.pool == pool).values(last_rep_id=rep_id)
        )
    else:
        await tx.conn.execute(cursors.insert().values(pool=pool, last_rep_id=rep_id))


async def insert_assignment(
    tx: Tx,
    *,
    assignment_id: str,
    lead_id: str,
    rep_id: str | None,
    status: str,
    pool: str,
    rule: str,
    first_touch_due_at: datetime | None,
) -> None:
    await tx.conn.execute(
        assignments.insert().values(
            id=assignment_id,
            lead_id=lead_id,
            rep_id=rep_id,
            status=status,
            pool=pool,
            rule=rule,
            first_touch_due_at=first_touch_due_at,
            created_at=tx.now(),
        )
    )


async def assignment_for(conn: ReadConn | Tx, lead_id: str) -> AssignmentOut | None:
    c = conn.conn if isinstance(conn, Tx) else conn
    row = (await c.execute(select(assignments).where(assignments.c.lead_id == lead_id))).first()
    return AssignmentOut.model_validate(row, from_attributes=True) if row else None


async def mark_touched(tx: Tx, lead_id: str, at: datetime) -> None:
    await tx.conn.execute(
        update(assignments)
        .where(assignments.c.lead_id == lead_id, assignments.c.touched_at.is_(None))
        .values(touched_at=at)
    )


async def insert_activity(tx: Tx, activity: ActivityOut) -> None:
    await tx.conn.execute(activities.insert().values(**activity.model_dump()))
