"""Prospect Satisfaction audits. Their table is `audit_tasks` (its first name; see
audit/models.py): the code calls them what they are, nurture's tasks being call tasks."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    bindparam,
    select,
    update,
)

from audit.models import (
    satisfaction_audits,
)
from audit.records import SatisfactionAuditRow
from audit.repository.common import at_utc
from services.db import Conn, Tx, connection_of


async def open_satisfaction_audit_for(conn: Conn, lead_id: str) -> SatisfactionAuditRow | None:
    row = (
        await connection_of(conn).execute(
            select(satisfaction_audits)
            .where(satisfaction_audits.c.lead_id == lead_id, satisfaction_audits.c.status == "open")
            .limit(1)
        )
    ).first()
    return SatisfactionAuditRow(**row._mapping) if row is not None else None


async def satisfaction_audits_of(conn: Conn, lead_id: str) -> list[SatisfactionAuditRow]:
    rows = (
        await connection_of(conn).execute(
            select(satisfaction_audits)
            .where(satisfaction_audits.c.lead_id == lead_id)
            .order_by(satisfaction_audits.c.opened_at)
        )
    ).all()
    return [SatisfactionAuditRow(**r._mapping) for r in rows]


async def insert_satisfaction_audit(
    tx: Tx,
    *,
    audit_id: str,
    lead_id: str,
    reason: str,
    opened_at: datetime,
    due_at: datetime,
    rep_id: str | None,
) -> None:
    await tx.conn.execute(
        satisfaction_audits.insert().values(
            id=audit_id,
            lead_id=lead_id,
            reason=reason,
            status="open",
            opened_at=opened_at,
            due_at=due_at,
            rep_id=rep_id,
        )
    )


_AUDITED = (
    select(satisfaction_audits.c.lead_id)
    .where(satisfaction_audits.c.lead_id.in_(bindparam("lead_ids", expanding=True)))
    .distinct()
)


async def leads_with_satisfaction_audits(tx: Tx, lead_ids: Collection[str]) -> set[str]:
    """Which of the leads have had an audit (one read)."""
    if not lead_ids:
        return set()
    return {row["lead_id"] for row in await tx.rows(_AUDITED, {"lead_ids": list(lead_ids)})}


async def insert_satisfaction_audits(tx: Tx, rows: Sequence[dict[str, Any]]) -> None:
    """Open audits (one multi-row insert)."""
    if rows:
        await tx.conn.execute(satisfaction_audits.insert(), list(rows))


async def get_satisfaction_audit(conn: Conn, audit_id: str) -> SatisfactionAuditRow | None:
    row = (
        await connection_of(conn).execute(
            select(satisfaction_audits).where(satisfaction_audits.c.id == audit_id)
        )
    ).first()
    return SatisfactionAuditRow(**row._mapping) if row is not None else None


async def list_satisfaction_audits(
    conn: Conn, *, status: str | None, due_by: datetime | None, limit: int
) -> list[SatisfactionAuditRow]:
    query = (
        select(satisfaction_audits)
        .order_by(satisfaction_audits.c.due_at, satisfaction_audits.c.id)
        .limit(limit)
    )
    if status is not None:
        query = query.where(satisfaction_audits.c.status == status)
    if due_by is not None:
        query = query.where(satisfaction_audits.c.due_at <= at_utc(due_by))
    return [
        SatisfactionAuditRow(**r._mapping) for r in (await connection_of(conn).execute(query)).all()
    ]


async def record_satisfaction_audit(tx: Tx, audit_id: str, **values: Any) -> bool:
    """Record an open audit's outcome; False when it was not open any more."""
    result = await tx.conn.execute(
        update(satisfaction_audits)
        .where(satisfaction_audits.c.id == audit_id, satisfaction_audits.c.status == "open")
        .values(status="recorded", **values)
    )
    return bool(result.rowcount == 1)


async def erase_satisfaction_audit_text(tx: Tx, lead_id: str) -> None:
    """Drop the free text of a lead's audits: the comment and the name the prospect gave."""
    await tx.conn.execute(
        update(satisfaction_audits)
        .where(satisfaction_audits.c.lead_id == lead_id)
        .values(comment=None, contacted_by=None)
    )
