"""All of ingest's SQL."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from contracts.events import LeadProfile
from ingest.models import deliveries, leads
from ingest.schemas import DeliveryOut, LeadOut
from services.db import ReadConn, Tx


async def insert_lead(tx: Tx, lead_id: str, profile: LeadProfile, now: datetime) -> None:
    await tx.conn.execute(
        leads.insert().values(
            id=lead_id,
            email=profile.email,
            phone=profile.phone,
            profile=profile.model_dump(mode="json"),
            created_at=now,
            updated_at=now,
        )
    )


async def insert_delivery(
    tx: Tx,
    *,
    delivery_id: str,
    lead_id: str | None,
    source: str,
    provider: str,
    external_id: str | None,
    status: str,
    received_at: datetime,
    reason: str | None = None,
) -> None:
    await tx.conn.execute(
        deliveries.insert().values(
            id=delivery_id,
            lead_id=lead_id,
            source=source,
            provider=provider,
            external_id=external_id,
            status=status,
            reason=reason,
            received_at=received_at,
        )
    )


async def get_lead(conn: ReadConn, lead_id: str) -> LeadOut | None:
    row = (await conn.execute(select(leads).where(leads.c.id == lead_id))).first()
    if row is None:
        return None
    rows = (
        await conn.execute(
            select(deliveries)
            .where(deliveries.c.lead_id == lead_id)
            .order_by(deliveries.c.received_at)
        )
    ).all()
    return LeadOut(
        id=row.id,
        lead=LeadProfile.model_validate(row.profile),
        created_at=row.created_at,
        deliveries=[
            DeliveryOut(
                id=d.id,
                source=d.source,
                provider=d.provider,
                external_id=d.external_id,
                status=d.status,
                received_at=d.received_at,
            )
            for d in rows
        ],
    )
