"""Opportunities opened and closed on a lead."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import select, update

from router.models import (
    opportunities,
)
from router.repository import Conn
from router.repository import connection_of as _c
from router.schemas.leads import OpportunityOut
from services.db import Tx


def _opportunity(row: Any) -> OpportunityOut:
    return OpportunityOut.model_validate(dict(row._mapping))


async def insert_opportunity(tx: Tx, opportunity: OpportunityOut) -> None:
    await tx.conn.execute(opportunities.insert().values(**opportunity.model_dump()))


async def get_opportunity(conn: Conn, opportunity_id: str) -> OpportunityOut | None:
    row = (
        await _c(conn).execute(select(opportunities).where(opportunities.c.id == opportunity_id))
    ).first()
    return _opportunity(row) if row else None


async def opportunities_of(conn: Conn, lead_id: str) -> list[OpportunityOut]:
    rows = (
        await _c(conn).execute(
            select(opportunities)
            .where(opportunities.c.lead_id == lead_id)
            .order_by(opportunities.c.opened_at)
        )
    ).all()
    return [_opportunity(r) for r in rows]


async def close_opportunity(
    tx: Tx, opportunity_id: str, *, won: bool, amount: Decimal, reason: str | None
) -> None:
    await tx.conn.execute(
        update(opportunities)
        .where(opportunities.c.id == opportunity_id)
        .values(status="won" if won else "lost", amount=amount, reason=reason, closed_at=tx.now())
    )
