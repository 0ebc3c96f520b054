"""Call tasks for inside sales (a track's task steps)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update

from nurture.models import tasks
from nurture.records import CallTask
from services.db import Conn, Tx, connection_of


def _task(row: Any) -> CallTask:
    return CallTask(**{c.name: getattr(row, c.name) for c in tasks.columns})


async def insert_task(tx: Tx, **values: Any) -> None:
    await tx.conn.execute(tasks.insert().values(**values))


async def get_task(conn: Conn, task_id: str) -> CallTask | None:
    row = (await connection_of(conn).execute(select(tasks).where(tasks.c.id == task_id))).first()
    return _task(row) if row else None


async def set_task(tx: Tx, task_id: str, **values: Any) -> None:
    await tx.conn.execute(update(tasks).where(tasks.c.id == task_id).values(values))


async def cancel_open_tasks(tx: Tx, enrolment_id: str, reason: str) -> int:
    result = await tx.conn.execute(
        update(tasks)
        .where(tasks.c.enrolment_id == enrolment_id, tasks.c.status == "open")
        .values(status="cancelled", outcome=reason)
    )
    return int(result.rowcount)


async def list_tasks(
    conn: Conn, status: str | None, lead_id: str | None, limit: int
) -> list[CallTask]:
    query = select(tasks).order_by(tasks.c.created_at, tasks.c.id).limit(limit)
    if status:
        query = query.where(tasks.c.status == status)
    if lead_id:
        query = query.where(tasks.c.lead_id == lead_id)
    return [_task(r) for r in (await connection_of(conn).execute(query)).all()]


async def tasks_for_lead(conn: Conn, lead_id: str, limit: int) -> list[CallTask]:
    return await list_tasks(conn, None, lead_id, limit)
