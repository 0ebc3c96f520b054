"""nurture's copy of each lead: its latest profile, address hash and when it was last sent back."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select, update

from contracts.events import LeadProfile
from nurture.models import leads
from nurture.records import NurturedLead
from services.db import Conn, Tx, connection_of


def _lead(row: Any) -> NurturedLead:
    return NurturedLead(
        row.lead_id, row.email_hash, LeadProfile.model_validate(row.profile), row.recycled_at
    )


async def get_lead(conn: Conn, lead_id: str) -> NurturedLead | None:
    row = (
        await connection_of(conn).execute(select(leads).where(leads.c.lead_id == lead_id))
    ).first()
    return _lead(row) if row else None


async def put_lead(
    tx: Tx, lead_id: str, email_hash: str | None, profile: LeadProfile, now: datetime
) -> None:
    values = {
        "email_hash": email_hash,
        "profile": profile.model_dump(mode="json"),
        "updated_at": now,
    }
    result = await tx.conn.execute(update(leads).where(leads.c.lead_id == lead_id).values(values))
    if result.rowcount == 0:
        await tx.conn.execute(leads.insert().values(lead_id=lead_id, **values))


async def set_recycled(tx: Tx, lead_id: str, at: datetime) -> None:
    await tx.conn.execute(update(leads).where(leads.c.lead_id == lead_id).values(recycled_at=at))


async def leads_by_email_hash(conn: Conn, email_hash: str) -> list[str]:
    rows = await connection_of(conn).execute(
        select(leads.c.lead_id).where(leads.c.email_hash == email_hash)
    )
    return [r.lead_id for r in rows]


async def profile_json(tx: Tx, lead_id: str) -> dict[str, Any] | None:
    row = (await tx.conn.execute(select(leads.c.profile).where(leads.c.lead_id == lead_id))).first()
    return dict(row.profile) if row is not None else None
