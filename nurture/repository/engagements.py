"""Engagements: what a lead did (opened, clicked, raised a hand...)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select

from nurture.models import engagements
from nurture.records import EngagementSignal
from services.db import Conn, Tx, connection_of


def _engagement(row: Any) -> EngagementSignal:
    return EngagementSignal(**{c.name: getattr(row, c.name) for c in engagements.columns})


async def insert_engagement(tx: Tx, **values: Any) -> None:
    await tx.conn.execute(engagements.insert().values(**values))


async def engagement_by_external_id(conn: Conn, external_id: str) -> EngagementSignal | None:
    query = select(engagements).where(engagements.c.external_id == external_id)
    row = (await connection_of(conn).execute(query)).first()
    return _engagement(row) if row else None


async def engagements_since(
    conn: Conn, lead_id: str, since: datetime | None, limit: int = 500
) -> list[EngagementSignal]:
    """The lead's engagements after `since` (all when None), newest first."""
    query = (
        select(engagements)
        .where(engagements.c.lead_id == lead_id)
        .order_by(engagements.c.at.desc(), engagements.c.id.desc())
        .limit(limit)
    )
    if since is not None:
        query = query.where(engagements.c.recorded_at > since)
    return [_engagement(r) for r in (await connection_of(conn).execute(query)).all()]
