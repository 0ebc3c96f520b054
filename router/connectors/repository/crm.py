"""The CRM's records linked to leads, and the CRM's activities taken in (each once)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select, update

from router.models import (
    crm_activities,
    crm_records,
    leads,
)
from router.records import WORKING_STATUSES
from router.repository import Conn
from router.repository import connection_of as _c
from services.db import Tx
from services.statements import insert_ignoring, upsert


async def link_record(
    tx: Tx, connector_id: str, lead_id: str, record_id: str, now: datetime
) -> None:
    statement = upsert(
        crm_records,
        tx.conn.dialect.name,
        ("connector_id", "lead_id", "record_id", "updated_at"),
        ("connector_id", "lead_id"),
    )
    await tx.conn.execute(
        statement,
        {
            "connector_id": connector_id,
            "lead_id": lead_id,
            "record_id": record_id,
            "updated_at": now,
        },
    )


async def record_of(conn: Conn, connector_id: str, lead_id: str) -> str | None:
    value = await _c(conn).scalar(
        select(crm_records.c.record_id).where(
            crm_records.c.connector_id == connector_id, crm_records.c.lead_id == lead_id
        )
    )
    return str(value) if value is not None else None


async def leads_of_records(conn: Conn, connector_id: str, record_ids: Sequence[str]) -> list[str]:
    rows = await _c(conn).execute(
        select(crm_records.c.lead_id)
        .where(
            crm_records.c.connector_id == connector_id,
            crm_records.c.record_id.in_(list(record_ids)),
        )
        .order_by(crm_records.c.updated_at.desc())
    )
    return [r.lead_id for r in rows]


async def working_leads_by_email(conn: Conn, emails: Sequence[str]) -> list[str]:
    """Leads a rep is working whose email is one of `emails` (normalised, lower case)."""
    if not emails:
        return []
    rows = await _c(conn).execute(
        select(leads.c.lead_id)
        .where(
            leads.c.status.in_(WORKING_STATUSES),
            leads.c.profile["email"].as_string().in_([e.lower() for e in emails]),
        )
        .order_by(leads.c.updated_at.desc())
    )
    return [r.lead_id for r in rows]


async def claim_activity(
    tx: Tx, connector_id: str, external_id: str, lead_id: str, now: datetime
) -> bool:
    """Record that the vendor's activity is taken in; False when it was already."""
    result = await tx.conn.execute(
        insert_ignoring(crm_activities, tx.conn.dialect.name),
        {
            "connector_id": connector_id,
            "external_id": external_id,
            "activity_id": "",
            "lead_id": lead_id,
            "received_at": now,
        },
    )
    return bool(result.rowcount == 1)


async def activity_of(conn: Conn, connector_id: str, external_id: str) -> tuple[str, str] | None:
    row = (
        await _c(conn).execute(
            select(crm_activities.c.activity_id, crm_activities.c.lead_id).where(
                crm_activities.c.connector_id == connector_id,
                crm_activities.c.external_id == external_id,
            )
        )
    ).first()
    return (row.activity_id, row.lead_id) if row else None


async def set_activity(tx: Tx, connector_id: str, external_id: str, activity_id: str) -> None:
    await tx.conn.execute(
        update(crm_activities)
        .where(
            crm_activities.c.connector_id == connector_id,
            crm_activities.c.external_id == external_id,
        )
        .values(activity_id=activity_id)
    )
